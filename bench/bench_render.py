"""Benchmark: the warp renderer (zero-download video sampler).

    python bench/bench_render.py [--seconds 60] [--long 600]

Renders real procedural motion (espeak-ng speech when installed, else a synthetic syllable
envelope) on the astronaut portrait at 256², 512² and 1024², and streams a long clip through
``iter_frames`` (uint8, frames dropped at once, as the CLI does when it pipes them to the
encoder) while sampling the process's resident memory.  Prints one table.  The machine may
be shared with other jobs: numbers measured then are pessimistic.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from synchrorama_core.audio import load_speech_waveform, speech_from_waveform  # noqa: E402
from synchrorama_core.face import analyze_face, analyze_faces  # noqa: E402
from synchrorama_core.motion import generate_procedural  # noqa: E402
from synchrorama_core.render import RenderOptions, WarpRenderer, iter_frames  # noqa: E402
from synchrorama_core.types import MotionData  # noqa: E402
from _common import print_table  # noqa: E402

FPS = 25.0
TEXT = ("Hello there. I am really happy to see you today, it is a wonderful morning. "
        "Shall we take a walk along the river before lunch?")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _speech_wave(seconds: float) -> tuple:
    exe = shutil.which("espeak-ng")
    if exe:
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "s.wav")
            subprocess.run([exe, "-w", p, TEXT], check=True, capture_output=True)
            y = load_speech_waveform(p)
        src = "espeak-ng"
    else:  # syllable-rate amplitude-modulated buzz: still drives the jaw, blinks and head
        t = np.arange(int(8 * 16000)) / 16000
        y = (0.3 * np.sin(2 * np.pi * 140 * t) * np.clip(np.sin(2 * np.pi * 4 * t), 0, 1)).astype(np.float32)
        src = "synthetic"
    reps = int(np.ceil(seconds * 16000 / len(y)))
    return np.tile(y, reps)[:int(seconds * 16000)], src


def _motion(seconds: float, wave: np.ndarray) -> MotionData:
    return generate_procedural(speech_from_waveform(wave[:int(seconds * 16000)], FPS))


def _portrait(size: int) -> np.ndarray:
    from PIL import Image
    from skimage import data
    im = Image.fromarray(data.astronaut()).resize((size, size), Image.BICUBIC)
    return np.asarray(im, np.float32) / 255.0


def _with_open_mouth(face, renderer):
    """``face`` plus a second reference: the same portrait rendered with the mouth open and a
    smile, so the nearest-expression choice really switches and cross-fades during speech."""
    ex = {"jaw_open": [1.0], "smile": [0.6]}
    mo = MotionData(fps=FPS, duration_s=1 / FPS, rotation=np.zeros((1, 3)), translation=np.zeros((1, 2)),
                    scale=np.ones(1), expressions=ex)
    return analyze_faces([face.images[0], renderer.render(mo)[0]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="clip length for the frames/s rows")
    ap.add_argument("--long", type=float, default=120.0, help="clip length for the streaming memory rows")
    args = ap.parse_args()
    wave, src = _speech_wave(max(args.seconds, 10.0))
    mo = _motion(args.seconds, wave)
    rows = [("motion", f"{mo.n_frames} frames", f"procedural A2M on {src} speech, {args.seconds:.0f} s at {FPS:.0f} fps")]
    for size in (256, 512, 1024):
        face = analyze_face(_portrait(size))
        t = time.perf_counter()
        r = WarpRenderer(face)
        setup = time.perf_counter() - t
        warm = MotionData.neutral(2 / FPS, FPS)
        r.render(warm)                                  # numba compile / cache load, outside the timing
        for label, opts in (("", None), (" (2 refs)", RenderOptions())):
            rr = r if opts is None else WarpRenderer(_with_open_mouth(face, r), opts)
            if opts is not None:
                rr.render(warm)
            t = time.perf_counter()
            n = 0
            for _ in rr.frames(mo, dtype=np.uint8):
                n += 1
            dt = time.perf_counter() - t
            note = f"{1000 * dt / n:.1f} ms/frame, setup {1000 * setup:.0f} ms, uint8 out"
            if opts is not None:
                w = np.asarray(rr.weights)
                note += (f"; {int((np.diff(rr.choices) != 0).sum())} switches, "
                         f"{int(((w > 1e-3).sum(axis=1) > 1).sum())} blended frames")
            rows.append((f"render {size}x{size}{label}", f"{n / dt:.1f} frames/s", note))
    # streaming: memory must not grow with duration
    face = analyze_face(_portrait(512))
    long_wave = np.tile(wave, int(np.ceil(args.long * 16000 / len(wave))))
    for secs in (args.long / 10, args.long):
        mo = _motion(secs, long_wave)
        samples = []
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                samples.append(_rss_mb())
                time.sleep(0.05)
        base = _rss_mb()
        th = threading.Thread(target=watch, daemon=True)
        th.start()
        t = time.perf_counter()
        n = 0
        for f in iter_frames(face, mo, dtype=np.uint8):
            n += 1
        dt = time.perf_counter() - t
        stop.set()
        th.join()
        rows.append((f"stream {secs:.0f} s at 512x512", f"peak RSS {max(samples):.0f} MB",
                     f"{n} frames in {dt:.1f} s ({n / dt:.1f} frames/s); RSS before {base:.0f} MB, "
                     f"+{max(samples) - base:.0f} MB while streaming"))
    print_table(rows, ("case", "result", "notes"))
    print(f"\n{os.cpu_count()} CPUs visible; numba threads not used (one core renders). "
          "Shared machine: numbers measured while other jobs run are pessimistic.")


if __name__ == "__main__":
    main()
