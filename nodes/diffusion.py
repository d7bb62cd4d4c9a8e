"""Diffusion stage nodes: SynchroRaMa Load Diffusion Models, SynchroRaMa Video Sampler."""
from __future__ import annotations

import logging

from synchrorama_core.diffusion import (CONTEXT_FUSE, SCHEDULERS, LowVRAM, SamplerSettings, generate_video,
                                        load_models)
from synchrorama_core.models import list_models
from synchrorama_core.diffusion.conditioning import DEFAULT_NEGATIVE
from synchrorama_core.diffusion.sampler import MOTION_TRAINED_FRAMES

from . import comfy_adapter as comfy
from .values import SR_EMOTION, SR_FACE, SR_SCENE, SR_SPEECH, image_to_list, list_to_image

log = logging.getLogger("synchrorama")

CATEGORY = "SynchroRaMa/diffusion"
#: The loaded sampler models (synchrorama_core.diffusion.DiffusionModels).
SR_DIFFUSION_MODELS = "SR_DIFFUSION_MODELS"
NONE = "none"
_WEIGHT_EXTS = (".safetensors", ".ckpt", ".pt", ".pth")


def _choices(kind: str) -> list:
    """Files (via ComfyUI's lists) and diffusers folders of one of ComfyUI's model kinds."""
    files = set(comfy.list_model_files(kind, exts=_WEIGHT_EXTS))
    folders = set(list_models(comfy.model_dirs(kind)))
    return sorted(files | folders)


class SynchroRaMaLoadDiffusionModels:
    """Load an SD1.5-family checkpoint with an optional face ControlNet, AnimateDiff module and SynchroRaMa adapters."""

    _cache: dict = {}

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "checkpoint": (_choices("checkpoints"), {"tooltip": "SD1.5-family checkpoint (single file in "
                                                                   "models/checkpoints, or a diffusers folder there)"}),
                "controlnet": ([NONE] + _choices("controlnet"),
                               {"tooltip": "face-landmark ControlNet (models/controlnet) fed with the motion frames"}),
                "motion_module": ([NONE] + _choices("animatediff_models"),
                                  {"tooltip": "AnimateDiff motion module (models/animatediff_models) for temporal "
                                              "consistency; without it frames are sampled one by one with the same noise"}),
                "adapters": ([NONE] + comfy.list_model_files("adapters"),
                             {"tooltip": "trained SynchroRaMa audio/emotion adapters (models/synchrorama/adapters)"}),
                "dtype": (["auto", "fp16", "bf16", "fp32"], {"tooltip": "auto: fp16 on GPU, fp32 on CPU"}),
            },
            "optional": {
                "vae_slicing": ("BOOLEAN", {"default": False, "tooltip": "decode one frame at a time"}),
                "vae_tiling": ("BOOLEAN", {"default": False, "tooltip": "encode/decode large frames in tiles"}),
                "cpu_offload": ("BOOLEAN", {"default": False,
                                            "tooltip": "keep models in RAM, move each to the GPU only while it runs"}),
                "attention_slice": ("INT", {"default": 0, "min": 0, "max": 256,
                                            "tooltip": "run attention this many batch rows at a time (0 = all)"}),
            },
        }

    RETURN_TYPES = (SR_DIFFUSION_MODELS,)
    RETURN_NAMES = ("diffusion_models",)
    FUNCTION = "load"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Loads the diffusion video sampler's models from ComfyUI's model folders, offline: an SD1.5-family "
                   "UNet + VAE + CLIP text encoder, optionally a face-landmark ControlNet, an AnimateDiff motion "
                   "module and SynchroRaMa adapters.")

    def load(self, checkpoint, controlnet=NONE, motion_module=NONE, adapters=NONE, dtype="auto",
             vae_slicing=False, vae_tiling=False, cpu_offload=False, attention_slice=0):
        key = (checkpoint, controlnet, motion_module, adapters, dtype, vae_slicing, vae_tiling, cpu_offload,
               attention_slice)
        if key in self._cache:
            return (self._cache[key],)
        self._cache.clear()
        comfy.free_memory()
        models = load_models(
            checkpoint, controlnet=controlnet, motion_adapter=motion_module, adapters=adapters,
            checkpoint_dirs=comfy.model_dirs("checkpoints"), controlnet_dirs=comfy.model_dirs("controlnet"),
            motion_dirs=comfy.model_dirs("animatediff_models"), adapter_dirs=comfy.model_dirs("adapters"),
            device=comfy.torch_device(), dtype=dtype,
            low_vram=LowVRAM(vae_slicing=bool(vae_slicing), vae_tiling=bool(vae_tiling),
                             cpu_offload=bool(cpu_offload), attention_slice=int(attention_slice)))
        log.info("SynchroRaMa diffusion models: %s", models.describe())
        self._cache[key] = models
        return (models,)


