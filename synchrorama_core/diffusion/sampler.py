"""The conditioned video sampler: reference attention + landmark ControlNet + AnimateDiff + text/emotion/audio.

:func:`generate_video` turns reference portrait(s), per-frame motion frames (face-mesh drawings
from A2M), ``SR_SPEECH``, and optionally ``SR_EMOTION`` and ``SR_SCENE`` into exactly
``speech.n_frames`` RGB frames.  Long clips are sampled in overlapping windows: the last frames
of each window are carried into the next (its first frames are pulled towards them at every
denoising step) and the overlap is cross-faded, so there is no seam; memory does not grow with
the duration beyond the output frames.
"""
from __future__ import annotations

import inspect
import logging
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidDataError
from ..progress import CancelFn, ProgressFn, Steps
from ..types import EmotionData, SceneData, SpeechData
from .adapters import audio_windows, emotion_condition, speech_condition
from .conditioning import (DEFAULT_NEGATIVE, fit_images, frame_prompts, prompt_weights, reference_images)
from .loader import DiffusionModels

log = logging.getLogger("synchrorama")

SCHEDULERS = ("ddim", "euler", "euler_ancestral", "dpmpp_2m", "unipc")


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
    carry_strength: float = 0.8
    text_blend_frames: int = 6
    decode_batch: int = 8

    def validate(self, mult: int) -> None:
        if self.width % mult or self.height % mult or self.width < mult or self.height < mult:
            raise InvalidDataError(f"width and height must be positive multiples of {mult}, got {self.width}x{self.height}")
        if self.steps < 1:
            raise InvalidDataError("steps must be at least 1")
        if self.scheduler not in SCHEDULERS:
            raise InvalidDataError(f"unknown scheduler {self.scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
        if self.window < 1:
            raise InvalidDataError("window must be at least 1 frame")
        if not 0 <= self.overlap < self.window:
            raise InvalidDataError(f"overlap ({self.overlap}) must be >= 0 and smaller than the window ({self.window})")
        for k in ("cfg", "reference_strength", "control_strength", "audio_strength", "emotion_strength",
                  "carry_strength"):
            v = getattr(self, k)
            if not math.isfinite(v):
                raise InvalidDataError(f"{k} must be a finite number")
        if not 0 <= self.carry_strength <= 1:
            raise InvalidDataError("carry_strength must lie in [0, 1]")


def plan_windows(n: int, window: int, overlap: int) -> List[Tuple[int, int]]:
    """``[(start, end), ...]`` covering frames ``0..n`` exactly; consecutive windows share
    ``overlap`` frames, except that the last window is moved back to end at ``n`` with the full
    length (sharing more frames with the one before) rather than being cut short: a short window
    gives the motion module fewer frames than the others and its frames visibly jump (a seam).
    Only a clip shorter than ``window`` gets a shorter (single) window."""
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


def make_scheduler(name: str, config: dict):
    from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                           EulerDiscreteScheduler, UniPCMultistepScheduler)
    cls = {"ddim": DDIMScheduler, "euler": EulerDiscreteScheduler, "euler_ancestral": EulerAncestralDiscreteScheduler,
           "dpmpp_2m": DPMSolverMultistepScheduler, "unipc": UniPCMultistepScheduler}[name]
    return cls.from_config(config)


def _frame_noise(seed: int, idx: Sequence[int], shape, shared: bool):
    """Initial noise of frames ``idx``: independent per frame (seeded by frame index, so the same
    frame gets the same noise in every window), or one shared noise image for all frames."""
    import torch
    out = []
    for i in idx:
        g = torch.Generator("cpu").manual_seed((int(seed) * 1_000_003 + (0 if shared else int(i) + 1)) % (2 ** 63))
        out.append(torch.randn(shape, generator=g, dtype=torch.float32))
    return torch.stack(out, 0)


def _decode(models: DiffusionModels, lat, batch: int):
    import torch
    vae = models.vae
    frames = []
    size = 1 if models.low_vram.vae_slicing else max(1, batch)
    for s in range(0, lat.shape[0], size):
        x = (lat[s:s + size] / vae.config.scaling_factor).to(models.device, models.vae_dtype)
        img = vae.decode(x, return_dict=False)[0]
        frames.append(((img.float() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).cpu())
    return torch.cat(frames, 0).numpy()


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


def encode_prompts(models: DiffusionModels, prompts: List[str]):
    import torch
    tok = models.tokenizer
    ids = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True,
              return_tensors="pt").input_ids
    with torch.no_grad(), models.on_device(models.text_encoder):
        return models.text_encoder(ids.to(models.device))[0].to(models.dtype)


