"""Tiny, randomly initialised SD1.5-architecture models written the way creators have them.

``write_tiny_models(models_root)`` fills a ComfyUI-style ``models`` folder with seeded tiny
components under the file names a creator would have (see :data:`NAMES`):

* ``checkpoints/v1-5-pruned-emaonly.safetensors``: an original (LDM) layout single-file SD1.5
  checkpoint (UNet + VAE + CLIP text encoder, plus the scheduler tables and EMA bookkeeping keys
  the real file carries);
* ``controlnet/control_v2p_sd15_mediapipe_face.safetensors``: an LDM-layout ControlNet
  (``control_model.*`` keys), as the MediaPipe-face ControlNet is published;
* ``animatediff_models/mm_sd15_v3.safetensors``: an original-layout AnimateDiff motion module,
  v3-like (no mid-block motion module);
* ``synchrorama/adapters/synchrorama_sd15_adapters.safetensors``: SynchroRaMa adapters with
  non-zero (random) output projections, so they change the frames.

Used by tests/test_diffusion.py and by the ComfyUI host test; the exporters below write the
original key layouts independently of the loader (which uses diffusers' converters), so the two
check each other.  Loading needs only CPU and takes well under a second.
"""
from __future__ import annotations

import os
import re
import shutil
import types
from typing import Dict, Optional

import torch

#: File names per node widget (what a creator downloads; see docs/diffusion.md).
NAMES = {
    "checkpoint": "v1-5-pruned-emaonly.safetensors",
    "controlnet": "control_v2p_sd15_mediapipe_face.safetensors",
    "motion_module": "mm_sd15_v3.safetensors",
    "adapters": "synchrorama_sd15_adapters.safetensors",
}
#: Sub-folder of the ComfyUI ``models`` folder per widget.
FOLDERS = {"checkpoint": "checkpoints", "controlnet": "controlnet", "motion_module": "animatediff_models",
           "adapters": os.path.join("synchrorama", "adapters")}

#: Tiny component configurations (SD1.5 block types, two levels, widths 32/64).
UNET = dict(sample_size=8, block_out_channels=(32, 64), layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32, attention_head_dim=8)
VAE = dict(block_out_channels=(32, 32, 32, 32), down_block_types=("DownEncoderBlock2D",) * 4,
           up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=1, latent_channels=4, sample_size=64)
CLIP = dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=1,
            max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=32)
MOTION = dict(block_out_channels=(32, 64), motion_layers_per_block=1, motion_num_attention_heads=8,
              motion_norm_num_groups=32, motion_max_seq_length=32)


# ------------------------------------------------------------------------------ diffusers -> original layout

_RES = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("time_emb_proj", "emb_layers.1"),
        ("norm2", "out_layers.0"), ("conv2", "out_layers.3"), ("conv_shortcut", "skip_connection")]


def _res(rest):
    for a, b in _RES:
        if rest.startswith(a + "."):
            return b + rest[len(a):]
    raise KeyError(rest)


def _rewrite(k, rules):
    """The first rule ``(pattern, fn(match) -> new key)`` whose pattern matches ``k`` rewrites it, or None."""
    for pat, fn in rules:
        m = re.match(pat, k)
        if m:
            return fn(m)
    return None


