"""A2M stage nodes: SynchroRaMa A2M Motion, Motion Frames, Save Motion, Load Motion, Motion Adjust."""
from __future__ import annotations

import os

from synchrorama_core.audio.phones import PHONE_MODES, speech_phones
from synchrorama_core.motion import (MISMATCH, STYLES, adjust_motion, blend_motion, conform_motion,
                                     draw_motion_curves, generate_procedural, motion_frames, summarize_motion)
from synchrorama_core.motion.draw import FACE_CONTROLNET_STYLE
from synchrorama_core.motion.frames import frame_size
from synchrorama_core.motion.neural import list_a2m_models, load_a2m
from synchrorama_core.motion.procedural import ProceduralConfig
from synchrorama_core.types import EXPRESSIONS

from . import comfy_adapter as comfy
from .data_io import SynchroRaMaLoadData, SynchroRaMaSaveData
from .values import SR_EMOTION, SR_FACE, SR_MOTION, SR_SCENE, SR_SPEECH, list_to_image

CATEGORY = "SynchroRaMa/motion"
GENERATORS = ("procedural", "neural")
NO_MODEL = "(no model in models/synchrorama/a2m)"
MOTION_EXTENSIONS = (".json", ".safetensors")


def _lim(name):
    return ProceduralConfig.LIMITS[name]


def _float(default, name, step, tip):
    lo, hi = _lim(name)
    return ("FLOAT", {"default": default, "min": lo, "max": hi, "step": step, "tooltip": tip})


def _combo(options, default, tip):
    return (list(options), {"default": default, "tooltip": tip})


def _curves(motion):
    return list_to_image(draw_motion_curves(motion)[None])


def _a2m_models():
    return list_a2m_models(comfy.model_dirs("a2m")) or [NO_MODEL]


