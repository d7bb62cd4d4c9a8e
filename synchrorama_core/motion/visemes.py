"""Visemes -> lip channels: the speech's phone track becomes ``SR_MOTION``'s mouth.

The phone track (:class:`~synchrorama_core.types.PhoneTrack`, made by the audio stage:
``synchrorama_core.audio.phones.speech_phones``) gives per frame a viseme class and lip targets;
:func:`viseme_tracks` turns it into the lip channels of :data:`~.adjust.MOUTH`:

* **coarticulation** (a dominance model): every frame pulls each lip channel towards its own
  target with a strength that depends on its class (vowels hold the jaw and the lips strongly,
  t/d/n/k hardly at all, so the lips stay open through "tinder" at the vowels' opening; sh and
  w hold the rounding strongly, so it spreads into the consonants around them).  A frame's pull
  reaches earlier frames with a time constant of ``ANTICIPATE_S`` (the lips get ready for the
  next sound 1-2 frames early) and later ones with ``CARRY_S``.  The result is a weighted mean
  of smooth kernels: no frame-to-frame jitter.
* **jaw** (``jaw_open``, the lip opening): the coarticulated vowel height (open a, ae above
  mid e, o above close i, u; consonants low) times the loudness envelope of the speech (half the
  frame's own level, half a level bridging dips of up to two frames: the lips narrow at
  consonants, only pauses close them).  Inside a word, a tongue consonant (t, d, n, s, l, sh,
  k, g ...) between two sounds keeps the envelope of the quieter side (``TONGUE_BRIDGE_S``): the
  silence of a t or k closure stops the air, not the jaw, so the lips stay apart through
  "canter" and only p, b, m close them.
* **bilabials** (p, b, m): the lips close fully (``jaw_open`` 0) in every frame the phone track
  gives the class, with a lip press that builds up to the release.
* **labiodentals** (f, v): ``lip_tuck`` brings the lower lip up under the upper teeth, jaw nearly
  closed.
* **rounded** vowels and w narrow and protrude the lips (``mouth_pucker``); **spread** vowels
  widen them (``mouth_wide``).

Speech the phone track leaves as a pause (a recogniser that missed it) gets the energy-driven
lips of :func:`.procedural.energy_mouth_tracks`.  ``lead_frames`` moves everything earlier (the
mouth moves just before the sound); closures move by whole frames, so a closure stays a closed
frame.
"""
from __future__ import annotations

import math
from typing import Dict, Optional

import numpy as np
import scipy.ndimage

from ..errors import InvalidDataError
from ..types import LIP_TARGETS, VISEMES, PhoneTrack, SpeechData
from . import _signal as sig

#: a frame's pull on the lips reaches earlier frames with this time constant (anticipation) ...
ANTICIPATE_S = 0.065
#: ... and later frames with this one (carry-over)
CARRY_S = 0.04
#: share of a non-pause frame's lip opening that does not depend on its vowel height
JAW_FLOOR = 0.3
#: gains from coarticulated targets to the rig's coefficients (lip_scale 1)
JAW_GAIN, ROUND_GAIN, SPREAD_GAIN, TUCK_GAIN = 1.15, 1.0, 0.8, 0.9
#: voice activity the phone track leaves as a pause for at least this long is missed speech
MISSED_S = 0.2
#: a tongue consonant inside a word keeps at least the loudness of the quieter of the sounds within
#: this time before and after it (its stop closure's silence does not close the lips)
TONGUE_BRIDGE_S = 0.12
#: lip press during a closure: at its first frame and at its last (just before the release)
PRESS_START, PRESS_RELEASE = 0.25, 0.45

#: how strongly each class holds (jaw, round, spread) against its neighbours
DOMINANCE: Dict[str, tuple] = {
    "rest": (0.5, 0.5, 0.5),
    "bilabial": (0.6, 0.3, 0.3),
    "labiodental": (0.6, 0.4, 0.4),
    "dental": (0.15, 0.15, 0.3),
    "postalveolar": (0.35, 0.8, 0.3),
    "velar": (0.15, 0.15, 0.15),
    "rounded": (0.8, 1.0, 1.0),
    "spread": (1.0, 1.0, 1.0),
    "open": (1.0, 1.0, 1.0),
    "mid": (1.0, 0.6, 0.6),
}
assert set(DOMINANCE) == set(VISEMES)
_CLASS = {k: i for i, k in enumerate(VISEMES)}
_SHUT = [_CLASS[c] for c in ("rest", "bilabial", "labiodental")]   # no opening of their own
_TONGUE = [_CLASS[c] for c in ("dental", "postalveolar", "velar")]   # the lips play no part in them


