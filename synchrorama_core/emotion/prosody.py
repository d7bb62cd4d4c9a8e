"""Zero-download speech emotion and valence/arousal from prosody.

Everything is read from the ``SR_SPEECH`` features (no audio is re-analysed).  For every frame,
a window of :data:`WINDOW_S` seconds centred on it pools (over its voiced / active frames):

* loudness (from ``loudness``), pitch level and pitch range in semitones (from ``f0_hz``),
  speaking rate (``rate``) and spectral tilt (``tilt``; flatter = more vocal effort).

Each becomes a z-score against a fixed reference for typical conversational speech, mixed
with its deviation from the clip's own median (so both the clip's overall level and the
moment-to-moment changes count).  Then:

* **speech** part (SER): a linear score per emotion over these z-scores, softmaxed.  The signs
  follow the vocal-expression literature (Scherer 1986; Juslin & Laukka 2003): anger = loud,
  fast, high, flat tilt; happiness = high pitch, wide range; sadness = quiet, slow, low,
  narrow, steep tilt; fear = high pitch, fast, narrow; surprise = high and wide pitch.
* **va** part: arousal = tanh of a weighted sum (loudness, pitch, rate, range, tilt); valence a
  deliberately weak guess (range and pitch up, strain down), since prosody carries arousal
  much better than valence.

Confidence is the share of active speech in the window (0 in silence), scaled down because
these are heuristics.
"""
from __future__ import annotations

from typing import Dict

import numpy as np
import scipy.ndimage

from ..types import EMOTIONS, EmotionPart, SpeechData
from .common import empty_part, probs_from_va, softmax, va_from_probs

WINDOW_S = 1.5
PITCH_REF_HZ = 150.0

#: reference (typical conversational speech) and scale of each cue's z-score
REFERENCE = {
    "loud": (0.58, 0.10),    # loudness 0.58 = about -25 dBFS; 0.1 = 6 dB
    "pitch": (-1.0, 8.0),    # semitones re 150 Hz (wide: speakers differ a lot)
    "range": (2.0, 1.2),     # semitones, std within the window
    "rate": (3.8, 1.0),      # syllable nuclei per second
    "tilt": (-6.0, 2.0),     # dB per octave (voiced frames)
}
#: relative (within-clip) scales for loudness and pitch
RELATIVE = {"loud": 0.08, "pitch": 2.5}
ABS_SHARE = 0.6

CUES = ("loud", "pitch", "range", "rate", "tilt")
#: SER logits: bias + weights over the cue z-scores (rows in EMOTIONS order).
SER_WEIGHTS: Dict[str, tuple] = {
    #             bias   loud  pitch range  rate  tilt
    "angry":     (-0.6,  0.9,  0.3,  0.3,  0.4,  0.6),
    "contempt":  (-1.3, -0.1, -0.4, -0.2, -0.3,  0.0),
    "disgusted": (-1.1,  0.0, -0.4,  0.0, -0.4,  0.1),
    "fear":      (-0.9,  0.1,  0.7, -0.3,  0.5,  0.0),
    "happy":     (-0.5,  0.4,  0.5,  0.7,  0.3,  0.2),
    "neutral":   (1.0,   0.0,  0.0, -0.2,  0.0,  0.0),
    "sad":       (-0.5, -0.7, -0.6, -0.5, -0.6, -0.4),
    "surprised": (-0.9,  0.2,  0.6,  0.8,  0.0,  0.0),
}
SER_MATRIX = np.array([SER_WEIGHTS[e] for e in EMOTIONS], np.float64)  # [8, 6]
NEUTRAL_DEVIATION_PENALTY = 0.25  # neutral loses this much per unit of |z| beyond 0.5, summed over the cues

AROUSAL_WEIGHTS = {"loud": 0.35, "pitch": 0.25, "range": 0.15, "rate": 0.2, "tilt": 0.1}
VALENCE_WEIGHTS = {"range": 0.4, "pitch": 0.3, "rate": 0.1}
SPEECH_CONFIDENCE = 0.5
VA_CONFIDENCE = 0.6


def _wavg(x: np.ndarray, w: np.ndarray, size: int) -> np.ndarray:
    """Weighted moving average over ``size`` frames (NaN where the window has no weight)."""
    num = scipy.ndimage.uniform_filter1d(np.where(w > 0, x * w, 0.0), size, mode="constant")
    den = scipy.ndimage.uniform_filter1d(w, size, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-9, num / np.maximum(den, 1e-12), np.nan)


