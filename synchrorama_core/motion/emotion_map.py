"""Emotion -> expression coefficients, and aligning an ``SR_EMOTION`` to the speech frames.

:data:`EMOTION_EXPRESSIONS` is the facial-action recipe of each of the 8 MEAD emotions, loosely
after the FACS prototypes (Ekman & Friesen): happy = AU6+12 (cheek raise, lip-corner pull),
sad = AU1+4+15 (inner brow raise, brow lowerer, lip-corner depressor), surprised = AU1+2+5+26,
fear = AU1+2+4+5+20, angry = AU4+5+7+23, disgusted = AU9+10+15, contempt = unilateral AU14
(approximated symmetrically here).  Values are the coefficients at full intensity.
"""
from __future__ import annotations

import logging
from typing import Dict, Optional

import numpy as np

from ..errors import InvalidDataError
from ..timing import frame_centers_s
from ..types import EMOTIONS, EXPRESSIONS, EmotionData

log = logging.getLogger("synchrorama.motion")

EMOTION_EXPRESSIONS: Dict[str, Dict[str, float]] = {
    "angry": {"brow_furrow": 0.9, "frown": 0.3, "mouth_press": 0.35, "eye_wide": 0.25, "eye_squint": 0.2,
              "nose_wrinkle": 0.15},
    "contempt": {"smile": 0.2, "mouth_press": 0.25, "eye_squint": 0.25, "brow_furrow": 0.1},
    "disgusted": {"nose_wrinkle": 0.8, "frown": 0.45, "brow_furrow": 0.45, "eye_squint": 0.4,
                  "mouth_press": 0.1},
    "fear": {"brow_raise": 0.75, "brow_furrow": 0.3, "eye_wide": 0.85, "mouth_wide": 0.35, "frown": 0.15},
    "happy": {"smile": 1.0, "eye_squint": 0.4, "mouth_wide": 0.1, "brow_raise": 0.1},
    "neutral": {},
    "sad": {"frown": 0.85, "brow_raise": 0.55, "brow_furrow": 0.35, "eye_squint": 0.1, "mouth_press": 0.1},
    "surprised": {"brow_raise": 0.95, "eye_wide": 0.8, "jaw_open": 0.15, "mouth_pucker": 0.1},
}

#: ``[8, len(EXPRESSIONS)]`` matrix form of :data:`EMOTION_EXPRESSIONS` (rows in EMOTIONS order).
EMOTION_MATRIX = np.array([[EMOTION_EXPRESSIONS[e].get(x, 0.0) for x in EXPRESSIONS] for e in EMOTIONS],
                          np.float32)
NEUTRAL = EMOTIONS.index("neutral")
#: the emotional (non-neutral) probability mass is renormalised over at least this much
EMOTIONAL_FLOOR = 0.5


def emotion_on_frames(emotion: Optional[EmotionData], n: int, fps: float, duration_s: float
                      ) -> Dict[str, np.ndarray]:
    """``probs [n, 8]``, ``valence``, ``arousal``, ``intensity`` ``[n]`` on the speech frames.

    The same fps and frame count are used as they are; otherwise the emotion is sampled at the
    speech frame centres (nearest frame).  An emotion for clearly different audio (durations
    more than 0.5 s apart) is refused with an actionable error.
    """
    if emotion is None:
        p = np.zeros((n, len(EMOTIONS)), np.float32)
        p[:, EMOTIONS.index("neutral")] = 1.0
        z = np.zeros(n, np.float32)
        return {"probs": p, "valence": z, "arousal": z, "intensity": z}
    if not isinstance(emotion, EmotionData):
        raise InvalidDataError(f"expected an SR_EMOTION value, got {type(emotion).__name__}")
    if abs(emotion.duration_s - duration_s) > 0.5:
        raise InvalidDataError(
            f"the SR_EMOTION covers {emotion.duration_s:.2f} s but the speech is {duration_s:.2f} s long; "
            f"compute the emotion from the same audio (same trim) as the speech features")
    if emotion.n_frames == n and abs(emotion.fps - fps) < 1e-6:
        idx = np.arange(n)
    else:
        if emotion.n_frames == 0:
            raise InvalidDataError("the SR_EMOTION has no frames; compute it from the speech")
        log.info("SynchroRaMa motion: resampling emotion from %d frames @ %g fps to %d @ %g fps",
                 emotion.n_frames, emotion.fps, n, fps)
        idx = np.clip(np.floor(frame_centers_s(n, fps) * emotion.fps).astype(np.int64), 0, emotion.n_frames - 1)
    return {"probs": emotion.probs[idx].astype(np.float32), "valence": emotion.valence[idx].astype(np.float32),
            "arousal": emotion.arousal[idx].astype(np.float32),
            "intensity": emotion.intensity[idx].astype(np.float32)}


def emotion_expressions(probs: np.ndarray, intensity: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Expression coefficients ``[n, len(EXPRESSIONS)]`` implied by per-frame emotion.

    The recipe is that of the *emotional* part of the distribution: the non-neutral probabilities
    are renormalised over their sum (at least ``EMOTIONAL_FLOOR``), so that a clip read as 40 %
    happy and 45 % neutral shows a smile, not a third of one.  It is then scaled by
    ``0.45 + 0.55 * intensity`` (a clear emotion shows even at low intensity; full intensity shows
    the full recipe) and by ``scale``.  A fully neutral distribution gives no expression; a
    mostly neutral one, whose small remainder spreads over several emotions, stays near neutral.
    """
    p = np.asarray(probs, np.float32)
    emotional = p.copy()
    emotional[:, NEUTRAL] = 0.0
    share = np.maximum(emotional.sum(axis=1, keepdims=True), EMOTIONAL_FLOOR)
    gain = (0.45 + 0.55 * np.asarray(intensity, np.float32))[:, None] * float(scale)
    return np.clip((emotional / share) @ EMOTION_MATRIX * gain, 0.0, 1.0).astype(np.float32)
