"""A2M stage: speech (+ emotion, scene) -> ``SR_MOTION``; motion -> landmarks -> motion frames.

Public API::

    generate_procedural(speech, emotion=None, scene=None, config=None, progress=None, cancelled=None,
                        **controls) -> MotionData                      # zero-download default
    ProceduralConfig(head_scale, expression_scale, lip_scale, blink_rate, lead_frames, seed)
    apply_motion(ref_landmarks [478, 3], motion, frames=None, *, head_scale=1.0,
                 expression_scale=1.0, rig=None) -> float32 [n, 478, 3]
    face_rig(ref_landmarks) -> FaceRig        # precomputed frame, pivot and expression basis
    render_motion_frames(landmarks [n, 478, 2|3], height, width, style="mediapipe",
                         thickness=None, progress=None, cancelled=None) -> uint8 [n, H, W, 3]
"""
from __future__ import annotations

from .draw import STYLES, draw_landmarks, render_motion_frames
from .landmarks import FaceRig, apply_motion, face_rig, landmarks_for
from .procedural import ProceduralConfig, generate_procedural

__all__ = ["STYLES", "FaceRig", "ProceduralConfig", "apply_motion", "draw_landmarks", "face_rig",
           "generate_procedural", "landmarks_for", "render_motion_frames"]
