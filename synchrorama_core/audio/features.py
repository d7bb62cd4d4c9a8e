"""Frame-aligned speech features (the ``SR_SPEECH`` contract, :data:`~synchrorama_core.types.SPEECH_FEATURES`).

Analysis runs at a fine 10 ms hop in windows of :data:`WINDOW_S` seconds (with context on both
sides, so window seams do not show), which keeps memory flat however long the audio is.  The
fine tracks are then pooled into video frames: frame ``i`` pools the fine frames whose centres
lie in ``[i/fps, (i+1)/fps)``.

Pitch is a vectorised YIN (de Cheveigne & Kawahara 2002) with its aperiodicity as the voicing
decision; voice activity is an energy detector with an adaptive noise floor and hysteresis.
"""
from __future__ import annotations

import logging
from typing import Dict, Optional

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal

from ..errors import AudioError
from ..progress import CancelFn, ProgressFn, Steps
from ..timing import check_fps, frame_centers_s, n_frames
from ..types import SPEECH_SAMPLE_RATE, SpeechData

log = logging.getLogger("synchrorama.audio")

SR = SPEECH_SAMPLE_RATE
HOP = 160            # 10 ms
N_FFT = 512          # 32 ms spectral frames
YIN_W = 1024         # 64 ms pitch frames
F0_MIN, F0_MAX = 60.0, 500.0
YIN_THRESHOLD = 0.15
VOICED_MAX_APERIODICITY = 0.3
WINDOW_S = 5.0       # analysis window (bounds the transient memory of one window)
N_BANDS = 8
SILENCE_DB = -100.0

_CTX = YIN_W // 2 + 2 * HOP  # context samples on each side of a window (+1 frame for the flux)


def _frames_at(x: np.ndarray, centers: np.ndarray, width: int) -> np.ndarray:
    """Frames of ``width`` samples centred on ``centers`` (indices into ``x``, which is padded)."""
    from numpy.lib.stride_tricks import sliding_window_view
    starts = centers - width // 2
    return sliding_window_view(x, width)[starts]


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def mel_band_edges(n_bands: int = N_BANDS, fmin: float = 60.0, fmax: float = 7600.0) -> np.ndarray:
    """``n_bands + 2`` mel-spaced edge frequencies (HTK mel scale) in Hz."""
    return _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_bands + 2))


def mel_filterbank(freqs: np.ndarray, n_bands: int = N_BANDS) -> np.ndarray:
    """Triangular mel filters ``[n_bands, len(freqs)]`` (unit peak)."""
    e = mel_band_edges(n_bands)
    lo, c, hi = e[:-2, None], e[1:-1, None], e[2:, None]
    up = (freqs[None, :] - lo) / (c - lo)
    down = (hi - freqs[None, :]) / (hi - c)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


