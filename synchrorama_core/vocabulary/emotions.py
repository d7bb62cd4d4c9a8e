"""The emotion vocabulary every stage shares: where each emotion sits in valence/arousal, the
words for it (short CLIP phrases, and longer descriptions of face, movement and mood for
T5-encoded video models), how an emotion timeline is summarised over a time window, and how
training data names emotions in its paths.

One table each, so the emotion stage (fusion, label mapping), the scene describer, the diffusion
prompts and both trainers agree on the same numbers and words.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..types import EMOTIONS, EmotionData

#: Where each emotion sits in Russell's circumplex (valence, arousal), both in [-1, 1].
EMOTION_VA: Dict[str, Tuple[float, float]] = {
    "angry": (-0.60, 0.70),
    "contempt": (-0.50, 0.20),
    "disgusted": (-0.65, 0.35),
    "fear": (-0.60, 0.60),
    "happy": (0.75, 0.45),
    "neutral": (0.00, -0.10),
    "sad": (-0.70, -0.45),
    "surprised": (0.25, 0.75),
}

#: Adjectives per emotion: (plain, mild, strong).
EMOTION_WORDS: Dict[str, Tuple[str, str, str]] = {
    "angry": ("angry", "irritated", "furious"),
    "contempt": ("contemptuous", "dismissive", "scornful"),
    "disgusted": ("disgusted", "displeased", "revolted"),
    "fear": ("fearful", "worried", "frightened"),
    "happy": ("happy", "cheerful", "joyful"),
    "neutral": ("calm", "neutral", "composed"),
    "sad": ("sad", "melancholic", "sorrowful"),
    "surprised": ("surprised", "astonished", "amazed"),
}

#: What the face does with each emotion, for image and video models' prompts.
EMOTION_CUES: Dict[str, str] = {
    "angry": "furrowed brows",
    "contempt": "smirk",
    "disgusted": "wrinkled nose",
    "fear": "wide eyes",
    "happy": "smiling",
    "neutral": "",
    "sad": "downturned mouth",
    "surprised": "raised eyebrows",
}

#: intensity below MILD reads as "slightly ...", at or above STRONG as "very ..."
MILD, STRONG = 0.35, 0.7


@dataclass
class EmotionSummary:
    """Mean emotion over a stretch of time (or one frame)."""

    probs: Dict[str, float]
    valence: float
    arousal: float
    intensity: float

    @property
    def dominant(self) -> str:
        return max(self.probs, key=self.probs.get)

    @property
    def secondary(self) -> Optional[str]:
        """The strongest non-neutral emotion after the dominant one, if it holds >= 20 %."""
        order = sorted(self.probs, key=self.probs.get, reverse=True)
        second = [e for e in order[1:] if e != "neutral"]
        return second[0] if second and self.probs[second[0]] >= 0.2 else None

    @classmethod
    def of_frame(cls, probs: Sequence[float], intensity: float, valence: float = 0.0,
                 arousal: float = 0.0) -> "EmotionSummary":
        return cls(probs={e: float(v) for e, v in zip(EMOTIONS, np.asarray(probs, np.float64))},
                   valence=float(valence), arousal=float(arousal), intensity=float(intensity))


def window_frames(n_frames: int, fps: float, start_s: float, end_s: float) -> Tuple[int, int]:
    """Frames ``[i0, i1)`` whose start lies in ``[start_s, end_s)``, at least one, clipped to the clip."""
    i0 = int(math.floor(start_s * fps + 1e-9))
    i1 = int(math.ceil(end_s * fps - 1e-9))
    i0 = min(max(i0, 0), n_frames - 1)
    i1 = min(max(i1, i0 + 1), n_frames)
    return i0, i1


def summarise_emotion(emotion: Optional[EmotionData], start_s: float, end_s: float) -> Optional[EmotionSummary]:
    """Mean emotion over ``[start_s, end_s)`` (frames by their start time), or ``None``."""
    if emotion is None or emotion.n_frames == 0:
        return None
    i0, i1 = window_frames(emotion.n_frames, emotion.fps, start_s, end_s)
    p = emotion.probs[i0:i1].astype(np.float64).mean(axis=0)
    return EmotionSummary(probs={e: float(v) for e, v in zip(EMOTIONS, p)},
                          valence=float(emotion.valence[i0:i1].mean()),
                          arousal=float(emotion.arousal[i0:i1].mean()),
                          intensity=float(emotion.intensity[i0:i1].mean()))


def emotion_word(summary: Optional[EmotionSummary]) -> str:
    """One adjective for an emotion summary ("calm" with no emotion input)."""
    if summary is None:
        return "calm"
    plain, mild, strong = EMOTION_WORDS[summary.dominant]
    i = summary.intensity
    return mild if i < MILD else (plain if i < STRONG else strong)


def emotion_phrase(summary: Optional[EmotionSummary], cues: bool = False) -> str:
    """The emotion part of a prompt, e.g. ``"very happy expression"`` (short, CLIP-friendly).

    Degree words follow the intensity (``slightly`` below :data:`MILD`, ``very`` from
    :data:`STRONG`); ``cues`` adds what the face does after a comma (:data:`EMOTION_CUES`:
    ``"very happy expression, smiling"``; not for the scene's comma-separated attributes).  A neutral summary
    with a clear second emotion reads ``"calm expression with a hint of sadness"``-style.
    """
    if summary is None:
        return "calm expression"
    dom = summary.dominant
    if dom == "neutral":
        sec = summary.secondary
        return ("calm, neutral expression" if sec is None else
                f"calm expression with a hint of {EMOTION_NOUNS[sec]}")
    i = summary.intensity
    degree = "slightly " if i < MILD else ("" if i < STRONG else "very ")
    cue = EMOTION_CUES[dom] if cues else ""
    return f"{degree}{EMOTION_WORDS[dom][0]} expression" + (f", {cue}" if cue else "")


# ------------------------------------------------------------------------------ video-model prompts

#: What the face does, for descriptive prompts of T5-encoded video models (Wan2.2-S2V, HuMo):
#: (mild, plain, strong), picked by intensity like :data:`EMOTION_WORDS`.  Participial phrases,
#: so a sentence can open with one ("Smiling warmly with eyebrows raised, lively ...").
EMOTION_FACE: Dict[str, Tuple[str, str, str]] = {
    "angry": ("with a tense jaw and narrowed eyes", "frowning with furrowed brows and a hard stare",
              "scowling fiercely, brows drawn down, jaw clenched"),
    "contempt": ("with a faint one-sided smirk", "smirking on one side with a cool gaze",
                 "sneering, chin raised, one lip corner pulled up"),
    "disgusted": ("with a slightly wrinkled nose", "wrinkling the nose, upper lip curled",
                  "grimacing in disgust, nose wrinkled, upper lip curled"),
    "fear": ("with a wary look and slightly raised brows", "wide-eyed, eyebrows raised and drawn together",
             "eyes wide with fear, brows pulled up, lips stretched back"),
    "happy": ("smiling gently", "smiling warmly with eyebrows raised",
              "beaming with a broad smile, cheeks raised and eyes crinkling"),
    "neutral": ("with a relaxed face", "with a relaxed, attentive face", "with a composed, steady face"),
    "sad": ("with a slightly downturned mouth", "with downcast eyes and the corners of the mouth turned down",
            "with downcast eyes, drooping brows and a trembling mouth"),
    "surprised": ("with slightly raised eyebrows", "eyebrows raised, eyes widened",
                  "eyebrows shot up, eyes wide, mouth open in astonishment"),
}

#: The emotion as a noun ("a hint of sadness").
EMOTION_NOUNS: Dict[str, str] = {"angry": "anger", "contempt": "contempt", "disgusted": "disgust", "fear": "fear",
                                 "happy": "joy", "neutral": "calm", "sad": "sadness", "surprised": "surprise"}

#: How much the head and face move, by arousal: (upper bound of the band, words), low to high.
AROUSAL_ENERGY: Tuple[Tuple[float, str], ...] = (
    (-0.4, "slow, subdued and low in energy, the head barely moving"),
    (-0.15, "slow and subdued, with little head movement"),
    (0.15, "calm, with small natural head movements"),
    (0.45, "engaged, with natural, expressive head movements"),
    (math.inf, "lively and animated, with energetic head movements"),
)


def energy_phrase(arousal: float) -> str:
    """Movement words for an arousal in [-1, 1] (:data:`AROUSAL_ENERGY`)."""
    return next(words for hi, words in AROUSAL_ENERGY if float(arousal) < hi)


def mood_phrase(valence: float, arousal: float) -> str:
    """The mood of a valence/arousal point: "a warm, upbeat mood", "a heavy, somber mood", ..."""
    v, a = float(valence), float(arousal)
    if v >= 0.4:
        return "a warm, upbeat mood" if a >= 0 else "a warm, content mood"
    if v >= 0.1:
        return "a pleasant, friendly mood"
    if v > -0.1:
        return "a neutral, matter-of-fact mood"
    if v > -0.4:
        return "a tense, uneasy mood" if a >= 0.3 else "a subdued, serious mood"
    return "a tense, agitated mood" if a >= 0.3 else "a heavy, somber mood"


def emotion_description(summary: Optional[EmotionSummary]) -> str:
    """How the person looks and moves over a stretch of time, for a video model's prompt.

    Face wording follows the dominant emotion and its intensity (:data:`EMOTION_FACE`), movement
    the arousal (:func:`energy_phrase`), mood the valence and arousal (:func:`mood_phrase`):
    ``"smiling warmly with eyebrows raised, lively and animated, with energetic head movements,
    in a warm, upbeat mood"`` or ``"with downcast eyes and the corners of the mouth turned down,
    slow, subdued and low in energy, the head barely moving, in a heavy, somber mood"``.
    No emotion input reads as a calm, neutral face.
    """
    if summary is None:
        return f"{EMOTION_FACE['neutral'][1]}, {energy_phrase(0.0)}, in {mood_phrase(0.0, 0.0)}"
    dom = summary.dominant
    i = summary.intensity
    face = EMOTION_FACE[dom][0 if i < MILD else (1 if i < STRONG else 2)]
    if dom == "neutral" and summary.secondary is not None:
        face += f" and a hint of {EMOTION_NOUNS[summary.secondary]}"
    return f"{face}, {energy_phrase(summary.arousal)}, in {mood_phrase(summary.valence, summary.arousal)}"


def opposite_cues(summary: Optional[EmotionSummary], k: int = 2) -> list:
    """Facial cues of the ``k`` emotions farthest from ``summary`` in valence/arousal (for negative
    prompts), or ``[]`` when the emotion is too weak to have an opposite worth pushing away from."""
    if summary is None or summary.dominant == "neutral" or summary.intensity < 0.2:
        return []
    v, a = EMOTION_VA[summary.dominant]
    far = sorted((e for e in EMOTION_VA if e not in ("neutral", summary.dominant) and EMOTION_CUES[e]),
                 key=lambda e: -((EMOTION_VA[e][0] - v) ** 2 + (EMOTION_VA[e][1] - a) ** 2))
    return [EMOTION_CUES[e] for e in far[:k]]


# ------------------------------------------------------------------------------ training data

#: Emotion names as training sets spell them in folder/file names (MEAD, RAVDESS, CREMA-D style).
PATH_EMOTION_NAMES: Dict[str, str] = {
    "angry": "angry", "anger": "angry", "contempt": "contempt", "disgusted": "disgusted",
    "disgust": "disgusted", "fear": "fear", "fearful": "fear", "happy": "happy", "happiness": "happy",
    "neutral": "neutral", "sad": "sad", "sadness": "sad", "surprised": "surprised", "surprise": "surprised"}
#: MEAD's ``level_1..3`` -> intensity
LEVEL_INTENSITY = {1: 0.35, 2: 0.65, 3: 1.0}


def emotion_from_path(path: str) -> Optional[Tuple[str, Optional[float]]]:
    """``(emotion, intensity or None)`` named by a training file's path, or ``None``.

    The emotion is the last word of the path that names one (``.../happy/level_2/001.mp4`` ->
    happy); the intensity comes from a MEAD-style ``level_1..3`` (None when absent).
    """
    low = os.path.abspath(os.fspath(path)).lower()
    tokens = [t for t in re.split(r"[^a-z]+", low) if t]
    name = next((PATH_EMOTION_NAMES[t] for t in reversed(tokens) if t in PATH_EMOTION_NAMES), None)
    if name is None:
        return None
    m = re.search(r"level[_\- ]?([123])(?![0-9])", low)
    return name, (LEVEL_INTENSITY[int(m.group(1))] if m else None)


def labelled_emotion(name: str, intensity: float) -> Tuple[np.ndarray, float, float, float]:
    """A constant emotion label: ``(probs [8], valence, arousal, intensity)``; valence and arousal
    are the emotion's prototype scaled by the intensity (neutral: intensity 0)."""
    probs = np.zeros(len(EMOTIONS), np.float32)
    probs[EMOTIONS.index(name)] = 1.0
    k = 0.0 if name == "neutral" else float(min(max(intensity, 0.0), 1.0))
    v, a = EMOTION_VA[name]
    return probs, v * k, a * k, k


__all__ = ["AROUSAL_ENERGY", "EMOTION_CUES", "EMOTION_FACE", "EMOTION_NOUNS", "EMOTION_VA", "EMOTION_WORDS", "EmotionSummary",
           "LEVEL_INTENSITY", "MILD", "PATH_EMOTION_NAMES", "STRONG", "emotion_description", "emotion_from_path",
           "emotion_phrase", "emotion_word", "energy_phrase", "labelled_emotion", "mood_phrase", "opposite_cues",
           "summarise_emotion", "window_frames"]
