"""Conversions between ComfyUI's value formats (IMAGE, MASK, AUDIO) and the core's numpy arrays.

Plain torch/numpy code with no ComfyUI import; the node modules call these so every node
converts the same way.
"""
from __future__ import annotations

from typing import List

import numpy as np

#: SynchroRaMa's own ComfyUI types (their contracts: synchrorama_core/types.py).
SR_SPEECH, SR_EMOTION, SR_SCENE, SR_MOTION, SR_FACE = "SR_SPEECH", "SR_EMOTION", "SR_SCENE", "SR_MOTION", "SR_FACE"
SR_CAST = "SR_CAST"   # several people in one picture, with their motions (conversations)


def image_to_list(image) -> List[np.ndarray]:
    """ComfyUI IMAGE ``[B, H, W, C]`` -> list of float32 ``[H, W, 3]`` arrays (RGB)."""
    a = image.detach().cpu().float().numpy() if hasattr(image, "detach") else np.asarray(image, np.float32)
    if a.ndim == 3:
        if a.shape[-1] not in (1, 3, 4):
            raise ValueError(f"IMAGE must be [B, H, W, C], got shape {list(a.shape)} (a MASK is [B, H, W]: "
                             f"connect an IMAGE output)")
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"IMAGE must be [B, H, W, C], got shape {list(a.shape)}")
    out = []
    for im in a:
        c = im.shape[-1]
        if c == 1:
            im = np.repeat(im, 3, axis=-1)
        elif c == 4:
            im = im[..., :3]
        elif c != 3:
            raise ValueError(f"IMAGE must have 1, 3 or 4 channels, got {c}")
        out.append(np.ascontiguousarray(np.clip(im, 0, 1), dtype=np.float32))
    return out


def list_to_image(frames):
    """Sequence/array of ``[H, W, 3]`` float or uint8 frames -> ComfyUI IMAGE ``[B, H, W, 3]``."""
    import torch
    a = np.asarray(frames)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def audio_value(waveform: np.ndarray, sample_rate: int) -> dict:
    """Core waveform ``[T]`` or ``[C, T]`` -> ComfyUI AUDIO ``{"waveform": [1, C, T], "sample_rate"}``."""
    import torch
    w = np.asarray(waveform, np.float32)
    if w.ndim == 1:
        w = w[None]
    return {"waveform": torch.from_numpy(np.ascontiguousarray(w))[None], "sample_rate": int(sample_rate)}


def audio_parts(audio) -> tuple:
    """ComfyUI AUDIO -> ``(waveform [B, C, T] tensor or array, sample_rate)`` with a clear error."""
    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise ValueError("expected an AUDIO value ({'waveform': [B, C, T], 'sample_rate': int}); "
                         "connect a Load Audio node")
    return audio["waveform"], int(audio["sample_rate"])


def optional_audio(audio) -> tuple:
    """:func:`audio_parts` of an optional AUDIO input: ``(None, None)`` when nothing is connected."""
    return (None, None) if audio is None else audio_parts(audio)


class VideoFile:
    """A ``VIDEO`` value for an mp4 on disk where core ComfyUI's ``VideoFromFile`` is not available
    (standalone use and tests, or a ComfyUI older than the VIDEO type); the same reading methods.
    Inside a current ComfyUI, ``comfy_adapter.video_value`` returns core's own class instead."""

    def __init__(self, path: str):
        self.path = path

    def get_stream_source(self) -> str:
        return self.path

    def _open(self):
        import av
        return av.open(self.path, mode="r")

    def get_dimensions(self) -> tuple:
        with self._open() as c:
            v = c.streams.video[0]
            return int(v.width), int(v.height)

    def get_duration(self) -> float:
        with self._open() as c:
            return float(c.duration / 1_000_000)

    def get_container_format(self) -> str:
        with self._open() as c:
            return c.format.name

    def get_components(self):
        """Every frame as IMAGE ``[N, H, W, 3]``, the audio as AUDIO (or None) and the frame rate
        (like core's ``VideoComponents``; this holds the whole clip in memory)."""
        from types import SimpleNamespace
        import torch
        with self._open() as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
            rate = c.streams.video[0].average_rate
            audio = None
            if c.streams.audio:
                c.seek(0)
                a = [f.to_ndarray() for f in c.decode(audio=0)]
                sr = int(c.streams.audio[0].sample_rate)
                if a:
                    audio = audio_value(np.concatenate([x.reshape(-1, x.shape[-1]) for x in a], axis=1), sr)
        return SimpleNamespace(images=list_to_image(np.stack(frames)) if frames else torch.zeros(0, 0, 0, 3),
                               audio=audio, frame_rate=rate, metadata={})

    def save_to(self, path: str, format="auto", codec="auto", metadata=None) -> None:
        """Copy the streams into ``path`` (no re-encoding), adding ``metadata`` tags."""
        import json
        import av
        with self._open() as src, av.open(path, mode="w", format="mp4",
                                          options={"movflags": "use_metadata_tags"}) as dst:
            for k, v in {**src.metadata, **(metadata or {})}.items():
                dst.metadata[k] = v if isinstance(v, str) else json.dumps(v)
            streams = {s: dst.add_stream_from_template(template=s) for s in src.streams if s.type in ("video", "audio")}
            for pkt in src.demux(*streams):
                if pkt.dts is not None:
                    pkt.stream = streams[pkt.stream]
                    dst.mux(pkt)
