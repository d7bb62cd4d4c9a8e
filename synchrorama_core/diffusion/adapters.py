"""SynchroRaMa adapters: audio cross-attention and emotion-embedding projection for an SD1.5 UNet.

For every spatial cross-attention layer of the UNet the adapters add two decoupled
cross-attentions (IP-Adapter style): one on per-frame **audio tokens** (the speech condition of
the frame and its neighbours, projected to the text width) and one on per-frame **emotion
tokens** (8 emotion probabilities + valence + arousal + intensity, projected to a few tokens).
Their output projections start at exactly zero, so a fresh adapter leaves the sampler's output
bit-for-bit unchanged; training (``python -m synchrorama_core.training.adapters``) learns them.
Training with condition dropout (``cond_dropout`` in the file) teaches them a "no condition" state
(:func:`null_condition`), which classifier-free guidance then gives its unguided half; adapters
trained without it get the same tokens in both halves (see ``sampler._adapter_tokens``).

File format: one ``.safetensors`` with the weights and a JSON ``synchrorama_adapters`` metadata
entry holding the configuration (audio feature source and width, layers and their widths).
"""
from __future__ import annotations

import json
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..errors import InvalidDataError
from ..outputs import replacing
from ..types import EMOTIONS, EmotionData, SpeechData

FORMAT = "synchrorama_adapters"
FORMAT_VERSION = 1
#: Name of the frame-feature audio condition (used when SR_SPEECH has no encoder embeddings).
FEATURE_SOURCE = "features:v1"
EMOTION_DIM = len(EMOTIONS) + 3


class AdapterFormatError(InvalidDataError):
    """An adapter file that does not fit this UNet or this audio condition."""


# ------------------------------------------------------------------------------ conditions

def speech_condition(speech: SpeechData) -> Tuple[np.ndarray, str]:
    """Per-frame audio condition ``[n_frames, D]`` and its source name.

    The speech encoder's ``embeddings`` when the SR_SPEECH has them, else 19 frame features
    scaled to about unit range: loudness, vad, voiced, log2(f0/100), 8 band levels, centroid,
    F1/F2 proxies, spectral tilt, zero-crossing rate, onset flux and speaking rate.
    """
    if speech.embeddings is not None:
        return np.asarray(speech.embeddings, np.float32), f"embeddings:{speech.embedding_model or 'unnamed'}"
    f = speech.features
    f0 = np.asarray(f["f0_hz"], np.float32)
    logf0 = np.where(f0 > 0, np.log2(np.maximum(f0, 1.0) / 100.0), 0.0)
    cols = [f["loudness"], f["vad"], f["voiced"], logf0]
    bands = np.asarray(f["bands"], np.float32).reshape(speech.n_frames, -1)
    cols += [(bands[:, i] + 80.0) / 80.0 for i in range(bands.shape[1])]
    cols += [np.asarray(f["centroid_hz"]) / 4000.0, np.asarray(f["f1_proxy_hz"]) / 1000.0,
             np.asarray(f["f2_proxy_hz"]) / 2500.0, np.asarray(f["tilt"]) / 10.0,
             np.asarray(f["zcr"]) * 10.0, f["flux"], np.asarray(f["rate"]) / 5.0]
    x = np.stack([np.asarray(c, np.float32).reshape(-1) for c in cols], axis=1)
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32), FEATURE_SOURCE


def emotion_condition(emotion: Optional[EmotionData], n: int) -> np.ndarray:
    """Per-frame emotion vector ``[n, 11]``: probabilities, valence, arousal, intensity."""
    if emotion is None:
        v = np.zeros((n, EMOTION_DIM), np.float32)
        v[:, EMOTIONS.index("neutral")] = 1.0
        return v
    if emotion.n_frames != n:
        raise InvalidDataError(f"SR_EMOTION has {emotion.n_frames} frames but the video has {n}; build the "
                               f"emotion from the same speech (same duration and fps)")
    return np.concatenate([emotion.probs, emotion.valence[:, None], emotion.arousal[:, None],
                           emotion.intensity[:, None]], axis=1).astype(np.float32)


