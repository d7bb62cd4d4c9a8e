"""The emotion embedder: transcript -> text part, speech -> SER part and V/A part, fused."""
from __future__ import annotations

import logging
from typing import Callable, Dict, List, Optional

import numpy as np

from ..errors import InvalidDataError
from ..progress import CancelFn, ProgressFn, Steps
from ..types import EMOTIONS, EmotionData, SpeechData
from . import prosody
from .common import empty_part
from .fusion import fuse
from .lexicon import LexiconTextEmotion
from ..transcript import TimedText, split_sentences, spread_over_voiced
from .text import analyze_texts, text_part

log = logging.getLogger("synchrorama.emotion")

DEFAULT_WEIGHTS = {"text": 1.0, "speech": 1.0, "va": 1.0}
_LEXICON: Optional[LexiconTextEmotion] = None


def default_text_analyzer() -> LexiconTextEmotion:
    global _LEXICON
    if _LEXICON is None:
        _LEXICON = LexiconTextEmotion()
    return _LEXICON


def _sub(progress: Optional[ProgressFn], lo: float, hi: float) -> Optional[Callable[[int, int], None]]:
    """A progress callback mapping a stage's ``(done, total)`` into ``[lo, hi]`` of 1000."""
    if progress is None:
        return None

    def cb(done, total):
        progress(int(round(1000 * (lo + (hi - lo) * done / max(total, 1)))), 1000)
    return cb


def timed_transcript(speech: SpeechData, transcript: str = "", whisper_model=None,
                     progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None
                     ) -> List[TimedText]:
    """The transcript as timed segments: the user's text spread over the voiced time, or (when no
    text is given and a Whisper model is) Whisper's timestamped transcription; else nothing."""
    text = (transcript or "").strip()
    if text:
        return spread_over_voiced(split_sentences(text), speech.features["vad"], speech.fps)
    if whisper_model is not None:
        return whisper_model.transcribe(speech, progress=progress, cancelled=cancelled)
    return []


def embed_emotion(speech: SpeechData, transcript: str = "", *, text_model=None, ser_model=None, va_model=None,
                  whisper_model=None, weights: Optional[Dict[str, float]] = None, smoothing_s: float = 0.3,
                  intensity: float = 1.0, target: str = "none", target_strength: float = 0.0,
                  progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None) -> EmotionData:
    """``SR_EMOTION`` of ``speech`` (and its transcript).

    Each modality uses its model backend when one is given, else its zero-download default:
    text -> :class:`LexiconTextEmotion` / ``TransformersTextEmotion``; speech ->
    :func:`prosody.speech_part` / ``TransformersSER``; va -> :func:`prosody.va_part` /
    ``TransformersVA``; transcript timing -> spread over voice activity / ``WhisperTranscriber``
    (used only when ``transcript`` is empty).  See :func:`fusion.fuse` for the fusion parameters.
    """
    if not isinstance(speech, SpeechData):
        raise InvalidDataError(f"expected an SR_SPEECH value, got {type(speech).__name__}; "
                               f"connect a SynchroRaMa Load Audio or Speech Features node")
    w = dict(DEFAULT_WEIGHTS)
    for k, v in (weights or {}).items():
        if k not in DEFAULT_WEIGHTS:
            raise InvalidDataError(f"unknown modality {k!r} in weights; use {list(DEFAULT_WEIGHTS)}")
        w[k] = float(v)
    n, fps = speech.n_frames, speech.fps
    stop = Steps(1, None, cancelled, what="emotion embedding")
    stop.check()
    if progress is not None:
        progress(0, 1000)

    # Model backends whose weight is 0 are not run (their part is left empty); the cheap defaults
    # always run so their part can still be inspected.  Either way a weight of 0 removes the
    # modality from the fusion exactly.
    use_whisper = whisper_model if w["text"] > 0 else None
    segments = timed_transcript(speech, transcript, use_whisper, _sub(progress, 0.0, 0.35), cancelled)
    source = "user text" if (transcript or "").strip() else ("whisper" if use_whisper is not None else "none")
    if text_model is not None and w["text"] == 0:
        segments, seg_emotions, tname = [], [], text_model.name + " (weight 0: not run)"
    else:
        analyzer = text_model if text_model is not None else default_text_analyzer()
        seg_emotions = analyze_texts(analyzer, [s.text for s in segments], _sub(progress, 0.35, 0.5), cancelled)
        tname = analyzer.name
    parts = {"text": text_part(segments, seg_emotions, n, fps, tname)}
    stop.check()

    z = None
    if ser_model is not None and w["speech"] > 0:
        parts["speech"] = ser_model.part(speech, progress=_sub(progress, 0.5, 0.75), cancelled=cancelled)
    elif ser_model is not None:
        parts["speech"] = empty_part(n, ser_model.name + " (weight 0: not run)")
    else:
        z = prosody.cue_zscores(speech)
        parts["speech"] = prosody.speech_part(speech, z)
    stop.check()
    if va_model is not None and w["va"] > 0:
        parts["va"] = va_model.part(speech, progress=_sub(progress, 0.75, 0.97), cancelled=cancelled)
    elif va_model is not None:
        parts["va"] = empty_part(n, va_model.name + " (weight 0: not run)")
    else:
        parts["va"] = prosody.va_part(speech, z)
    stop.check()

    meta = {
        "transcript_source": source,
        # the whole transcript (typed, or Whisper's), carried on so the Scene Describer need not be given it again
        "transcript": (transcript or "").strip() if source == "user text" else " ".join(s.text for s in segments),
        "segments": [{"start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3), "text": s.text, "timing": s.timing,
                      "valence": round(float(e.valence), 4), "arousal": round(float(e.arousal), 4),
                      "emotion": EMOTIONS[int(np.argmax(e.probs))], "confidence": round(float(e.confidence), 4),
                      **{k: v for k, v in e.detail.items() if isinstance(v, (int, float, str))}}
                     for s, e in zip(segments, seg_emotions)],
        "speech_source": speech.source,
    }
    if (transcript or "").strip() and whisper_model is not None:
        meta["note"] = "a transcript was typed, so Whisper was not run (clear the text to transcribe)"
    emo = fuse(parts, w, fps, speech.duration_s, smoothing_s=smoothing_s, intensity=intensity, target=target,
               target_strength=target_strength, meta=meta)
    if progress is not None:
        progress(1000, 1000)
    return emo


def summarize(emotion: EmotionData) -> str:
    """One line: duration, dominant emotions, mean valence/arousal/intensity, the parts and weights."""
    n = emotion.n_frames
    if n == 0:
        return f"SR_EMOTION: empty ({emotion.duration_s:.2f} s at {emotion.fps:g} fps)"
    mp = emotion.probs.mean(axis=0)
    order = np.argsort(-mp)[:2]
    top = ", ".join(f"{EMOTIONS[i]} {mp[i] * 100:.0f}%" for i in order)
    parts = "; ".join(f"{k}={p.backend} (w {emotion.weights.get(k, 1.0):g}, conf {p.confidence.mean():.2f})"
                      for k, p in emotion.parts.items())
    tgt = emotion.meta.get("target", "none")
    extra = f"; target {tgt} x{emotion.meta.get('target_strength', 0):g}" if tgt != "none" else ""
    return (f"SR_EMOTION {emotion.duration_s:.1f} s @ {emotion.fps:g} fps: {top}; valence "
            f"{emotion.valence.mean():+.2f}, arousal {emotion.arousal.mean():+.2f}, intensity "
            f"{emotion.intensity.mean():.2f}{extra} | {parts}")
