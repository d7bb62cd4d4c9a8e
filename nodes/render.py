"""Render stage nodes: SynchroRaMa Warp Renderer (SR_FACE + SR_MOTION -> IMAGE frames) and
SynchroRaMa Warp Render Video (the same frames streamed straight into an mp4: core's VIDEO)."""
from __future__ import annotations

import numpy as np

from synchrorama_core.render import RenderOptions, WarpRenderer
from synchrorama_core.video import encode_stream

from . import comfy_adapter as comfy
from .values import SR_FACE, SR_MOTION, audio_parts

CATEGORY = "SynchroRaMa/render"


def _render_inputs() -> dict:
    """The warp renderer's options (shared by both render nodes)."""
    return {
        "mouth_interior": ("BOOLEAN", {"default": True,
                                       "tooltip": "paint the inside of an opening mouth: shaded cavity, "
                                                  "tongue, upper and lower teeth (the portrait's own teeth "
                                                  "when it shows them)"}),
        "teeth": ("BOOLEAN", {"default": True, "tooltip": "include teeth in the painted mouth interior"}),
        "eyelids": ("BOOLEAN", {"default": True,
                                "tooltip": "paint closing upper lids for blinks (skin colour from the "
                                           "reference, lash line) instead of stretching the skin"}),
        "reference": ("INT", {"default": -1, "min": -1, "max": 63,
                              "tooltip": "-1: per frame, the reference whose expression is nearest; "
                                         "0, 1, ...: always that reference"}),
        "blend_frames": ("INT", {"default": 4, "min": 0, "max": 50,
                                 "tooltip": "cross-fade length (frames) when the reference changes"}),
        "hair_follow": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0, "step": 0.05,
                                  "tooltip": "how much hair and background follow the head "
                                             "(0: only the face moves)"}),
        "head_scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 3.0, "step": 0.05,
                                 "tooltip": "scales the motion's head rotation and translation"}),
        "expression_scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 3.0, "step": 0.05,
                                       "tooltip": "scales the motion's expressions (mouth, blinks, brows)"}),
        "neutralize": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.05,
                                 "tooltip": "how far the portrait's own expression (parted lips, smile, "
                                            "raised brows) is taken back to a neutral rest face before "
                                            "the motion is applied: 1 = lips close in pauses and a sad "
                                            "clip from a smiling photo does not grin; 0 = the photo as is"}),
    }


def _renderer(face, mouth_interior=True, teeth=True, eyelids=True, reference=-1, blend_frames=4, hair_follow=1.0,
              head_scale=1.0, expression_scale=1.0, neutralize=1.0) -> WarpRenderer:
    opts = RenderOptions(mouth_interior=bool(mouth_interior), teeth=bool(teeth), eyelids=bool(eyelids),
                         reference=int(reference), blend_frames=int(blend_frames), hair_follow=hair_follow,
                         head_scale=head_scale, expression_scale=expression_scale, neutralize=neutralize)
    return WarpRenderer(face, opts)


_REQUIRED = {
    "face": (SR_FACE, {"tooltip": "reference portrait(s) from SynchroRaMa Face Analysis"}),
    "motion": (SR_MOTION, {"tooltip": "head pose and expressions per frame (SynchroRaMa A2M Motion)"}),
}
_WHAT = ("Moves the face of the reference portrait along SR_MOTION with a landmark-driven mesh warp: "
         "hair and background follow smoothly, the mouth interior and closing eyelids are painted, and "
         "with several references the one with the nearest expression is used per frame (cross-faded). "
         "Real time on a CPU, no downloaded weights.")


class SynchroRaMaWarpRenderer:
    """The zero-download video sampler: warps the reference portrait(s) along the motion, on the CPU."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": dict(_REQUIRED), "optional": _render_inputs(), "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("IMAGE", "FLOAT")
    RETURN_NAMES = ("images", "fps")
    FUNCTION = "render"
    CATEGORY = CATEGORY
    DESCRIPTION = (_WHAT + " Output: one IMAGE per motion frame at the first reference's size (every frame is held "
                   "in memory: ~78 MB per second at 512x512; for long clips use Warp Render Video), and the "
                   "motion's fps for Save Video / Create Video.")

    def render(self, face, motion, unique_id=None, **options):
        import torch
        renderer = _renderer(face, **options)
        h, w = renderer.size
        n = motion.n_frames if hasattr(motion, "n_frames") else 0
        # one preallocated batch: frames are written straight into the tensor ComfyUI receives
        images = torch.empty((n, h, w, 3), dtype=torch.float32)
        with comfy.Progress(max(n, 1), unique_id) as p:
            renderer.render(motion, progress=p.update, cancelled=p.cancelled, out=images.numpy())
        return images, float(motion.fps)


class SynchroRaMaWarpRenderVideo:
    """The warp renderer streamed straight into an H.264/AAC mp4: memory does not grow with the clip."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": dict(_REQUIRED),
            "optional": {
                "audio": ("AUDIO", {"tooltip": "speech to put under the video (trimmed to the video's length)"}),
                "crf": ("INT", {"default": 19, "min": 0, "max": 51,
                                "tooltip": "H.264 quality: lower is better and larger (0 lossless, 18-23 typical)"}),
                **_render_inputs(),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = ("VIDEO",)
    RETURN_NAMES = ("video",)
    FUNCTION = "render"
    CATEGORY = CATEGORY
    DESCRIPTION = (_WHAT + " Each frame goes straight into an H.264 mp4 (with the audio as AAC) at the motion's fps, "
                   "so a 10-minute clip needs no more memory than a short one. Output: ComfyUI's VIDEO (a file in the "
                   "temp folder): connect Save Video to keep it and watch it, or Get Video Components.")

    def render(self, face, motion, audio=None, crf=19, unique_id=None, **options):
        renderer = _renderer(face, **options)
        wave = sr = None
        if audio is not None:
            wave, sr = audio_parts(audio)
        n = motion.n_frames if hasattr(motion, "n_frames") else 0
        path = comfy.temp_file("synchrorama_render", "mp4")
        with comfy.Progress(max(n, 1), unique_id) as p:
            # the frame source checks cancel per frame; progress is reported on this (the node's) thread
            frames = renderer.frames(motion, cancelled=p.cancelled, dtype=np.uint8)
            encode_stream(path, frames, motion.fps, audio=wave, sample_rate=sr, crf=int(crf),
                          cancelled=p.cancelled, progress=p.update, total=n)
        return (comfy.video_value(path),)


NODE_CLASS_MAPPINGS = {"SynchroRaMaWarpRenderer": SynchroRaMaWarpRenderer,
                       "SynchroRaMaWarpRenderVideo": SynchroRaMaWarpRenderVideo}
NODE_DISPLAY_NAME_MAPPINGS = {"SynchroRaMaWarpRenderer": "SynchroRaMa Warp Renderer",
                              "SynchroRaMaWarpRenderVideo": "SynchroRaMa Warp Render Video"}
