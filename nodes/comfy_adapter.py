"""The one place where the node pack touches ComfyUI (DESIGN.md: Node API).

Inside ComfyUI this reaches ``folder_paths``, ``comfy.utils.ProgressBar`` and
``comfy.model_management``; standalone (tests, scripts) it falls back to plain folders, no
progress bar and no interruption, so every node can be imported and called without ComfyUI.
"""
from __future__ import annotations

import logging
import os
from typing import List, Optional, Sequence, Tuple

from synchrorama_core.errors import Cancelled
from synchrorama_core.models import MODEL_KINDS, default_dirs, list_models

log = logging.getLogger("synchrorama")

try:  # ComfyUI present?
    import folder_paths  # type: ignore
    HAS_COMFY = True
except ImportError:  # standalone
    folder_paths = None
    HAS_COMFY = False

#: ComfyUI ``folder_paths`` key of each SynchroRaMa model kind.
def folder_key(kind: str) -> str:
    return f"synchrorama_{kind}"


MODEL_EXTENSIONS = {".safetensors", ".json", ".task", ".tflite", ".bin", ".model", ".txt"}


def _register_folders() -> None:
    if not HAS_COMFY:
        return
    root = os.path.join(folder_paths.models_dir, "synchrorama")
    for kind in MODEL_KINDS:
        path = os.path.join(root, kind)
        key = folder_key(kind)
        if key in folder_paths.folder_names_and_paths:
            paths, exts = folder_paths.folder_names_and_paths[key]
            if path not in paths:
                paths.append(path)
        else:
            folder_paths.folder_names_and_paths[key] = ([path], set(MODEL_EXTENSIONS))
    # AnimateDiff motion modules: core ComfyUI has no such folder; AnimateDiff-Evolved adds one.
    if "animatediff_models" not in folder_paths.folder_names_and_paths:
        folder_paths.folder_names_and_paths["animatediff_models"] = (
            [os.path.join(folder_paths.models_dir, "animatediff_models")], {".safetensors", ".ckpt", ".pth"})


_register_folders()

#: Bundled samples copied into ComfyUI's input folder, so the shipped workflows run as they are.
SAMPLES = {"synchrorama_sample_portrait.jpg": "sample_portrait.jpg",
           "synchrorama_sample_speech.flac": "sample_speech.flac"}


def install_samples(dest: Optional[str] = None) -> List[str]:
    """Copy the bundled sample portrait and speech into the input folder (never overwrites)."""
    import shutil
    import synchrorama_core
    src_dir = os.path.join(os.path.dirname(synchrorama_core.__file__), "assets")
    dest = dest or input_dir()
    copied = []
    try:
        os.makedirs(dest, exist_ok=True)
        for name, src in SAMPLES.items():
            target = os.path.join(dest, name)
            if not os.path.exists(target) and os.path.isfile(os.path.join(src_dir, src)):
                shutil.copyfile(os.path.join(src_dir, src), target)
                copied.append(target)
    except OSError as e:  # a read-only input folder must not break loading the pack
        log.warning("SynchroRaMa: could not copy the sample files into %s: %s", dest, e)
    return copied


# ------------------------------------------------------------------ folders

def model_dirs(kind: str) -> List[str]:
    """Folders searched for models of ``kind``: ComfyUI's registered folders for a SynchroRaMa kind
    (``models/synchrorama/<kind>/``) or one of ComfyUI's own (``checkpoints``, ``controlnet``, ...);
    standalone, the core's default folders."""
    if HAS_COMFY:
        try:
            return list(folder_paths.get_folder_paths(folder_key(kind) if kind in MODEL_KINDS else kind))
        except KeyError:
            if kind not in MODEL_KINDS:
                return []
    return default_dirs(kind)


def list_model_dirs(kind: str) -> List[str]:
    """Model folders (with a config.json or a diffusers layout) under the folders of ``kind``, for combos."""
    return list_models(model_dirs(kind))


def list_model_files(kind: str, exts: Sequence[str] = (".safetensors",)) -> List[str]:
    """File names (relative, with sub-folders) of a model kind, for combo widgets."""
    if HAS_COMFY:
        try:
            key = folder_key(kind) if kind in MODEL_KINDS else kind
            return sorted(f for f in folder_paths.get_filename_list(key) if f.endswith(tuple(exts)))
        except KeyError:
            pass
    return list_models(model_dirs(kind), exts=exts, folder_markers=())


def input_dir() -> str:
    if HAS_COMFY:
        return folder_paths.get_input_directory()
    return os.path.abspath(os.environ.get("SYNCHRORAMA_INPUT", "input"))


def output_dir() -> str:
    if HAS_COMFY:
        return folder_paths.get_output_directory()
    return os.path.abspath(os.environ.get("SYNCHRORAMA_OUTPUT", "output"))


def temp_dir() -> str:
    if HAS_COMFY:
        return folder_paths.get_temp_directory()
    import tempfile
    return os.path.abspath(os.environ.get("SYNCHRORAMA_TEMP") or os.path.join(tempfile.gettempdir(), "synchrorama"))


def temp_file(prefix: str, ext: str) -> str:
    """A new, unique path in the temp folder (ComfyUI's ``temp/``: emptied when the server starts and stops)."""
    import uuid
    d = temp_dir()
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, f"{prefix}_{uuid.uuid4().hex[:12]}.{ext}")


