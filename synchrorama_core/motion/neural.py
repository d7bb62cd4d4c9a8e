"""Neural A2M: a compact temporal-convolution network from speech features (+ optional
audio-encoder embeddings) and emotion to head pose and expression coefficients.

Model folder (``models/synchrorama/a2m/<name>/``)::

    config.json         {"kind": "a2m", "arch": "tcn", "format": 2, "fps": 25.0, "channels": 128,
                         "kernel": 5, "dilations": [...], "speech_inputs": [...], "phone_inputs": [...],
                         "embedding_dim": 0, "outputs": [...], "input_mean": [...], "input_std": [...], ...}
    model.safetensors   the network's weights (loaded with safetensors; nothing is unpickled)

Inputs per frame (see :meth:`NeuralA2M.inputs`): 20 speech values from ``SR_SPEECH.features``
(loudness, voicing, pitch in semitones around the clip's median, formant proxies, spectral
shape, 8 band levels relative to the clip's loud level, ...), the 11 emotion values (8
probabilities, valence, arousal, intensity), the 15 phone values of the speech's phone track
(:data:`PHONE_INPUTS`: viseme class one-hot and lip targets; the audio features alone cannot
tell an m from an n, the phone track can) and, if the model was trained with them, the speech's
encoder ``embeddings``.  Outputs (``config["outputs"]``): rotation, translation, log scale and
the expressions (:data:`~synchrorama_core.types.EXPRESSIONS`) through a sigmoid.  Format-1
models (no phone inputs, 13 expressions without ``lip_tuck``) still load and run: a channel a
model does not output is 0.  The network is non-causal with a receptive field
of ``1 + (kernel - 1) * sum(dilations)`` frames; long clips are processed in overlapping
windows with at least half a receptive field of context, which gives the same result as one
pass while keeping memory flat.

Blinks are not predictable from audio; by default the generator replaces the model's blink
channels by the procedural blink process (seeded), and adds scene gestures on top.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..errors import InvalidDataError, ModelNotFoundError
from ..models import default_dirs, list_models, resolve_model
from ..outputs import replacing
from ..progress import CancelFn, ProgressFn, Steps
from ..types import (EMOTIONS, EXPRESSIONS, LIP_TARGETS, VISEMES, EmotionData, MotionData, PhoneTrack, SceneData,
                     SpeechData)
from . import _signal as sig
from .adjust import MOUTH
from .emotion_map import emotion_on_frames
from .visemes import check_track, phone_features, track_meta

FORMAT = 2
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
SPEECH_INPUTS = ("loudness", "vad", "voiced", "f0_st", "rms_rel", "centroid", "f1", "f2", "tilt", "zcr", "flux",
                 "rate") + tuple(f"band{i}" for i in range(8))
EMOTION_INPUTS = tuple(f"p_{e}" for e in EMOTIONS) + ("valence", "arousal", "intensity")
#: the phone track per frame (:func:`.visemes.phone_features`): viseme one-hot, then lip targets
PHONE_INPUTS = tuple(f"viseme_{v}" for v in VISEMES) + tuple(f"lip_{k}" for k in LIP_TARGETS)
POSE_OUTPUTS = ("yaw", "pitch", "roll", "tx", "ty", "log_scale")
OUTPUTS = POSE_OUTPUTS + tuple(EXPRESSIONS)
#: what format-1 models output (before ``lip_tuck``)
OUTPUTS_V1 = POSE_OUTPUTS + tuple(k for k in EXPRESSIONS if k != "lip_tuck")
#: output unit of each pose channel: rotation in 10 degrees, translation and log scale in 0.05
ROT_UNIT, TRANS_UNIT, SCALE_UNIT = 10.0, 0.05, 0.05


class A2MModelError(InvalidDataError):
    """An A2M model folder whose config or weights do not fit together."""


# ------------------------------------------------------------------------------ inputs / targets

def speech_inputs(speech: SpeechData) -> np.ndarray:
    """``[n, 20]`` float32 speech inputs (clip-relative where a speaker's level or pitch would leak in)."""
    f = speech.features
    n = speech.n_frames
    vad = f["vad"] > 0.5
    voiced = (f["voiced"] > 0.5) & (f["f0_hz"] > 0)
    med = float(np.median(f["f0_hz"][voiced])) if voiced.any() else 0.0
    f0_st = np.where(voiced, 12.0 * np.log2(np.maximum(f["f0_hz"], 1.0) / med), 0.0) if med > 0 else np.zeros(n)
    ref = sig.robust_scale(f["rms"], vad, 95.0)
    bands = np.asarray(f["bands"], np.float64).reshape(n, -1)
    if bands.shape[1] != 8:
        raise InvalidDataError(f"SR_SPEECH.features['bands'] must have 8 bands, got {bands.shape[1]}")
    top = np.percentile(bands.max(axis=1), 95) if n else 0.0
    cols = [f["loudness"], vad, voiced, f0_st / 12.0, np.clip(f["rms"] / ref, 0, 3),
            f["centroid_hz"] / 4000.0, f["f1_proxy_hz"] / 1000.0, f["f2_proxy_hz"] / 2000.0,
            f["tilt"] / 10.0, f["zcr"] * 4.0, f["flux"], f["rate"] / 5.0]
    x = np.column_stack([np.asarray(c, np.float64).reshape(n) for c in cols] + [np.clip((bands - top) / 40.0, -3, 1)])
    return np.nan_to_num(x).astype(np.float32)


def emotion_inputs(emotion: Optional[EmotionData], speech: SpeechData) -> np.ndarray:
    """``[n, 11]``: probabilities over EMOTIONS, valence, arousal, intensity on the speech frames."""
    e = emotion_on_frames(emotion, speech.n_frames, speech.fps, speech.duration_s)
    return np.column_stack([e["probs"], e["valence"], e["arousal"], e["intensity"]]).astype(np.float32)


def motion_targets(motion: MotionData) -> np.ndarray:
    """``[n, len(OUTPUTS)]`` network-space targets of a motion (pose in output units, expressions in [0, 1])."""
    return np.column_stack([motion.rotation / ROT_UNIT, motion.translation / TRANS_UNIT,
                            np.log(np.maximum(motion.scale, 1e-3)) / SCALE_UNIT,
                            motion.expression_matrix()]).astype(np.float32)


def outputs_to_arrays(y: np.ndarray, names: Sequence[str] = OUTPUTS) -> Dict[str, np.ndarray]:
    """Network-space ``[n, len(names)]`` (expressions already in [0, 1]) -> rotation, translation, scale and
    ``expressions [n, len(EXPRESSIONS)]`` (in EXPRESSIONS order; 0 for a channel ``names`` lacks)."""
    y = np.asarray(y, np.float64)
    col = {k: i for i, k in enumerate(names)}
    ex = np.zeros((len(y), len(EXPRESSIONS)))
    for j, k in enumerate(EXPRESSIONS):
        if k in col:
            ex[:, j] = y[:, col[k]]
    return {"rotation": np.clip(y[:, 0:3] * ROT_UNIT, -89, 89), "translation": y[:, 3:5] * TRANS_UNIT,
            "scale": np.exp(np.clip(y[:, 5] * SCALE_UNIT, -1, 1)), "expressions": np.clip(ex, 0, 1)}


# ------------------------------------------------------------------------------ the network

def _torch():
    try:
        import torch
        return torch
    except ImportError as e:  # pragma: no cover - torch is part of every ComfyUI
        raise ModelNotFoundError("the neural A2M needs PyTorch (ComfyUI's own torch); use the procedural "
                                 "generator without it") from e


def build_net(config: Dict[str, Any]):
    """The :class:`torch.nn.Module` described by ``config`` (randomly initialised)."""
    torch = _torch()
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, c: int, k: int, d: int, dropout: float):
            super().__init__()
            self.norm = nn.LayerNorm(c)
            self.conv = nn.Conv1d(c, 2 * c, k, dilation=d, padding=d * (k - 1) // 2)
            self.proj = nn.Conv1d(c, c, 1)
            self.drop = nn.Dropout(dropout)

        def forward(self, x):  # x [B, C, T]
            h = self.norm(x.transpose(1, 2)).transpose(1, 2)
            h = nn.functional.glu(self.conv(h), dim=1)
            return x + self.drop(self.proj(h))

    class A2MNet(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            c = int(cfg["channels"])
            self.inp = nn.Conv1d(int(cfg["in_dim"]), c, 1)
            self.blocks = nn.ModuleList([Block(c, int(cfg["kernel"]), int(d), float(cfg.get("dropout", 0.0)))
                                         for d in cfg["dilations"]])
            self.norm = nn.LayerNorm(c)
            self.out = nn.Conv1d(c, len(cfg.get("outputs", OUTPUTS)), 1)

        def forward(self, x):  # x [B, T, in_dim] -> [B, T, n_outputs] (pose raw, expressions in 0..1)
            h = self.inp(x.transpose(1, 2))
            for b in self.blocks:
                h = b(h)
            h = self.norm(h.transpose(1, 2)).transpose(1, 2)
            y = self.out(h).transpose(1, 2)
            return torch.cat([y[..., :6], torch.sigmoid(y[..., 6:])], dim=-1)

    return A2MNet(config)


def default_config(embedding_dim: int = 0, channels: int = 128, kernel: int = 5,
                   dilations: Sequence[int] = (1, 2, 4, 8, 1, 2, 4, 8), fps: float = 25.0,
                   dropout: float = 0.1, embedding_model: str = "", phone_inputs: bool = True) -> Dict[str, Any]:
    phones = list(PHONE_INPUTS) if phone_inputs else []
    in_dim = len(SPEECH_INPUTS) + len(EMOTION_INPUTS) + len(phones) + int(embedding_dim)
    if kernel % 2 != 1:
        raise InvalidDataError(f"A2M kernel size must be odd, got {kernel}")
    return {"kind": "a2m", "arch": "tcn", "format": FORMAT, "fps": float(fps), "channels": int(channels),
            "kernel": int(kernel), "dilations": [int(d) for d in dilations], "dropout": float(dropout),
            "speech_inputs": list(SPEECH_INPUTS), "emotion_inputs": list(EMOTION_INPUTS), "phone_inputs": phones,
            "embedding_dim": int(embedding_dim), "embedding_model": str(embedding_model),
            "in_dim": in_dim, "outputs": list(OUTPUTS), "input_mean": [0.0] * in_dim, "input_std": [1.0] * in_dim}


def receptive_field(config: Dict[str, Any]) -> int:
    return 1 + (int(config["kernel"]) - 1) * sum(int(d) for d in config["dilations"])


#: Ranges a config may hold (inclusive): a typo or a crafted file must not build a frozen face or
#: ask for terabytes.  ``channels`` 4096 is ~1 GB of weights at the default depth, far past any A2M.
CONFIG_RANGES = {"fps": (1.0, 240.0), "channels": (1, 4096), "kernel": (1, 63), "dilation": (1, 1024),
                 "blocks": (1, 64), "embedding_dim": (0, 8192), "dropout": (0.0, 0.95)}


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return (_is_int(v) or isinstance(v, (float, np.floating))) and bool(np.isfinite(v))


def _number(cfg: Dict[str, Any], key: str, where: str, integer: bool):
    v = cfg[key]
    lo, hi = CONFIG_RANGES[key]
    ok = _is_int(v) if integer else _is_real(v)
    if not ok or not lo <= v <= hi:
        kind = "an integer" if integer else "a number"
        raise A2MModelError(f"{where}: {key} must be {kind} in [{lo}, {hi}], got {v!r}")
    return v


def _check_config(cfg: Any, where: str) -> Dict[str, Any]:
    """The config, after checking every field the network and the inputs read (types and ranges),
    so nothing is built from a config that cannot work."""
    if not isinstance(cfg, dict) or cfg.get("kind") != "a2m":
        raise A2MModelError(f"{where} is not a SynchroRaMa A2M config (expected \"kind\": \"a2m\")")
    fmt = cfg.get("format", 0)
    if not _is_int(fmt):
        raise A2MModelError(f"{where}: format must be an integer, got {fmt!r}")
    if fmt > FORMAT:
        raise A2MModelError(f"{where}: A2M format {fmt} is newer than this SynchroRaMa ({FORMAT}); update the node pack")
    need = ("channels", "kernel", "dilations", "in_dim", "fps", "input_mean", "input_std", "embedding_dim")
    missing = [k for k in need if k not in cfg]
    if missing:
        raise A2MModelError(f"{where} lacks {missing}")
    if cfg.get("arch", "tcn") != "tcn":
        raise A2MModelError(f"{where}: unknown A2M architecture {cfg.get('arch')!r} (known: tcn)")
    _number(cfg, "fps", where, integer=False)
    _number(cfg, "channels", where, integer=True)
    k = _number(cfg, "kernel", where, integer=True)
    if k % 2 != 1:
        raise A2MModelError(f"{where}: kernel must be odd (the network is centred on each frame), got {k}")
    _number(cfg, "embedding_dim", where, integer=True)
    if "dropout" in cfg:
        _number(cfg, "dropout", where, integer=False)
    dil = cfg["dilations"]
    lo, hi = CONFIG_RANGES["blocks"]
    dlo, dhi = CONFIG_RANGES["dilation"]
    if not isinstance(dil, (list, tuple)) or not lo <= len(dil) <= hi or \
            any(not _is_int(d) or not dlo <= d <= dhi for d in dil):
        raise A2MModelError(f"{where}: dilations must be a list of {lo}..{hi} integers in [{dlo}, {dhi}], "
                            f"got {str(dil)[:80]}")
    # format 2 takes the phone track; format 1 did not (and had no lip_tuck output)
    phones = cfg.get("phone_inputs") or []
    if not isinstance(phones, (list, tuple)) or (phones and list(phones) != list(PHONE_INPUTS)):
        raise A2MModelError(f"{where}: phone_inputs {str(phones)[:80]} are not this SynchroRaMa's "
                            f"{list(PHONE_INPUTS)}")
    outputs = cfg.get("outputs") or list(OUTPUTS_V1)
    if not isinstance(outputs, (list, tuple)) or tuple(outputs[:6]) != POSE_OUTPUTS or \
            any(k not in EXPRESSIONS for k in outputs[6:]) or len(set(outputs)) != len(outputs):
        raise A2MModelError(f"{where}: outputs must be {list(POSE_OUTPUTS)} then expression names "
                            f"(known: {list(EXPRESSIONS)}); got {str(outputs)[:120]}")
    cfg["phone_inputs"], cfg["outputs"] = list(phones), list(outputs)
    want = len(SPEECH_INPUTS) + len(EMOTION_INPUTS) + len(phones) + int(cfg["embedding_dim"])
    if not _is_int(cfg["in_dim"]) or cfg["in_dim"] != want:
        raise A2MModelError(f"{where}: in_dim is {cfg['in_dim']!r} but the inputs are {len(SPEECH_INPUTS)} speech + "
                            f"{len(EMOTION_INPUTS)} emotion + {len(phones)} phone + {cfg['embedding_dim']} "
                            f"embedding values = {want}")
    for key in ("input_mean", "input_std"):
        v = cfg[key]
        if not isinstance(v, (list, tuple)) or len(v) != want or \
                any(not _is_real(x) for x in v):
            raise A2MModelError(f"{where}: {key} must be a list of {want} finite numbers (one per input), got "
                                f"{str(v)[:80]}")
    if any(x < 0 for x in cfg["input_std"]):
        raise A2MModelError(f"{where}: input_std must not be negative")
    return cfg


def _check_weights(net, state: Dict[str, Any], path: str) -> None:
    """Compare the file's tensors with the network the config describes; name every mismatch."""
    want = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    got = {k: tuple(getattr(v, "shape", ())) for k, v in state.items()}
    missing = [k for k in want if k not in got]               # in the network's order
    unexpected = [k for k in got if k not in want]
    wrong = [k for k in want if k in got and want[k] != got[k]]
    if not (missing or unexpected or wrong):
        return

    def some(names, fmt, n=12):
        return ", ".join(fmt(k) for k in names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")
    parts = []
    if wrong:
        parts.append(f"{len(wrong)} of another shape: " +
                     some(wrong, lambda k: f"{k}: file {list(got[k])}, config {list(want[k])}"))
    if missing:
        parts.append(f"{len(missing)} missing from the file: " + some(missing, lambda k: f"{k} {list(want[k])}"))
    if unexpected:
        parts.append(f"{len(unexpected)} not in the config's network: " +
                     some(unexpected, lambda k: f"{k} {list(got[k])}"))
    raise A2MModelError(f"the weights in {path} do not fit its config.json ({'; '.join(parts)}); the config and "
                        f"the weights must come from the same training run")


# ------------------------------------------------------------------------------ the generator

class NeuralA2M:
    """A loaded neural A2M model: ``NeuralA2M.load(name)`` then :meth:`generate`."""

    def __init__(self, config: Dict[str, Any], net=None, path: str = ""):
        self.config = _check_config(dict(config), "A2M config")
        self.net = net if net is not None else build_net(self.config)
        self.net.eval()
        self.path = path
        self.name = os.path.basename(os.path.normpath(path)) if path else "unsaved"

    # ---- files
    @classmethod
    def load(cls, name_or_path: str, search_dirs: Optional[Sequence[str]] = None, device=None) -> "NeuralA2M":
        """Load ``config.json`` + ``model.safetensors`` from a folder under ``models/synchrorama/a2m/``."""
        path = resolve_model("a2m", name_or_path, search_dirs, must_contain=(CONFIG_FILE, WEIGHTS_FILE))
        if not os.path.isdir(path):
            raise ModelNotFoundError(f"an A2M model is a folder with {CONFIG_FILE} and {WEIGHTS_FILE}; "
                                     f"{path} is a file")
        cfg_path = os.path.join(path, CONFIG_FILE)
        try:
            with open(cfg_path, "r", encoding="utf-8") as f:
                cfg = json.load(f)
        except (OSError, ValueError) as e:
            raise A2MModelError(f"cannot read {cfg_path}: {e}") from e
        cfg = _check_config(cfg, cfg_path)
        from safetensors.torch import load_file
        try:
            state = load_file(os.path.join(path, WEIGHTS_FILE), device="cpu")
        except Exception as e:
            raise A2MModelError(f"cannot read {os.path.join(path, WEIGHTS_FILE)} as safetensors: {e}") from e
        net = build_net(cfg)
        _check_weights(net, state, path)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as e:  # pragma: no cover - _check_weights compares names and shapes first
            raise A2MModelError(f"the weights in {path} do not fit its config.json: {' '.join(str(e).split())}") from e
        model = cls(cfg, net, path)
        if device is not None:
            model.to(device)
        return model

    def save(self, folder: str) -> str:
        """Write ``config.json`` and ``model.safetensors`` into ``folder`` (created).  Both are written
        under temporary names and renamed when both are complete: a failure (a full disk) raises
        :class:`~synchrorama_core.errors.OutputError`, leaves no partial file and an earlier model in
        ``folder`` as it was."""
        from safetensors.torch import save_file
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        with replacing(os.path.join(folder, WEIGHTS_FILE), os.path.join(folder, CONFIG_FILE)) as (weights, config):
            save_file(state, weights, metadata={"format": "pt", "kind": "synchrorama-a2m"})
            with open(config, "w", encoding="utf-8") as f:
                json.dump(self.config, f, indent=1, allow_nan=False)
        self.path = folder
        self.name = os.path.basename(os.path.normpath(folder))
        return folder

    def to(self, device):
        self.net.to(device)
        return self

    @property
    def device(self):
        return next(self.net.parameters()).device

    @property
    def outputs(self) -> List[str]:
        """The names of the network's output channels (pose, then the expressions it predicts)."""
        return list(self.config["outputs"])

    @property
    def uses_phones(self) -> bool:
        """Whether the model takes the phone track (format 2); format-1 models do not."""
        return bool(self.config.get("phone_inputs"))

    # ---- inference
    def inputs(self, speech: SpeechData, emotion: Optional[EmotionData] = None,
               phones: Optional[PhoneTrack] = None) -> np.ndarray:
        """Normalised network inputs ``[n_model_frames, in_dim]`` at the model's fps.  ``phones``: the
        speech's :class:`~synchrorama_core.types.PhoneTrack`, needed when :attr:`uses_phones`."""
        if not isinstance(speech, SpeechData):
            raise InvalidDataError(f"expected an SR_SPEECH value, got {type(speech).__name__}")
        parts = [speech_inputs(speech), emotion_inputs(emotion, speech)]
        if self.uses_phones:
            track = check_track(phones, speech)
            if track is None:
                raise InvalidDataError(f"A2M model {self.name} takes the speech's phone track: pass phones="
                                       f"synchrorama_core.audio.phones.speech_phones(speech, 'auto', transcript) "
                                       f"(in ComfyUI: set the A2M node's phones to auto, pocketsphinx or acoustic)")
            parts.append(phone_features(track))
        d = int(self.config["embedding_dim"])
        if d:
            emb = speech.embeddings
            if emb is None or emb.shape[1] != d:
                got = "none" if emb is None else f"size {emb.shape[1]} ({speech.embedding_model or 'unnamed'})"
                raise InvalidDataError(
                    f"A2M model {self.name} was trained with {d}-dim audio-encoder embeddings "
                    f"({self.config.get('embedding_model') or 'unnamed encoder'}) but the SR_SPEECH has {got}; "
                    f"add the same encoder's embeddings to the speech, or use a model trained without them")
            parts.append(np.asarray(emb, np.float32))
        x = np.concatenate(parts, axis=1)
        fps_m = float(self.config["fps"])
        if abs(fps_m - speech.fps) > 1e-6:
            x = sig.resample_rows(x, speech.fps, int(round(speech.duration_s * fps_m)), fps_m)
        mean = np.asarray(self.config["input_mean"], np.float32)
        std = np.maximum(np.asarray(self.config["input_std"], np.float32), 1e-4)
        return (x - mean) / std

    def run(self, x: np.ndarray, window: int = 2048, progress: Optional[ProgressFn] = None,
            cancelled: Optional[CancelFn] = None) -> np.ndarray:
        """Network outputs ``[T, len(outputs)]`` for normalised inputs ``[T, in_dim]``, in overlapping windows."""
        torch = _torch()
        T = len(x)
        out = np.zeros((T, len(self.outputs)), np.float32)
        if T == 0:
            return out
        ctx = receptive_field(self.config) // 2 + 1
        window = max(int(window), 1)
        starts = list(range(0, T, window))
        steps = Steps(len(starts), progress, cancelled, what="neural A2M")
        steps.check()
        dev = self.device
        with torch.inference_mode():
            for a in starts:
                b = min(a + window, T)
                lo, hi = max(0, a - ctx), min(T, b + ctx)
                xt = torch.from_numpy(np.ascontiguousarray(x[lo:hi], np.float32))[None].to(dev)
                y = self.net(xt)[0].float().cpu().numpy()
                out[a:b] = y[a - lo:b - lo]
                steps.tick()
        return out

    def predict(self, speech: SpeechData, emotion: Optional[EmotionData] = None, window: int = 2048,
                progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None,
                phones: Optional[PhoneTrack] = None) -> np.ndarray:
        """Network-space outputs ``[speech.n_frames, len(outputs)]`` (resampled to the speech fps if needed)."""
        y = self.run(self.inputs(speech, emotion, phones), window, progress, cancelled)
        fps_m = float(self.config["fps"])
        if abs(fps_m - speech.fps) > 1e-6:
            y = sig.resample_rows(y, fps_m, speech.n_frames, speech.fps)
        return y

    def generate(self, speech: SpeechData, emotion: Optional[EmotionData] = None,
                 scene: Optional[SceneData] = None, config=None, procedural_blinks: bool = True,
                 progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None,
                 phones: Optional[PhoneTrack] = None, **controls) -> MotionData:
        """``SR_MOTION`` for ``speech``: the model's motion with the creator controls applied.

        Controls (:class:`~.procedural.ProceduralConfig`): ``head_scale`` scales rotation,
        translation and the scale's deviation; ``lip_scale`` the mouth channels;
        ``expression_scale`` the other expressions; ``lead_frames`` shifts the mouth channels
        earlier by that many frames *on top of* the timing the model learned (0 = as trained);
        ``blink_rate`` and ``seed`` drive the procedural blinks (when ``procedural_blinks``).
        ``phones``: the speech's phone track, which a format-2 model takes as input (ignored by a
        format-1 model).
        """
        from .gestures import scene_gestures
        from .procedural import ProceduralConfig, blink_curve, blink_times
        cfg = ProceduralConfig.make(config, **controls)
        if scene is not None and not isinstance(scene, SceneData):
            raise InvalidDataError(f"expected an SR_SCENE value, got {type(scene).__name__}")
        track = phones if self.uses_phones else None
        y = self.predict(speech, emotion, progress=progress, cancelled=cancelled, phones=track)
        a = outputs_to_arrays(y, self.outputs)
        n, fps = speech.n_frames, speech.fps
        X = {k: i for i, k in enumerate(EXPRESSIONS)}
        ex = a["expressions"]
        for k in EXPRESSIONS:
            col = ex[:, X[k]]
            if k in MOUTH:
                col = sig.shift(col, cfg.lead_frames) * cfg.lip_scale
            elif k not in ("blink_l", "blink_r"):
                col = col * cfg.expression_scale
            ex[:, X[k]] = col
        rng = np.random.default_rng(cfg.seed)
        g = scene_gestures(scene, n, fps, rng, cfg.head_scale, cfg.expression_scale)
        rot = a["rotation"] * cfg.head_scale + g.rotation
        trans = a["translation"] * cfg.head_scale
        scale = 1.0 + (a["scale"] - 1.0) * cfg.head_scale
        ex = ex + g.expressions
        n_blinks = None
        if procedural_blinks:
            vad = speech.features["vad"] > 0.5
            busy = np.clip(sig.smooth(vad.astype(np.float32), 0.5 * fps) * speech.features["loudness"], 0, 1)
            pauses = [a_ / fps for a_, b_ in sig.segments(~vad) if (b_ - a_) / fps >= 0.25 and a_ > 0]
            times = blink_times(speech.duration_s, fps, cfg.blink_rate, busy, pauses, rng)
            times = sorted(times + [t for t in g.blink_times_s if all(abs(t - u) > 0.4 for u in times)])
            bl = blink_curve(n, fps, times)
            ex[:, X["blink_l"]] = bl
            ex[:, X["blink_r"]] = bl
            n_blinks = len(times)
        meta = {"model": self.name, "model_path": self.path, "config": cfg.as_dict(),
                "procedural_blinks": bool(procedural_blinks), "blinks": n_blinks, "gestures": g.applied,
                "ignored_actions": g.ignored, "source": speech.source,
                "phones": track_meta(track) if self.uses_phones else
                {"backend": "none", "note": f"model {self.name} does not take the phone track (format 1)"},
                "emotion": "connected" if emotion is not None else "neutral (none connected)"}
        return MotionData(fps=fps, duration_s=speech.duration_s, rotation=np.clip(rot, -89, 89),
                          translation=trans, scale=np.maximum(scale, 1e-3),
                          expressions={k: np.clip(ex[:, i], 0, 1) for i, k in enumerate(EXPRESSIONS)},
                          generator=f"neural:{self.name}", meta=meta)


def load_a2m(name_or_path: str, search_dirs: Optional[Sequence[str]] = None, device=None) -> NeuralA2M:
    """Shorthand for :meth:`NeuralA2M.load`."""
    return NeuralA2M.load(name_or_path, search_dirs, device)


def list_a2m_models(search_dirs: Optional[Sequence[str]] = None) -> List[str]:
    """Names of the A2M model folders (those with a config.json)."""
    return list_models(search_dirs or default_dirs("a2m"), folder_markers=(CONFIG_FILE,))


def n_parameters(model: NeuralA2M) -> int:
    return int(sum(p.numel() for p in model.net.parameters()))


__all__ = ["A2MModelError", "NeuralA2M", "OUTPUTS", "PHONE_INPUTS", "build_net", "default_config", "emotion_inputs",
           "list_a2m_models", "load_a2m", "motion_targets", "n_parameters", "outputs_to_arrays", "receptive_field",
           "speech_inputs"]
