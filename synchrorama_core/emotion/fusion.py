"""Fusion of the per-modality parts into one ``SR_EMOTION``, and the override/blend edit.

Fusion, per frame ``i`` (``m`` over the parts with user weight ``w_m > 0``)::

    c_m[i]  = w_m * confidence_m[i]
    num[i]  = sum_m c_m[i] * x_m[i]        (x = probs, valence, arousal)
    den[i]  = sum_m c_m[i]
    num, den smoothed in time by the same Gaussian (sigma = smoothing_s)
    x[i]    = (num[i] + eps * neutral) / (den[i] + eps)

so a part with weight 0 takes no part at all (it is skipped, not multiplied), frames where
nobody trusts themselves borrow from their neighbours through the smoothing, and long silences
fall back to neutral.  Then an optional target emotion is blended in, and the global
intensity ``g`` scales the emotional content (:func:`apply_intensity`).
"""
from __future__ import annotations

import logging
from typing import Dict, Optional, Tuple

import numpy as np
import scipy.ndimage

from ..errors import InvalidDataError
from ..timing import check_fps, frame_centers_s, n_frames
from ..types import EMOTIONS, EmotionData, EmotionPart
from .common import N_EMO, NEUTRAL, PROTO_A, PROTO_V, neutral_probs, renorm

log = logging.getLogger("synchrorama.emotion")

#: weight of the neutral prior in the fusion (only matters where no part is confident)
PRIOR_EPS = 1e-3
TARGETS = ("none",) + EMOTIONS


def _check_target(target: Optional[str]) -> Optional[int]:
    t = (target or "none").strip().lower()
    if t == "none":
        return None
    if t not in EMOTIONS:
        raise InvalidDataError(f"target emotion {target!r}: choose one of {list(TARGETS)}")
    return EMOTIONS.index(t)


def base_strength(probs: np.ndarray, valence: np.ndarray, arousal: np.ndarray) -> np.ndarray:
    """How emotional a frame is, in [0, 1]: mostly the non-neutral probability mass, plus how far
    valence/arousal are from zero."""
    m = 1.0 - np.asarray(probs, np.float64)[:, NEUTRAL]
    va = np.maximum(np.abs(valence), np.abs(arousal))
    return np.clip(0.7 * m + 0.3 * va, 0.0, 1.0)


