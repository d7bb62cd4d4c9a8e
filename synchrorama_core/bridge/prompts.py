"""Prompts for T5-encoded video models (Wan2.2-S2V, HuMo) from ``SR_EMOTION`` + ``SR_SCENE``.

These models read plain descriptive English (their text encoder is umt5-xxl), so the prompt
says who is shown, what they do and how they feel, in sentences:

    "Close-up portrait of a person talking to the camera, facing the camera, soft light.
     The person speaks cheerfully to the camera, smiling and nodding. Smiling warmly with eyebrows
     raised, lively and animated, with energetic head movements, in a warm, upbeat mood.
     Natural lip movements in sync with the speech, steady camera."

Any time window ``[start_s, end_s)`` gets its own text: the scene segments that overlap it and
the emotion averaged over it (:func:`~synchrorama_core.vocabulary.emotions.summarise_emotion`),
so each window of an Extend chain follows the timeline instead of the clip's average.  All the
emotion wording comes from :mod:`synchrorama_core.vocabulary.emotions`.

The negative prompt is core's Wan negative (the text core's own templates use) plus the facial
cues of the emotions farthest from the window's in valence/arousal (a happy window pushes away
from "downturned mouth").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from ..errors import InvalidDataError
from ..types import EmotionData, SceneData
from ..vocabulary.emotions import (EMOTION_WORDS, EmotionSummary, emotion_description, opposite_cues,
                                   summarise_emotion)
from .windows import video_model

#: The negative prompt of core ComfyUI's Wan2.2-S2V and HuMo templates (Wan's own, in Chinese:
#: oversaturated, overexposed, static, blurry details, subtitles, ..., extra fingers, deformed,
#: cluttered background, many people in the background, walking backwards).
WAN_NEGATIVE = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
                "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
                "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走")

#: Closing sentence: what every talking-head window should keep.
TAIL = "Natural lip movements in sync with the speech, steady camera."
#: At most this many scene segments are described in one window (the longest overlaps, in time order).
MAX_SEGMENTS = 3


_EMOTION_ADJECTIVES = {w for words in EMOTION_WORDS.values() for w in words} | {"neutral"}


@dataclass
class VideoPrompt:
    """The prompt of one time window, with what it was made from."""

    positive: str
    negative: str
    start_s: float
    end_s: float
    emotion: Optional[EmotionSummary] = None
    segments: List[int] = field(default_factory=list)   # indices of the scene segments described

    def info(self) -> str:
        emo = "no emotion input" if self.emotion is None else (
            f"{self.emotion.dominant} (intensity {self.emotion.intensity:.2f}, valence {self.emotion.valence:+.2f}, "
            f"arousal {self.emotion.arousal:+.2f})")
        return f"{self.start_s:.2f}-{self.end_s:.2f} s: {emo}; scene segments {self.segments or 'none'}"


def _sentence(text: str) -> str:
    t = " ".join(str(text).split()).strip()
    if not t:
        return ""
    t = t[0].upper() + t[1:]
    return t if t[-1] in ".!?" else t + "."


def _who(scene: Optional[SceneData], seg_ids: List[int], subject: str) -> str:
    """'<framing> of <subject> talking to the camera, <attributes>' from the scene's attributes."""
    subject = " ".join(subject.split()) or "a person"
    attrs: List[str] = []
    if scene is not None:
        for i in seg_ids or range(min(1, len(scene.segments))):
            for a in scene.segments[i].attributes:
                a = a.strip()
                # the emotion phrase of a segment is replaced by the window's own wording
                if a and "expression" not in a.lower() and a.lower() not in _EMOTION_ADJECTIVES \
                        and a.lower() not in (x.lower() for x in attrs):
                    attrs.append(a)
    framing = next((a for a in attrs if any(w in a.lower() for w in ("portrait", "close-up", "shot"))), "")
    rest = [a for a in attrs if a != framing]
    lead = f"{framing} of {subject} talking to the camera" if framing else f"{subject} talking to the camera"
    return _sentence(", ".join([lead] + rest))


