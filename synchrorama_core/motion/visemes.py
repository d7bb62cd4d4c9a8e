"""Visemes -> lip channels: a phone track (``audio.phones``) becomes ``SR_MOTION``'s mouth.

:func:`speech_phones` gets the phone track of the speech (the transcript typed in, or the one
the Emotion Embedder used; pocketsphinx for English, acoustic cues otherwise), and
:func:`viseme_tracks` turns it into the lip channels of :data:`~.adjust.MOUTH`:

* **coarticulation** (a dominance model): every phone pulls each lip channel towards its own
  target with a strength that depends on its class (vowels hold the jaw and the lips strongly,
  t/d/n/k hardly at all, so the lips stay open through "tinder" at the vowels' opening; sh and
  w hold the rounding strongly, so it spreads into the consonants around them).  A phone's pull
  starts ``ANTICIPATE_S`` before it (the lips get ready for the next sound 1-2 frames early) and
  fades ``CARRY_S`` after it.  Everything is computed on 4 sub-frames per frame and averaged,
  so the curves are smooth: no frame-to-frame jitter.
* **jaw** (``jaw_open``, the lip opening): the coarticulated vowel height (open a, ae above
  mid e, o above close i, u; consonants low) times the loudness envelope of the speech (bridging
  the short dips of consonants, so only pauses close the mouth).
* **bilabials** (p, b, m): the lips close fully (``jaw_open`` 0) in every frame the phone track
  gives the class, with a lip press that builds up to the release.
* **labiodentals** (f, v): ``lip_tuck`` brings the lower lip up under the upper teeth, jaw nearly
  closed.
* **rounded** vowels and w narrow and protrude the lips (``mouth_pucker``); **spread** vowels
  widen them (``mouth_wide``).

Speech the phone track leaves as a pause (a recogniser that missed it) gets the energy-driven
lips of :func:`.procedural.energy_mouth_tracks`.  The ``lead_frames`` control moves the phone
timing earlier (the frame rule of :func:`~synchrorama_core.audio.phones.track.build_track` is
re-applied, so a closure still falls on whole frames) and the loudness by the same amount.
"""
from __future__ import annotations

from typing import Dict, Optional, Union

import numpy as np
import scipy.ndimage

from ..errors import InvalidDataError
from ..progress import CancelFn, ProgressFn
from ..types import LIP_TARGETS, VISEMES, EmotionData, PhoneTrack, SpeechData
from . import _signal as sig

#: phone backends of the A2M (``off``: energy-driven lips only, as before phone timing existed)
PHONE_MODES = ("auto", "pocketsphinx", "acoustic", "off")
#: a phone's pull on the lips starts this long before it (anticipation) ...
ANTICIPATE_S = 0.07
#: ... and fades over this long after it (carry-over)
CARRY_S = 0.045
SUBFRAMES = 4
#: share of a non-pause phone's lip opening that does not depend on its vowel height
JAW_FLOOR = 0.3
#: gains from coarticulated targets to the rig's coefficients (lip_scale 1)
JAW_GAIN, ROUND_GAIN, SPREAD_GAIN, TUCK_GAIN = 1.15, 1.0, 0.8, 0.9
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
_LIPPED = ("bilabial", "labiodental")   # the lips themselves close the opening: no jaw target of their own


# ------------------------------------------------------------------------------ the phone track

def transcript_from(emotion: Optional[EmotionData]) -> str:
    """The transcript the Emotion Embedder worked from (typed or Whisper's), or ``""``."""
    if not isinstance(emotion, EmotionData):
        return ""
    meta = emotion.meta or {}
    if meta.get("transcript_source") not in ("user text", "whisper"):
        return ""
    return " ".join(str(s.get("text", "")).strip() for s in meta.get("segments", []) if isinstance(s, dict)).strip()


def speech_phones(speech: SpeechData, emotion: Optional[EmotionData] = None, transcript: Optional[str] = None,
                  phones: Union[str, PhoneTrack] = "auto", language: str = "",
                  progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None
                  ) -> Optional[PhoneTrack]:
    """The phone track the A2M uses: ``phones`` itself when it is a :class:`PhoneTrack` (checked
    against the speech), ``None`` for ``"off"``, else :func:`~synchrorama_core.audio.phones.phone_track`
    with ``transcript`` (default: the Emotion Embedder's, :func:`transcript_from`)."""
    if isinstance(phones, PhoneTrack):
        if phones.n_frames != speech.n_frames or abs(phones.fps - speech.fps) > 1e-6:
            raise InvalidDataError(f"the phone track has {phones.n_frames} frames at {phones.fps:g} fps but the "
                                   f"speech {speech.n_frames} at {speech.fps:g} fps; make it from the same speech")
        return phones
    if phones not in PHONE_MODES:
        raise InvalidDataError(f"unknown phone backend {phones!r}; choose one of {list(PHONE_MODES)}")
    if phones == "off":
        return None
    from ..audio.phones import phone_track
    text = (transcript or "").strip() or transcript_from(emotion)
    return phone_track(speech, text, backend=phones, language=language or "", progress=progress,
                       cancelled=cancelled)


