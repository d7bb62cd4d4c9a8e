"""Procedural A2M: ``SR_SPEECH`` + ``SR_EMOTION`` (+ ``SR_SCENE``) -> ``SR_MOTION`` (the zero-download default).

Everything is computed from the audio-stage features (never from the waveform again):

* **jaw / lips** (visemes, :mod:`.visemes`): the speech's phone track (``phones``, made by the
  audio stage: pocketsphinx aligned to the transcript for English, acoustic cues for other
  languages) gives per frame the lip opening by vowel height, rounding, spreading, bilabial
  closures with a lip press and the lower lip tucked under the teeth for f/v, coarticulated
  (anticipated by 1-2 frames); the opening is scaled by the loudness envelope, and everything
  is shifted ``lead_frames`` earlier (the mouth moves just before the sound is heard).  Silence
  closes the mouth.  Without a phone track (and where it misses speech) the lips are
  energy-driven (:func:`energy_mouth_tracks`: RMS energy shaped by voicing and the formant proxies).
* **blinks**: a renewal process (gamma intervals, ~``blink_rate`` per minute at rest) whose rate
  drops while speaking intensely; blinks near the start of a pause snap to it.
* **head**: smooth non-repeating noise (incommensurate sinusoids) whose amplitude follows arousal
  and speech energy, nods on stressed syllables (spectral-flux x loudness peaks), settling nods
  at phrase ends and a small lift before phrase starts; emotional posture (sad lowers the head);
  scene actions become gestures at their times (:mod:`.gestures`).
* **expression**: the emotion recipe of :mod:`.emotion_map` scaled by intensity, plus eyebrow
  flashes on pitch accents.

The same inputs and seed always give the same motion.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar, Dict, Optional, Tuple

import numpy as np
import scipy.ndimage

from ..errors import InvalidDataError
from ..progress import CancelFn, ProgressFn, Steps
from ..types import EMOTIONS, EXPRESSIONS, EmotionData, MotionData, PhoneTrack, SceneData, SpeechData
from . import _signal as sig
from .adjust import MOUTH, check_number
from .emotion_map import emotion_expressions, emotion_on_frames
from .gestures import scene_gestures
from .visemes import check_track, track_meta, viseme_tracks

X = {k: i for i, k in enumerate(EXPRESSIONS)}
F2_CENTER_HZ, F2_SCALE_HZ = 1850.0, 250.0   # second-formant proxy: neutral lip spreading, and its scale


@dataclass
class ProceduralConfig:
    """Creator controls of the procedural generator (and of the neural one's post-processing)."""

    head_scale: float = 1.0        # head motion amplitude (0 = still head)
    expression_scale: float = 1.0  # emotion expressions, brow flashes and scene expressions
    lip_scale: float = 1.0         # jaw opening and mouth shapes
    blink_rate: float = 17.0       # blinks per minute at rest (0 = never blink)
    lead_frames: float = 1.0       # mouth leads the audio by this many frames (may be fractional)
    seed: int = 0

    #: allowed range of each control (the nodes' widgets use the same ranges)
    LIMITS: ClassVar[Dict[str, Tuple[float, float]]] = {"head_scale": (0.0, 5.0), "expression_scale": (0.0, 3.0), "lip_scale": (0.0, 3.0),
               "blink_rate": (0.0, 60.0), "lead_frames": (-5.0, 5.0)}

    def validated(self) -> "ProceduralConfig":
        vals = {}
        for k, (lo, hi) in self.LIMITS.items():
            vals[k] = check_number(getattr(self, k), f"motion control {k}", lo, hi)
        try:
            seed = int(self.seed)
        except (TypeError, ValueError):
            raise InvalidDataError(f"seed must be an integer, got {self.seed!r}") from None
        return ProceduralConfig(seed=seed % (2 ** 63), **vals)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def make(cls, config: Optional["ProceduralConfig"] = None, **controls) -> "ProceduralConfig":
        """``config`` (or the defaults) with ``controls`` overriding fields, validated."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(controls) - names)
        if unknown:
            raise InvalidDataError(f"unknown motion controls {unknown}; known: {sorted(names)}")
        if config is not None and not isinstance(config, ProceduralConfig):
            raise InvalidDataError(f"config must be a ProceduralConfig, got {type(config).__name__}")
        return dataclasses.replace(config or cls(), **controls).validated()


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _check_speech(speech) -> SpeechData:
    if not isinstance(speech, SpeechData):
        raise InvalidDataError(f"expected an SR_SPEECH value, got {type(speech).__name__}; "
                               f"connect SynchroRaMa Load Audio or Speech Features")
    return speech


# ------------------------------------------------------------------------------ mouth

def mouth_tracks(f: Dict[str, np.ndarray], fps: float, lip_scale: float, lead_frames: float,
                 track: Optional[PhoneTrack] = None) -> Dict[str, np.ndarray]:
    """The lip channels (:data:`~.adjust.MOUTH`) and ``closed`` (frames whose lips must stay shut):
    from the phone track (:func:`.visemes.viseme_tracks`), or energy-driven without one."""
    energy = energy_mouth_tracks(f, fps, lip_scale, lead_frames)
    if track is None:
        n = len(f["rms"])
        return {**energy, "lip_tuck": np.zeros(n, np.float32), "closed": np.zeros(n, np.float32)}
    return viseme_tracks(track, f, fps, lip_scale, lead_frames, energy)


def energy_mouth_tracks(f: Dict[str, np.ndarray], fps: float, lip_scale: float, lead_frames: float
                        ) -> Dict[str, np.ndarray]:
    """``jaw_open``, ``mouth_wide``, ``mouth_pucker``, ``mouth_press`` from speech features alone (no
    phones): energy opens the jaw, the second-formant proxy spreads or rounds the lips, hissing
    fricatives spread them, short deep energy dips press them."""
    n = len(f["rms"])
    vad = f["vad"] > 0.5
    voiced = (f["voiced"] > 0.5) & vad
    rms = f["rms"].astype(np.float64)
    ref = sig.robust_scale(rms, vad, 95.0)
    a = np.clip(rms / ref, 0.0, 1.25) ** 0.75
    # the first-formant proxy rises with jaw opening ("ah" > "ee"); used as a gentle modulation
    f1 = f["f1_proxy_hz"].astype(np.float64)
    if voiced.sum() > 3:
        m1 = np.median(f1[voiced])
        s1 = max(np.subtract(*np.percentile(f1[voiced], [75, 25])) / 1.35, 40.0)
        z1 = np.clip((f1 - m1) / s1, -3, 3)
    else:
        z1 = np.zeros(n)
    fric = vad & ~voiced & ((f["zcr"] > 0.25) | (f["centroid_hz"] > 2500))
    gain = np.where(voiced, 1.0 + 0.15 * np.tanh(z1), np.where(fric, 0.55, 0.75))
    jaw_t = np.clip(0.8 * lip_scale * a * gain * vad, 0, 1)

    f2 = f["f2_proxy_hz"].astype(np.float64)
    # front vowels ("ee") have a high second formant, rounded back vowels ("oo") a low one; the
    # centre is mostly absolute (so a clip of only "ee"s still spreads the lips), partly the
    # speaker's own median (higher-voiced speakers have higher formants)
    m2 = F2_CENTER_HZ if voiced.sum() <= 3 else 0.7 * F2_CENTER_HZ + 0.3 * float(np.median(f2[voiced]))
    z2 = np.clip((f2 - m2) / F2_SCALE_HZ, -4, 4)
    sa = np.sqrt(np.clip(a, 0, 1))
    wide_t = 0.55 * lip_scale * (voiced * _sigmoid(1.6 * z2 - 0.4) * sa + fric * 0.45)
    pucker_t = 0.6 * lip_scale * voiced * _sigmoid(-1.6 * z2 - 0.6) * sa
    # bilabial closures: a short, deep energy dip inside speech that is not a fricative
    k = 2 * max(int(round(0.1 * fps)), 1) + 1
    env_max = scipy.ndimage.maximum_filter1d(rms, k, mode="nearest")
    dip = 1.0 - rms / np.maximum(env_max, 1e-9)
    closure = vad & ~fric & (rms < 0.35 * ref)
    # a voiced low murmur (m) presses fully; silent stop closures (p, b, but also t, k) half
    murmur = voiced & (f["centroid_hz"] < 700)
    press_t = 0.7 * lip_scale * closure * np.clip((dip - 0.6) / 0.3, 0, 1) * np.where(murmur, 1.0, 0.5)

    out = {
        "jaw_open": sig.attack_release(jaw_t, fps, 0.02, 0.04, start=0.0),
        "mouth_wide": sig.attack_release(wide_t, fps, 0.03, 0.07, start=0.0),
        "mouth_pucker": sig.attack_release(pucker_t, fps, 0.03, 0.07, start=0.0),
        "mouth_press": sig.attack_release(press_t, fps, 0.02, 0.05, start=0.0),
    }
    return {k: np.clip(sig.shift(v, lead_frames), 0, 1) for k, v in out.items()}


# ------------------------------------------------------------------------------ blinks

BLINK_CLOSE_S, BLINK_HOLD_S, BLINK_OPEN_S = 0.09, 0.04, 0.17


def _smoothstep(u):
    u = np.clip(u, 0, 1)
    return u * u * (3 - 2 * u)


def blink_curve(n: int, fps: float, times_s, amplitudes=None) -> np.ndarray:
    """Eyelid closure ``[n]`` for blinks starting at ``times_s`` (close, hold, open)."""
    y = np.zeros(n, np.float32)
    if n == 0:
        return y
    t = (np.arange(n, dtype=np.float64) + 0.5) / fps
    total = BLINK_CLOSE_S + BLINK_HOLD_S + BLINK_OPEN_S
    for j, t0 in enumerate(times_s):
        i0 = max(int(math.floor(t0 * fps)) - 1, 0)
        i1 = min(int(math.ceil((t0 + total) * fps)) + 1, n)
        if i1 <= i0:
            continue
        u = t[i0:i1] - t0
        up = _smoothstep(u / BLINK_CLOSE_S)
        down = 1.0 - _smoothstep((u - BLINK_CLOSE_S - BLINK_HOLD_S) / BLINK_OPEN_S)
        v = np.where(u < BLINK_CLOSE_S + BLINK_HOLD_S, up, down) * (u >= 0)
        amp = 1.0 if amplitudes is None else float(amplitudes[j])
        y[i0:i1] = np.maximum(y[i0:i1], amp * v)
    return y


def blink_times(duration_s: float, fps: float, rate_per_min: float, busy: np.ndarray,
                pause_starts_s, rng: np.random.Generator):
    """Blink start times: gamma(4) intervals at ``rate * (1 - 0.3 * busy)``, snapped to pauses."""
    if rate_per_min <= 0 or duration_s <= 0:
        return []
    n = len(busy)
    times = []
    t = float(rng.uniform(0.2, min(60.0 / rate_per_min, 3.0)))
    while t < duration_s - 0.1:
        times.append(t)
        i = min(max(int(t * fps), 0), n - 1) if n else 0
        local = rate_per_min * (1.0 - 0.3 * float(busy[i] if n else 0.0))
        mean = 60.0 / max(local, 1e-3)
        t += max(float(rng.gamma(4.0, mean / 4.0)), 0.6)
    pauses = list(pause_starts_s)
    used = set()
    for j, tb in enumerate(times):
        near = [p for p in pauses if abs(p - tb) < 0.45 and p not in used]
        if near:
            p = min(near, key=lambda x: abs(x - tb))
            used.add(p)
            times[j] = p + 0.06
    times.sort()
    out = []
    for tb in times:  # a refractory period after each blink
        if not out or tb - out[-1] >= 0.5:
            out.append(tb)
    return out


# ------------------------------------------------------------------------------ the generator

def generate_procedural(speech: SpeechData, emotion: Optional[EmotionData] = None,
                        scene: Optional[SceneData] = None, config: Optional[ProceduralConfig] = None,
                        progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None,
                        phones: Optional[PhoneTrack] = None, **controls) -> MotionData:
    """Motion for ``speech`` (one frame per speech frame), coloured by ``emotion`` and ``scene``.

    ``controls`` override fields of ``config`` (``head_scale=0.5, seed=3`` ...).  ``phones``: the
    speech's phone track (``synchrorama_core.audio.phones.speech_phones(speech, "auto", transcript)``);
    the lips follow its visemes, or the loudness alone without one.
    """
    speech = _check_speech(speech)
    cfg = ProceduralConfig.make(config, **controls)
    steps = Steps(4, progress, cancelled, what="procedural motion")
    steps.check()
    fps, dur, n = speech.fps, speech.duration_s, speech.n_frames
    f = speech.features
    rng = np.random.default_rng(cfg.seed)
    emo = emotion_on_frames(emotion, n, fps, dur)
    if scene is not None and not isinstance(scene, SceneData):
        raise InvalidDataError(f"expected an SR_SCENE value, got {type(scene).__name__}")

    # ---- mouth
    track = check_track(phones, speech)
    mouth = mouth_tracks(f, fps, cfg.lip_scale, cfg.lead_frames, track)
    steps.tick()

    # ---- shared drivers
    vad = f["vad"] > 0.5
    voiced = (f["voiced"] > 0.5) & vad
    ar01 = sig.smooth((emo["arousal"] + 1.0) / 2.0, 0.5 * fps)
    energy = sig.smooth(f["loudness"] * vad, 0.4 * fps)
    energy = energy / max(sig.robust_scale(energy, None, 98.0), 0.3)
    busy = np.clip(sig.smooth(vad.astype(np.float32), 0.5 * fps) * (0.4 + 0.6 * ar01) * np.clip(energy, 0, 1.2),
                   0, 1)
    pauses = [(a, b) for a, b in sig.segments(~vad) if (b - a) / fps >= 0.25]
    pause_starts = [a / fps for a, b in pauses if a > 0]
    phrase_starts = [b / fps for a, b in pauses if b < n]

    # ---- head
    rot = np.zeros((n, 3), np.float32)
    amp = cfg.head_scale * (0.45 + 0.5 * ar01 + 0.7 * np.clip(energy, 0, 1.3))
    base_deg = (3.5, 2.2, 2.0)
    for j in range(3):
        rot[:, j] = base_deg[j] * amp * sig.smooth_noise(rng, n, fps, 0.04, 0.6)
    trans = np.stack([0.012 * amp * sig.smooth_noise(rng, n, fps, 0.03, 0.4),
                      0.008 * amp * sig.smooth_noise(rng, n, fps, 0.03, 0.4)], axis=1).astype(np.float32)
    scale = (1.0 + 0.008 * cfg.head_scale * sig.smooth_noise(rng, n, fps, 0.02, 0.3)).astype(np.float32)
    # nods on stressed syllables
    stress = sig.smooth(f["flux"] * f["loudness"] * voiced, 1.0)
    nod_idx = sig.peaks(stress, fps, 0.45, 0.08)
    if len(nod_idx):
        keep = stress[nod_idx] >= np.percentile(stress[nod_idx], 40)
        nod_idx = nod_idx[keep]
    smax = float(stress.max()) if n else 1.0
    for i in nod_idx.tolist():
        s = stress[i] / max(smax, 1e-6)
        a_nod = cfg.head_scale * (0.6 + 0.8 * ar01[i]) * (0.6 + 0.4 * s)
        c = (i + 0.5) / fps + 0.04
        rot[:, 1] += 2.2 * a_nod * sig.bump(n, fps, c, 0.42)
        rot[:, 0] += float(rng.normal(0, 0.7)) * a_nod * sig.bump(n, fps, c, 0.5)
        rot[:, 2] += float(rng.normal(0, 0.5)) * a_nod * sig.bump(n, fps, c, 0.5)
    # phrase ends settle with a slow nod; phrase starts lift the chin a little
    for t0 in pause_starts:
        rot[:, 1] += 1.8 * cfg.head_scale * sig.bump(n, fps, t0 + 0.2, 0.8)
        rot[:, 2] += float(rng.normal(0, 0.8)) * cfg.head_scale * sig.bump(n, fps, t0 + 0.2, 0.9)
    for t0 in phrase_starts:
        rot[:, 1] -= 1.2 * cfg.head_scale * sig.bump(n, fps, t0 - 0.1, 0.6)
    # emotional posture
    pe = {e: sig.smooth(emo["probs"][:, i] * (0.4 + 0.6 * emo["intensity"]), 0.5 * fps)
          for i, e in enumerate(EMOTIONS)}
    rot[:, 1] += cfg.head_scale * (4.0 * pe["sad"] + 2.0 * pe["angry"] + 1.5 * pe["fear"]
                                   - 1.5 * pe["happy"] - 2.0 * pe["surprised"] + 1.0 * pe["disgusted"])
    rot[:, 2] += cfg.head_scale * (2.5 * pe["contempt"] + 1.5 * pe["sad"])
    scale *= (1.0 - 0.02 * cfg.head_scale * (pe["fear"] + pe["disgusted"])).astype(np.float32)
    steps.tick()

    # ---- expressions
    probs_s = sig.smooth(emo["probs"], 0.3 * fps)
    probs_s = probs_s / np.maximum(probs_s.sum(1, keepdims=True), 1e-6)
    ex = emotion_expressions(probs_s, sig.smooth(emo["intensity"], 0.3 * fps), cfg.expression_scale)
    for k in MOUTH:
        ex[:, X[k]] = ex[:, X[k]] * (1.0 - 0.5 * mouth["jaw_open"]) + mouth[k]
    # eyebrow flashes on pitch accents
    f0 = f["f0_hz"].astype(np.float64)
    flashes = 0
    if voiced.sum() > 3:
        med = np.median(f0[voiced & (f0 > 0)]) if (voiced & (f0 > 0)).any() else 0.0
        if med > 0:
            st = np.where(voiced & (f0 > 0), 12 * np.log2(np.maximum(f0, 1.0) / med), 0.0)
            st = sig.smooth(st, 1.0)
            for i in sig.peaks(st, fps, 0.6, 1.5).tolist():
                if st[i] > 1.0:
                    ex[:, X["brow_raise"]] += (0.22 * cfg.expression_scale * (0.6 + 0.8 * ar01[i])
                                              * sig.bump(n, fps, (i + 0.5) / fps, 0.5))
                    flashes += 1
    g = scene_gestures(scene, n, fps, rng, cfg.head_scale, cfg.expression_scale)
    rot += g.rotation
    ex += g.expressions
    # blinks
    times = blink_times(dur, fps, cfg.blink_rate, busy, pause_starts, rng)
    times = sorted(times + [t for t in g.blink_times_s if all(abs(t - u) > 0.4 for u in times)])
    amps = np.clip(rng.normal(1.0, 0.04, len(times)), 0.85, 1.0)
    blink = blink_curve(n, fps, times, amps)
    ex[:, X["blink_l"]] = np.maximum(ex[:, X["blink_l"]], blink)
    ex[:, X["blink_r"]] = np.maximum(ex[:, X["blink_r"]], blink)
    steps.tick()

    # a bilabial closure stays shut whatever the emotion or a gesture adds to the jaw
    ex[:, X["jaw_open"]] *= 1.0 - mouth["closed"]
    ex = np.clip(ex, 0.0, 1.0)
    rot = np.clip(rot, -89.0, 89.0)
    meta = {"config": cfg.as_dict(), "blinks": len(times), "nods": int(len(nod_idx)),
            "brow_flashes": flashes, "gestures": g.applied, "ignored_actions": g.ignored,
            "emotion": "connected" if emotion is not None else "neutral (none connected)",
            "phones": track_meta(track), "source": speech.source}
    m = MotionData(fps=fps, duration_s=dur, rotation=rot, translation=trans, scale=scale,
                   expressions={k: ex[:, i] for i, k in enumerate(EXPRESSIONS)}, generator="procedural",
                   meta=meta)
    steps.tick()
    return m
