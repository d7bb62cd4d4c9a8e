"""Timed phones -> :class:`~synchrorama_core.types.PhoneTrack` (viseme class and lip targets per frame).

Frame ``i`` covers ``[i/fps, (i+1)/fps)``.  Its class is the viseme covering most of it (time
not covered by any phone counts as ``rest``), except that a bilabial or labiodental segment,
however short, keeps the frame it covers most: a 30 ms closure at 25 fps must still close the
lips in one frame.  Targets are the overlap-weighted mean over the frame of each phone's
targets (linear from start to end values across a diphthong); ``closure`` and
``labiodental`` are 1 in every frame of their class.
"""
from __future__ import annotations

from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ...timing import check_fps, n_frames
from ...types import PhoneTrack, VISEMES
from .inventory import TARGETS, VISEME_INDEX, phone_row

#: classes that must show in at least one frame however short they are
_KEEP = ("bilabial", "labiodental")
_HH_JAW = 0.6  # h is breathed through the next vowel's lips with the jaw a little less open


def phone_rows(phones: Sequence[str]):
    """Table rows ``(viseme, start targets, end targets or None)`` per phone (see :mod:`.inventory`),
    with HH given the lips of the phone after it (rest if a pause follows)."""
    rows = [phone_row(p) for p in phones]
    for i in range(len(rows) - 1, -1, -1):
        if phones[i].upper() == "HH":
            nxt = rows[i + 1] if i + 1 < len(rows) else None
            if nxt is None or nxt[0] == "rest":
                continue
            (j, r, s) = nxt[1]
            rows[i] = (nxt[0], (j * _HH_JAW, r, s), None)
    return rows


def tidy_segments(segments: Iterable[Tuple[float, float, str]], duration_s: float
                  ) -> List[Tuple[float, float, str]]:
    """Sorted, clipped to ``[0, duration_s]``, overlaps cut, zero-length dropped, gaps filled with
    ``SIL`` so the segments cover the whole clip."""
    segs = sorted((max(0.0, float(a)), min(float(duration_s), float(b)), str(p)) for a, b, p in segments)
    out: List[Tuple[float, float, str]] = []
    t = 0.0
    for a, b, p in segs:
        a = max(a, t)
        if b - a < 1e-6:
            continue
        if a - t > 1e-6:
            out.append((t, a, "SIL"))
        out.append((a, b, p))
        t = b
    if duration_s - t > 1e-6:
        out.append((t, float(duration_s), "SIL"))
    # merge neighbouring silences
    merged: List[Tuple[float, float, str]] = []
    for s in out:
        if merged and s[2] == "SIL" and merged[-1][2] == "SIL":
            merged[-1] = (merged[-1][0], s[1], "SIL")
        else:
            merged.append(s)
    return merged


def build_track(segments: Iterable[Tuple[float, float, str]], duration_s: float, fps: float, backend: str,
                note: str, words: Optional[List[Tuple[float, float, str]]] = None,
                meta: Optional[dict] = None) -> PhoneTrack:
    """The :class:`PhoneTrack` of timed phones ``[(start_s, end_s, phone)]``."""
    fps = check_fps(fps)
    n = n_frames(duration_s, fps)
    segs = tidy_segments(segments, duration_s)
    rows = phone_rows([p for _, _, p in segs])
    cover = np.zeros((n, len(VISEMES)))
    tsum = np.zeros((n, 3))
    best: List[Tuple[int, str]] = []  # (frame most covered, class) of every short-but-visible segment
    for (a, b, _), (vis, t0, t1) in zip(segs, rows):
        t0 = np.asarray(t0)
        t1 = t0 if t1 is None else np.asarray(t1)
        f0 = int(np.floor(a * fps + 1e-9))
        f1 = min(n - 1, int(np.ceil(b * fps - 1e-9)) - 1)
        if f0 > n - 1:
            continue
        fr = np.arange(f0, f1 + 1)
        lo = np.maximum(fr / fps, a)
        hi = np.minimum((fr + 1) / fps, b)
        ov = np.maximum(hi - lo, 0.0)
        k = VISEME_INDEX[vis]
        cover[fr, k] += ov
        mid = ((lo + hi) / 2 - a) / max(b - a, 1e-9)  # where in the phone each overlap lies (0..1)
        tsum[fr] += ov[:, None] * (t0[None, :] + mid[:, None] * (t1 - t0)[None, :])
        if vis in _KEEP and len(fr):
            best.append((int(fr[np.argmax(ov)]), vis))
    frame_len = 1.0 / fps
    cover[:, VISEME_INDEX["rest"]] += np.maximum(frame_len - cover.sum(axis=1), 0.0)
    viseme = cover.argmax(axis=1) if n else np.zeros(0, np.int64)
    keep_idx = [VISEME_INDEX[c] for c in _KEEP]
    for f, vis in best:
        if viseme[f] not in keep_idx:
            viseme[f] = VISEME_INDEX[vis]
    tmean = np.clip(tsum / frame_len, 0.0, 1.0)
    targets = {"jaw": tmean[:, 0], "round": tmean[:, 1], "spread": tmean[:, 2]}
    for name, cls in (("closure", "bilabial"), ("labiodental", "labiodental")):
        k = VISEME_INDEX[cls]
        frac = np.clip(cover[:, k] / frame_len, 0.0, 1.0)
        targets[name] = np.where(viseme == k, 1.0, frac)
    # a closed or labiodental frame has its jaw where the consonant holds it, not the vowel's mean
    lipped = np.isin(viseme, keep_idx)
    targets["jaw"] = np.where(lipped, np.minimum(targets["jaw"], 0.1), targets["jaw"])
    assert tuple(targets) == TARGETS[:3] + ("closure", "labiodental")
    out_segs = [(a, b, p, r[0]) for (a, b, p), r in zip(segs, rows)]
    return PhoneTrack(fps=fps, duration_s=duration_s, viseme=viseme.astype(np.int64),
                      targets={k: v.astype(np.float32) for k, v in targets.items()}, segments=out_segs,
                      words=list(words or []), backend=backend, note=note, meta=dict(meta or {}))