class SynchroRaMaA2MMotion:
    """Audio-to-motion: head pose, lips and expressions per video frame, aligned to the speech."""

    @classmethod
    def INPUT_TYPES(cls):
        models = _a2m_models()
        return {
            "required": {
                "speech": (SR_SPEECH, {"tooltip": "from SynchroRaMa Load Audio / Speech Features; sets fps and "
                                                  "the frame count"}),
                "generator": _combo(GENERATORS, "procedural", "procedural: no download, rules from the audio "
                                    "features; neural: a trained A2M model from models/synchrorama/a2m/"),
                "head_scale": _float(1.0, "head_scale", 0.05, "head motion amplitude (0 = still head)"),
                "expression_scale": _float(1.0, "expression_scale", 0.05,
                                           "emotion expressions, brow flashes and scene expressions"),
                "lip_scale": _float(1.0, "lip_scale", 0.05, "jaw opening and mouth shapes (0 = closed mouth)"),
                "blink_rate": _float(17.0, "blink_rate", 0.5, "blinks per minute at rest (fewer while speaking "
                                                              "intensely; 0 = never)"),
                "visual_lead": _float(1.0, "lead_frames", 0.25,
                                      "the mouth moves this many frames before the sound (neural: on top of what "
                                      "the model learned)"),
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF,
                                 "tooltip": "head-motion noise and blink timing; the same seed gives the same motion"}),
            },
            "optional": {
                "emotion": (SR_EMOTION, {"tooltip": "per-frame emotion (SynchroRaMa Emotion Embedder); "
                                                    "default: neutral"}),
                "scene": (SR_SCENE, {"tooltip": "scene actions such as 'nods', 'looks left', 'tilts head' become "
                                                "head gestures at their times"}),
                "model": (models, {"default": models[0],
                                   "tooltip": f"neural A2M model folder (config.json + model.safetensors) under "
                                              f"{comfy.model_dirs('a2m')[0]}"}),
                "model_path": ("STRING", {"default": "", "tooltip": "full path of an A2M model folder; overrides "
                                                                    "'model' when set"}),
                "phones": _combo(PHONE_MODES, "auto", "phone timing for the lips (closures on p/b/m, f/v, rounded "
                                 "and spread vowels): auto = pocketsphinx for English (aligned to the transcript "
                                 "when there is one), acoustic cues for other languages; off = lips from the "
                                 "loudness only"),
                "transcript": ("STRING", {"default": "", "multiline": True,
                                          "tooltip": "what is said (optional; default: the transcript the connected "
                                                     "Emotion Embedder used). English words are aligned to the "
                                                     "audio for exact lip timing"}),
                "language": ("STRING", {"default": "", "tooltip": "language of the speech, e.g. en, de (empty: "
                                                                  "English unless the transcript reads otherwise); "
                                                                  "not English = acoustic cues"}),
                "procedural_blinks": ("BOOLEAN", {"default": True,
                                                  "tooltip": "neural: replace the model's blink channels with the "
                                                             "seeded procedural blinks (audio does not predict "
                                                             "blinks)"}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = (SR_MOTION, "IMAGE", "STRING")
    RETURN_NAMES = ("motion", "curves", "summary")
    FUNCTION = "generate"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Makes SR_MOTION from the speech: lip shapes from its phones (lips close on p/b/m, touch the "
                   "teeth on f/v, round on oo/w, spread on ee; the jaw follows vowel height and loudness; leading "
                   "the sound by 'visual_lead' frames; meta says which phone backend ran and why), blinks, head "
                   "motion driven by arousal and stress with scene gestures, and expressions from the emotion. "
                   "'procedural' needs no download; 'neural' runs a model trained with "
                   "`python -m synchrorama_core.training.a2m`. 'curves' plots every channel.")

    def generate(self, speech, generator="procedural", head_scale=1.0, expression_scale=1.0, lip_scale=1.0,
                 blink_rate=17.0, visual_lead=1.0, seed=0, emotion=None, scene=None, model=NO_MODEL, model_path="",
                 phones="auto", transcript="", language="", procedural_blinks=True, unique_id=None):
        controls = dict(head_scale=head_scale, expression_scale=expression_scale, lip_scale=lip_scale,
                        blink_rate=blink_rate, lead_frames=visual_lead, seed=seed)
        if generator not in GENERATORS:
            raise ValueError(f"unknown generator {generator!r}; choose one of {list(GENERATORS)}")
        with comfy.Progress(100, unique_id) as p:
            net = None
            if generator == "neural":
                name = (model_path or "").strip() or ("" if model in (None, NO_MODEL) else model)
                net = load_a2m(name, comfy.model_dirs("a2m"), device=comfy.torch_device())
            # the phone track (the first half of the bar; a format-1 neural model does not take one)
            track = None
            if net is None or net.uses_phones:
                track = speech_phones(speech, phones, transcript, language, emotion,
                                      progress=lambda d, t: p.update(d, 2 * t), cancelled=p.cancelled)
            rest = dict(progress=lambda d, t: p.update(t + d, 2 * t), cancelled=p.cancelled, phones=track)
            if net is None:
                motion = generate_procedural(speech, emotion, scene, **rest, **controls)
            else:
                motion = net.generate(speech, emotion, scene, procedural_blinks=bool(procedural_blinks), **rest,
                                      **controls)
        return motion, _curves(motion), summarize_motion(motion)


class SynchroRaMaMotionFrames:
    """Face-mesh drawings of the reference face driven by the motion (the ControlNet condition)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "motion": (SR_MOTION,),
                "face": (SR_FACE, {"tooltip": "reference portrait(s) from SynchroRaMa Face Analysis"}),
                "style": _combo(STYLES, FACE_CONTROLNET_STYLE,
                                "laion_face: what the MediaPipe-face ControlNet (LAION-Face; the Video Sampler's "
                                "control_v2p_sd15_mediapipe_face) was trained on, drawn as its annotator draws it; "
                                "mediapipe: MediaPipe's own face-mesh drawing (grey tessellation, coloured contours), "
                                "not what that ControlNet saw; outline: a plain white outline"),
                "width": ("INT", {"default": 0, "min": 0, "max": 8192, "step": 8,
                                  "tooltip": "0 (with height 0): the reference image's size; otherwise the "
                                             "reference is centre-cropped to this aspect and scaled, like the "
                                             "Video Sampler does"}),
                "height": ("INT", {"default": 0, "min": 0, "max": 8192, "step": 8}),
            },
            "optional": {
                "reference": ("INT", {"default": 0, "min": 0, "max": 63,
                                      "tooltip": "which reference of the SR_FACE to drive"}),
                "thickness": ("INT", {"default": 0, "min": 0, "max": 16,
                                      "tooltip": "line width multiplier (0 = grows with the image size)"}),
                "neutralize": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.05,
                                         "tooltip": "as the Warp Renderer's: how far the portrait's own expression "
                                                    "(parted lips, smile) is taken back to a neutral rest face "
                                                    "before the motion is applied (1: lips close on m, b, p and "
                                                    "in pauses; 0: the photo as is)"}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("motion_frames",)
    FUNCTION = "draw"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Applies SR_MOTION to the reference face's 478 landmarks (3D head rotation, expressions; "
                   "from its neutral rest face, as the Warp Renderer does) and draws one face-mesh picture per "
                   "video frame: the motion frames the Video Sampler's face-landmark ControlNet follows.")

    def draw(self, motion, face, style=FACE_CONTROLNET_STYLE, width=0, height=0, reference=0, thickness=0, neutralize=1.0,
             unique_id=None):
        import torch
        h, w = frame_size(face, reference, height, width)
        n = motion.n_frames if hasattr(motion, "n_frames") else 0
        images = torch.empty((n, h, w, 3), dtype=torch.float32)
        with comfy.Progress(max(n, 1), unique_id) as p:
            motion_frames(face, motion, style, h, w, reference, int(thickness) or None, out=images.numpy(),
                          progress=p.update, cancelled=p.cancelled, neutralize=neutralize)
        return (images,)


class SynchroRaMaSaveMotion:
    """Write SR_MOTION as hand-editable JSON (or compact safetensors) into the output folder."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "motion": (SR_MOTION,),
            "filename_prefix": ("STRING", {"default": "synchrorama/a2m",
                                           "tooltip": "saved as <prefix>_motion_00001_.json in the output folder"}),
            "format": (["json", "safetensors"], {"default": "json",
                                                 "tooltip": "json: readable and hand-editable; safetensors: compact"}),
        }}

    RETURN_TYPES = (SR_MOTION, "STRING")
    RETURN_NAMES = ("motion", "path")
    FUNCTION = "save"
    OUTPUT_NODE = True
    CATEGORY = CATEGORY
    DESCRIPTION = ("Saves the motion so it can be shared, hand-edited (per-frame lists of rotation, translation, "
                   "scale and each expression) and loaded again with SynchroRaMa Load Motion. Passes the motion on.")

    def save(self, motion, filename_prefix="synchrorama/a2m", format="json"):
        if motion is None:
            raise ValueError("SynchroRaMa Save Motion: connect an SR_MOTION")
        r = SynchroRaMaSaveData().save(filename_prefix=filename_prefix, format=format, motion=motion)
        f = r["ui"]["files"][0]
        path = os.path.join(comfy.output_dir(), f["subfolder"], f["filename"])
        return {"ui": r["ui"], "result": (motion, path)}