def cue_zscores(speech: SpeechData, window_s: float = WINDOW_S) -> Dict[str, np.ndarray]:
    """Per-frame z-scores of the prosodic cues plus ``activity`` (share of active frames)."""
    f = speech.features
    n = speech.n_frames
    size = max(int(round(window_s * speech.fps)), 1)
    vad = (f["vad"] > 0.5).astype(np.float64)
    f0 = f["f0_hz"].astype(np.float64)
    voiced = ((f["voiced"] > 0.5) & (f0 > 0)).astype(np.float64)
    st = np.where(voiced > 0, 12.0 * np.log2(np.maximum(f0, 1.0) / PITCH_REF_HZ), 0.0)
    loud = f["loudness"].astype(np.float64)

    loud_w = _wavg(loud, vad, size)
    st_w = _wavg(st, voiced, size)
    st2_w = _wavg(st * st, voiced, size)
    range_w = np.sqrt(np.maximum(st2_w - st_w ** 2, 0.0))
    rate_w = _wavg(f["rate"].astype(np.float64), vad, size)
    tilt_w = _wavg(f["tilt"].astype(np.float64), voiced, size)
    activity = scipy.ndimage.uniform_filter1d(vad, size, mode="constant")

    loud_med = float(np.median(loud[vad > 0])) if vad.any() else REFERENCE["loud"][0]
    st_med = float(np.median(st[voiced > 0])) if voiced.any() else REFERENCE["pitch"][0]
    raw = {"loud": loud_w, "pitch": st_w, "range": range_w, "rate": rate_w, "tilt": tilt_w}
    z = {}
    for k, v in raw.items():
        ref, scale = REFERENCE[k]
        v = np.where(np.isfinite(v), v, ref)  # windows with nothing voiced: reference (z = 0)
        zk = (v - ref) / scale
        if k == "loud":
            zk = ABS_SHARE * zk + (1 - ABS_SHARE) * (v - loud_med) / RELATIVE["loud"]
        elif k == "pitch":
            zk = ABS_SHARE * zk + (1 - ABS_SHARE) * (v - st_med) / RELATIVE["pitch"]
        z[k] = np.clip(zk, -3.0, 3.0)
    z["activity"] = np.clip(activity, 0.0, 1.0)
    assert all(len(v) == n for v in z.values())
    return z


def speech_part(speech: SpeechData, z: Dict[str, np.ndarray] = None) -> EmotionPart:
    """The zero-download ``speech`` (SER) part."""
    n = speech.n_frames
    if n == 0:
        return empty_part(0, "prosody")
    z = z if z is not None else cue_zscores(speech)
    X = np.stack([np.ones(n)] + [z[k] for k in CUES], axis=1)  # [n, 6]
    logits = X @ SER_MATRIX.T
    logits[:, EMOTIONS.index("neutral")] -= NEUTRAL_DEVIATION_PENALTY * sum(
        np.maximum(np.abs(z[k]) - 0.5, 0.0) for k in CUES)
    probs = softmax(logits, axis=1).astype(np.float32)
    v, a = va_from_probs(probs)
    return EmotionPart(probs=probs, valence=v, arousal=a,
                       confidence=(SPEECH_CONFIDENCE * z["activity"]).astype(np.float32), backend="prosody")


def va_part(speech: SpeechData, z: Dict[str, np.ndarray] = None) -> EmotionPart:
    """The zero-download ``va`` part (prosodic valence/arousal regression)."""
    n = speech.n_frames
    if n == 0:
        return empty_part(0, "prosody")
    z = z if z is not None else cue_zscores(speech)
    ar = sum(w * z[k] for k, w in AROUSAL_WEIGHTS.items())
    arousal = np.tanh(0.9 * ar)
    vr = sum(w * z[k] for k, w in VALENCE_WEIGHTS.items())
    vr = vr - 0.35 * np.maximum(z["loud"] - 1.0, 0) - 0.25 * np.maximum(z["tilt"] - 1.0, 0)
    valence = 0.6 * np.tanh(0.5 * vr)
    v32, a32 = valence.astype(np.float32), arousal.astype(np.float32)
    return EmotionPart(probs=probs_from_va(v32, a32), valence=v32, arousal=a32,
                       confidence=(VA_CONFIDENCE * z["activity"]).astype(np.float32), backend="prosody")
