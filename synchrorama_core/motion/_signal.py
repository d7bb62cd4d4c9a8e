"""Small, vectorised 1-D signal helpers shared by the motion generators."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import scipy.ndimage
import scipy.signal

from ..resample import resample_rows  # noqa: F401  (the one home for re-timing; used as sig.resample_rows)


def alpha(tau_s: float, fps: float) -> float:
    """Per-frame coefficient of a one-pole smoother with time constant ``tau_s``."""
    if tau_s <= 0:
        return 1.0
    return 1.0 - math.exp(-1.0 / (fps * tau_s))


def attack_release(x: np.ndarray, fps: float, attack_s: float, release_s: float,
                   start: Optional[float] = None) -> np.ndarray:
    """Asymmetric one-pole follower: rises with time constant ``attack_s``, falls with ``release_s``."""
    x = np.asarray(x, np.float64)
    if x.size == 0:
        return x.astype(np.float32)
    a_up, a_down = alpha(attack_s, fps), alpha(release_s, fps)
    y = np.empty_like(x)
    prev = float(x[0] if start is None else start)
    for i, v in enumerate(x.tolist()):  # a Python loop over floats: ~0.2 us per frame
        prev += (v - prev) * (a_up if v > prev else a_down)
        y[i] = prev
    return y.astype(np.float32)


def shift(x: np.ndarray, frames: float) -> np.ndarray:
    """``y[i] = x[i + frames]`` (fractional, linear interpolation, edges held): positive = earlier."""
    x = np.asarray(x, np.float32)
    if x.size == 0 or frames == 0:
        return x.copy()
    i = np.arange(len(x), dtype=np.float64)
    return np.interp(i + frames, i, x).astype(np.float32)


def smooth(x: np.ndarray, sigma_frames: float, axis: int = 0) -> np.ndarray:
    """Gaussian smoothing (edges reflected); ``sigma_frames`` <= 0 returns a copy."""
    x = np.asarray(x, np.float32)
    if sigma_frames <= 0 or x.shape[axis] < 2:
        return x.copy()
    return scipy.ndimage.gaussian_filter1d(x, sigma_frames, axis=axis, mode="nearest").astype(np.float32)


#: Shortest curve smooth_noise normalises (seconds); shorter requests get its beginning.
MIN_NOISE_S = 20.0


def smooth_noise(rng: np.random.Generator, n: int, fps: float, f_lo: float = 0.05, f_hi: float = 0.7,
                 n_sines: int = 7) -> np.ndarray:
    """A smooth, non-repeating random curve with unit standard deviation.

    A sum of sinusoids with random, incommensurate frequencies in ``[f_lo, f_hi]`` Hz (log-uniform,
    amplitude falling as ``1/sqrt(f)``) plus a little low-pass Gaussian noise: no period within
    any realistic clip length, and no jitter above ``f_hi``.
    """
    if n == 0:
        return np.zeros(0, np.float32)
    # A short clip is the start of a longer curve: normalising a few frames by their own (tiny)
    # spread would blow them up, so the curve is made at least MIN_NOISE_S long and cut.
    n_out, n = n, max(n, int(math.ceil(MIN_NOISE_S * fps)))
    t = np.arange(n, dtype=np.float64) / fps
    freqs = np.exp(rng.uniform(math.log(f_lo), math.log(f_hi), n_sines))
    phases = rng.uniform(0, 2 * math.pi, n_sines)
    amps = 1.0 / np.sqrt(freqs)
    y = (amps[:, None] * np.sin(2 * math.pi * freqs[:, None] * t[None] + phases[:, None])).sum(0)
    y /= math.sqrt(0.5 * float((amps ** 2).sum()))
    w = rng.standard_normal(n)
    w = scipy.ndimage.gaussian_filter1d(w, max(fps / (2 * math.pi * f_hi), 0.5), mode="wrap")
    sd = w.std()
    if sd > 1e-9:
        y += 0.35 * w / sd
    return (y / max(y.std(), 1e-9))[:n_out].astype(np.float32)


def bump(n: int, fps: float, center_s: float, width_s: float) -> np.ndarray:
    """Raised-cosine bump of peak 1 and total width ``width_s`` centred at ``center_s``."""
    t = (np.arange(n, dtype=np.float64) + 0.5) / fps
    u = (t - center_s) / max(width_s, 1e-6) * 2.0
    return np.where(np.abs(u) < 1, 0.5 * (1 + np.cos(math.pi * u)), 0.0).astype(np.float32)


def ramp_window(n: int, fps: float, start_s: float, end_s: float, ramp_s: float = 0.3) -> np.ndarray:
    """1 inside ``[start_s, end_s)``, with smooth (cosine) ramps of ``ramp_s`` in and out."""
    t = (np.arange(n, dtype=np.float64) + 0.5) / fps
    r = max(min(ramp_s, 0.5 * (end_s - start_s)), 1e-3)
    up = np.clip((t - start_s) / r, 0, 1)
    down = np.clip((end_s - t) / r, 0, 1)
    w = np.minimum(up, down)
    return (0.5 - 0.5 * np.cos(math.pi * w)).astype(np.float32)


def segments(mask: np.ndarray):
    """``(start, stop)`` index pairs of the runs of True in a boolean array."""
    m = np.asarray(mask, bool).astype(np.int8)
    d = np.diff(np.concatenate([[0], m, [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def robust_scale(x: np.ndarray, mask: Optional[np.ndarray] = None, q: float = 95.0) -> float:
    """The ``q``-th percentile of ``x`` where ``mask`` (or everywhere), never below a tiny epsilon."""
    v = x[mask] if mask is not None and np.any(mask) else x
    if v.size == 0:
        return 1e-6
    return max(float(np.percentile(v, q)), 1e-6)


def peaks(x: np.ndarray, fps: float, min_gap_s: float, prominence: float) -> np.ndarray:
    """Indices of local maxima at least ``min_gap_s`` apart with the given prominence."""
    if len(x) < 3:
        return np.zeros(0, np.int64)
    p, _ = scipy.signal.find_peaks(x, distance=max(int(round(min_gap_s * fps)), 1), prominence=prominence)
    return p.astype(np.int64)
