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
