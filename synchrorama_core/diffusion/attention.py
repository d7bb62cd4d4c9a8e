"""Attention processors of the SynchroRaMa sampler (no extra weights unless adapters are loaded).

* **Reference attention** (self-attention, ``attn1``): in *write* mode the UNet runs on the
  (noised) reference latents and every spatial self-attention layer stores its input tokens in
  a bank; in *read* mode each frame's self-attention also attends to the bank's tokens, so the
  frame takes identity and appearance from the reference(s).  ``strength`` blends between plain
  self-attention (0) and reference-augmented self-attention (1).
* **Condition attention** (cross-attention, ``attn2``): the usual text cross-attention, plus,
  when SynchroRaMa adapters are loaded, decoupled cross-attentions on per-frame audio tokens
  and emotion tokens whose output projections start at zero (so they change nothing until trained).
* **Attention slicing**: every processor can run its batch in chunks to bound peak memory.

Temporal (motion-module) attention keeps diffusers' own processors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

import torch
import torch.nn.functional as F

from ..errors import InvalidDataError


@dataclass
class AttentionState:
    """Shared, mutable state of all SynchroRaMa processors of one UNet."""

    mode: str = "off"                   # "off" | "write" | "read"
    ref_strength: float = 1.0
    bank: Dict[str, torch.Tensor] = field(default_factory=dict)
    adapters: Optional[torch.nn.Module] = None       # SRAdapters
    audio_tokens: Optional[torch.Tensor] = None      # [batch, Na, C]: one row per UNet batch row
    emotion_tokens: Optional[torch.Tensor] = None    # [batch, Ne, C]
    audio_strength: float = 1.0
    emotion_strength: float = 1.0
    slice_size: int = 0                 # 0 = no slicing, else batch rows per chunk

    def clear(self) -> None:
        self.bank.clear()
        self.audio_tokens = None
        self.emotion_tokens = None
        self.mode = "off"


def _heads(attn, x: torch.Tensor) -> torch.Tensor:
    b, n, _ = x.shape
    return x.view(b, n, attn.heads, -1).transpose(1, 2)


def _attend(attn, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Multi-head attention of already projected ``q``/``k``/``v`` ``[B, N, inner]`` -> ``[B, N, inner]``."""
    b, n, inner = q.shape
    o = F.scaled_dot_product_attention(_heads(attn, q), _heads(attn, k), _heads(attn, v))
    return o.transpose(1, 2).reshape(b, n, inner)


def _chunks(b: int, size: int):
    size = b if size <= 0 else size
    for s in range(0, b, size):
        yield slice(s, min(s + size, b))


def _prenorm(attn, hidden_states, encoder_hidden_states, temb):
    if attn.spatial_norm is not None:
        hidden_states = attn.spatial_norm(hidden_states, temb)
    four_d = hidden_states.ndim == 4
    shape = hidden_states.shape
    if four_d:
        b, c, h, w = shape
        hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
    if attn.group_norm is not None:
        hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
    if encoder_hidden_states is not None and attn.norm_cross:
        encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
    return hidden_states, encoder_hidden_states, four_d, shape


def _finish(attn, out, residual, four_d, shape, extra=None):
    out = attn.to_out[0](out)
    if extra is not None:
        out = out + extra
    out = attn.to_out[1](out)
    if four_d:
        out = out.transpose(-1, -2).reshape(shape)
    if attn.residual_connection:
        out = out + residual
    return out / attn.rescale_output_factor


def _same_rows(what: str, ctx: torch.Tensor, x: torch.Tensor) -> None:
    """Every hidden row attends to its own row of the condition.  Slicing a longer condition by
    hidden rows would silently mix rows up: diffusers < 0.31 repeats the (already per-frame)
    text per frame inside the motion UNet, and every row then got the negative prompt."""
    if ctx.shape[0] != x.shape[0]:
        raise InvalidDataError(f"cross-attention got {ctx.shape[0]} rows of {what} for {x.shape[0]} hidden rows; "
                               f"with an AnimateDiff motion module this means diffusers < 0.31 (update it: "
                               f"pip install -U 'diffusers>=0.31')")


