"""Transcription with timestamps by a Whisper model (transformers format) from a local folder.

The speech is cut into pieces of at most 30 s (Whisper's window), preferably in the middle of
a pause, each piece is transcribed with ``return_timestamps=True`` and the timestamped
segments are shifted to clip time, so text emotion lands where the words are spoken.
"""
from __future__ import annotations

import logging
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ModelNotFoundError
from ..models import load_transformers
from ..progress import CancelFn, ProgressFn, Steps
from ..types import SPEECH_SAMPLE_RATE, SpeechData
from ..transcript import TimedText

log = logging.getLogger("synchrorama.emotion")

CHUNK_S = 30.0
MIN_CUT_S = 20.0


def chunk_bounds(vad: np.ndarray, fps: float, duration_s: float, chunk_s: float = CHUNK_S,
                 min_cut_s: float = MIN_CUT_S) -> List[Tuple[float, float]]:
    """Pieces ``(start_s, end_s)`` of at most ``chunk_s`` seconds, cut in the middle of the longest
    pause between ``min_cut_s`` and ``chunk_s`` into the piece (or at ``chunk_s`` if none)."""
    out = []
    start = 0.0
    vad = np.asarray(vad) > 0.5
    while duration_s - start > chunk_s:
        i0, i1 = int(np.ceil((start + min_cut_s) * fps)), int(np.floor((start + chunk_s) * fps))
        seg = ~vad[i0:i1]
        cut = start + chunk_s
        if seg.any():
            # longest run of silent frames
            d = np.diff(np.concatenate([[0], seg.astype(np.int8), [0]]))
            s_idx, e_idx = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
            k = int(np.argmax(e_idx - s_idx))
            cut = (i0 + (s_idx[k] + e_idx[k]) / 2.0) / fps
        cut = min(max(cut, start + 1.0), start + chunk_s)
        out.append((start, cut))
        start = cut
    if duration_s - start > 1e-3 or not out:
        out.append((start, duration_s))
    return out


class WhisperTranscriber:
    """Whisper (``WhisperForConditionalGeneration`` + its processor) from a local folder."""

    kind = "whisper"

    def __init__(self, model, processor, path: str, device, language: str = "", max_new_tokens: int = 440):
        self.model, self.processor, self.path, self.device = model, processor, path, device
        self.language = (language or "").strip()
        self.max_new_tokens = int(max_new_tokens)
        self.name = f"whisper ({path.rstrip('/').split('/')[-1]})"

    @classmethod
    def load(cls, name_or_path: str, search_dirs: Optional[Sequence[str]] = None, device="cpu",
             language: str = "") -> "WhisperTranscriber":
        from transformers import AutoProcessor, WhisperForConditionalGeneration
        model, proc, path, dev, _ = load_transformers(
            "whisper", name_or_path, search_dirs, WhisperForConditionalGeneration, AutoProcessor,
            processor_files="processor files (preprocessor_config.json + tokenizer files)",
            model_desc="a WhisperForConditionalGeneration", device=device)
        if not hasattr(proc, "feature_extractor") or not hasattr(proc, "tokenizer"):
            raise ModelNotFoundError(f"whisper model folder {path}: the processor is {type(proc).__name__}, "
                                     f"not a Whisper processor (feature extractor + tokenizer)")
        return cls(model, proc, path, dev, language)

    def _generate(self, y: np.ndarray):
        import torch
        feats = self.processor.feature_extractor(y, sampling_rate=SPEECH_SAMPLE_RATE, return_tensors="pt")
        x = feats["input_features"].to(self.device, next(self.model.parameters()).dtype)
        kw = {"return_timestamps": True}
        gc = self.model.generation_config
        if getattr(gc, "is_multilingual", False):
            kw["task"] = "transcribe"
            if self.language:
                kw["language"] = self.language
        max_pos = getattr(self.model.config, "max_target_positions", 448)
        kw["max_new_tokens"] = max(1, min(self.max_new_tokens, max_pos - 4))
        with torch.inference_mode():
            out = self.model.generate(x, **kw)
        seq = out if torch.is_tensor(out) else out["sequences"]
        return seq[0].cpu().tolist()

    def transcribe(self, speech: SpeechData, progress: Optional[ProgressFn] = None,
                   cancelled: Optional[CancelFn] = None) -> List[TimedText]:
        """Timed segments of the whole clip (text stripped; empty segments dropped)."""
        y_all = np.asarray(speech.waveform, np.float32)
        sr = SPEECH_SAMPLE_RATE
        pieces = chunk_bounds(speech.features["vad"], speech.fps, speech.duration_s)
        steps = Steps(len(pieces), progress, cancelled, what="Whisper transcription")
        steps.check()
        segs: List[TimedText] = []
        tok = self.processor.tokenizer
        for c0, c1 in pieces:
            y = y_all[int(round(c0 * sr)):int(round(c1 * sr))]
            if len(y) == 0:
                steps.tick()
                continue
            ids = self._generate(y)
            dec = tok.decode(ids, skip_special_tokens=True, output_offsets=True)
            offsets = dec.get("offsets", []) if isinstance(dec, dict) else []
            length = c1 - c0
            got = False
            for o in offsets:
                text = (o.get("text") or "").strip()
                t0, t1 = o.get("timestamp", (0.0, length))
                t0 = float(t0 if t0 is not None else 0.0)
                t1 = float(t1 if t1 is not None else length)
                if not text or t0 >= length:
                    continue
                t1 = min(max(t1, t0 + 0.02), length)
                segs.append(TimedText(c0 + t0, c0 + t1, text, "whisper"))
                got = True
            if not got:
                text = (dec["text"] if isinstance(dec, dict) else str(dec)).strip()
                if text:  # no usable timestamps: the whole piece
                    segs.append(TimedText(c0, c1, text, "whisper"))
            steps.tick()
        return segs
