"""Phone timing with pocketsphinx (PyPI ``pocketsphinx`` 5.x, which bundles an en-us acoustic model,
the CMU dictionary and a phone language model: everything runs offline, nothing is downloaded).

* **With a transcript**: forced alignment.  Pass 1 aligns the words (a linear grammar of the
  transcript with optional pauses between words); pass 2 aligns the phones inside those word
  boundaries.  Pass 2 keeps a backtrace of every phone state in every 10 ms frame, so long clips
  are aligned in pieces of at most :data:`CHUNK_S` cut at pauses between words (memory stays
  flat); a clip that short is aligned in one piece.
* **Without one** (or when the transcript does not fit the audio): phone-loop recognition with the
  bundled phone language model, in pieces cut at pauses.  Rougher: it misses many closures.

Audio is the ``SR_SPEECH`` waveform (16 kHz) as 16-bit PCM plus a deterministic -70 dBFS dither:
pocketsphinx's front end breaks on runs of exact zeros (synthetic speech and gated recordings have
them) and then silently drops words.  Phone times are moved by :data:`FRAME_OFFSET_S`: a 10 ms
analysis frame ``k`` spans 25.6 ms from ``k * 10 ms``, so the boundary between frames ``k - 1`` and
``k`` lies at ``k * 10 ms + 7.8 ms``.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from ...progress import Steps
from ...types import SPEECH_SAMPLE_RATE
from .inventory import FILLERS
from .words import spell

SR = SPEECH_SAMPLE_RATE
FRAME_S = 0.01
FRAME_OFFSET_S = (410 / 2 - 80) / SR   # half the 25.6 ms window minus half the 10 ms hop
CHUNK_S = 20.0        # pass 2 aligns at most this much audio at once
FREE_CHUNK_S = 30.0   # phone recognition decodes at most this much at once
DITHER = 10 ** (-70 / 20)
MIN_PAUSE_S = 0.1     # a pause between words where a long clip may be cut
BLOCK_S = 30.0        # longer utterances are fed in blocks of this (cancel checks between them)
_STOPS = ("P", "B", "T", "D", "K", "G", "CH", "JH")


Segments = List[Tuple[float, float, str]]


class AlignmentFailed(RuntimeError):
    """The transcript could not be aligned with the audio (it does not fit it)."""


def import_error() -> Optional[str]:
    """Why pocketsphinx cannot be used here, or None when it can."""
    try:
        import pocketsphinx  # noqa: F401
    except Exception as e:  # ImportError, or a broken binary wheel (OSError)
        return f"{type(e).__name__}: {e}"
    return None


def _decoder(kind: str):
    """A new decoder for ``kind``: ``align`` (word and phone alignment) or ``phones`` (phone
    recognition).  Alignment scores the acoustic model on every second 10 ms frame (``ds=2``):
    30 % faster, phone boundaries still at 10 ms, frame accuracy 0.83 against 0.84.

    Each call gets its own (about 0.1 s to load the dictionary): a decoder keeps state from one
    utterance to the next (cepstral mean, searches), and a reused one was seen to fail aligning
    audio it had aligned before."""
    from pocketsphinx import Decoder
    if kind == "phones":
        # a uniform phone loop: the bundled phone language model at its default weight makes the
        # recogniser hear far fewer consonant closures (bilabial recall 0.17 against 0.32 here),
        # and at weight 1 it is about as good as none but 1.7x slower
        d = Decoder(lm=None, loglevel="FATAL", bestpath=False)
        d.add_allphone_file("phones", None)
        d.activate_search("phones")
        return d
    # no language model: the alignment grammar is the search.  Beams wider than the defaults
    # (1e-48, 7e-29): audio fed in blocks over minutes of speech otherwise loses the path (seen
    # on 5 minutes of the bundled sample), at the same speed.
    return Decoder(lm=None, loglevel="FATAL", bestpath=False, ds=2, beam=1e-80, pbeam=1e-80, wbeam=1e-60)


def pcm16(waveform: np.ndarray) -> np.ndarray:
    """16-bit PCM of a float waveform with the deterministic dither pocketsphinx needs (made in
    blocks, so a long clip costs no float copies of itself)."""
    y = np.asarray(waveform, np.float32)
    out = np.empty(len(y), np.int16)
    rng = np.random.default_rng(0)
    block = 60 * SR
    for a in range(0, len(y), block):
        x = y[a:a + block] + rng.standard_normal(len(y[a:a + block])).astype(np.float32) * DITHER
        out[a:a + block] = (np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)
    return out


def _decode(d, pcm: np.ndarray, steps: Optional[Steps] = None) -> None:
    """Decode one utterance.  Up to :data:`BLOCK_S` it goes in one call (normalised over the
    whole utterance); longer audio goes in blocks with a cancel check between them (the cepstral
    mean then adapts as it goes)."""
    block = int(BLOCK_S * SR)
    d.start_utt()
    try:
        if len(pcm) <= block:
            d.process_raw(pcm.tobytes(), full_utt=True)
        else:
            for a in range(0, len(pcm), block):
                if steps is not None:
                    steps.check()
                d.process_raw(pcm[a:a + block].tobytes())
    finally:
        d.end_utt()


def _word_list(d, words: List[str]) -> Tuple[List[str], List[str]]:
    """Words the dictionary knows, adding spelled-out pronunciations for the others; also the
    words that had to be spelled."""
    out, spelled = [], []
    for w in words:
        if d.lookup_word(w) is None:
            phones = spell(w)
            if not phones:
                continue
            d.add_word(w, phones, True)
            spelled.append(w)
        out.append(w)
    return out, spelled


def _pass1(d, text_words: List[str], pcm: np.ndarray, steps: Optional[Steps] = None
           ) -> List[Tuple[str, int, int]]:
    """Word alignment: ``[(word, first_frame, last_frame)]`` (pauses as ``<sil>``)."""
    d.set_align_text(" ".join(text_words))
    _decode(d, pcm, steps)
    if d.hyp() is None:
        raise AlignmentFailed("the words could not be aligned with the audio")
    return [(s.word, s.start_frame, s.end_frame) for s in (d.seg() or ())]


def _pass2(d, pcm: np.ndarray) -> Tuple[Segments, List[Tuple[float, float, str]]]:
    """Phone alignment inside the word boundaries of the pass 1 just run; times in seconds."""
    try:
        d.set_alignment()
        _decode(d, pcm)
    except RuntimeError as e:
        raise AlignmentFailed(f"phone alignment failed ({e})") from e
    al = d.get_alignment()
    if al is None:
        raise AlignmentFailed("phone alignment failed")
    phones = [(p.start * FRAME_S, (p.start + p.duration) * FRAME_S, p.name) for p in al.phones()]
    words = [(w.start * FRAME_S, (w.start + w.duration) * FRAME_S, w.name) for w in al.words()]
    return phones, words


def _is_pause(word: str) -> bool:
    return word in FILLERS or word[:1] in "<+["


def _chunks(segs: List[Tuple[str, int, int]], n_frames: int) -> List[Tuple[int, int, List[str]]]:
    """Pieces ``(first_frame, end_frame, words)`` of at most about ``CHUNK_S``, cut in the middle
    of pauses between words (at a word boundary if a stretch has no pause)."""
    max_fr = int(CHUNK_S / FRAME_S)
    words = [(w.split("(")[0], sf, ef) for w, sf, ef in segs if not _is_pause(w)]
    pauses = [(sf + ef + 1) // 2 for w, sf, ef in segs
              if _is_pause(w) and (ef - sf + 1) * FRAME_S >= MIN_PAUSE_S]
    bounds = [sf for _, sf, _ in words[1:]]
    cuts, start = [], 0
    while n_frames - start > max_fr:
        limit = start + max_fr
        c = max([p for p in pauses if start + max_fr // 4 < p <= limit], default=None)
        if c is None:
            c = max([b for b in bounds if start < b <= limit], default=limit)
        cuts.append(c)
        start = c
    edges = [0] + cuts + [n_frames]
    pieces = []
    for f0, f1 in zip(edges[:-1], edges[1:]):
        ws = [w for w, sf, ef in words if f0 <= (sf + ef) // 2 < f1]
        if ws:
            pieces.append((f0, f1, ws))
        elif pieces:  # a stretch without words joins the piece before it
            pieces[-1] = (pieces[-1][0], f1, pieces[-1][2])
    if pieces and pieces[0][0] > 0:
        pieces[0] = (0, pieces[0][1], pieces[0][2])
    return pieces


def align(waveform: np.ndarray, words: List[str], steps: Steps) -> Tuple[Segments, list, dict]:
    """Forced alignment of ``words`` (lower-case, from :func:`~.words.transcript_words`).

    Returns phones ``[(start_s, end_s, ARPABET)]``, words ``[(start_s, end_s, word)]`` and
    details; raises :class:`AlignmentFailed` when the words do not fit the audio."""
    pcm = pcm16(waveform)
    n_fr = len(pcm) // int(SR * FRAME_S)
    d = _decoder("align")
    text_words, spelled = _word_list(d, words)
    if not text_words:
        raise AlignmentFailed("the transcript has no words to align")
    if n_fr * FRAME_S <= CHUNK_S * 1.5:
        pieces = [(0, n_fr, None)]
        _pass1(d, text_words, pcm, steps)
    else:
        # a first pass over the whole clip (its own decoder) finds which words lie between which pauses
        coarse = _decoder("align")
        _word_list(coarse, words)
        pieces = _chunks(_pass1(coarse, text_words, pcm, steps), n_fr)
        del coarse
    steps.tick()
    phones: Segments = []
    aligned_words: list = []
    free_s = 0.0
    for f0, f1, piece_words in pieces:
        steps.check()
        off = f0 * FRAME_S
        part = pcm[f0 * int(SR * FRAME_S): f1 * int(SR * FRAME_S)]
        try:
            if piece_words is not None:
                _pass1(d, piece_words, part)
            p, w = _pass2(d, part)
        except AlignmentFailed:
            if piece_words is None:
                raise
            # one piece of a long clip: recognise its phones freely, keep the rest aligned
            p = [(a - FRAME_OFFSET_S, b - FRAME_OFFSET_S, ph)
                 for a, b, ph in recognise(waveform[f0 * int(SR * FRAME_S): f1 * int(SR * FRAME_S)])]
            w = []
            free_s += (f1 - f0) * FRAME_S
            d = _decoder("align")
            _word_list(d, words)
        phones += [(a + off + FRAME_OFFSET_S, b + off + FRAME_OFFSET_S, ph) for a, b, ph in p]
        aligned_words += [(a + off + FRAME_OFFSET_S, b + off + FRAME_OFFSET_S, x) for a, b, x in w
                          if x not in FILLERS]
        steps.tick()
    info = {"words": len(text_words), "spelled_words": spelled, "pieces": len(pieces)}
    if free_s:
        info["pieces_recognised_freely_s"] = round(free_s, 2)
    return phones, aligned_words, info


def _pause_cuts(waveform: np.ndarray, max_s: float) -> List[Tuple[int, int]]:
    """Sample ranges of at most ``max_s`` covering the audio, cut at the quietest 10 ms."""
    n = len(waveform)
    size = int(max_s * SR)
    if n <= size:
        return [(0, n)]
    hop = int(FRAME_S * SR)
    e = np.convolve(np.asarray(waveform, np.float64) ** 2, np.ones(hop), "valid")[::hop]
    cuts, a = [], 0
    while n - a > size:
        lo, hi = (a + size // 2) // hop, (a + size) // hop
        c = (lo + int(np.argmin(e[lo:hi]))) * hop if hi > lo else a + size
        cuts.append((a, c))
        a = c
    cuts.append((a, n))
    return cuts


def recognise(waveform: np.ndarray, steps: Optional[Steps] = None,
              spans: Optional[List[Tuple[float, float]]] = None) -> Segments:
    """Free phone recognition of the whole waveform, or of the ``spans`` ``[(start_s, end_s)]``
    only: ``[(start_s, end_s, ARPABET)]``."""
    pcm = pcm16(waveform)
    pieces = _pause_cuts(waveform, FREE_CHUNK_S) if spans is None else \
        [(int(a * SR), int(b * SR)) for a, b in spans if b > a]
    phones: Segments = []
    d = _decoder("phones")
    for a, b in pieces:
        if steps is not None:
            steps.check()
        _decode(d, pcm[a:b])
        off = a / SR + FRAME_OFFSET_S
        phones += [(s.start_frame * FRAME_S + off, (s.end_frame + 1) * FRAME_S + off, s.word)
                   for s in (d.seg() or ())]
        if steps is not None:
            steps.tick()
    return closures_before_stops(phones)


def closures_before_stops(phones: Segments, max_gap_s: float = 0.15) -> Segments:
    """A short pause right before a stop is that stop's closure (the lips or tongue are already
    shut): the recogniser often labels it silence.  Give it to the stop."""
    out = list(phones)
    for i in range(1, len(out) - 1):
        a, b, p = out[i]
        if p in ("SIL", "sil") and b - a <= max_gap_s and out[i + 1][2] in _STOPS and out[i - 1][2] not in ("SIL",):
            na, nb, q = out[i + 1]
            out[i] = (a, a, "SIL")
            out[i + 1] = (a, nb, q)
    return [s for s in out if s[1] > s[0]]


_DICT: Optional[frozenset] = None


def dictionary() -> frozenset:
    """The words of the bundled English dictionary (read once)."""
    global _DICT
    if _DICT is None:
        from pocketsphinx import get_model_path
        with open(get_model_path("en-us/cmudict-en-us.dict"), encoding="utf-8", errors="replace") as f:
            _DICT = frozenset(line.split(" ", 1)[0] for line in f if line.strip())
    return _DICT
