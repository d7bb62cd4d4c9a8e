"""Save any SynchroRaMa value to ComfyUI's output folder, and load one back (sharing, inspection)."""
from __future__ import annotations

import os

from synchrorama_core.types import SR_TYPES

from . import comfy_adapter as comfy
from .values import SR_EMOTION, SR_FACE, SR_MOTION, SR_SCENE, SR_SPEECH

CATEGORY = "SynchroRaMa/data"
_ORDER = (("speech", SR_SPEECH), ("emotion", SR_EMOTION), ("scene", SR_SCENE), ("motion", SR_MOTION),
          ("face", SR_FACE))


def _summary(kind: str, value) -> str:
    d = value.to_dict()
    keep = {k: d[k] for k in ("duration_s", "n_frames", "fps", "count", "backend", "generator", "prompt",
                              "mean_valence", "mean_arousal") if k in d}
    return f"{kind}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in keep.items())


class SynchroRaMaSaveData:
    """Write the connected SynchroRaMa values to the output folder (.json readable, or .safetensors)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "filename_prefix": ("STRING", {"default": "synchrorama/data"}),
                "format": (["json", "safetensors"], {"default": "json"}),
            },
            "optional": {name: (t,) for name, t in _ORDER},
        }

    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("summary",)
    FUNCTION = "save"
    OUTPUT_NODE = True
    CATEGORY = CATEGORY
    DESCRIPTION = ("Saves SR_SPEECH / SR_EMOTION / SR_SCENE / SR_MOTION / SR_FACE values (whichever are connected) "
                   "so they can be inspected, shared and loaded again with SynchroRaMa Load Data.")

    def save(self, filename_prefix="synchrorama/data", format="json", **values):
        lines, files = [], []
        for name, t in _ORDER:
            v = values.get(name)
            if v is None:
                continue
            path, fname, sub = comfy.save_path(f"{filename_prefix}_{name}", format)
            v.save(path)
            files.append({"filename": fname, "subfolder": sub, "type": "output"})
            lines.append(f"{_summary(t, v)} -> {os.path.join(sub, fname)}")
        if not lines:
            raise ValueError("SynchroRaMa Save Data: connect at least one SynchroRaMa value to save")
        text = "\n".join(lines)
        return {"ui": {"text": [text], "files": files}, "result": (text,)}


class SynchroRaMaLoadData:
    """Load a saved SynchroRaMa value (.json or .safetensors) from the input folder or a path."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "kind": (list(SR_TYPES), {"default": SR_SPEECH}),
            "path": ("STRING", {"default": "", "tooltip": "file in ComfyUI's input folder ('name [output]' for one "
                                                          "saved into the output folder, or a full path inside "
                                                          "ComfyUI's input/output/temp folders)"}),
        }}

    RETURN_TYPES = (SR_SPEECH, SR_EMOTION, SR_SCENE, SR_MOTION, SR_FACE)
    RETURN_NAMES = ("speech", "emotion", "scene", "motion", "face")
    FUNCTION = "load"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Loads a value saved by SynchroRaMa Save Data; only the output of the chosen kind is filled. "
                   "Reads only files inside ComfyUI's input, output and temp folders.")

    @classmethod
    def IS_CHANGED(cls, kind="", path="", **kwargs):
        """The file's content hash, so an edited file is loaded again."""
        return f"{kind}:{comfy.input_file_hash(path.strip())}" if path.strip() else kind

    def load(self, kind, path):
        if kind not in SR_TYPES:
            raise ValueError(f"unknown kind {kind!r}; choose one of {list(SR_TYPES)}")
        value = SR_TYPES[kind].load(comfy.input_path(path.strip()))
        return tuple(value if t == kind else None for _, t in _ORDER)


NODE_CLASS_MAPPINGS = {"SynchroRaMaSaveData": SynchroRaMaSaveData, "SynchroRaMaLoadData": SynchroRaMaLoadData}
NODE_DISPLAY_NAME_MAPPINGS = {"SynchroRaMaSaveData": "SynchroRaMa Save Data",
                              "SynchroRaMaLoadData": "SynchroRaMa Load Data"}
