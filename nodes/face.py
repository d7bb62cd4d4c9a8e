"""Face stage nodes: SynchroRaMa Face Analysis (IMAGE portraits -> SR_FACE, one person) and Find Faces
(one picture -> SR_CAST, every person, for conversations)."""
from __future__ import annotations

import numpy as np

from synchrorama_core.face import POSITIONS, analyze_cast, analyze_faces, draw_face_preview

from . import comfy_adapter as comfy
from .values import SR_CAST, SR_FACE, image_to_list, list_to_image

CATEGORY = "SynchroRaMa/face"
BUNDLED = "(bundled MediaPipe models)"
BY_INDEX = "by face_index"


def _model_choices():
    return [BUNDLED] + comfy.list_model_files("face", exts=(".task", ".tflite"))


class SynchroRaMaFaceAnalysis:
    """Find the face in one or more reference portraits and measure MediaPipe's 478 landmarks."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "reference portrait(s); a batch gives several references"}),
                "face_index": ("INT", {"default": -1, "min": -1, "max": 64,
                                       "tooltip": "-1: the largest face; 0, 1, ...: faces counted from the left"}),
            },
            "optional": {
                "image_2": ("IMAGE", {"tooltip": "another reference (any size)"}),
                "image_3": ("IMAGE", {"tooltip": "another reference (any size)"}),
                "image_4": ("IMAGE", {"tooltip": "another reference (any size)"}),
                "model": (_model_choices(), {"default": BUNDLED,
                                             "tooltip": "face models: the bundled MediaPipe 0.10.21 models, or a "
                                                        "file in models/synchrorama/face/ (face_landmarker.task "
                                                        "or a landmark .tflite)"}),
                "position": ([BY_INDEX] + list(POSITIONS), {"default": BY_INDEX,
                                                           "tooltip": "pick the face by its place in the picture "
                                                                      "instead of face_index: the largest, the "
                                                                      "leftmost, rightmost, the one nearest the "
                                                                      "centre, the topmost or bottommost"}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = (SR_FACE, "IMAGE")
    RETURN_NAMES = ("face", "preview")
    FUNCTION = "analyze"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Detects the face in each reference portrait and measures the 478-point MediaPipe face mesh "
                   "(with depth and irises) offline on the CPU. Several references (a batch, or image_2..4 of other "
                   "sizes) let the renderer pick the best-matching expression per frame. A reference over 1024 px "
                   "is kept as a head-and-shoulders crop around the face scaled to 1024 px (a warning says so), "
                   "so the later nodes and the video stay that size. 'preview' shows the mesh.")

    def analyze(self, image, face_index=-1, image_2=None, image_3=None, image_4=None, model=BUNDLED,
                position=None, unique_id=None):
        refs, names = [], []
        for slot, value in (("image", image), ("image_2", image_2), ("image_3", image_3), ("image_4", image_4)):
            if value is None:
                continue
            for b, im in enumerate(image_to_list(value)):
                refs.append(im)
                names.append(f"{slot}[{b}]" if len(value) > 1 else slot)
        name = "" if model in (None, "", BUNDLED) else model
        with comfy.Progress(len(refs), unique_id) as p:
            face = analyze_faces(refs, face_index=face_index, sources=names, model=name,
                                 search_dirs=comfy.model_dirs("face"), progress=p.update, cancelled=p.cancelled,
                                 position=None if position in (None, "", BY_INDEX) else position)
        return face, list_to_image(_previews(face))


def _indices(text: str):
    """``"1, 0"`` -> ``[1, 0]``; empty -> None."""
    parts = [p.strip() for p in str(text or "").replace(";", ",").split(",") if p.strip()]
    try:
        return [int(p) for p in parts] or None
    except ValueError:
        raise ValueError(f"face_indices must be numbers separated by commas (faces counted from 0 on the left), "
                         f"got {text!r}") from None


class SynchroRaMaFindFaces:
    """Every face of one picture, for a conversation: an SR_CAST (people left to right, or as assigned)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "the picture with every speaker's face (first image of a batch); "
                                               "compose separate portraits side by side first"}),
                "face_indices": ("STRING", {"default": "",
                                            "tooltip": "which faces are the speakers, in speaker order, as numbers "
                                                       "counted from 0 on the left ('1, 0' swaps two people); empty: "
                                                       "every face, left to right"}),
                "speakers": ("INT", {"default": 0, "min": 0, "max": 4,
                                     "tooltip": "how many speakers (the faces from the left); 0: every face found"}),
            },
            "optional": {
                "names": ("STRING", {"default": "", "multiline": True,
                                     "tooltip": "how the scene text names each person, one per line (default by "
                                                "place: 'the person on the left', ...)"}),
                "model": (_model_choices(), {"default": BUNDLED, "tooltip": "face models (see Face Analysis)"}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = (SR_CAST, "IMAGE")
    RETURN_NAMES = ("cast", "preview")
    FUNCTION = "find"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Finds every face in one picture (also small faces in a wide one) and measures each one's 478 "
                   "landmarks: an SR_CAST whose people are numbered 0, 1, ... from the left, or picked and ordered "
                   "by face_indices. Connect it to SynchroRaMa Conversation, which gives each person their speech "
                   "and motion. 'preview' shows every person's mesh.")

    def find(self, image, face_indices="", speakers=0, names="", model=BUNDLED, unique_id=None):
        pics = image_to_list(image)
        name = "" if model in (None, "", BUNDLED) else model
        people = [n.strip() for n in str(names or "").splitlines() if n.strip()] or None
        with comfy.Progress(2, unique_id) as p:
            cast = analyze_cast(pics[0], face_indices=_indices(face_indices), count=int(speakers) or None,
                                names=people, source="image", model=name, search_dirs=comfy.model_dirs("face"),
                                progress=p.update, cancelled=p.cancelled)
        prev = cast.image
        for k in range(cast.count):
            prev = draw_face_preview(prev, cast.landmarks[k], cast.boxes[k])
        return cast, list_to_image(prev[None])


def _previews(face):
    """All references with their mesh drawn, padded to a common size (black)."""
    h = max(im.shape[0] for im in face.images)
    w = max(im.shape[1] for im in face.images)
    out = np.zeros((face.count, h, w, 3), np.float32)
    for i, (im, lm, box) in enumerate(zip(face.images, face.landmarks, face.boxes)):
        out[i, :im.shape[0], :im.shape[1]] = draw_face_preview(im, lm, box)
    return out


class SynchroRaMaCastPerson:
    """One person of a cast as an SR_FACE (for a speaker's Scene Describer, Motion Frames or Video Sampler)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "cast": (SR_CAST, {"tooltip": "the people of one picture (SynchroRaMa Find Faces)"}),
            "person": ("INT", {"default": 0, "min": 0, "max": 63,
                               "tooltip": "which person: 0 is speaker 1 (the leftmost face unless face_indices "
                                          "reordered them)"}),
        }}

    RETURN_TYPES = (SR_FACE, "STRING")
    RETURN_NAMES = ("face", "name")
    FUNCTION = "pick"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Person k of an SR_CAST as a one-person SR_FACE (the shared picture and their landmarks), and "
                   "their name.")

    def pick(self, cast, person=0):
        return cast.person(int(person)), cast.names[int(person)]


NODE_CLASS_MAPPINGS = {"SynchroRaMaFaceAnalysis": SynchroRaMaFaceAnalysis, "SynchroRaMaFindFaces": SynchroRaMaFindFaces,
                       "SynchroRaMaCastPerson": SynchroRaMaCastPerson}
NODE_DISPLAY_NAME_MAPPINGS = {"SynchroRaMaFaceAnalysis": "SynchroRaMa Face Analysis",
                              "SynchroRaMaFindFaces": "SynchroRaMa Find Faces (conversation)",
                              "SynchroRaMaCastPerson": "SynchroRaMa Cast Person"}
