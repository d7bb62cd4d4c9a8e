"""Audio stage: decoding, resampling to 16 kHz mono, frame-aligned speech features (``SR_SPEECH``);
several speakers' tracks (split by turns, padded, mixed: :mod:`.tracks`)."""
from __future__ import annotations

from typing import Optional

from ..progress import CancelFn, ProgressFn
from ..types import SpeechData
from .features import compute_features, speech_from_waveform
from .tracks import Turn, mix_tracks, pad_tracks, parse_turns, split_turns, turn_speakers, turn_texts
from .io import (AUDIO_EXTENSIONS, decode_audio, load_speech_waveform, open_audio_blocks,
                 to_speech_waveform, trim_waveform)


def load_speech(path: str, fps: float = 25.0, start_s: float = 0.0, duration_s: Optional[float] = None,
                progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None) -> SpeechData:
    """Load an audio file as ``SR_SPEECH`` (decoded and analysed in blocks: bounded memory)."""
    y = load_speech_waveform(path, start_s=start_s, duration_s=duration_s)
    return speech_from_waveform(y, fps, source=str(path), start_s=float(start_s or 0.0),
                                progress=progress, cancelled=cancelled)


__all__ = ["AUDIO_EXTENSIONS", "Turn", "compute_features", "decode_audio", "load_speech", "load_speech_waveform",
           "mix_tracks", "open_audio_blocks", "pad_tracks", "parse_turns", "speech_from_waveform", "split_turns",
           "to_speech_waveform", "trim_waveform", "turn_speakers", "turn_texts"]
