"""Render stage nodes: SynchroRaMa Warp Renderer (SR_FACE + SR_MOTION -> IMAGE frames) and
SynchroRaMa Warp Render Video (the same frames streamed straight into an mp4: core's VIDEO); their
conversation forms (SR_CAST -> every person animated in one picture, as IMAGE or VIDEO)."""
from __future__ import annotations

from functools import partial

import numpy as np

from synchrorama_core.render import CastRenderer, RenderOptions, WarpRenderer
from synchrorama_core.video import encode_stream

from . import comfy_adapter as comfy
from .values import SR_CAST, SR_FACE, SR_MOTION, optional_audio

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


def _options(mouth_interior=True, teeth=True, eyelids=True, reference=-1, blend_frames=4, hair_follow=1.0,
             head_scale=1.0, expression_scale=1.0, neutralize=1.0) -> RenderOptions:
    return RenderOptions(mouth_interior=bool(mouth_interior), teeth=bool(teeth), eyelids=bool(eyelids),
                         reference=int(reference), blend_frames=int(blend_frames), hair_follow=hair_follow,
                         head_scale=head_scale, expression_scale=expression_scale, neutralize=neutralize)


def _renderer(face, **options) -> WarpRenderer:
    return WarpRenderer(face, _options(**options))


def _stream_video(prefix: str, n: int, wave, sr, crf, unique_id, frames) -> tuple:
    """Core's VIDEO of a new mp4 in the temp folder: ``frames(cancelled)`` -> ``(uint8 frames, fps)``
    streamed with the sound ``wave``/``sr`` into H.264/AAC, ``n`` frames on the progress bar."""
    path = comfy.temp_file(prefix, "mp4")
    with comfy.Progress(max(n, 1), unique_id) as p:
        # the frame source checks cancel per frame; progress is reported on this (the node's) thread
        source, fps = frames(p.cancelled)
        encode_stream(path, source, fps, audio=wave, sample_rate=sr, crf=int(crf), cancelled=p.cancelled,
                      progress=p.update, total=n)
    return (comfy.video_value(path),)


class _ImageForm:
    """The outputs of the render nodes that return IMAGE frames (one person or a cast)."""

    RETURN_TYPES = ("IMAGE", "FLOAT")
    RETURN_NAMES = ("images", "fps")
    FUNCTION = "render"
    CATEGORY = CATEGORY


class _VideoForm:
    """The outputs of the render nodes that stream into an mp4 (one person or a cast)."""

    RETURN_TYPES = ("VIDEO",)
    RETURN_NAMES = ("video",)
    FUNCTION = "render"
    CATEGORY = CATEGORY


_REQUIRED = {
    "face": (SR_FACE, {"tooltip": "reference portrait(s) from SynchroRaMa Face Analysis"}),
    "motion": (SR_MOTION, {"tooltip": "head pose and expressions per frame (SynchroRaMa A2M Motion)"}),
}
_WHAT = ("Moves the face of the reference portrait along SR_MOTION with a landmark-driven mesh warp: "
         "hair and background follow smoothly, the mouth interior and closing eyelids are painted, and "
         "with several references the one with the nearest expression is used per frame (cross-faded). "
         "Real time on a CPU, no downloaded weights.")