def _motion_files():
    d = comfy.input_dir()
    out = []
    if os.path.isdir(d):
        for root, dirs, files in os.walk(d):
            dirs[:] = [x for x in dirs if not x.startswith(".")] if os.path.relpath(root, d).count(os.sep) < 2 else []
            for f in files:
                if f.lower().endswith(MOTION_EXTENSIONS):
                    out.append(os.path.relpath(os.path.join(root, f), d).replace(os.sep, "/"))
    return sorted(out)


def _pick_file(motion_file, path):
    name = (path or "").strip() or (motion_file or "").strip()
    if not name:
        raise ValueError(f"SynchroRaMa Load Motion: no motion file chosen; put a .json saved by Save Motion into "
                         f"{comfy.input_dir()} (or type 'name [output]' in 'path' for one in the output folder)")
    return name


class SynchroRaMaLoadMotion:
    """Load an SR_MOTION saved by Save Motion (or written by hand) from the input folder or a path."""

    @classmethod
    def INPUT_TYPES(cls):
        files = _motion_files() or [""]
        return {
            "required": {
                "motion_file": (files, {"tooltip": ".json / .safetensors motion in ComfyUI's input folder"}),
            },
            "optional": {
                "path": ("STRING", {"default": "", "tooltip": "'name [output]' for a motion saved into the output "
                                                              "folder (or a full path inside ComfyUI's input/output/"
                                                              "temp folders); overrides motion_file when set"}),
                "speech": (SR_SPEECH, {"tooltip": "if connected, the motion must fit this speech's frames "
                                                  "(see 'mismatch')"}),
                "mismatch": _combo(MISMATCH, "error", "when the motion's fps/length differ from the speech's: "
                                   "'error' stops, 'resample' re-times the motion (linear, holding its last frame "
                                   "if it is shorter)"),
            },
        }

    RETURN_TYPES = (SR_MOTION, "IMAGE", "STRING")
    RETURN_NAMES = ("motion", "curves", "summary")
    FUNCTION = "load"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Loads a motion saved by SynchroRaMa Save Motion (or Save Data), e.g. after editing it by hand. "
                   "Expressions left out of a hand-written file are 0.")

    def load(self, motion_file="", path="", speech=None, mismatch="error"):
        loaded = SynchroRaMaLoadData().load(SR_MOTION, _pick_file(motion_file, path))
        motion = next(v for v in loaded if v is not None)
        if speech is not None:
            motion = conform_motion(motion, speech.fps, speech.duration_s, mismatch, what="the loaded motion")
        return motion, _curves(motion), summarize_motion(motion)

    @classmethod
    def IS_CHANGED(cls, motion_file="", path="", **kwargs):
        """The file's content hash, so a hand-edited motion is loaded again."""
        try:
            name = _pick_file(motion_file, path)
        except ValueError:
            return ""
        return comfy.input_file_hash(name)


BLEND_PARTS = {"all": ("head", "lips", "expressions", "blinks"), "head": ("head",), "lips": ("lips",),
               "expressions": ("expressions",), "face (all but head)": ("lips", "expressions", "blinks")}


