"""Text emotion per sentence, timed onto the video frames.

* sentences come from :mod:`synchrorama_core.transcript` (split and timed there, shared with
  the scene stage);
* :class:`TransformersTextEmotion` runs any transformers sequence-classification emotion or
  sentiment model from a local folder (labels mapped by name, see ``common.build_label_map``);
* :func:`text_part` turns timed segments and their emotions into the per-frame ``text`` part.
"""
from __future__ import annotations

import logging
from typing import List, Optional, Sequence

import numpy as np

from ..errors import BackendError
from ..models import load_transformers
from ..progress import CancelFn, ProgressFn, Steps
from ..timing import frame_centers_s
from ..types import EmotionPart
from .common import build_label_map, certainty, empty_part, neutral_probs, softmax
from ..transcript import TimedText
from .lexicon import SegmentEmotion

log = logging.getLogger("synchrorama.emotion")


def text_part(segments: Sequence[TimedText], emotions: Sequence[SegmentEmotion], n: int, fps: float,
              backend: str, gap_confidence: float = 0.5) -> EmotionPart:
    """Per-frame ``text`` part: a segment's emotion over its frames; between segments the two
    neighbours are interpolated (confidence × ``gap_confidence``); before the first and after
    the last segment the nearest one is held (confidence × ``gap_confidence``)."""
    if not segments or n == 0:
        return empty_part(n, backend + " (no transcript)" if not segments else backend)
    order = np.argsort([s.start_s for s in segments], kind="stable")
    segs = [segments[i] for i in order]
    emos = [emotions[i] for i in order]
    t = frame_centers_s(n, fps)
    P = np.stack([e.probs for e in emos]).astype(np.float64)
    V = np.array([e.valence for e in emos], np.float64)
    A = np.array([e.arousal for e in emos], np.float64)
    C = np.array([e.confidence for e in emos], np.float64)
    starts = np.array([s.start_s for s in segs])
    ends = np.maximum(np.array([s.end_s for s in segs]), starts + 1e-6)
    nxt = np.searchsorted(starts, t, side="right")  # first segment starting after t
    prev = nxt - 1                                   # last segment starting at or before t
    k_in = np.where((prev >= 0) & (t < ends[np.clip(prev, 0, None)]), prev, -1)  # frame inside it
    K = len(segs)
    p = np.clip(prev, 0, K - 1)
    q = np.clip(nxt, 0, K - 1)
    span = np.maximum(starts[q] - ends[p], 1e-6)
    x = np.clip((t - ends[p]) / span, 0.0, 1.0)
    x = np.where(prev < 0, 1.0, np.where(nxt >= K, 0.0, x))  # hold the nearest at both ends
    probs = (1 - x)[:, None] * P[p] + x[:, None] * P[q]
    val = (1 - x) * V[p] + x * V[q]
    aro = (1 - x) * A[p] + x * A[q]
    conf = np.minimum(np.where(prev < 0, C[q], C[p]), np.where(nxt >= K, C[p], C[q])) * gap_confidence
    ins = k_in >= 0
    kk = k_in[ins]
    probs[ins], val[ins], aro[ins], conf[ins] = P[kk], V[kk], A[kk], C[kk]
    return EmotionPart(probs=probs.astype(np.float32), valence=np.clip(val, -1, 1).astype(np.float32),
                       arousal=np.clip(aro, -1, 1).astype(np.float32),
                       confidence=np.clip(conf, 0, 1).astype(np.float32), backend=backend)


# --------------------------------------------------------------------------------------
# transformers text classifier
# --------------------------------------------------------------------------------------

def _check_head(info: dict, path: str, what: str) -> None:
    missing = sorted(k for k in (info or {}).get("missing_keys", []) or []
                     if any(h in k for h in ("classifier", "score", "projector", "head", "pooler")))
    if missing:
        raise BackendError(
            f"{what} at {path} has no trained classification head in its weights (missing {missing[:4]}). "
            f"This folder holds a base model; use a model fine-tuned for the task")
    other = sorted((info or {}).get("missing_keys", []) or [])
    if other:
        log.warning("SynchroRaMa: %s at %s: weights not in the checkpoint (left as initialised): %s",
                    what, path, other[:6])


class TransformersTextEmotion:
    """A transformers sequence-classification emotion/sentiment model from a local folder."""

    kind = "text_emotion"

    def __init__(self, model, tokenizer, path: str, device, batch_size: int = 16, max_length: int = 256):
        self.model, self.tokenizer, self.path = model, tokenizer, path
        self.device = device
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.label_map = build_label_map(labels, where=f"text emotion model {path}")
        self.multi_label = getattr(model.config, "problem_type", None) == "multi_label_classification"
        self.name = f"transformers text classifier ({path.rstrip('/').split('/')[-1]})"

    @classmethod
    def load(cls, name_or_path: str, search_dirs: Optional[Sequence[str]] = None, device="cpu",
             batch_size: int = 16, max_length: int = 256) -> "TransformersTextEmotion":
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        model, tok, path, dev, info = load_transformers(
            "text_emotion", name_or_path, search_dirs, AutoModelForSequenceClassification, AutoTokenizer,
            processor_files="tokenizer files (tokenizer.json / vocab files)",
            model_desc="a sequence-classification model", device=device)
        _check_head(info, path, "text emotion model")
        return cls(model, tok, path, dev, batch_size, max_length)

    def label_probs(self, texts: Sequence[str], steps: Optional[Steps] = None) -> np.ndarray:
        """Probabilities over the model's own labels ``[len(texts), K]``."""
        import torch
        out = []
        for i in range(0, len(texts), self.batch_size):
            batch = list(texts[i:i + self.batch_size])
            enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length,
                                 return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            with torch.inference_mode():
                logits = self.model(**enc).logits.float().cpu().numpy()
            if self.multi_label:
                s = 1.0 / (1.0 + np.exp(-logits))
                p = s / np.maximum(s.sum(axis=1, keepdims=True), 1e-12)
            else:
                p = softmax(logits, axis=1)
            out.append(p)
            if steps is not None:
                steps.tick()
        return np.concatenate(out, axis=0) if out else np.zeros((0, len(self.label_map.labels)))

    def analyze(self, texts: Sequence[str], progress: Optional[ProgressFn] = None,
                cancelled: Optional[CancelFn] = None) -> List[SegmentEmotion]:
        texts = [t if t.strip() else "." for t in texts]
        if not texts:
            return []
        steps = Steps(-(-len(texts) // self.batch_size), progress, cancelled, what="text emotion")
        p = self.label_probs(texts, steps)
        probs, val, aro = self.label_map.apply(p)
        conf = certainty(p)
        top = p.argmax(axis=1)
        return [SegmentEmotion(probs[i], float(val[i]), float(aro[i]), float(conf[i]),
                               {"label": self.label_map.labels[top[i]], "score": round(float(p[i, top[i]]), 4)})
                for i in range(len(texts))]


def analyze_texts(analyzer, texts: Sequence[str], progress: Optional[ProgressFn] = None,
                  cancelled: Optional[CancelFn] = None) -> List[SegmentEmotion]:
    """Run any text analyser (lexicon or model) with progress/cancel where it supports them."""
    if isinstance(analyzer, TransformersTextEmotion):
        return analyzer.analyze(texts, progress=progress, cancelled=cancelled)
    steps = Steps(len(texts), progress, cancelled, what="text emotion")
    out = []
    for t in texts:
        out.append(analyzer.analyze([t])[0])
        steps.tick()
    return out


__all__ = ["text_part", "TransformersTextEmotion",
           "analyze_texts", "neutral_probs"]
