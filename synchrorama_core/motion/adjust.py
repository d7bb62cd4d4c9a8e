"""Editing ``SR_MOTION``: scale and offset channels, re-time to another fps/duration, blend two motions.

Channel groups (the same split the generators' creator controls use):

* **head**: ``rotation`` (yaw, pitch, roll in degrees), ``translation`` (x, y in face widths)
  and ``scale`` (size factor);
* **lips** (:data:`MOUTH`): ``jaw_open``, ``mouth_wide``, ``mouth_pucker``, ``mouth_press``, ``lip_tuck``;
* **blinks** (:data:`BLINKS`): ``blink_l``, ``blink_r``;
* **expressions**: every other expression coefficient (smile, frown, brows, eyes, nose).

Scaling the head multiplies rotation and translation and the scale's deviation from 1
(exactly as :func:`~.landmarks.apply_motion` does); offsets are added after scaling.
Results are clipped to the contract's ranges (rotation ±89°, expressions 0..1, scale > 0),
so a scale above 1 can saturate an expression that was already near 1.

Timing: motions on different timelines (fps or duration) are either refused with an error
naming both, or, with ``mismatch="resample"``, the second is re-timed onto the first's frames
by linear interpolation at frame centres (:func:`~synchrorama_core.resample.resample_motion`).
"""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Sequence

import numpy as np

from ..errors import InvalidDataError
from ..resample import resample_motion  # the one home for re-timing (re-exported here)
from ..timing import check_fps, n_frames
from ..types import EXPRESSIONS, MotionData

MOUTH = ("jaw_open", "mouth_wide", "mouth_pucker", "mouth_press", "lip_tuck")
BLINKS = ("blink_l", "blink_r")
FACE = tuple(k for k in EXPRESSIONS if k not in MOUTH and k not in BLINKS)
MISMATCH = ("error", "resample")
ROT_LIMIT = 89.0


def _motion(m, what: str = "motion") -> MotionData:
    if not isinstance(m, MotionData):
        raise InvalidDataError(f"{what}: expected an SR_MOTION value, got {type(m).__name__}; connect "
                               f"SynchroRaMa A2M Motion or Load Motion")
    return m


