"""``SR_FACE`` + ``SR_MOTION`` -> motion frames (the sampler's ControlNet condition), streamed.

:func:`motion_frames` drives one reference's landmarks with the motion
(:func:`~synchrorama_core.geometry.apply_motion`), maps them onto the output size and draws them
(:func:`~.draw.draw_control_frame`) in chunks, so memory holds the output plus one chunk.  Like
the warp renderer, the motion drives the portrait's neutral rest face
(:func:`~synchrorama_core.geometry.rest.rest_landmarks`: lips closed, no smile; ``neutralize``
0 keeps the portrait's own expression), so a parted-lip portrait still closes its lips on
m, b, p and in pauses.

Output size: ``width = height = 0`` keeps the reference image's size.  Another size is
reached the way the video sampler fits every image (``diffusion.conditioning.fit_images``):
centre-crop the reference frame to the target aspect ratio, then scale, so the drawn mesh
lands exactly where the face is in the fitted reference.  Drawing at the target size (rather
than resizing a drawing) keeps the lines crisp and their width as the style prescribes.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..errors import InvalidDataError
from ..progress import CancelFn, ProgressFn, Steps
from ..types import FaceData, MotionData
from .draw import draw_control_frame, style_layers
from ..geometry.rest import rest_landmarks
from ..geometry.rig import apply_motion, face_rig

CHUNK = 64  # frames whose landmarks are computed together


def fit_transform(src_h: int, src_w: int, height: int, width: int) -> Tuple[float, float, float, float]:
    """``(sx, sy, x0, y0)``: a point ``(x, y)`` of the source maps to ``((x - x0) * sx, (y - y0) * sy)``.

    The same centre crop (integer rows/columns) and scale as ``fit_images`` of the sampler.
    """
    h, w, H, W = int(src_h), int(src_w), int(height), int(width)
    x0 = y0 = 0
    ch, cw = h, w
    if h * W > w * H:        # too tall: crop rows
        ch = max(1, int(round(w * H / W)))
        y0 = (h - ch) // 2
    elif h * W < w * H:      # too wide: crop columns
        cw = max(1, int(round(h * W / H)))
        x0 = (w - cw) // 2
    return W / cw, H / ch, float(x0), float(y0)


def fit_landmarks(landmarks: np.ndarray, src_h: int, src_w: int, height: int, width: int) -> np.ndarray:
    """Landmarks ``[..., 478, 2|3]`` in source pixels -> pixels of the fitted ``height x width`` image.

    z is scaled like x, so depth keeps its proportion to the face.
    """
    sx, sy, x0, y0 = fit_transform(src_h, src_w, height, width)
    out = np.array(landmarks, np.float32, copy=True)
    out[..., 0] = (out[..., 0] - x0) * sx
    out[..., 1] = (out[..., 1] - y0) * sy
    if out.shape[-1] > 2:
        out[..., 2] *= sx
    return out


def frame_size(face: FaceData, reference: int = 0, height: int = 0, width: int = 0) -> Tuple[int, int]:
    """``(height, width)`` of the motion frames: the reference's size where 0 is given."""
    if not isinstance(face, FaceData):
        raise InvalidDataError(f"expected an SR_FACE value, got {type(face).__name__}; connect "
                               f"SynchroRaMa Face Analysis")
    k = int(reference)
    if not -face.count <= k < face.count:
        raise InvalidDataError(f"reference {k} does not exist: the SR_FACE has {face.count} reference(s) "
                               f"(0..{face.count - 1})")
    h, w = face.images[k].shape[:2]
    height, width = int(height or 0), int(width or 0)
    if (height == 0) != (width == 0):
        raise InvalidDataError("set both width and height, or leave both 0 for the reference image's size")
    return (height, width) if height else (int(h), int(w))


def motion_frames(face: FaceData, motion: MotionData, style: str = "mediapipe", height: int = 0, width: int = 0,
                  reference: int = 0, thickness: Optional[int] = None, out: Optional[np.ndarray] = None,
                  progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None,
                  neutralize: float = 1.0) -> np.ndarray:
    """Motion frames ``[n, H, W, 3]`` for every frame of ``motion`` on reference ``reference`` of ``face``.

    ``neutralize`` (0..1): how far the portrait's own expression is taken back to the neutral rest
    face the motion drives (as the warp renderer's option of the same name).

    ``out``: an optional preallocated ``[n, H, W, 3]`` array, ``uint8`` (0..255) or ``float32``
    (0..1, what ComfyUI's IMAGE holds); by default a new ``uint8`` array is returned.
    """
    H, W = frame_size(face, reference, height, width)
    if H < 8 or W < 8 or H > 8192 or W > 8192:
        raise InvalidDataError(f"motion-frame size {W}x{H} is outside 8..8192 pixels")
    if not isinstance(motion, MotionData):
        raise InvalidDataError(f"expected an SR_MOTION value, got {type(motion).__name__}")
    style_layers(style)  # validate the style before any work
    n = motion.n_frames
    if out is None:
        out = np.empty((n, H, W, 3), np.uint8)
    elif out.shape != (n, H, W, 3) or out.dtype not in (np.uint8, np.float32):
        raise InvalidDataError(f"out must be uint8 or float32 [{n}, {H}, {W}, 3], got {out.dtype} {list(out.shape)}")
    k = int(reference) % face.count
    sh, sw = face.images[k].shape[:2]
    ref, _ = rest_landmarks(face.landmarks[k], neutralize)
    rig = face_rig(ref)
    steps = Steps(n, progress, cancelled, what="drawing motion frames")
    steps.check()
    tmp = np.empty((H, W, 3), np.uint8)
    for a in range(0, n, CHUNK):
        b = min(a + CHUNK, n)
        lm = fit_landmarks(apply_motion(ref, motion, slice(a, b), rig=rig), sh, sw, H, W)
        if not np.isfinite(lm).all():
            raise InvalidDataError(f"the motion drives landmarks to NaN/inf in frames {a}..{b - 1}")
        for i in range(b - a):
            if out.dtype == np.uint8:
                draw_control_frame(lm[i], H, W, style, thickness, out=out[a + i])
            else:
                draw_control_frame(lm[i], H, W, style, thickness, out=tmp)
                np.multiply(tmp, np.float32(1.0 / 255.0), out=out[a + i], casting="unsafe")
        steps.tick(b - a)
    return out


__all__ = ["fit_landmarks", "fit_transform", "frame_size", "motion_frames"]
