"""Benchmark: face analysis per still image, per-frame tracking, and video encoding.

    python bench/bench_face.py

Prints a table (median of several runs; the machine may be shared, so compare with care).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from synchrorama_core.face import FaceTracker, analyze_face, load_face_models  # noqa: E402
from synchrorama_core.video import write_video  # noqa: E402
from _common import median_ms, print_table  # noqa: E402


def _astronaut(size: int) -> np.ndarray:
    from PIL import Image
    from skimage import data
    im = Image.fromarray(data.astronaut()).resize((size, size), Image.BICUBIC)
    return np.asarray(im, np.float32) / 255.0


def main() -> None:
    rows = []
    t = time.perf_counter()
    load_face_models()
    rows.append(("load face models (first call)", f"{1000 * (time.perf_counter() - t):.0f} ms", ""))
    for size in (512, 1024):
        img = _astronaut(size)
        analyze_face(img)
        ms = median_ms(lambda: analyze_face(img), 15)
        rows.append((f"face analysis, still {size}x{size}", f"{ms:.1f} ms", "detect + 2 landmark passes + iris"))
    img = _astronaut(512)
    frames = [np.roll(img, 2 * i, axis=1) for i in range(100)]
    tracker = FaceTracker()
    tracker(frames[0])
    t = time.perf_counter()
    found = sum(tracker(f) is not None for f in frames)
    per = 1000 * (time.perf_counter() - t) / len(frames)
    rows.append(("tracking per frame, 512x512", f"{per:.1f} ms", f"{1000 / per:.0f} frames/s, face in {found}/100"))
    uint8 = [(f * 255).astype(np.uint8) for f in frames[:50]]
    sr = 16000
    audio = (0.2 * np.sin(2 * np.pi * 200 * np.arange(2 * sr) / sr)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        for label, fr in (("float", frames[:50]), ("uint8", uint8)):
            ms = median_ms(lambda: write_video(os.path.join(d, "b.mp4"), fr, 25, audio=audio, sample_rate=sr), 5)
            rows.append((f"encode 2 s 512x512 @25 fps + AAC ({label} frames)", f"{ms:.0f} ms",
                         f"{50 / (ms / 1000):.0f} frames/s"))
    print_table(rows, ("what", "time", "notes"), "<>")
    print(f"\n(cpu count {os.cpu_count()}; medians; a shared machine)")


if __name__ == "__main__":
    main()
