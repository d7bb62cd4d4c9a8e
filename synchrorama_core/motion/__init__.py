"""A2M stage: speech (+ emotion, scene) -> ``SR_MOTION``; motion -> landmarks -> motion frames.

Public API::

    generate_procedural(speech, emotion=None, scene=None, config=None, progress=None, cancelled=None,
                        phones=None, **controls) -> MotionData         # zero-download default
    (phones: the speech's PhoneTrack, synchrorama_core.audio.phones.speech_phones; the lips follow
     its visemes, .visemes)
    ProceduralConfig(head_scale, expression_scale, lip_scale, blink_rate, lead_frames, seed)
    (motion -> landmarks: synchrorama_core.geometry.apply_motion / face_rig, shared with the renderer)
    render_motion_frames(landmarks [n, 478, 2|3], height, width, style="mediapipe",
                         thickness=None, progress=None, cancelled=None) -> uint8 [n, H, W, 3]
    motion_frames(face, motion, style, height=0, width=0, reference=0, out=None, ...)
                                              # SR_FACE + SR_MOTION -> frames, streamed
    adjust_motion(motion, head_scale, expression_scale, lip_scale, blink_scale, offsets...)
    blend_motion(a, b, weight, mismatch="error"|"resample", parts=...)
    resample_motion(motion, fps, duration_s); conform_motion(motion, fps, duration_s, mismatch)
    draw_motion_curves(motion) -> uint8 [H, W, 3]; summarize_motion(motion) -> str
    NeuralA2M.load(name, search_dirs).generate(speech, emotion, scene, **controls)   # .neural
"""
from __future__ import annotations

from .adjust import MISMATCH, adjust_motion, blend_motion, conform_motion, resample_motion
from .draw import STYLES, draw_control_frame, render_motion_frames
from .frames import fit_landmarks, motion_frames
from .plot import count_blinks, draw_motion_curves, summarize_motion
from .procedural import ProceduralConfig, generate_procedural

__all__ = ["MISMATCH", "STYLES", "ProceduralConfig", "adjust_motion", "blend_motion",
           "conform_motion", "count_blinks", "draw_control_frame", "draw_motion_curves", "fit_landmarks",
           "generate_procedural", "motion_frames", "render_motion_frames", "resample_motion",
           "summarize_motion"]
