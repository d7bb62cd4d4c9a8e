"""Where model weights live, and the error when they are not there.

Nothing is ever downloaded.  A model-backed component is given either a path the user
typed, or a name that is looked up in the model folders of its *kind*:

* inside ComfyUI, ``ComfyUI/models/synchrorama/<kind>/`` (registered by ``nodes/comfy_adapter``,
  which passes its folders in as ``search_dirs``);
* standalone, ``$SYNCHRORAMA_MODELS/<kind>/`` if that variable is set, else
  ``./models/synchrorama/<kind>/``.

When nothing is found, :class:`~synchrorama_core.errors.ModelNotFoundError` names the exact
path(s) expected and where such weights can be had.
"""
from __future__ import annotations

import os
from typing import Dict, Iterable, List, Optional, Sequence

from .errors import ModelNotFoundError

#: Model kinds (sub-folders of ``models/synchrorama/``) and what belongs in each.
MODEL_KINDS: Dict[str, str] = {
    "text_emotion": "a transformers text-classification (emotion/sentiment) model folder "
                    "(config.json + model.safetensors + tokenizer files), e.g. from the Hugging Face Hub "
                    "with `huggingface-cli download <repo> --local-dir <this folder>/<name>`",
    "ser": "a transformers audio-classification speech-emotion model folder (wav2vec2/HuBERT; "
           "config.json + model.safetensors + preprocessor_config.json), e.g. "
           "`huggingface-cli download superb/wav2vec2-base-superb-er --local-dir <this folder>/<name>` "
           "(more in docs/emotion.md)",
    "va": "a transformers audio model with a regression head for valence/arousal "
          "(config.json + model.safetensors + preprocessor_config.json; outputs named valence/arousal; "
          "see docs/emotion.md for which models fit)",
    "whisper": "a Whisper model folder for transcription (transformers format, safetensors), e.g. "
               "`huggingface-cli download openai/whisper-small --local-dir <this folder>/<name>`",
    "llm": "a local transformers causal-LM or image-text-to-text model folder for the scene describer "
           "(config.json + *.safetensors + tokenizer), e.g. "
           "`huggingface-cli download Qwen/Qwen2.5-1.5B-Instruct --local-dir <this folder>/<name>` "
           "(more in docs/scene.md)",
    "a2m": "a SynchroRaMa neural A2M model: <name>/config.json + <name>/model.safetensors, "
           "trained with `python -m synchrorama_core.motion.train`",
    "face": "a face landmark model file (MediaPipe face_landmarker.task or face_landmark.tflite)",
    "adapters": "SynchroRaMa diffusion adapters (.safetensors) trained with "
                "`python -m synchrorama_core.diffusion.train`",
}


def default_models_root() -> str:
    """Standalone root of the SynchroRaMa model folders."""
    env = os.environ.get("SYNCHRORAMA_MODELS")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    return os.path.abspath(os.path.join("models", "synchrorama"))


def default_dirs(kind: str) -> List[str]:
    return [os.path.join(default_models_root(), kind)]


def list_models(kind: str, search_dirs: Optional[Sequence[str]] = None,
                files: bool = False, exts: Iterable[str] = ()) -> List[str]:
    """Names of the models of ``kind``: sub-folders (default) or files with ``exts``."""
    exts = tuple(exts)
    names = set()
    for d in (search_dirs or default_dirs(kind)):
        if not os.path.isdir(d):
            continue
        for entry in os.listdir(d):
            p = os.path.join(d, entry)
            if files and os.path.isfile(p) and (not exts or entry.endswith(exts)):
                names.add(entry)
            elif not files and os.path.isdir(p):
                names.add(entry)
    return sorted(names)


def resolve_model(kind: str, name_or_path: str, search_dirs: Optional[Sequence[str]] = None,
                  must_contain: Sequence[str] = ()) -> str:
    """Absolute path of a model folder or file.

    ``name_or_path`` is an existing path, or a name under one of ``search_dirs`` (default:
    :func:`default_dirs`).  ``must_contain`` lists files that must be inside a model folder
    (e.g. ``("config.json",)``).  Raises :class:`ModelNotFoundError` naming every path tried.
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known: {sorted(MODEL_KINDS)}")
    name_or_path = (name_or_path or "").strip()
    dirs = list(search_dirs or default_dirs(kind))
    if not name_or_path:
        raise ModelNotFoundError(
            f"no {kind} model selected. Put {MODEL_KINDS[kind]} into {dirs[0]}/<name>/ and pick it, "
            f"or type the model's full path")
    tried: List[str] = []
    expanded = os.path.abspath(os.path.expanduser(name_or_path))
    candidates = [expanded] if os.path.isabs(os.path.expanduser(name_or_path)) else []
    candidates += [os.path.join(d, name_or_path) for d in dirs]
    if not os.path.isabs(os.path.expanduser(name_or_path)):
        candidates.append(expanded)
    for c in candidates:
        tried.append(c)
        if os.path.exists(c):
            missing = [m for m in must_contain if os.path.isdir(c) and not os.path.exists(os.path.join(c, m))]
            if missing:
                raise ModelNotFoundError(
                    f"{kind} model folder {c} is incomplete: missing {', '.join(missing)}. "
                    f"It should hold {MODEL_KINDS[kind]}")
            return c
    raise ModelNotFoundError(
        f"{kind} model {name_or_path!r} not found. Expected it at {tried[0]}"
        + (f" (also tried {', '.join(tried[1:])})" if len(tried) > 1 else "")
        + f". Put {MODEL_KINDS[kind]} there; weights are never downloaded automatically")