def video_value(path: str):
    """Core ComfyUI's ``VIDEO`` value for an mp4 on disk: ``VideoFromFile`` (what Load Video returns
    and Save Video / Get Video Components take). Standalone, or in a ComfyUI older than the VIDEO
    type, a :class:`nodes.values.VideoFile` with the same reading methods."""
    if HAS_COMFY:
        try:
            from comfy_api.input_impl import VideoFromFile  # type: ignore
            return VideoFromFile(path)
        except ImportError:  # ComfyUI before the VIDEO type (spring 2025)
            log.debug("comfy_api.input_impl.VideoFromFile not available; using SynchroRaMa's VideoFile")
    from .values import VideoFile
    return VideoFile(path)


def input_files(exts: Sequence[str]) -> List[str]:
    """Files in the input folder with one of ``exts`` (like core LoadAudio's list)."""
    d = input_dir()
    if not os.path.isdir(d):
        return []
    exts = tuple(e.lower() for e in exts)
    if HAS_COMFY:
        files = folder_paths.filter_files_content_types(
            [f for f in os.listdir(d) if os.path.isfile(os.path.join(d, f))], ["audio", "video"])
        return sorted(f for f in files if f.lower().endswith(exts))
    return sorted(f for f in os.listdir(d) if f.lower().endswith(exts) and os.path.isfile(os.path.join(d, f)))


def input_path(name: str) -> str:
    """Absolute path of an input-folder file (annotated names like ``x.wav [input]`` work)."""
    if HAS_COMFY:
        return folder_paths.get_annotated_filepath(name)
    return name if os.path.isabs(name) else os.path.join(input_dir(), name)


def input_file_hash(name: str) -> str:
    """Content hash of an input-folder file (or absolute path), for ``IS_CHANGED``: an edited or
    replaced file runs the node again. ``""`` when there is no such file (the node reports that)."""
    import hashlib
    path = input_path(name)
    if not os.path.isfile(path):
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def input_exists(name: str) -> bool:
    if HAS_COMFY:
        return folder_paths.exists_annotated_filepath(name)
    return os.path.exists(input_path(name))


def save_path(prefix: str, ext: str, subfolder_out: Optional[str] = None) -> Tuple[str, str, str]:
    """A new, numbered output path: ``(full_path, filename, subfolder)``."""
    base = output_dir()
    if HAS_COMFY:
        full_dir, fname, counter, subfolder, _ = folder_paths.get_save_image_path(prefix, base)
    else:
        subfolder = os.path.dirname(prefix)
        fname = os.path.basename(prefix) or "synchrorama"
        full_dir = os.path.join(base, subfolder)
        os.makedirs(full_dir, exist_ok=True)
        existing = [f for f in os.listdir(full_dir) if f.startswith(fname + "_")]
        counter = len(existing) + 1
    os.makedirs(full_dir, exist_ok=True)
    while True:
        file = f"{fname}_{counter:05}_.{ext}"
        full = os.path.join(full_dir, file)
        if not os.path.exists(full):
            return full, file, subfolder
        counter += 1


# ------------------------------------------------------------------ progress and cancel

class Progress:
    """Core-style ``progress(done, total)`` and ``cancelled()`` callbacks backed by ComfyUI.

    ``with Progress(total) as p: core_fn(..., progress=p.update, cancelled=p.cancelled)``;
    a :class:`Cancelled` raised by the core becomes ComfyUI's interruption.
    """

    def __init__(self, total: int = 100, node_id: Optional[str] = None):
        self.total = max(int(total), 1)
        self.bar = None
        if HAS_COMFY:
            try:
                import comfy.utils  # type: ignore
                self.bar = comfy.utils.ProgressBar(self.total, node_id=node_id) if node_id else \
                    comfy.utils.ProgressBar(self.total)
            except Exception as e:  # an older ComfyUI without node_id, or no server
                log.debug("no ProgressBar: %s", e)

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update_absolute(int(done * self.total / max(total, 1)), self.total)

    @staticmethod
    def cancelled() -> bool:
        if HAS_COMFY:
            try:
                import comfy.model_management as mm  # type: ignore
                return bool(mm.processing_interrupted())
            except Exception:
                return False
        return False

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None and issubclass(et, Cancelled) and HAS_COMFY:
            import comfy.model_management as mm  # type: ignore
            raise mm.InterruptProcessingException() from ev
        return False


# ------------------------------------------------------------------ devices

def torch_device():
    """The device ComfyUI runs models on (standalone: CUDA if there is one, else CPU)."""
    if HAS_COMFY:
        try:
            import comfy.model_management as mm  # type: ignore
            return mm.get_torch_device()
        except Exception:
            pass
    from synchrorama_core.models import resolve_device
    return resolve_device("auto")


def free_memory() -> None:
    """Ask ComfyUI to unload its models before a large SynchroRaMa model runs."""
    if HAS_COMFY:
        try:
            import comfy.model_management as mm  # type: ignore
            mm.unload_all_models()
            mm.soft_empty_cache()
        except Exception as e:
            log.debug("could not free ComfyUI memory: %s", e)