def check_track(track: Optional[PhoneTrack], speech: SpeechData) -> Optional[PhoneTrack]:
    """``track`` if it belongs to ``speech`` (same frames and fps), a clear error otherwise."""
    if track is None:
        return None
    if not isinstance(track, PhoneTrack):
        raise InvalidDataError(f"phones must be a PhoneTrack (synchrorama_core.audio.phones.phone_track), "
                               f"got {type(track).__name__}")
    if track.n_frames != speech.n_frames or abs(track.fps - speech.fps) > 1e-6:
        raise InvalidDataError(f"the phone track has {track.n_frames} frames at {track.fps:g} fps but the "
                               f"speech {speech.n_frames} at {speech.fps:g} fps; make it from the same speech")
    return track


def track_meta(track: Optional[PhoneTrack], why_none: str = "no phone track given") -> dict:
    """What ``SR_MOTION.meta["phones"]`` says: backend, the human-readable reason, and the track
    (``PhoneTrack.from_dict`` restores it; arrays as plain lists so the meta stays plain JSON)."""
    if track is None:
        return {"backend": "none", "note": f"energy-driven lips ({why_none})"}

    def plain(v):
        if isinstance(v, dict):
            if set(v) == {"__ndarray__"}:
                return v["__ndarray__"]["data"]
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v
    return {"backend": track.backend, "note": track.note, "track": plain(track.to_dict())}


def phone_features(track: PhoneTrack) -> np.ndarray:
    """``[n, len(VISEMES) + len(LIP_TARGETS)]`` per frame: the viseme class one-hot, then the lip
    targets (the neural A2M's phone inputs)."""
    n = track.n_frames
    onehot = np.zeros((n, len(VISEMES)), np.float32)
    onehot[np.arange(n), track.viseme] = 1.0
    return np.concatenate([onehot, np.stack([track.targets[k] for k in LIP_TARGETS], 1)], 1).astype(np.float32)


# ------------------------------------------------------------------------------ coarticulation

def _kernel(fps: float) -> np.ndarray:
    """Weights of frame ``i + d`` on frame ``i`` for ``d = -r..r``: a later frame reaches back with
    ``ANTICIPATE_S``, an earlier one forward with ``CARRY_S``."""
    r = int(math.ceil(5 * ANTICIPATE_S * fps))
    d = np.arange(-r, r + 1) / fps
    return np.where(d >= 0, np.exp(-d / ANTICIPATE_S), np.exp(d / CARRY_S))


def coarticulate(track: PhoneTrack) -> Dict[str, np.ndarray]:
    """Per-frame coarticulated ``jaw`` (lip-opening shape, 0..~1), ``round``, ``spread``, ``closure``,
    ``tuck`` of a phone track (see the module doc)."""
    n, fps = track.n_frames, track.fps
    vis = np.asarray(track.viseme)
    t = track.targets
    jaw = np.where(np.isin(vis, _SHUT), 0.0, JAW_FLOOR + (1 - JAW_FLOOR) * np.clip(t["jaw"] / 0.95, 0, 1.1))
    targets = np.stack([jaw, t["round"], t["spread"], t["closure"], t["labiodental"]]).astype(np.float64)
    dom = np.array([DOMINANCE[k] for k in VISEMES], np.float64)[vis].T if n else np.zeros((3, 0))
    dom = np.concatenate([dom, [np.where(vis == _CLASS["bilabial"], 1.0, 0.4)],
                          [np.where(vis == _CLASS["labiodental"], 1.0, 0.4)]])
    k = _kernel(fps)
    out = {}
    for name, tg, dm in zip(("jaw", "round", "spread", "closure", "tuck"), targets, dom):
        if n == 0:
            out[name] = np.zeros(0, np.float32)
            continue
        # y[i] = sum_d k[d] x[i + d]; nothing beyond the clip's ends
        num = scipy.ndimage.correlate1d(dm * tg, k, mode="constant")
        den = scipy.ndimage.correlate1d(dm, k, mode="constant")
        out[name] = (num / np.maximum(den, 1e-12)).astype(np.float32)
    return out


def loudness_envelope(f: Dict[str, np.ndarray], fps: float, vis: Optional[np.ndarray] = None) -> np.ndarray:
    """Per-frame loudness in ~[0, 1.2] relative to the clip's loud speech, 0 where no voice is
    active; half of it bridges dips of up to two frames (a consonant's closure is not a pause),
    half follows the frame's own level (the lips do narrow at consonants).  With the phone
    track's classes ``vis``, tongue consonants inside words are bridged too
    (:func:`bridge_tongue_consonants`), before the light smoothing."""
    rms = f["rms"].astype(np.float64)
    vad = f["vad"] > 0.5
    ref = sig.robust_scale(rms, vad, 95.0)
    a = (np.clip(rms / ref, 0.0, 1.25) ** 0.75) * vad
    if a.size == 0:
        return a.astype(np.float32)
    k = 2 * max(int(round(0.04 * fps)), 1) + 1
    bridged = scipy.ndimage.maximum_filter1d(a, k, mode="nearest")
    level = 0.5 * (a + bridged)
    if vis is not None:
        level = bridge_tongue_consonants(level, vis, fps)
    return sig.smooth(level, 0.6 * fps / 25.0)


