"""A preview of the face analysis: landmarks and contours drawn on the image."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..geometry import topology as T

_COLOURS = {
    "face_oval": (0.85, 0.85, 0.85), "lips_outer": (1.0, 0.25, 0.35), "lips_inner": (1.0, 0.55, 0.2),
    "left_eye": (0.2, 0.9, 0.3), "right_eye": (0.2, 0.9, 0.3), "left_brow": (0.95, 0.9, 0.2),
    "right_brow": (0.95, 0.9, 0.2), "left_iris": (0.2, 0.7, 1.0), "right_iris": (0.2, 0.7, 1.0),
    "nose": (0.9, 0.5, 0.9),
}


def draw_face_preview(image: np.ndarray, landmarks: np.ndarray, box: Optional[Sequence[float]] = None,
                   points: bool = True) -> np.ndarray:
    """Return a copy of ``image`` (float ``[H, W, 3]``) with the mesh points, the feature
    contours and (optionally) the face box drawn on it."""
    from PIL import Image, ImageDraw
    img = Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8))
    d = ImageDraw.Draw(img)
    lm = np.asarray(landmarks, np.float32)[:, :2]
    w = max(1, round(min(img.size) / 400))
    if points:
        for x, y in lm[:468]:
            d.point((float(x), float(y)), fill=(120, 200, 255))
    for name, col in _COLOURS.items():
        c = tuple(int(v * 255) for v in col)
        for a, b in T.EDGES[name].tolist():
            d.line([tuple(lm[a].tolist()), tuple(lm[b].tolist())], fill=c, width=w)
    if box is not None:
        d.rectangle([float(v) for v in box], outline=(255, 255, 0), width=w)
    return np.asarray(img, np.float32) / 255.0
