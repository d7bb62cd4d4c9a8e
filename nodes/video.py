"""Video stage node: SynchroRaMa Save Video (IMAGE frames + AUDIO -> H.264/AAC mp4 in the output folder)."""
from __future__ import annotations

import os

from synchrorama_core.video import write_video

from . import comfy_adapter as comfy
from .values import optional_audio

CATEGORY = "SynchroRaMa/video"


class SynchroRaMaSaveVideo:
    """Mux frames and speech into an mp4 in ComfyUI's output folder, with a preview."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "the video frames (all the same size)"}),
                "fps": ("FLOAT", {"default": 25.0, "min": 1.0, "max": 120.0, "step": 0.01,
                                  "tooltip": "frame rate; link the fps output of the node that made the frames "
                                             "(Warp Renderer, Video Sampler) instead of typing it"}),
                "filename_prefix": ("STRING", {"default": "SynchroRaMa/video",
                                               "tooltip": "file name (and sub-folder) in the output folder"}),
                "crf": ("INT", {"default": 19, "min": 0, "max": 51,
                                "tooltip": "H.264 quality: lower is better and larger (0 lossless, 18-23 typical)"}),
            },
            "optional": {
                "audio": ("AUDIO", {"tooltip": "speech to put under the video (trimmed to the video's length)"}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO", "unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    FUNCTION = "save"
    OUTPUT_NODE = True
    CATEGORY = CATEGORY
    DESCRIPTION = ("Encodes the frames as H.264 (yuv420p; odd sizes padded by one pixel) with the audio as AAC into "
                   "an .mp4 in ComfyUI's output folder and previews it. The workflow is stored in the file's metadata.")

    def save(self, images, fps=25.0, filename_prefix="SynchroRaMa/video", crf=19, audio=None, prompt=None,
             extra_pnginfo=None, unique_id=None):
        wave, sr = optional_audio(audio)
        full, file, subfolder = comfy.save_path(filename_prefix, "mp4")
        meta = {}
        if prompt is not None:
            meta["prompt"] = prompt
        if isinstance(extra_pnginfo, dict):
            meta.update(extra_pnginfo)
        n = int(images.shape[0]) if hasattr(images, "shape") and len(images.shape) == 4 else None
        with comfy.Progress(max(n or 1, 1), unique_id) as p:
            write_video(full, images, fps, audio=wave, sample_rate=sr, crf=crf, metadata=meta or None,
                        progress=p.update, cancelled=p.cancelled, total=n)
        preview = {"filename": file, "subfolder": subfolder, "type": "output"}
        return {"ui": {"images": [preview], "animated": (True,)}, "result": (os.path.abspath(full),)}


NODE_CLASS_MAPPINGS = {"SynchroRaMaSaveVideo": SynchroRaMaSaveVideo}
NODE_DISPLAY_NAME_MAPPINGS = {"SynchroRaMaSaveVideo": "SynchroRaMa Save Video"}