def track_meta(track: Optional[PhoneTrack], mode: str = "off") -> dict:
    """What ``SR_MOTION.meta["phones"]`` says: backend, the human-readable reason, and the track
    (``PhoneTrack.from_dict`` restores it; arrays as plain lists so the meta stays plain JSON)."""
    if track is None:
        return {"backend": "off", "note": "energy-driven lips (phone timing switched off)"}

    def plain(v):
        if isinstance(v, dict):
            if set(v) == {"__ndarray__"}:
                return v["__ndarray__"]["data"]
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v
    d = plain(track.to_dict())
    return {"backend": track.backend, "note": track.note, "track": d}


def phone_features(track: PhoneTrack) -> np.ndarray:
    """``[n, len(VISEMES) + len(LIP_TARGETS)]`` per frame: the viseme class one-hot, then the lip
    targets (the neural A2M's phone inputs)."""
    n = track.n_frames
    onehot = np.zeros((n, len(VISEMES)), np.float32)
    onehot[np.arange(n), track.viseme] = 1.0
    return np.concatenate([onehot, np.stack([track.targets[k] for k in LIP_TARGETS], 1)], 1).astype(np.float32)


# ------------------------------------------------------------------------------ coarticulation

def coarticulate(segments, duration_s: float, fps: float) -> Dict[str, np.ndarray]:
    """Per-frame coarticulated targets ``jaw`` (lip-opening shape), ``round``, ``spread``, ``closure``,
    ``tuck`` of timed phones ``[(start_s, end_s, phone, ...)]`` (see the module doc)."""
    from ..audio.phones.track import phone_rows
    n = int(round(duration_s * fps))
    m = n * SUBFRAMES
    if n == 0:
        return {k: np.zeros(0, np.float32) for k in ("jaw", "round", "spread", "closure", "tuck")}
    step = 1.0 / (fps * SUBFRAMES)
    t = (np.arange(m) + 0.5) * step
    num = np.zeros((5, m))
    den = np.zeros((5, m))
    rows = phone_rows([s[2] for s in segments])
    reach_a, reach_c = 6.0 * ANTICIPATE_S, 6.0 * CARRY_S
    for (a, b), (vis, t0, t1) in zip(((s[0], s[1]) for s in segments), rows):
        lo = max(0, int((a - reach_a) / step))
        hi = min(m, int((b + reach_c) / step) + 1)
        if hi <= lo:
            continue
        tt = t[lo:hi]
        w = np.exp(-np.clip(a - tt, 0, None) / ANTICIPATE_S - np.clip(tt - b, 0, None) / CARRY_S)
        u = np.clip((tt - a) / max(b - a, 1e-9), 0.0, 1.0)
        j0, r0, s0 = t0
        j1, r1, s1 = t0 if t1 is None else t1
        if vis == "rest":
            jaw = np.zeros_like(u)
        elif vis in _LIPPED:
            jaw = np.zeros_like(u)
        else:
            jaw = JAW_FLOOR + (1 - JAW_FLOOR) * np.clip((j0 + u * (j1 - j0)) / 0.95, 0, 1.1)
        tgt = np.stack([jaw, r0 + u * (r1 - r0), s0 + u * (s1 - s0),
                        np.full_like(u, vis == "bilabial", dtype=np.float64),
                        np.full_like(u, vis == "labiodental", dtype=np.float64)])
        dj, dr, ds = DOMINANCE[vis]
        dom = np.array([dj, dr, ds, 1.0 if vis == "bilabial" else 0.4, 1.0 if vis == "labiodental" else 0.4])
        wd = dom[:, None] * w[None, :]
        num[:, lo:hi] += wd * tgt
        den[:, lo:hi] += wd
    val = np.where(den > 1e-9, num / np.maximum(den, 1e-12), 0.0).reshape(5, n, SUBFRAMES).mean(axis=2)
    return {k: val[i].astype(np.float32) for i, k in enumerate(("jaw", "round", "spread", "closure", "tuck"))}


