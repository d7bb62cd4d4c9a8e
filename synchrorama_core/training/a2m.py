"""Train a neural A2M model from talking-face videos with audio.

::

    python -m synchrorama_core.training.a2m --videos DIR --out DIR [--name NAME] [--steps 3000]
        [--fps 25] [--batch 16] [--window 128] [--lr 1e-3] [--channels 128] [--dilations 1,2,4,8,1,2,4,8]
        [--emotion-intensity 0.7] [--phones auto|pocketsphinx|acoustic|off]
        [--mouth-targets phones|video|blend] [--cache DIR] [--init MODEL] [--device cpu|cuda] [--seed 0]

For every video in ``--videos`` (recursively: mp4, mov, mkv, webm, avi, m4v):

1. the audio track becomes ``SR_SPEECH`` (the audio stage's own decoder and features) at ``--fps``;
2. the frames are decoded with PyAV and the face is tracked frame by frame with the face
   stage's tracker (MediaPipe 478-point mesh); frame ``i`` of the motion takes the video frame
   shown at its centre time ``(i + 0.5) / fps``;
3. landmarks become motion coefficients with :func:`.extract.motion_from_landmarks` (the
   inverse of the landmark model the renderer uses): head pose by a rigid fit, expressions
   by a box-constrained fit of the rig's expression fields; frames without a face are masked;
4. emotion labels: ``<video>.emotion.json`` (a saved ``SR_EMOTION``) if present; else an
   emotion name in the path (MEAD-style folders ``happy/``, ``angry/``, ... with ``level_1..3``
   giving the intensity) as a constant label; else neutral;
5. the phone track of the audio (``--phones``, default ``auto``: pocketsphinx aligned to the
   transcript in ``<video>.txt`` when there is one, free phone recognition otherwise, acoustic
   cues when it is not English) becomes 15 more inputs per frame (viseme class one-hot and lip
   targets): the network gets what the audio features cannot give it (an m from an n).
   ``--phones off`` trains without them (a format-1-style input layout);
6. the mouth channels' targets (``--mouth-targets``, :func:`with_mouth_targets`): ``phones``
   (the default) takes them from the procedural viseme rules on the phone track
   (:func:`rule_mouth`: closures with a lip press on m/b/p, ``lip_tuck`` on f/v, rounding,
   spreading, jaw by vowel height and loudness), so a trained model learns the rules and can
   replace them; ``video`` from the expression fit of step 3; ``blend`` their mean.  Head pose,
   blinks, brows and the other expressions always come from the video.  Why ``phones`` is the
   default: the fit recovers the jaw but hardly the lip shapes, even on the rig's own rendering
   (``bench/bench_a2m_targets.py``; docs/motion.md).

The extracted pairs are cached (``--cache``, default ``<out>/cache``; both mouth sources, so
``--mouth-targets`` can change without extracting again) so later runs skip extraction.
Training samples random windows, minimises a masked, channel-weighted squared error, and
writes ``<out>/<name>/config.json`` + ``model.safetensors`` + ``training.json``; copy that
folder into ``ComfyUI/models/synchrorama/a2m/`` to use it.  The last 10 % of every clip is held
out and its loss is reported before and after training.

The output (and the cache) folder is checked before any work; files are written under
temporary names and renamed when complete (:mod:`..outputs`), so a full disk leaves no partial
model and an earlier one intact.  Bad input, an output that cannot be written or a file that
cannot be read is one ``error:`` line and exit code 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import sys
import time
import zipfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..audio import load_speech
from ..errors import AudioError, InvalidDataError, SynchroRaMaError, one_line
from ..face import FaceTracker
from ..motion import generate_procedural
from ..motion.adjust import MOUTH
from ..motion.extract import motion_from_landmarks
from ..motion.neural import (CONFIG_FILE, EMOTION_INPUTS, OUTPUTS, PHONE_INPUTS, SPEECH_INPUTS, WEIGHTS_FILE, NeuralA2M,
                             default_config, emotion_inputs, motion_targets, speech_inputs)
from ..audio.phones import PHONE_MODES, speech_phones
from ..motion.visemes import check_track, phone_features
from ..outputs import check_writable, replacing
from ..progress import CancelFn, ProgressFn, Steps
from ..types import EXPRESSIONS, EmotionData, MotionData, PhoneTrack, SpeechData
from .data import clip_emotion, find_videos, frames_at

log = logging.getLogger("synchrorama.training.a2m")

#: loss weight of each output channel (pose in its output units; mouth shapes matter most for sync)
CHANNEL_WEIGHTS = np.array([1.0, 1.0, 1.0, 0.5, 0.5, 0.5] +
                           [4.0 if k in MOUTH else 2.0
                            for k in EXPRESSIONS], np.float32)
#: where the mouth channels' targets (:data:`~..motion.adjust.MOUTH`) come from: the expression fit
#: of the video's face, the viseme rules on the phone track (:func:`rule_mouth`), or their mean
MOUTH_TARGETS = ("video", "phones", "blend")
DEFAULT_MOUTH_TARGETS = "phones"
TRAINING_FILE = "training.json"
_MOUTH_COLS = [OUTPUTS.index(k) for k in MOUTH]

@dataclass
class Pair:
    """One training clip: raw inputs ``x [n, in_dim]``, targets ``y [n, len(OUTPUTS)]``, ``mask [n]``;
    ``rules [n, len(MOUTH)]``: the viseme rules' mouth channels (:func:`rule_mouth`; ``None`` without a
    phone track); ``mouth_targets``: where ``y``'s mouth columns come from (:data:`MOUTH_TARGETS`)."""
    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    fps: float
    source: str = ""
    embedding_dim: int = 0
    phone_dim: int = 0
    rules: Optional[np.ndarray] = None
    mouth_targets: str = "video"


