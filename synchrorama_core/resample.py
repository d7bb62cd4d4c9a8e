"""Re-timing frame-aligned values onto another frame rate: the one home for resampling.

Every value keeps its duration and gets exactly ``round(duration_s * fps)`` frames at the new
``fps`` (:func:`~.timing.n_frames`, the frame count rule).  Output frame ``i`` takes the input
at its centre time ``(i + 0.5) / fps``: linear interpolation between the two input frames whose
centres surround it; before the first / after the last input centre the first / last value is
held.  Used wherever one stage's timeline meets another fps (the A2M stage's neural model and
Motion Adjust, and the video-model bridge, whose Wan models run at 16 fps).

* :func:`resample_rows`: the array primitive;
* :func:`resample_motion` (``SR_MOTION``): rotation per Euler angle (fine for the small angles of
  talking heads), scale in log space, expressions linearly;
* :func:`resample_emotion` (``SR_EMOTION``): probabilities, valence, arousal, intensity and every
  modality part linearly (an interpolated probability row still sums to 1);
* :func:`resample_speech` (``SR_SPEECH``): the waveform is kept; continuous features
  interpolate, the 0/1 features (``vad``, ``voiced``) take the input frame that covers each
  output frame's centre, so they stay 0/1.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import InvalidDataError
from .timing import check_fps, n_frames
from .types import EmotionData, EmotionPart, MotionData, SpeechData

#: SR_SPEECH features that are 0/1 flags (sampled, never interpolated).
BINARY_FEATURES = ("vad", "voiced")


def resample_rows(x: np.ndarray, fps_in: float, n_out: int, fps_out: float) -> np.ndarray:
    """Rows of ``x`` (frames at ``fps_in``) linearly interpolated at the centres of ``n_out`` frames at ``fps_out``.

    Before the first / after the last input frame centre the first / last row is held.
    """
    x = np.asarray(x)
    if len(x) == 0 or n_out == 0:
        return np.zeros((n_out,) + x.shape[1:], x.dtype)
    t_in = (np.arange(len(x)) + 0.5) / fps_in
    t_out = (np.arange(n_out) + 0.5) / fps_out
    if x.ndim == 1:
        return np.interp(t_out, t_in, x).astype(x.dtype)
    flat = x.reshape(len(x), -1)
    out = np.stack([np.interp(t_out, t_in, flat[:, j]) for j in range(flat.shape[1])], axis=1)
    return out.reshape((n_out,) + x.shape[1:]).astype(x.dtype)


def sample_rows(x: np.ndarray, fps_in: float, n_out: int, fps_out: float) -> np.ndarray:
    """Rows of ``x`` picked, not blended: output frame ``i`` takes the input frame covering its centre time."""
    x = np.asarray(x)
    if len(x) == 0 or n_out == 0:
        return np.zeros((n_out,) + x.shape[1:], x.dtype)
    idx = np.floor((np.arange(n_out) + 0.5) / fps_out * fps_in + 1e-9).astype(np.int64)
    return x[np.clip(idx, 0, len(x) - 1)]


_OWN = object()   # the value's own duration


def _target(value, cls, source: str, fps: float, duration_s=_OWN):
    """``value`` checked to be a ``cls`` (else an error naming the node to connect, ``source``) and the
    new timeline (``duration_s`` default: the value's own): ``(fps, duration_s, n_out)``."""
    if not isinstance(value, cls):
        raise InvalidDataError(f"expected an {cls.TYPE} value, got {type(value).__name__}; connect {source}")
    if duration_s is _OWN:
        duration_s = value.duration_s
    fps = check_fps(fps)
    try:
        d = float(duration_s)
    except (TypeError, ValueError):
        raise InvalidDataError(f"duration_s must be a number, got {duration_s!r}") from None
    if not math.isfinite(d) or d < 0:
        raise InvalidDataError(f"duration_s must be a finite number >= 0, got {d!r}")
    return fps, d, n_frames(d, fps)


def _lerp(x, fps_in: float, n_out: int, fps_out: float) -> np.ndarray:
    """:func:`resample_rows` of ``x`` as float64."""
    return resample_rows(np.asarray(x, np.float64), fps_in, n_out, fps_out)


def _meta(value, **more) -> dict:
    """``value.meta`` with ``resampled_from``: the fps (``more``) and frame count it had."""
    return {**value.meta, "resampled_from": {"fps": value.fps, **more, "n_frames": value.n_frames}}


def resample_motion(motion: MotionData, fps: float, duration_s: float) -> MotionData:
    """``motion`` re-timed onto ``round(duration_s * fps)`` frames at ``fps``.

    A shorter motion is extended by holding its last pose.  Rotation is interpolated per Euler
    angle, scale in log space.
    """
    m = motion
    fps, duration_s, n_out = _target(m, MotionData, "SynchroRaMa A2M Motion or Load Motion", fps, duration_s)
    if abs(fps - m.fps) < 1e-9 and n_out == m.n_frames:
        return MotionData(fps=fps, duration_s=duration_s, rotation=m.rotation, translation=m.translation,
                          scale=m.scale, expressions=m.expressions, generator=m.generator, meta=m.meta)
    if m.n_frames == 0 and n_out > 0:
        raise InvalidDataError("cannot re-time a motion with no frames onto a longer timeline")

    def interp(x: np.ndarray) -> np.ndarray:
        return _lerp(x, m.fps, n_out, fps).astype(np.float32)

    meta = _meta(m, duration_s=m.duration_s)
    return MotionData(fps=fps, duration_s=duration_s, rotation=interp(m.rotation),
                      translation=interp(m.translation), scale=np.exp(interp(np.log(m.scale))),
                      expressions={k: interp(v) for k, v in m.expressions.items()}, generator=m.generator, meta=meta)


def resample_emotion(emotion: EmotionData, fps: float) -> EmotionData:
    """``emotion`` on ``round(emotion.duration_s * fps)`` frames at ``fps`` (same duration, same parts and weights)."""
    e = emotion
    fps, duration_s, n_out = _target(e, EmotionData, "SynchroRaMa Emotion Embedder", fps)
    if abs(fps - e.fps) < 1e-9:
        return e
    if e.n_frames == 0 and n_out > 0:
        raise InvalidDataError("cannot re-time an emotion with no frames")

    def interp(x: np.ndarray) -> np.ndarray:
        return _lerp(x, e.fps, n_out, fps)

    def probs(p: np.ndarray) -> np.ndarray:
        q = np.clip(interp(p), 0.0, 1.0)
        return (q / np.maximum(q.sum(axis=1, keepdims=True), 1e-12)).astype(np.float32)

    parts = {k: EmotionPart(probs=probs(p.probs), valence=interp(p.valence).astype(np.float32),
                            arousal=interp(p.arousal).astype(np.float32),
                            confidence=np.clip(interp(p.confidence), 0, 1).astype(np.float32), backend=p.backend)
             for k, p in e.parts.items()}
    return EmotionData(fps=fps, duration_s=duration_s, probs=probs(e.probs),
                       valence=np.clip(interp(e.valence), -1, 1).astype(np.float32),
                       arousal=np.clip(interp(e.arousal), -1, 1).astype(np.float32),
                       intensity=np.clip(interp(e.intensity), 0, 1).astype(np.float32),
                       parts=parts, weights=dict(e.weights), meta=_meta(e))


def resample_speech(speech: SpeechData, fps: float) -> SpeechData:
    """``speech`` with its frame features on ``round(duration_s * fps)`` frames at ``fps`` (the waveform is kept)."""
    s = speech
    fps, _, n_out = _target(s, SpeechData, "SynchroRaMa Load Audio or Speech Features", fps)
    if abs(fps - s.fps) < 1e-9:
        return s
    feats = {}
    for k, v in s.features.items():
        pick = sample_rows if k in BINARY_FEATURES else resample_rows
        feats[k] = pick(np.asarray(v, np.float32), s.fps, n_out, fps)
    emb = None if s.embeddings is None else resample_rows(s.embeddings, s.fps, n_out, fps)
    return SpeechData(waveform=s.waveform, fps=fps, features=feats, sample_rate=s.sample_rate, source=s.source,
                      start_s=s.start_s, embeddings=emb, embedding_model=s.embedding_model, meta=_meta(s))


__all__ = ["BINARY_FEATURES", "resample_emotion", "resample_motion", "resample_rows", "resample_speech",
           "sample_rows"]