def check_number(v, name: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    """``float(v)``, or an :class:`InvalidDataError` naming ``name`` when it is no finite number in [lo, hi]."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InvalidDataError(f"{name} must be a number, got {v!r}") from None
    if not math.isfinite(x) or x < lo or x > hi:
        raise InvalidDataError(f"{name}={x} is outside [{lo}, {hi}]")
    return x


def same_timeline(a: MotionData, b: MotionData) -> bool:
    return abs(a.fps - b.fps) < 1e-9 and a.n_frames == b.n_frames and abs(a.duration_s - b.duration_s) < 1e-6


def conform_motion(motion: MotionData, fps: float, duration_s: float, mismatch: str = "error",
                   what: str = "motion", target: str = "the speech") -> MotionData:
    """``motion`` on the timeline ``(fps, duration_s)``: unchanged, re-timed, or a clear error."""
    m = _motion(motion, what)
    if mismatch not in MISMATCH:
        raise InvalidDataError(f"mismatch must be one of {list(MISMATCH)}, got {mismatch!r}")
    fps = check_fps(fps)
    n = n_frames(duration_s, fps)
    if abs(m.fps - fps) < 1e-9 and m.n_frames == n:
        return m
    if mismatch == "error":
        raise InvalidDataError(
            f"{what} has {m.n_frames} frames at {m.fps:g} fps ({m.duration_s:.3f} s) but {target} has {n} frames "
            f"at {fps:g} fps ({float(duration_s):.3f} s); make both from the same audio and fps, or set "
            f"mismatch to 'resample' to re-time it")
    return resample_motion(m, fps, duration_s)


def adjust_motion(motion: MotionData, head_scale: float = 1.0, expression_scale: float = 1.0,
                  lip_scale: float = 1.0, blink_scale: float = 1.0,
                  rotation_offset: Sequence[float] = (0.0, 0.0, 0.0), translation_offset: Sequence[float] = (0.0, 0.0),
                  scale_offset: float = 0.0, expression_offsets: Optional[Mapping[str, float]] = None) -> MotionData:
    """Scaled and offset copy of ``motion`` (see the module doc for the channel groups).

    ``rotation_offset`` is (yaw, pitch, roll) in degrees, ``translation_offset`` (x, y) in face
    widths, ``scale_offset`` is added to the size factor, ``expression_offsets`` maps expression
    names to amounts added after scaling.  The result is clipped to the contract's ranges.
    """
    m = _motion(motion)
    hs = check_number(head_scale, "head_scale", 0.0, 10.0)
    es = check_number(expression_scale, "expression_scale", 0.0, 10.0)
    ls = check_number(lip_scale, "lip_scale", 0.0, 10.0)
    bs = check_number(blink_scale, "blink_scale", 0.0, 10.0)
    ro = np.array([check_number(v, f"rotation_offset[{i}]", -90, 90) for i, v in enumerate(rotation_offset)],
                  np.float32)
    to = np.array([check_number(v, f"translation_offset[{i}]", -5, 5) for i, v in enumerate(translation_offset)],
                  np.float32)
    if ro.shape != (3,) or to.shape != (2,):
        raise InvalidDataError("rotation_offset needs 3 values (yaw, pitch, roll), translation_offset 2 (x, y)")
    so = check_number(scale_offset, "scale_offset", -0.9, 5.0)
    offs = dict(expression_offsets or {})
    unknown = sorted(set(offs) - set(EXPRESSIONS))
    if unknown:
        raise InvalidDataError(f"unknown expression names {unknown}; known: {list(EXPRESSIONS)}")
    offs = {k: check_number(v, f"expression offset {k}", -1.0, 1.0) for k, v in offs.items()}
    ex: Dict[str, np.ndarray] = {}
    for k, v in m.expressions.items():
        s = ls if k in MOUTH else bs if k in BLINKS else es
        ex[k] = np.clip(v * s + offs.get(k, 0.0), 0.0, 1.0).astype(np.float32)
    rot = np.clip(m.rotation * hs + ro, -ROT_LIMIT, ROT_LIMIT)
    trans = m.translation * hs + to
    scale = np.maximum(1.0 + (m.scale - 1.0) * hs + so, 1e-3)
    meta = dict(m.meta)
    edits = list(meta.get("adjustments", []))
    edits.append({"head_scale": hs, "expression_scale": es, "lip_scale": ls, "blink_scale": bs,
                  "rotation_offset": ro.tolist(), "translation_offset": to.tolist(), "scale_offset": so,
                  "expression_offsets": offs})
    meta["adjustments"] = edits
    return MotionData(fps=m.fps, duration_s=m.duration_s, rotation=rot.astype(np.float32),
                      translation=trans.astype(np.float32), scale=scale.astype(np.float32), expressions=ex,
                      generator=m.generator, meta=meta)


def blend_motion(a: MotionData, b: MotionData, weight: float = 0.5, mismatch: str = "error",
                 parts: Sequence[str] = ("head", "lips", "expressions", "blinks")) -> MotionData:
    """``(1 - weight) * a + weight * b`` on ``a``'s timeline, for the chosen channel groups.

    ``parts`` picks which groups are blended (``head``, ``lips``, ``expressions``, ``blinks``);
    the others stay ``a``'s.  Scale is blended in log space.  With ``mismatch="resample"`` a
    ``b`` on another timeline is re-timed onto ``a``'s frames first; where ``b`` is shorter
    than ``a``, ``a``'s frames after ``b``'s end are kept unblended (no held pose is mixed in).
    """
    a = _motion(a, "motion")
    b = _motion(b, "motion_b")
    w = check_number(weight, "weight", 0.0, 1.0)
    parts = tuple(parts)
    bad = sorted(set(parts) - {"head", "lips", "expressions", "blinks"})
    if bad:
        raise InvalidDataError(f"unknown blend parts {bad}; choose from head, lips, expressions, blinks")
    covered = np.ones(a.n_frames, bool)
    if not same_timeline(a, b):
        b2 = conform_motion(b, a.fps, a.duration_s, mismatch, what="motion_b", target="motion")
        t = (np.arange(a.n_frames) + 0.5) / a.fps
        covered = t < b.duration_s + 1e-9
        b = b2
    wv = np.where(covered, w, 0.0).astype(np.float32)

    def mix(x, y):
        ww = wv.reshape((-1,) + (1,) * (np.ndim(x) - 1))
        return ((1.0 - ww) * x + ww * y).astype(np.float32)

    head = "head" in parts
    rot = mix(a.rotation, b.rotation) if head else a.rotation
    trans = mix(a.translation, b.translation) if head else a.translation
    scale = np.exp(mix(np.log(a.scale), np.log(b.scale))) if head else a.scale
    ex = {}
    for k in EXPRESSIONS:
        group = "lips" if k in MOUTH else "blinks" if k in BLINKS else "expressions"
        ex[k] = np.clip(mix(a.expressions[k], b.expressions[k]), 0, 1) if group in parts else a.expressions[k]
    meta = dict(a.meta)
    meta["blend"] = {"weight": w, "parts": list(parts), "other_generator": b.generator,
                     "frames_blended": int(covered.sum())}
    gen = a.generator if w == 0 else b.generator if w == 1 and covered.all() and len(parts) == 4 else \
        f"blend({a.generator},{b.generator})"
    return MotionData(fps=a.fps, duration_s=a.duration_s, rotation=rot, translation=trans, scale=scale,
                      expressions=ex, generator=gen, meta=meta)


__all__ = ["BLINKS", "FACE", "MISMATCH", "MOUTH", "adjust_motion", "blend_motion", "conform_motion",
           "resample_motion", "same_timeline"]
