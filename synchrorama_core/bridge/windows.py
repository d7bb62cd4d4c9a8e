"""The video models SynchroRaMa drives, and how their generation windows map onto the clip's time.

ComfyUI core runs these models (nodes of ComfyUI 0.3.64, ``comfy_extras/nodes_wan.py``):

* **Wan2.2-S2V** (``WanSoundImageToVideo`` + ``WanSoundImageToVideoExtend``): 16 fps (the node
  hard-codes ``fps = 16`` when it buckets the audio features).  A window of ``length`` frames has
  ``latent_t = (length - 1) // 4 + 1`` latent frames and consumes ``4 * latent_t`` frames of audio
  (80 for the default 77); the Extend node continues at ``frame_offset = 4 * latents so far``.
  Decoded with the first latent doubled and the first image dropped (as core's template does),
  each window gives exactly ``4 * latent_t`` frames, so window ``i`` is frames
  ``[i * 4 * latent_t, (i + 1) * 4 * latent_t)``.
* **HuMo** (``WanHuMoImageToVideo``): 25 fps (audio features interpolated 50 -> 25 per second),
  one window of ``4 * (latent_t - 1) + 1`` decoded frames (97 for the default 97).

Both take ``length`` in steps of 4 and use ``(length - 1) // 4 + 1`` latent frames: a length that
is not of the form ``4k + 1`` behaves like the largest ``4k + 1`` below it (:func:`valid_length`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Tuple

from ..errors import InvalidDataError
from ..timing import n_frames


@dataclass(frozen=True)
class VideoModel:
    """What the bridge needs to know about one video model."""

    key: str
    label: str
    fps: float                  # the model's frame rate
    default_length: int         # frames per window in core's template
    default_size: Tuple[int, int]   # (width, height) in core's template
    extends: bool               # an Extend node continues it window after window
    pose_control: bool          # takes a pose video (control_video)

    def window_frames(self, length: int) -> int:
        """Frames of the clip one window covers for the model node's ``length``."""
        lt = latent_frames(length)
        return 4 * lt if self.extends else 4 * (lt - 1) + 1

    def n_windows(self, length: int, duration_s: float) -> int:
        """Windows needed to cover ``duration_s`` (at least 1)."""
        return max(1, math.ceil(n_frames(duration_s, self.fps) / self.window_frames(length)))

    def window_span(self, window: int, length: int) -> Tuple[float, float]:
        """``[start_s, end_s)`` of window ``window`` (0-based)."""
        window = int(window)
        if window < 0:
            raise InvalidDataError(f"window must be >= 0 (or -1 for the whole clip), got {window}")
        f = self.window_frames(length)
        return window * f / self.fps, (window + 1) * f / self.fps


VIDEO_MODELS: Dict[str, VideoModel] = {
    "wan2.2_s2v": VideoModel("wan2.2_s2v", "Wan2.2-S2V (WanSoundImageToVideo + Extend)", 16.0, 77, (640, 640),
                             extends=True, pose_control=True),
    "humo": VideoModel("humo", "HuMo (WanHuMoImageToVideo)", 25.0, 97, (640, 640), extends=False,
                       pose_control=False),
}


def video_model(key: str) -> VideoModel:
    try:
        return VIDEO_MODELS[key]
    except KeyError:
        raise InvalidDataError(f"unknown video model {key!r}; choose from {sorted(VIDEO_MODELS)}") from None


def check_length(length) -> int:
    try:
        n = int(length)
    except (TypeError, ValueError):
        raise InvalidDataError(f"length must be a whole number of frames, got {length!r}") from None
    if n < 1 or n > 4097:
        raise InvalidDataError(f"length must be 1..4097 frames (the model node's 'length'), got {n}")
    return n


def latent_frames(length: int) -> int:
    """Latent frames the Wan nodes make for ``length`` frames: ``(length - 1) // 4 + 1``."""
    return (check_length(length) - 1) // 4 + 1


def valid_length(length: int) -> int:
    """The largest ``4k + 1`` not above ``length``: what the model actually generates for it."""
    return 4 * (latent_frames(length) - 1) + 1


__all__ = ["VIDEO_MODELS", "VideoModel", "check_length", "latent_frames", "valid_length", "video_model"]
