"""The one place that turns durations into video frame counts (the frame count rule).

Frame ``i`` covers audio ``[i / fps, (i + 1) / fps)``; a clip of ``duration_s`` seconds has
``round(duration_s * fps)`` frames.  Every stage calls these helpers instead of doing its own
arithmetic, so all stages always agree on the frame count.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import InvalidDataError


def check_fps(fps: float) -> float:
    fps = float(fps)
    if not math.isfinite(fps) or fps <= 0 or fps > 240:
        raise InvalidDataError(f"fps must be a positive number up to 240, got {fps!r}")
    return fps


def n_frames(duration_s: float, fps: float) -> int:
    """Number of video frames for ``duration_s`` seconds at ``fps`` (Python's ``round``)."""
    fps = check_fps(fps)
    duration_s = float(duration_s)
    if not math.isfinite(duration_s) or duration_s < 0:
        raise InvalidDataError(f"duration must be a finite number >= 0 s, got {duration_s!r}")
    return int(round(duration_s * fps))


def n_frames_for_samples(n_samples: int, sample_rate: int, fps: float) -> int:
    """Frame count of ``n_samples`` audio samples at ``sample_rate`` Hz."""
    return n_frames(n_samples / float(sample_rate), fps)


def frame_bounds_s(n: int, fps: float) -> np.ndarray:
    """Start and end time of each frame, shape ``[n, 2]`` in seconds."""
    fps = check_fps(fps)
    i = np.arange(n, dtype=np.float64)
    return np.stack([i / fps, (i + 1) / fps], axis=1)


def frame_centers_s(n: int, fps: float) -> np.ndarray:
    """Centre time of each frame in seconds, shape ``[n]``."""
    fps = check_fps(fps)
    return (np.arange(n, dtype=np.float64) + 0.5) / fps


def time_to_frame(t_s: float, fps: float) -> int:
    """Index of the frame that covers time ``t_s`` (not clipped)."""
    return int(math.floor(float(t_s) * check_fps(fps) + 1e-9))
