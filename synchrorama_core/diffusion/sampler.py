"""The conditioned video sampler: reference attention + landmark ControlNet + AnimateDiff + text/emotion/audio.

:func:`generate_video` turns reference portrait(s), per-frame motion frames (face-mesh drawings
from A2M), ``SR_SPEECH``, and optionally ``SR_EMOTION`` and ``SR_SCENE`` into exactly
``speech.n_frames`` RGB frames.

Long clips are sampled the standard way (AnimateDiff-Evolved's context windows, AniPortrait's long
pose-to-video pipeline, diffusers' FreeNoise): one latent holds every frame; at every denoising
step every overlapping ``window``-frame context window is denoised, the windows' noise predictions
are fused per frame (pyramid or uniform weights) and one scheduler step moves the whole latent.
Information flows both ways through the overlaps and nothing is handed over between windows, so
there is no seam, and every scheduler (multistep ones included) sees an ordinary sampling run.
The latent costs 64 KB per frame at 512 x 512 (float32), far less than the output frames.
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import logging
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidDataError
from ..progress import CancelFn, ProgressFn, Steps
from ..types import EmotionData, SceneData, SpeechData
from .adapters import audio_windows, emotion_condition, null_condition, speech_condition
from .conditioning import (DEFAULT_NEGATIVE, fit_images, frame_prompts, prompt_weights, reference_images)
from .loader import DiffusionModels

log = logging.getLogger("synchrorama")

SCHEDULERS = ("ddim", "euler", "euler_ancestral", "dpmpp_2m", "unipc")
#: How the noise predictions of overlapping context windows are weighted per frame.
CONTEXT_FUSE = ("pyramid", "uniform")
#: The clip length the SD1.5 AnimateDiff motion modules (v1-v3) were trained on; their position
#: tables allow 24-32, but longer windows drift from what the modules learnt.
MOTION_TRAINED_FRAMES = 16


@dataclass
class SamplerSettings:
    width: int = 512
    height: int = 512
    steps: int = 25
    cfg: float = 7.0
    seed: int = 0
    scheduler: str = "ddim"
    prompt: str = ""
    negative_prompt: str = DEFAULT_NEGATIVE
    reference_strength: float = 1.0
    control_strength: float = 1.0
    audio_strength: float = 1.0
    emotion_strength: float = 1.0
    emotion_phrase: bool = True
    window: int = 16
    overlap: int = 4
    context_fuse: str = "pyramid"
    text_blend_frames: int = 6
    decode_batch: int = 8

    def validate(self, mult: int) -> None:
        if self.width % mult or self.height % mult or self.width < mult or self.height < mult:
            raise InvalidDataError(f"width and height must be positive multiples of {mult}, got {self.width}x{self.height}")
        if self.steps < 1:
            raise InvalidDataError("steps must be at least 1")
        if self.scheduler not in SCHEDULERS:
            raise InvalidDataError(f"unknown scheduler {self.scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
        if self.context_fuse not in CONTEXT_FUSE:
            raise InvalidDataError(f"unknown context_fuse {self.context_fuse!r}; choose one of {', '.join(CONTEXT_FUSE)}")
        if self.window < 1:
            raise InvalidDataError("window must be at least 1 frame")
        if not 0 <= self.overlap < self.window:
            raise InvalidDataError(f"overlap ({self.overlap}) must be >= 0 and smaller than the window ({self.window})")
        for k in ("cfg", "reference_strength", "control_strength", "audio_strength", "emotion_strength"):
            if not math.isfinite(getattr(self, k)):
                raise InvalidDataError(f"{k} must be a finite number")


# ------------------------------------------------------------------------------ windows and noise

def plan_windows(n: int, window: int, overlap: int) -> List[Tuple[int, int]]:
    """``[(start, end), ...]`` covering frames ``0..n`` exactly; consecutive windows share
    ``overlap`` frames, except that the last window is moved back to end at ``n`` with the full
    length (sharing more frames with the one before) rather than being cut short: a short window
    gives the motion module fewer frames than the others.  Only a clip shorter than ``window``
    gets a shorter (single) window."""
    if n <= 0:
        return []
    step = max(1, window - overlap)
    out, s = [], 0
    while True:
        e = min(s + window, n)
        if e - s < window and out:
            s = max(0, n - window)
        out.append((s, e))
        if e >= n:
            return out
        s += step


def fuse_weights(length: int, method: str = "pyramid") -> np.ndarray:
    """Weights ``[length]`` of one window's prediction per frame: ``uniform`` (all 1) or ``pyramid``
    (1, 2, ... up to the middle and back down, as AnimateDiff-Evolved's pyramid fuse), so a frame
    follows most the windows in which it sits most centrally."""
    if method == "uniform":
        return np.ones(length, np.float32)
    i = np.arange(length)
    return np.minimum(i + 1, length - i).astype(np.float32)


def stream_seed(seed: int, stream: str, index: int = 0) -> int:
    """Seed of one independent random stream (``"frame"``, ``"reference"``, ``"step"``...) of a run.
    Hashed, so no stream of one seed can equal another stream's or another seed's (a sum such
    as ``seed + 17`` made seed 0's reference noise frame 16's initial noise)."""
    h = hashlib.blake2b(f"synchrorama:{int(seed)}:{stream}:{int(index)}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & (2 ** 63 - 1)


def _frame_noise(seed: int, idx: Sequence[int], shape, shared: bool):
    """Initial noise of frames ``idx``: independent per frame (seeded by frame index, so a frame's
    noise does not depend on the clip length or the windows), or one shared noise image for all."""
    import torch
    out = [torch.randn(shape, generator=torch.Generator("cpu").manual_seed(stream_seed(seed, "frame", 0 if shared else i)),
                       dtype=torch.float32) for i in idx]
    return torch.stack(out, 0)


def make_scheduler(name: str, config: dict):
    """A scheduler of ``name`` on the model's training schedule; sampling starts at the last
    training step (``linspace`` spacing, as diffusers' AnimateDiff docs use; ``leading`` started
    25 steps at t=961, on a latent that is pure noise)."""
    from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                           EulerDiscreteScheduler, UniPCMultistepScheduler)
    cls = {"ddim": DDIMScheduler, "euler": EulerDiscreteScheduler, "euler_ancestral": EulerAncestralDiscreteScheduler,
           "dpmpp_2m": DPMSolverMultistepScheduler, "unipc": UniPCMultistepScheduler}[name]
    return cls.from_config({**config, "timestep_spacing": "linspace"})


# ------------------------------------------------------------------------------ model calls

def predict_noise(models: DiffusionModels, x, t, ehs, down=None, mid=None, frames: int = 1):
    """UNet noise prediction for ``x`` ``[B*F, C, h, w]`` (rows batch-major)."""
    unet = models.unet
    if models.has_motion:
        bf, c, h, w = x.shape
        b = bf // frames
        xm = x.view(b, frames, c, h, w).permute(0, 2, 1, 3, 4)
        out = unet(xm, t, encoder_hidden_states=ehs, down_block_additional_residuals=down,
                   mid_block_additional_residual=mid, return_dict=False)[0]
        return out.permute(0, 2, 1, 3, 4).reshape(bf, c, h, w)
    return unet(x, t, encoder_hidden_states=ehs, down_block_additional_residuals=down,
                mid_block_additional_residual=mid, return_dict=False)[0]


@contextlib.contextmanager
def temporal_layers_bypassed(unet):
    """Run ``unet`` as its 2D UNet: every AnimateDiff motion module passes its input through."""
    mods = [m for name, lst in unet.named_modules() if name.endswith("motion_modules") for m in lst]
    for m in mods:
        m.forward = lambda hidden_states, *a, **k: hidden_states
    try:
        yield
    finally:
        for m in mods:
            del m.forward


def reference_pass(models: DiffusionModels, ref, t, ctx) -> None:
    """Fill the reference bank: the (noised, scaled) reference latents ``ref`` through the UNet's 2D
    path, temporal layers bypassed (a reference net is a 2D UNet, as in AnimateAnyone/AniPortrait);
    every spatial self-attention stores its tokens and the state is left in ``read`` mode."""
    st = models.state
    st.mode = "write"
    st.bank.clear()
    with temporal_layers_bypassed(models.unet):
        predict_noise(models, ref, t, ctx, frames=1)
    st.mode = "read"


def encode_prompts(models: DiffusionModels, prompts: List[str]):
    """CLIP embeddings ``[len(prompts), 77 k, C]`` of prompts of any length.

    Each prompt is cut into 75-token chunks, every chunk is encoded with its own start/end tokens
    and the chunks are joined along the sequence (as ComfyUI and A1111 do), so nothing past the
    77th token is lost; shorter prompts are padded with empty chunks to the longest one's ``k``.
    """
    import torch
    tok = models.tokenizer
    size = int(tok.model_max_length)
    body = size - 2
    ids = tok(list(prompts), add_special_tokens=False, truncation=False, verbose=False).input_ids
    k = max([1] + [-(-len(i) // body) for i in ids])
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    rows = []
    for i in ids:
        for c in range(k):
            part = list(i[c * body:(c + 1) * body])
            rows.append([tok.bos_token_id] + part + [tok.eos_token_id] + [pad] * (body - len(part)))
    with torch.no_grad(), models.on_device(models.text_encoder):
        emb = models.text_encoder(torch.tensor(rows, device=models.device))[0]
    return emb.reshape(len(ids), k * size, emb.shape[-1]).to(models.dtype)


# ------------------------------------------------------------------------------ conditions

#: The ControlNet images (uint8) stay on the compute device up to this size, else on the CPU.
_CONTROL_ON_DEVICE_BYTES = 2 ** 30


@dataclass
class Conditions:
    """Everything the context windows need, prepared once per clip (tensors on the compute device;
    the ControlNet images as uint8, 0.75 MB a frame at 512 x 512, on the CPU for long clips)."""

    text: object                        # [P, L, C] the distinct prompts
    text_weights: object                # [n, P] per-frame mix of the prompts
    negative: object                    # [1, L, C]
    reference: object                   # [K, c, h, w] reference latents
    reference_noise: object             # [K, c, h, w]
    reference_text: object              # [K, L, C]
    control: Optional[object] = None    # [n, 3, H, W] uint8 motion frames fitted to the output size
    audio: Optional[object] = None      # [n, Na, C] adapter tokens
    emotion: Optional[object] = None    # [n, Ne, C]
    null_audio: Optional[object] = None     # [1, Na, C] what the unguided half gets (None: the same as `audio`)
    null_emotion: Optional[object] = None


def _text(models: DiffusionModels, n: int, fps: float, s: SamplerSettings, scene, emotion):
    import torch
    prompts, index = frame_prompts(n, fps, s.prompt, scene, emotion, s.emotion_phrase)
    emb = encode_prompts(models, prompts + [s.negative_prompt or ""])  # one length for all
    weights = torch.from_numpy(prompt_weights(index, len(prompts), s.text_blend_frames)).to(models.device, emb.dtype)
    return emb[:-1], weights, emb[-1:], emb[int(index[0])][None]


def _adapter_tokens(models: DiffusionModels, speech: SpeechData, emotion, n: int):
    """Per-frame audio and emotion tokens, and the null tokens for the unguided half when the
    adapters were trained with condition dropout (else ``None``: both halves get the same tokens,
    since a state the adapters never saw must not be amplified by the guidance scale)."""
    import torch
    ad = models.adapters
    cond, source = speech_condition(speech)
    if source != ad.config["audio_source"] and cond.shape[1] == ad.config["audio_dim"]:
        log.warning("adapters trained on %s, speech condition is %s", ad.config["audio_source"], source)
    win = audio_windows(cond, ad.config["audio_context"])
    emo = emotion_condition(emotion, n)
    dev, dt = models.device, models.dtype
    a_tok, e_tok = [], []
    with torch.no_grad(), models.on_device(ad):
        for s in range(0, n, 256):
            a_tok.append(ad.audio_tokens(torch.from_numpy(win[s:s + 256]).to(dev)).to(dt))
            e_tok.append(ad.emotion_tokens(torch.from_numpy(emo[s:s + 256]).to(dev)).to(dt))
        null_a = null_e = None
        if float(ad.config.get("cond_dropout", 0.0)) > 0:
            na, ne = null_condition(ad, 1)
            null_a = ad.audio_tokens(torch.from_numpy(na).to(dev)).to(dt)
            null_e = ad.emotion_tokens(torch.from_numpy(ne).to(dev)).to(dt)
    return torch.cat(a_tok), torch.cat(e_tok), null_a, null_e


def prepare_conditions(models: DiffusionModels, refs, motion_frames, speech: SpeechData, emotion, scene,
                       s: SamplerSettings) -> Conditions:
    import torch
    n, dev, dt = speech.n_frames, models.device, models.dtype
    H, W = int(s.height), int(s.width)
    text, weights, negative, ref_text = _text(models, n, speech.fps, s, scene, emotion)
    with torch.no_grad(), models.on_device(models.vae):
        ref_px = fit_images(refs, H, W).to(dev, models.vae_dtype) * 2 - 1
        ref_lat = (models.vae.encode(ref_px).latent_dist.mean * models.vae.config.scaling_factor).to(dev, dt)
    ref_noise = torch.stack([torch.randn(ref_lat.shape[1:], generator=torch.Generator("cpu").manual_seed(
        stream_seed(s.seed, "reference", k))) for k in range(ref_lat.shape[0])]).to(dev, dt)
    c = Conditions(text=text, text_weights=weights, negative=negative, reference=ref_lat, reference_noise=ref_noise,
                   reference_text=ref_text.expand(ref_lat.shape[0], -1, -1))
    if models.controlnet is not None:
        c.control = torch.cat([(fit_images(motion_frames[a:a + 64], H, W) * 255).round().to(torch.uint8).cpu()
                               for a in range(0, n, 64)])
        if c.control.numel() <= _CONTROL_ON_DEVICE_BYTES and not models.low_vram.cpu_offload:
            c.control = c.control.to(dev)  # up to ~1400 frames at 512 x 512: no transfer per window and step
    if models.adapters is not None:
        c.audio, c.emotion, c.null_audio, c.null_emotion = _adapter_tokens(models, speech, emotion, n)
    return c


# ------------------------------------------------------------------------------ denoising

def window_prediction(models: DiffusionModels, c: Conditions, lat, t, a: int, b: int, s: SamplerSettings):
    """Guided noise prediction ``[b - a, ...]`` of the frames ``a..b`` (``lat`` holds them)."""
    import torch
    dev, dt = models.device, models.dtype
    F_ = b - a
    guided = s.cfg > 1.0
    st = models.state
    ctx = torch.einsum("fp,plc->flc", c.text_weights[a:b], c.text)
    x = lat.to(dt)
    if guided:
        ctx = torch.cat([c.negative.expand(F_, -1, -1), ctx])
        x = torch.cat([x, x])
    if c.audio is not None:
        a_tok, e_tok = c.audio[a:b], c.emotion[a:b]
        if guided:
            na = a_tok if c.null_audio is None else c.null_audio.expand(F_, -1, -1)
            ne = e_tok if c.null_emotion is None else c.null_emotion.expand(F_, -1, -1)
            a_tok, e_tok = torch.cat([na, a_tok]), torch.cat([ne, e_tok])
        st.audio_tokens, st.emotion_tokens = a_tok, e_tok
    down = mid = None
    if c.control is not None and s.control_strength != 0:
        ctrl = c.control[a:b].to(dev).to(dt) / 255.0
        down, mid = models.controlnet(x, t, encoder_hidden_states=ctx, controlnet_cond=torch.cat([ctrl, ctrl])
                                      if guided else ctrl, conditioning_scale=float(s.control_strength),
                                      return_dict=False)
    try:
        eps = predict_noise(models, x, t, ctx, down, mid, frames=F_)
    finally:
        st.audio_tokens = st.emotion_tokens = None
    if guided:
        eu, ec = eps.float().chunk(2)
        return eu + s.cfg * (ec - eu)
    return eps.float()


def denoise(models: DiffusionModels, c: Conditions, windows: List[Tuple[int, int]], s: SamplerSettings,
            steps: Steps):
    """The whole clip's latent ``[n, c, h, w]`` (float32), every window denoised at every step."""
    import torch
    dev = models.device
    n = windows[-1][1]
    sched = make_scheduler(s.scheduler, models.scheduler_config)
    sched.set_timesteps(s.steps, device=dev)
    shape = (models.unet.config.in_channels, s.height // models.vae_scale, s.width // models.vae_scale)
    lat = _frame_noise(s.seed, range(n), shape, shared=not models.has_motion).to(dev) * sched.init_noise_sigma
    weights = [torch.from_numpy(fuse_weights(b - a, s.context_fuse)).to(dev)[:, None, None, None] for a, b in windows]
    step_kw = {}
    if "generator" in inspect.signature(sched.step).parameters:  # ancestral samplers: one noise stream
        step_kw["generator"] = torch.Generator("cpu").manual_seed(stream_seed(s.seed, "step"))
    st = models.state
    st.ref_strength = float(s.reference_strength)
    st.audio_strength, st.emotion_strength = float(s.audio_strength), float(s.emotion_strength)
    with torch.no_grad(), models.on_device(models.unet, models.controlnet, models.adapters):
        for t in sched.timesteps:
            if st.ref_strength > 0:
                r = sched.add_noise(c.reference, c.reference_noise, t.reshape(1))
                reference_pass(models, sched.scale_model_input(r, t), t, c.reference_text)
            else:
                st.mode = "off"
            x = sched.scale_model_input(lat, t)
            eps, total = torch.zeros_like(lat), torch.zeros((n, 1, 1, 1), device=dev)
            for (a, b), w in zip(windows, weights):
                steps.check()
                eps[a:b] += w * window_prediction(models, c, x[a:b], t, a, b, s)
                total[a:b] += w
                steps.tick()
            lat = sched.step(eps / total, t, lat, return_dict=False, **step_kw)[0]
    st.clear()
    return lat


def decode(models: DiffusionModels, lat, batch: int, steps: Steps) -> np.ndarray:
    """RGB frames ``[n, H, W, 3]`` in 0..1 of the latents, ``batch`` frames per VAE call."""
    import torch
    vae = models.vae
    size = 1 if models.low_vram.vae_slicing else max(1, batch)
    out = None
    with torch.no_grad(), models.on_device(vae):
        for s in range(0, lat.shape[0], size):
            steps.check()
            x = (lat[s:s + size] / vae.config.scaling_factor).to(models.device, models.vae_dtype)
            img = ((vae.decode(x, return_dict=False)[0].float() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
            if out is None:
                out = np.empty((lat.shape[0],) + img.shape[1:], np.float32)
            out[s:s + size] = img
            steps.tick()
    return out


# ------------------------------------------------------------------------------ the whole clip

def _check_inputs(models: DiffusionModels, refs, motion_frames, speech, emotion, scene) -> int:
    if not isinstance(speech, SpeechData):
        raise InvalidDataError("speech must be an SR_SPEECH value (connect SynchroRaMa Load Audio or Speech Features)")
    n, fps = speech.n_frames, speech.fps
    if n == 0:
        raise InvalidDataError("the speech is shorter than one video frame; nothing to generate")
    if not refs:
        raise InvalidDataError("no reference image: connect the portrait (IMAGE) or the face analysis (SR_FACE)")
    if models.controlnet is not None:
        if motion_frames is None:
            raise InvalidDataError("a ControlNet is loaded but no motion frames are connected; connect the "
                                   "SynchroRaMa Motion Frames output (or load the models without a ControlNet)")
        if len(motion_frames) != n:
            raise InvalidDataError(f"{len(motion_frames)} motion frames but the speech lasts {n} frames at {fps:g} "
                                   f"fps; render the motion frames from the same speech and fps")
    elif motion_frames is not None:
        log.warning("motion frames are ignored: no ControlNet is loaded")
    if scene is not None and not isinstance(scene, SceneData):
        raise InvalidDataError("scene must be an SR_SCENE value")
    if emotion is not None and not isinstance(emotion, EmotionData):
        raise InvalidDataError("emotion must be an SR_EMOTION value")
    return n


def context_windows(models: DiffusionModels, n: int, s: SamplerSettings) -> List[Tuple[int, int]]:
    """The context windows of an ``n``-frame clip.  Without a motion module frames do not see each
    other, so windows are plain batches (overlaps would only repeat identical predictions)."""
    win = s.window
    if models.has_motion:
        if win > models.motion_max_frames:
            raise InvalidDataError(f"window {win} is longer than the motion module's {models.motion_max_frames} frames")
        if min(win, n) > MOTION_TRAINED_FRAMES:
            log.warning("context window of %d frames: AnimateDiff motion modules were trained on %d frames, "
                        "longer windows lose temporal consistency; use window %d (long clips are covered by "
                        "overlapping windows)", min(win, n), MOTION_TRAINED_FRAMES, MOTION_TRAINED_FRAMES)
        return plan_windows(n, win, min(s.overlap, win - 1))
    return plan_windows(n, win, 0)


def generate_video(models: DiffusionModels, references, motion_frames, speech: SpeechData,
                   emotion: Optional[EmotionData] = None, scene: Optional[SceneData] = None,
                   settings: Optional[SamplerSettings] = None, progress: Optional[ProgressFn] = None,
                   cancelled: Optional[CancelFn] = None) -> np.ndarray:
    """Frames ``[speech.n_frames, height, width, 3]`` float32 in 0..1.

    ``references``: :class:`FaceData`, an image or a list of images ``[H, W, 3]`` in 0..1.
    ``motion_frames``: ``[n_frames, h, w, 3]`` face-mesh drawings (the ControlNet condition);
    may be ``None`` only when no ControlNet is loaded.  Progress counts one tick per window per
    step and one per decoded batch; ``cancelled`` is checked before every window.
    """
    s = settings or SamplerSettings()
    s.validate(models.size_multiple)
    refs = reference_images(references)
    n = _check_inputs(models, refs, motion_frames, speech, emotion, scene)
    windows = context_windows(models, n, s)
    size = 1 if models.low_vram.vae_slicing else max(1, s.decode_batch)
    steps = Steps(len(windows) * s.steps + -(-n // size), progress, cancelled, what="video sampling")
    models.state.clear()
    try:
        c = prepare_conditions(models, refs, motion_frames, speech, emotion, scene, s)
        lat = denoise(models, c, windows, s, steps)
        return decode(models, lat, s.decode_batch, steps)
    finally:
        models.state.clear()