class _Analyzer:
    def __init__(self):
        self.window = scipy.signal.get_window("hann", N_FFT).astype(np.float32)
        self.freqs = np.fft.rfftfreq(N_FFT, 1.0 / SR).astype(np.float32)
        self.mel = mel_filterbank(self.freqs)
        self.band_oct = np.log2(mel_band_edges()[1:-1] / 1000.0).astype(np.float32)
        self.f1_mask = ((self.freqs >= 250) & (self.freqs <= 1000)).astype(np.float32)
        self.f2_mask = ((self.freqs >= 900) & (self.freqs <= 2800)).astype(np.float32)
        self.tau_min = int(SR / F0_MAX)
        self.tau_max = int(SR / F0_MIN)

    def fine(self, padded: np.ndarray, centers: np.ndarray, first: bool) -> Dict[str, np.ndarray]:
        """Fine (10 ms) tracks for frames centred at ``centers`` of ``padded``.

        ``padded`` holds context before ``centers[0]``: one extra frame before it is analysed for
        the spectral flux, except for the very first window (``first``), whose flux starts at 0.
        """
        prev = centers[:1] - HOP
        fr = _frames_at(padded, np.concatenate([prev, centers]), N_FFT)
        power_all = np.abs(scipy.fft.rfft(fr * self.window, axis=1)) ** 2  # [F + 1, 257] float32
        logspec = np.log1p(1000.0 * power_all)
        flux = np.maximum(np.diff(logspec, axis=0), 0).mean(axis=1)
        if first:
            flux[0] = 0.0
        power, fr = power_all[1:], fr[1:]
        ms = (fr.astype(np.float64) ** 2).mean(axis=1)
        eps = 1e-10
        total = power.sum(axis=1) + eps
        bands = self.mel @ power.T  # [8, F]
        bands_db = 10 * np.log10(bands.T + eps)
        out = {
            "ms": ms,
            "centroid": (power @ self.freqs) / total,
            "f1": (power @ (self.freqs * self.f1_mask)) / ((power @ self.f1_mask) + eps),
            "f2": (power @ (self.freqs * self.f2_mask)) / ((power @ self.f2_mask) + eps),
            "bands": bands_db.astype(np.float32),
            "zcr": (np.abs(np.diff(np.signbit(fr), axis=1)).sum(axis=1) / (N_FFT - 1)).astype(np.float32),
            "flux": flux.astype(np.float32),
        }
        # tilt: slope of band level (dB) against octave, least squares
        xo = self.band_oct - self.band_oct.mean()
        out["tilt"] = ((bands_db - bands_db.mean(axis=1, keepdims=True)) @ xo) / (xo @ xo)
        f0, aper = self._yin(_frames_at(padded, centers, YIN_W))
        out["f0"], out["aper"] = f0, aper
        return out

    def _yin(self, fr: np.ndarray):
        """Vectorised YIN: f0 (Hz) and aperiodicity (cmndf minimum) per frame."""
        w = YIN_W - self.tau_max  # integration window
        fr = fr - fr.mean(axis=1, keepdims=True)
        nfft = scipy.fft.next_fast_len(YIN_W + w)
        a = scipy.fft.rfft(fr[:, :w], nfft, axis=1)
        b = scipy.fft.rfft(fr, nfft, axis=1)
        r = scipy.fft.irfft(np.conj(a) * b, nfft, axis=1)[:, :self.tau_max + 1]  # r[t] = sum x_j x_{j+t}
        cs = np.concatenate([np.zeros((len(fr), 1), fr.dtype), np.cumsum(fr.astype(np.float64) ** 2, axis=1)], axis=1)
        taus = np.arange(self.tau_max + 1)
        e0 = cs[:, w:w + 1]
        et = cs[:, taus + w] - cs[:, taus]
        d = np.maximum(e0 + et - 2 * r, 0.0)
        d[:, 0] = 0
        cum = np.cumsum(d[:, 1:], axis=1)
        cmndf = np.ones_like(d)
        cmndf[:, 1:] = d[:, 1:] * taus[1:] / np.maximum(cum, 1e-12)
        seg = cmndf[:, self.tau_min:self.tau_max]
        is_min = np.zeros_like(seg, dtype=bool)
        is_min[:, 1:-1] = (seg[:, 1:-1] <= seg[:, :-2]) & (seg[:, 1:-1] <= seg[:, 2:])
        below = is_min & (seg < YIN_THRESHOLD)
        first = np.where(below.any(axis=1), below.argmax(axis=1), seg.argmin(axis=1))
        idx = np.arange(len(seg))
        # parabolic interpolation around the chosen lag
        k = np.clip(first, 1, seg.shape[1] - 2)
        y0, y1, y2 = seg[idx, k - 1], seg[idx, k], seg[idx, k + 1]
        den = y0 - 2 * y1 + y2
        shift = np.where(np.abs(den) > 1e-12, 0.5 * (y0 - y2) / np.where(den == 0, 1, den), 0.0)
        shift = np.clip(shift, -1, 1)
        lag = self.tau_min + k + shift
        aper = seg[idx, first]
        return (SR / lag).astype(np.float32), np.clip(aper, 0, 1).astype(np.float32)


