"""What both trainers read from a folder of talking-face videos: the videos, their frames at the
training fps, and their emotion labels.

* :func:`find_videos` lists the videos under a folder (recursively);
* :func:`frames_at` decodes a video once and hands over, for output frames ``0..n-1`` at ``fps``,
  the source frame on screen at each frame's centre time ``(i + 0.5) / fps``;
* :func:`clip_emotion` is a video's emotion: a saved ``SR_EMOTION`` beside it
  (``<video>.emotion.json`` / ``.emotion.safetensors``), else the emotion its path names
  (MEAD style ``.../happy/level_2/001.mp4``, see :func:`synchrorama_core.vocabulary.emotion_from_path`)
  as a constant label, else ``None``.
"""
from __future__ import annotations

import os
from typing import Iterator, List, Optional, Tuple

import numpy as np

from ..errors import Cancelled, InvalidDataError
from ..progress import CancelFn
from ..types import EmotionData
from ..vocabulary.emotions import emotion_from_path, labelled_emotion

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
#: intensity of a path label without a MEAD ``level_N``
DEFAULT_LABEL_INTENSITY = 0.7


def find_videos(folder: str) -> List[str]:
    """Every video (:data:`VIDEO_EXTENSIONS`) under ``folder``, sorted; an error if there is none."""
    if not os.path.isdir(folder):
        raise InvalidDataError(f"training video folder not found: {folder}")
    out = []
    for root, _, files in os.walk(folder):
        out += [os.path.join(root, f) for f in files if f.lower().endswith(VIDEO_EXTENSIONS)]
    if not out:
        raise InvalidDataError(f"no videos ({', '.join(VIDEO_EXTENSIONS)}) found under {folder}")
    return sorted(out)


def frames_at(path: str, fps: float, n: int, max_side: Optional[int] = None,
              cancelled: Optional[CancelFn] = None) -> Iterator[Tuple[List[int], np.ndarray]]:
    """Yield ``(indices, rgb)`` for output frames ``0..n-1`` at ``fps``.

    Output frame ``i`` shows the source frame on screen at ``(i + 0.5) / fps`` (times counted from
    the first decoded frame); each needed source frame is yielded once, as uint8 ``[H, W, 3]``
    (downscaled so its longer side is at most ``max_side``), with the output frames it covers.
    Output frames after the end of the video are not yielded.
    """
    import av

    centres = (np.arange(n) + 0.5) / fps
    try:
        container = av.open(path)
    except Exception as e:  # noqa: BLE001 - PyAV raises its own error classes
        raise InvalidDataError(f"cannot open the video {path}: {e}") from e
    with container:
        if not container.streams.video:
            raise InvalidDataError(f"{path} has no video stream")
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"

        def rgb(fr) -> np.ndarray:
            w, h = fr.width, fr.height
            s = 1.0 if not max_side else min(1.0, max_side / float(max(w, h)))
            if s < 1.0:
                fr = fr.reformat(width=max(2, int(round(w * s / 2)) * 2), height=max(2, int(round(h * s / 2)) * 2))
            return fr.to_ndarray(format="rgb24")

        t0, nxt, pending = None, 0, None   # pending: (time, frame) of the last decoded frame
        for frame in container.decode(vs):
            if cancelled is not None and cancelled():
                raise Cancelled("video decoding cancelled by the user")
            t = frame.time if frame.time is not None else 0.0
            t0 = t if t0 is None else t0
            t -= t0
            if pending is not None:
                k = nxt
                while k < n and centres[k] < t:
                    k += 1
                if k > nxt:
                    yield list(range(nxt, k)), rgb(pending[1])
                    nxt = k
            pending = (t, frame)
            if nxt >= n:
                break
        if pending is None:
            raise InvalidDataError(f"{path}: no video frames could be decoded")
        end = pending[0] + 1.0 / max(float(vs.average_rate or fps), 1.0) + 1e-6
        k = nxt
        while k < n and centres[k] < end:
            k += 1
        if k > nxt:
            yield list(range(nxt, k)), rgb(pending[1])


def clip_emotion(path: str, n: int, fps: float, duration_s: float,
                 default_intensity: float = DEFAULT_LABEL_INTENSITY) -> Optional[EmotionData]:
    """The emotion of a training video (see the module docs), ``n`` frames at ``fps``, or ``None``."""
    stem = os.path.splitext(path)[0]
    for side in (stem + ".emotion.json", stem + ".emotion.safetensors"):
        if os.path.isfile(side):
            em = EmotionData.load(side)
            if em.n_frames != n:
                raise InvalidDataError(f"{side} has {em.n_frames} frames, the video {n} at {fps:g} fps; save the "
                                       f"emotion from the same speech at the training fps")
            return em
    label = emotion_from_path(path)
    if label is None:
        return None
    name, level = label
    probs, v, a, k = labelled_emotion(name, default_intensity if level is None else level)
    return EmotionData(fps=fps, duration_s=duration_s, probs=np.repeat(probs[None], n, axis=0),
                       valence=np.full(n, v, np.float32), arousal=np.full(n, a, np.float32),
                       intensity=np.full(n, k, np.float32), meta={"backend": f"label from path: {name}"})


__all__ = ["DEFAULT_LABEL_INTENSITY", "VIDEO_EXTENSIONS", "clip_emotion", "find_videos", "frames_at"]
