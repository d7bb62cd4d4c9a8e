"""Model backends on audio: speech emotion recognition (SER) and valence/arousal regression.

Both run any transformers ``AutoModelForAudioClassification`` model (wav2vec2, HuBERT, WavLM,
...) from a local folder on sliding windows of the 16 kHz speech; the per-window outputs are
interpolated linearly onto the video frames.

* **SER** (kind ``ser``): the labels in ``config.json`` (``id2label``) are mapped onto the 8
  emotions by name (``common.EMOTION_SYNONYMS``: ``ang``/``anger``, ``hap``/``joy``, ``calm``, ...).
  Confidence = (1 - normalised entropy) × share of voice activity in the window.
* **VA** (kind ``va``): a regression head with (at least) the outputs named ``valence`` and
  ``arousal`` in ``id2label`` (``val``/``aro``/``activation``/``pleasure`` also accepted; more
  outputs such as ``dominance`` are ignored).  A head with exactly two generically named outputs
  (``LABEL_0``, ``LABEL_1``) is read as ``[valence, arousal]`` in that order.  Outputs are mapped
  from ``output_range`` (default -1..1) to -1..1 and clipped.  Confidence = share of voice
  activity in the window.
"""
from __future__ import annotations

import logging
import re
from typing import Optional, Sequence, Tuple

import numpy as np

from ..errors import ModelNotFoundError
from ..models import load_transformers
from ..progress import CancelFn, ProgressFn, Steps
from ..types import SPEECH_SAMPLE_RATE, EmotionPart, SpeechData
from .common import (LabelMappingError, activity_in, build_label_map, certainty, empty_part, probs_from_va,
                     softmax, window_starts, windows_to_frames)
from .text import _check_head

log = logging.getLogger("synchrorama.emotion")

MIN_WINDOW_SAMPLES = 8000  # 0.5 s: shorter clips are zero-padded to this


