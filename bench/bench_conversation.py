"""Benchmark: a two-person conversation at 512x1024 through the CLI (target: faster than real time on 2 cores).

Each run is ``python -m synchrorama_core generate --image PICTURE --audio LEFT --audio RIGHT ...`` in
its own subprocess (imports, face analysis of the wide picture, both speakers' audio, emotion,
scene and motion, listening, the two-face warp and H.264/AAC encoding all counted).  The
picture is the bundled conversation sample (two portraits side by side, 512 x 1024); the two
tracks are its two voices (split by its turns) repeated to the length asked for.  Besides the
wall time, the child's CPU time (user + system, all its threads) comes from ``os.wait4``: on a
machine shared with other work the wall time is pessimistic, while CPU time / 2 is what two
otherwise idle cores would need if render and encode overlapped perfectly (they run on two
threads).

    .venv/bin/python bench/bench_conversation.py [--durations 15 60] [--fps 25] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from synchrorama_core.audio import load_speech_waveform, parse_turns, split_turns  # noqa: E402
from synchrorama_core.conversation import bundled_conversation  # noqa: E402
from _common import CLI_TIMINGS as STAGES, cli_env, print_machine, print_table, run_cli, work_folder  # noqa: E402


def make_tracks(seconds: float, folder: str) -> list:
    """The bundled conversation's two voices, one file each, repeated and cut to ``seconds``."""
    import soundfile as sf
    s = bundled_conversation()
    y = load_speech_waveform(s["audio"])
    tracks = split_turns(y, 16000, parse_turns(s["turns"]))
    reps = int(np.ceil(seconds * 16000 / len(y)))
    paths = []
    for k, t in enumerate(tracks):
        p = os.path.join(folder, f"speaker{k}_{seconds:g}s.wav")
        sf.write(p, np.tile(t, reps)[: int(round(seconds * 16000))], 16000, subtype="PCM_16")
        paths.append(p)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--durations", type=float, nargs="+", default=[15.0, 60.0])
    ap.add_argument("--fps", type=float, default=25.0)
    ap.add_argument("--keep", default=None, help="keep the videos and OUT.json files in this folder")
    a = ap.parse_args(argv)
    folder = work_folder(a.keep, "sr_bench_conversation_")
    env = cli_env()
    s = bundled_conversation()
    print_machine("wall times are pessimistic")
    rows = []
    for d in a.durations:
        left, right = make_tracks(d, folder)
        out = os.path.join(folder, f"conversation_{d:g}s.mp4")
        load0 = os.getloadavg()[0]
        r = run_cli(["generate", "--image", s["image"], "--audio", left, "--audio", right,
                          "--text", s["texts"][0], "--text", s["texts"][1], "--fps", str(a.fps), "--out", out,
                          "--quiet"], env)
        if r["rc"] != 0:
            print(f"{d:g} s: the CLI failed (exit {r['rc']}):\n{r['stderr']}")
            return 1
        with open(os.path.splitext(out)[0] + ".json", encoding="utf-8") as f:
            rep = json.load(f)
        r.update(duration=d, frames=rep["video"]["n_frames"], size=(rep["video"]["height"], rep["video"]["width"]),
                 t=rep["timings_s"], load=(load0 + os.getloadavg()[0]) / 2)
        rows.append(r)
    print()
    print_table([(f"{r['duration']:g}s", r["frames"], f"{r['size'][0]}x{r['size'][1]}", f"{r['wall_s']:.1f}s",
                  f"{r['duration'] / r['wall_s']:.2f}", f"{r['cpu_s']:.1f}s", f"{r['duration'] / (r['cpu_s'] / 2):.2f}",
                  f"{r['rss_mb']:.0f}MB", f"{r['load']:.1f}", *(f"{r['t'].get(k, float('nan')):.2f}s" for k in STAGES))
                 for r in rows],
                ("speech", "frames", "HxW", "CLI wall", "x rt", "CPU", "x rt 2 cores", "peak RSS", "load",
                 *STAGES), ">" * (9 + len(STAGES)))
    print()
    print("x rt = seconds of video per second of wall time (>= 1 is faster than real time); 'x rt 2 cores' =")
    print("seconds of video per (CPU seconds / 2): what two idle cores give when render and encode overlap fully.")
    print("CPU is the whole CLI process (interpreter start and imports included); 'load' is the machine's load")
    print("average around the run (2 = both cores busy with other work).")
    for r in rows:
        print(f"  {r['duration']:g} s: render {r['t']['render_fps']:.1f} frames/s (both faces per frame)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
