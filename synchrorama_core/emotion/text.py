"""Text emotion per sentence, timed onto the video frames.

* :func:`split_sentences` cuts a transcript into sentences;
* :func:`spread_over_voiced` times them when nothing else is known: the voiced time of the
  clip (``vad``) is shared out in proportion to each sentence's syllables, with the sentence
  boundaries aligned jointly to the clip's pauses;
* :class:`TransformersTextEmotion` runs any transformers sequence-classification emotion or
  sentiment model from a local folder (labels mapped by name, see ``common.build_label_map``);
* :func:`text_part` turns timed segments and their emotions into the per-frame ``text`` part.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from ..errors import BackendError, ModelNotFoundError
from ..models import resolve_model
from ..progress import CancelFn, ProgressFn, Steps
from ..timing import frame_centers_s
from ..types import EmotionPart
from .common import N_EMO, build_label_map, certainty, empty_part, neutral_probs, softmax
from .lexicon import SegmentEmotion

log = logging.getLogger("synchrorama.emotion")


@dataclass
class TimedText:
    """A piece of transcript and the time it is spoken (seconds from the clip start)."""

    start_s: float
    end_s: float
    text: str
    timing: str = "spread"  # "spread" (estimated from voice activity) or "whisper"


_SENT = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n+")


def split_sentences(text: str) -> List[str]:
    """Sentences of a transcript (split after . ! ? … and at line breaks; empty pieces dropped)."""
    return [s.strip() for s in _SENT.split(text or "") if s and s.strip()]


def _weight(sentence: str) -> float:
    """Spoken length proxy in syllables: vowel groups per word (at least 1, so "hmm" counts),
    1.3 per digit (numbers are read out: "1999" is five syllables); at least 1."""
    w = 0.0
    for tok in re.findall(r"[a-z']+|\d", sentence.lower()):
        w += 1.3 if tok.isdigit() else max(len(re.findall(r"[aeiouy]+", tok)), 1)
    return max(w, 1.0)


#: alignment costs of :func:`spread_over_voiced` (tuned on espeak-ng speech at 120-200 wpm)
PAUSE_BONUS = 1.0     # reward for a boundary in a pause, × the pause length / the longest pause
NO_PAUSE_COST = 0.5   # cost of a boundary at the proportional estimate, in no pause
MAX_CANDIDATES = 48   # pauses considered per boundary (keeps long transcripts fast)


def spread_over_voiced(sentences: Sequence[str], vad: np.ndarray, fps: float,
                       pause_bonus: float = PAUSE_BONUS, no_pause_cost: float = NO_PAUSE_COST) -> List[TimedText]:
    """Time ``sentences`` over the voiced frames (``vad`` > 0.5) of a clip.

    Each sentence is expected to take voiced time in proportion to its syllable count
    (:func:`_weight`).  The boundaries between sentences are chosen jointly (dynamic
    programming) among the pauses of the clip and, as a fallback, the proportional estimates,
    minimising ``sum_k log(length_k / expected_k)^2`` minus ``pause_bonus`` × (pause length /
    longest pause) per boundary placed in a pause (plus ``no_pause_cost`` per boundary that is
    not).  So sentence ends land in pauses, longer pauses (full stops) win over shorter ones
    (commas), and one badly estimated sentence cannot push all later boundaries off.  With no
    voice activity at all the whole clip is used.
    """
    sentences = [s for s in sentences if s.strip()]
    n = len(vad)
    if not sentences or n == 0:
        return []
    active = np.flatnonzero(np.asarray(vad) > 0.5)
    if active.size == 0:
        active = np.arange(n)
    V, K = active.size, len(sentences)
    w = np.array([_weight(s) for s in sentences])
    cum = np.concatenate([[0.0], np.cumsum(w) / w.sum()]) * V
    expected = np.maximum(np.diff(cum), 1e-6)
    bounds = np.zeros(K + 1, np.int64)
    bounds[K] = V
    if K > 1:
        # pauses, in voiced-frame units: q where active[q] - active[q-1] > 1, and their lengths (frames)
        gaps = np.flatnonzero(np.diff(active) > 1) + 1
        glen = (active[gaps] - active[gaps - 1] - 1).astype(np.float64)
        reward = glen / glen.max() if glen.size else glen
        # candidates for boundary k (1..K-1): the MAX_CANDIDATES pauses nearest to its proportional
        # estimate (all of them in clips of a minute or so), then the estimate itself
        cands, ccosts = [], []
        for k in range(1, K):
            near = np.argsort(np.abs(gaps - cum[k]), kind="stable")[:MAX_CANDIDATES]
            cands.append(np.append(gaps[near], int(round(cum[k]))))
            ccosts.append(np.append(-pause_bonus * reward[near], no_pause_cost))

        def length_cost(a, b, k):
            ln = (np.asarray(b) - np.asarray(a)).astype(np.float64)
            with np.errstate(divide="ignore"):
                return np.where(ln >= 1, np.log(np.maximum(ln, 1e-9) / expected[k]) ** 2, np.inf)

        cost = length_cost(0, cands[0], 0) + ccosts[0]         # best cost with boundary 1 at each candidate
        back = []
        for k in range(1, K - 1):                            # boundary k+1 after boundary k
            tot = cost[:, None] + length_cost(cands[k - 1][:, None], cands[k][None, :], k) + ccosts[k][None, :]
            back.append(np.argmin(tot, axis=0))
            cost = tot[back[-1], np.arange(tot.shape[1])]
        cost = cost + length_cost(cands[K - 2], V, K - 1)
        c = int(np.argmin(cost))
        if np.isfinite(cost[c]):
            sel = [c]
            for b in reversed(back):
                sel.append(int(b[sel[-1]]))
            sel.reverse()
            bounds[1:K] = [cands[k][sel[k]] for k in range(K - 1)]
        else:  # more sentences than voiced frames: proportional, one frame at least each
            for k in range(1, K):
                bounds[k] = min(max(int(round(cum[k])), bounds[k - 1] + 1), V)
    out = []
    for k, s in enumerate(sentences):
        q0, q1 = bounds[k], bounds[k + 1]
        if q1 <= q0:  # more sentences than voiced frames: give it one frame
            q0 = min(q0, V - 1)
            q1 = q0 + 1
        f0, f1 = active[q0], active[q1 - 1] + 1
        out.append(TimedText(f0 / fps, f1 / fps, s, "spread"))
    return out


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


def resolve_device(device) -> "object":
    import torch
    if device is None or device == "" or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device) if not isinstance(device, torch.device) else device


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
        path = resolve_model("text_emotion", name_or_path, search_dirs, must_contain=("config.json",))
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        try:
            tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError, TypeError) as e:
            raise ModelNotFoundError(f"text_emotion model folder {path} has no usable tokenizer files "
                                     f"(tokenizer.json / vocab files): {e}") from e
        try:
            model, info = AutoModelForSequenceClassification.from_pretrained(
                path, local_files_only=True, use_safetensors=True, output_loading_info=True)
        except (OSError, ValueError) as e:
            raise ModelNotFoundError(f"cannot load the text_emotion model in {path} (it needs config.json and "
                                     f"model.safetensors of a sequence-classification model): {e}") from e
        _check_head(info, path, "text emotion model")
        dev = resolve_device(device)
        model.to(dev).eval()
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


__all__ = ["TimedText", "split_sentences", "spread_over_voiced", "text_part", "TransformersTextEmotion",
           "analyze_texts", "neutral_probs"]
