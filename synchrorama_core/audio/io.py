"""Decoding audio files and ComfyUI ``AUDIO`` values.

Formats: everything libsndfile reads (wav, flac, ogg/vorbis/opus, mp3, aiff, ...) through
``soundfile``, and everything else ffmpeg reads (m4a/aac, webm, mp4 audio tracks, ...) through
PyAV, which bundles its own ffmpeg libraries.  Files are decoded block by block, so a long file
never needs more memory than its decoded result.

Documented behaviour on bad input (each is tested):

* missing file -> :class:`AudioFileNotFoundError` naming the path;
* a file that is not audio -> :class:`AudioError` saying neither decoder could read it;
* zero samples -> :class:`AudioError`;
* NaN or infinite samples (a damaged float file) -> :class:`AudioError` naming the file and the
  time of the first bad sample, raised while decoding (before any feature is computed);
* ``start_s`` at or past the end -> :class:`AudioError`; a ``duration_s`` reaching past the
  end is clipped to the end with a logged warning;
* all-silent audio loads normally (it is a valid, silent clip); the feature stage marks no
  voice activity and logs a warning.
"""
from __future__ import annotations

import logging
import math
import os
from typing import Iterator, Optional, Tuple

import numpy as np

from ..errors import AudioError, AudioFileNotFoundError
from ..types import SPEECH_SAMPLE_RATE

log = logging.getLogger("synchrorama.audio")

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff",
                    ".wma", ".webm", ".mp4", ".mka", ".caf")

BLOCK_S = 10.0


def _check_trim(start_s: float, duration_s: Optional[float]) -> Tuple[float, Optional[float]]:
    start_s = float(start_s or 0.0)
    if not math.isfinite(start_s) or start_s < 0:
        raise AudioError(f"trim start must be >= 0 s, got {start_s}")
    if duration_s is not None:
        duration_s = float(duration_s)
        if not math.isfinite(duration_s) or duration_s <= 0:
            raise AudioError(f"trim duration must be > 0 s (or None for 'to the end'), got {duration_s}")
    return start_s, duration_s


def _past_end(path: str, start_s: float, total_s: float) -> AudioError:
    return AudioError(f"trim start {start_s:.3f} s is at or past the end of {os.path.basename(path)} "
                      f"({total_s:.3f} s long); choose a start before the end")


def _clip_warning(path: str, start_s: float, duration_s: float, total_s: float) -> None:
    log.warning("SynchroRaMa: trim %.3f s + %.3f s reaches past the end of %s (%.3f s); "
                "using the audio up to its end", start_s, duration_s, os.path.basename(path), total_s)


def _trim_samples(total: int, sr: int, start_s: float, duration_s: Optional[float], what: str) -> Tuple[int, int]:
    """Sample range ``[start, stop)`` of a trim of ``total`` samples: an error when it starts past the
    end, a warning (and the rest of the audio) when it runs past the end."""
    start = int(round(start_s * sr))
    if start >= total:
        raise _past_end(what, start_s, total / sr)
    stop = total
    if duration_s is not None:
        stop = start + int(round(duration_s * sr))
        if stop > total:
            _clip_warning(what, start_s, duration_s, total / sr)
            stop = total
    return start, stop


def _blocks_soundfile(path: str, start_s: float, duration_s: Optional[float]):
    import soundfile as sf
    f = sf.SoundFile(path)  # raises for files libsndfile cannot read

    def gen() -> Iterator[np.ndarray]:
        with f:
            sr, total = f.samplerate, f.frames
            if total <= 0:
                raise AudioError(f"{os.path.basename(path)} contains no audio samples")
            start, stop = _trim_samples(total, sr, start_s, duration_s, path)
            f.seek(start)
            left = stop - start
            block = max(int(BLOCK_S * sr), 1)
            while left > 0:
                x = f.read(min(block, left), dtype="float32", always_2d=True)
                if len(x) == 0:
                    break
                left -= len(x)
                yield x

    est = None
    if f.frames > 0:
        start = int(round(start_s * f.samplerate))
        stop = f.frames if duration_s is None else min(f.frames, start + int(round(duration_s * f.samplerate)))
        est = max(stop - start, 0)
    return f.samplerate, f.channels, est, gen()


