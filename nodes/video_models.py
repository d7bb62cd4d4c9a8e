"""Nodes that drive ComfyUI's own audio-driven video models (Wan2.2-S2V, HuMo) with SynchroRaMa's stages.

SynchroRaMa Video Model Prompt (SR_EMOTION + SR_SCENE -> STRING for core CLIPTextEncode) and
SynchroRaMa Pose Video (SR_MOTION + SR_FACE -> IMAGE for WanSoundImageToVideo's control_video).
Audio needs no node: Load Audio's AUDIO goes into core AudioEncoderEncode.
"""
from __future__ import annotations

from synchrorama_core.bridge import VIDEO_MODELS, WAN_NEGATIVE, pose_video, pose_video_indices, video_model, window_prompt
from synchrorama_core.bridge.pose import clip_frames

from . import comfy_adapter as comfy
from .values import SR_EMOTION, SR_FACE, SR_MOTION, SR_SCENE

CATEGORY = "SynchroRaMa/video models"
MODELS = list(VIDEO_MODELS)

_MODEL_TIP = ("the video model the text / frames are for: " +
              "; ".join(f"{k}: {m.label}, {m.fps:g} fps" for k, m in VIDEO_MODELS.items()))
_WINDOW_TIP = ("-1: the whole clip (or start_s..end_s); 0, 1, 2, ...: that window of the model's chain "
               "(Wan2.2-S2V: the first WanSoundImageToVideo is window 0, each WanSoundImageToVideoExtend the next)")
_LENGTH_TIP = ("the 'length' of the model node (frames per window; the model uses (length - 1) // 4 + 1 latent "
               "frames, so lengths of the form 4k + 1 are exact: 77 for Wan2.2-S2V, 97 for HuMo)")


class SynchroRaMaVideoModelPrompt:
    """Emotion and scene as the descriptive English prompt of a T5-encoded video model, per window."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": (MODELS, {"default": MODELS[0], "tooltip": _MODEL_TIP}),
                "window": ("INT", {"default": -1, "min": -1, "max": 9999, "tooltip": _WINDOW_TIP}),
                "length": ("INT", {"default": 77, "min": 1, "max": 4097, "step": 4, "tooltip": _LENGTH_TIP}),
                "subject": ("STRING", {"default": "", "tooltip": "who is shown, e.g. 'a young woman with curly red "
                                                                 "hair' (empty: 'a person')"}),
                "negative_base": ("STRING", {"default": WAN_NEGATIVE, "multiline": True,
                                             "tooltip": "the model's usual negative prompt (core's Wan templates' "
                                                        "text); the opposite emotion's facial cues are appended"}),
            },
            "optional": {
                "emotion": (SR_EMOTION, {"tooltip": "per-frame emotion (SynchroRaMa Emotion Embedder); averaged "
                                                    "over the window. Without it the face is described as calm"}),
                "scene": (SR_SCENE, {"tooltip": "timed scene segments (SynchroRaMa Scene Describer): who is shown "
                                                "and what they do in the window"}),
                "start_s": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 86400.0, "step": 0.01,
                                      "tooltip": "window -1 only: start of the time range"}),
                "end_s": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 86400.0, "step": 0.01,
                                    "tooltip": "window -1 only: end of the time range (0 = the end of the clip)"}),
            },
        }

    RETURN_TYPES = ("STRING", "STRING", "STRING")
    RETURN_NAMES = ("positive", "negative", "info")
    FUNCTION = "prompt"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Writes what Wan2.2-S2V / HuMo should show, in plain descriptive English for their T5 text "
                   "encoder: who is shown, what they do (the scene segments in the window) and how they feel (face, "
                   "movement and mood worded from the window's emotion, intensity, valence and arousal). Give each "
                   "window of an Extend chain its own node so each follows the emotion timeline. Connect positive / "
                   "negative to core CLIP Text Encode's text.")

    def prompt(self, model="wan2.2_s2v", window=-1, length=77, subject="", negative_base=WAN_NEGATIVE, emotion=None,
               scene=None, start_s=0.0, end_s=0.0):
        p = window_prompt(emotion, scene, model, int(window), int(length), float(start_s), float(end_s),
                          subject=subject, negative_base=negative_base)
        return (p.positive, p.negative, p.info())


class SynchroRaMaPoseVideo:
    """SR_MOTION drawn as the pose video Wan2.2-S2V takes as control_video."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "motion": (SR_MOTION, {"tooltip": "head motion from SynchroRaMa A2M Motion (any fps: re-timed "
                                                  "exactly to the model's)"}),
                "face": (SR_FACE, {"tooltip": "the reference portrait from SynchroRaMa Face Analysis: the skeleton "
                                              "is anchored on its face, placed where that face is in the picture "
                                              "Face Analysis was given (connect the same picture to the model "
                                              "node's ref_image; a photo over 1024 px is mapped back from Face "
                                              "Analysis's working crop)"}),
                "model": (MODELS, {"default": MODELS[0], "tooltip": _MODEL_TIP}),
                "width": ("INT", {"default": 640, "min": 16, "max": 8192, "step": 16,
                                  "tooltip": "the model node's width (the portrait is fitted the same way: scaled "
                                             "to cover, centre-cropped)"}),
                "height": ("INT", {"default": 640, "min": 16, "max": 8192, "step": 16,
                                   "tooltip": "the model node's height"}),
                "window": ("INT", {"default": -1, "min": -1, "max": 9999, "tooltip": _WINDOW_TIP}),
                "length": ("INT", {"default": 77, "min": 1, "max": 4097, "step": 4, "tooltip": _LENGTH_TIP}),
            },
            "optional": {
                "reference": ("INT", {"default": 0, "min": 0, "max": 63,
                                      "tooltip": "which portrait of the SR_FACE anchors the skeleton"}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = ("IMAGE", "INT", "FLOAT")
    RETURN_NAMES = ("pose_video", "clip_frames", "fps")
    FUNCTION = "draw"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Draws the A2M head motion as the whole-body pose skeleton Wan2.2-S2V was trained on (OpenPose "
                   "points in Wan's own drawing style: nose, eyes, ears, neck, shoulders), at the model's 16 fps "
                   "and size, on the reference portrait's face. Window 0, 1, ... gives the 'length' frames of that "
                   "window of the Extend chain, aligned to the model's latent frames; -1 the whole clip. "
                   "clip_frames is the clip's frame count at the model's fps (for trimming the decoded video).")

    def draw(self, motion, face, model="wan2.2_s2v", width=640, height=640, window=-1, length=77, reference=0,
             unique_id=None):
        import torch
        n = len(pose_video_indices(motion, model, int(window), int(length)))
        images = torch.zeros((n, int(height), int(width), 3), dtype=torch.float32)
        with comfy.Progress(max(n, 1), unique_id) as p:
            pose_video(face, motion, model, int(width), int(height), int(window), int(length), int(reference),
                       out=images.numpy(), progress=p.update, cancelled=p.cancelled)
        fps = video_model(model).fps
        return (images, clip_frames(motion, fps), float(fps))


NODE_CLASS_MAPPINGS = {
    "SynchroRaMaVideoModelPrompt": SynchroRaMaVideoModelPrompt,
    "SynchroRaMaPoseVideo": SynchroRaMaPoseVideo,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "SynchroRaMaVideoModelPrompt": "SynchroRaMa Video Model Prompt (Wan2.2-S2V / HuMo)",
    "SynchroRaMaPoseVideo": "SynchroRaMa Pose Video (Wan2.2-S2V control)",
}
