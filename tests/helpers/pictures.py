"""Test pictures built from public-domain photos, shared by the tests and docs/tools.

Imported as ``from helpers.pictures import ...`` (tests/ on sys.path: pytest's conftest.py, or a
script's own ``sys.path.insert``).
"""
from __future__ import annotations

import os

import numpy as np

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")


def cover_fit(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """uint8 image scaled to cover (h, w) (Lanczos), centre crop."""
    from PIL import Image
    im = Image.fromarray(a)
    s = max(h / im.height, w / im.width)
    im = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
    x0, y0 = (im.width - w) // 2, (im.height - h) // 2
    return np.asarray(im)[y0:y0 + h, x0:x0 + w]


def two_people(side: int = 512) -> np.ndarray:
    """Two real faces side by side, uint8 ``[side, 2 * side, 3]``: the astronaut Eileen Collins
    (``skimage.data.astronaut()``) on the left, Grace Hopper (``tests/data/portrait_closed_lips.jpg``)
    on the right, each scaled to cover a ``side`` square.  The bundled conversation sample is this
    picture as a JPEG (docs/tools/make_conversation_sample.py)."""
    from PIL import Image
    from skimage import data
    hopper = np.asarray(Image.open(os.path.join(DATA, "portrait_closed_lips.jpg")).convert("RGB"))
    return np.concatenate([cover_fit(data.astronaut(), side, side), cover_fit(hopper, side, side)], axis=1)