def rule_mouth(speech: SpeechData, track: PhoneTrack, emotion: Optional[EmotionData] = None) -> np.ndarray:
    """``[n, len(MOUTH)]``: the mouth channels the procedural generator makes from ``speech``, its phone
    ``track`` and ``emotion`` (visemes on the phone track plus the emotion's mouth), without the visual
    lead (the neural generator adds ``lead_frames`` on top of what it learned) and at scale 1."""
    m = generate_procedural(speech, emotion, phones=check_track(track, speech), lead_frames=0.0)
    return np.stack([m.expressions[k] for k in MOUTH], 1).astype(np.float32)


def with_mouth_targets(pair: Pair, mode: str) -> Pair:
    """``pair`` with its mouth columns taken from the video fit (``video``, as extracted), the viseme
    rules (``phones``) or their mean (``blend``); head pose, blinks, brows and the rest stay the video's."""
    if mode not in MOUTH_TARGETS:
        raise InvalidDataError(f"unknown mouth targets {mode!r}; choose one of {list(MOUTH_TARGETS)}")
    if mode == pair.mouth_targets:
        return pair
    if pair.mouth_targets != "video":
        raise InvalidDataError(f"{pair.source}: its mouth targets are already {pair.mouth_targets!r}")
    if pair.rules is None:
        raise InvalidDataError(f"{os.path.basename(pair.source) or 'a training pair'}: mouth targets {mode!r} come "
                               f"from the phone track, but it was made without one (phones 'off')")
    y = pair.y.copy()
    y[:, _MOUTH_COLS] = pair.rules if mode == "phones" else 0.5 * (y[:, _MOUTH_COLS] + pair.rules)
    return dataclasses.replace(pair, y=y, mouth_targets=mode)