def loudness_envelope(f: Dict[str, np.ndarray], fps: float) -> np.ndarray:
    """Per-frame loudness in ~[0, 1.2] relative to the clip's loud speech, 0 where no voice is
    active; half of it bridges dips of up to two frames (a consonant's closure is not a pause),
    half follows the frame's own level (the lips do narrow at consonants)."""
    rms = f["rms"].astype(np.float64)
    vad = f["vad"] > 0.5
    ref = sig.robust_scale(rms, vad, 95.0)
    a = (np.clip(rms / ref, 0.0, 1.25) ** 0.75) * vad
    k = 2 * max(int(round(0.04 * fps)), 1) + 1
    bridged = scipy.ndimage.maximum_filter1d(a, k, mode="nearest")
    return sig.smooth(0.5 * (a + bridged), 0.6 * fps / 25.0)


def viseme_tracks(track: PhoneTrack, f: Dict[str, np.ndarray], fps: float, lip_scale: float,
                  lead_frames: float, energy: Optional[Dict[str, np.ndarray]] = None) -> Dict[str, np.ndarray]:
    """The lip channels (``jaw_open``, ``mouth_wide``, ``mouth_pucker``, ``mouth_press``, ``lip_tuck``)
    from a phone track and the speech features, plus ``closed`` (1 in frames whose lips must stay
    shut, whatever else is added to the jaw).  ``energy``: the energy-driven channels, used where
    the track leaves speech as a pause."""
    from ..audio.phones.track import build_track
    n = track.n_frames
    lead_s = float(lead_frames) / fps
    moved = [(a - lead_s, b - lead_s, p) for a, b, p, _ in track.segments]
    ctr = coarticulate([(a, b, p) for a, b, p in moved], track.duration_s, fps)
    framed = build_track(moved, track.duration_s, fps, track.backend, track.note)   # the frame rule, moved
    vis = framed.viseme
    closed = vis == list(VISEMES).index("bilabial")
    tucked = vis == list(VISEMES).index("labiodental")
    env = np.clip(sig.shift(loudness_envelope(f, fps), lead_frames), 0.0, 1.25)

    jaw = JAW_GAIN * env * ctr["jaw"]
    # speech the phones left as a pause (a recogniser that missed it) opens with the loudness
    vad = sig.shift((f["vad"] > 0.5).astype(np.float32), lead_frames) > 0.5
    missed = sig.smooth((vad & (vis == list(VISEMES).index("rest"))).astype(np.float32), 1.0)
    if energy is not None:
        jaw = (1 - missed) * jaw + missed * energy["jaw_open"] / max(lip_scale, 1e-6)
    # lip shapes hardly depend on loudness: a quiet "oo" is still rounded
    pucker = ROUND_GAIN * ctr["round"] * (0.8 + 0.2 * np.clip(env, 0, 1))
    wide = SPREAD_GAIN * ctr["spread"] * (0.8 + 0.2 * np.clip(env, 0, 1))
    tuck = TUCK_GAIN * np.clip(2.0 * ctr["tuck"] - 0.5, 0.0, 1.0)
    tuck = np.where(tucked, TUCK_GAIN, tuck)
    jaw = jaw * (1.0 - 0.85 * tuck / TUCK_GAIN)
    # closures: shut in every bilabial frame, the lips pressing harder towards the release
    press = np.zeros(n)
    for a, b in sig.segments(closed):
        k = b - a
        press[a:b] = PRESS_START + (PRESS_RELEASE - PRESS_START) * (np.arange(1, k + 1) / k)
        if b < n:
            press[b] = max(press[b], 0.3 * PRESS_RELEASE)
    jaw = np.where(closed, 0.0, jaw * (1.0 - 0.5 * np.clip(2.0 * ctr["closure"] - 0.3, 0, 1)))
    out = {"jaw_open": jaw, "mouth_wide": wide, "mouth_pucker": pucker, "mouth_press": press, "lip_tuck": tuck}
    out = {k: np.clip(v * lip_scale, 0.0, 1.0).astype(np.float32) for k, v in out.items()}
    out["closed"] = closed.astype(np.float32)
    return out


__all__ = ["PHONE_MODES", "coarticulate", "loudness_envelope", "phone_features", "speech_phones", "track_meta",
           "transcript_from", "viseme_tracks"]
