"""Emotion stage: text sentiment + speech emotion + valence/arousal, fused over time (``SR_EMOTION``).

Zero-download defaults (VADER + own word lists for text, prosody for speech and V/A) run on
CPU in milliseconds; model backends (transformers text classifier, audio classifier, audio
regression, Whisper) load from local folders only.  Importing this package does not import
torch or transformers.
"""
from __future__ import annotations

from .common import LabelMappingError, MODALITIES, build_label_map, map_label
from .embed import DEFAULT_WEIGHTS, embed_emotion, summarize, timed_transcript
from .fusion import TARGETS, apply_intensity, blend_emotion, fuse
from .lexicon import LexiconTextEmotion, SegmentEmotion
from .plot import draw_timeline
from .text import text_part


def load_text_model(name_or_path, search_dirs=None, device="cpu", **kw):
    """A transformers text emotion/sentiment classifier from a local folder (kind ``text_emotion``)."""
    from .text import TransformersTextEmotion
    return TransformersTextEmotion.load(name_or_path, search_dirs, device=device, **kw)


def load_ser_model(name_or_path, search_dirs=None, device="cpu", **kw):
    """A transformers audio-classification speech emotion model from a local folder (kind ``ser``)."""
    from .audio_models import TransformersSER
    return TransformersSER.load(name_or_path, search_dirs, device=device, **kw)


def load_va_model(name_or_path, search_dirs=None, device="cpu", **kw):
    """A transformers audio valence/arousal regression model from a local folder (kind ``va``)."""
    from .audio_models import TransformersVA
    return TransformersVA.load(name_or_path, search_dirs, device=device, **kw)


def load_whisper_model(name_or_path, search_dirs=None, device="cpu", **kw):
    """A Whisper model (transformers format) from a local folder (kind ``whisper``)."""
    from .whisper import WhisperTranscriber
    return WhisperTranscriber.load(name_or_path, search_dirs, device=device, **kw)


__all__ = ["DEFAULT_WEIGHTS", "LabelMappingError", "LexiconTextEmotion", "MODALITIES", "SegmentEmotion",
           "TARGETS", "apply_intensity", "blend_emotion", "build_label_map", "draw_timeline",
           "embed_emotion", "fuse", "load_ser_model", "load_text_model", "load_va_model", "load_whisper_model",
           "map_label", "summarize", "text_part", "timed_transcript"]