class SynchroRaMaVideoSampler:
    """Generate the talking-face frames with the diffusion models, conditioned on everything upstream."""

    @classmethod
    def INPUT_TYPES(cls):
        f = lambda d, lo, hi, st, tip: ("FLOAT", {"default": d, "min": lo, "max": hi, "step": st, "tooltip": tip})  # noqa: E731
        return {
            "required": {
                "diffusion_models": (SR_DIFFUSION_MODELS,),
                "speech": (SR_SPEECH, {"tooltip": "sets the frame count and fps (and the audio condition)"}),
                "width": ("INT", {"default": 512, "min": 64, "max": 2048, "step": 64}),
                "height": ("INT", {"default": 512, "min": 64, "max": 2048, "step": 64}),
                "steps": ("INT", {"default": 25, "min": 1, "max": 200}),
                "cfg": f(7.0, 1.0, 30.0, 0.1, "classifier-free guidance scale (1 = off)"),
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF}),
                "scheduler": (list(SCHEDULERS), {"default": "ddim"}),
                "reference_strength": f(1.0, 0.0, 2.0, 0.05, "how strongly frames attend to the reference portrait(s)"),
                "control_strength": f(1.0, 0.0, 2.0, 0.05, "ControlNet strength of the motion frames"),
                "audio_strength": f(1.0, 0.0, 4.0, 0.05, "SynchroRaMa audio adapter strength"),
                "emotion_strength": f(1.0, 0.0, 4.0, 0.05, "SynchroRaMa emotion adapter strength"),
                "window": ("INT", {"default": MOTION_TRAINED_FRAMES, "min": 1, "max": MOTION_TRAINED_FRAMES,
                                   "tooltip": f"context window: frames the motion module sees together, at most "
                                              f"{MOTION_TRAINED_FRAMES}: AnimateDiff motion modules were trained on "
                                              f"{MOTION_TRAINED_FRAMES}-frame clips and lose temporal consistency "
                                              f"on longer windows. Longer clips are covered by overlapping windows, "
                                              f"all denoised at every step"}),
                "overlap": ("INT", {"default": 4, "min": 0, "max": MOTION_TRAINED_FRAMES - 1,
                                    "tooltip": "frames shared by consecutive context windows; their noise "
                                               "predictions are fused, so there are no seams"}),
                "prompt": ("STRING", {"multiline": True, "default": "",
                                      "tooltip": "extra text before the scene text and emotion phrase "
                                                 "(empty: a generic talking-portrait prompt)"}),
                "negative_prompt": ("STRING", {"multiline": True, "default": DEFAULT_NEGATIVE}),
            },
            "optional": {
                "reference": ("IMAGE", {"tooltip": "reference portrait(s); or connect face"}),
                "face": (SR_FACE, {"tooltip": "analysed reference portrait(s) from SynchroRaMa Face Analysis"}),
                "motion_frames": ("IMAGE", {"tooltip": "face-mesh drawings from SynchroRaMa Motion Frames"}),
                "emotion": (SR_EMOTION,),
                "scene": (SR_SCENE,),
                # kept (ignored) so that saved workflows keep their widget values in place
                "carry_strength": f(0.8, 0.0, 1.0, 0.05, "no longer used: context windows are now fused at every "
                                                         "step, so nothing is carried from window to window"),
                "emotion_phrase": ("BOOLEAN", {"default": True, "tooltip": "add words for the emotion to the prompt"}),
                "context_fuse": (list(CONTEXT_FUSE), {"default": CONTEXT_FUSE[0],
                                                      "tooltip": "how overlapping windows' predictions are weighted "
                                                                 "per frame: pyramid (by how central the frame is in "
                                                                 "the window) or uniform"}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = ("IMAGE", "FLOAT")
    RETURN_NAMES = ("frames", "fps")
    FUNCTION = "sample"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Samples exactly one frame per video frame of the speech: reference attention from the portrait(s), "
                   "the motion frames through the ControlNet, the scene text + emotion phrase per segment, the "
                   "AnimateDiff module across frames and, when loaded, the audio/emotion adapters. Long clips are "
                   "sampled as one latent whose overlapping context windows are all denoised at every step. "
                   "Outputs the frames and their fps (the speech's) for Save Video.")

    def sample(self, diffusion_models, speech, width=512, height=512, steps=25, cfg=7.0, seed=0, scheduler="ddim",
               reference_strength=1.0, control_strength=1.0, audio_strength=1.0, emotion_strength=1.0,
               window=16, overlap=4, prompt="", negative_prompt=DEFAULT_NEGATIVE, reference=None, face=None,
               motion_frames=None, emotion=None, scene=None, carry_strength=None, emotion_phrase=True,
               context_fuse=CONTEXT_FUSE[0], unique_id=None):
        refs = face if face is not None else (image_to_list(reference) if reference is not None else None)
        motion = image_to_list(motion_frames) if motion_frames is not None else None
        settings = SamplerSettings(width=int(width), height=int(height), steps=int(steps), cfg=float(cfg),
                                   seed=int(seed), scheduler=scheduler, prompt=prompt, negative_prompt=negative_prompt,
                                   reference_strength=float(reference_strength),
                                   control_strength=float(control_strength), audio_strength=float(audio_strength),
                                   emotion_strength=float(emotion_strength), window=int(window),
                                   overlap=min(int(overlap), max(int(window) - 1, 0)),
                                   context_fuse=str(context_fuse), emotion_phrase=bool(emotion_phrase))
        with comfy.Progress(100, unique_id) as p:
            frames = generate_video(diffusion_models, refs, motion, speech, emotion=emotion, scene=scene,
                                    settings=settings, progress=p.update, cancelled=p.cancelled)
        return list_to_image(frames), float(speech.fps)


NODE_CLASS_MAPPINGS = {
    "SynchroRaMaLoadDiffusionModels": SynchroRaMaLoadDiffusionModels,
    "SynchroRaMaVideoSampler": SynchroRaMaVideoSampler,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "SynchroRaMaLoadDiffusionModels": "SynchroRaMa Load Diffusion Models",
    "SynchroRaMaVideoSampler": "SynchroRaMa Video Sampler",
}
