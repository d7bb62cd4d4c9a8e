"""Listening behaviour: the people of a conversation react while another one speaks.

Each speaker's motion comes from their own track (:func:`~.procedural.generate_procedural` or the
neural A2M): lips that follow their own voice, blinks, head motion.  :func:`add_listening` then
looks at everyone together and adds what a listener does:

* **who holds the floor** (:func:`who_speaks`): a speaker's voice activity, except where another track
  is clearly louder in the same frame (a second microphone picking up the other voice); a short
  hangover keeps the floor over the gaps between words;
* **lips at rest**: while someone else holds the floor, the listener's mouth channels are gated
  to 0 (so crosstalk in their own track cannot move their lips);
* **gaze toward the speaker**: the head turns toward the last other speaker (yaw toward their
  side of the picture, a little pitch toward their height), fully while listening and by
  ``speaking_gaze`` while speaking; it stays on that speaker through the pauses between turns;
* **small nods**: back-channel nods at the speaker's phrase ends and on some of their stressed
  syllables (pitch bumps of ``nod_deg``);
* **reactions**: the speaker's emotion (smile, frown, brows, eyes; never the jaw) shows on the
  listener at ``reaction`` of its strength, blended over the listener's own expression;
* **calm**: the listener's own idle head motion is reduced by ``calm`` while listening.

Blinks stay those of the listener's own motion (a silent track gives the resting blink rate).
The result keeps every motion's timeline; ``meta["listening"]`` records what was added.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidDataError
from ..types import EXPRESSIONS, EmotionData, MotionData, SpeechData
from . import _signal as sig
from .adjust import BLINKS, MOUTH, check_number
from .emotion_map import emotion_expressions, emotion_on_frames

X = {k: i for i, k in enumerate(EXPRESSIONS)}
#: a voice this much quieter (loudness 0..1 ≈ -60..0 dBFS, so 0.15 ≈ 9 dB) than another track's in
#: the same frame is crosstalk, not its speaker talking
CROSSTALK_MARGIN = 0.15
#: the floor is kept this long over gaps between words (seconds)
HANGOVER_S = 0.3
#: reactions never open the jaw, round the lips or tuck the lower lip of a listener (those are speech)
REACTION_CHANNELS = tuple(k for k in EXPRESSIONS if k not in ("jaw_open", "mouth_pucker", "lip_tuck")
                          and k not in BLINKS)


@dataclass
class ListeningConfig:
    """Creator controls of the listening behaviour."""

    gaze_deg: float = 7.0        # head turn toward the speaker while listening (degrees, before the renderer's limit)
    speaking_gaze: float = 0.35  # share of that turn toward the listener while speaking
    nod_deg: float = 2.0         # back-channel nod amplitude (degrees of pitch)
    reaction: float = 0.5        # how much of the speaker's emotion shows on the listener (0..1)
    calm: float = 0.4            # how much the listener's own idle head motion is reduced (0..1)
    seed: int = 0

    LIMITS: ClassVar[Dict[str, Tuple[float, float]]] = {"gaze_deg": (0.0, 30.0), "speaking_gaze": (0.0, 1.0),
                                                         "nod_deg": (0.0, 10.0), "reaction": (0.0, 1.0),
                                                         "calm": (0.0, 1.0)}

    @classmethod
    def make(cls, config: Optional["ListeningConfig"] = None, **controls) -> "ListeningConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(controls) - names)
        if unknown:
            raise InvalidDataError(f"unknown listening controls {unknown}; known: {sorted(names)}")
        c = dataclasses.replace(config or cls(), **controls)
        vals = {k: check_number(getattr(c, k), f"listening control {k}", lo, hi) for k, (lo, hi) in cls.LIMITS.items()}
        try:
            seed = int(c.seed)
        except (TypeError, ValueError):
            raise InvalidDataError(f"seed must be an integer, got {c.seed!r}") from None
        return cls(seed=seed % (2 ** 63), **vals)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def _feature(speech: SpeechData, name: str, n: int) -> np.ndarray:
    """A speech feature on ``n`` frames: cut, or padded with 0 (silence) after the speech ends."""
    a = np.asarray(speech.features[name], np.float32)[:n]
    return np.pad(a, (0, n - len(a))) if len(a) < n else a


def who_speaks(speeches: Sequence[SpeechData], n: int, fps: float) -> np.ndarray:
    """``[K, n]`` bool: who holds the floor per frame (see the module doc).  Speech shorter than
    ``n`` frames is silent after its end."""
    k = len(speeches)
    vad = np.stack([_feature(s, "vad", n) > 0.5 for s in speeches]) if k else np.zeros((0, n), bool)
    loud = np.stack([sig.smooth(_feature(s, "loudness", n), 0.06 * fps) for s in speeches]) if k else vad * 0.0
    loud = np.where(vad, loud, 0.0)
    top = loud.max(axis=0) if k else np.zeros(n)
    talk = vad & (loud >= top[None, :] - CROSSTALK_MARGIN)
    hang = max(int(round(HANGOVER_S * fps)), 0)
    if hang and n:
        import scipy.ndimage
        talk = scipy.ndimage.binary_closing(talk, structure=np.ones((1, 2 * hang + 1), bool), border_value=0) | talk
    return talk


def _emotion_frames(emotion: Optional[EmotionData], n: int, fps: float) -> Dict[str, np.ndarray]:
    """Emotion on ``n`` frames: its own frames, then neutral after it ends (a shorter speaker)."""
    if emotion is None:
        return emotion_on_frames(None, n, fps, n / fps)
    m = min(n, int(round(emotion.duration_s * fps)))
    e = emotion_on_frames(emotion, m, fps, emotion.duration_s) if m else emotion_on_frames(None, 0, fps, 0.0)
    rest = emotion_on_frames(None, n - m, fps, (n - m) / fps)
    return {k: np.concatenate([e[k], rest[k]], axis=0) for k in e}


def _held_focus(talk: np.ndarray, k: int) -> np.ndarray:
    """``[K, n]``: 1 for the other speaker listener ``k`` attends to per frame (the one talking, or
    the last one who talked), else 0."""
    kk, n = talk.shape
    focus = np.zeros((kk, n), np.float32)
    last = -1
    others = [j for j in range(kk) if j != k]
    for t in range(n):
        active = [j for j in others if talk[j, t]]
        if active:
            last = active[0] if last not in active else last
        if last >= 0:
            focus[last, t] = 1.0
    return focus


def add_listening(motions: Sequence[MotionData], speeches: Sequence[SpeechData],
                  emotions: Optional[Sequence[Optional[EmotionData]]] = None,
                  places: Optional[Sequence[Tuple[float, float, float]]] = None,
                  config: Optional[ListeningConfig] = None, **controls) -> List[MotionData]:
    """Every speaker's motion with listening behaviour added (see the module doc).

    ``motions[k]``, ``speeches[k]`` and ``emotions[k]`` (optional) are speaker ``k``'s; all motions
    share one timeline (pad shorter ones with :func:`~.adjust.pad_motion` first); a speech or
    emotion shorter than it is silent / neutral after its end.  ``places[k]`` is ``(x, y,
    face_width)`` of speaker ``k``'s face in the picture (pixels), which gives the direction of the
    gaze; without it the speakers are taken to stand left to right, one face width apart.
    """
    motions, speeches = list(motions), list(speeches)
    kk = len(motions)
    if kk == 0:
        return []
    if len(speeches) != kk:
        raise InvalidDataError(f"{kk} motions but {len(speeches)} speech values; give one per speaker")
    emotions = list(emotions) if emotions is not None else [None] * kk
    if len(emotions) != kk:
        raise InvalidDataError(f"{kk} motions but {len(emotions)} emotion values; give one per speaker (or none)")
    for i, m in enumerate(motions):
        if not isinstance(m, MotionData):
            raise InvalidDataError(f"motion {i}: expected an SR_MOTION value, got {type(m).__name__}")
        if not isinstance(speeches[i], SpeechData):
            raise InvalidDataError(f"speech {i}: expected an SR_SPEECH value, got {type(speeches[i]).__name__}")
        if emotions[i] is not None and not isinstance(emotions[i], EmotionData):
            raise InvalidDataError(f"emotion {i}: expected an SR_EMOTION value, got {type(emotions[i]).__name__}")
        if abs(m.fps - motions[0].fps) > 1e-9 or m.n_frames != motions[0].n_frames:
            raise InvalidDataError(f"motion {i} has {m.n_frames} frames at {m.fps:g} fps but motion 0 "
                                   f"{motions[0].n_frames} at {motions[0].fps:g} fps; pad them to one timeline")
    cfg = ListeningConfig.make(config, **controls)
    fps, n = motions[0].fps, motions[0].n_frames
    if places is None:
        places = [(float(k), 0.0, 1.0) for k in range(kk)]
    places = [tuple(float(v) for v in p) for p in places]
    if len(places) != kk or any(len(p) != 3 or p[2] <= 0 for p in places):
        raise InvalidDataError("places must be one (x, y, face_width > 0) per speaker")
    talk = who_speaks(speeches, n, fps)
    emo = [_emotion_frames(e, n, fps) for e in emotions]
    react_all = [emotion_expressions(sig.smooth(e["probs"], 0.3 * fps) / np.maximum(
        sig.smooth(e["probs"], 0.3 * fps).sum(1, keepdims=True), 1e-6), sig.smooth(e["intensity"], 0.3 * fps),
        cfg.reaction) for e in emo]
    out = []
    for k, m in enumerate(motions):
        rng = np.random.default_rng([cfg.seed, k])
        own = talk[k].astype(np.float32)
        others = np.delete(talk, k, axis=0) if kk > 1 else np.zeros((1, n), bool)
        listening = (others.any(axis=0) & ~talk[k]).astype(np.float32)
        lis = sig.smooth(listening, 0.12 * fps)              # ~0.3 s transitions
        focus = _held_focus(talk, k) if kk > 1 else np.zeros((1, n), np.float32)
        # ---- gaze: toward the attended speaker, fully while listening, partly while speaking
        xk, yk, wk = places[k]
        strength = 1.0 - (1.0 - cfg.speaking_gaze) * own
        yaw = np.zeros(n, np.float32)
        pitch = np.zeros(n, np.float32)
        for j in range(kk):
            if j == k or not focus[j].any():
                continue
            dx, dy = (places[j][0] - xk) / wk, (places[j][1] - yk) / wk
            turn = cfg.gaze_deg * (0.6 + 0.4 * min(1.0, abs(dx) / 4.0))
            yaw += np.sign(dx) * turn * focus[j] * strength
            pitch += 0.5 * cfg.gaze_deg * np.clip(dy / 4.0, -1.0, 1.0) * focus[j] * strength
        yaw, pitch = sig.smooth(yaw, 0.2 * fps), sig.smooth(pitch, 0.2 * fps)
        # ---- back-channel nods at the speaker's phrase ends and on some stressed syllables
        nod = np.zeros(n, np.float32)
        nods = 0
        for j in range(kk):
            if j == k:
                continue
            attending = (focus[j] > 0) & ~talk[k]
            ends = [a for a, b in sig.segments(~talk[j]) if a > 0 and (b - a) / fps >= 0.25]
            stress = sig.smooth(_feature(speeches[j], "flux", n) * _feature(speeches[j], "loudness", n) *
                                talk[j], 1.0)
            beats = [int(i) for i in sig.peaks(stress, fps, 1.2, 0.05) if rng.random() < 0.3]
            for i, width, amp in [(a, 0.6, 1.0) for a in ends] + [(b, 0.45, 0.6) for b in beats]:
                c = min(i + int(0.15 * fps), n - 1)
                if not attending[max(i - 1, 0)] and not attending[c]:
                    continue
                nod += cfg.nod_deg * amp * float(rng.uniform(0.7, 1.1)) * sig.bump(n, fps, (c + 0.5) / fps, width)
                nods += 1
        # ---- expressions: mouth at rest while listening, the speaker's emotion at reduced strength
        ex = m.expression_matrix().astype(np.float32).copy()
        gate = 1.0 - np.clip(sig.smooth(listening, 0.04 * fps), 0.0, 1.0)
        for c in MOUTH:
            ex[:, X[c]] *= gate
        react = np.zeros((n, len(EXPRESSIONS)), np.float32)
        for j in range(kk):
            if j != k:
                react += react_all[j] * sig.smooth(focus[j] * (1.0 - own), 0.2 * fps)[:, None]
        for c in REACTION_CHANNELS:
            i = X[c]
            blended = np.maximum(react[:, i], 0.5 * ex[:, i])
            if c in MOUTH:
                blended = blended * gate       # a reaction may press or widen the lips, never part them
            ex[:, i] = (1.0 - lis) * ex[:, i] + lis * blended
        # ---- head: the listener's own idle motion calmer, plus gaze and nods
        rot = m.rotation.astype(np.float32).copy()
        calm = (1.0 - cfg.calm * lis)[:, None]
        rot *= calm
        rot[:, 0] += yaw
        rot[:, 1] += pitch + nod
        trans = m.translation * calm
        scale = 1.0 + (m.scale - 1.0) * calm[:, 0]
        meta = dict(m.meta)
        meta["listening"] = {"config": cfg.as_dict(), "speaker": k,
                             "listening_s": round(float(listening.sum()) / fps, 3),
                             "speaking_s": round(float(own.sum()) / fps, 3), "nods": nods,
                             "mean_gaze_yaw_deg": round(float(yaw.mean()), 3),
                             "reacting_to": [j for j in range(kk) if j != k and focus[j].any()]}
        out.append(MotionData(fps=fps, duration_s=m.duration_s, rotation=np.clip(rot, -89.0, 89.0),
                              translation=trans.astype(np.float32), scale=scale.astype(np.float32),
                              expressions={c: np.clip(ex[:, X[c]], 0.0, 1.0) for c in EXPRESSIONS},
                              generator=f"{m.generator}+listening", meta=meta))
    return out


__all__ = ["CROSSTALK_MARGIN", "HANGOVER_S", "ListeningConfig", "add_listening", "who_speaks"]
