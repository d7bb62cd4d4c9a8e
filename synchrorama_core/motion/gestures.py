"""Scene actions (``SR_SCENE`` segment ``actions``) -> timed head gestures and expressions.

The scene describer writes actions from a small vocabulary ("nods", "shakes head",
"looks left", "looks right", "looks up", "looks down", "tilts head", "smiles",
"raises eyebrows", "frowns", "blinks"; :mod:`synchrorama_core.vocabulary.actions`).  Its
synonyms match too, so variants such as "nodding", "looks to the left" or "raises her
eyebrows" work; actions that match nothing are reported in the motion's ``meta["ignored_actions"]``.

Directions follow ``SR_MOTION``'s convention and the subject's own point of view: "looks left"
turns the face to the subject's left (yaw > 0, towards the image's right), "looks up" lifts the
chin (pitch < 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from ..types import EXPRESSIONS, SceneData
from ..vocabulary.actions import canonical_action
from . import _signal as sig

@dataclass
class GestureTracks:
    rotation: np.ndarray            # [n, 3] degrees to add
    expressions: np.ndarray         # [n, len(EXPRESSIONS)] to add
    blink_times_s: List[float]      # extra blinks
    applied: List[dict]
    ignored: List[str]


def scene_gestures(scene: Optional[SceneData], n: int, fps: float, rng: np.random.Generator,
                   head_scale: float = 1.0, expression_scale: float = 1.0) -> GestureTracks:
    """Head rotations and expression offsets for the actions of every scene segment."""
    rot = np.zeros((n, 3), np.float32)
    ex = np.zeros((n, len(EXPRESSIONS)), np.float32)
    blinks: List[float] = []
    applied: List[dict] = []
    ignored: List[str] = []
    if scene is None or n == 0:
        return GestureTracks(rot, ex, blinks, applied, ignored)
    t = (np.arange(n, dtype=np.float64) + 0.5) / fps
    X = {k: i for i, k in enumerate(EXPRESSIONS)}
    for seg in scene.segments:
        s0, s1 = float(seg.start_s), float(seg.end_s)
        if s0 >= n / fps:
            continue
        for action in seg.actions:
            g = canonical_action(action)
            if g is None:
                ignored.append(action)
                continue
            applied.append({"action": action, "gesture": g, "start_s": s0, "end_s": s1})
            dur = s1 - s0
            win = sig.ramp_window(n, fps, s0, s1, ramp_s=min(0.35, dur / 3))
            if g == "nods":
                # 2-3 nods of ~0.55 s each at the start of the segment, chin down first
                k = min(3, max(1, int(dur / 0.55)))
                e = s0 + k * 0.55
                phase = np.clip((t - s0) / 0.55, 0, k)
                env = sig.ramp_window(n, fps, s0, e, 0.15)
                rot[:, 1] += (7.0 * head_scale * env * np.sin(2 * math.pi * phase) ** 2).astype(np.float32)
            elif g == "shakes head":
                k = min(3, max(1, int(dur / 0.6)))
                e = s0 + k * 0.6
                phase = np.clip((t - s0) / 0.6, 0, k)
                env = sig.ramp_window(n, fps, s0, e, 0.15)
                rot[:, 0] += (9.0 * head_scale * env * np.sin(2 * math.pi * phase)).astype(np.float32)
            elif g == "looks left":
                rot[:, 0] += 16.0 * head_scale * win
            elif g == "looks right":
                rot[:, 0] -= 16.0 * head_scale * win
            elif g == "looks up":
                rot[:, 1] -= 10.0 * head_scale * win
            elif g == "looks down":
                rot[:, 1] += 11.0 * head_scale * win
            elif g == "tilts head":
                rot[:, 2] += float(rng.choice([-1.0, 1.0])) * 9.0 * head_scale * win
            elif g == "smiles":
                ex[:, X["smile"]] += 0.65 * expression_scale * win
                ex[:, X["eye_squint"]] += 0.2 * expression_scale * win
            elif g == "raises eyebrows":
                ex[:, X["brow_raise"]] += 0.75 * expression_scale * win
            elif g == "frowns":
                ex[:, X["brow_furrow"]] += 0.6 * expression_scale * win
                ex[:, X["frown"]] += 0.35 * expression_scale * win
            elif g == "blinks":
                blinks.append(s0 + min(0.15, dur / 4))
    return GestureTracks(rot, ex, blinks, applied, ignored)
