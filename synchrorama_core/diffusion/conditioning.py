"""Text prompts per frame (scene segment + emotion phrase) and image preparation for the sampler."""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from ..errors import InvalidDataError
from ..timing import frame_centers_s
from ..types import EmotionData, FaceData, SceneData
from ..vocabulary.emotions import EmotionSummary, emotion_phrase

DEFAULT_PROMPT = "a photo of a person talking to the camera, detailed face, natural skin, high quality"
DEFAULT_NEGATIVE = "blurry, deformed face, distorted mouth, extra teeth, low quality, watermark, text"

def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or x.shape[0] <= 1:
        return x
    k = np.ones(width, np.float32) / width
    pad = width // 2
    xp = np.pad(x, [(pad, width - 1 - pad)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    if x.ndim == 1:
        return np.convolve(xp, k, mode="valid")
    return np.stack([np.convolve(xp[:, j], k, mode="valid") for j in range(x.shape[1])], axis=1)


def _merge_short_runs(labels: List[str], min_len: int) -> List[str]:
    """Absorb runs shorter than ``min_len`` into the previous run (the first into the next)."""
    if not labels:
        return labels
    runs = []  # [label, length]
    for lab in labels:
        if runs and runs[-1][0] == lab:
            runs[-1][1] += 1
        else:
            runs.append([lab, 1])
    changed = True
    while changed and len(runs) > 1:
        changed = False
        for i, (lab, ln) in enumerate(runs):
            if ln < min_len:
                j = i - 1 if i > 0 else i + 1
                runs[j][1] += ln
                del runs[i]
                merged = []
                for r in runs:
                    if merged and merged[-1][0] == r[0]:
                        merged[-1][1] += r[1]
                    else:
                        merged.append(r)
                runs = merged
                changed = True
                break
    out: List[str] = []
    for lab, ln in runs:
        out += [lab] * ln
    return out


def scene_text(scene: Optional[SceneData], t_s: float) -> str:
    if scene is None:
        return ""
    parts = [scene.prompt.strip()]
    seg = scene.segment_at(t_s)
    if seg is not None:
        parts.append(seg.description.strip())
        parts += [a.strip() for a in seg.actions] + [a.strip() for a in seg.attributes]
    return ", ".join(p for p in parts if p)


def frame_prompts(n: int, fps: float, prompt: str = "", scene: Optional[SceneData] = None,
                  emotion: Optional[EmotionData] = None, use_emotion_phrase: bool = True
                  ) -> Tuple[List[str], np.ndarray]:
    """The distinct prompts of a clip and each frame's prompt index ``[n]``.

    A frame's prompt is the user's prompt (or :data:`DEFAULT_PROMPT`), the scene text of the
    segment that covers the frame (``SR_SCENE.prompt``, description, actions, attributes), and
    an emotion phrase from the emotion averaged over about one second; emotion changes shorter
    than a second do not change the prompt.
    """
    base = prompt.strip() or DEFAULT_PROMPT
    centers = frame_centers_s(n, fps)
    phrases = [""] * n
    if emotion is not None and use_emotion_phrase and n:
        if emotion.n_frames != n:
            raise InvalidDataError(f"SR_EMOTION has {emotion.n_frames} frames but the video has {n}; build the "
                                   f"emotion from the same speech (same duration and fps)")
        w = max(1, int(round(fps)))
        probs = _smooth(emotion.probs.astype(np.float32), w)
        inten = _smooth(emotion.intensity.astype(np.float32), w)
        phrases = _merge_short_runs([emotion_phrase(EmotionSummary.of_frame(probs[i], float(inten[i])), cues=True)
                                     for i in range(n)], w)
    texts = [", ".join(p for p in (base, scene_text(scene, float(centers[i])), phrases[i]) if p) for i in range(n)]
    unique: List[str] = []
    index = np.zeros(n, np.int64)
    for i, t in enumerate(texts):
        if t not in unique:
            unique.append(t)
        index[i] = unique.index(t)
    return unique or [base], index


def prompt_weights(index: np.ndarray, n_prompts: int, blend_frames: int) -> np.ndarray:
    """Per-frame mixing weights ``[n, n_prompts]``: one-hot, cross-faded over ``blend_frames``
    frames around each prompt change so the text condition never jumps between two frames."""
    n = index.shape[0]
    w = np.zeros((n, n_prompts), np.float32)
    w[np.arange(n), index] = 1.0
    if blend_frames > 1 and n > 1:
        w = _smooth(w, int(blend_frames))
        w /= np.maximum(w.sum(axis=1, keepdims=True), 1e-8)
    return w


# ------------------------------------------------------------------------------ images

def reference_images(references) -> List[np.ndarray]:
    """Reference portraits as a list of ``[H, W, 3]`` float32 arrays in 0..1.

    Accepts a :class:`FaceData`, an array ``[H, W, 3]`` or ``[K, H, W, 3]``, or a list of arrays
    (float in 0..1, or uint8 in 0..255).
    """
    if references is None:
        return []
    if isinstance(references, FaceData):
        return [np.asarray(im, np.float32) for im in references.images]
    if hasattr(references, "detach"):
        references = references.detach().cpu().float().numpy()
    if isinstance(references, np.ndarray):
        references = [references] if references.ndim == 3 else list(references)
    out = []
    for i, im in enumerate(references):
        a = np.asarray(im.detach().cpu().numpy() if hasattr(im, "detach") else im)
        a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
        if a.ndim != 3 or a.shape[-1] not in (3, 4) or min(a.shape[:2]) < 8:
            raise InvalidDataError(f"reference image {i + 1}: expected [H, W, 3] pixels, got shape {list(a.shape)}")
        if not np.isfinite(a).all():
            raise InvalidDataError(f"reference image {i + 1} contains NaN or infinite values")
        out.append(np.clip(a[..., :3], 0.0, 1.0))
    return out


def fit_images(images, height: int, width: int):
    """``[N, h, w, 3]`` (array, tensor or list; float 0..1 or uint8) -> float tensor ``[N, 3, height, width]`` in 0..1,
    centre-cropped to the target aspect ratio and resized with antialiasing."""
    import torch
    import torch.nn.functional as F
    outs = []
    for im in images:
        t = im if hasattr(im, "detach") else torch.from_numpy(np.ascontiguousarray(im))
        t = t.detach()
        t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
        t = t[..., :3].permute(2, 0, 1)[None]
        h, w = t.shape[-2:]
        if h * width > w * height:      # too tall: crop rows
            nh = max(1, int(round(w * height / width)))
            y0 = (h - nh) // 2
            t = t[..., y0:y0 + nh, :]
        elif h * width < w * height:    # too wide: crop columns
            nw = max(1, int(round(h * width / height)))
            x0 = (w - nw) // 2
            t = t[..., :, x0:x0 + nw]
        if tuple(t.shape[-2:]) != (height, width):
            t = F.interpolate(t, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
        outs.append(t.clamp(0, 1))
    return torch.cat(outs, 0) if outs else torch.zeros(0, 3, height, width)
