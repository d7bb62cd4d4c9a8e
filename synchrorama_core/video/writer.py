"""H.264 + AAC mp4 writing with PyAV (``av`` bundles ffmpeg with libx264 and its AAC encoder).

Frames are encoded as they arrive, so memory does not grow with the video's length: the
streaming CLI writes each rendered frame into a :class:`VideoWriter`; whole batches go through
:func:`write_video`.  Audio (kept in memory: a minute of 48 kHz stereo is 23 MB) is encoded
alongside, interleaved with the video, and trimmed to the video's duration by default.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Dict, Iterable, Optional

import numpy as np

from ..errors import BackendError, InvalidDataError
from ..progress import CancelFn, ProgressFn, Steps
from ..timing import check_fps

#: sample rates the AAC encoder accepts; others are resampled to 48 kHz
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
AAC_FRAME = 1024


class VideoError(InvalidDataError):
    """Frames or audio that cannot be written as a video (empty, mismatched sizes, bad values)."""


@dataclass
class VideoInfo:
    """What was written."""

    path: str
    n_frames: int
    fps: float
    width: int            # as encoded (even)
    height: int
    source_width: int     # of the frames given
    source_height: int
    duration_s: float
    audio_duration_s: float = 0.0
    audio_sample_rate: int = 0
    audio_channels: int = 0

    def to_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


def frame_to_uint8(frame, index: int = 0) -> np.ndarray:
    """One frame (float 0..1 or uint8; [H, W], [H, W, 1|3|4]; numpy or torch) -> uint8 [H, W, 3]."""
    if hasattr(frame, "detach"):
        frame = frame.detach().cpu().numpy()
    a = np.asarray(frame)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise VideoError(f"frame {index}: expected an image [H, W, 1|3|4], got shape {list(a.shape)}")
    if a.shape[2] == 4:
        a = a[:, :, :3]
    elif a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        raise VideoError(f"frame {index} contains NaN or infinite values")
    return np.ascontiguousarray((np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


def _even(img: np.ndarray) -> np.ndarray:
    """yuv420p needs even sizes: repeat the last row/column where a side is odd."""
    h, w = img.shape[:2]
    if h % 2 or w % 2:
        img = np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return img


def _audio_array(waveform, sample_rate) -> np.ndarray:
    if hasattr(waveform, "detach"):
        waveform = waveform.detach().cpu().float().numpy()
    a = np.asarray(waveform, dtype=np.float32)
    if a.ndim == 3:          # ComfyUI AUDIO [B, C, T]: first item
        a = a[0]
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[0] < 1:
        raise VideoError(f"audio must be [T], [C, T] or [B, C, T], got shape {list(np.shape(waveform))}")
    if not np.isfinite(a).all():
        raise VideoError("audio contains NaN or infinite samples")
    if a.shape[0] > 2:       # more than stereo: mix down to mono
        a = a.mean(axis=0, keepdims=True)
    if int(sample_rate) <= 0:
        raise VideoError(f"audio sample rate must be positive, got {sample_rate}")
    if a.size and (a.min() < -1.0 or a.max() > 1.0):
        a = np.clip(a, -1.0, 1.0)
    # no copy when the samples are already float32 in range: a long clip's audio is not held twice
    return np.ascontiguousarray(a)


class VideoWriter:
    """Write frames one by one into an H.264 (yuv420p) mp4, with optional AAC audio.

    ::

        with VideoWriter("out.mp4", fps=25, audio=wave, sample_rate=16000) as w:
            for frame in frames:          # [H, W, 3] float 0..1 or uint8, numpy or torch
                w.write(frame)
        print(w.info)

    The first frame fixes the size; odd sizes are padded by one repeated row/column (yuv420p
    needs even sizes).  ``crf``: 0 (lossless) .. 51, lower is better (18-23 is typical).
    ``trim_audio``: cut the audio to the video's duration (``n_frames / fps``).
    ``metadata``: container tags (values that are not strings are stored as JSON).
    A writer that fails or is closed with no frame removes its partial file.
    """

    def __init__(self, path: str, fps: float, audio=None, sample_rate: Optional[int] = None, crf: int = 19,
                 preset: str = "fast", trim_audio: bool = True, audio_bitrate: int = 160_000,
                 metadata: Optional[Dict[str, Any]] = None):
        import av
        self._av = av
        self.path = os.fspath(path)
        try:
            self.fps = check_fps(fps)
        except InvalidDataError as e:
            raise VideoError(str(e)) from e
        crf = int(crf)
        if not 0 <= crf <= 51:
            raise VideoError(f"crf must be 0..51 (lower = better quality), got {crf}")
        self.crf, self.preset, self.trim_audio = crf, str(preset), bool(trim_audio)
        self.rate = Fraction(round(self.fps * 1000), 1000)
        self.audio = None
        self.sample_rate = 0
        if audio is not None:
            if sample_rate is None:
                raise VideoError("audio given without its sample_rate")
            self.audio = _audio_array(audio, sample_rate)
            self.sample_rate = int(sample_rate)
            if self.audio.shape[1] == 0:
                self.audio = None
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        try:
            self._out = av.open(self.path, mode="w", format="mp4",
                                options={"movflags": "use_metadata_tags+faststart"})
        except Exception as e:
            raise BackendError(f"cannot create the video file {self.path}: {e}") from e
        for k, v in (metadata or {}).items():
            import json
            self._out.metadata[str(k)] = v if isinstance(v, str) else json.dumps(v)
        self._v = None
        self._a = None
        self._a_pos = 0          # next audio sample (in the encoder's rate) to encode
        self._a_data = None
        self.n = 0
        self.size = None         # (h, w) of the frames given
        self.info: Optional[VideoInfo] = None
        self._closed = False

    # ------------------------------------------------------------------ streams
    def _open_streams(self, h: int, w: int) -> None:
        v = self._out.add_stream("libx264", rate=self.rate)
        v.width, v.height = w + w % 2, h + h % 2
        v.pix_fmt = "yuv420p"
        v.time_base = 1 / self.rate
        v.options = {"crf": str(self.crf), "preset": self.preset}
        self._v = v
        if self.audio is not None:
            sr = self.sample_rate
            data = self.audio
            if sr not in AAC_RATES:
                import soxr
                data = np.ascontiguousarray(soxr.resample(data.T, sr, 48000).T.astype(np.float32))
                sr = 48000
            a = self._out.add_stream("aac", rate=sr)
            a.layout = "mono" if data.shape[0] == 1 else "stereo"
            a.bit_rate = int(min(160_000 * data.shape[0], 320_000))
            a.time_base = Fraction(1, sr)
            self._a, self._a_sr, self._a_data = a, sr, data

    def _push_audio(self, until_s: Optional[float]) -> None:
        """Encode audio up to ``until_s`` seconds (all of it when None)."""
        if self._a is None:
            return
        total = self._a_data.shape[1]
        end = total if until_s is None else min(total, int(math.ceil(until_s * self._a_sr)))
        while self._a_pos < end:
            stop = min(end, self._a_pos + AAC_FRAME * 16)
            chunk = np.ascontiguousarray(self._a_data[:, self._a_pos:stop])
            fr = self._av.AudioFrame.from_ndarray(chunk, format="fltp", layout=self._a.layout.name)
            fr.sample_rate = self._a_sr
            fr.pts = self._a_pos
            for p in self._a.encode(fr):
                self._out.mux(p)
            self._a_pos = stop

    # ------------------------------------------------------------------ writing
    def write(self, frame) -> None:
        """Add one frame, or every frame of a batch ``[B, H, W, C]``."""
        if self._closed:
            raise VideoError("this video writer is already closed")
        shape = tuple(frame.shape) if hasattr(frame, "shape") else np.shape(frame)
        if len(shape) == 4:
            for f in frame:
                self.write(f)
            return
        img = frame_to_uint8(frame, self.n)
        h, w = img.shape[:2]
        if self.size is None:
            self.size = (h, w)
            self._open_streams(h, w)
        elif (h, w) != self.size:
            raise VideoError(f"frame {self.n} is {w}x{h} but the video is {self.size[1]}x{self.size[0]}; "
                             f"all frames must have the same size (resize or crop them first)")
        vf = self._av.VideoFrame.from_ndarray(_even(img), format="rgb24").reformat(format="yuv420p")
        vf.pts = self.n
        try:
            for p in self._v.encode(vf):
                self._out.mux(p)
        except Exception as e:
            raise BackendError(f"video encoding failed at frame {self.n}: {e}") from e
        self.n += 1
        self._push_audio(self.n / self.fps)

    def write_all(self, frames: Iterable, progress: Optional[ProgressFn] = None,
                  cancelled: Optional[CancelFn] = None, total: Optional[int] = None) -> None:
        if total is None and hasattr(frames, "__len__"):
            total = len(frames)
        steps = Steps(total or 1, progress, cancelled, "video encoding")
        for f in frames:
            self.write(f)
            steps.tick()

    def close(self) -> VideoInfo:
        """Flush the encoders and finish the file; returns what was written."""
        if self._closed:
            return self.info
        self._closed = True
        if self.n == 0:
            self._abort()
            raise VideoError("no frames to write: the IMAGE batch is empty (at least one frame is needed)")
        try:
            for p in self._v.encode(None):
                self._out.mux(p)
            duration = self.n / self.fps
            if self._a is not None:
                if not self.trim_audio:
                    self._push_audio(None)
                else:
                    self._push_audio(duration)
                for p in self._a.encode(None):
                    self._out.mux(p)
            self._out.close()
        except Exception as e:
            self._abort()
            raise BackendError(f"finishing the video {self.path} failed: {e}") from e
        a_dur = self._a_pos / self._a_sr if self._a is not None else 0.0
        self.info = VideoInfo(self.path, self.n, self.fps, self._v.width, self._v.height, self.size[1], self.size[0],
                              duration, a_dur, self._a_sr if self._a is not None else 0,
                              self._a_data.shape[0] if self._a is not None else 0)
        return self.info

    def _abort(self) -> None:
        self._closed = True
        try:
            self._out.close()
        except Exception:
            pass
        try:
            os.remove(self.path)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None:
            self._abort()
            return False
        self.close()
        return False


def write_video(path: str, frames: Iterable, fps: float, audio=None, sample_rate: Optional[int] = None,
                crf: int = 19, preset: str = "fast", trim_audio: bool = True,
                metadata: Optional[Dict[str, Any]] = None, progress: Optional[ProgressFn] = None,
                cancelled: Optional[CancelFn] = None, total: Optional[int] = None) -> VideoInfo:
    """Encode ``frames`` (a batch ``[B, H, W, C]`` or any iterable of frames, e.g. a generator)
    with optional ``audio`` (``[T]``, ``[C, T]`` or ``[B, C, T]`` at ``sample_rate``) into an
    H.264/AAC mp4 at ``path``."""
    w = VideoWriter(path, fps, audio=audio, sample_rate=sample_rate, crf=crf, preset=preset,
                    trim_audio=trim_audio, metadata=metadata)
    try:
        w.write_all(frames, progress=progress, cancelled=cancelled, total=total)
    except BaseException:
        w._abort()
        raise
    return w.close()


def probe_video(path: str) -> Dict[str, Any]:
    """Decode ``path`` fully and report frame count, fps, size and the audio's duration."""
    import av
    if not os.path.isfile(path):
        raise FileNotFoundError(f"video not found: {path}")
    out: Dict[str, Any] = {}
    with av.open(path) as c:
        vs = c.streams.video[0] if c.streams.video else None
        as_ = c.streams.audio[0] if c.streams.audio else None
        if vs is not None:
            out.update(codec=vs.codec_context.name, width=vs.codec_context.width, height=vs.codec_context.height,
                       fps=float(vs.average_rate or vs.guessed_rate or 0), pix_fmt=vs.codec_context.pix_fmt)
            out["n_frames"] = sum(1 for _ in c.decode(vs))
            out["duration_s"] = out["n_frames"] / out["fps"] if out["fps"] else 0.0
        if as_ is not None:
            c.seek(0)
            n = 0
            for fr in c.decode(as_):
                n += fr.samples
            if as_.duration is not None:
                out["audio_stream_duration_s"] = float(as_.duration * as_.time_base)
            out.update(audio_codec=as_.codec_context.name, sample_rate=as_.codec_context.sample_rate,
                       audio_channels=as_.codec_context.channels, audio_samples=n,
                       audio_duration_s=n / float(as_.codec_context.sample_rate))
    return out
