"""Shared pieces of the emotion stage: emotion prototypes in valence/arousal space, mapping of
model label names onto the 8 MEAD emotions, and small numeric helpers.

Nothing here imports torch or transformers (the zero-download defaults must stay light).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidDataError
from ..timing import frame_centers_s
from ..types import EMOTIONS, EmotionPart
from ..vocabulary.emotions import EMOTION_VA

N_EMO = len(EMOTIONS)
NEUTRAL = EMOTIONS.index("neutral")

PROTO_V = np.array([EMOTION_VA[e][0] for e in EMOTIONS], np.float32)
PROTO_A = np.array([EMOTION_VA[e][1] for e in EMOTIONS], np.float32)

#: The three modalities of ``SR_EMOTION.parts``.
MODALITIES = ("text", "speech", "va")


class LabelMappingError(InvalidDataError):
    """A model's output labels cannot be mapped onto SynchroRaMa's emotions or valence/arousal."""


# --------------------------------------------------------------------------------------
# label names -> emotions
# --------------------------------------------------------------------------------------

#: Label names (lower case, letters only) accepted for each emotion.  Covers the usual
#: emotion datasets' names and abbreviations (IEMOCAP/SUPERB ``neu hap ang sad``, RAVDESS
#: ``calm fearful``, MELD/Ekman ``joy anger sadness disgust surprise``) and the published
#: GoEmotions-to-Ekman grouping (Demszky et al. 2020).
EMOTION_SYNONYMS: Dict[str, Tuple[str, ...]] = {
    "angry": ("angry", "anger", "ang", "mad", "rage", "fury", "furious", "annoyance", "annoyed", "irritation",
              "irritated", "frustration", "frustrated", "fru", "disapproval", "hostile", "hostility", "hate"),
    "contempt": ("contempt", "contemptuous", "disdain", "scorn", "sarcasm", "sarcastic"),
    "disgusted": ("disgusted", "disgust", "dis", "disgusting", "revulsion"),
    "fear": ("fear", "fearful", "fea", "afraid", "scared", "fright", "nervousness", "nervous", "anxiety",
             "anxious", "worry", "worried", "terror"),
    "happy": ("happy", "happiness", "hap", "joy", "joyful", "glad", "exc", "excited", "excitement", "amusement",
              "amused", "love", "optimism", "gratitude", "grateful", "admiration", "approval", "pride", "proud",
              "relief", "caring", "desire", "pleasure", "pleased", "enthusiasm", "contentment", "content", "fun"),
    "neutral": ("neutral", "neu", "calm", "noemotion", "none", "emotionless"),
    "sad": ("sad", "sadness", "sorrow", "grief", "disappointment", "disappointed", "embarrassment", "remorse",
            "unhappy", "depressed", "depression", "melancholy", "boredom", "bored"),
    "surprised": ("surprised", "surprise", "sur", "surprising", "amazement", "amazed", "astonishment",
                  "realization", "confusion", "curiosity", "shock", "shocked"),
}
_SYN = {s: e for e, ss in EMOTION_SYNONYMS.items() for s in ss}

#: Sentiment labels -> valence (their probability mass goes to happy / neutral / sad).
SENTIMENT_VALENCE: Dict[str, float] = {
    "positive": 0.8, "pos": 0.8, "verypositive": 1.0, "stronglypositive": 1.0,
    "negative": -0.8, "neg": -0.8, "verynegative": -1.0, "stronglynegative": -1.0,
    "mixed": 0.0, "neutralsentiment": 0.0,
}
#: Labels whose arousal differs from their emotion's prototype.
_AROUSAL_OVERRIDE = {"calm": -0.45, "boredom": -0.6, "bored": -0.6, "exc": 0.8, "excited": 0.8,
                     "excitement": 0.8, "rage": 0.9, "fury": 0.9, "furious": 0.9, "terror": 0.9}
_STARS = re.compile(r"^([1-5])stars?$")


def _norm_label(label: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(label).lower())


@dataclass
class LabelMap:
    """How a model's K output labels project onto the emotions and valence/arousal.

    ``matrix`` is ``[K, 8]`` (each row sums to 1: where a label's probability goes),
    ``valence``/``arousal`` are ``[K]`` (the value each label stands for).
    """

    labels: List[str]
    matrix: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray

    def apply(self, p: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Label probabilities ``[N, K]`` (rows sum to 1) -> probs ``[N, 8]``, valence, arousal ``[N]``."""
        p = np.asarray(p, np.float64)
        probs = p @ self.matrix
        probs /= np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
        return (probs.astype(np.float32), np.clip(p @ self.valence, -1, 1).astype(np.float32),
                np.clip(p @ self.arousal, -1, 1).astype(np.float32))


def map_label(label: str) -> Optional[Tuple[np.ndarray, float, float]]:
    """``(emotion row [8], valence, arousal)`` a label stands for, or None if it means nothing to us."""
    k = _norm_label(label)
    row = np.zeros(N_EMO, np.float64)
    if k in _SYN:
        e = EMOTIONS.index(_SYN[k])
        row[e] = 1.0
        v, a = EMOTION_VA[_SYN[k]]
        if k == "calm":
            v = 0.1
        return row, v, _AROUSAL_OVERRIDE.get(k, a)
    m = _STARS.match(k)
    v = (int(m.group(1)) - 3) / 2.0 if m else SENTIMENT_VALENCE.get(k)
    if v is None:
        return None
    # sentiment: positive mass goes to happy, negative to sad, the rest stays neutral
    w = min(abs(v), 1.0)
    row[EMOTIONS.index("happy" if v > 0 else "sad")] = w
    row[NEUTRAL] += 1.0 - w
    return row, float(v), 0.0


def build_label_map(labels: Sequence[str], where: str = "the model") -> LabelMap:
    """Map every label or raise :class:`LabelMappingError` listing the ones that cannot be mapped."""
    rows, vs, As, bad = [], [], [], []
    for lab in labels:
        m = map_label(lab)
        if m is None:
            bad.append(str(lab))
            continue
        rows.append(m[0])
        vs.append(m[1])
        As.append(m[2])
    if bad:
        raise LabelMappingError(
            f"{where} has labels SynchroRaMa cannot map onto its emotions: {bad}. Known emotion names: "
            f"{sorted(_SYN)}; sentiment names: {sorted(SENTIMENT_VALENCE)} and '1 star'..'5 stars'. "
            f"Rename the labels in the model's config.json (id2label / label2id) to one of these")
    return LabelMap([str(x) for x in labels], np.array(rows, np.float64), np.array(vs, np.float64),
                    np.array(As, np.float64))


# --------------------------------------------------------------------------------------
# numeric helpers
# --------------------------------------------------------------------------------------

def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, np.float64)
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def certainty(p: np.ndarray) -> np.ndarray:
    """1 - normalised entropy of each row of ``p`` (1: one label, 0: uniform)."""
    p = np.asarray(p, np.float64)
    k = p.shape[-1]
    if k < 2:
        return np.ones(p.shape[:-1])
    h = -(p * np.log(np.clip(p, 1e-12, 1))).sum(axis=-1)
    return np.clip(1.0 - h / np.log(k), 0.0, 1.0)