def apply_intensity(probs: np.ndarray, valence: np.ndarray, arousal: np.ndarray, g
                    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale the emotional content by ``g`` (scalar or per frame, >= 0): the non-neutral
    probability mass becomes ``min(g * mass, 1)`` (shares between emotions kept), valence and
    arousal are multiplied by ``g`` and clipped.  ``g = 1`` changes nothing, ``g = 0`` is neutral."""
    g = np.broadcast_to(np.asarray(g, np.float64), (len(probs),))
    p = np.asarray(probs, np.float64)
    m = 1.0 - p[:, NEUTRAL]
    m2 = np.clip(g * m, 0.0, 1.0)
    ratio = np.where(m > 1e-9, m2 / np.maximum(m, 1e-9), 0.0)
    out = p * ratio[:, None]
    out[:, NEUTRAL] = 1.0 - m2
    return (renorm(out), np.clip(g * valence, -1, 1).astype(np.float32),
            np.clip(g * arousal, -1, 1).astype(np.float32))


def fuse(parts: Dict[str, EmotionPart], weights: Dict[str, float], fps: float, duration_s: float,
         smoothing_s: float = 0.3, intensity: float = 1.0, target: str = "none", target_strength: float = 0.0,
         meta: Optional[dict] = None) -> EmotionData:
    """Fuse ``parts`` (each with ``n_frames(duration_s, fps)`` frames) into an ``SR_EMOTION``."""
    fps = check_fps(fps)
    n = n_frames(duration_s, fps)
    for k, w in weights.items():
        if not np.isfinite(w) or w < 0:
            raise InvalidDataError(f"fusion weight of {k!r} must be a number >= 0, got {w!r}")
    if not (np.isfinite(smoothing_s) and smoothing_s >= 0):
        raise InvalidDataError(f"smoothing_s must be >= 0, got {smoothing_s!r}")
    if not (np.isfinite(intensity) and intensity >= 0):
        raise InvalidDataError(f"intensity must be >= 0, got {intensity!r}")
    if not (0.0 <= target_strength <= 1.0):
        raise InvalidDataError(f"target strength must lie in [0, 1], got {target_strength!r}")
    ti = _check_target(target)
    unknown = sorted(set(weights) - set(parts))
    if unknown:
        raise InvalidDataError(f"weights given for parts that do not exist: {unknown}; parts: {sorted(parts)}")
    for k, p in parts.items():
        p.validate(n, f"emotion part {k!r}")

    num_p = np.zeros((n, N_EMO))
    num_v = np.zeros(n)
    num_a = np.zeros(n)
    den = np.zeros(n)
    for k in sorted(parts):
        w = float(weights.get(k, 1.0))
        if w == 0.0:
            continue  # removed exactly
        p = parts[k]
        c = w * p.confidence.astype(np.float64)
        num_p += c[:, None] * p.probs
        num_v += c * p.valence
        num_a += c * p.arousal
        den += c
    sigma = smoothing_s * fps
    if sigma > 0 and n > 1:
        def sm(x):
            return scipy.ndimage.gaussian_filter1d(x, sigma, axis=0, mode="nearest")
        num_p, num_v, num_a, den = sm(num_p), sm(num_v), sm(num_a), sm(den)
    d = den + PRIOR_EPS
    probs = (num_p + PRIOR_EPS * neutral_probs(n)) / d[:, None]
    valence = num_v / d
    arousal = num_a / d
    if ti is not None and target_strength > 0:
        s = float(target_strength)
        onehot = np.zeros(N_EMO)
        onehot[ti] = 1.0
        probs = (1 - s) * probs + s * onehot[None]
        valence = (1 - s) * valence + s * PROTO_V[ti]
        arousal = (1 - s) * arousal + s * PROTO_A[ti]
    probs = renorm(probs)
    valence = np.clip(valence, -1, 1)
    arousal = np.clip(arousal, -1, 1)
    strength = base_strength(probs, valence, arousal)
    probs, valence, arousal = apply_intensity(probs, valence, arousal, intensity)
    inten = np.clip(intensity * strength, 0.0, 1.0).astype(np.float32)
    m = dict(meta or {})
    m.update({"smoothing_s": float(smoothing_s), "intensity": float(intensity),
              "target": EMOTIONS[ti] if ti is not None else "none", "target_strength": float(target_strength),
              "backends": {k: p.backend for k, p in parts.items()}})
    return EmotionData(fps=fps, duration_s=duration_s, probs=probs, valence=valence, arousal=arousal,
                       intensity=inten, parts=dict(parts), weights={k: float(weights.get(k, 1.0)) for k in parts},
                       meta=m)


def _range_mask(n: int, fps: float, start_s: float, end_s: float, fade_s: float) -> np.ndarray:
    """1 inside ``[start_s, end_s)`` (``end_s`` <= 0: to the end), ramping linearly over ``fade_s``
    outside it, 0 elsewhere."""
    t = frame_centers_s(n, fps)
    end = np.inf if end_s is None or end_s <= 0 else float(end_s)
    start = float(start_s or 0.0)
    if end <= start:
        raise InvalidDataError(f"the range end ({end_s} s) must come after its start ({start_s} s); "
                               f"0 means 'to the end'")
    if fade_s > 0:
        up = np.clip((t - (start - fade_s)) / fade_s, 0, 1)
        down = np.clip(((end + fade_s) - t) / fade_s, 0, 1) if np.isfinite(end) else np.ones(n)
        return np.minimum(up, down)
    return ((t >= start) & (t < end)).astype(np.float64)


def _resample_to(other: EmotionData, n: int, fps: float, duration_s: float) -> Tuple[np.ndarray, ...]:
    if abs(other.duration_s - duration_s) > 0.5:
        raise InvalidDataError(f"the second SR_EMOTION covers {other.duration_s:.2f} s but the first "
                               f"{duration_s:.2f} s; blend emotions of the same audio")
    if other.n_frames == 0:
        raise InvalidDataError("the second SR_EMOTION has no frames")
    if other.n_frames == n and abs(other.fps - fps) < 1e-9:
        idx = np.arange(n)
    else:
        idx = np.clip(np.floor(frame_centers_s(n, fps) * other.fps).astype(np.int64), 0, other.n_frames - 1)
    return (other.probs[idx].astype(np.float64), other.valence[idx].astype(np.float64),
            other.arousal[idx].astype(np.float64), other.intensity[idx].astype(np.float64))


def blend_emotion(emotion: EmotionData, target: str = "none", strength: float = 1.0, start_s: float = 0.0,
                  end_s: float = 0.0, fade_s: float = 0.0, intensity: float = 1.0, valence_shift: float = 0.0,
                  arousal_shift: float = 0.0, other: Optional[EmotionData] = None) -> EmotionData:
    """Edit an ``SR_EMOTION`` in a time range (``end_s`` 0 = to the end; ``fade_s`` ramps in/out).

    Inside the range, with ``s = strength`` (× the fade ramp): the emotion moves a share ``s``
    toward ``other`` (another ``SR_EMOTION`` of the same audio) if given, else toward the
    ``target`` emotion (``strength`` 1 overrides it); valence/arousal are shifted; ``intensity``
    scales the emotional content (:func:`apply_intensity`).  Frames outside the range (mask 0)
    are left exactly as they were; the parts and weights are kept.
    """
    if not isinstance(emotion, EmotionData):
        raise InvalidDataError(f"expected an SR_EMOTION value, got {type(emotion).__name__}")
    if not (0.0 <= strength <= 1.0):
        raise InvalidDataError(f"strength must lie in [0, 1], got {strength!r}")
    if not (np.isfinite(intensity) and intensity >= 0):
        raise InvalidDataError(f"intensity must be >= 0, got {intensity!r}")
    if fade_s < 0:
        raise InvalidDataError(f"fade_s must be >= 0, got {fade_s!r}")
    ti = _check_target(target)
    n, fps = emotion.n_frames, emotion.fps
    mask = _range_mask(n, fps, start_s, end_s, fade_s)
    probs = emotion.probs.astype(np.float64)
    val = emotion.valence.astype(np.float64)
    aro = emotion.arousal.astype(np.float64)
    inten = emotion.intensity.astype(np.float64)
    if other is not None:
        op, ov, oa, oi = _resample_to(other, n, fps, emotion.duration_s)
    elif ti is not None:
        op = np.zeros((n, N_EMO))
        op[:, ti] = 1.0
        ov, oa = np.full(n, PROTO_V[ti], np.float64), np.full(n, PROTO_A[ti], np.float64)
        oi = base_strength(op, ov, oa)
    else:
        op = None
    s = strength * mask
    if op is not None:
        probs = (1 - s)[:, None] * probs + s[:, None] * op
        val = (1 - s) * val + s * ov
        aro = (1 - s) * aro + s * oa
        inten = (1 - s) * inten + s * oi
    val = np.clip(val + valence_shift * mask, -1, 1)
    aro = np.clip(aro + arousal_shift * mask, -1, 1)
    g = 1.0 + (float(intensity) - 1.0) * mask
    probs, val32, aro32 = apply_intensity(probs, val, aro, g)
    inten = np.clip(g * inten, 0, 1)
    # frames outside the range stay bit-identical
    keep = mask == 0
    probs[keep] = emotion.probs[keep]
    val32[keep] = emotion.valence[keep]
    aro32[keep] = emotion.arousal[keep]
    inten32 = inten.astype(np.float32)
    inten32[keep] = emotion.intensity[keep]
    meta = dict(emotion.meta)
    edits = list(meta.get("edits", []))
    edits.append({"target": "other SR_EMOTION" if other is not None else (EMOTIONS[ti] if ti is not None else "none"),
                  "strength": float(strength), "start_s": float(start_s), "end_s": float(end_s),
                  "fade_s": float(fade_s), "intensity": float(intensity), "valence_shift": float(valence_shift),
                  "arousal_shift": float(arousal_shift)})
    meta["edits"] = edits
    return EmotionData(fps=fps, duration_s=emotion.duration_s, probs=probs, valence=val32, arousal=aro32,
                       intensity=inten32, parts=dict(emotion.parts), weights=dict(emotion.weights), meta=meta)
