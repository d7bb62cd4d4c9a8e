"""Motion frames: per-frame face-mesh drawings of driven landmarks (the sampler's conditioning).

Styles (all on black, at the reference image's size):

* ``"mediapipe"``: MediaPipe's own face-mesh drawing (``drawing_styles`` defaults): the
  tessellation in grey (128) 1 px; contours 2 px: lips and face oval white (224), the subject's
  right eye/brow/iris red (255, 48, 48) and left eye/brow/iris green (48, 255, 48).
* ``"laion_face"``: the drawing the public MediaPipe-face ControlNet (LAION-Face training set)
  was trained on, as its annotator makes it (read: ``generate_annotation``/``draw_pupils`` in
  huggingface/controlnet_aux ``src/controlnet_aux/mediapipe_face/mediapipe_face_common.py`` at
  b1aac31, the LAION-Face annotator that CrucibleAI/ControlNetMediaPipeFace ships as
  ``laion_face_common.py``; that repository itself could not be fetched here): no tessellation;
  face oval, lips, each eye and brow in its own colour, OpenCV lines of thickness 2; the irises
  are not outlined but marked by a 4 x 4 pupil square at each iris centre.  The annotator draws its colours into a BGR image and reverses the channels at
  the end, so the RGB values the ControlNet saw are the reversed ones, e.g. the subject's right
  eye (180, 200, 10) and left eye (10, 200, 180): left/right and gaze are encoded by colour.
* ``"outline"``: a plain pose/outline: face oval, brows, eyes, nose and lips in white, 2 px.

Lines are drawn with PIL in long polylines (the mesh edges are chained once, so a 1 300-edge
tessellation is ~200 draw calls), which keeps drawing well above 100 frames/s at 512 x 512;
``laion_face`` is drawn edge by edge the way its annotator's OpenCV lines are (see
``_OPENCV_LINE_STYLES``).
Thickness grows with the image (1x up to 768 px, 2x up to 1 280 px, ...).
"""
from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from typing import Dict, List, Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw

from ..errors import InvalidDataError
from ..geometry import topology as topo
from ..progress import CancelFn, ProgressFn, Steps
from ..types import LANDMARK_COUNT

STYLES = ("mediapipe", "laion_face", "outline")
#: The style the public MediaPipe-face ControlNet (control_v2p_sd15_mediapipe_face) was trained on.
FACE_CONTROLNET_STYLE = "laion_face"

GREY, WHITE = (128, 128, 128), (224, 224, 224)
MP_RED, MP_GREEN = (255, 48, 48), (48, 255, 48)


def _chains(edges: np.ndarray) -> List[List[int]]:
    """Cover an edge set with few polylines (greedy walks starting at odd-degree vertices)."""
    nb: Dict[int, set] = defaultdict(set)
    for a, b in np.asarray(edges).tolist():
        if a != b:
            nb[a].add(b)
            nb[b].add(a)
    chains = []
    while True:
        live = [v for v in nb if nb[v]]
        if not live:
            break
        odd = [v for v in live if len(nb[v]) % 2 == 1]
        cur = min(odd) if odd else min(live)
        chain = [cur]
        while nb[cur]:
            nxt = min(nb[cur])
            nb[cur].discard(nxt)
            nb[nxt].discard(cur)
            chain.append(nxt)
            cur = nxt
        chains.append(chain)
    return chains


def _loop(name: str) -> List[int]:
    c = list(topo.CONTOURS[name])
    return c + c[:1]


@lru_cache(maxsize=None)
def style_layers(style: str) -> Tuple[Tuple[Tuple[Tuple[int, ...], ...], Tuple[int, int, int], int], ...]:
    """``((polylines, rgb, base_width), ...)`` for a style, drawn in order."""
    if style not in STYLES:
        raise InvalidDataError(f"unknown motion-frame style {style!r}; choose one of {list(STYLES)}")

    def pl(*lines):
        return tuple(tuple(int(i) for i in l) for l in lines)

    brows = {k: _chains(topo.EDGES[k]) for k in ("left_brow", "right_brow")}
    if style == "mediapipe":
        return (
            (pl(*_chains(topo.EDGES["tessellation"])), GREY, 1),
            (pl(_loop("face_oval")), WHITE, 2),
            (pl(_loop("lips_outer"), _loop("lips_inner")), WHITE, 2),
            (pl(_loop("right_eye"), *brows["right_brow"]), MP_RED, 2),
            (pl(_loop("left_eye"), *brows["left_brow"]), MP_GREEN, 2),
            (pl(_loop("right_iris")), MP_RED, 2),
            (pl(_loop("left_iris")), MP_GREEN, 2),
        )
    if style == "laion_face":
        # the annotator's order (later lines cover earlier ones) and its BGR colours reversed to RGB
        return (
            (pl(_loop("face_oval")), (10, 200, 10), 2),
            (pl(_loop("left_eye")), (10, 200, 180), 2),
            (pl(*brows["left_brow"]), (10, 220, 180), 2),
            (pl(_loop("right_eye")), (180, 200, 10), 2),
            (pl(*brows["right_brow"]), (180, 220, 10), 2),
            (pl(_loop("lips_outer"), _loop("lips_inner")), (10, 180, 10), 2),
        )
    nose = _chains(topo.EDGES["nose"])
    return ((pl(_loop("face_oval"), _loop("lips_outer"), _loop("lips_inner"), _loop("right_eye"),
                _loop("left_eye"), *brows["right_brow"], *brows["left_brow"], *nose), (255, 255, 255), 2),)


