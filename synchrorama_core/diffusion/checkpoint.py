"""Loading SD1.5-family components from the files creators have, fully offline.

* A **single-file checkpoint** (``models/checkpoints/*.safetensors``, original LDM layout):
  the architecture is read from the tensor shapes (no config download, no Hub access), the
  keys are converted with diffusers' own LDM converters, and the bundled CLIP tokenizer is used.
* A **diffusers folder** (``model_index.json`` + ``unet/``, ``vae/``, ``text_encoder/``,
  ``tokenizer/``): loaded with ``from_pretrained(..., local_files_only=True)``.
* A **ControlNet** (``models/controlnet``): an LDM-layout file (``control_model.*`` or bare
  ``input_blocks.*`` keys), or a diffusers folder / file with its ``config.json`` beside it.
* An **AnimateDiff motion module** (``models/animatediff_models``): the original
  ``mm_sd_v15*`` layout (as .safetensors), or a diffusers ``MotionAdapter`` folder.

Weights are read from safetensors only.  Pickle-based files (``.ckpt``, ``.pt``, ``.pth``,
``.bin``) are refused before they are opened, with how to convert them: ``torch.load`` unpickles
(``weights_only=True`` narrows that to an allow-list, which was bypassable before torch 2.6), and
no pickle from the internet is run by this pack.
"""
from __future__ import annotations

import json
import os
import re
from typing import Dict, List, Optional

from ..errors import InvalidDataError, ModelNotFoundError
from ..models import LOAD_ERRORS

CHECKPOINT_EXTS = (".safetensors",)
#: Pickle-based PyTorch weight files: refused (see the module docstring).
PICKLE_EXTS = (".ckpt", ".pt", ".pth", ".bin")

#: Heads of every SD1.x attention layer (not visible in the weights; fixed by the architecture).
SD1_HEADS = 8
#: The VAE latent scale of SD1.x.
SD1_SCALING_FACTOR = 0.18215

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIXES = ("first_stage_model.", "vae.")
CLIP_PREFIXES = ("cond_stage_model.transformer.", "conditioner.embedders.0.transformer.")
CONTROLNET_PREFIX = "control_model."

#: Scheduler settings SD1.x was trained with (the sampler picks its own timestep spacing: sampler.make_scheduler).
SD1_SCHEDULER = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
                 "beta_schedule": "scaled_linear", "prediction_type": "epsilon", "steps_offset": 1,
                 "clip_sample": False, "set_alpha_to_one": False, "timestep_spacing": "leading"}


class CheckpointFormatError(InvalidDataError):
    """A weights file that is not (or not entirely) what the loader expects."""


# ------------------------------------------------------------------------------ reading

def pickle_refusal(path: str) -> str:
    """The message for a pickle-based weights file: why it is refused and how to convert it."""
    out = os.path.splitext(path)[0] + ".safetensors"
    return (f"{path} is a pickle-based PyTorch file; SynchroRaMa loads weights only from .safetensors (loading a "
            f"pickle can run code hidden in it). Download the model's .safetensors version (sources: "
            f"docs/diffusion.md), or convert this file once, in a Python you trust, with torch >= 2.6: "
            f"python -c \"import torch; from safetensors.torch import save_file; "
            f"sd = torch.load(r'{path}', map_location='cpu', weights_only=True); sd = sd.get('state_dict', sd); "
            f"save_file({{k: v.contiguous() for k, v in sd.items() if hasattr(v, 'contiguous')}}, r'{out}')\" "
            f"and pick {os.path.basename(out)}")


def read_state_dict(path: str) -> Dict[str, "object"]:
    """Tensors of a ``.safetensors`` file; a pickle-based file (``.ckpt``/``.pt``/``.pth``/``.bin``)
    raises :class:`CheckpointFormatError` saying how to convert it (it is never opened)."""
    if path.lower().endswith(PICKLE_EXTS):
        raise CheckpointFormatError(pickle_refusal(path))
    if not path.lower().endswith(CHECKPOINT_EXTS):
        raise CheckpointFormatError(f"{path}: unsupported weights file type; use a .safetensors file")
    from safetensors.torch import load_file
    try:
        sd = load_file(path, device="cpu")
    except Exception as e:  # noqa: BLE001 - report any decode problem the same way
        raise CheckpointFormatError(f"{path} is not a readable safetensors file ({e})") from e
    if not sd:
        raise CheckpointFormatError(f"{path} holds no tensors")
    return sd


def _strip(sd: Dict[str, object], prefix: str) -> Dict[str, object]:
    n = len(prefix)
    return {k[n:]: v for k, v in sd.items() if k.startswith(prefix)}


