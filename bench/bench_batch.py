"""Benchmark: batch throughput against separate CLI calls (issue: batch must beat them).

N jobs (default 20) of ~6 s of speech each on the bundled 512x512 portrait (the bundled speech cut
at different offsets, so every job is a different clip); throughput = seconds of video made per
wall-clock second, for

* N separate ``python -m synchrorama_core generate`` calls, one after the other (each pays its own
  start-up: imports, model loading, numba cache load);
* ``python -m synchrorama_core batch`` with 1 worker and with 2 workers (local process pool).

    .venv/bin/python bench/bench_batch.py [--jobs 20] [--seconds 6] [--keep DIR] [--ray]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from synchrorama_core.audio import load_speech_waveform  # noqa: E402
from synchrorama_core.pipeline import bundled_sample  # noqa: E402
from _common import print_table  # noqa: E402


def make_jobs(n: int, seconds: float, folder: str) -> str:
    import soundfile as sf
    s = bundled_sample()
    y = load_speech_waveform(s["audio"])
    seg = int(seconds * 16000)
    jobs = []
    for i in range(n):
        start = int(i * 0.37 * 16000) % max(len(y) - seg, 1)
        path = os.path.join(folder, f"speech_{i:02d}.wav")
        sf.write(path, y[start:start + seg], 16000)
        jobs.append({"image": s["image"], "audio": path, "output": f"clip_{i:02d}", "seed": i})
    manifest = os.path.join(folder, "jobs.jsonl")
    with open(manifest, "w") as f:
        f.write("\n".join(json.dumps(j) for j in jobs) + "\n")
    return manifest


def run(cmd) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--keep", default=None, help="keep inputs and outputs in this folder")
    ap.add_argument("--ray", action="store_true", help="also the Ray engine (2 workers, local instance)")
    a = ap.parse_args()
    folder = a.keep or tempfile.mkdtemp(prefix="bench_batch_")
    os.makedirs(folder, exist_ok=True)
    manifest = make_jobs(a.jobs, a.seconds, folder)
    with open(manifest) as f:
        jobs = [json.loads(x) for x in f if x.strip()]
    video_s = a.jobs * a.seconds
    py = sys.executable
    rows = []
    out = os.path.join(folder, "separate")
    os.makedirs(out, exist_ok=True)
    t = time.perf_counter()
    for j in jobs:
        subprocess.run([py, "-m", "synchrorama_core", "generate", "--image", j["image"], "--audio", j["audio"],
                        "--seed", str(j["seed"]), "--out", os.path.join(out, j["output"] + ".mp4"), "-q"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sep = time.perf_counter() - t
    rows.append((f"{a.jobs} separate generate calls", f"{sep:.1f}", f"{video_s / sep:.2f}", "1.00x"))
    configs = [("batch, 1 worker", ["--workers", "1"]), ("batch, 2 workers", ["--workers", "2"])]
    if a.ray:
        configs.append(("batch, Ray, 2 workers", ["--workers", "2", "--engine", "ray"]))
    for label, extra in configs:
        o = os.path.join(folder, label.replace(" ", "_").replace(",", ""))
        s = run([py, "-m", "synchrorama_core", "batch", manifest, "--out", o, "-q"] + extra)
        rows.append((label, f"{s:.1f}", f"{video_s / s:.2f}", f"{sep / s:.2f}x"))
    print(f"{a.jobs} jobs x {a.seconds:g} s of speech at 512x512 ({video_s:g} s of video), {os.cpu_count()} CPUs")
    print_table(rows, ("run", "wall s", "video s / wall s", "vs separate"), "<>>>")


if __name__ == "__main__":
    main()
