"""The one place where the node pack touches ComfyUI (see docs/architecture.md).

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
           "synchrorama_sample_speech.flac": "sample_speech.flac",
           "synchrorama_sample_conversation.jpg": "sample_conversation.jpg",
           "synchrorama_sample_conversation.flac": "sample_conversation.flac"}


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


ANNOTATIONS = {"[input]": "input", "[output]": "output", "[temp]": "temp"}


class OutsideFoldersError(ValueError):
    """A node was asked to read or write a file outside ComfyUI's input, output and temp folders."""


def _folder(kind: str) -> str:
    return {"input": input_dir, "output": output_dir, "temp": temp_dir}[kind]()


def _inside(path: str, folder: str) -> bool:
    folder = os.path.abspath(folder)
    try:
        return os.path.commonpath([os.path.abspath(path), folder]) == folder
    except ValueError:  # another drive (Windows)
        return False


def input_path(name: str) -> str:
    """Absolute path of a file a node reads, by one rule (see README, "Which files the nodes read"):

    * a relative name is looked up in the input folder, or in the folder its annotation names
      (``x.wav [input]``, ``x.json [output]``, ``x.png [temp]``: ComfyUI's own annotated names);
    * an absolute path is accepted only inside ComfyUI's input, output or temp folder;
    * the result must stay inside that folder: ``../x``, ``sub/../../x`` and ``~`` are refused.

    Raises :class:`OutsideFoldersError` (a ``ValueError``) otherwise.  Symbolic links the user put
    into those folders are followed as they are (the check is on the path, like ComfyUI's own)."""
    raw = str(name or "").strip()
    base, kind = raw, None
    for tag, k in ANNOTATIONS.items():
        if raw.endswith(tag):
            base, kind = raw[:-len(tag)].rstrip(), k
            break
    if "\0" in base:
        raise OutsideFoldersError(f"file name {raw!r} holds a NUL character")
    folders = {k: _folder(k) for k in ("input", "output", "temp")}
    if os.path.isabs(base) or base.startswith("~"):
        allowed = [] if kind is not None or base.startswith("~") else list(folders.values())
        path = os.path.abspath(base)
    else:
        allowed = [folders[kind or "input"]]
        path = os.path.abspath(os.path.join(allowed[0], base))
    if not any(_inside(path, f) for f in allowed):
        raise OutsideFoldersError(
            f"{raw!r} is outside ComfyUI's input folder ({folders['input']}); nodes read only files in the input "
            f"folder, or in the output/temp folder when named 'name [output]' / 'name [temp]' (or by a full path "
            f"inside one of them). Copy the file into the input folder")
    return path


def input_file_hash(name: str) -> str:
    """Content hash of an input-folder file (see :func:`input_path`), for ``IS_CHANGED``: an edited or
    replaced file runs the node again. ``""`` when there is no such file, or it is outside the allowed
    folders (it is not read; the node reports that)."""
    import hashlib
    try:
        path = input_path(name)
    except OutsideFoldersError:
        return ""
    if not os.path.isfile(path):
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_input(name: str, what: str = "file"):
    """``VALIDATE_INPUTS`` answer for a file a node reads: ``True`` or the reason it cannot be read."""
    try:
        path = input_path(name)
    except OutsideFoldersError as e:
        return str(e)
    if not os.path.isfile(path):
        return f"{what} not found: {name} (looked for {path})"
    return True


def save_path(prefix: str, ext: str, subfolder_out: Optional[str] = None) -> Tuple[str, str, str]:
    """A new, numbered output path: ``(full_path, filename, subfolder)``; a prefix that would leave the
    output folder (``../x``, an absolute path) raises :class:`OutsideFoldersError`."""
    base = output_dir()
    target = os.path.abspath(os.path.join(base, os.path.normpath(str(prefix or ""))))
    if os.path.isabs(str(prefix or "")) or not _inside(target, base):
        raise OutsideFoldersError(f"filename_prefix {prefix!r} is outside ComfyUI's output folder ({base}); "
                                  f"use a name like 'synchrorama/clip' (sub-folders of the output folder only)")
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


def image_frames(n: int, height: int, width: int, fill, node_id: Optional[str] = None, zeros: bool = False):
    """A ComfyUI IMAGE ``[n, height, width, 3]`` (float32; ``zeros``: cleared first) that ``fill(out=...,
    progress=..., cancelled=...)`` (a core function writing frames into the numpy view ``out``) fills in
    place, with the progress bar and cancel of :class:`Progress`: no second copy of the frames."""
    import torch
    images = (torch.zeros if zeros else torch.empty)((n, height, width, 3), dtype=torch.float32)
    with Progress(max(n, 1), node_id) as p:
        fill(out=images.numpy(), progress=p.update, cancelled=p.cancelled)
    return images


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
