"""Phone classes from acoustic cues alone: any language, no model, no transcript.

Works on the audio stage's 10 ms tracks (:func:`~synchrorama_core.audio.features.fine_analysis`):

1. **Vowels vs consonants**: inside voice activity, a frame is vowel-like when it is sonorant
   (periodic, or loud with few zero crossings: creaky voice) and its 600-3000 Hz level (where
   vowel formants carry their energy) is within :data:`VOWEL_DIP_DB` of the loudest such level
   in the 100 ms around it; the rest of the speech is consonants.
2. **Consonant intervals** are classed by what happens in them:
   * aperiodic with many zero crossings and no gap: a **fricative**, hissing (s, sh: centroid
     high) or weak (th or f, which cues cannot tell apart: ``FRIC_WEAK`` is not labiodental);
   * a gap (:data:`GAP_DB` below the loudest speech within 150 ms) or a quiet unvoiced stretch:
     a **stop** (closure, then release);
   * sonorant and at least :data:`NASAL_DROP_DB` below: a **nasal** murmur (or a voiced stop's
     closure, which shapes the lips the same way);
   * breathy and loud: ``HH`` (shaped like the next vowel);
   * anything else sonorant: an approximant (w/r when the F2 proxy is low, y when high, else l).
3. **Place of stops and nasals** (lips or tongue): second-formant loci are about 1 kHz for the
   lips, 1.8 kHz for the tongue tip.  A murmur whose F2 proxy lies well below the speaker's
   vowels, or a silent closure the proxy falls into from both sides, scores above
   :data:`LABIAL_SCORE` and is bilabial.
4. **Vowels** by the F1 and F2 proxies and the log spectral centroid, normalised over the clip's
   vowel frames (pulled toward :data:`PRIORS` when there are few): high F1 = open, high F2 =
   spread, dark with low F2 = rounded, else mid; in 50 ms pieces, so diphthongs glide.

It hears classes, not phonemes: each interval becomes one coarse phone (``STOP``, ``STOP_LAB``,
``NASAL``, ``NASAL_LAB``, ``FRIC``, ``FRIC_WEAK``, or a representative ARPABET vowel / glide).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import scipy.ndimage

from ...progress import CancelFn, ProgressFn
from ..features import HOP, SR, fine_analysis

FINE_S = HOP / SR      # 10 ms
VOWEL_DIP_DB = 8.0     # a vowel frame's 600-3000 Hz level is at most this far below its neighbourhood
GAP_DB = 18.0          # a stop gap is this far below the loudest speech within 150 ms
NASAL_DROP_DB = 8.0    # a voiced murmur is at least this far below it (glides and l stay closer)
LABIAL_SCORE = 0.8
MIN_CONSONANT_S = 0.02
#: typical (median, spread) over vowels of the F1 proxy (Hz), F2 proxy (Hz) and log spectral
#: centroid, measured on espeak-ng voices; a clip's own statistics outweigh them from 1 s of vowels
PRIORS = ((450.0, 150.0), (1650.0, 380.0), (float(np.log(800.0)), 0.35))
PRIOR_FRAMES = 100

Segments = List[Tuple[float, float, str]]


def _runs(mask: np.ndarray) -> List[Tuple[int, int]]:
    """``[(start, end)]`` of the True runs of a boolean array."""
    m = np.concatenate([[False], mask, [False]])
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return list(zip(d[0::2], d[1::2]))


def _db_sum(bands_db: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return 10 * np.log10(np.sum(10 ** (bands_db[:, lo:hi] / 10), axis=1) + 1e-10)


def _vowel_phone(z1: float, z2: float, zc: float) -> str:
    """A representative vowel from the normalised F1 proxy (height: high = open jaw), F2 proxy
    (front) and log spectral centroid (dark = rounded lips)."""
    if z2 > 1.0:
        return "IY" if z1 < -0.5 else "IH"
    if z1 > 1.2:
        return "AA"
    if zc < -0.5 and z2 < 0.5:
        return "UW" if z1 < 0.0 else "OW"
    return "AH"


def _labial_score(f2: np.ndarray, a: int, b: int, voiced: np.ndarray, vowel: np.ndarray,
                  ref_f2: float) -> float:
    """How labial a closure or murmur at fine frames ``[a, b)`` sounds (> LABIAL_SCORE: labial).

    Second-formant loci point at the place: about 1 kHz for the lips, 1.8 kHz for the tongue
    tip, higher for velars.  A voiced murmur is scored by how far its F2 proxy lies below the
    clip's vowels (in units of 300 Hz); a silent closure, which has no formants, by the fall of
    the proxy into it from the neighbouring vowels (their last / first 30 ms against their
    middle, in units of 100 Hz)."""
    if voiced[a:b].mean() > 0.6 and np.isfinite(ref_f2):
        return float((ref_f2 - np.median(f2[a:b])) / 300.0)
    parts = []
    n = len(f2)
    for side in (-1, 1):
        j0 = j1 = a if side < 0 else b
        if side < 0:
            while j0 > 0 and vowel[j0 - 1] and j1 - j0 < 20:
                j0 -= 1
        else:
            while j1 < n and vowel[j1] and j1 - j0 < 20:
                j1 += 1
        if j1 - j0 < 5:
            continue
        seg = f2[j0:j1]
        edge = seg[-3:] if side < 0 else seg[:3]
        mid = seg[len(seg) // 2 - 1: len(seg) // 2 + 2]
        parts.append((mid.mean() - edge.mean()) / 100.0)
    return float(np.mean(parts)) if parts else 0.0


def _longest_run(mask: np.ndarray) -> int:
    runs = _runs(mask)
    return max((e - s for s, e in runs), default=0)


def _classify_consonant(f: Dict[str, np.ndarray], a: int, b: int, ctx_db: np.ndarray, vowel: np.ndarray,
                        ref_f2: float) -> str:
    """The coarse phone of the consonant interval of fine frames ``[a, b)``."""
    db, voiced, zcr = f["db"], f["voiced"], f["zcr"]
    drop = ctx_db[a:b] - db[a:b]
    v = float(voiced[a:b].mean())
    zc = float(zcr[a:b].mean())
    gap = _longest_run(drop > GAP_DB)
    if v < 0.5 and zc > 0.25 and gap < 3:
        # s, sh (z): strong, energy high up; th, f: weak
        return "FRIC" if np.median(f["centroid"][a:b]) > 2500 and np.median(drop) < GAP_DB else "FRIC_WEAK"
    if gap >= 3 or (v < 0.5 and np.median(drop) >= 12.0):
        kind = "STOP"                       # a closure (silent or nearly so), then the release
    elif v >= 0.5 and np.median(drop) >= NASAL_DROP_DB:
        kind = "NASAL"                      # a voiced murmur: m n ng, or a voiced stop's closure
    elif v < 0.5:
        return "HH"                         # breathy and loud enough: h, shaped like the next vowel
    else:
        z2 = np.median(f["f2"][a:b]) - ref_f2
        return "W" if z2 < -250 else ("Y" if z2 > 400 else "L")
    lab = _labial_score(f["f2"], a, b, voiced, vowel, ref_f2)
    return kind + ("_LAB" if lab > LABIAL_SCORE else "")


def acoustic_phones(waveform: np.ndarray, progress: Optional[ProgressFn] = None,
                    cancelled: Optional[CancelFn] = None) -> Tuple[Segments, dict]:
    """Coarse timed phones ``[(start_s, end_s, phone)]`` of a 16 kHz waveform, and details."""
    f = fine_analysis(waveform, progress=progress, cancelled=cancelled)
    db, vad, voiced = f["db"], f["vad"], f["voiced"]
    mid = _db_sum(f["bands"], 2, 5)         # ~600-3000 Hz
    mid_s = scipy.ndimage.uniform_filter1d(mid, 3)
    neigh = scipy.ndimage.maximum_filter1d(np.where(vad, mid_s, -200.0), 21)
    ctx_db = scipy.ndimage.maximum_filter1d(np.where(vad, db, -200.0), 31)
    # sonorant: periodic, or (creaky / breathy voice the pitch tracker calls aperiodic) loud with
    # few zero crossings, unlike frication noise
    sonorant = voiced | ((f["zcr"] < 0.2) & (ctx_db - db < 15.0) & vad)
    vowel = vad & sonorant & (neigh - mid_s < VOWEL_DIP_DB)
    vowel = scipy.ndimage.binary_opening(vowel, np.ones(3, bool)) & vad  # no 10 ms vowel blips
    f = dict(f, voiced=sonorant)

    # vowel formants are judged against the speaker's own vowels, pulled toward typical values
    # when the clip has little vowel material (one word says nothing about its speaker's range)
    vf = np.flatnonzero(vowel)
    w = len(vf) / (len(vf) + PRIOR_FRAMES)
    stats = []
    for x, (pm, ps) in zip((f["f1"][vf], f["f2"][vf], np.log(np.maximum(f["centroid"][vf], 50.0))), PRIORS):
        x = x.astype(np.float64)
        m = w * (np.median(x) if len(x) else pm) + (1 - w) * pm
        s_ = np.sqrt(w * (np.var(x) if len(x) else ps ** 2) + (1 - w) * ps ** 2)
        stats.append((m, max(s_, 0.25 * ps)))
    (m1, s1), (m2, s2), (m3, s3) = stats
    phones: Segments = []
    for a, b in _runs(vad):
        # inside one stretch of speech: vowel runs and consonant runs alternate
        seg_v = vowel[a:b]
        edges = np.flatnonzero(np.diff(seg_v.astype(np.int8))) + 1
        bounds = [0] + list(edges) + [b - a]
        for s0, s1_ in zip(bounds[:-1], bounds[1:]):
            i0, i1 = a + s0, a + s1_
            if seg_v[s0]:
                z1 = (f["f1"][i0:i1] - m1) / s1
                z2 = (f["f2"][i0:i1] - m2) / s2
                zc = (np.log(np.maximum(f["centroid"][i0:i1], 50.0)) - m3) / s3
                # a long vowel run may glide (diphthongs): classify it in 50 ms pieces
                for k0 in range(i0, i1, 5):
                    k1 = min(i1, k0 + 5) if i1 - (k0 + 5) >= 3 else i1
                    win = slice(k0 - i0, k1 - i0)
                    p = _vowel_phone(float(np.median(z1[win])), float(np.median(z2[win])),
                                     float(np.median(zc[win])))
                    phones.append((k0 * FINE_S, k1 * FINE_S, p))
                    if k1 == i1:
                        break
            elif (i1 - i0) * FINE_S >= MIN_CONSONANT_S:
                phones.append((i0 * FINE_S, i1 * FINE_S,
                               _classify_consonant(f, i0, i1, ctx_db, vowel, m2)))
            elif phones:  # a 10 ms dip: part of the vowel before it
                phones[-1] = (phones[-1][0], i1 * FINE_S, phones[-1][2])
    # merge neighbours with the same phone; fine frame k is centred at k * 10 ms, so it spans
    # [k - 0.5, k + 0.5) * 10 ms
    merged: Segments = []
    for s in ((max(0.0, a - FINE_S / 2), b - FINE_S / 2, p) for a, b, p in phones):
        if merged and merged[-1][2] == s[2] and abs(merged[-1][1] - s[0]) < 1e-9:
            merged[-1] = (merged[-1][0], s[1], s[2])
        else:
            merged.append(s)
    info = {"speech_s": round(float(vad.sum() * FINE_S), 3), "vowel_s": round(float(vowel.sum() * FINE_S), 3)}
    return merged, info
