"""Render stage node: SynchroRaMa Warp Renderer (SR_FACE + SR_MOTION -> IMAGE frames)."""
from __future__ import annotations

from synchrorama_core.render import RenderOptions, WarpRenderer

from . import comfy_adapter as comfy
from .values import SR_FACE, SR_MOTION

CATEGORY = "SynchroRaMa/render"


class SynchroRaMaWarpRenderer:
    """The zero-download video sampler: warps the reference portrait(s) along the motion, on the CPU."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "face": (SR_FACE, {"tooltip": "reference portrait(s) from SynchroRaMa Face Analysis"}),
                "motion": (SR_MOTION, {"tooltip": "head pose and expressions per frame (SynchroRaMa A2M Motion)"}),
            },
            "optional": {
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
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    FUNCTION = "render"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Moves the face of the reference portrait along SR_MOTION with a landmark-driven mesh warp: "
                   "hair and background follow smoothly, the mouth interior and closing eyelids are painted, and "
                   "with several references the one with the nearest expression is used per frame (cross-faded). "
                   "Real time on a CPU, no downloaded weights. Output: one IMAGE per motion frame at the first "
                   "reference's size.")

    def render(self, face, motion, mouth_interior=True, teeth=True, eyelids=True, reference=-1, blend_frames=4,
               hair_follow=1.0, head_scale=1.0, expression_scale=1.0, neutralize=1.0, unique_id=None):
        import torch
        opts = RenderOptions(mouth_interior=bool(mouth_interior), teeth=bool(teeth), eyelids=bool(eyelids),
                             reference=int(reference), blend_frames=int(blend_frames), hair_follow=hair_follow,
                             head_scale=head_scale, expression_scale=expression_scale, neutralize=neutralize)
        renderer = WarpRenderer(face, opts)
        h, w = renderer.size
        n = motion.n_frames if hasattr(motion, "n_frames") else 0
        # one preallocated batch: frames are written straight into the tensor ComfyUI receives
        images = torch.empty((n, h, w, 3), dtype=torch.float32)
        with comfy.Progress(max(n, 1), unique_id) as p:
            renderer.render(motion, progress=p.update, cancelled=p.cancelled, out=images.numpy())
        return (images,)


NODE_CLASS_MAPPINGS = {"SynchroRaMaWarpRenderer": SynchroRaMaWarpRenderer}
NODE_DISPLAY_NAME_MAPPINGS = {"SynchroRaMaWarpRenderer": "SynchroRaMa Warp Renderer"}