def _unet_key(k, lpb, up_attn):
    def block(prefix, base):
        return lambda m: (f"{prefix}.{base + int(m.group(1)) * (lpb + 1) + int(m.group(3))}."
                          + (f"0.{_res(m.group(4))}" if m.group(2) == "resnets" else f"1.{m.group(4)}"))

    def upsampler(m):
        i = int(m.group(1))
        return f"output_blocks.{i * (lpb + 1) + lpb}.{2 if up_attn[i] else 1}.conv.{m.group(2)}"

    def hint(m):
        idx = 0 if m.group(1) == "conv_in" else 14 if m.group(1) == "conv_out" else 2 * (int(m.group(2)) + 1)
        return f"input_hint_block.{idx}.{m.group(3)}"
    out = _rewrite(k, (
        (r"time_embedding\.linear_([12])\.(.*)", lambda m: f"time_embed.{0 if m.group(1) == '1' else 2}.{m.group(2)}"),
        (r"conv_in\.(.*)", lambda m: f"input_blocks.0.0.{m.group(1)}"),
        (r"conv_norm_out\.(.*)", lambda m: f"out.0.{m.group(1)}"),
        (r"conv_out\.(.*)", lambda m: f"out.2.{m.group(1)}"),
        (r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", block("input_blocks", 1)),
        (r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)",
         lambda m: f"input_blocks.{(int(m.group(1)) + 1) * (lpb + 1)}.0.op.{m.group(2)}"),
        (r"mid_block\.resnets\.(\d+)\.(.*)", lambda m: f"middle_block.{2 * int(m.group(1))}.{_res(m.group(2))}"),
        (r"mid_block\.attentions\.0\.(.*)", lambda m: f"middle_block.1.{m.group(1)}"),
        (r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", block("output_blocks", 0)),
        (r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", upsampler),
        (r"controlnet_cond_embedding\.(conv_in|conv_out|blocks\.(\d+))\.(.*)", hint),
        (r"controlnet_down_blocks\.(\d+)\.(.*)", lambda m: f"zero_convs.{m.group(1)}.0.{m.group(2)}"),
        (r"controlnet_mid_block\.(.*)", lambda m: f"middle_block_out.0.{m.group(1)}"),
    ))
    if out is None:
        raise KeyError(k)
    return out


def unet_to_ldm(model, prefix="model.diffusion_model.", state=None):
    cfg = model.config
    up_attn = ["CrossAttn" in t for t in (getattr(cfg, "up_block_types", None) or [])]
    sd = state if state is not None else model.state_dict()
    return {prefix + _unet_key(k, cfg.layers_per_block, up_attn): v.contiguous() for k, v in sd.items()}


def _vae_key(k, levels):
    k = k.replace("conv_shortcut", "nin_shortcut")

    def mid_attn(m):
        for a, b in (("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out.")):
            if m.group(2).startswith(a):
                return f"{m.group(1)}.mid.attn_1.{b}{m.group(2)[len(a):]}"
        return None
    out = _rewrite(k, (
        (r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", lambda m: "encoder.down.{0}.block.{1}.{2}".format(*m.groups())),
        (r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)",
         lambda m: "encoder.down.{0}.downsample.conv.{1}".format(*m.groups())),
        (r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)",
         lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.block.{m.group(2)}.{m.group(3)}"),
        (r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)",
         lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.upsample.conv.{m.group(2)}"),
        (r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)",
         lambda m: f"{m.group(1)}.mid.block_{int(m.group(2)) + 1}.{m.group(3)}"),
        (r"(encoder|decoder)\.mid_block\.attentions\.0\.(.*)", mid_attn),
        (r"(encoder|decoder)\.conv_norm_out\.(.*)", lambda m: f"{m.group(1)}.norm_out.{m.group(2)}"),
    ))
    return k if out is None else out


def vae_to_ldm(vae, prefix="first_stage_model.", state=None):
    levels = len(vae.config.block_out_channels)
    out = {}
    for k, v in (state if state is not None else vae.state_dict()).items():
        nk = _vae_key(k, levels)
        if ".mid.attn_1." in nk and nk.endswith("weight") and v.ndim == 2:
            v = v[:, :, None, None]  # the original VAE attention uses 1x1 convolutions
        out[prefix + nk] = v.contiguous()
    return out


def clip_to_ldm(te, prefix="cond_stage_model.transformer."):
    return {prefix + (k if k.startswith("text_model.") else "text_model." + k): v.contiguous()
            for k, v in te.state_dict().items()}


def motion_to_original(adapter, state=None):
    out = {}
    for k, v in (state if state is not None else adapter.state_dict()).items():
        if k.endswith("pos_embed.pe"):
            base = re.sub(r"(motion_modules\.\d+\.)", r"\1temporal_transformer.", k[:-len("pos_embed.pe")])
            for a in (0, 1):
                out[f"{base}attention_blocks.{a}.pos_encoder.pe"] = v.clone()
            continue
        nk = re.sub(r"(motion_modules\.\d+\.)", r"\1temporal_transformer.", k)
        for a, b in ((".attn1.", ".attention_blocks.0."), (".attn2.", ".attention_blocks.1."),
                     (".norm1.", ".norms.0."), (".norm2.", ".norms.1."), (".norm3.", ".ff_norm.")):
            nk = nk.replace(a, b)
        out[nk] = v.contiguous()
    return out


# ------------------------------------------------------------------------------ building

def randomise(model, seed):
    """diffusers zero-initialises ControlNet outputs and motion-module projections; give every
    parameter random values so each component really acts on the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * (1.0 / max(p[0].numel(), 1)) ** 0.5)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02 + (1.0 if torch.all(p == 1) else 0.0))
    return model


def motion_adapter(seed: int = 5, mid_block: bool = False):
    """A tiny random AnimateDiff motion adapter (v3-like without, v2-like with a mid-block module);
    the sinusoidal position tables stay as diffusers builds them (the files carry the same)."""
    from diffusers import MotionAdapter
    ma = randomise(MotionAdapter(use_motion_mid_block=mid_block, **MOTION), seed)
    fresh = MotionAdapter(use_motion_mid_block=mid_block, **MOTION).state_dict()
    with torch.no_grad():
        for k, v in ma.state_dict().items():
            if k.endswith("pos_embed.pe"):
                v.copy_(fresh[k])
    return ma


def build_components(seed: int = 0, motion_mid_block: bool = False) -> types.SimpleNamespace:
    """Seeded tiny ``unet``, ``vae``, ``te`` (CLIP text encoder), ``cn`` (ControlNet), ``ma`` (motion adapter)."""
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel
    torch.manual_seed(seed)
    unet = randomise(UNet2DConditionModel(**UNET), seed + 1)
    vae = randomise(AutoencoderKL(**VAE), seed + 2)
    te = randomise(CLIPTextModel(CLIPTextConfig(**CLIP)), seed + 3)
    cn = randomise(ControlNetModel.from_unet(unet), seed + 4)
    ma = motion_adapter(seed + 5, motion_mid_block)
    return types.SimpleNamespace(unet=unet, vae=vae, te=te, cn=cn, ma=ma)


def tiny_adapters(unet, seed: int = 6, scale: float = 0.05):
    """SynchroRaMa adapters for ``unet`` on the 19 frame features, with random output projections."""
    from synchrorama_core.diffusion.adapters import FEATURE_SOURCE, SRAdapters
    ad = SRAdapters.for_unet(unet, 19, FEATURE_SOURCE)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in ad.named_parameters():
            if "to_out" in name:
                p.copy_(torch.randn(p.shape, generator=g) * scale)
    return ad


def sd15_single_file(c) -> Dict[str, torch.Tensor]:
    """The original-layout single-file checkpoint of components ``c`` (as v1-5-pruned-emaonly has it)."""
    sd = {}
    sd.update(unet_to_ldm(c.unet))
    sd.update(vae_to_ldm(c.vae))
    sd.update(clip_to_ldm(c.te))
    # bookkeeping the real file also carries; the loader must ignore it
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    sd["betas"] = betas.float()
    sd["alphas_cumprod"] = torch.cumprod(1 - betas, 0).float()
    sd["model_ema.decay"] = torch.tensor(0.9999)
    sd["model_ema.num_updates"] = torch.tensor(0, dtype=torch.int32)
    sd["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    return sd


# ------------------------------------------------------------------------------ writing

def write_tiny_models(models_root: str, components: Optional[types.SimpleNamespace] = None,
                      adapters: bool = True, seed: int = 0) -> Dict[str, str]:
    """Write tiny seeded models into the ComfyUI ``models`` folder ``models_root``.

    Returns the file name chosen per Load Diffusion Models widget: ``checkpoint``, ``controlnet``,
    ``motion_module`` and (with ``adapters``) ``adapters``; each file lies in
    ``models_root/<FOLDERS[widget]>/``.  ``components`` (from :func:`build_components`) lets a
    caller keep the exact weights it wrote.
    """
    from safetensors.torch import save_file
    c = components or build_components(seed)
    paths = {k: os.path.join(models_root, FOLDERS[k]) for k in FOLDERS}
    for p in paths.values():
        os.makedirs(p, exist_ok=True)
    save_file(sd15_single_file(c), os.path.join(paths["checkpoint"], NAMES["checkpoint"]))
    save_file(unet_to_ldm(c.cn, prefix="control_model."), os.path.join(paths["controlnet"], NAMES["controlnet"]))
    save_file(motion_to_original(c.ma), os.path.join(paths["motion_module"], NAMES["motion_module"]))
    names = {k: NAMES[k] for k in ("checkpoint", "controlnet", "motion_module")}
    if adapters:
        tiny_adapters(c.unet, seed + 6).save(os.path.join(paths["adapters"], NAMES["adapters"]))
        names["adapters"] = NAMES["adapters"]
    return names


def write_diffusers_folders(models_root: str, c: types.SimpleNamespace) -> Dict[str, str]:
    """The same components as diffusers folders (``save_pretrained``), for the folder loading paths."""
    from synchrorama_core.diffusion.tokenizer import bundled_tokenizer_dir
    names = {"checkpoint": "tiny_sd15_diffusers", "controlnet": "tiny_cn_diffusers",
             "motion_module": "tiny_mm_diffusers"}
    folder = os.path.join(models_root, FOLDERS["checkpoint"], names["checkpoint"])
    c.unet.save_pretrained(os.path.join(folder, "unet"), safe_serialization=True)
    c.vae.save_pretrained(os.path.join(folder, "vae"), safe_serialization=True)
    c.te.save_pretrained(os.path.join(folder, "text_encoder"), safe_serialization=True)
    shutil.copytree(bundled_tokenizer_dir(), os.path.join(folder, "tokenizer"))
    c.cn.save_pretrained(os.path.join(models_root, FOLDERS["controlnet"], names["controlnet"]), safe_serialization=True)
    c.ma.save_pretrained(os.path.join(models_root, FOLDERS["motion_module"], names["motion_module"]),
                         safe_serialization=True)
    return names


if __name__ == "__main__":  # python tests/helpers/tiny_diffusion.py ComfyUI/models
    import sys
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    print(write_tiny_models(sys.argv[1] if len(sys.argv) > 1 else "models"))