def _f(default, lo, hi, step, tip):
    return ("FLOAT", {"default": default, "min": lo, "max": hi, "step": step, "tooltip": tip})


class SynchroRaMaMotionAdjust:
    """Scale, offset and blend motions."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "motion": (SR_MOTION,),
                "head_scale": _f(1.0, 0.0, 5.0, 0.05, "multiplies head rotation, translation and scale change"),
                "expression_scale": _f(1.0, 0.0, 5.0, 0.05, "multiplies smile, frown, brows, eyes, nose"),
                "lip_scale": _f(1.0, 0.0, 5.0, 0.05, "multiplies jaw opening and mouth shapes"),
                "blink_scale": _f(1.0, 0.0, 5.0, 0.05, "multiplies the eyelid closure (0 = no blinks)"),
                "yaw_offset": _f(0.0, -45.0, 45.0, 0.5, "degrees; > 0 turns the face to the image right"),
                "pitch_offset": _f(0.0, -45.0, 45.0, 0.5, "degrees; > 0 tips the chin down"),
                "roll_offset": _f(0.0, -45.0, 45.0, 0.5, "degrees; > 0 tilts clockwise in the image"),
                "x_offset": _f(0.0, -1.0, 1.0, 0.005, "face widths; > 0 moves right"),
                "y_offset": _f(0.0, -1.0, 1.0, 0.005, "face widths; > 0 moves down"),
                "scale_offset": _f(0.0, -0.5, 1.0, 0.01, "added to the size factor (0.1 = 10% larger)"),
                "expression": _combo(("none",) + EXPRESSIONS, "none", "an expression to offset"),
                "expression_offset": _f(0.0, -1.0, 1.0, 0.05, "added to that expression on every frame"),
            },
            "optional": {
                "motion_b": (SR_MOTION, {"tooltip": "blend with this motion (before scaling and offsets)"}),
                "blend_weight": _f(0.5, 0.0, 1.0, 0.05, "0 = only 'motion', 1 = only 'motion_b'"),
                "blend_parts": _combo(BLEND_PARTS, "all", "which channels are blended"),
                "mismatch": _combo(MISMATCH, "error", "when motion_b has another fps/length: 'error' stops; "
                                   "'resample' re-times it onto 'motion' (frames of 'motion' after motion_b ends "
                                   "stay unblended)"),
            },
        }

    RETURN_TYPES = (SR_MOTION, "IMAGE")
    RETURN_NAMES = ("motion", "curves")
    FUNCTION = "adjust"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Edits SR_MOTION: optionally blends in a second motion (weight, chosen channels), then scales "
                   "head / expressions / lips / blinks and adds pose and expression offsets. Results are clipped "
                   "to the valid ranges (expressions 0..1, rotation within ±89°).")

    def adjust(self, motion, head_scale=1.0, expression_scale=1.0, lip_scale=1.0, blink_scale=1.0, yaw_offset=0.0,
               pitch_offset=0.0, roll_offset=0.0, x_offset=0.0, y_offset=0.0, scale_offset=0.0, expression="none",
               expression_offset=0.0, motion_b=None, blend_weight=0.5, blend_parts="all", mismatch="error"):
        if blend_parts not in BLEND_PARTS:
            raise ValueError(f"unknown blend_parts {blend_parts!r}; choose one of {list(BLEND_PARTS)}")
        m = motion
        if motion_b is not None:
            m = blend_motion(m, motion_b, blend_weight, mismatch=mismatch, parts=BLEND_PARTS[blend_parts])
        offs = {} if expression in (None, "", "none") else {expression: expression_offset}
        m = adjust_motion(m, head_scale, expression_scale, lip_scale, blink_scale,
                          (yaw_offset, pitch_offset, roll_offset), (x_offset, y_offset), scale_offset, offs)
        return m, _curves(m)


NODE_CLASS_MAPPINGS = {
    "SynchroRaMaA2MMotion": SynchroRaMaA2MMotion,
    "SynchroRaMaMotionFrames": SynchroRaMaMotionFrames,
    "SynchroRaMaSaveMotion": SynchroRaMaSaveMotion,
    "SynchroRaMaLoadMotion": SynchroRaMaLoadMotion,
    "SynchroRaMaMotionAdjust": SynchroRaMaMotionAdjust,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "SynchroRaMaA2MMotion": "SynchroRaMa A2M Motion",
    "SynchroRaMaMotionFrames": "SynchroRaMa Motion Frames",
    "SynchroRaMaSaveMotion": "SynchroRaMa Save Motion",
    "SynchroRaMaLoadMotion": "SynchroRaMa Load Motion",
    "SynchroRaMaMotionAdjust": "SynchroRaMa Motion Adjust",
}