def _indices(keys, pattern: str) -> List[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in keys for m in [rx.match(k)] if m})


# ------------------------------------------------------------------------------ architecture from shapes

def infer_unet_config(sd: Dict[str, object], prefix: str = "") -> dict:
    """diffusers ``UNet2DConditionModel``/``ControlNetModel`` config of an LDM-layout UNet from its shapes.

    ``sd`` has keys like ``input_blocks.1.0.in_layers.0.weight`` after ``prefix``.
    """
    u = _strip(sd, prefix) if prefix else sd
    if "input_blocks.0.0.weight" not in u:
        raise CheckpointFormatError("no LDM UNet found (input_blocks.0.0.weight missing)")
    conv_in = u["input_blocks.0.0.weight"]
    in_channels = int(conv_in.shape[1])
    blocks = _indices(u, r"input_blocks\.(\d+)\.")
    n_blocks = max(blocks) + 1
    downs = [i for i in blocks if f"input_blocks.{i}.0.op.weight" in u]
    levels = len(downs) + 1
    lpb, rem = divmod(n_blocks - 1 - len(downs), levels)
    if rem or lpb < 1:
        raise CheckpointFormatError(f"unexpected UNet layout: {n_blocks} input blocks, {len(downs)} downsamplers")
    block_out, attn, depth = [], [], 1
    ctx_dim, linear = None, False
    for lvl in range(levels):
        first = 1 + lvl * (lpb + 1)
        w = u.get(f"input_blocks.{first}.0.out_layers.3.weight")
        if w is None:
            raise CheckpointFormatError(f"unexpected UNet layout: input_blocks.{first}.0 is not a resnet")
        block_out.append(int(w.shape[0]))
        has_attn = any(k.startswith(f"input_blocks.{first}.1.") for k in u)
        attn.append(has_attn)
        if has_attn:
            depth = len(_indices(u, rf"input_blocks\.{first}\.1\.transformer_blocks\.(\d+)\."))
            k = u[f"input_blocks.{first}.1.transformer_blocks.0.attn2.to_k.weight"]
            ctx_dim = int(k.shape[1])
            linear = u[f"input_blocks.{first}.1.proj_in.weight"].ndim == 2
    if ctx_dim is None:
        raise CheckpointFormatError("the UNet has no cross-attention layers; it is not a text-conditioned SD UNet")
    down = ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attn]
    up = ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn)]
    cfg = {"in_channels": in_channels, "down_block_types": down, "up_block_types": up,
           "block_out_channels": block_out, "layers_per_block": lpb, "cross_attention_dim": ctx_dim,
           "attention_head_dim": SD1_HEADS, "use_linear_projection": bool(linear),
           "transformer_layers_per_block": depth}
    if "out.2.weight" in u:
        cfg["out_channels"] = int(u["out.2.weight"].shape[0])
        cfg["sample_size"] = 64
    return cfg


def infer_vae_config(sd: Dict[str, object]) -> dict:
    """diffusers ``AutoencoderKL`` config of an LDM-layout VAE (keys ``encoder.*``/``decoder.*``)."""
    if "encoder.conv_in.weight" not in sd or "decoder.conv_out.weight" not in sd:
        raise CheckpointFormatError("no VAE found (encoder.conv_in / decoder.conv_out missing)")
    ch = int(sd["encoder.conv_in.weight"].shape[0])
    levels = _indices(sd, r"encoder\.down\.(\d+)\.")
    res = _indices(sd, r"encoder\.down\.0\.block\.(\d+)\.")
    block_out = [int(sd[f"encoder.down.{i}.block.{res[-1]}.conv2.weight"].shape[0]) for i in levels]
    if block_out[0] != ch:
        raise CheckpointFormatError("unexpected VAE layout")
    return {"in_channels": int(sd["encoder.conv_in.weight"].shape[1]),
            "out_channels": int(sd["decoder.conv_out.weight"].shape[0]),
            "down_block_types": ["DownEncoderBlock2D"] * len(levels),
            "up_block_types": ["UpDecoderBlock2D"] * len(levels),
            "block_out_channels": block_out, "latent_channels": int(sd["decoder.conv_in.weight"].shape[1]),
            "layers_per_block": len(res), "sample_size": 512, "scaling_factor": SD1_SCALING_FACTOR}