def pair_from_motion(speech: SpeechData, motion: MotionData, emotion: Optional[EmotionData] = None,
                     valid: Optional[np.ndarray] = None, source: str = "", use_embeddings: bool = False,
                     phones="auto", transcript: str = "", mouth_targets: str = "video") -> Pair:
    """A training pair from aligned speech and motion (e.g. extracted from a video).  ``phones``: a
    phone backend (``auto``, ``pocketsphinx``, ``acoustic``; ``off`` = no phone inputs) or a ready
    :class:`~synchrorama_core.types.PhoneTrack` of the speech; ``transcript`` is aligned when given.
    ``mouth_targets``: see :func:`with_mouth_targets` (``motion``'s own mouth by default)."""
    if motion.n_frames != speech.n_frames or abs(motion.fps - speech.fps) > 1e-6:
        raise InvalidDataError(f"motion ({motion.n_frames} frames @ {motion.fps}) and speech "
                               f"({speech.n_frames} @ {speech.fps}) are not aligned")
    parts = [speech_inputs(speech), emotion_inputs(emotion, speech)]
    track = check_track(phones, speech) if isinstance(phones, PhoneTrack) else \
        speech_phones(speech, phones, transcript)
    if track is not None:
        parts.append(phone_features(track))
    d = 0
    if use_embeddings:
        if speech.embeddings is None:
            raise InvalidDataError("use_embeddings=True but the SR_SPEECH has no embeddings")
        parts.append(np.asarray(speech.embeddings, np.float32))
        d = speech.embeddings.shape[1]
    mask = np.ones(speech.n_frames, bool) if valid is None else np.asarray(valid, bool)
    pair = Pair(np.concatenate(parts, axis=1), motion_targets(motion), mask, speech.fps, source or speech.source, d,
                0 if track is None else len(PHONE_INPUTS), None if track is None else rule_mouth(speech, track, emotion))
    return with_mouth_targets(pair, mouth_targets)


# ------------------------------------------------------------------------------ videos

def emotion_label(path: str, speech: SpeechData, intensity: float = 0.7) -> Optional[EmotionData]:
    """The emotion of a training video (:func:`..training.data.clip_emotion`) on the speech's frames."""
    return clip_emotion(path, speech.n_frames, speech.fps, speech.duration_s, intensity)


def video_landmarks(path: str, fps: float, n: int, tracker=None, max_side: int = 720,
                    cancelled: Optional[CancelFn] = None) -> List[Optional[np.ndarray]]:
    """Tracked landmarks for frames ``0..n-1`` at ``fps`` (the video frame shown at each frame's centre;
    see :func:`..training.data.frames_at`), in the scale of frames downscaled to ``max_side``
    (motion coefficients do not depend on it); ``None`` where no face is found."""
    tracker = tracker if tracker is not None else FaceTracker()
    out: List[Optional[np.ndarray]] = [None] * n
    for idx, rgb in frames_at(path, fps, n, max_side=max_side, cancelled=cancelled):
        lm = tracker(rgb)
        for i in idx:
            out[i] = lm
    return out


def video_transcript(path: str) -> str:
    """The transcript beside a training video (``<video>.txt``), or ``""``."""
    side = os.path.splitext(path)[0] + ".txt"
    if not os.path.isfile(side):
        return ""
    with open(side, "r", encoding="utf-8", errors="replace") as f:
        return f.read().strip()


def pair_from_video(path: str, fps: float = 25.0, emotion_intensity: float = 0.7, tracker=None,
                    cancelled: Optional[CancelFn] = None, phones: str = "auto", mouth_targets: str = "video") -> Pair:
    """Extract one training pair from a talking-face video with audio (and ``<video>.txt``, its
    transcript, when there is one); ``mouth_targets`` as :func:`with_mouth_targets`."""
    try:
        speech = load_speech(path, fps)
    except AudioError as e:
        raise InvalidDataError(f"{os.path.basename(path)}: no usable audio track ({e})") from e
    lms = video_landmarks(path, fps, speech.n_frames, tracker=tracker, cancelled=cancelled)
    motion, valid = motion_from_landmarks(lms, fps, speech.duration_s, generator="video")
    return pair_from_motion(speech, motion, emotion_label(path, speech, emotion_intensity), valid, path,
                            phones=phones, transcript=video_transcript(path), mouth_targets=mouth_targets)


