"""Benchmark of the diffusion video sampler: seconds of compute per second of video, peak VRAM.

    python bench/bench_diffusion.py                       # CUDA: full-size SD1.5 architecture, 512x512
    python bench/bench_diffusion.py --steps 10 25 --seconds 2 --window 16 --overlap 4
    python bench/bench_diffusion.py --checkpoint ~/ComfyUI/models/checkpoints/v1-5.safetensors \\
        --controlnet ~/ComfyUI/models/controlnet/face.safetensors --motion ~/ComfyUI/models/animatediff_models/mm.ckpt

Without ``--checkpoint`` the components are randomly initialised with the exact SD1.5 / SD1.5
ControlNet / AnimateDiff-v2 architectures (the compute does not depend on the weight values),
so the numbers hold for any SD1.5 fine-tune.  On a machine without CUDA it runs a tiny
configuration at 64x64 (``--seconds`` of video, 2 steps) to show that the whole path works, and says so:
CPU seconds are not representative of the GPU sampler; the "UNet rows/frame/step" column (frames
the UNet processes per output frame and denoising step, guidance and reference passes included)
is the windowing's compute on any device; "CPU s" is this process's CPU time (steadier than the
wall clock on a shared machine).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from _common import print_table  # noqa: E402

SD15 = dict(block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=768,
            attention_head_dim=8)


def random_models(tiny: bool, device, dtype: str, controlnet: bool, motion: bool, low_vram):
    """SD1.5-architecture (or tiny) components with random weights, assembled like loaded ones."""
    import torch
    from diffusers import AutoencoderKL, ControlNetModel, MotionAdapter, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from synchrorama_core.diffusion.checkpoint import SD1_SCHEDULER
    from synchrorama_core.diffusion.loader import assemble
    from synchrorama_core.diffusion.tokenizer import load_tokenizer

    torch.manual_seed(0)
    if tiny:  # the tests' tiny components (tests/helpers/tiny_diffusion.py), one place for them
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        from helpers.tiny_diffusion import build_components
        c = build_components(0)
        unet, vae, te = c.unet, c.vae, c.te
        cn, ma = (c.cn if controlnet else None), (c.ma if motion else None)
    else:
        build = torch.device(device) if not low_vram.cpu_offload else torch.device("cpu")
        with build:
            unet = UNet2DConditionModel(**SD15)
            vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                                up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4,
                                sample_size=512)
            te = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                                              num_hidden_layers=12, num_attention_heads=12,
                                              max_position_embeddings=77, hidden_act="quick_gelu"))
            ma = MotionAdapter() if motion else None
            cn = ControlNetModel.from_unet(unet) if controlnet else None
    return assemble(unet, vae, te, load_tokenizer(), dict(SD1_SCHEDULER), controlnet=cn, motion_adapter=ma,
                    device=device, dtype=dtype, low_vram=low_vram, sources={"checkpoint": "random " +
                                                                            ("tiny" if tiny else "SD1.5")})


def speech_of(seconds: float, fps: float):
    """Real speech (espeak-ng, repeated to length) when it is installed, else a voiced, syllable-modulated
    tone; the sampler's compute does not depend on what is said."""
    import shutil
    import subprocess
    import tempfile

    from synchrorama_core.audio import load_speech_waveform, speech_from_waveform
    n = int(round(seconds * 16000))
    exe = shutil.which("espeak-ng")
    if exe:
        with tempfile.TemporaryDirectory() as d:
            wav = os.path.join(d, "s.wav")
            subprocess.run([exe, "-w", wav, "Hello there, I am really happy to see you today."], check=True,
                           capture_output=True)
            y = load_speech_waveform(wav)
        y = np.tile(y, n // len(y) + 1)[:n].astype(np.float32)
        source = "espeak-ng"
    else:
        t = np.arange(n) / 16000.0
        y = (0.3 * np.sin(2 * np.pi * 140 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)
        source = "tone"
    return speech_from_waveform(y, fps, source=source)


def peak_rss_gib() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux


def main(argv=None) -> int:
    import torch

    from synchrorama_core.diffusion import (LowVRAM, SamplerSettings, SRAdapters, generate_video, load_models,
                                            plan_windows)
    from synchrorama_core.diffusion.adapters import FEATURE_SOURCE

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, nargs="+", default=[10, 25])
    p.add_argument("--seconds", type=float, default=2.0, help="video length per run")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--overlap", type=int, default=4)
    p.add_argument("--cfg", type=float, default=7.0)
    p.add_argument("--scheduler", default="ddim")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--checkpoint", default="", help="real SD1.5 checkpoint (file or diffusers folder)")
    p.add_argument("--controlnet", default="")
    p.add_argument("--motion", default="")
    p.add_argument("--adapters", action="store_true", help="random models: add SynchroRaMa adapters")
    p.add_argument("--no-controlnet", action="store_true", help="random models: leave the ControlNet out")
    p.add_argument("--no-motion", action="store_true", help="random models: leave the motion module out")
    p.add_argument("--low-vram", action="store_true", help="VAE slicing + tiling, CPU offload, attention slicing")
    p.add_argument("--no-warmup", action="store_true", help="time the first run too (includes kernel selection)")
    p.add_argument("--full-on-cpu", action="store_true",
                   help="without CUDA, still run the full-size SD1.5 architecture with the given sizes (slow)")
    a = p.parse_args(argv)

    cuda = torch.cuda.is_available()
    low = LowVRAM(vae_slicing=True, vae_tiling=True, cpu_offload=True, attention_slice=8) if a.low_vram else LowVRAM()
    if cuda or a.full_on_cpu:
        device, size, seconds, steps = torch.device("cuda" if cuda else "cpu"), a.size, a.seconds, a.steps
        print(f"device: {torch.cuda.get_device_name(0) if cuda else 'CPU, full-size SD1.5 architecture'}")
    else:
        device, size, seconds, steps = torch.device("cpu"), 64, a.seconds, [2]
        torch.set_num_threads(1)  # the tiny layers are far too small to gain from threads on a shared CPU
        print(f"device: CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads). NO GPU: running the "
              f"TINY test components at 64x64, 2 steps, {seconds:g} s of video, to show that the whole path works; "
              f"these numbers say nothing about GPU speed. Run this on a CUDA machine for the real table.")
    if a.checkpoint:
        models = load_models(a.checkpoint, controlnet=a.controlnet, motion_adapter=a.motion, device=device,
                             dtype=a.dtype, low_vram=low)
    else:
        models = random_models(not (cuda or a.full_on_cpu), device, a.dtype, not a.no_controlnet, not a.no_motion, low)
        if a.adapters:  # fresh adapters compute exactly like trained ones
            models.adapters = SRAdapters.for_unet(models.unet, 19, FEATURE_SOURCE).to(
                torch.device("cpu") if low.cpu_offload else device, models.dtype)
            models.state.adapters = models.adapters
    print(f"models: {models.describe()}; ControlNet: {models.controlnet is not None}; motion module: "
          f"{models.has_motion}; adapters: {models.adapters is not None}; low-VRAM: {a.low_vram}")
    speech = speech_of(seconds, a.fps)
    n = speech.n_frames
    rng = np.random.default_rng(0)
    ref = rng.random((size, size, 3), dtype=np.float32)
    motion = np.zeros((n, size, size, 3), np.uint8)
    motion[:, size // 3: size // 3 + 4, size // 4: 3 * size // 4] = 255
    window = min(a.window, models.motion_max_frames) if models.has_motion else a.window
    overlap = min(a.overlap, window - 1)

    def settings(st):
        return SamplerSettings(width=size, height=size, steps=st, cfg=a.cfg, scheduler=a.scheduler, window=window,
                               overlap=overlap, seed=0)
    if not a.no_warmup:
        generate_video(models, ref, motion[:min(window, n)], speech_of(min(window, n) / a.fps, a.fps),
                       settings=settings(1))
    # rows through the UNet per frame and step: the compute of the windowing, on any device
    unet_rows = [0]
    hook = models.unet.register_forward_pre_hook(
        lambda mod, args: unet_rows.__setitem__(0, unet_rows[0] + args[0].shape[0] * (
            args[0].shape[2] if args[0].ndim == 5 else 1)))
    n_windows = len(plan_windows(n, window, overlap)) if models.has_motion else len(plan_windows(n, window, 0))
    rows = []
    for st in steps:
        unet_rows[0] = 0
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0, c0 = time.perf_counter(), time.process_time()
        frames = generate_video(models, ref, motion, speech, settings=settings(st))
        cpu_s = time.process_time() - c0
        if cuda:
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        peak = torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else float("nan")
        assert frames.shape == (n, size, size, 3)
        rows.append((st, n, f"{size}x{size}", window, overlap, n_windows, f"{unet_rows[0] / (n * st):.2f}",
                     f"{dt:.2f}", f"{cpu_s:.2f}", f"{dt / (n / a.fps):.2f}", f"{peak:.2f}",
                     bool(np.isfinite(frames).all())))
    hook.remove()
    print()
    print_table(rows, ("steps", "frames", "size", "window", "overlap", "windows", "UNet rows/frame/step", "seconds",
                       "CPU s", "s per video s", "peak VRAM GiB", "finite"), ">" * 12)
    print(f"\n(fps {a.fps:g}, cfg {a.cfg:g}, scheduler {a.scheduler}, {models.dtype}; peak process RSS "
          f"{peak_rss_gib():.2f} GiB; {'GPU' if cuda else 'no GPU'}; the machine may be shared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