def _blocks_pyav(path: str, start_s: float, duration_s: Optional[float]):
    import av
    try:
        container = av.open(path)
    except Exception as e:  # PyAV raises many error classes; all mean "cannot read"
        raise AudioError(f"could not decode {os.path.basename(path)} as audio: {e}") from e
    if not container.streams.audio:
        container.close()
        raise AudioError(f"{os.path.basename(path)} has no audio stream")
    stream = container.streams.audio[0]
    sr = int(stream.codec_context.sample_rate or stream.rate or 0)
    ch = int(stream.codec_context.channels or 0) or 1
    if sr <= 0:
        container.close()
        raise AudioError(f"{os.path.basename(path)}: audio stream has no sample rate")
    est = None
    if stream.duration is not None and stream.time_base is not None:
        total = float(stream.duration * stream.time_base)
        est = int(max(0.0, (min(total, start_s + duration_s) if duration_s else total) - start_s) * sr)
    elif container.duration:
        total = container.duration / 1e6
        est = int(max(0.0, (min(total, start_s + duration_s) if duration_s else total) - start_s) * sr)

    def gen() -> Iterator[np.ndarray]:
        start = int(round(start_s * sr))
        stop = None if duration_s is None else start + int(round(duration_s * sr))
        pos = 0  # samples decoded so far
        emitted = 0
        resampler = av.AudioResampler(format="fltp", rate=sr)
        try:
            for frame in container.decode(stream):
                for fr in resampler.resample(frame):
                    x = fr.to_ndarray().T.astype(np.float32, copy=False)  # [n, C]
                    a, b = pos, pos + len(x)
                    pos = b
                    lo, hi = max(start, a), b if stop is None else min(stop, b)
                    if hi > lo:
                        emitted += hi - lo
                        yield x[lo - a:hi - a]
                    if stop is not None and pos >= stop:
                        return
        except av.error.FFmpegError as e:
            if emitted == 0:
                raise AudioError(f"could not decode {os.path.basename(path)} as audio: {e}") from e
            log.warning("SynchroRaMa: decoding %s stopped early (%s); using the first %.2f s",
                        os.path.basename(path), e, emitted / sr)
        finally:
            container.close()
        if pos == 0:
            raise AudioError(f"{os.path.basename(path)} contains no audio samples")
        if start >= pos:
            raise _past_end(path, start_s, pos / sr)
        if stop is not None and stop > pos:
            _clip_warning(path, start_s, duration_s, pos / sr)

    return sr, ch, est, gen()


def open_audio_blocks(path: str, start_s: float = 0.0, duration_s: Optional[float] = None):
    """Open ``path`` for block-wise decoding.

    Returns ``(sample_rate, channels, estimated_samples or None, iterator of float32 [n, C])``.
    """
    path = os.fspath(path)
    start_s, duration_s = _check_trim(start_s, duration_s)
    if not os.path.exists(path):
        raise AudioFileNotFoundError(f"audio file not found: {path}")
    if os.path.isdir(path):
        raise AudioError(f"{path} is a folder, not an audio file")
    if os.path.getsize(path) == 0:
        raise AudioError(f"{os.path.basename(path)} is an empty file (0 bytes)")
    errors = []
    opened = None
    try:
        opened = _blocks_soundfile(path, start_s, duration_s)
    except AudioError:
        raise
    except Exception as e:  # libsndfile could not read it: try ffmpeg
        errors.append(f"libsndfile: {e}")
    if opened is None:
        try:
            opened = _blocks_pyav(path, start_s, duration_s)
        except AudioError as e:
            errors.append(f"ffmpeg: {e}")
            raise AudioError(f"{os.path.basename(path)} is not an audio file that can be decoded "
                             f"({'; '.join(errors)}). Use wav, flac, ogg, mp3 or m4a") from None
    sr, ch, est, blocks = opened
    return sr, ch, est, _finite_blocks(blocks, path, sr, start_s)


def _finite_blocks(blocks: Iterator[np.ndarray], path: str, sr: int, start_s: float) -> Iterator[np.ndarray]:
    """``blocks``, refusing NaN or infinite samples (float files can hold them) at the first one."""
    pos = 0
    for x in blocks:
        ok = np.isfinite(x)
        if not ok.all():
            i = int(np.argmin(ok.all(axis=1)))
            raise AudioError(f"{os.path.basename(path)} contains NaN or infinite samples (the first at "
                             f"{start_s + (pos + i) / sr:.3f} s): the file is damaged or was written by a broken "
                             f"program; re-export it (e.g. as 16-bit PCM wav)")
        pos += len(x)
        yield x