def _fine_tracks(y: np.ndarray, steps: Steps, analyzer: _Analyzer) -> Dict[str, np.ndarray]:
    n_fine = (len(y) + HOP - 1) // HOP
    win = int(WINDOW_S * SR) // HOP  # fine frames per window
    parts = []
    for w0 in range(0, n_fine, win):
        w1 = min(n_fine, w0 + win)
        a, b = w0 * HOP - _CTX, (w1 - 1) * HOP + _CTX + 1
        seg = y[max(a, 0):min(b, len(y))]
        seg = np.pad(seg, (max(0, -a), max(0, b - len(y))))
        centers = np.arange(w0, w1) * HOP - a
        parts.append(analyzer.fine(seg.astype(np.float32, copy=False), centers, first=w0 == 0))
        steps.tick()
    return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}


def _hysteresis(x: np.ndarray, min_on: int, hang: int) -> np.ndarray:
    """Close gaps shorter than ``hang`` and drop bursts shorter than ``min_on`` (boolean)."""
    x = scipy.ndimage.binary_closing(x, structure=np.ones(2 * hang + 1, bool)) if hang else x
    lab, n = scipy.ndimage.label(x)
    if n:
        sizes = np.bincount(lab.ravel())
        keep = sizes >= min_on
        keep[0] = False
        x = keep[lab]
    return x.astype(bool)


