"""docs/conversation_showcase.jpg: the bundled conversation rendered on the CPU with the defaults.

    python docs/tools/conversation_showcase.py

Rows: a frame while the person on the left speaks (the right one listens, turned toward her), and one
while the person on the right speaks (the left one listens).  Picture: two public-domain portraits side
by side (synchrorama_core/assets/README.md); speech: the bundled two-voice espeak-ng track split by turns.
"""
from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def main() -> None:
    import av
    from PIL import Image, ImageDraw
    from synchrorama_core.conversation import demo_conversation
    with tempfile.TemporaryDirectory() as d:
        res = demo_conversation(out=os.path.join(d, "c.mp4"), write_json=False)
        with av.open(res.video_path) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]
    turns = res.scene.meta["turns"]
    rows = []
    for who in (0, 1):
        t = next(x for x in turns if x["speakers"] == [who])
        jaw = res.motions[who].expressions["jaw_open"]
        a, b = int(t["start_s"] * res.fps), int(t["end_s"] * res.fps)
        i = a + int(np.argmax(jaw[a:b]))                                   # the speaker's mouth wide open
        im = Image.fromarray(frames[i]).resize((768, 384), Image.LANCZOS)
        draw = ImageDraw.Draw(im)
        label = f"{res.cast.names[who]} speaks, t = {i / res.fps:.2f} s"
        draw.rectangle([0, 0, 8 + draw.textlength(label), 18], fill=(0, 0, 0))
        draw.text((4, 3), label, fill=(255, 255, 255))
        rows.append(np.asarray(im))
    out = os.path.join(ROOT, "docs", "conversation_showcase.jpg")
    Image.fromarray(np.concatenate(rows, axis=0)).save(out, quality=85)
    print("wrote", out)


if __name__ == "__main__":
    main()