def null_condition(adapters: "SRAdapters", n: int) -> Tuple[np.ndarray, np.ndarray]:
    """The "no condition" inputs ``(audio windows [n, 2k+1, D], emotion [n, 11])``, all zeros: what
    training with condition dropout (IP-Adapter style) feeds instead of the clip's audio and
    emotion, and what the unguided half of classifier-free guidance then gets at inference."""
    cfg = adapters.config
    return (np.zeros((n, 2 * cfg["audio_context"] + 1, cfg["audio_dim"]), np.float32),
            np.zeros((n, cfg["emotion_dim"]), np.float32))


def audio_windows(cond: np.ndarray, context: int) -> np.ndarray:
    """``[n, D]`` -> ``[n, 2*context+1, D]``: each frame with its neighbours (edges repeated)."""
    n = cond.shape[0]
    idx = np.clip(np.arange(n)[:, None] + np.arange(-context, context + 1)[None, :], 0, max(n - 1, 0))
    return cond[idx]


# ------------------------------------------------------------------------------ modules

def _key(name: str) -> str:
    return name.replace(".", "__")


#: Ranges an adapter file's configuration may hold (a crafted file must not allocate terabytes).
_LIMITS = {"audio_dim": (1, 16384), "audio_context": (0, 64), "emotion_tokens": (1, 64), "hidden": (1, 8192),
           "width": (1, 8192), "layers": (1, 512)}


def _check_adapter_config(cfg, path: str) -> dict:
    """``cfg`` with every field the adapters are built from checked (types and ranges)."""
    def fail(msg):
        raise AdapterFormatError(f"{path}: adapter configuration: {msg}")

    def integer(v, key, name=None):
        lo, hi = _LIMITS[key]
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            fail(f"{name or key} must be an integer in [{lo}, {hi}], got {str(v)[:40]}")
        return v
    if not isinstance(cfg, dict):
        fail(f"expected a JSON object, got {type(cfg).__name__}")
    version = cfg.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        fail(f"version must be an integer, got {str(version)[:40]}")
    if version > FORMAT_VERSION:
        raise AdapterFormatError(f"{path} has adapter format {version}, newer than this node pack; update it")
    missing = [k for k in ("layers", "audio_dim", "audio_source", "audio_context", "emotion_tokens", "hidden")
               if k not in cfg]
    if missing:
        fail(f"missing {missing}")
    for k in ("audio_dim", "audio_context", "emotion_tokens", "hidden"):
        integer(cfg[k], k)
    if not isinstance(cfg["audio_source"], str):
        fail("audio_source must be a string")
    cd = cfg.get("cond_dropout", 0.0)
    if not isinstance(cd, (int, float)) or isinstance(cd, bool) or not 0.0 <= cd < 1.0:
        fail(f"cond_dropout must be a number in [0, 1), got {str(cd)[:40]}")
    layers = cfg["layers"]
    lo, hi = _LIMITS["layers"]
    if not isinstance(layers, dict) or not lo <= len(layers) <= hi:
        fail(f"layers must map {lo}..{hi} layer names to [query, inner, cross] widths")
    for name, v in layers.items():
        if not isinstance(v, list) or len(v) != 3:
            fail(f"layers[{str(name)[:60]!r}] must be [query, inner, cross] widths, got {str(v)[:40]}")
        for x in v:
            integer(x, "width", f"layers[{str(name)[:60]!r}] widths")
    return cfg


class AdapterLayer(nn.Module):
    def __init__(self, query_dim: int, inner_dim: int, cross_dim: int):
        super().__init__()
        self.to_k_audio = nn.Linear(cross_dim, inner_dim, bias=False)
        self.to_v_audio = nn.Linear(cross_dim, inner_dim, bias=False)
        self.to_out_audio = nn.Linear(inner_dim, query_dim)
        self.to_k_emotion = nn.Linear(cross_dim, inner_dim, bias=False)
        self.to_v_emotion = nn.Linear(cross_dim, inner_dim, bias=False)
        self.to_out_emotion = nn.Linear(inner_dim, query_dim)
        for m in (self.to_out_audio, self.to_out_emotion):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)


