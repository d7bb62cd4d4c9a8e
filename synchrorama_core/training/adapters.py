"""Train the SynchroRaMa adapters (audio cross-attention + emotion projection) on talking-face videos.

    python -m synchrorama_core.training.adapters --data VIDEOS_DIR --checkpoint SD15.safetensors \\
        --out models/synchrorama/adapters/my_adapters.safetensors [--motion-adapter MM] [--controlnet CN] ...

Every video (mp4, mov, mkv, webm, avi; with a speech track) under ``--data`` becomes a clip:
its frames (centre-cropped to a square of ``--size``), its speech features (``SR_SPEECH`` at
``--fps``), its emotion (an ``<video>.emotion.json``/``.safetensors`` SR_EMOTION beside it, else
the emotion named in the path, MEAD style: ``.../happy/level_2/001.mp4``, else neutral), its
first frame as the reference portrait and, when a ControlNet is given and the face analysis
(``synchrorama_core.face``) is available, face-mesh drawings of every frame as motion frames.

Only the adapters learn; the UNet, VAE, text encoder, ControlNet and motion module stay frozen.
The objective is the denoising loss of the base model (epsilon or v prediction).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..audio import load_speech_waveform, speech_from_waveform
from ..diffusion.adapters import SRAdapters, audio_windows, emotion_condition, speech_condition
from ..diffusion.conditioning import DEFAULT_PROMPT, fit_images
from ..diffusion.sampler import SamplerSettings
from ..errors import InvalidDataError, SynchroRaMaError, one_line
from ..face import track_landmarks
from ..motion import render_motion_frames
from ..motion.draw import FACE_CONTROLNET_STYLE
from ..outputs import check_writable
from ..types import EMOTIONS
from ..vocabulary.emotions import EmotionSummary, emotion_phrase
from .data import clip_emotion, find_videos, frames_at

log = logging.getLogger("synchrorama")
#: The sampler's defaults: training sees what inference will (resolution, window length).
_SAMPLER = SamplerSettings()



@dataclass
class Clip:
    """One training video, prepared: latents and conditions per frame."""

    source: str
    latents: "object"          # [n, C, h, w] float32 (CPU)
    ref_latents: "object"      # [1, C, h, w]
    audio: np.ndarray          # [n, 2k+1, D]
    emotion: np.ndarray        # [n, 11]
    text: str
    audio_source: str = ""
    control: Optional[np.ndarray] = None   # [n, H, W, 3] uint8 face-mesh drawings

    @property
    def n(self) -> int:
        return int(self.latents.shape[0])


def read_frames(path: str, fps: float, n: int, size: int) -> np.ndarray:
    """``n`` RGB frames at ``fps`` (:func:`..training.data.frames_at`; frames after the video's end
    repeat its last frame), centre-cropped and resized to ``size``x``size``, float32 in 0..1."""
    out = np.zeros((n, size, size, 3), np.float32)
    last = -1
    for idx, rgb in frames_at(path, fps, n):
        out[idx] = fit_images([rgb.astype(np.float32) / 255.0], size, size)[0].permute(1, 2, 0).numpy()
        last = idx[-1]
    if last < 0:
        raise InvalidDataError(f"{path}: no video frames could be decoded")
    out[last + 1:] = out[last]
    return out


def emotion_for(path: str, n: int, fps: float) -> np.ndarray:
    """Per-frame emotion vector ``[n, 11]`` of a training video (:func:`..training.data.clip_emotion`;
    neutral when the video has no label)."""
    return emotion_condition(clip_emotion(path, n, fps, n / fps), n)


def _face_drawings(frames: np.ndarray, style: str) -> Optional[np.ndarray]:
    """Face-mesh drawings of ``frames`` with the optional face analysis, or ``None`` if unavailable."""
    try:
        lms = track_landmarks(frames)
    except Exception as e:  # noqa: BLE001 - a missing face model must not stop the training
        log.warning("face tracking failed (%s): training without motion frames", e)
        return None
    if not any(lm is not None for lm in lms):
        log.warning("no face found in the video: training this clip without motion frames")
        return None
    last = next(lm for lm in lms if lm is not None)
    filled = []
    for lm in lms:
        last = lm if lm is not None else last
        filled.append(last)
    h, w = frames.shape[1:3]
    return render_motion_frames(np.stack(filled), h, w, style)


def prepare_clip(path: str, models, fps: float, size: int, max_seconds: float, with_control: bool,
                 style: str = FACE_CONTROLNET_STYLE, audio_context: int = 2) -> Clip:
    """Decode, analyse and VAE-encode one video."""
    import torch
    y = load_speech_waveform(path, duration_s=max_seconds or None)
    speech = speech_from_waveform(y, fps, source=path)
    n = speech.n_frames
    if n < 2:
        raise InvalidDataError(f"{path}: shorter than two frames")
    frames = read_frames(path, fps, n, size)
    cond, source = speech_condition(speech)
    emo = emotion_for(path, n, fps)
    control = _face_drawings(frames, style) if with_control else None
    vae = models.vae
    lat = []
    with torch.no_grad(), models.on_device(vae):
        for s in range(0, n, 8):
            x = torch.from_numpy(frames[s:s + 8]).permute(0, 3, 1, 2).to(models.device, models.vae_dtype) * 2 - 1
            lat.append((vae.encode(x).latent_dist.mean * vae.config.scaling_factor).float().cpu())
    lat = torch.cat(lat)
    text = f"{DEFAULT_PROMPT}, {emotion_phrase(EmotionSummary.of_frame(emo[0, :len(EMOTIONS)], float(emo[0, -1])), cues=True)}"
    return Clip(source=path, latents=lat, ref_latents=lat[:1].clone(), audio=audio_windows(cond, audio_context),
                emotion=emo, text=text, audio_source=source, control=control)


def _prediction_target(sched, latents, noise, t):
    pt = sched.config.get("prediction_type", "epsilon")
    if pt == "v_prediction":
        return sched.get_velocity(latents, noise, t)
    return noise


def adapter_loss(models, adapters: SRAdapters, latents, ref_latents, text_emb, audio, emotion, noise, t,
                 control=None, sched=None, ref_noise=None, drop_condition: bool = False):
    """Denoising loss of one clip window with the adapters in the loop (differentiable in the adapters).

    ``latents``/``noise`` ``[F, C, h, w]``; ``t`` one timestep (int tensor); ``text_emb`` ``[F, L, C]``;
    ``audio`` ``[F, 2k+1, D]``; ``emotion`` ``[F, 11]``; ``control`` ``[F, 3, H, W]`` in 0..1 or ``None``.
    ``ref_noise`` noises the reference latents; like the sampler's it is independent of the frames'
    noise (a fresh draw when ``None``).  ``drop_condition`` feeds the adapters' null condition
    instead of the clip's audio and emotion (condition dropout: what guidance's unguided half gets).
    The reference pass is the sampler's own (:func:`..diffusion.sampler.reference_pass`).
    """
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler
    from ..diffusion.adapters import null_condition
    from ..diffusion.sampler import predict_noise, reference_pass
    sched = sched or DDPMScheduler.from_config(models.scheduler_config)
    st = models.state
    dev, dt = models.device, models.dtype
    st.adapters = adapters
    t = t.reshape(1).to(dev)
    noisy = sched.add_noise(latents, noise, t.cpu()).to(dev, dt)
    frames = latents.shape[0]
    if ref_noise is None:
        ref_noise = torch.randn(ref_latents.shape)
    if drop_condition:
        na, ne = null_condition(adapters, frames)
        audio, emotion = torch.from_numpy(na), torch.from_numpy(ne)
    try:
        with torch.no_grad():
            r = sched.add_noise(ref_latents, ref_noise.to(ref_latents), t.cpu()).to(dev, dt)
            reference_pass(models, r, t, text_emb[:1].expand(r.shape[0], -1, -1))
            down = mid = None
            if control is not None and models.controlnet is not None:
                down, mid = models.controlnet(noisy, t, encoder_hidden_states=text_emb, controlnet_cond=control.to(dev, dt),
                                              return_dict=False)
        # the adapters' tokens stay in their own dtype (fp32 while training); the attention casts
        st.audio_tokens = adapters.audio_tokens(audio.to(dev))
        st.emotion_tokens = adapters.emotion_tokens(emotion.to(dev))
        st.audio_strength = st.emotion_strength = 1.0
        st.ref_strength = 1.0
        pred = predict_noise(models, noisy, t, text_emb, down, mid, frames=frames)
        target = _prediction_target(sched, latents, noise, t.cpu()).to(dev)
        return F.mse_loss(pred.float(), target.float())
    finally:
        st.clear()


def train_step(models, adapters, optimizer, batch: dict, noise=None, t=None, generator=None, ref_noise=None,
               scaler=None) -> float:
    """One optimisation step on ``batch`` (keys as :func:`adapter_loss`); returns the loss before it.

    Unset noises and the timestep are drawn from ``generator``; the condition is dropped to the
    null condition with the adapters' ``cond_dropout`` probability.  ``scaler`` (a
    ``torch.amp.GradScaler``) scales the loss for an fp16 backward pass through the frozen models;
    the gradients are unscaled before clipping and a step with an overflow is skipped."""
    import torch
    lat = batch["latents"]
    if noise is None:
        noise = torch.randn(lat.shape, generator=generator)
    if t is None:
        t = torch.randint(0, int(models.scheduler_config.get("num_train_timesteps", 1000)), (1,), generator=generator)
    if ref_noise is None:
        ref_noise = torch.randn(batch["ref_latents"].shape, generator=generator)
    p_drop = float(adapters.config.get("cond_dropout", 0.0))
    drop = p_drop > 0 and float(torch.rand(1, generator=generator)) < p_drop
    adapters.train()
    optimizer.zero_grad(set_to_none=True)
    loss = adapter_loss(models, adapters, lat, batch["ref_latents"], batch["text_emb"], batch["audio"],
                        batch["emotion"], noise, t, batch.get("control"), ref_noise=ref_noise, drop_condition=drop)
    params = [p for p in adapters.parameters() if p.requires_grad]
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
    return float(loss.detach())


def clip_batch(models, clip: Clip, start: int, frames: int, text_cache: dict, size: int) -> dict:
    import torch
    from ..diffusion.sampler import encode_prompts
    end = min(start + frames, clip.n)
    if clip.text not in text_cache:
        text_cache[clip.text] = encode_prompts(models, [clip.text])
    emb = text_cache[clip.text].expand(end - start, -1, -1)
    b = {"latents": clip.latents[start:end], "ref_latents": clip.ref_latents, "text_emb": emb,
         "audio": torch.from_numpy(clip.audio[start:end]), "emotion": torch.from_numpy(clip.emotion[start:end])}
    if clip.control is not None and models.controlnet is not None:
        b["control"] = torch.from_numpy(clip.control[start:end]).float().permute(0, 3, 1, 2) / 255.0
    return b


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m synchrorama_core.training.adapters",
                                description="Train SynchroRaMa adapters (audio cross-attention + emotion "
                                            "projection) on a folder of talking-face videos with speech.")
    p.add_argument("--data", required=True, help="folder of talking-face videos with speech (searched recursively)")
    p.add_argument("--checkpoint", required=True, help="SD1.5-family checkpoint file or diffusers folder")
    p.add_argument("--out", required=True, help="adapter file to write (.safetensors), e.g. "
                                                 "ComfyUI/models/synchrorama/adapters/mine.safetensors")
    p.add_argument("--motion-adapter", default="", help="AnimateDiff motion module (train with temporal layers)")
    p.add_argument("--controlnet", default="", help="face-landmark ControlNet (needs synchrorama_core.face)")
    p.add_argument("--resume", default="", help="adapter file to continue training from")
    p.add_argument("--size", type=int, default=_SAMPLER.width,
                   help="square training resolution (multiple of 64); the sampler's default is %(default)s")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--frames", type=int, default=_SAMPLER.window,
                   help="frames per training window; the sampler's context window is %(default)s")
    p.add_argument("--max-seconds", type=float, default=20.0, help="use at most this much of each video")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=500)
    p.add_argument("--device", default="", help="cuda, cpu, ... (default: cuda if available)")
    p.add_argument("--dtype", default="auto", help="auto, fp16, bf16 or fp32 (frozen models; adapters train in fp32, "
                                                   "fp16 with a loss scaler)")
    p.add_argument("--cond-dropout", type=float, default=0.1,
                   help="probability of training a step on the null condition, which classifier-free guidance "
                        "then contrasts with (IP-Adapter style); 0 turns it off")
    p.add_argument("--audio-context", type=int, default=2, help="neighbouring frames on each side in the audio tokens")
    p.add_argument("--style", default=FACE_CONTROLNET_STYLE,
                   help="face-mesh drawing style of the motion frames: the one the ControlNet was trained on, "
                        "as in the sampler's workflow (default %(default)s)")
    p.add_argument("--gradient-checkpointing", action="store_true", help="trade compute for memory")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line; bad input, an output that cannot be written or a full disk is one ``error:``
    line on stderr and exit code 2 (no traceback, no partial file)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return train(args)
    except (SynchroRaMaError, OSError) as e:   # OSError: a file that cannot be read, a full disk
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2


def train(args: argparse.Namespace) -> int:
    """Train as the parsed command line ``args`` says (:func:`build_parser`)."""
    import torch
    from ..diffusion.loader import load_models
    if args.size % 64:
        raise InvalidDataError(f"--size must be a multiple of 64, got {args.size}")
    if not 0 <= args.cond_dropout < 1:
        raise InvalidDataError(f"--cond-dropout must lie in [0, 1), got {args.cond_dropout}")
    if not args.out.endswith(".safetensors"):
        raise InvalidDataError(f"--out must name a .safetensors file (adapters load only from those), got {args.out}")
    # the adapters are written after every --save-every steps: a folder that cannot take them must
    # fail now, not after loading the models, encoding the videos and the first steps
    check_writable([args.out], what=f"{args.out} (--out)")
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    models = load_models(args.checkpoint, controlnet=args.controlnet, motion_adapter=args.motion_adapter,
                         device=args.device or None, dtype=args.dtype)
    if args.gradient_checkpointing:
        models.unet.enable_gradient_checkpointing()
    videos = find_videos(args.data)
    clips = []
    for i, v in enumerate(videos):
        try:
            clips.append(prepare_clip(v, models, args.fps, args.size, args.max_seconds,
                                      with_control=bool(args.controlnet), style=args.style,
                                      audio_context=args.audio_context))
            print(f"[{i + 1}/{len(videos)}] {v}: {clips[-1].n} frames", flush=True)
        except InvalidDataError as e:
            print(f"[{i + 1}/{len(videos)}] skipped {v}: {e}", flush=True)
    if not clips:
        raise InvalidDataError(f"no usable training video under {args.data}")
    audio_dim = clips[0].audio.shape[-1]
    if args.resume:
        adapters = SRAdapters.load(args.resume)
        adapters.check_unet(models.unet)
        adapters.requires_grad_(True)
        adapters.config["cond_dropout"] = max(float(adapters.config.get("cond_dropout", 0.0)), args.cond_dropout)
    else:
        adapters = SRAdapters.for_unet(models.unet, audio_dim, clips[0].audio_source, audio_context=args.audio_context,
                                       cond_dropout=args.cond_dropout)
    adapters.to(models.device, torch.float32)
    models.state.adapters = adapters
    opt = torch.optim.AdamW([p for p in adapters.parameters() if p.requires_grad], lr=args.lr, weight_decay=1e-2)
    # fp16 gradients through the frozen models underflow without a loss scale (bf16 and fp32 need none)
    scaler = torch.amp.GradScaler(models.device.type) if models.dtype == torch.float16 else None
    frames = args.frames if models.has_motion else max(1, args.frames)
    if models.has_motion:
        frames = min(frames, models.motion_max_frames)
    text_cache: dict = {}
    t0, ema = time.time(), None
    meta = {"data": os.path.abspath(args.data), "videos": len(clips), "checkpoint": os.path.basename(args.checkpoint),
            "motion_adapter": os.path.basename(args.motion_adapter), "controlnet": os.path.basename(args.controlnet),
            "size": args.size, "fps": args.fps, "frames": frames, "lr": args.lr, "style": args.style,
            "cond_dropout": args.cond_dropout, "dtype": str(models.dtype).replace("torch.", "")}
    for step in range(1, args.steps + 1):
        c = clips[int(torch.randint(0, len(clips), (1,), generator=gen))]
        start = int(torch.randint(0, max(1, c.n - frames + 1), (1,), generator=gen))
        batch = clip_batch(models, c, start, frames, text_cache, args.size)
        loss = train_step(models, adapters, opt, batch, generator=gen, scaler=scaler)
        ema = loss if ema is None else 0.98 * ema + 0.02 * loss
        if step % 10 == 0 or step == 1 or step == args.steps:
            print(f"step {step}/{args.steps}  loss {loss:.5f}  (avg {ema:.5f})  {time.time() - t0:.0f} s", flush=True)
        if step % args.save_every == 0 or step == args.steps:
            adapters.save(args.out, dict(meta, steps=step, loss=ema))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