#: Points drawn as squares after the lines: ``style -> ((landmark, rgb, base half-width), ...)``; a
#: square covers ``[c - hw, c + hw)`` around the truncated pixel position ``c`` (the annotator's pupils).
STYLE_POINTS = {"laion_face": ((topo.RIGHT_IRIS_CENTER, (250, 200, 10), 2), (topo.LEFT_IRIS_CENTER, (10, 200, 250), 2))}
#: Styles drawn edge by edge like OpenCV's ``cv2.line(..., thickness=2)`` that their annotator used:
#: a 2 px band filled inclusive of its outline, with round caps, between endpoints floored to whole
#: pixels.  Every pixel centre within ``k + 0.415`` px of an edge is lit (95% of the annotator's
#: pixels on the astronaut's face; PIL's 2 px lines lit 56%).
_OPENCV_LINE_STYLES = ("laion_face",)


@lru_cache(maxsize=None)
def _segments(style: str) -> Tuple[np.ndarray, ...]:
    """Per layer of ``style``, its edges ``[E, 2]`` (consecutive points of each polyline)."""
    return tuple(np.asarray([(a, b) for line in lines for a, b in zip(line[:-1], line[1:])], np.int64).reshape(-1, 2)
                 for lines, _, _ in style_layers(style))


def _opencv_like_lines(arr: np.ndarray, xy: np.ndarray, seg: np.ndarray, color, radius: float) -> None:
    """Light every pixel whose centre lies within ``radius`` of one of the edges ``seg`` (all edges
    at once: each gets a square window of candidate pixels around its bounding box)."""
    if not len(seg):
        return
    h, w = arr.shape[:2]
    p = np.floor(xy)
    p0, p1 = p[seg[:, 0]], p[seg[:, 1]]
    lo = np.floor(np.minimum(p0, p1) - radius).astype(np.int64)
    size = int((np.ceil(np.maximum(p0, p1) + radius).astype(np.int64) - lo).max()) + 1
    off = np.arange(size)
    xs = lo[:, 0, None, None] + off[None, None, :]            # [E, 1, S]
    ys = lo[:, 1, None, None] + off[None, :, None]            # [E, S, 1]
    d = (p1 - p0)[:, :, None, None]
    px, py = xs - p0[:, 0, None, None], ys - p0[:, 1, None, None]
    ll = np.maximum((d[:, 0] ** 2 + d[:, 1] ** 2), 1e-12)
    u = np.clip((px * d[:, 0] + py * d[:, 1]) / ll, 0.0, 1.0)
    hit = (px - u * d[:, 0]) ** 2 + (py - u * d[:, 1]) ** 2 <= radius * radius + 1e-9
    hit &= (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    xs, ys = np.broadcast_to(xs, hit.shape), np.broadcast_to(ys, hit.shape)
    arr[ys[hit], xs[hit]] = color


def auto_thickness(height: int, width: int) -> int:
    return max(1, int(round(max(height, width) / 640.0)))


def draw_control_frame(landmarks: np.ndarray, height: int, width: int, style: str = "mediapipe",
                       thickness: Optional[int] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
    """One ``[H, W, 3]`` uint8 drawing of one landmark set ``[478, 2|3]`` (pixels)."""
    layers = style_layers(style)
    k = auto_thickness(height, width) if thickness is None else max(int(thickness), 1)
    xy = np.asarray(landmarks, np.float64)[:, :2]
    if style in _OPENCV_LINE_STYLES:
        arr = np.zeros((int(height), int(width), 3), np.uint8) if out is None else out
        arr[...] = 0
        for seg, (_, color, w) in zip(_segments(style), layers):
            _opencv_like_lines(arr, xy, seg, color, w * k / 2 + 0.415)
    else:
        img = Image.new("RGB", (int(width), int(height)))
        d = ImageDraw.Draw(img)
        pts = [tuple(p) for p in xy.tolist()]
        for lines, color, w in layers:
            for line in lines:
                d.line([pts[i] for i in line], fill=color, width=w * k)
        arr = np.array(img) if out is None else out
        if out is not None:
            out[...] = np.asarray(img)
    for idx, color, hw in STYLE_POINTS.get(style, ()):
        x, y = int(xy[idx, 0]), int(xy[idx, 1])
        if 0 <= x < width and 0 <= y < height:  # the annotator skips points outside the image
            arr[max(y - hw * k, 0):y + hw * k, max(x - hw * k, 0):x + hw * k] = color
    return arr


def render_motion_frames(landmarks: np.ndarray, height: int, width: int, style: str = "mediapipe",
                         thickness: Optional[int] = None, progress: Optional[ProgressFn] = None,
                         cancelled: Optional[CancelFn] = None) -> np.ndarray:
    """``[n, H, W, 3]`` uint8 drawings of ``[n, 478, 2|3]`` landmarks (see module doc for styles)."""
    lm = np.asarray(landmarks)
    if lm.ndim == 2:
        lm = lm[None]
    if lm.ndim != 3 or lm.shape[1] != LANDMARK_COUNT or lm.shape[2] not in (2, 3):
        raise InvalidDataError(f"landmarks must be [n, {LANDMARK_COUNT}, 2|3], got {list(lm.shape)}")
    height, width = int(height), int(width)
    if height < 8 or width < 8 or height > 8192 or width > 8192:
        raise InvalidDataError(f"motion-frame size {width}x{height} is outside 8..8192 pixels")
    style_layers(style)  # validate before allocating
    if not np.isfinite(lm).all():
        raise InvalidDataError("landmarks contain NaN or infinite values")
    n = lm.shape[0]
    out = np.empty((n, height, width, 3), np.uint8)
    steps = Steps(n, progress, cancelled, what="drawing motion frames")
    steps.check()
    every = max(1, n // 100)
    for i in range(n):
        draw_control_frame(lm[i], height, width, style, thickness, out=out[i])
        if (i + 1) % every == 0 or i + 1 == n:
            steps.tick(every if (i + 1) % every == 0 else (i + 1) % every)
    return out
