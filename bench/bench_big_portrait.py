"""Benchmark: the CLI on large portraits (target: 8000x8000 under 3 GB and well under a minute).

Each run is ``python -m synchrorama_core generate --image BIG.jpg --audio SPEECH --duration 2``
in its own subprocess; its peak RSS comes from ``os.wait4`` (the child's own ``ru_maxrss``), and a
watchdog kills a run that passes ``--kill-mb`` resident (so measuring an unbounded version cannot
take the machine down; the table then says where it was stopped).  The portraits are made here:
the astronaut photo (``skimage.data.astronaut``) enlarged onto a smooth backdrop, as a JPEG:
8000x8000 (64 MP, face ~1700 px), a 12 MP phone-sized 4032x3024 (face ~850 px) and the bundled
512x512 sample for comparison.  The speech is the bundled sample.

    .venv/bin/python bench/bench_big_portrait.py [--root CHECKOUT] [--kill-mb 6000] [--keep DIR]

``--root`` runs another checkout's CLI (e.g. a worktree of an older commit) on the same inputs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))  # the tests' own measuring helper (peak RSS, watchdog)

from synchrorama_core.pipeline import bundled_sample  # noqa: E402
from helpers.measure import run_measured  # noqa: E402
from _common import cli_env, print_folder, print_machine, print_table, print_target, work_folder  # noqa: E402


def make_portrait(path: str, size: tuple, face_scale: int, at: tuple) -> str:
    """The astronaut photo enlarged ``face_scale`` times, pasted at ``at`` on a ``size`` (w, h) backdrop."""
    from PIL import Image
    from skimage import data
    small = np.stack(np.meshgrid(np.linspace(60, 140, 64), np.linspace(80, 180, 64)), -1)
    back = np.concatenate([small, small[..., :1] * 0.8], -1).astype(np.uint8)
    canvas = Image.fromarray(back).resize(size, Image.BILINEAR)
    face = Image.fromarray(data.astronaut()).resize((512 * face_scale, 512 * face_scale), Image.BICUBIC)
    canvas.paste(face, at)
    canvas.save(path, quality=90)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=ROOT, help="checkout whose CLI is measured (default: this one)")
    ap.add_argument("--kill-mb", type=float, default=6000.0, help="stop a run above this resident size")
    ap.add_argument("--duration", type=float, default=2.0, help="seconds of speech (default 2)")
    ap.add_argument("--keep", default=None, help="keep the portraits and videos in this folder")
    a = ap.parse_args(argv)
    folder = work_folder(a.keep, "sr_bench_big_")
    root = os.path.abspath(a.root)
    env = cli_env(root)
    sample = bundled_sample()
    cases = [("512x512 (bundled)", sample["image"]),
             ("4032x3024 (12 MP)", make_portrait(os.path.join(folder, "12mp.jpg"), (4032, 3024), 4, (1000, 400))),
             ("8000x8000 (64 MP)", make_portrait(os.path.join(folder, "64mp.jpg"), (8000, 8000), 8, (1800, 1400)))]
    print(f"checkout: {root}")
    print_machine()
    rows = []
    for name, image in cases:
        out = os.path.join(folder, f"out_{len(rows)}.mp4")
        r = run_measured([sys.executable, "-m", "synchrorama_core", "generate", "--image", image, "--audio",
                          sample["audio"], "--duration", str(a.duration), "--out", out, "-q"], env=env, cwd=root,
                         timeout_s=900, kill_above_mb=a.kill_mb)
        size = "-"
        if r["rc"] == 0:
            with open(os.path.splitext(out)[0] + ".json", encoding="utf-8") as f:
                v = json.load(f)["video"]
            size = f"{v['width']}x{v['height']}"
        status = "ok" if r["rc"] == 0 else (f"killed at {r['killed_at_mb']:.0f} MB" if r["killed_at_mb"]
                                            else f"exit {r['rc']}")
        rows.append((name, f"{r['rss_mb']:.0f} MB", f"{r['wall_s']:.1f} s", size, status))
        if r["rc"] != 0 and not r["killed_at_mb"]:
            print(f"{name}: {r['stderr'][-600:]}")
    print()
    print_table(rows, ("portrait", "peak RSS", "CLI wall", "video", "result"), "<>><")
    print()
    print(f"{a.duration:g} s of speech at 25 fps; 'CLI wall' includes the interpreter start and imports.")
    big = rows[-1]
    if big[-1] == "ok":
        rss, wall = float(big[1].split()[0]), float(big[2].split()[0])
        print_target("target 8000x8000: < 3000 MB and well under 60 s", rss < 3000 and wall < 60,
                     f"{rss:.0f} MB, {wall:.1f} s")
    print_folder(a.keep, folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