def _overlapping(scene: Optional[SceneData], start_s: float, end_s: float) -> List[int]:
    if scene is None:
        return []
    ov = [(min(s.end_s, end_s) - max(s.start_s, start_s), i) for i, s in enumerate(scene.segments)]
    ov = [(o, i) for o, i in ov if o > 1e-6]
    keep = sorted(i for _, i in sorted(ov, reverse=True)[:MAX_SEGMENTS])
    return keep


def clip_duration(emotion: Optional[EmotionData], scene: Optional[SceneData]) -> float:
    """The clip's length as the inputs know it (emotion first, then scene; 0 without either)."""
    if emotion is not None:
        return float(emotion.duration_s)
    if scene is not None:
        return float(scene.duration_s)
    return 0.0


def video_prompt(emotion: Optional[EmotionData] = None, scene: Optional[SceneData] = None,
                 start_s: float = 0.0, end_s: Optional[float] = None, subject: str = "",
                 negative_base: str = WAN_NEGATIVE) -> VideoPrompt:
    """The prompt for ``[start_s, end_s)`` of the clip (``end_s`` None or <= 0: to the end).

    ``subject`` names who is shown ("a young woman with red hair"; default "a person").  With no
    scene, or a scene with no segments, the prompt still says who is shown and how they feel;
    with no emotion the face is described as calm.  A window past the clip's end reads the last
    frames' emotion (it is where an Extend chain runs on past the audio).
    """
    if emotion is not None and not isinstance(emotion, EmotionData):
        raise InvalidDataError(f"emotion: expected an SR_EMOTION value, got {type(emotion).__name__}")
    if scene is not None and not isinstance(scene, SceneData):
        raise InvalidDataError(f"scene: expected an SR_SCENE value, got {type(scene).__name__}")
    duration = clip_duration(emotion, scene)
    start = max(float(start_s), 0.0)
    end = duration if end_s is None or float(end_s) <= 0 else float(end_s)
    if end <= start and not (duration == 0.0 and start == 0.0):
        if start >= duration > 0:  # past the end of the clip: the last moment's state
            start, end = max(duration - 1e-3, 0.0), duration
        else:
            raise InvalidDataError(f"the window end ({end_s} s) must come after its start ({start_s} s)")
    summary = summarise_emotion(emotion, start, max(end, start + 1e-6))
    seg_ids = _overlapping(scene, start, end)
    parts = [_who(scene, seg_ids, subject)]
    described = []
    for i in seg_ids:
        d = _sentence(scene.segments[i].description)
        if d and d not in described:
            described.append(d)
    parts.extend(described or ["The person speaks to the camera."])
    parts.append(_sentence(emotion_description(summary)))
    parts.append(TAIL)
    negative = ", ".join(p for p in [negative_base.strip().rstrip(",，")] + opposite_cues(summary) if p)
    return VideoPrompt(positive=" ".join(parts), negative=negative, start_s=start, end_s=end, emotion=summary,
                       segments=seg_ids)


def window_prompt(emotion: Optional[EmotionData] = None, scene: Optional[SceneData] = None, model: str = "wan2.2_s2v",
                  window: int = -1, length: int = 77, start_s: float = 0.0, end_s: float = 0.0, subject: str = "",
                  negative_base: str = WAN_NEGATIVE) -> VideoPrompt:
    """The prompt of window ``window`` of ``model``'s chain for the node's ``length`` (see
    :mod:`.windows`); ``window`` -1: ``[start_s, end_s)`` (``end_s`` 0 = the whole clip)."""
    if int(window) >= 0:
        start_s, end_s = video_model(model).window_span(int(window), length)
    return video_prompt(emotion, scene, start_s, end_s, subject=subject, negative_base=negative_base)


__all__ = ["MAX_SEGMENTS", "TAIL", "VideoPrompt", "WAN_NEGATIVE", "clip_duration", "video_prompt", "window_prompt"]