class ReferenceSelfAttnProcessor:
    """Self-attention that writes to / reads from the reference bank (see module docs)."""

    def __init__(self, state: AttentionState, name: str):
        self.state = state
        self.name = name

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 *args, **kwargs):
        residual = hidden_states
        x, _, four_d, shape = _prenorm(attn, hidden_states, None, temb)
        st = self.state
        if st.mode == "write":
            st.bank[self.name] = x.detach()
        ref = st.bank.get(self.name) if st.mode == "read" and st.ref_strength > 0 else None
        kr = vr = None
        if ref is not None:  # all reference tokens, projected once and shared by every frame
            r = ref.reshape(1, -1, ref.shape[-1]).to(x.dtype)
            kr, vr = attn.to_k(r), attn.to_v(r)
        outs = []
        for sl in _chunks(x.shape[0], st.slice_size):
            xs = x[sl]
            q = attn.to_q(xs)
            k, v = attn.to_k(xs), attn.to_v(xs)
            if ref is not None:
                b = xs.shape[0]
                o_ref = _attend(attn, q, torch.cat([k, kr.expand(b, -1, -1)], 1), torch.cat([v, vr.expand(b, -1, -1)], 1))
                o = o_ref if st.ref_strength == 1.0 else _attend(attn, q, k, v) * (1 - st.ref_strength) + \
                    st.ref_strength * o_ref
            else:
                o = _attend(attn, q, k, v)
            outs.append(o)
        return _finish(attn, torch.cat(outs, 0), residual, four_d, shape)


class ConditionCrossAttnProcessor:
    """Text cross-attention plus the optional SynchroRaMa audio/emotion adapter attentions."""

    def __init__(self, state: AttentionState, name: str):
        self.state = state
        self.name = name

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 *args, **kwargs):
        residual = hidden_states
        x, ctx, four_d, shape = _prenorm(attn, hidden_states, encoder_hidden_states, temb)
        if ctx is None:
            ctx = x
        st = self.state
        _same_rows("text context", ctx, x)
        layer = None
        if st.adapters is not None and st.mode != "write":
            layer = st.adapters.layer(self.name)
            for what, tokens in (("audio tokens", st.audio_tokens), ("emotion tokens", st.emotion_tokens)):
                if tokens is not None:
                    _same_rows(what, tokens, x)
        outs, extra = [], []
        for sl in _chunks(x.shape[0], st.slice_size):
            q = attn.to_q(x[sl])
            outs.append(_attend(attn, q, attn.to_k(ctx[sl]), attn.to_v(ctx[sl])))
            if layer is not None:
                # the adapter branch runs in the adapters' dtype (fp32 while training beside fp16/bf16
                # frozen models) and its result joins the hidden states in theirs
                qa = q.to(layer.to_k_audio.weight.dtype)
                e = None
                if st.audio_tokens is not None and st.audio_strength != 0:
                    a = st.audio_tokens[sl].to(qa.dtype)
                    e = st.audio_strength * layer.to_out_audio(_attend(attn, qa, layer.to_k_audio(a),
                                                                       layer.to_v_audio(a)))
                if st.emotion_tokens is not None and st.emotion_strength != 0:
                    m = st.emotion_tokens[sl].to(qa.dtype)
                    em = st.emotion_strength * layer.to_out_emotion(
                        _attend(attn, qa, layer.to_k_emotion(m), layer.to_v_emotion(m)))
                    e = em if e is None else e + em
                extra.append(None if e is None else e.to(q.dtype))
        add = None
        if any(e is not None for e in extra):
            add = torch.cat([e if e is not None else torch.zeros(o.shape[:-1] + (x.shape[-1],), dtype=o.dtype,
                                                                  device=o.device)
                             for e, o in zip(extra, outs)], 0)
        return _finish(attn, torch.cat(outs, 0), residual, four_d, shape, add)


def spatial_attention_names(unet):
    """``(self_attn, cross_attn)`` processor names of the spatial transformer blocks."""
    self_names, cross_names = [], []
    for name in unet.attn_processors:
        if "motion_modules" in name:
            continue
        if name.endswith("attn1.processor"):
            self_names.append(name)
        elif name.endswith("attn2.processor"):
            cross_names.append(name)
    return self_names, cross_names


def install_processors(unet, state: AttentionState) -> None:
    """Put SynchroRaMa processors on the spatial attention layers of ``unet`` (2D or motion UNet)."""
    procs = dict(unet.attn_processors)
    self_names, cross_names = spatial_attention_names(unet)
    for n in self_names:
        procs[n] = ReferenceSelfAttnProcessor(state, n[: -len(".processor")])
    for n in cross_names:
        procs[n] = ConditionCrossAttnProcessor(state, n[: -len(".processor")])
    unet.set_attn_processor(procs)
