"""Streaming frames into an mp4: render and encode overlapped, nothing held but a few frames.

Used by the CLI pipeline (``pipeline.generate``) and by the ComfyUI Warp Render Video node, so a
clip of any length costs the same memory::

    info = encode_stream("talking.mp4", renderer.frames(motion, dtype=np.uint8), fps,
                         audio=wave, sample_rate=sr, cancelled=stop)

The frames come from any iterable (typically a generator); a worker thread pulls them while this
thread encodes, through a bounded queue of :data:`QUEUE_FRAMES` frames.  The file is written
under a hidden temporary name beside ``path`` and renamed only when complete: a failed or
cancelled stream leaves no file (and an earlier file at ``path`` is untouched).
"""
from __future__ import annotations

import os
import queue
import threading
import time
from typing import Dict, Iterable, Optional

from ..errors import Cancelled
from ..outputs import part_path
from ..progress import CancelFn, ProgressFn
from .writer import VideoInfo, VideoWriter

#: Rendered frames waiting for the encoder at most (bounds memory; 8 frames of 1024² uint8 = 25 MB).
QUEUE_FRAMES = 8


def stream_frames(frames: Iterable, writer: VideoWriter, cancelled: Optional[CancelFn] = None,
                  timings: Optional[Dict[str, float]] = None, progress: Optional[ProgressFn] = None,
                  total: int = 0) -> None:
    """Pull ``frames`` on a worker thread and write them into ``writer`` on this one.

    Both the renderer (numba, releases the GIL) and the encoder (x264 in C) do their heavy work
    outside the GIL, so on two cores they overlap.  At most :data:`QUEUE_FRAMES` frames wait.
    ``cancelled()`` is polled after every frame written and while waiting for one (a frame
    source may check it too); an error in the frame source is raised here.  ``progress(written, total)`` is called
    on this thread after each frame is encoded (hosts whose progress hooks belong to the calling
    thread, like ComfyUI's, want it here rather than in the frame source).  ``timings`` gets
    ``render`` (seconds spent making frames) and ``encode`` (seconds spent in the encoder).
    """
    q: "queue.Queue" = queue.Queue(maxsize=QUEUE_FRAMES)
    stop = threading.Event()
    done_marker = object()
    render_s = [0.0]

    def put(item) -> None:
        """Queue ``item``, waiting while the queue is full, unless the consumer has stopped."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce():
        it = iter(frames)
        try:
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    f = next(it)
                except StopIteration:
                    break
                render_s[0] += time.perf_counter() - t
                put(f)
            item = done_marker
        except BaseException as e:  # hand the error to the consumer
            item = e
        try:
            put(item)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    pass

    worker = threading.Thread(target=produce, name="synchrorama-render", daemon=True)
    worker.start()
    encode_s = 0.0
    try:
        while True:
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                if cancelled is not None and cancelled():
                    raise Cancelled("video generation cancelled by the user")
                continue
            if item is done_marker:
                break
            if isinstance(item, BaseException):
                raise item
            t = time.perf_counter()
            writer.write(item)
            encode_s += time.perf_counter() - t
            if progress is not None:
                progress(writer.n, max(total, writer.n))
            if cancelled is not None and cancelled():
                raise Cancelled(f"video generation cancelled by the user after {writer.n} frames")
    finally:
        stop.set()
        while True:           # unblock the producer if it waits on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                break
        worker.join(timeout=10)
    if timings is not None:
        timings["render"] = render_s[0]
        timings["encode"] = encode_s


def write_stream(path: str, frames: Iterable, fps: float, audio=None, sample_rate: Optional[int] = None, *,
                 cancelled: Optional[CancelFn] = None, progress: Optional[ProgressFn] = None, total: int = 0,
                 timings: Optional[Dict[str, float]] = None, **writer_options) -> VideoInfo:
    """Stream ``frames`` (with optional ``audio`` at ``sample_rate``) into the H.264/AAC mp4 ``path``
    itself (a temporary name: see :func:`encode_stream`); on cancel or any error ``path`` is removed.

    ``writer_options`` go to :class:`VideoWriter` (``crf``, ``preset``, ``trim_audio``, ``metadata``,
    ...).  ``progress(written, total)``: see :func:`stream_frames`.  Raises
    :class:`~synchrorama_core.errors.Cancelled` when ``cancelled()`` turns true.
    """
    writer = VideoWriter(path, fps, audio=audio, sample_rate=sample_rate, **writer_options)
    try:
        stream_frames(frames, writer, cancelled, timings, progress, total)
        if cancelled is not None and cancelled():
            raise Cancelled("video generation cancelled by the user")
        return writer.close()
    except BaseException:
        writer._abort()
        raise


def encode_stream(path: str, frames: Iterable, fps: float, audio=None, sample_rate: Optional[int] = None,
                  **kw) -> VideoInfo:
    """:func:`write_stream` under a temporary name (:func:`..outputs.part_path`), renamed to ``path`` only when
    complete: a cancel or an error leaves no file and an earlier ``path`` untouched.  Returns what
    was written (its ``path`` is ``path``)."""
    path = os.path.abspath(os.fspath(path))
    tmp = part_path(path)
    info = write_stream(tmp, frames, fps, audio, sample_rate, **kw)
    try:
        os.replace(tmp, path)
    except OSError:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    info.path = path
    return info


__all__ = ["QUEUE_FRAMES", "encode_stream", "stream_frames", "write_stream"]