class SRAdapters(nn.Module):
    """The trainable SynchroRaMa conditioning of one UNet architecture."""

    def __init__(self, layers: Dict[str, Tuple[int, int, int]], audio_dim: int, audio_source: str = FEATURE_SOURCE,
                 audio_context: int = 2, emotion_tokens: int = 2, hidden: int = 256, cond_dropout: float = 0.0):
        super().__init__()
        if not layers:
            raise AdapterFormatError("adapters need at least one cross-attention layer")
        cross = {v[2] for v in layers.values()}
        if len(cross) != 1:
            raise AdapterFormatError(f"cross-attention widths differ between layers: {sorted(cross)}")
        self.cross_dim = cross.pop()
        self.config = {"format": FORMAT, "version": FORMAT_VERSION, "audio_dim": int(audio_dim),
                       "audio_source": str(audio_source), "audio_context": int(audio_context),
                       "emotion_dim": EMOTION_DIM, "emotion_tokens": int(emotion_tokens), "hidden": int(hidden),
                       # > 0: trained with condition dropout to null_condition(), which guidance then uses
                       "cond_dropout": float(cond_dropout),
                       "layers": {k: [int(x) for x in v] for k, v in layers.items()}}
        c = self.cross_dim
        self.audio_proj = nn.Sequential(nn.Linear(audio_dim, hidden), nn.SiLU(), nn.Linear(hidden, c))
        self.audio_pos = nn.Parameter(torch.zeros(2 * audio_context + 1, c))
        self.audio_norm = nn.LayerNorm(c)
        self.emotion_proj = nn.Sequential(nn.Linear(EMOTION_DIM, hidden), nn.SiLU(), nn.Linear(hidden, emotion_tokens * c))
        self.emotion_norm = nn.LayerNorm(c)
        self.layers = nn.ModuleDict({_key(k): AdapterLayer(*v) for k, v in layers.items()})

    # -- construction
    @classmethod
    def for_unet(cls, unet, audio_dim: int, audio_source: str = FEATURE_SOURCE, **kw) -> "SRAdapters":
        """Fresh adapters for ``unet`` (2D or motion UNet); K/V start as copies of the text K/V."""
        from .attention import spatial_attention_names
        _, cross = spatial_attention_names(unet)
        mods = dict(unet.named_modules())
        layers = {}
        for n in cross:
            attn = mods[n[: -len(".processor")]]
            layers[n[: -len(".processor")]] = (attn.to_q.in_features, attn.to_q.out_features, attn.to_k.in_features)
        ad = cls(layers, audio_dim, audio_source, **kw)
        with torch.no_grad():
            for n in layers:
                attn, lay = mods[n], ad.layers[_key(n)]
                for dst in (lay.to_k_audio, lay.to_k_emotion):
                    dst.weight.copy_(attn.to_k.weight.float())
                for dst in (lay.to_v_audio, lay.to_v_emotion):
                    dst.weight.copy_(attn.to_v.weight.float())
        return ad

    def layer(self, name: str) -> Optional[AdapterLayer]:
        return self.layers[_key(name)] if _key(name) in self.layers else None

    def check_unet(self, unet) -> None:
        """Raise :class:`AdapterFormatError` unless these adapters fit ``unet``'s attention layers."""
        from .attention import spatial_attention_names
        _, cross = spatial_attention_names(unet)
        mods = dict(unet.named_modules())
        want = {n[: -len(".processor")] for n in cross}
        have = set(self.config["layers"])
        if want != have:
            raise AdapterFormatError(f"these adapters were trained for a UNet with {len(have)} cross-attention layers, "
                                     f"the loaded checkpoint has {len(want)} (another architecture); "
                                     f"train adapters for this checkpoint")
        for n, (q, inner, c) in self.config["layers"].items():
            a = mods[n]
            if (a.to_q.in_features, a.to_q.out_features, a.to_k.in_features) != (q, inner, c):
                raise AdapterFormatError(f"adapter layer {n} has widths {(q, inner, c)}, the UNet's "
                                         f"{(a.to_q.in_features, a.to_q.out_features, a.to_k.in_features)}")

    # -- tokens
    def audio_tokens(self, windows: torch.Tensor) -> torch.Tensor:
        """``[B, 2k+1, D]`` -> ``[B, 2k+1, C]``."""
        if windows.shape[-1] != self.config["audio_dim"]:
            raise AdapterFormatError(
                f"the adapters expect a {self.config['audio_dim']}-wide audio condition "
                f"({self.config['audio_source']}), got {windows.shape[-1]}; feed SR_SPEECH with the same audio "
                f"features/encoder the adapters were trained on")
        w = next(self.audio_proj.parameters())
        return self.audio_norm(self.audio_proj(windows.to(w)) + self.audio_pos)

    def emotion_tokens(self, vec: torch.Tensor) -> torch.Tensor:
        """``[B, 11]`` -> ``[B, emotion_tokens, C]``."""
        w = next(self.emotion_proj.parameters())
        e = self.emotion_proj(vec.to(w)).view(vec.shape[0], self.config["emotion_tokens"], self.cross_dim)
        return self.emotion_norm(e)

    # -- files
    def save(self, path: str, extra_meta: Optional[dict] = None) -> str:
        """Write the adapters to ``path`` (a ``.safetensors`` file; its folder is created), under a
        temporary name renamed when complete: a failure (a full disk) raises
        :class:`~synchrorama_core.errors.OutputError`, leaves no partial file and an earlier ``path``
        as it was."""
        from safetensors.torch import save_file
        meta = {FORMAT: json.dumps(self.config)}
        if extra_meta:
            meta["training"] = json.dumps(extra_meta)
        state = {k: v.detach().float().contiguous().cpu() for k, v in self.state_dict().items()}
        with replacing(path) as (tmp,):
            save_file(state, tmp, metadata=meta)
        return path

    @classmethod
    def load(cls, path: str) -> "SRAdapters":
        from safetensors import safe_open
        from safetensors.torch import load_file
        if not path.endswith(".safetensors"):
            raise AdapterFormatError(f"{path}: SynchroRaMa adapters are .safetensors files")
        try:
            with safe_open(path, "pt") as f:
                meta = f.metadata() or {}
        except Exception as e:  # noqa: BLE001
            raise AdapterFormatError(f"{path} is not a readable safetensors file ({e})") from e
        if FORMAT not in meta:
            raise AdapterFormatError(f"{path} is not a SynchroRaMa adapter file (no '{FORMAT}' metadata); adapters "
                                     f"are made by `python -m synchrorama_core.training.adapters`")
        try:
            cfg = json.loads(meta[FORMAT])
        except (ValueError, RecursionError) as e:
            raise AdapterFormatError(f"{path}: its '{FORMAT}' metadata is not valid JSON ({e})") from None
        cfg = _check_adapter_config(cfg, path)
        ad = cls({k: tuple(v) for k, v in cfg["layers"].items()}, cfg["audio_dim"], cfg["audio_source"],
                 cfg["audio_context"], cfg["emotion_tokens"], cfg["hidden"], float(cfg.get("cond_dropout", 0.0)))
        try:
            sd = load_file(path)
        except Exception as e:  # noqa: BLE001
            raise AdapterFormatError(f"{path} is not a readable safetensors file ({e})") from e
        want = {k: tuple(v.shape) for k, v in ad.state_dict().items()}
        got = {k: tuple(v.shape) for k, v in sd.items()}
        bad = [f"{k}: file {list(got[k])}, config {list(want[k])}" for k in want if k in got and got[k] != want[k]]
        missing = [k for k in want if k not in got]
        unexpected = [k for k in got if k not in want]
        if bad or missing or unexpected:
            raise AdapterFormatError(f"{path}: adapter weights do not match their configuration ("
                                     + "; ".join(f"{what} {len(v)}: {', '.join(v[:6])}" + (" ..." if len(v) > 6 else "")
                                                 for what, v in (("other shape", bad), ("missing", missing),
                                                                 ("unexpected", unexpected)) if v) + ")")
        ad.load_state_dict(sd, strict=True)
        return ad.eval().requires_grad_(False)