def _pool(values: np.ndarray, frame_idx: np.ndarray, n: int, weights: Optional[np.ndarray] = None
          ) -> np.ndarray:
    """Mean of fine values per video frame; empty frames get NaN (filled by the caller)."""
    ok = (frame_idx >= 0) & (frame_idx < n)
    fi = frame_idx[ok]
    v = values[ok]
    w = np.ones(len(fi)) if weights is None else weights[ok]
    if v.ndim == 1:
        s = np.bincount(fi, weights=v * w, minlength=n)
    else:
        s = np.stack([np.bincount(fi, weights=v[:, j] * w, minlength=n) for j in range(v.shape[1])], axis=1)
    c = np.bincount(fi, weights=w, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / (c if v.ndim == 1 else c[:, None])


def _fill(a: np.ndarray, centers: np.ndarray, fine_t: np.ndarray, fine_v: np.ndarray) -> np.ndarray:
    """Frames that pooled nothing (fps above 100) take the fine track interpolated at their centre."""
    bad = ~np.isfinite(a) if a.ndim == 1 else ~np.isfinite(a).all(axis=1)
    if bad.any():
        if a.ndim == 1:
            a[bad] = np.interp(centers[bad], fine_t, fine_v)
        else:
            for j in range(a.shape[1]):
                a[bad, j] = np.interp(centers[bad], fine_t, fine_v[:, j])
    return a


def _activity(f: Dict[str, np.ndarray]):
    """Level in dBFS, voicing and voice activity of the fine (10 ms) tracks."""
    db = 10 * np.log10(np.maximum(f["ms"], 1e-10))
    db = np.maximum(db, SILENCE_DB)
    # voice activity: adaptive floor (10th percentile) + 12 dB, never below -50 dBFS
    floor = np.percentile(db, 10)
    active = db > max(floor + 12.0, -50.0)
    voiced_fine = (f["aper"] < VOICED_MAX_APERIODICITY) & active & (f["f0"] >= F0_MIN) & (f["f0"] <= F0_MAX)
    vad_fine = _hysteresis(active | voiced_fine, min_on=5, hang=8)
    voiced_fine &= vad_fine
    return db, voiced_fine, vad_fine


def fine_analysis(waveform: np.ndarray, progress: Optional[ProgressFn] = None,
                  cancelled: Optional[CancelFn] = None) -> Dict[str, np.ndarray]:
    """The 10 ms analysis tracks behind the frame features, for work that needs finer timing than a
    video frame (phone timing): ``ms`` (mean square), ``db`` (dBFS), ``vad`` and ``voiced``
    (booleans), ``f0``, ``aper``, ``centroid``, ``f1``, ``f2`` (Hz proxies as in
    :data:`~synchrorama_core.types.SPEECH_FEATURES`), ``bands`` ``[n, 8]`` dB, ``tilt``, ``zcr``,
    ``flux``; fine frame ``k`` is centred at ``k * 10 ms``."""
    y = np.asarray(waveform, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise AudioError("speech analysis needs a non-empty mono waveform")
    n_windows = -(-((len(y) + HOP - 1) // HOP) // (int(WINDOW_S * SR) // HOP))
    steps = Steps(n_windows, progress, cancelled, what="speech analysis")
    steps.check()
    f = _fine_tracks(y, steps, _Analyzer())
    f["db"], f["voiced"], f["vad"] = _activity(f)
    return f


def compute_features(waveform: np.ndarray, fps: float, progress: Optional[ProgressFn] = None,
                     cancelled: Optional[CancelFn] = None) -> Dict[str, np.ndarray]:
    """Features of a mono 16 kHz waveform, each with exactly ``n_frames(duration, fps)`` rows."""
    fps = check_fps(fps)
    y = np.asarray(waveform, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise AudioError("speech features need a non-empty mono waveform")
    n = n_frames(len(y) / SR, fps)
    n_windows = -(-((len(y) + HOP - 1) // HOP) // (int(WINDOW_S * SR) // HOP))
    steps = Steps(n_windows + 1, progress, cancelled, what="speech feature extraction")
    steps.check()
    f = _fine_tracks(y, steps, _Analyzer())
    db, voiced_fine, vad_fine = _activity(f)
    # onset strength (positive spectral flux) and syllable-nucleus rate
    flux_fine = f["flux"]
    smooth_db = scipy.ndimage.uniform_filter1d(db, 5)
    peaks, _ = scipy.signal.find_peaks(np.where(vad_fine, smooth_db, SILENCE_DB), prominence=4.0, distance=10)
    peak_train = np.zeros(len(db))
    peak_train[peaks] = 1.0
    rate_fine = scipy.ndimage.uniform_filter1d(peak_train, 200, mode="constant") * 100.0  # per second, 2 s window

    fine_t = np.arange(len(db)) * (HOP / SR)
    idx = np.floor(fine_t * fps + 1e-9).astype(np.int64)
    centers = frame_centers_s(n, fps)

    def pool(v, w=None):
        return _fill(_pool(v, idx, n, w), centers, fine_t, v)

    rms = np.sqrt(np.maximum(pool(f["ms"]), 0))
    loud = np.clip((20 * np.log10(np.maximum(rms, 1e-10)) + 60.0) / 60.0, 0, 1)
    voiced = pool(voiced_fine.astype(np.float64)) >= 0.5
    f0 = pool(f["f0"].astype(np.float64), voiced_fine.astype(np.float64))
    f0 = np.where(voiced & np.isfinite(f0), f0, 0.0)
    flux = pool(flux_fine)
    p99 = np.percentile(flux, 99) if n else 0
    flux = np.clip(flux / p99, 0, 1) if p99 > 1e-9 else np.zeros_like(flux)
    out = {
        "rms": rms,
        "loudness": loud,
        "vad": (pool(vad_fine.astype(np.float64)) >= 0.5).astype(np.float32),
        "f0_hz": f0,
        "voiced": voiced.astype(np.float32),
        "bands": pool(f["bands"].astype(np.float64)),
        "centroid_hz": pool(f["centroid"].astype(np.float64)),
        "f1_proxy_hz": pool(f["f1"].astype(np.float64)),
        "f2_proxy_hz": pool(f["f2"].astype(np.float64)),
        "tilt": pool(f["tilt"].astype(np.float64)),
        "zcr": pool(f["zcr"].astype(np.float64)),
        "flux": flux,
        "rate": pool(rate_fine),
    }
    if not vad_fine.any():
        log.warning("SynchroRaMa: the audio has no voice activity (silent or noise only); "
                    "the face will stay at rest")
    steps.tick()
    return {k: np.nan_to_num(v.astype(np.float32), nan=0.0) for k, v in out.items()}


def speech_from_waveform(waveform: np.ndarray, fps: float, source: str = "", start_s: float = 0.0,
                         progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None,
                         meta: Optional[dict] = None) -> SpeechData:
    """``SR_SPEECH`` from a mono 16 kHz waveform."""
    feats = compute_features(waveform, fps, progress=progress, cancelled=cancelled)
    return SpeechData(waveform=np.asarray(waveform, np.float32), fps=fps, features=feats,
                      source=source, start_s=start_s, meta=dict(meta or {}))