class SynchroRaMaWarpRenderer(_ImageForm):
    """The zero-download video sampler: warps the reference portrait(s) along the motion, on the CPU."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": dict(_REQUIRED), "optional": _render_inputs(), "hidden": {"unique_id": "UNIQUE_ID"}}

    DESCRIPTION = (_WHAT + " Output: one IMAGE per motion frame at the first reference's size (every frame is held "
                   "in memory: ~78 MB per second at 512x512; for long clips use Warp Render Video), and the "
                   "motion's fps for Save Video / Create Video.")

    def render(self, face, motion, unique_id=None, **options):
        renderer = _renderer(face, **options)
        n = motion.n_frames if hasattr(motion, "n_frames") else 0
        # one preallocated batch: frames are written straight into the tensor ComfyUI receives
        images = comfy.image_frames(n, *renderer.size, partial(renderer.render, motion), unique_id)
        return images, float(motion.fps)


class SynchroRaMaWarpRenderVideo(_VideoForm):
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

    DESCRIPTION = (_WHAT + " Each frame goes straight into an H.264 mp4 (with the audio as AAC) at the motion's fps, "
                   "so a 10-minute clip needs no more memory than a short one. Output: ComfyUI's VIDEO (a file in the "
                   "temp folder): connect Save Video to keep it and watch it, or Get Video Components.")

    def render(self, face, motion, audio=None, crf=19, unique_id=None, **options):
        renderer = _renderer(face, **options)
        wave, sr = optional_audio(audio)
        n = motion.n_frames if hasattr(motion, "n_frames") else 0
        return _stream_video("synchrorama_render", n, wave, sr, crf, unique_id,
                             lambda c: (renderer.frames(motion, cancelled=c, dtype=np.uint8), motion.fps))


# ------------------------------------------------------------------ conversations (SR_CAST)

#: the warp options that apply to a cast (each person has one reference: the shared picture)
_CAST_OPTIONS = ("mouth_interior", "teeth", "eyelids", "hair_follow", "head_scale", "expression_scale", "neutralize")
_CAST = {"cast": (SR_CAST, {"tooltip": "the people with their motions (SynchroRaMa Conversation)"})}
_CAST_WHAT = ("Moves every person of the cast along their own motion in one frame: each face is warped in its own "
              "region of the picture (cut through the gaps between faces), whose edges stay fixed, so the regions "
              "meet without seams however close the faces are. People without a motion stay as photographed.")


def _cast_renderer(cast, **options) -> CastRenderer:
    return CastRenderer(cast, _options(**{k: v for k, v in options.items() if k in _CAST_OPTIONS}))


def _cast_inputs() -> dict:
    opt = _render_inputs()
    return {k: opt[k] for k in _CAST_OPTIONS}


class SynchroRaMaCastRenderer(_ImageForm):
    """The warp renderer for a conversation: every animated person of an SR_CAST in one picture."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": dict(_CAST), "optional": _cast_inputs(), "hidden": {"unique_id": "UNIQUE_ID"}}

    DESCRIPTION = (_CAST_WHAT + " Output: one IMAGE per motion frame at the picture's size (every frame is held in "
                   "memory: ~157 MB per second at 512x1024; for long clips use Warp Render Video (conversation)), "
                   "and the fps.")

    def render(self, cast, unique_id=None, **options):
        renderer = _cast_renderer(cast, **options)
        images = comfy.image_frames(renderer.n_frames(), *renderer.size, renderer.render, unique_id)
        fps = next(m for m in cast.motions if m is not None).fps
        return images, float(fps)


class SynchroRaMaCastRenderVideo(_VideoForm):
    """The conversation renderer streamed straight into an H.264/AAC mp4: memory does not grow with the clip."""

    @classmethod
    def INPUT_TYPES(cls):
        vid = SynchroRaMaWarpRenderVideo.INPUT_TYPES()["optional"]
        return {
            "required": dict(_CAST),
            "optional": {"audio": ("AUDIO", {"tooltip": "the conversation's sound (Load Audio of one recording, or "
                                                        "SynchroRaMa Mix Audio of the speakers' tracks)"}),
                         "crf": vid["crf"], **_cast_inputs()},
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    DESCRIPTION = (_CAST_WHAT + " Each frame goes straight into an H.264 mp4 (with the audio as AAC), so a long "
                   "conversation needs no more memory than a short one. Output: ComfyUI's VIDEO (connect Save Video).")

    def render(self, cast, audio=None, crf=19, unique_id=None, **options):
        renderer = _cast_renderer(cast, **options)
        wave, sr = optional_audio(audio)
        n = renderer.n_frames()
        fps = next(m for m in cast.motions if m is not None).fps
        return _stream_video("synchrorama_conversation", n, wave, sr, crf, unique_id,
                             lambda c: (renderer.frames(cancelled=c, dtype=np.uint8), fps))


NODE_CLASS_MAPPINGS = {"SynchroRaMaWarpRenderer": SynchroRaMaWarpRenderer,
                       "SynchroRaMaWarpRenderVideo": SynchroRaMaWarpRenderVideo,
                       "SynchroRaMaCastRenderer": SynchroRaMaCastRenderer,
                       "SynchroRaMaCastRenderVideo": SynchroRaMaCastRenderVideo}
NODE_DISPLAY_NAME_MAPPINGS = {"SynchroRaMaWarpRenderer": "SynchroRaMa Warp Renderer",
                              "SynchroRaMaWarpRenderVideo": "SynchroRaMa Warp Render Video",
                              "SynchroRaMaCastRenderer": "SynchroRaMa Warp Renderer (conversation)",
                              "SynchroRaMaCastRenderVideo": "SynchroRaMa Warp Render Video (conversation)"}
