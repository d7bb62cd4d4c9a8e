"""Where model weights live, how they are found and listed, and the error when they are not there.

Nothing is ever downloaded.  A model-backed component is given either a path the user
typed, or a name that is looked up in the model folders of its *kind*:

* SynchroRaMa's own kinds (:data:`MODEL_KINDS`): inside ComfyUI ``ComfyUI/models/synchrorama/<kind>/``
  (registered by ``nodes/comfy_adapter``, which passes its folders in as ``search_dirs``);
  standalone ``$SYNCHRORAMA_MODELS/<kind>/`` if that variable is set, else
  ``./models/synchrorama/<kind>/``;
* ComfyUI's own kinds (:data:`COMFY_MODEL_KINDS`: checkpoints, ControlNets, AnimateDiff motion
  modules): ComfyUI's ``models/<kind>/`` folders; standalone ``$COMFYUI_MODELS/<kind>/``, else
  ``./models/<kind>/``.

When nothing is found, :class:`~synchrorama_core.errors.ModelNotFoundError` names the exact
path(s) expected and where such weights can be had.  :func:`list_models` lists what a folder
holds for pickers; :func:`resolve_device` picks the torch device a model runs on.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from .errors import ModelNotFoundError


@dataclass(frozen=True)
class ModelKind:
    """A kind of model: how messages name one and what belongs in its folder (with where to get it)."""

    what: str
    hint: str
    comfy: bool = False   # one of ComfyUI's own model folders (``models/<kind>``)


#: SynchroRaMa's model kinds (sub-folders of ``models/synchrorama/``).
MODEL_KINDS: Dict[str, ModelKind] = {
    "text_emotion": ModelKind(
        "text_emotion model",
        "a transformers text-classification (emotion/sentiment) model folder "
        "(config.json + model.safetensors + tokenizer files), e.g. from the Hugging Face Hub "
        "with `huggingface-cli download <repo> --local-dir <this folder>/<name>`"),
    "ser": ModelKind(
        "ser model",
        "a transformers audio-classification speech-emotion model folder (wav2vec2/HuBERT; "
        "config.json + model.safetensors + preprocessor_config.json), e.g. "
        "`huggingface-cli download superb/wav2vec2-base-superb-er --local-dir <this folder>/<name>` "
        "(more in docs/emotion.md)"),
    "va": ModelKind(
        "va model",
        "a transformers audio model with a regression head for valence/arousal "
        "(config.json + model.safetensors + preprocessor_config.json; outputs named valence/arousal; "
        "see docs/emotion.md for which models fit)"),
    "whisper": ModelKind(
        "whisper model",
        "a Whisper model folder for transcription (transformers format, safetensors), e.g. "
        "`huggingface-cli download openai/whisper-small --local-dir <this folder>/<name>`"),
    "llm": ModelKind(
        "llm model",
        "a local transformers causal-LM or image-text-to-text model folder for the scene describer "
        "(config.json + *.safetensors + tokenizer), e.g. "
        "`huggingface-cli download Qwen/Qwen2.5-1.5B-Instruct --local-dir <this folder>/<name>` "
        "(more in docs/scene.md)"),
    "a2m": ModelKind(
        "a2m model",
        "a SynchroRaMa neural A2M model: <name>/config.json + <name>/model.safetensors, "
        "trained with `python -m synchrorama_core.training.a2m`"),
    "face": ModelKind(
        "face model", "a face landmark model file (MediaPipe face_landmarker.task or face_landmark.tflite)"),
    "adapters": ModelKind(
        "adapters model",
        "SynchroRaMa diffusion adapters (.safetensors) trained with "
        "`python -m synchrorama_core.training.adapters`"),
}

#: ComfyUI's own model kinds the diffusion sampler reads (keys of ComfyUI's ``folder_paths``).
COMFY_MODEL_KINDS: Dict[str, ModelKind] = {
    "checkpoints": ModelKind(
        "checkpoint",
        "an SD1.5-family checkpoint (.safetensors single file, as in ComfyUI's models/checkpoints, "
        "or a diffusers folder with unet/, vae/, text_encoder/), e.g. v1-5-pruned-emaonly.safetensors "
        "from Hugging Face stable-diffusion-v1-5/stable-diffusion-v1-5 (sources: docs/diffusion.md)", comfy=True),
    "controlnet": ModelKind(
        "ControlNet",
        "a face-landmark ControlNet for SD1.5 (e.g. control_v2p_sd15_mediapipe_face.safetensors from "
        "Hugging Face CrucibleAI/ControlNetMediaPipeFace, or a diffusers ControlNet folder with "
        "config.json; sources: docs/diffusion.md)", comfy=True),
    "animatediff_models": ModelKind(
        "motion module",
        "an AnimateDiff motion module for SD1.5 as .safetensors (e.g. mm_sd15_v3.safetensors from Hugging Face "
        "conrevo/AnimateDiff-A1111; guoyww/animatediff's .ckpt files must be converted first), or a diffusers "
        "MotionAdapter folder; sources: docs/diffusion.md", comfy=True),
}

#: Files that mark a folder as one model (transformers / diffusers layouts) for :func:`list_models`.
MODEL_FOLDER_MARKERS = ("config.json", "model_index.json", "unet")


def model_kind(kind: str) -> ModelKind:
    k = MODEL_KINDS.get(kind) or COMFY_MODEL_KINDS.get(kind)
    if k is None:
        raise ValueError(f"unknown model kind {kind!r}; known: {sorted(MODEL_KINDS) + sorted(COMFY_MODEL_KINDS)}")
    return k


def default_models_root() -> str:
    """Standalone root of the SynchroRaMa model folders."""
    env = os.environ.get("SYNCHRORAMA_MODELS")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    return os.path.abspath(os.path.join("models", "synchrorama"))


def default_dirs(kind: str) -> List[str]:
    """Standalone folders of ``kind`` (inside ComfyUI the node adapter passes ComfyUI's own)."""
    if model_kind(kind).comfy:
        root = os.environ.get("COMFYUI_MODELS") or "models"
        return [os.path.join(os.path.abspath(os.path.expanduser(root)), kind)]
    return [os.path.join(default_models_root(), kind)]


def list_models(dirs: Sequence[str], exts: Sequence[str] = (),
                folder_markers: Sequence[str] = MODEL_FOLDER_MARKERS) -> List[str]:
    """Names of the models under ``dirs`` for pickers, relative to their folder with ``/``:
    every file ending in one of ``exts``, and every sub-folder holding one of ``folder_markers``
    (a model folder; nothing inside it is listed).  Sub-folders are searched."""
    out = set()
    exts, markers = tuple(exts), tuple(folder_markers)
    for d in dirs:
        if not d or not os.path.isdir(d):
            continue
        for root, subdirs, files in os.walk(d):
            rel = os.path.relpath(root, d)
            if rel != "." and markers and any(os.path.exists(os.path.join(root, m)) for m in markers):
                out.add(rel.replace(os.sep, "/"))
                subdirs[:] = []
                continue
            subdirs.sort()
            if exts:
                out.update(os.path.normpath(os.path.join(rel, f)).replace(os.sep, "/")
                           for f in files if f.endswith(exts))
    return sorted(out)


def resolve_model(kind: str, name_or_path: str, search_dirs: Optional[Sequence[str]] = None,
                  must_contain: Sequence[str] = ()) -> str:
    """Absolute path of a model folder or file.

    ``name_or_path`` is an existing path, or a name under one of ``search_dirs`` (default:
    :func:`default_dirs`).  ``must_contain`` lists files that must be inside a model folder
    (e.g. ``("config.json",)``).  Raises :class:`ModelNotFoundError` naming every path tried.
    """
    k = model_kind(kind)
    name_or_path = (name_or_path or "").strip()
    dirs = [d for d in (search_dirs or ()) if d] or default_dirs(kind)
    if not name_or_path:
        where = dirs[0] if k.comfy else f"{dirs[0]}/<name>/"
        raise ModelNotFoundError(f"no {k.what} selected. Put {k.hint} into {where} and pick it, "
                                 f"or type the model's full path")
    expanded = os.path.abspath(os.path.expanduser(name_or_path))
    if os.path.isabs(os.path.expanduser(name_or_path)):
        candidates = [expanded]
    else:
        candidates = [os.path.join(d, name_or_path) for d in dirs] + [expanded]
    for c in candidates:
        if os.path.exists(c):
            missing = [m for m in must_contain if os.path.isdir(c) and not os.path.exists(os.path.join(c, m))]
            if missing:
                raise ModelNotFoundError(f"{k.what} folder {c} is incomplete: missing {', '.join(missing)}. "
                                         f"It should hold {k.hint}")
            return os.path.abspath(c)
    raise ModelNotFoundError(
        f"{k.what} {name_or_path!r} not found. Expected it at {candidates[0]}"
        + (f" (also tried {', '.join(candidates[1:])})" if len(candidates) > 1 else "")
        + f". Put {k.hint} there; weights are never downloaded automatically")


def _load_errors() -> tuple:
    """Errors a model loader reports as "cannot load this model": besides OSError/ValueError, the one
    safetensors raises for a damaged or fake .safetensors file (e.g. a pickle renamed to it)."""
    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover - safetensors is a dependency
        return ()
    return (SafetensorError,)


#: see :func:`_load_errors`
LOAD_ERRORS = _load_errors()


def load_transformers(kind: str, name_or_path: str, search_dirs: Optional[Sequence[str]], model_cls,
                      processor_cls, *, processor_files: str, model_desc: str, device=None):
    """Load a transformers model folder of ``kind`` offline, safetensors weights only.

    Returns ``(model, processor, path, device, loading_info)``; the model is on ``device``
    (:func:`resolve_device`) in eval mode.  A missing folder, processor (``processor_files`` says
    which files) or model (``model_desc`` says what kind) raises :class:`ModelNotFoundError` naming
    the folder.
    """
    path = resolve_model(kind, name_or_path, search_dirs, must_contain=("config.json",))
    what = model_kind(kind).what
    try:
        processor = processor_cls.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, TypeError) as e:
        raise ModelNotFoundError(f"{what} folder {path} has no usable {processor_files}: {e}") from e
    try:
        model, info = model_cls.from_pretrained(path, local_files_only=True, use_safetensors=True,
                                                output_loading_info=True)
    except (OSError, ValueError, *LOAD_ERRORS) as e:
        raise ModelNotFoundError(f"cannot load the {what} in {path} (it needs config.json and model.safetensors "
                                 f"of {model_desc}): {e}") from e
    dev = resolve_device(device)
    model.to(dev).eval()
    return model, processor, path, dev, info


def resolve_device(device=None):
    """The torch device a model runs on: ``None``/``""``/``"auto"`` -> CUDA when available, else CPU."""
    import torch
    if device is None or device == "" or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device) if not isinstance(device, torch.device) else device


__all__ = ["COMFY_MODEL_KINDS", "LOAD_ERRORS", "MODEL_FOLDER_MARKERS", "MODEL_KINDS", "ModelKind", "default_dirs",
           "default_models_root", "list_models", "load_transformers", "model_kind", "resolve_device",
           "resolve_model"]
