"""Loading the sampler's components into one :class:`DiffusionModels` value (``SR_DIFFUSION_MODELS``)."""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence

from ..errors import InvalidDataError
from ..models import resolve_device, resolve_model
from .adapters import SRAdapters
from .attention import AttentionState, install_processors
from .checkpoint import load_controlnet, load_motion_adapter, load_sd_folder, load_sd_single_file

log = logging.getLogger("synchrorama")

@dataclass
class LowVRAM:
    """Memory options. ``cpu_offload`` keeps every model on the CPU and moves each to the GPU only
    while it runs; ``attention_slice`` runs attention in chunks of that many batch rows (0 = off)."""

    vae_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False
    attention_slice: int = 0


@dataclass
class DiffusionModels:
    """Everything the video sampler needs, loaded and placed (the ``SR_DIFFUSION_MODELS`` value)."""

    unet: object
    vae: object
    text_encoder: object
    tokenizer: object
    scheduler_config: Dict[str, object]
    controlnet: Optional[object] = None
    adapters: Optional[SRAdapters] = None
    has_motion: bool = False
    motion_max_frames: int = 0
    device: object = None
    dtype: object = None
    vae_dtype: object = None
    low_vram: LowVRAM = field(default_factory=LowVRAM)
    state: AttentionState = field(default_factory=AttentionState)
    sources: Dict[str, str] = field(default_factory=dict)

    @property
    def vae_scale(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def size_multiple(self) -> int:
        """Width and height must be multiples of this (VAE factor x UNet downsampling)."""
        return self.vae_scale * 2 ** (len(self.unet.config.block_out_channels) - 1)

    @contextlib.contextmanager
    def on_device(self, *modules):
        """Run ``modules`` on the compute device (moved there and back with ``cpu_offload``)."""
        mods = [m for m in modules if m is not None]
        if self.low_vram.cpu_offload:
            for m in mods:
                m.to(self.device)
        try:
            yield
        finally:
            if self.low_vram.cpu_offload:
                import torch
                for m in mods:
                    m.to("cpu")
                if getattr(self.device, "type", str(self.device)) == "cuda":
                    torch.cuda.empty_cache()

    def describe(self) -> str:
        parts = [f"{k}: {os.path.basename(v)}" for k, v in self.sources.items() if v]
        return "; ".join(parts) + f"; device {self.device}, {str(self.dtype).replace('torch.', '')}"


DTYPES = ("auto", "fp16", "float16", "bf16", "bfloat16", "fp32", "float32")


def _dtype(name: str, device):
    import torch
    name = (name or "auto").lower()
    cuda = getattr(device, "type", str(device)) == "cuda"
    if name == "auto":
        return torch.float16 if cuda else torch.float32
    table = {"fp16": torch.float16, "float16": torch.float16, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
             "fp32": torch.float32, "float32": torch.float32}
    if name not in table:
        raise InvalidDataError(f"unknown dtype {name!r}; use auto, fp16, bf16 or fp32")
    if not cuda and table[name] == torch.float16:
        log.warning("fp16 on CPU is slow and poorly supported; using fp32")
        return torch.float32
    return table[name]


#: diffusers 0.30 repeats the text condition per frame inside ``UNetMotionModel.forward`` (removed
#: in 0.31); with SynchroRaMa's per-frame text every frame then attended to the negative prompt.
MIN_DIFFUSERS_FOR_MOTION = (0, 31)


def _check_diffusers_for_motion() -> None:
    import re

    import diffusers
    v = str(getattr(diffusers, "__version__", "0"))
    if tuple(int(x) for x in re.findall(r"\d+", v)[:2]) < MIN_DIFFUSERS_FOR_MOTION:
        want = ".".join(map(str, MIN_DIFFUSERS_FOR_MOTION))
        raise InvalidDataError(f"diffusers {v} repeats the text condition per frame inside the AnimateDiff motion "
                               f"UNet, so every frame would get the negative prompt; the motion module needs "
                               f"diffusers >= {want}: pip install -U 'diffusers>={want}'")


def _place(module, device, dtype) -> None:
    """Move ``module`` to ``device``/``dtype`` (dtype cast only when it changes)."""
    p = next(module.parameters(), None)
    if p is not None and p.dtype != dtype:
        module.to(dtype=dtype)
    module.to(device)


def load_models(checkpoint: str, controlnet: str = "", motion_adapter: str = "", adapters: str = "",
                tokenizer: str = "", checkpoint_dirs: Sequence[str] = (), controlnet_dirs: Sequence[str] = (),
                motion_dirs: Sequence[str] = (), adapter_dirs: Sequence[str] = (), device=None,
                dtype: str = "auto", low_vram: Optional[LowVRAM] = None) -> DiffusionModels:
    """Load the sampler's models from local files only.

    ``checkpoint``/``controlnet``/``motion_adapter`` are paths or names inside ``*_dirs`` (ComfyUI's
    ``models/checkpoints``, ``models/controlnet``, ``models/animatediff_models``); ``adapters`` a
    ``.safetensors`` name in ``models/synchrorama/adapters`` or a path.  Empty strings leave the
    optional parts out.  Raises :class:`~synchrorama_core.errors.ModelNotFoundError` naming the
    expected path when something is missing.
    """
    if (dtype or "auto").lower() not in DTYPES:  # reject a bad name before loading anything
        raise InvalidDataError(f"unknown dtype {dtype!r}; use auto, fp16, bf16 or fp32")
    ck = resolve_model("checkpoints", checkpoint, checkpoint_dirs)
    if os.path.isdir(ck):
        unet, vae, te, tok, sched = load_sd_folder(ck, tokenizer or None)
    else:
        unet, vae, te, tok, sched = load_sd_single_file(ck, tokenizer or None)
    sources = {"checkpoint": ck}

    cn = None
    if controlnet and controlnet.strip().lower() != "none":
        p = resolve_model("controlnet", controlnet, controlnet_dirs)
        cn = load_controlnet(p)
        sources["controlnet"] = p

    ma = None
    if motion_adapter and motion_adapter.strip().lower() != "none":
        p = resolve_model("animatediff_models", motion_adapter, motion_dirs)
        ma = load_motion_adapter(p)
        sources["motion"] = p

    ad = None
    if adapters and adapters.strip().lower() != "none":
        p = resolve_model("adapters", adapters, adapter_dirs)
        ad = SRAdapters.load(p)
        sources["adapters"] = p
    return assemble(unet, vae, te, tok, sched, controlnet=cn, motion_adapter=ma, adapters=ad, device=device,
                    dtype=dtype, low_vram=low_vram, sources=sources)


def assemble(unet, vae, text_encoder, tokenizer, scheduler_config: dict, controlnet=None, motion_adapter=None,
             adapters: Optional[SRAdapters] = None, device=None, dtype: str = "auto",
             low_vram: Optional[LowVRAM] = None, sources: Optional[Dict[str, str]] = None) -> DiffusionModels:
    """Put loaded components together: motion UNet, attention processors, memory options, device and dtype."""
    import torch
    low_vram = low_vram or LowVRAM()
    device = resolve_device(device)
    dt = _dtype(dtype, device)
    vae_dt = torch.float32 if dt == torch.float16 else dt
    sources = dict(sources or {})
    unet.eval().requires_grad_(False)
    cn = controlnet
    if cn is not None and (list(cn.config.block_out_channels) != list(unet.config.block_out_channels) or
                           cn.config.cross_attention_dim != unet.config.cross_attention_dim):
        raise InvalidDataError(f"the ControlNet {sources.get('controlnet', '')} was made for another UNet "
                               f"architecture than the checkpoint; use an SD1.5 ControlNet with an SD1.5 checkpoint")
    has_motion, max_frames = False, 0
    sched = dict(scheduler_config)
    if motion_adapter is not None:
        _check_diffusers_for_motion()
        from diffusers import UNetMotionModel
        from diffusers.utils import logging as dlog
        ma = motion_adapter
        if list(ma.config.block_out_channels) != list(unet.config.block_out_channels):
            raise InvalidDataError(f"the motion module {sources.get('motion', '')} has block widths "
                                   f"{list(ma.config.block_out_channels)}, the checkpoint's UNet "
                                   f"{list(unet.config.block_out_channels)}; use an SD1.5 AnimateDiff module "
                                   f"with an SD1.5 checkpoint")
        verbosity = dlog.get_verbosity()
        dlog.set_verbosity_error()
        try:
            unet = UNetMotionModel.from_unet2d(unet, ma)
        finally:
            dlog.set_verbosity(verbosity)
        unet.eval().requires_grad_(False)
        has_motion, max_frames = True, int(ma.config.motion_max_seq_length)
        sched["beta_schedule"] = "linear"  # AnimateDiff was trained with linear betas

    ad = adapters
    if ad is not None:
        ad.check_unet(unet)

    state = AttentionState(slice_size=int(low_vram.attention_slice), adapters=ad)
    install_processors(unet, state)
    if cn is not None:
        # The ControlNet's own attention also gets chunking (no reference bank: its state stays "off").
        install_processors(cn, AttentionState(slice_size=int(low_vram.attention_slice)))

    if low_vram.vae_slicing:
        vae.enable_slicing()
    if low_vram.vae_tiling:
        vae.enable_tiling()

    place = torch.device("cpu") if low_vram.cpu_offload else device
    for m, want in ((unet, dt), (text_encoder, dt), (vae, vae_dt), (cn, dt), (ad, dt)):
        if m is not None:
            _place(m, place, want)
    return DiffusionModels(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                           scheduler_config=sched, controlnet=cn, adapters=ad, has_motion=has_motion,
                           motion_max_frames=max_frames, device=device, dtype=dt, vae_dtype=vae_dt,
                           low_vram=low_vram, state=state, sources=sources)
