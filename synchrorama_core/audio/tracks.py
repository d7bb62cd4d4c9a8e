"""Several speakers' audio: one track per speaker, or one track split by time ranges; the mix.

A conversation has one speech track per speaker (speaker ``k`` is person ``k`` of the cast).
They come either as separate files, or as one recording of several voices with the turns given
as time ranges (``"0-2.5:0, 2.5-6:1, 6-end:0"``: from 0 to 2.5 s speaker 0 speaks, ...), or as a
script of one turn per line with its words (``"0-2.5:0 Hello there!"``), which also gives each
speaker's transcript (:func:`turn_texts`).
:func:`split_turns` makes one track per speaker from such a recording: each keeps its own turns
and is silent elsewhere (10 ms fades, so no click reads as speech).  Time not covered by any
turn is silent in every track (nobody's lips move there).

:func:`pad_tracks` gives tracks of different lengths the longest one's length (the shorter
speaker rests at the end); :func:`mix_tracks` mixes decoded tracks for the video's sound (at the
highest sample rate among them, stereo when any is stereo, scaled down only if the sum would clip).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..errors import AudioError, InvalidDataError

#: fade at each turn's edges (seconds), so a cut does not click
FADE_S = 0.01


@dataclass(frozen=True)
class Turn:
    """Speaker ``speaker`` (0-based) speaks from ``start_s`` to ``end_s`` (``math.inf``: to the end),
    saying ``text`` (optional: the words of the turn, for that speaker's transcript)."""

    start_s: float
    end_s: float
    speaker: int
    text: str = ""


_RANGE = r"\s*([0-9]*\.?[0-9]+)\s*-\s*([0-9]*\.?[0-9]+|end)\s*:\s*([0-9]+)"
_TURN = re.compile(rf"^{_RANGE}\s*$", re.I)
#: one turn per line, with its words after the speaker number (a tab or spaces between)
_TURN_WORDS = re.compile(rf"^{_RANGE}[\t ]+([^,;\s].*?)\s*$", re.I)


def parse_turns(text) -> List[Turn]:
    """Turns from ``"start-end:speaker"`` items separated by commas, semicolons or new lines
    (seconds; ``end`` = to the end of the audio; speakers numbered from 0, as the faces are); a
    line may instead hold one turn followed by its words (``"0.2-4.5:0  Hello! How are you?"``),
    which become that speaker's transcript (:func:`turn_texts`).  Or a sequence of ``(start_s,
    end_s, speaker[, text])``.  Sorted by start; overlaps are refused (one recording of two voices
    at once cannot be split into two tracks)."""
    items: List[Tuple[float, float, int, str]] = []
    bad = ("speaker turn {!r} is not 'start-end:speaker' (seconds, speaker number from 0), e.g. "
           "'0-2.5:0, 2.5-6:1, 6-end:0', or one 'start-end:speaker words' per line")
    if isinstance(text, str):
        for line in text.splitlines():
            m = _TURN_WORDS.match(line)
            parts = [m] if m else [_TURN.match(raw) or raw for raw in re.split(r"[,;]", line) if raw.strip()]
            for p in parts:
                if isinstance(p, str):
                    raise InvalidDataError(bad.format(p.strip()))
                end = math.inf if p.group(2).lower() == "end" else float(p.group(2))
                words = p.group(4) if p.re is _TURN_WORDS else ""
                items.append((float(p.group(1)), end, int(p.group(3)), words))
    else:
        for t in text or []:
            try:
                a, b, k, *w = t
                items.append((float(a), float(b), int(k), str(w[0]) if w else ""))
            except (TypeError, ValueError):
                raise InvalidDataError(f"a speaker turn must be (start_s, end_s, speaker[, text]), got {t!r}") \
                    from None
    if not items:
        raise InvalidDataError("no speaker turns given; use 'start-end:speaker' items, e.g. '0-2.5:0, 2.5-6:1'")
    turns = sorted((Turn(a, b, k, w) for a, b, k, w in items), key=lambda t: t.start_s)
    for t in turns:
        if not (math.isfinite(t.start_s) and t.start_s >= 0) or not t.end_s > t.start_s:
            raise InvalidDataError(f"speaker turn {_fmt(t)}: the end must come after the start (seconds >= 0)")
        if t.speaker < 0:
            raise InvalidDataError(f"speaker turn {_fmt(t)}: speakers are numbered from 0")
    for a, b in zip(turns, turns[1:]):
        if b.start_s < a.end_s - 1e-9:
            raise InvalidDataError(f"speaker turns {_fmt(a)} and {_fmt(b)} overlap; one recording of two voices "
                                   f"at once cannot be split, give separate tracks instead")
    return turns


def _fmt(t: Turn) -> str:
    return f"{t.start_s:g}-{'end' if math.isinf(t.end_s) else f'{t.end_s:g}'}:{t.speaker}"


def turn_speakers(turns: Sequence[Turn]) -> int:
    """How many speakers the turns name (the highest number + 1)."""
    return max(t.speaker for t in turns) + 1 if turns else 0


def turn_texts(turns: Sequence[Turn], n_speakers: Optional[int] = None) -> List[str]:
    """Each speaker's transcript: the words of their turns, in time order (empty for a speaker whose
    turns carry none)."""
    n = turn_speakers(turns) if n_speakers is None else int(n_speakers)
    said: List[List[str]] = [[] for _ in range(n)]
    for t in turns:
        if t.text and t.speaker < n:
            said[t.speaker].append(t.text)
    return [" ".join(s) for s in said]


def split_turns(waveform: np.ndarray, sample_rate: int, turns: Sequence[Turn], n_speakers: Optional[int] = None,
                start_s: float = 0.0) -> List[np.ndarray]:
    """One track per speaker from one recording ``waveform`` (``[T]`` or ``[C, T]``): speaker ``k``'s
    track keeps the samples of ``k``'s turns and is silent elsewhere.  ``start_s``: where the
    waveform begins on the turns' clock (a trimmed file).  ``n_speakers``: how many tracks
    (default: as many as the turns name; a turn naming a speaker beyond it is an error)."""
    x = np.asarray(waveform, np.float32)
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise AudioError(f"audio to split must be [T] or [C, T] samples, got shape {list(x.shape)}")
    sr = int(sample_rate)
    n = turn_speakers(turns) if n_speakers is None else int(n_speakers)
    for t in turns:
        if t.speaker >= n:
            raise InvalidDataError(f"speaker turn {_fmt(t)} names speaker {t.speaker} but there are {n} speakers "
                                   f"(numbered 0..{n - 1}, one per face from the left)")
    total = x.shape[-1]
    dur = total / sr
    gains = np.zeros((n, total), np.float32)
    fade = max(1, int(round(FADE_S * sr)))
    used = 0
    for t in turns:
        a, b = t.start_s - start_s, min(t.end_s, start_s + dur) - start_s
        if b <= 0 or a >= dur:
            continue
        i0, i1 = max(0, int(round(a * sr))), min(total, int(round(b * sr)))
        if i1 <= i0:
            continue
        used += 1
        g = np.ones(i1 - i0, np.float32)
        k = min(fade, (i1 - i0) // 2)
        if k > 0:
            ramp = np.linspace(0.0, 1.0, k + 2, dtype=np.float32)[1:-1]
            if i0 > 0:
                g[:k] = ramp
            if i1 < total:
                g[-k:] = ramp[::-1]
        gains[t.speaker, i0:i1] = np.maximum(gains[t.speaker, i0:i1], g)
    if not used:
        raise InvalidDataError(f"no speaker turn falls inside the audio ({start_s:g}-{start_s + dur:.2f} s); "
                               f"turns: {', '.join(_fmt(t) for t in turns)}")
    return [x * g for g in gains]


def pad_tracks(tracks: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Tracks (``[T]`` or ``[C, T]``) padded with silence to the longest one's length."""
    n = max(t.shape[-1] for t in tracks)
    out = []
    for t in tracks:
        pad = [(0, 0)] * (t.ndim - 1) + [(0, n - t.shape[-1])]
        out.append(np.pad(t, pad) if t.shape[-1] < n else t)
    return out


def mix_tracks(tracks: Sequence[Tuple[np.ndarray, int]]) -> Tuple[np.ndarray, int]:
    """Mix decoded tracks ``(waveform [C, T] or [T], sample_rate)`` into one ``(float32 [C, T], rate)``:
    resampled to the highest rate, mono tracks spread to stereo when any track is stereo, padded
    to the longest, summed, and scaled down only where the sum would exceed full scale."""
    if not tracks:
        raise AudioError("no audio tracks to mix")
    rate = max(int(sr) for _, sr in tracks)
    arrs = []
    for w, sr in tracks:
        a = np.asarray(w, np.float32)
        a = a[None] if a.ndim == 1 else a
        if a.ndim != 2:
            raise AudioError(f"audio tracks must be [C, T] or [T], got shape {list(np.shape(w))}")
        if a.shape[0] > 2:
            a = a.mean(axis=0, keepdims=True)
        if int(sr) != rate:
            import soxr
            a = np.ascontiguousarray(soxr.resample(a.T, int(sr), rate, quality="HQ").T, dtype=np.float32)
            a = a[None] if a.ndim == 1 else a
        arrs.append(a)
    ch = max(a.shape[0] for a in arrs)
    arrs = [np.repeat(a, ch, axis=0) if a.shape[0] < ch else a for a in arrs]
    mix = np.sum(pad_tracks(arrs), axis=0, dtype=np.float32)
    peak = float(np.abs(mix).max()) if mix.size else 0.0
    if peak > 1.0:
        mix *= np.float32(0.99 / peak)
    return np.ascontiguousarray(mix), rate


__all__ = ["FADE_S", "Turn", "mix_tracks", "pad_tracks", "parse_turns", "split_turns", "turn_speakers", "turn_texts"]
