"""Benchmark: peak memory of a real ComfyUI server running the shipped talking-portrait graph on long speech.

Target: the server's peak RSS grows by < 1.5 GB for 57 s of speech and for 10 minutes of speech.

For each run a fresh ComfyUI (``COMFYUI_PATH``; its venv from ``../shared/tools/comfy_host.sh
setup``) starts in folders of its own (``tests/helpers/comfy_server.py``), runs the graph once on
2 s of speech (imports, JIT compilation, model set-up happen there), then runs it on the long
speech. The peak is the kernel's own mark (``VmHWM`` of the server process, reset to the current
RSS through ``/proc/PID/clear_refs`` just before the run; RSS is also sampled every 20 ms as a
check). Growth = peak during the run - RSS just before it; "from start" = peak - RSS of the idle
server right after it started (the one-off imports and set-up included).

``video`` is the shipped graph (Warp Render Video streams frames into the mp4 -> core Save Video);
``image`` is the same graph with the IMAGE path (Warp Renderer -> SynchroRaMa Save Video), which
holds every frame: it is what the graph did before and is measured for comparison on the shorter
clip only (10 minutes would need ~47 GB).

    COMFYUI_PATH=/path/to/ComfyUI .venv/bin/python bench/bench_host_memory.py [--durations 57 600] [--image 57]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (ROOT, os.path.join(ROOT, "tests"), os.path.join(ROOT, "workflows", "build")):
    sys.path.insert(0, p)

from _common import print_table  # noqa: E402
from bench_pipeline import make_speech  # noqa: E402
from comfy_workflow import ui_to_api, workflow_files  # noqa: E402
from helpers.comfy_server import ComfyServer, ensure_venv  # noqa: E402

HOST_SH = os.environ.get("COMFY_HOST_SH") or os.path.join(os.path.dirname(ROOT), "shared", "tools", "comfy_host.sh")
TARGET_MB = 1536


def shipped_prompt(info: dict) -> dict:
    path = next(p for p in workflow_files() if p.endswith("synchrorama_talking_portrait.json"))
    with open(path, encoding="utf-8") as f:
        prompt, problems = ui_to_api(json.load(f), info, live_files=True)
    if problems:
        raise SystemExit("the shipped graph does not fit this server:\n" + "\n".join(problems))
    return prompt


def with_speech(prompt: dict, audio: str, text: str, prefix: str, path_kind: str) -> dict:
    """The shipped prompt on ``audio`` with transcript ``text``; ``image``: the IMAGE rendering path."""
    p = json.loads(json.dumps(prompt))
    by_type = {v["class_type"]: k for k, v in p.items()}
    p[by_type["SynchroRaMaLoadAudio"]]["inputs"]["audio"] = audio
    p[by_type["SynchroRaMaEmotionEmbedder"]]["inputs"]["transcript"] = text
    ren, save = by_type["SynchroRaMaWarpRenderVideo"], by_type["SaveVideo"]
    if path_kind == "video":
        p[save]["inputs"]["filename_prefix"] = prefix
        return p
    inputs = p[ren]["inputs"]
    p[ren] = {"class_type": "SynchroRaMaWarpRenderer",
              "inputs": {k: v for k, v in inputs.items() if k not in ("audio", "crf")}}
    p[save] = {"class_type": "SynchroRaMaSaveVideo",
               "inputs": {"images": [ren, 0], "fps": [ren, 1], "audio": inputs["audio"], "crf": 19,
                          "filename_prefix": prefix}}
    return p


class RSSSampler:
    """Samples the process's RSS every ``dt`` seconds (a check on the kernel's VmHWM)."""

    def __init__(self, server: ComfyServer, dt: float = 0.02):
        self.server, self.dt, self.peak, self._stop = server, dt, 0.0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.server.rss_mb())
            except (OSError, KeyError):
                return
            time.sleep(self.dt)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def measure(comfy: str, seconds: float, path_kind: str, folder: str) -> dict:
    with ComfyServer(comfy, ROOT) as s:
        rss_start = s.rss_mb()
        for d in (2.0, seconds):
            wav, txt = make_speech(d, folder)
            shutil.copyfile(wav, s.folder("input", os.path.basename(wav)))
        info = s.get("/object_info")
        base = shipped_prompt(info)
        wav_short, txt_short = make_speech(2.0, folder)
        with open(txt_short, encoding="utf-8") as f:
            s.run(with_speech(base, os.path.basename(wav_short), f.read(), "bench/warmup", path_kind))
        wav, txt = make_speech(seconds, folder)
        with open(txt, encoding="utf-8") as f:
            prompt = with_speech(base, os.path.basename(wav), f.read(), "bench/long", path_kind)
        time.sleep(1.0)
        rss_before = s.rss_mb()
        hwm_ok = s.reset_peak_rss()
        t = time.perf_counter()
        with RSSSampler(s) as sampler:
            entry = s.run(prompt, timeout=7200)
        wall = time.perf_counter() - t
        peak = s.peak_rss_mb() if hwm_ok else sampler.peak
        outs = [f for o in entry["outputs"].values() for f in o.get("images", []) if f["filename"].endswith(".mp4")]
        size = os.path.getsize(s.result_path(outs[0])) / 1e6 if outs else 0.0
    return {"seconds": seconds, "path": path_kind, "rss_start": rss_start, "rss_before": rss_before, "peak": peak,
            "sampled_peak": sampler.peak, "growth": peak - rss_before, "from_start": peak - rss_start,
            "wall": wall, "mp4_mb": size, "hwm": hwm_ok}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--durations", type=float, nargs="+", default=[57.0, 600.0],
                    help="seconds of speech through the shipped (streaming) graph")
    ap.add_argument("--image", type=float, nargs="*", default=[57.0],
                    help="seconds of speech through the IMAGE path, for comparison (none: --image)")
    a = ap.parse_args(argv)
    comfy = os.environ.get("COMFYUI_PATH", "")
    if not os.path.isfile(os.path.join(comfy, "main.py")):
        raise SystemExit("set COMFYUI_PATH to a ComfyUI source tree (../shared/tools/comfy_host.sh prepare DEST)")
    ensure_venv(comfy, ROOT, HOST_SH)
    folder = os.path.join(os.path.abspath(os.environ.get("TMPDIR", "/tmp")), f"sr_bench_host_{os.getpid()}")
    os.makedirs(folder, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; ComfyUI at {comfy}")
    runs = [(d, "video") for d in a.durations] + [(d, "image") for d in (a.image or [])]
    rows = []
    try:
        for d, kind in runs:
            r = measure(comfy, d, kind, folder)
            rows.append((f"{r['seconds']:g} s", r["path"], f"{r['rss_start']:.0f}", f"{r['rss_before']:.0f}",
                         f"{r['peak']:.0f}", f"{r['sampled_peak']:.0f}", f"{r['growth']:.0f}", f"{r['from_start']:.0f}",
                         f"{r['wall']:.1f}", f"{r['mp4_mb']:.1f}",
                         ("yes" if r["growth"] < TARGET_MB else "NO") if kind == "video" else "-"))
            print(f"  {rows[-1]}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print()
    print_table(rows, ("speech", "render path", "RSS at start MB", "RSS before MB", "peak MB (VmHWM)",
                       "peak MB (sampled)", "growth MB", "growth from start MB", "run s", "mp4 MB",
                       f"< {TARGET_MB} MB"), align="<<>>>>>>>>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