def decode_audio(path: str, start_s: float = 0.0, duration_s: Optional[float] = None
                 ) -> Tuple[np.ndarray, int]:
    """Decode at the file's own sample rate and channels: ``(float32 [C, T], sample_rate)``."""
    sr, ch, est, blocks = open_audio_blocks(path, start_s, duration_s)
    parts = list(blocks)
    x = np.concatenate(parts, axis=0) if parts else np.zeros((0, ch), np.float32)
    if x.shape[0] == 0:
        raise AudioError(f"{os.path.basename(path)} contains no audio samples")
    return np.ascontiguousarray(x.T), sr


class _Growable:
    """A 1-D float32 buffer that grows by 1.5x, preallocated from an estimate."""

    def __init__(self, capacity: int):
        self.buf = np.empty(max(int(capacity), 1024), np.float32)
        self.n = 0

    def append(self, x: np.ndarray) -> None:
        need = self.n + len(x)
        if need > len(self.buf):
            new = np.empty(max(need, int(len(self.buf) * 1.5)), np.float32)
            new[:self.n] = self.buf[:self.n]
            self.buf = new
        self.buf[self.n:need] = x
        self.n = need

    def result(self) -> np.ndarray:
        if len(self.buf) - self.n > 65536:
            self.buf = self.buf[:self.n].copy()  # give back an over-estimate (PyAV durations)
        return self.buf[:self.n]


def _downmix(x: np.ndarray) -> np.ndarray:
    """``[n, C]`` -> ``[n]`` mean over channels (float32)."""
    return x[:, 0] if x.shape[1] == 1 else x.mean(axis=1, dtype=np.float32)


def load_speech_waveform(path: str, start_s: float = 0.0, duration_s: Optional[float] = None,
                         sample_rate: int = SPEECH_SAMPLE_RATE) -> np.ndarray:
    """Decode, downmix to mono and resample to ``sample_rate`` block by block (bounded memory)."""
    import soxr
    sr, ch, est, blocks = open_audio_blocks(path, start_s, duration_s)
    out_est = int(math.ceil((est or sr * 60) * sample_rate / sr)) + 1024
    out = _Growable(out_est)
    rs = None if sr == sample_rate else soxr.ResampleStream(sr, sample_rate, 1, dtype="float32", quality="HQ")
    for x in blocks:
        m = _downmix(x)
        out.append(m if rs is None else rs.resample_chunk(m))
    if rs is not None:
        out.append(rs.resample_chunk(np.zeros(0, np.float32), last=True))
    y = out.result()
    if len(y) == 0:
        raise AudioError(f"{os.path.basename(path)} contains no audio samples")
    return y


def to_speech_waveform(waveform, sample_rate: int, target_sr: int = SPEECH_SAMPLE_RATE) -> np.ndarray:
    """Any waveform (``[T]``, ``[C, T]`` or ComfyUI's ``[B, C, T]``; numpy or torch) -> mono float32
    ``[T]`` at ``target_sr``.  Only the first batch item of a ``[B, C, T]`` value is used."""
    if hasattr(waveform, "detach"):
        waveform = waveform.detach().cpu().float().numpy()
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim == 3:
        if x.shape[0] > 1:
            log.warning("SynchroRaMa: AUDIO holds a batch of %d clips; using the first", x.shape[0])
        x = x[0]
    if x.ndim == 2:
        x = x.mean(axis=0, dtype=np.float32) if x.shape[0] > 1 else x[0]
    if x.ndim != 1:
        raise AudioError(f"audio waveform must be [T], [C, T] or [B, C, T], got shape {list(np.shape(waveform))}")
    if x.size == 0:
        raise AudioError("audio contains no samples")
    if not np.isfinite(x).all():
        raise AudioError("audio contains NaN or infinite samples")
    sample_rate = int(sample_rate)
    if sample_rate <= 0:
        raise AudioError(f"invalid sample rate {sample_rate}")
    if sample_rate != target_sr:
        import soxr
        x = soxr.resample(x, sample_rate, target_sr, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(x)


def trim_waveform(x: np.ndarray, sample_rate: int, start_s: float = 0.0,
                  duration_s: Optional[float] = None, what: str = "audio") -> np.ndarray:
    """Trim the last axis of ``x`` with the same rules as file trimming."""
    start_s, duration_s = _check_trim(start_s, duration_s)
    start, stop = _trim_samples(x.shape[-1], sample_rate, start_s, duration_s, what)
    return x[..., start:stop]
