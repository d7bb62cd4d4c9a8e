"""Write docs/render_showcase.png: what the zero-download warp renderer makes of three real portraits.

    python docs/tools/render_showcase.py [--out docs/render_showcase.png] [--tile 150]

Columns: the reference photo | neutral speech, in a pause (the neutral rest face: lips closed,
the photo's smile taken out of the mouth) | happy speech | sad speech (same audio, a happy or a
sad transcript read by the zero-download emotion embedder) | an open vowel.  Rows: the portraits
of the render tests (tests/data/README.md): a smile with teeth (the astronaut), closed lips
(Grace Hopper), a small grey face with parted lips (Takeo Kanade).  Speech: espeak-ng.
Everything runs on the CPU with the defaults; the picture is palette-compressed to stay small.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from synchrorama_core.audio import load_speech_waveform, speech_from_waveform  # noqa: E402
from synchrorama_core.emotion import embed_emotion  # noqa: E402
from synchrorama_core.face import analyze_face  # noqa: E402
from synchrorama_core.motion import generate_procedural  # noqa: E402
from synchrorama_core.render import WarpRenderer  # noqa: E402

FPS = 25.0
TEXT = ("Hello there. I am really happy to see you today, it is a wonderful morning. "
        "Shall we take a walk along the river before lunch?")
HAPPY = "I am so happy today! This is wonderful, I love it, what a great and joyful day."
SAD = "I am so sad today. Everything is lost, I miss her, and I feel terrible and alone."
COLUMNS = ("reference", "neutral (pause)", "happy", "sad", "open vowel")


def _portraits():
    from PIL import Image
    from skimage import data
    data_dir = os.path.join(ROOT, "tests", "data")

    def load(name):
        return np.asarray(Image.open(os.path.join(data_dir, name)).convert("RGB"), np.float32) / 255.0
    return [("astronaut", data.astronaut().astype(np.float32) / 255.0),
            ("closed lips", load("portrait_closed_lips.jpg")),
            ("parted lips, small", load("portrait_parted_lips.png"))]


def _speech():
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is needed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "s.wav")
        subprocess.run([exe, "-v", "en-us", "-w", p, TEXT], check=True, capture_output=True)
        return speech_from_waveform(load_speech_waveform(p), FPS, source="espeak-ng")


def _tile(img, box, size):
    from PIL import Image
    x0, y0, x1, y1 = box
    cx, cy, s = (x0 + x1) / 2, (y0 + y1) / 2 + 0.05 * (y1 - y0), 0.72 * max(x1 - x0, y1 - y0)
    h, w = img.shape[:2]
    a = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    crop = a[max(0, int(cy - s)):min(h, int(cy + s)), max(0, int(cx - s)):min(w, int(cx + s))]
    return Image.fromarray(crop).resize((size, size), Image.LANCZOS)


def main() -> None:
    from PIL import Image, ImageDraw
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "render_showcase.png"))
    ap.add_argument("--tile", type=int, default=150)
    args = ap.parse_args()
    sp = _speech()
    motions = {"neutral": generate_procedural(sp), "happy": generate_procedural(sp, embed_emotion(sp, HAPPY)),
               "sad": generate_procedural(sp, embed_emotion(sp, SAD))}
    ex = motions["neutral"].expressions
    blink = np.maximum(ex["blink_l"], ex["blink_r"])
    vad = sp.features["vad"] > 0.5
    pause = np.flatnonzero((~vad) & (ex["jaw_open"] < 0.01) & (blink < 0.05))
    pause = int(pause[np.argmin(np.abs(pause - 0.6 * len(vad)))])     # a pause between two phrases
    vowel = int(np.argmax(np.where(blink < 0.05, ex["jaw_open"], -1)))
    t, top = args.tile, 22
    sheet = Image.new("RGB", (t * len(COLUMNS), top + t * 3), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for c, name in enumerate(COLUMNS):
        draw.text((c * t + 6, 5), name, fill=(0, 0, 0))
    for r, (name, img) in enumerate(_portraits()):
        face = analyze_face(img, source=name)
        renderer = WarpRenderer(face)
        frames = [img]
        for emo, i in (("neutral", pause), ("happy", pause), ("sad", pause), ("neutral", vowel)):
            m = motions[emo]
            frames.append(next(renderer.frames(_one(m, i))))
        for c, f in enumerate(frames):
            sheet.paste(_tile(f, face.boxes[0], t), (c * t, top + r * t))
        print(f"{name}: portrait expression {renderer.portrait_expression.to_dict()}")
    sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
        args.out, optimize=True)
    print(f"wrote {args.out} ({os.path.getsize(args.out) // 1024} KB); pause frame {pause}, vowel frame {vowel}")


def _one(motion, i):
    """The single frame ``i`` of ``motion`` as a one-frame motion."""
    from synchrorama_core.types import MotionData
    return MotionData(fps=motion.fps, duration_s=1 / motion.fps, rotation=motion.rotation[i:i + 1],
                      translation=motion.translation[i:i + 1], scale=motion.scale[i:i + 1],
                      expressions={k: v[i:i + 1] for k, v in motion.expressions.items()})


if __name__ == "__main__":
    main()
