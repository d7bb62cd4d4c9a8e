"""The transcript, split into sentences and placed in time: one timer for every stage.

* :func:`split_sentences` cuts a transcript into sentences (after . ! ? and an ellipsis, closing
  quotes and brackets kept with their sentence, and at line breaks);
* :func:`split_units` does the same and cuts a sentence too long to say in one breath
  (> ``max_unit_s`` at ``chars_per_s``) at its commas, semicolons, colons and dashes;
* :func:`spread_over_voiced` times sentences when nothing else is known: the voiced time of the
  clip (``vad``) is shared out in proportion to each sentence's syllables, with the sentence
  boundaries aligned jointly to the clip's pauses.

The emotion stage times its per-sentence text emotion with it and the scene describer its
segments, so both place the same sentence at the same time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Sequence

import numpy as np


@dataclass
class TimedText:
    """A piece of transcript and the time it is spoken (seconds from the clip start)."""

    start_s: float
    end_s: float
    text: str
    timing: str = "spread"  # "spread" (estimated from voice activity) or "whisper"


_SENT = re.compile(r"(?<=[.!?\u2026])[\"'\u201d\u2019)\]]*\s+|\n\s*")


def split_sentences(text: str) -> List[str]:
    """Sentences of a transcript (split after . ! ? … and at line breaks; empty pieces dropped)."""
    return [s.strip() for s in _SENT.split((text or "").replace("\r", "\n")) if s and s.strip()]


_CLAUSE_END = re.compile(r"(?<=[,;:\u2014\u2013])\s+|\s+(?=\u2014)")
MAX_UNIT_S = 5.0        # sentences estimated longer than this are split into clauses


def split_units(text: str, chars_per_s: float = 14.0, max_unit_s: float = MAX_UNIT_S) -> List[str]:
    """Sentences of ``text``; a sentence that would take longer than ``max_unit_s`` to say (at
    ``chars_per_s``) is split at its commas, semicolons, colons and dashes into clauses of about
    that length."""
    units: List[str] = []
    for sent in split_sentences(text):
        sent = " ".join(sent.split())
        if len(sent) / chars_per_s <= max_unit_s:
            units.append(sent)
            continue
        cur = ""
        for clause in _CLAUSE_END.split(sent):
            clause = clause.strip()
            if not clause:
                continue
            if cur and len(cur) + 1 + len(clause) > max_unit_s * chars_per_s:
                units.append(cur)
                cur = clause
            else:
                cur = f"{cur} {clause}".strip()
        if cur:
            units.append(cur)
    return units


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




def emotion_transcript(emotion) -> str:
    """The transcript an ``SR_EMOTION`` was embedded with (``meta["transcript"]``: typed into the Emotion
    Embedder, or Whisper's), or ``""``: what the stages after it fall back on when given no text."""
    meta = getattr(emotion, "meta", None)
    return str(meta.get("transcript") or "").strip() if isinstance(meta, dict) else ""


__all__ = ["MAX_UNIT_S", "TimedText", "emotion_transcript", "split_sentences", "split_units", "spread_over_voiced"]