def generate_video(models: DiffusionModels, references, motion_frames, speech: SpeechData,
                   emotion: Optional[EmotionData] = None, scene: Optional[SceneData] = None,
                   settings: Optional[SamplerSettings] = None, progress: Optional[ProgressFn] = None,
                   cancelled: Optional[CancelFn] = None) -> np.ndarray:
    """Frames ``[speech.n_frames, height, width, 3]`` float32 in 0..1.

    ``references``: :class:`FaceData`, an image or a list of images ``[H, W, 3]`` in 0..1.
    ``motion_frames``: ``[n_frames, h, w, 3]`` face-mesh drawings (the ControlNet condition);
    may be ``None`` only when no ControlNet is loaded.
    """
    import torch
    s = settings or SamplerSettings()
    s.validate(models.size_multiple)
    if not isinstance(speech, SpeechData):
        raise InvalidDataError("speech must be an SR_SPEECH value (connect SynchroRaMa Load Audio or Speech Features)")
    n, fps = speech.n_frames, speech.fps
    if n == 0:
        raise InvalidDataError("the speech is shorter than one video frame; nothing to generate")
    refs = reference_images(references)
    if not refs:
        raise InvalidDataError("no reference image: connect the portrait (IMAGE) or the face analysis (SR_FACE)")
    if models.controlnet is not None:
        if motion_frames is None:
            raise InvalidDataError("a ControlNet is loaded but no motion frames are connected; connect the "
                                   "SynchroRaMa Motion Frames output (or load the models without a ControlNet)")
        m = len(motion_frames)
        if m != n:
            raise InvalidDataError(f"{m} motion frames but the speech lasts {n} frames at {fps:g} fps; render the "
                                   f"motion frames from the same speech and fps")
    elif motion_frames is not None:
        log.warning("motion frames are ignored: no ControlNet is loaded")
    if scene is not None and not isinstance(scene, SceneData):
        raise InvalidDataError("scene must be an SR_SCENE value")
    if emotion is not None and not isinstance(emotion, EmotionData):
        raise InvalidDataError("emotion must be an SR_EMOTION value")
    win = s.window
    if models.has_motion and win > models.motion_max_frames:
        raise InvalidDataError(f"window {win} is longer than the motion module's {models.motion_max_frames} frames")
    overlap = min(s.overlap, win - 1)
    windows = plan_windows(n, win, overlap)

    dev, dt = models.device, models.dtype
    H, W = int(s.height), int(s.width)
    h, w = H // models.vae_scale, W // models.vae_scale
    lat_c = models.unet.config.in_channels
    use_cfg = s.cfg > 1.0
    st = models.state
    st.clear()
    st.ref_strength = float(s.reference_strength)
    st.audio_strength, st.emotion_strength = float(s.audio_strength), float(s.emotion_strength)
    steps = Steps(len(windows) * (s.steps + 1), progress, cancelled, what="video sampling")

    # text: distinct prompts encoded once, mixed per frame
    prompts, index = frame_prompts(n, fps, s.prompt, scene, emotion, s.emotion_phrase)
    cond_emb = encode_prompts(models, prompts)
    neg_emb = encode_prompts(models, [s.negative_prompt or ""])
    weights = torch.from_numpy(prompt_weights(index, len(prompts), s.text_blend_frames))

    # SynchroRaMa adapter conditions
    ad = models.adapters
    audio_win = emo_vec = None
    if ad is not None:
        cond, source = speech_condition(speech)
        if source != ad.config["audio_source"] and cond.shape[1] == ad.config["audio_dim"]:
            log.warning("adapters trained on %s, speech condition is %s", ad.config["audio_source"], source)
        audio_win = torch.from_numpy(audio_windows(cond, ad.config["audio_context"]))
        emo_vec = torch.from_numpy(emotion_condition(emotion, n))

    # reference latents
    with torch.no_grad(), models.on_device(models.vae):
        ref_px = fit_images(refs, H, W).to(dev, models.vae_dtype) * 2 - 1
        ref_lat = models.vae.encode(ref_px).latent_dist.mean * models.vae.config.scaling_factor
    ref_lat = ref_lat.to(dev, dt)
    ref_noise = torch.randn(ref_lat.shape, generator=torch.Generator("cpu").manual_seed(int(s.seed) + 17)).to(dev, dt)
    ref_ctx = cond_emb[index[:1]].expand(ref_lat.shape[0], -1, -1)

    out = np.zeros((n, H, W, 3), np.float32)
    prev_lat, prev_start = None, 0
    try:
        for wi, (a, b) in enumerate(windows):
            F_ = b - a
            idx = list(range(a, b))
            sched = make_scheduler(s.scheduler, models.scheduler_config)
            sched.set_timesteps(s.steps, device=dev)
            timesteps = sched.timesteps
            noise = _frame_noise(s.seed, idx, (lat_c, h, w), shared=not models.has_motion).to(dev, dt)
            lat = noise * sched.init_noise_sigma
            ctx_c = torch.einsum("fp,plc->flc", weights[a:b].to(dev, cond_emb.dtype), cond_emb)
            ctx_u = neg_emb.expand(F_, -1, -1)
            ehs = torch.cat([ctx_u, ctx_c]) if use_cfg else ctx_c
            ctrl = None
            if models.controlnet is not None:
                ctrl = fit_images(motion_frames[a:b], H, W).to(dev, dt)
                ctrl = torch.cat([ctrl, ctrl]) if use_cfg else ctrl
            a_tok = e_tok = None
            if ad is not None:
                with torch.no_grad(), models.on_device(ad):
                    a_tok = ad.audio_tokens(audio_win[a:b].to(dev)).to(dt)
                    e_tok = ad.emotion_tokens(emo_vec[a:b].to(dev)).to(dt)
                if use_cfg:  # the unconditional rows get no audio/emotion: guidance amplifies them
                    a_tok = torch.cat([torch.zeros_like(a_tok), a_tok])
                    e_tok = torch.cat([torch.zeros_like(e_tok), e_tok])
            carry = 0
            if prev_lat is not None:
                carry = min(prev_start + prev_lat.shape[0] - a, F_)
                carry_lat = prev_lat[prev_lat.shape[0] - carry:] if carry > 0 else None
            gen = torch.Generator("cpu").manual_seed(int(s.seed) + 1000 + wi)
            step_kw = {"generator": gen} if "generator" in inspect.signature(sched.step).parameters else {}
            with torch.no_grad(), models.on_device(models.unet, models.controlnet, ad):
                for i, t in enumerate(timesteps):
                    steps.check()
                    if st.ref_strength > 0:
                        st.mode = "write"
                        st.bank.clear()
                        r = sched.add_noise(ref_lat, ref_noise, t.reshape(1))
                        r = sched.scale_model_input(r, t)
                        predict_noise(models, r, t, ref_ctx, frames=1)
                        st.mode = "read"
                    else:
                        st.mode = "off"
                    x = torch.cat([lat, lat]) if use_cfg else lat
                    x = sched.scale_model_input(x, t)
                    st.audio_tokens, st.emotion_tokens = a_tok, e_tok
                    down = mid = None
                    if ctrl is not None and s.control_strength != 0:
                        down, mid = models.controlnet(x, t, encoder_hidden_states=ehs, controlnet_cond=ctrl,
                                                      conditioning_scale=float(s.control_strength),
                                                      return_dict=False)
                    eps = predict_noise(models, x, t, ehs, down, mid, frames=F_)
                    st.audio_tokens = st.emotion_tokens = None
                    if use_cfg:
                        eu, ec = eps.chunk(2)
                        eps = eu + s.cfg * (ec - eu)
                    lat = sched.step(eps, t, lat, return_dict=False, **step_kw)[0]
                    if carry > 0 and s.carry_strength > 0:
                        if i + 1 < len(timesteps):
                            target = sched.add_noise(carry_lat, noise[:carry], timesteps[i + 1].reshape(1))
                        else:
                            target = carry_lat
                        lat[:carry] = lat[:carry] + s.carry_strength * (target - lat[:carry])
                    steps.tick()
            st.mode = "off"
            st.bank.clear()
            with torch.no_grad(), models.on_device(models.vae):
                frames = _decode(models, lat, s.decode_batch)
            if carry > 0:
                wts = (np.arange(1, carry + 1, dtype=np.float32) / (carry + 1))[:, None, None, None]
                out[a:a + carry] = (1 - wts) * out[a:a + carry] + wts * frames[:carry]
                out[a + carry:b] = frames[carry:]
            else:
                out[a:b] = frames
            prev_lat, prev_start = lat.clone(), a  # the next window may share more than `overlap` frames
            steps.tick()
    finally:
        st.clear()
    return out