class _AudioWindowModel:
    kind = ""
    what = ""

    def __init__(self, model, extractor, path: str, device, window_s: float, hop_s: float, batch_size: int):
        if not (window_s > 0 and hop_s > 0):
            raise ValueError(f"window_s and hop_s must be > 0, got {window_s}, {hop_s}")
        self.model, self.extractor, self.path, self.device = model, extractor, path, device
        self.window_s, self.hop_s, self.batch_size = float(window_s), float(hop_s), max(int(batch_size), 1)
        self.name = f"transformers {self.what} ({path.rstrip('/').split('/')[-1]})"

    @classmethod
    def _load_parts(cls, name_or_path: str, search_dirs, device):
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification
        model, fe, path, dev, info = load_transformers(
            cls.kind, name_or_path, search_dirs, AutoModelForAudioClassification, AutoFeatureExtractor,
            processor_files="preprocessor_config.json (the audio feature extractor)",
            model_desc="an audio-classification model", device=device)
        _check_head(info, path, f"{cls.what} model")
        sr = getattr(fe, "sampling_rate", SPEECH_SAMPLE_RATE)
        if sr != SPEECH_SAMPLE_RATE:
            raise ModelNotFoundError(f"{cls.kind} model {path} expects {sr} Hz audio; SynchroRaMa feeds "
                                     f"{SPEECH_SAMPLE_RATE} Hz speech (use a 16 kHz model)")
        return model, fe, path, dev

    def window_outputs(self, speech: SpeechData, progress: Optional[ProgressFn] = None,
                       cancelled: Optional[CancelFn] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw model outputs per window ``[W, K]``, window centres (s) and voice activity ``[W]``."""
        import torch
        y = np.asarray(speech.waveform, np.float32)
        sr = SPEECH_SAMPLE_RATE
        win = max(int(round(self.window_s * sr)), 1)
        hop = max(int(round(self.hop_s * sr)), 1)
        starts = window_starts(len(y), win, hop)
        steps = Steps(-(-len(starts) // self.batch_size), progress, cancelled, what=f"{self.what} windows")
        steps.check()
        outs, centres, act = [], [], []
        vad = speech.features["vad"]
        for b0 in range(0, len(starts), self.batch_size):
            chunk = []
            for s in starts[b0:b0 + self.batch_size]:
                seg = y[s:s + win]
                e = s + len(seg)
                if len(seg) < MIN_WINDOW_SAMPLES:
                    seg = np.pad(seg, (0, MIN_WINDOW_SAMPLES - len(seg)))
                chunk.append(seg)
                centres.append((s + e) / 2.0 / sr)
                act.append(activity_in(vad, speech.fps, s / sr, e / sr))
            lens = {len(c) for c in chunk}
            if len(lens) > 1:  # only when the clip is shorter than a window: pad to the longest
                m = max(lens)
                chunk = [np.pad(c, (0, m - len(c))) for c in chunk]
            inputs = self.extractor(chunk, sampling_rate=sr, return_tensors="pt")
            inputs = {k: v.to(self.device) for k, v in inputs.items() if hasattr(v, "to")}
            if "input_values" in inputs:
                inputs["input_values"] = inputs["input_values"].to(next(self.model.parameters()).dtype)
            with torch.inference_mode():
                logits = self.model(**inputs).logits.float().cpu().numpy()
            outs.append(logits)
            steps.tick()
        return np.concatenate(outs, axis=0), np.array(centres), np.array(act)


class TransformersSER(_AudioWindowModel):
    """Speech emotion recognition with a transformers audio classifier, in sliding windows."""

    kind = "ser"
    what = "speech emotion"

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        cfg = self.model.config
        labels = [cfg.id2label[i] for i in range(cfg.num_labels)]
        self.label_map = build_label_map(labels, where=f"speech emotion model {self.path}")

    @classmethod
    def load(cls, name_or_path: str, search_dirs: Optional[Sequence[str]] = None, device="cpu",
             window_s: float = 2.0, hop_s: float = 0.5, batch_size: int = 8) -> "TransformersSER":
        model, fe, path, dev = cls._load_parts(name_or_path, search_dirs, device)
        return cls(model, fe, path, dev, window_s, hop_s, batch_size)

    def part(self, speech: SpeechData, progress: Optional[ProgressFn] = None,
             cancelled: Optional[CancelFn] = None) -> EmotionPart:
        n = speech.n_frames
        if n == 0:
            return empty_part(0, self.name)
        logits, centres, act = self.window_outputs(speech, progress, cancelled)
        p = softmax(logits, axis=1)
        probs, val, aro = self.label_map.apply(p)
        conf = certainty(p) * act
        probs_f = windows_to_frames(centres, probs, n, speech.fps)
        probs_f /= probs_f.sum(axis=1, keepdims=True)
        return EmotionPart(probs=probs_f.astype(np.float32),
                           valence=np.clip(windows_to_frames(centres, val, n, speech.fps), -1, 1).astype(np.float32),
                           arousal=np.clip(windows_to_frames(centres, aro, n, speech.fps), -1, 1).astype(np.float32),
                           confidence=np.clip(windows_to_frames(centres, conf, n, speech.fps), 0, 1).astype(np.float32),
                           backend=self.name)


_V_NAMES = re.compile(r"^(valence|val|pleasure|v)$")
_A_NAMES = re.compile(r"^(arousal|aro|activation|act|a)$")
_GENERIC = re.compile(r"^label\d+$")

VA_RANGES = {"-1..1": (-1.0, 1.0), "0..1": (0.0, 1.0), "1..5": (1.0, 5.0), "1..7": (1.0, 7.0)}


def va_output_indices(labels: Sequence[str], where: str = "the VA model") -> Tuple[int, int]:
    """Indices of the valence and arousal outputs among a regression head's labels."""
    norm = [re.sub(r"[^a-z0-9]", "", str(l).lower()) for l in labels]
    iv = [i for i, l in enumerate(norm) if _V_NAMES.match(l)]
    ia = [i for i, l in enumerate(norm) if _A_NAMES.match(l)]
    if len(iv) == 1 and len(ia) == 1:
        return iv[0], ia[0]
    if len(norm) == 2 and all(_GENERIC.match(l) for l in norm):
        return 0, 1
    raise LabelMappingError(
        f"{where} has outputs {list(labels)}; SynchroRaMa needs one named 'valence' and one named 'arousal' "
        f"(set id2label in its config.json, e.g. {{\"0\": \"valence\", \"1\": \"arousal\"}}; extra outputs such as "
        f"'dominance' are ignored)")


class TransformersVA(_AudioWindowModel):
    """Valence/arousal with a transformers audio regression model, in sliding windows."""

    kind = "va"
    what = "valence/arousal"

    def __init__(self, *a, output_range: Tuple[float, float] = (-1.0, 1.0), **kw):
        super().__init__(*a, **kw)
        cfg = self.model.config
        labels = [cfg.id2label[i] for i in range(cfg.num_labels)]
        self.iv, self.ia = va_output_indices(labels, where=f"valence/arousal model {self.path}")
        lo, hi = (VA_RANGES[output_range] if isinstance(output_range, str) else output_range)
        if not hi > lo:
            raise ValueError(f"output_range must be (low, high) with high > low, got {output_range}")
        self.output_range = (float(lo), float(hi))

    @classmethod
    def load(cls, name_or_path: str, search_dirs: Optional[Sequence[str]] = None, device="cpu",
             window_s: float = 2.0, hop_s: float = 0.5, batch_size: int = 8,
             output_range="-1..1") -> "TransformersVA":
        if isinstance(output_range, str) and output_range not in VA_RANGES:
            raise ValueError(f"output_range {output_range!r}: choose one of {list(VA_RANGES)}")
        model, fe, path, dev = cls._load_parts(name_or_path, search_dirs, device)
        return cls(model, fe, path, dev, window_s, hop_s, batch_size, output_range=output_range)

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        lo, hi = self.output_range
        return np.clip(2.0 * (np.asarray(x, np.float64) - lo) / (hi - lo) - 1.0, -1.0, 1.0)

    def part(self, speech: SpeechData, progress: Optional[ProgressFn] = None,
             cancelled: Optional[CancelFn] = None) -> EmotionPart:
        n = speech.n_frames
        if n == 0:
            return empty_part(0, self.name)
        out, centres, act = self.window_outputs(speech, progress, cancelled)
        v = self.to_unit(out[:, self.iv])
        a = self.to_unit(out[:, self.ia])
        vf = np.clip(windows_to_frames(centres, v, n, speech.fps), -1, 1).astype(np.float32)
        af = np.clip(windows_to_frames(centres, a, n, speech.fps), -1, 1).astype(np.float32)
        conf = np.clip(windows_to_frames(centres, act, n, speech.fps), 0, 1).astype(np.float32)
        return EmotionPart(probs=probs_from_va(vf, af), valence=vf, arousal=af, confidence=conf, backend=self.name)


__all__ = ["TransformersSER", "TransformersVA", "VA_RANGES", "va_output_indices"]
