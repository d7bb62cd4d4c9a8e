"""Benchmark: the CLI on 20 s and 60 s of speech, everything included (target: 60 s in < 60 s).

Each run is ``python -m synchrorama_core generate ...`` in its own subprocess (imports, model
loading, face analysis, audio, emotion, scene, motion, rendering and H.264/AAC encoding all
counted); its peak RSS comes from ``os.wait4`` (the child's own ``ru_maxrss``), so the 20 s
and 60 s runs show whether memory grows with the clip's length.  The speech is the bundled
sample (espeak-ng, 11.3 s) repeated and cut to length, the portrait the bundled 512x512 sample.

    .venv/bin/python bench/bench_pipeline.py [--durations 20 60] [--fps 25] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from synchrorama_core.audio import load_speech_waveform  # noqa: E402
from synchrorama_core.pipeline import bundled_sample  # noqa: E402
from _common import (CLI_TIMINGS as STAGES, cli_env, print_folder, print_machine, print_table,  # noqa: E402
                     print_target, run_cli, work_folder)


def make_speech(seconds: float, folder: str) -> tuple:
    """The bundled speech repeated (with its own 0.25 s silences between) and cut to ``seconds``."""
    import soundfile as sf
    s = bundled_sample()
    y = load_speech_waveform(s["audio"])
    reps = int(np.ceil(seconds * 16000 / len(y)))
    wav = np.tile(y, reps)[: int(round(seconds * 16000))]
    path = os.path.join(folder, f"speech_{seconds:g}s.wav")
    sf.write(path, wav, 16000, subtype="PCM_16")
    with open(s["text_file"], encoding="utf-8") as f:
        text = f.read().strip()
    tpath = os.path.join(folder, f"speech_{seconds:g}s.txt")
    with open(tpath, "w", encoding="utf-8") as f:
        f.write(" ".join([text] * reps))
    return path, tpath


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--durations", type=float, nargs="+", default=[20.0, 60.0])
    ap.add_argument("--fps", type=float, default=25.0)
    ap.add_argument("--keep", default=None, help="keep the videos and OUT.json files in this folder")
    a = ap.parse_args(argv)
    folder = work_folder(a.keep, "sr_bench_pipeline_")
    env = cli_env()
    portrait = bundled_sample()["image"]
    print_machine()
    rows = []
    for d in a.durations:
        wav, txt = make_speech(d, folder)
        out = os.path.join(folder, f"out_{d:g}s.mp4")
        r = run_cli(["generate", "--image", portrait, "--audio", wav, "--text-file", txt, "--fps", str(a.fps),
                          "--out", out, "--quiet"], env)
        if r["rc"] != 0:
            print(f"{d:g} s: the CLI failed (exit {r['rc']}):\n{r['stderr']}")
            return 1
        with open(os.path.splitext(out)[0] + ".json", encoding="utf-8") as f:
            rep = json.load(f)
        r.update(duration=d, frames=rep["video"]["n_frames"], t=rep["timings_s"], load=os.getloadavg()[0])
        rows.append(r)
    print()
    print_table([(f"{r['duration']:g}s", r["frames"], f"{r['wall_s']:.1f}s", f"{r['duration'] / r['wall_s']:.2f}",
                  f"{r['rss_mb']:.0f}MB", *(f"{r['t'].get(k, float('nan')):.2f}s" for k in STAGES)) for r in rows],
                ("speech", "frames", "CLI wall", "x rt", "peak RSS", *STAGES), ">" * (5 + len(STAGES)))
    print()
    print("x rt = seconds of video made per second of wall time (>= 1 is real time); 'total' is inside the")
    print("pipeline, 'CLI wall' adds the interpreter start and imports; render and encode overlap on two")
    print("threads, so render_encode_wall < render + encode.")
    for r in rows:
        print(f"  {r['duration']:g} s: render {r['t']['render_fps']:.1f} frames/s, load average after {r['load']:.1f}")
    if len(rows) >= 2:
        lo, hi = rows[0], rows[-1]
        grow = hi["rss_mb"] - lo["rss_mb"]
        print(f"peak RSS {lo['duration']:g} s -> {hi['duration']:g} s: {lo['rss_mb']:.0f} -> {hi['rss_mb']:.0f} MB "
              f"({grow:+.0f} MB for {hi['duration'] - lo['duration']:g} s more; one 512x512 RGB frame is 0.75 MB, "
              f"{int(hi['frames'] - lo['frames'])} more frames would be {0.75 * (hi['frames'] - lo['frames']):.0f} MB)")
    target = [r for r in rows if r["duration"] >= 60]
    for r in target:
        print_target(f"target: {r['duration']:g} s of speech in < 60 s wall", r["wall_s"] < 60, f"{r['wall_s']:.1f} s")
    print_folder(a.keep, folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
