"""Diffusion video sampler (the diffusers backend of the video stage; see docs/diffusion.md).

An SD1.5-family UNet + VAE + CLIP text encoder (single-file checkpoint or diffusers folder) with
reference attention from the portrait(s), a face-landmark ControlNet fed with the A2M motion
frames, an optional AnimateDiff motion module, scene text + emotion phrases per segment, and the
optional trainable SynchroRaMa adapters (audio cross-attention, emotion projection).
"""
from .adapters import SRAdapters, emotion_condition, speech_condition
from .checkpoint import CheckpointFormatError
from .conditioning import DEFAULT_NEGATIVE, DEFAULT_PROMPT, frame_prompts
from .loader import DiffusionModels, LowVRAM, load_models
from .sampler import CONTEXT_FUSE, SCHEDULERS, SamplerSettings, generate_video, plan_windows

__all__ = ["CONTEXT_FUSE", "CheckpointFormatError", "DEFAULT_NEGATIVE", "DEFAULT_PROMPT", "DiffusionModels", "LowVRAM",
           "SCHEDULERS", "SRAdapters", "SamplerSettings", "emotion_condition", "frame_prompts",
           "generate_video", "load_models", "plan_windows", "speech_condition"]