def _cache_key(path: str, fps: float, intensity: float, phones: str = "auto") -> str:
    st = os.stat(path)
    stem = os.path.splitext(path)[0]
    side_m = [os.stat(p).st_mtime_ns if os.path.isfile(p) else 0 for p in (stem + ".emotion.json", stem + ".txt")]
    raw = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{fps}|{intensity}|{side_m}|{phones}|v2"
    return hashlib.sha1(raw.encode()).hexdigest()[:20]


def _read_cache(path: str, source: str) -> Optional[Pair]:
    """The pair cached in ``path`` (video targets and the rules' mouth), or ``None`` when it cannot be
    read (then the video is extracted again and the cache rewritten)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            rules = z["rules"] if "rules" in z.files else np.zeros((0, len(MOUTH)), np.float32)
            pair = Pair(z["x"], z["y"], z["mask"], float(z["fps"]), source, phone_dim=int(z["phone_dim"]),
                        rules=rules if len(rules) else None)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        log.warning("cannot read the cached targets %s (%s); extracting them again", path, one_line(e))
        return None
    if pair.phone_dim and pair.rules is None:   # cached before the rules were: extract again
        return None
    return pair


def collect_pairs(videos: str, fps: float = 25.0, cache_dir: Optional[str] = None, emotion_intensity: float = 0.7,
                  progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None,
                  say: Callable[[str], None] = print, phones: str = "auto",
                  mouth_targets: str = DEFAULT_MOUTH_TARGETS) -> List[Pair]:
    """Training pairs of every video in ``videos`` (cached as ``.npz`` in ``cache_dir``), their mouth
    targets from ``mouth_targets`` (:func:`with_mouth_targets`; the cache holds both sources)."""
    if phones not in PHONE_MODES:
        raise InvalidDataError(f"unknown phone backend {phones!r}; choose one of {list(PHONE_MODES)}")
    if mouth_targets not in MOUTH_TARGETS:
        raise InvalidDataError(f"unknown mouth targets {mouth_targets!r}; choose one of {list(MOUTH_TARGETS)}")
    if mouth_targets != "video" and phones == "off":
        raise InvalidDataError(f"mouth targets {mouth_targets!r} come from the phone track; phones 'off' makes "
                               f"none (choose another phone backend, or mouth targets 'video')")
    paths = find_videos(videos)
    steps = Steps(len(paths), progress, cancelled, what="training-target extraction")
    pairs, skipped = [], []
    tracker = None
    for p in paths:
        key = _cache_key(p, fps, emotion_intensity, phones)
        cached = os.path.join(cache_dir, key + ".npz") if cache_dir else None
        pair = _read_cache(cached, p) if cached and os.path.isfile(cached) else None
        if pair is not None:
            pairs.append(with_mouth_targets(pair, mouth_targets))
            say(f"  {os.path.basename(p)}: {len(pair.y)} frames (cached)")
        else:
            try:
                t = time.time()
                tracker = tracker or FaceTracker()
                tracker.reset()
                pair = pair_from_video(p, fps, emotion_intensity, tracker, cancelled, phones)
            except (InvalidDataError, AudioError) as e:
                skipped.append(f"{os.path.basename(p)}: {e}")
                say(f"  skipped {skipped[-1]}")
                steps.tick()
                continue
            pairs.append(with_mouth_targets(pair, mouth_targets))
            say(f"  {os.path.basename(p)}: {len(pair.y)} frames, face in {int(pair.mask.sum())} "
                f"({time.time() - t:.1f} s)")
            if cached:
                rules = pair.rules if pair.rules is not None else np.zeros((0, len(MOUTH)), np.float32)
                with replacing(cached) as (tmp,):
                    np.savez(tmp, x=pair.x, y=pair.y, mask=pair.mask, fps=pair.fps, phone_dim=pair.phone_dim,
                             rules=rules)
        steps.tick()
    if not pairs:
        raise InvalidDataError("no usable training videos: " + "; ".join(skipped))
    return pairs


# ------------------------------------------------------------------------------ training

def _split(pairs: Sequence[Pair], val_fraction: float):
    train, val = [], []
    for p in pairs:
        n = len(p.y)
        k = int(round(n * val_fraction)) if val_fraction > 0 and n >= 20 else 0
        train.append(dataclasses.replace(p, x=p.x[:n - k], y=p.y[:n - k], mask=p.mask[:n - k]))
        if k:
            val.append(dataclasses.replace(p, x=p.x[n - k:], y=p.y[n - k:], mask=p.mask[n - k:]))
    return [p for p in train if p.mask.any()], [p for p in val if p.mask.any()]


def evaluate(model: NeuralA2M, pairs: Sequence[Pair]) -> float:
    """Masked, channel-weighted mean squared error of ``model`` on ``pairs`` (whole clips)."""
    mean = np.asarray(model.config["input_mean"], np.float32)
    std = np.maximum(np.asarray(model.config["input_std"], np.float32), 1e-4)
    cols = _columns(model)
    w = CHANNEL_WEIGHTS[cols]
    num, den = 0.0, 0.0
    for p in pairs:
        pred = model.run((p.x - mean) / std)
        err = ((pred - p.y[:, cols]) ** 2 * w).sum(1)
        num += float(err[p.mask].sum())
        den += float(p.mask.sum()) * float(w.sum())
    return num / max(den, 1e-9)


def _columns(model: NeuralA2M) -> List[int]:
    """The target columns (of :data:`OUTPUTS`) a model predicts, in its output order (a format-1 model
    being fine-tuned has no ``lip_tuck``)."""
    return [OUTPUTS.index(k) for k in model.outputs]


def train_a2m(pairs: Sequence[Pair], out_dir: Optional[str] = None, name: str = "a2m", steps: int = 3000,
              batch: int = 16, window: int = 128, lr: float = 1e-3, channels: int = 128, kernel: int = 5,
              dilations: Sequence[int] = (1, 2, 4, 8, 1, 2, 4, 8), dropout: float = 0.1, val_fraction: float = 0.1,
              seed: int = 0, device: str = "cpu", init: Optional[NeuralA2M] = None,
              say: Callable[[str], None] = print, progress: Optional[ProgressFn] = None,
              cancelled: Optional[CancelFn] = None) -> Dict:
    """Train (or fine-tune ``init``) on ``pairs``; save to ``out_dir/name`` if ``out_dir`` is given.

    Returns ``{"model", "path", "train_loss_first", "train_loss_last", "val_before", "val_after",
    "steps"}``.
    """
    import torch

    if not pairs:
        raise InvalidDataError("no training pairs")
    fps = {round(p.fps, 6) for p in pairs}
    dims = {p.x.shape[1] for p in pairs}
    phone_dims = {p.phone_dim for p in pairs}
    if len(fps) != 1 or len(dims) != 1 or len(phone_dims) != 1:
        raise InvalidDataError(f"all training pairs need the same fps and input size, got fps {sorted(fps)}, "
                               f"inputs {sorted(dims)}, phone inputs {sorted(phone_dims)}")
    phone_dim = next(iter(phone_dims))
    emb = next(iter(dims)) - len(SPEECH_INPUTS) - len(EMOTION_INPUTS) - phone_dim
    train, val = _split(pairs, val_fraction)
    if not train:
        raise InvalidDataError("no training frames with a face")
    torch.manual_seed(int(seed))
    rng = np.random.default_rng(int(seed))
    xs = np.concatenate([p.x[p.mask] for p in train])
    if init is not None:
        model = init
        if int(model.config["in_dim"]) != xs.shape[1]:
            raise InvalidDataError(f"the model to fine-tune takes {model.config['in_dim']} inputs, the data has "
                                   f"{xs.shape[1]}")
    else:
        cfg = default_config(embedding_dim=emb, channels=channels, kernel=kernel, dilations=dilations,
                             fps=float(next(iter(fps))), dropout=dropout, phone_inputs=bool(phone_dim))
        cfg["input_mean"] = xs.mean(0).astype(float).tolist()
        cfg["input_std"] = np.maximum(xs.std(0), 1e-3).astype(float).tolist()
        model = NeuralA2M(cfg)
    model.to(device)
    val_before = evaluate(model, val) if val else None
    mean = np.asarray(model.config["input_mean"], np.float32)
    std = np.maximum(np.asarray(model.config["input_std"], np.float32), 1e-4)
    cols = _columns(model)
    data = [((p.x - mean) / std, p.y[:, cols], p.mask.astype(np.float32)) for p in train]
    lengths = np.array([len(d[1]) for d in data], np.float64)
    probs = lengths / lengths.sum()
    w_ch = torch.from_numpy(CHANNEL_WEIGHTS[cols]).to(device)
    opt = torch.optim.AdamW(model.net.parameters(), lr=lr, weight_decay=1e-4)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * (0.5 * (1 + np.cos(np.pi * min(s, steps) / max(steps, 1)))))
    st = Steps(steps, progress, cancelled, what="A2M training")
    first = last = None
    every = max(1, steps // 20)
    model.net.train()
    for step in range(steps):
        xb = np.zeros((batch, window, data[0][0].shape[1]), np.float32)
        yb = np.zeros((batch, window, len(cols)), np.float32)
        mb = np.zeros((batch, window), np.float32)
        for b in range(batch):
            x, y, m = data[rng.choice(len(data), p=probs)]
            a = int(rng.integers(0, max(len(y) - window, 0) + 1))
            k = min(window, len(y) - a)
            xb[b, :k], yb[b, :k], mb[b, :k] = x[a:a + k], y[a:a + k], m[a:a + k]
        xt, yt, mt = (torch.from_numpy(v).to(device) for v in (xb, yb, mb))
        pred = model.net(xt)
        err = ((pred - yt) ** 2 * w_ch).sum(-1)
        loss = (err * mt).sum() / (mt.sum().clamp(min=1.0) * w_ch.sum())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.net.parameters(), 1.0)
        opt.step()
        sched.step()
        lv = float(loss.detach())
        first = lv if first is None else first
        last = lv
        if (step + 1) % every == 0 or step == 0:
            say(f"  step {step + 1}/{steps}  loss {lv:.4f}")
        st.tick()
    model.net.eval()
    val_after = evaluate(model, val) if val else None
    if val:
        say(f"  held-out loss {val_before:.4f} -> {val_after:.4f}")
    model.config["training"] = {"steps": int(steps), "clips": len(pairs), "frames": int(sum(len(p.y) for p in pairs)),
                                "mouth_targets": "+".join(sorted({p.mouth_targets for p in pairs})),
                                "batch": int(batch), "window": int(window), "lr": float(lr), "seed": int(seed),
                                "val_loss_before": val_before, "val_loss_after": val_after,
                                "train_loss_last": last}
    path = None
    if out_dir:
        model.to("cpu")
        path = model.save(os.path.join(out_dir, name))
        say(f"saved {path}")
    return {"model": model, "path": path, "train_loss_first": first, "train_loss_last": last,
            "val_before": val_before, "val_after": val_after, "steps": steps}


# ------------------------------------------------------------------------------ CLI

def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m synchrorama_core.training.a2m",
                                 description="Train a SynchroRaMa neural A2M model from talking-face videos with audio.")
    ap.add_argument("--videos", required=True, help="folder of talking-face videos with audio (searched recursively)")
    ap.add_argument("--out", required=True, help="output folder; the model is written to OUT/NAME/")
    ap.add_argument("--name", default="a2m", help="model folder name (default: a2m)")
    ap.add_argument("--fps", type=float, default=25.0, help="motion frame rate (default 25)")
    ap.add_argument("--steps", type=int, default=3000, help="optimiser steps (default 3000)")
    ap.add_argument("--batch", type=int, default=16, help="windows per step (default 16)")
    ap.add_argument("--window", type=int, default=128, help="frames per training window (default 128)")
    ap.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (default 1e-3)")
    ap.add_argument("--channels", type=int, default=128, help="network width (default 128)")
    ap.add_argument("--kernel", type=int, default=5, help="odd temporal kernel size (default 5)")
    ap.add_argument("--dilations", default="1,2,4,8,1,2,4,8", help="comma-separated dilations, one per block (default 1,2,4,8,1,2,4,8)")
    ap.add_argument("--dropout", type=float, default=0.1, help="dropout in each block (default 0.1)")
    ap.add_argument("--val-fraction", type=float, default=0.1, help="tail of each clip held out (default 0.1)")
    ap.add_argument("--emotion-intensity", type=float, default=0.7,
                    help="intensity of emotion labels taken from folder names (default 0.7)")
    ap.add_argument("--phones", default="auto", choices=PHONE_MODES,
                    help="phone track of the audio as model input: auto (pocketsphinx for English, aligned to "
                         "<video>.txt when present; acoustic cues otherwise), pocketsphinx, acoustic, or off "
                         "(no phone inputs) (default auto)")
    ap.add_argument("--mouth-targets", default=DEFAULT_MOUTH_TARGETS, choices=MOUTH_TARGETS,
                    help="targets of the mouth channels (jaw_open, mouth_wide, mouth_pucker, mouth_press, lip_tuck): "
                         "phones (the procedural viseme rules on the phone track, so the model learns to replace "
                         "them), video (the expression fit of the tracked face) or blend (their mean); head pose, "
                         "blinks, brows and the rest always come from the video (default %(default)s)")
    ap.add_argument("--cache", default=None, help="cache folder for extracted targets (default OUT/cache)")
    ap.add_argument("--init", default=None, help="an existing A2M model (name or folder) to fine-tune")
    ap.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ... (default cpu)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line; bad input, an output that cannot be written or a full disk is one ``error:``
    line on stderr and exit code 2 (no traceback, no partial file)."""
    args = _parser().parse_args(argv)

    def say(msg: str) -> None:
        print(msg, flush=True)
    try:
        dil = [int(d) for d in str(args.dilations).split(",") if d.strip()]
        if not dil:
            raise InvalidDataError("--dilations needs at least one value")
        if args.mouth_targets != "video" and args.phones == "off":
            raise InvalidDataError(f"--mouth-targets {args.mouth_targets} comes from the phone track, which "
                                   f"--phones off turns off; choose a phone backend or --mouth-targets video")
        # what is written at the end must be writable before hours of extraction and training
        folder = os.path.join(args.out, args.name)
        cache = args.cache or os.path.join(args.out, "cache")
        check_writable([os.path.join(folder, f) for f in (WEIGHTS_FILE, CONFIG_FILE, TRAINING_FILE)],
                       what=f"{folder} (--out/--name)")
        check_writable([os.path.join(cache, "probe.npz")], what=f"{cache} (--cache)")
        init = NeuralA2M.load(args.init) if args.init else None
        say(f"extracting training targets from {args.videos} ...")
        pairs = collect_pairs(args.videos, args.fps, cache, args.emotion_intensity, say=say, phones=args.phones,
                              mouth_targets=args.mouth_targets)
        say(f"training on {len(pairs)} clips ({sum(len(p.y) for p in pairs)} frames, mouth targets "
            f"{args.mouth_targets}) ...")
        res = train_a2m(pairs, args.out, args.name, steps=args.steps, batch=args.batch, window=args.window,
                        lr=args.lr, channels=args.channels, kernel=args.kernel, dilations=dil,
                        dropout=args.dropout, val_fraction=args.val_fraction, seed=args.seed,
                        device=args.device, init=init, say=say)
        with replacing(os.path.join(res["path"], TRAINING_FILE)) as (tmp,):
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({k: v for k, v in res.items() if k != "model"}, f, indent=1)
    except (SynchroRaMaError, OSError) as e:   # OSError: a file that cannot be read, a full disk
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