def infer_clip_config(sd: Dict[str, object]) -> dict:
    """transformers ``CLIPTextConfig`` kwargs of a CLIP text model (keys ``text_model.*``)."""
    emb = sd.get("text_model.embeddings.token_embedding.weight")
    if emb is None:
        raise CheckpointFormatError("no CLIP text encoder found (text_model.embeddings.token_embedding missing)")
    hidden = int(emb.shape[1])
    layers = _indices(sd, r"text_model\.encoder\.layers\.(\d+)\.")
    return {"vocab_size": int(emb.shape[0]), "hidden_size": hidden,
            "intermediate_size": int(sd["text_model.encoder.layers.0.mlp.fc1.weight"].shape[0]),
            "num_hidden_layers": len(layers), "num_attention_heads": max(1, hidden // 64),
            "max_position_embeddings": int(sd["text_model.embeddings.position_embedding.weight"].shape[0]),
            "hidden_act": "quick_gelu", "projection_dim": hidden}


def infer_controlnet_config(sd: Dict[str, object]) -> dict:
    """diffusers ``ControlNetModel`` config of an LDM-layout ControlNet (keys without prefix)."""
    cfg = infer_unet_config(sd)
    hint = [k for k in sd if k.startswith("input_hint_block.") and k.endswith(".weight")]
    idx = sorted(int(k.split(".")[1]) for k in hint)
    if idx != list(range(0, 16, 2)):
        raise CheckpointFormatError("unexpected ControlNet hint block (expected 8 convolutions, input_hint_block.0..14)")
    cfg.pop("up_block_types", None)
    cfg["conditioning_channels"] = int(sd["input_hint_block.0.weight"].shape[1])
    cfg["conditioning_embedding_out_channels"] = [int(sd[f"input_hint_block.{i}.weight"].shape[0]) for i in (0, 4, 8, 12)]
    return cfg


def infer_motion_config(sd: Dict[str, object]) -> dict:
    """diffusers ``MotionAdapter`` config of an original AnimateDiff motion module."""
    levels = _indices(sd, r"down_blocks\.(\d+)\.motion_modules\.")
    if not levels:
        raise CheckpointFormatError("no AnimateDiff motion modules found (down_blocks.*.motion_modules.* missing)")
    tt = "temporal_transformer."
    boc = [int(sd[f"down_blocks.{i}.motion_modules.0.{tt}proj_in.weight"].shape[0]) for i in levels]
    per_block = len(_indices(sd, r"down_blocks\.0\.motion_modules\.(\d+)\."))
    depth = len(_indices(sd, rf"down_blocks\.0\.motion_modules\.0\.{re.escape(tt)}transformer_blocks\.(\d+)\."))
    pe = [v for k, v in sd.items() if k.endswith("pos_encoder.pe")]
    max_len = int(pe[0].shape[1]) if pe else 32
    return {"block_out_channels": boc, "motion_layers_per_block": per_block,
            "motion_transformer_layers_per_block": depth, "motion_num_attention_heads": SD1_HEADS,
            "motion_norm_num_groups": 32, "motion_max_seq_length": max_len,
            "use_motion_mid_block": any(k.startswith("mid_block.motion_modules.") for k in sd)}


# ------------------------------------------------------------------------------ conversion helpers

def _converters():
    try:
        from diffusers.loaders import single_file_utils as sfu
        return sfu
    except ImportError as e:  # pragma: no cover - depends on the installed diffusers
        raise ImportError(f"this diffusers has no LDM converters ({e}); install diffusers>=0.30") from e


def _load_strict(model, converted: Dict[str, object], what: str, path: str):
    own = model.state_dict()
    missing = [k for k in own if k not in converted]
    unexpected = [k for k in converted if k not in own]
    bad = [k for k in own if k in converted and tuple(converted[k].shape) != tuple(own[k].shape)]
    if missing or bad:
        raise CheckpointFormatError(
            f"{path}: the {what} weights do not fit an SD1.5-family {what} "
            f"({len(missing)} missing, {len(bad)} with other shapes, e.g. {(missing + bad)[:3]}). "
            f"Only SD1.x-architecture files are supported")
    model.load_state_dict({k: v for k, v in converted.items() if k not in unexpected}, strict=True)
    return model


def detect_family(sd: Dict[str, object]) -> str:
    if any(k.startswith("conditioner.embedders.1.") for k in sd):
        return "sdxl"
    if any(k.startswith("cond_stage_model.model.") for k in sd):
        return "sd2"
    if any(k.startswith(UNET_PREFIX) for k in sd):
        return "sd1"
    return "unknown"


def load_sd_single_file(path: str, tokenizer_path: Optional[str] = None):
    """``(unet, vae, text_encoder, tokenizer, scheduler_config)`` of an SD1.5-family single file."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from .tokenizer import load_tokenizer

    sfu = _converters()
    sd = read_state_dict(path)
    fam = detect_family(sd)
    if fam in ("sdxl", "sd2"):
        raise CheckpointFormatError(f"{path} is an {fam.upper()} checkpoint; the SynchroRaMa sampler needs an "
                                    f"SD1.5-family checkpoint (SD1.5 and its fine-tunes)")
    if fam != "sd1":
        raise CheckpointFormatError(f"{path} has no SD UNet (no '{UNET_PREFIX}*' keys); pick a full SD1.5 checkpoint")
    ucfg = infer_unet_config(sd, UNET_PREFIX)
    if ucfg["cross_attention_dim"] != 768 and ucfg["block_out_channels"][0] >= 320:
        raise CheckpointFormatError(f"{path}: cross-attention width {ucfg['cross_attention_dim']} is not SD1.x's 768")
    unet = UNet2DConditionModel.from_config(ucfg)
    _load_strict(unet, sfu.convert_ldm_unet_checkpoint(sd, ucfg), "UNet", path)

    vae_prefix = next((p for p in VAE_PREFIXES if any(k.startswith(p) for k in sd)), None)
    if vae_prefix is None:
        raise CheckpointFormatError(f"{path} has no VAE ('first_stage_model.*' keys); use a checkpoint with "
                                    f"a baked-in VAE")
    vsd = _strip(sd, vae_prefix)
    vcfg = infer_vae_config(vsd)
    vae = AutoencoderKL.from_config(vcfg)
    _load_strict(vae, sfu.convert_ldm_vae_checkpoint(vsd, vcfg), "VAE", path)

    csd = {}
    for p in CLIP_PREFIXES:
        for k, v in _strip(sd, p).items():
            csd[k if k.startswith("text_model.") else "text_model." + k] = v
    if not csd:
        raise CheckpointFormatError(f"{path} has no CLIP text encoder ('cond_stage_model.transformer.*' keys)")
    ccfg = infer_clip_config(csd)
    te = CLIPTextModel(CLIPTextConfig(**ccfg))
    csd.pop("text_model.embeddings.position_ids", None)
    if not any(k.startswith("text_model.") for k in te.state_dict()):  # transformers 5 flattened CLIPTextModel
        csd = {k[len("text_model."):]: v for k, v in csd.items()}
    _load_strict(te, csd, "text encoder", path)
    tok = load_tokenizer(tokenizer_path)
    if len(tok) != ccfg["vocab_size"]:
        raise CheckpointFormatError(f"{path}: text encoder has {ccfg['vocab_size']} tokens but the tokenizer "
                                    f"{len(tok)}; give the matching tokenizer folder")
    del sd
    for m in (unet, vae, te):
        m.eval().requires_grad_(False)
    return unet, vae, te, tok, dict(SD1_SCHEDULER)


def is_diffusers_sd_folder(path: str) -> bool:
    return os.path.isdir(path) and os.path.isdir(os.path.join(path, "unet")) and \
        os.path.isdir(os.path.join(path, "vae")) and os.path.isdir(os.path.join(path, "text_encoder"))


def load_sd_folder(path: str, tokenizer_path: Optional[str] = None):
    """``(unet, vae, text_encoder, tokenizer, scheduler_config)`` of a diffusers SD1.5 folder."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    from .tokenizer import load_tokenizer

    if not is_diffusers_sd_folder(path):
        raise ModelNotFoundError(f"{path} is not a diffusers Stable Diffusion folder: it needs unet/, vae/ and "
                                 f"text_encoder/ sub-folders (and tokenizer/), as saved by save_pretrained")
    kw = dict(local_files_only=True, use_safetensors=True)
    try:
        unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet", **kw)
        vae = AutoencoderKL.from_pretrained(path, subfolder="vae", **kw)
        te = CLIPTextModel.from_pretrained(os.path.join(path, "text_encoder"), **kw)
    except (OSError, *LOAD_ERRORS) as e:
        raise ModelNotFoundError(f"could not load the diffusers folder {path} ({e}); SynchroRaMa needs its "
                                 f"weights as .safetensors") from e
    tdir = tokenizer_path or (os.path.join(path, "tokenizer") if os.path.isdir(os.path.join(path, "tokenizer")) else None)
    tok = load_tokenizer(tdir)
    sched = dict(SD1_SCHEDULER)
    sp = os.path.join(path, "scheduler", "scheduler_config.json")
    if os.path.isfile(sp):
        with open(sp, "r", encoding="utf-8") as f:
            sched.update({k: v for k, v in json.load(f).items() if not k.startswith("_")})
    for m in (unet, vae, te):
        m.eval().requires_grad_(False)
    return unet, vae, te, tok, sched


def _folder_or_sidecar_config(path: str) -> Optional[str]:
    """A diffusers model folder for ``path`` (a folder, or a file with ``config.json`` beside it)."""
    if os.path.isdir(path):
        return path if os.path.isfile(os.path.join(path, "config.json")) else None
    side = os.path.join(os.path.dirname(path), "config.json")
    return os.path.dirname(path) if os.path.isfile(side) else None


def _load_folder(cls, path: str, what: str, folder: Optional[str], layout: str = ""):
    """A frozen diffusers model of class ``cls`` from the model folder ``path`` (offline, safetensors)."""
    if folder is None:
        raise ModelNotFoundError(f"{what} folder {path} has no config.json{layout}")
    try:
        m = cls.from_pretrained(path, local_files_only=True, use_safetensors=True)
    except (OSError, *LOAD_ERRORS) as e:
        raise ModelNotFoundError(f"could not load the {what} folder {path} ({e})") from e
    return m.eval().requires_grad_(False)


def load_controlnet(path: str):
    """A ``ControlNetModel`` from an LDM-layout file, or a diffusers folder/file with ``config.json``."""
    from diffusers import ControlNetModel
    sfu = _converters()
    folder = _folder_or_sidecar_config(path)
    if os.path.isdir(path):
        return _load_folder(ControlNetModel, path, "ControlNet", folder,
                            " (a diffusers ControlNet folder holds config.json + diffusion_pytorch_model.safetensors)")
    sd = read_state_dict(path)
    if "time_embedding.linear_1.weight" in sd:  # already diffusers layout
        if folder is None:
            raise CheckpointFormatError(f"{path} is a diffusers-layout ControlNet without a config.json beside it; "
                                        f"put its config.json in the same folder")
        cfg = ControlNetModel.load_config(folder)
        m = ControlNetModel.from_config(cfg)
        return _load_strict(m, sd, "ControlNet", path).eval().requires_grad_(False)
    if any(k.startswith(CONTROLNET_PREFIX) for k in sd):
        sd = _strip(sd, CONTROLNET_PREFIX)
    if "input_hint_block.0.weight" not in sd:
        raise CheckpointFormatError(f"{path} is not a ControlNet (no input_hint_block); pick a ControlNet file, "
                                    f"e.g. a MediaPipe face-landmark ControlNet for SD1.5")
    cfg = infer_controlnet_config(sd)
    m = ControlNetModel.from_config(cfg)
    return _load_strict(m, sfu.convert_controlnet_checkpoint(sd, cfg), "ControlNet", path).eval().requires_grad_(False)


def load_motion_adapter(path: str):
    """A diffusers ``MotionAdapter`` from an original AnimateDiff file or a diffusers folder."""
    from diffusers import MotionAdapter
    sfu = _converters()
    folder = _folder_or_sidecar_config(path)
    if os.path.isdir(path):
        return _load_folder(MotionAdapter, path, "motion adapter", folder)
    sd = read_state_dict(path)
    for p in ("model.diffusion_model.", "module."):
        if any(k.startswith(p) for k in sd):
            sd = _strip(sd, p)
    if not any(".temporal_transformer." in k for k in sd):
        if any(".motion_modules." in k for k in sd) and folder is not None:
            m = MotionAdapter.from_config(MotionAdapter.load_config(folder))
            return _load_strict(m, sd, "motion adapter", path).eval().requires_grad_(False)
        raise CheckpointFormatError(f"{path} is not an AnimateDiff motion module for SD1.5 "
                                    f"(no '*.motion_modules.*.temporal_transformer.*' keys)")
    cfg = infer_motion_config(sd)
    m = MotionAdapter.from_config(cfg)
    conv = sfu.convert_animatediff_checkpoint_to_diffusers(sd)
    own = m.state_dict()
    # The converter drops the sinusoidal position tables; carry the file's own over where they fit.
    for k, v in sd.items():
        mm = re.match(r"(.*motion_modules\.\d+)\.temporal_transformer\.(transformer_blocks\.\d+)\."
                      r"attention_blocks\.0\.pos_encoder\.pe$", k)
        if mm:
            nk = f"{mm.group(1)}.{mm.group(2)}.pos_embed.pe"
            if nk in own and tuple(own[nk].shape) == tuple(v.shape):
                conv[nk] = v
    for k, v in own.items():  # tables longer/shorter in the file: keep diffusers' identical formula
        if k.endswith("pos_embed.pe") and k not in conv:
            conv[k] = v
    return _load_strict(m, conv, "motion adapter", path).eval().requires_grad_(False)
