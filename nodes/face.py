"""Face stage node: SynchroRaMa Face Analysis (IMAGE portraits -> SR_FACE)."""
from __future__ import annotations

import numpy as np

from synchrorama_core.face import analyze_faces, draw_face_preview

from . import comfy_adapter as comfy
from .values import SR_FACE, image_to_list, list_to_image

CATEGORY = "SynchroRaMa/face"
BUNDLED = "(bundled MediaPipe models)"


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
                unique_id=None):
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
                                 search_dirs=comfy.model_dirs("face"), progress=p.update, cancelled=p.cancelled)
        return face, list_to_image(_previews(face))


def _previews(face):
    """All references with their mesh drawn, padded to a common size (black)."""
    h = max(im.shape[0] for im in face.images)
    w = max(im.shape[1] for im in face.images)
    out = np.zeros((face.count, h, w, 3), np.float32)
    for i, (im, lm, box) in enumerate(zip(face.images, face.landmarks, face.boxes)):
        out[i, :im.shape[0], :im.shape[1]] = draw_face_preview(im, lm, box)
    return out


NODE_CLASS_MAPPINGS = {"SynchroRaMaFaceAnalysis": SynchroRaMaFaceAnalysis}
NODE_DISPLAY_NAME_MAPPINGS = {"SynchroRaMaFaceAnalysis": "SynchroRaMa Face Analysis"}