def va_from_probs(probs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Probability-weighted prototype valence and arousal."""
    probs = np.asarray(probs, np.float32)
    return (np.clip(probs @ PROTO_V, -1, 1).astype(np.float32), np.clip(probs @ PROTO_A, -1, 1).astype(np.float32))


def probs_from_va(valence: np.ndarray, arousal: np.ndarray, width: float = 0.35,
                  neutral_bonus: float = 0.5) -> np.ndarray:
    """Soft emotion probabilities of points in valence/arousal space (Gaussian kernel around each
    emotion's prototype; neutral gets a small prior so weak values read as neutral)."""
    v = np.asarray(valence, np.float64)[:, None]
    a = np.asarray(arousal, np.float64)[:, None]
    d2 = (v - PROTO_V[None]) ** 2 + (a - PROTO_A[None]) ** 2
    logit = -d2 / (2 * width * width)
    logit[:, NEUTRAL] += neutral_bonus
    return softmax(logit, axis=1).astype(np.float32)


def neutral_probs(n: int) -> np.ndarray:
    p = np.zeros((n, N_EMO), np.float32)
    p[:, NEUTRAL] = 1.0
    return p


def renorm(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 0.0, None)
    s = p.sum(axis=1, keepdims=True)
    out = np.where(s > 1e-12, p / np.maximum(s, 1e-12), neutral_probs(len(p)))
    return out.astype(np.float32)


def empty_part(n: int, backend: str) -> EmotionPart:
    """A part that says nothing (neutral, confidence 0 everywhere)."""
    z = np.zeros(n, np.float32)
    return EmotionPart(probs=neutral_probs(n), valence=z.copy(), arousal=z.copy(), confidence=z.copy(),
                       backend=backend)


def windows_to_frames(centers_s: np.ndarray, values: np.ndarray, n: int, fps: float) -> np.ndarray:
    """Linear interpolation of per-window values ``[W, ...]`` (at window centres) onto frame centres."""
    t = frame_centers_s(n, fps)
    values = np.asarray(values, np.float64)
    if len(centers_s) == 1:
        return np.repeat(values[:1], n, axis=0)
    if values.ndim == 1:
        return np.interp(t, centers_s, values)
    return np.stack([np.interp(t, centers_s, values[:, j]) for j in range(values.shape[1])], axis=1)


def window_starts(n_samples: int, win: int, hop: int) -> np.ndarray:
    """Start samples of equal windows covering ``n_samples`` (the last one ends at the end)."""
    if n_samples <= win:
        return np.array([0], np.int64)
    starts = np.arange(0, n_samples - win + 1, hop, dtype=np.int64)
    if starts[-1] + win < n_samples:
        starts = np.append(starts, n_samples - win)
    return starts


def activity_in(vad: np.ndarray, fps: float, t0: float, t1: float) -> float:
    """Fraction of frames with voice activity in ``[t0, t1)`` seconds."""
    i0 = max(int(np.floor(t0 * fps)), 0)
    i1 = min(max(int(np.ceil(t1 * fps)), i0 + 1), len(vad))
    if i1 <= i0:
        return 0.0
    return float(np.mean(vad[i0:i1] > 0.5))