def bridge_tongue_consonants(env: np.ndarray, vis: np.ndarray, fps: float) -> np.ndarray:
    """``env`` where, in each run of non-pause frames of the phone track (``vis``: viseme class per
    frame), a tongue consonant's frame is raised to the lower of the loudest levels within
    ``TONGUE_BRIDGE_S`` before and after it in the same run.  Between two vowels the lips stay as
    open as the quieter vowel lets them; at a word's edge (a pause on one side) nothing changes."""
    out = np.asarray(env, np.float64).copy()
    r = max(int(round(TONGUE_BRIDGE_S * fps)), 1)
    tongue = np.isin(vis, _TONGUE)
    windows = np.lib.stride_tricks.sliding_window_view
    for a, b in sig.segments(vis != _CLASS["rest"]):
        t = tongue[a:b]
        if not t.any():
            continue
        e = out[a:b]
        left = windows(np.pad(e, (r, 0)), r + 1).max(axis=1)     # loudest in [i - r, i] within the run
        right = windows(np.pad(e, (0, r)), r + 1).max(axis=1)    # loudest in [i, i + r]
        e[t] = np.maximum(e[t], np.minimum(left, right)[t])
    return out


def _shift_mask(mask: np.ndarray, frames: int) -> np.ndarray:
    """``y[i] = mask[i + frames]`` (positive = earlier), False outside."""
    out = np.zeros_like(mask)
    if frames >= 0:
        out[:len(mask) - frames] = mask[frames:]
    else:
        out[-frames:] = mask[:len(mask) + frames]
    return out


def viseme_tracks(track: PhoneTrack, f: Dict[str, np.ndarray], fps: float, lip_scale: float,
                  lead_frames: float, energy: Optional[Dict[str, np.ndarray]] = None) -> Dict[str, np.ndarray]:
    """The lip channels (``jaw_open``, ``mouth_wide``, ``mouth_pucker``, ``mouth_press``, ``lip_tuck``)
    from a phone track and the speech features, plus ``closed`` (1 in frames whose lips must stay
    shut, whatever else is added to the jaw).  ``energy``: the energy-driven channels (already
    moved by ``lead_frames``), used where the track leaves speech as a pause."""
    n = track.n_frames
    vis = np.asarray(track.viseme)
    ctr = coarticulate(track)
    env = np.clip(loudness_envelope(f, fps, vis), 0.0, 1.25)
    jaw = JAW_GAIN * env * ctr["jaw"]
    # lip shapes hardly depend on loudness: a quiet "oo" is still rounded
    pucker = ROUND_GAIN * ctr["round"] * (0.8 + 0.2 * np.clip(env, 0, 1))
    wide = SPREAD_GAIN * ctr["spread"] * (0.8 + 0.2 * np.clip(env, 0, 1))
    closed = vis == _CLASS["bilabial"]
    tuck = np.where(vis == _CLASS["labiodental"], TUCK_GAIN, TUCK_GAIN * np.clip(2.0 * ctr["tuck"] - 0.5, 0.0, 1.0))
    jaw = jaw * (1.0 - 0.85 * tuck / TUCK_GAIN) * (1.0 - 0.5 * np.clip(2.0 * ctr["closure"] - 0.3, 0, 1))
    # closures: the lips press harder towards the release
    press = np.zeros(n)
    for a, b in sig.segments(closed):
        press[a:b] = PRESS_START + (PRESS_RELEASE - PRESS_START) * np.arange(1, b - a + 1) / (b - a)
        if b < n:
            press[b] = 0.3 * PRESS_RELEASE
    out = {"jaw_open": jaw, "mouth_wide": wide, "mouth_pucker": pucker, "mouth_press": press, "lip_tuck": tuck}
    out = {k: sig.shift(v, lead_frames) for k, v in out.items()}
    lead = int(round(lead_frames))
    closed = _shift_mask(closed, lead)
    # speech the phones left as a pause (a recogniser that missed it) opens with the loudness; a few
    # frames of voice activity at the edge of a word are the detector's hangover or the onset of a
    # murmur (the m of "maybe"), not missed speech
    gap = (f["vad"] > 0.5) & (vis == _CLASS["rest"])
    missed = np.zeros(n, bool)
    for a, b in sig.segments(gap):
        missed[a:b] = (b - a) / fps >= MISSED_S
    missed = sig.smooth(_shift_mask(missed, lead).astype(np.float32), 1.0)
    if energy is not None:
        out["jaw_open"] = (1 - missed) * out["jaw_open"] + missed * energy["jaw_open"] / max(lip_scale, 1e-6)
    out["jaw_open"] = np.where(closed, 0.0, out["jaw_open"])
    out = {k: np.clip(v * lip_scale, 0.0, 1.0).astype(np.float32) for k, v in out.items()}
    out["closed"] = closed.astype(np.float32)
    return out


__all__ = ["bridge_tongue_consonants", "check_track", "coarticulate", "loudness_envelope", "phone_features",
           "track_meta", "viseme_tracks"]
