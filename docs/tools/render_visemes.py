"""Write docs/visemes.png: the lip shapes the procedural A2M makes from speech, as rendered.

    python docs/tools/render_visemes.py [--out docs/visemes.png] [--tile 128]

Columns: m (the closure of "hammer"), f ("offer": the lower lip under the upper teeth), oo ("who":
rounded), ee ("see": spread), a ("ha": the jaw open), each the frame of its word where the A2M's
channel for that shape peaks.  Rows: the warp renderer on the closed-lip portrait (Grace Hopper)
and on the astronaut (parted lips and teeth in the photo, closed by the rest face), and the motion
frame (MediaPipe face-mesh style) of the closed-lip portrait.  Speech: espeak-ng, each word
spoken on its own, the transcript aligned by pocketsphinx; head motion off.  Everything runs on
the CPU with the defaults; the picture is palette-compressed to stay small.
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
from synchrorama_core.audio.phones import speech_phones  # noqa: E402
from synchrorama_core.face import analyze_face  # noqa: E402
from synchrorama_core.motion import generate_procedural, motion_frames  # noqa: E402
from synchrorama_core.render import WarpRenderer  # noqa: E402
from synchrorama_core.types import MotionData  # noqa: E402

FPS = 25.0
#: (label, word, the channel that peaks on its shape)
SHAPES = (("m", "hammer", "mouth_press"), ("f", "offer", "lip_tuck"), ("oo", "who", "mouth_pucker"),
          ("ee", "see", "mouth_wide"), ("a", "ha", "jaw_open"))


def _speech():
    """The words spoken one by one, joined with 0.2 s pauses; returns SR_SPEECH and each word's frames."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is needed (apt-get install espeak-ng)")
    parts, spans, n = [], [], 0
    with tempfile.TemporaryDirectory() as d:
        for _, word, _ in SHAPES:
            p = os.path.join(d, "w.wav")
            subprocess.run([exe, "-v", "en-us", "-w", p, word], check=True, capture_output=True)
            y = np.concatenate([load_speech_waveform(p), np.zeros(3200, np.float32)])
            spans.append((int(n / 16000 * FPS), int((n + len(y)) / 16000 * FPS)))
            parts.append(y)
            n += len(y)
    return speech_from_waveform(np.concatenate(parts), FPS, source="espeak-ng"), spans


def _one(motion, i):
    """The single frame ``i`` of ``motion`` as a one-frame motion."""
    return MotionData(fps=motion.fps, duration_s=1 / motion.fps, rotation=motion.rotation[i:i + 1],
                      translation=motion.translation[i:i + 1], scale=motion.scale[i:i + 1],
                      expressions={k: v[i:i + 1] for k, v in motion.expressions.items()})


def _tile(img, lm, size):
    """The lower face around the mouth, ``size`` x ``size``."""
    from PIL import Image
    mouth = lm[[61, 291, 0, 17], :2]
    cx, cy = mouth[:, 0].mean(), mouth[:, 1].mean()
    s = 0.9 * float(np.linalg.norm(lm[291, :2] - lm[61, :2]))
    h, w = img.shape[:2]
    a = img if img.dtype == np.uint8 else (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    crop = a[max(0, int(cy - s)):min(h, int(cy + s)), max(0, int(cx - s)):min(w, int(cx + s))]
    return Image.fromarray(crop).resize((size, size), Image.LANCZOS)


def main() -> None:
    from PIL import Image, ImageDraw
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "visemes.png"))
    ap.add_argument("--tile", type=int, default=128)
    args = ap.parse_args()
    sp, spans = _speech()
    track = speech_phones(sp, "auto", ". ".join(w for _, w, _ in SHAPES) + ".")
    motion = generate_procedural(sp, phones=track, head_scale=0.0)
    picks = []
    for (label, word, channel), (a, b) in zip(SHAPES, spans):
        picks.append(a + int(np.argmax(motion.expressions[channel][a:b])))
        print(f"{label} ({word}): frame {picks[-1]}, " + ", ".join(
            f"{k} {motion.expressions[k][picks[-1]]:.2f}" for k in ("jaw_open", "mouth_wide", "mouth_pucker",
                                                                     "mouth_press", "lip_tuck")))
    print("phones:", motion.meta["phones"]["note"])
    from skimage import data
    from PIL import Image as _I
    closed = np.asarray(_I.open(os.path.join(ROOT, "tests", "data", "portrait_closed_lips.jpg")).convert("RGB"),
                        np.float32) / 255.0
    rows = []
    for name, img in (("closed lips", closed), ("astronaut", data.astronaut().astype(np.float32) / 255.0)):
        face = analyze_face(img, source=name)
        r = WarpRenderer(face)
        rows.append([_tile(next(r.frames(_one(motion, i))), face.landmarks[0], args.tile) for i in picks])
        if name == "closed lips":
            drawn = motion_frames(face, motion, "mediapipe")
            frame_row = [_tile(drawn[i], face.landmarks[0], args.tile) for i in picks]
    rows.append(frame_row)
    t, top = args.tile, 18
    sheet = Image.new("RGB", (t * len(SHAPES), top + t * len(rows)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for c, (label, word, _) in enumerate(SHAPES):
        draw.text((c * t + 6, 3), f"{label}  ({word})", fill=(0, 0, 0))
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            sheet.paste(tile, (c * t, top + r * t))
    sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
        args.out, optimize=True)
    print(f"wrote {args.out} ({os.path.getsize(args.out) // 1024} KB)")


if __name__ == "__main__":
    main()
