"""Local transformers scene backend: a chat model from a folder, on the GPU when there is one.

Two kinds of model folder (``models/synchrorama/llm/<name>/``, transformers format, safetensors
weights only):

* **text** causal LMs (``AutoModelForCausalLM`` + tokenizer; its chat template when it has one);
* **vision** image-text-to-text models (``AutoModelForImageTextToText`` + ``AutoProcessor``), which
  also see the reference portrait(s).

``model_type="auto"`` picks vision when the architecture is an image-text-to-text one and the
folder has a processor config, else text.  Decoding is greedy (deterministic); ``time_limit_s``
stops generation early (0 = no limit), ``cancelled()`` stops it at the next token.
"""
from __future__ import annotations

import glob
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from ..errors import Cancelled, ModelNotFoundError
from ..models import LOAD_ERRORS, resolve_model
from .errors import SceneBackendError, SceneConfigError
from .http_backend import Reply

log = logging.getLogger("synchrorama.scene")

MODEL_TYPES = ("auto", "text", "vision")
DTYPES = ("auto", "float32", "float16", "bfloat16")
_PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")


def _transformers():
    import transformers
    return transformers


def _dtype_kw() -> str:
    """``dtype`` (transformers >= 4.56) or ``torch_dtype`` (older) for ``from_pretrained``."""
    tf = _transformers()
    try:
        major, minor = (int(x) for x in tf.__version__.split(".")[:2])
    except ValueError:
        return "dtype"
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def _image_text_class():
    tf = _transformers()
    cls = getattr(tf, "AutoModelForImageTextToText", None) or getattr(tf, "AutoModelForVision2Seq", None)
    if cls is None:
        raise SceneConfigError("this transformers version has no image-text-to-text auto class; "
                               "update transformers (>= 4.46) or use a text-only model")
    return cls


def detect_model_type(path: str) -> str:
    """``"vision"`` or ``"text"`` for a model folder (see the module docstring)."""
    tf = _transformers()
    try:
        cfg = tf.AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    except Exception as e:  # noqa: BLE001 - unknown architecture, broken config
        raise SceneConfigError(f"cannot read the model config in {path}: {e}. The folder must hold a transformers "
                               f"model (config.json) of an architecture this transformers version knows") from e
    mt = getattr(cfg, "model_type", "")
    try:
        from transformers.models.auto import modeling_auto as ma
        vision_names = getattr(ma, "MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES", {}) or \
            getattr(ma, "MODEL_FOR_VISION_2_SEQ_MAPPING_NAMES", {})
        causal_names = getattr(ma, "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES", {})
    except ImportError:
        vision_names, causal_names = {}, {}
    has_proc = any(os.path.isfile(os.path.join(path, f)) for f in _PROCESSOR_FILES)
    if mt in vision_names and (has_proc or mt not in causal_names):
        return "vision"
    if mt in causal_names:
        return "text"
    raise SceneConfigError(f"the model in {path} ({mt or 'unknown type'}) is neither a causal LM nor an "
                           f"image-text-to-text model; the scene describer needs a chat/instruct model")


def resolve_llm(name_or_path: str, search_dirs: Optional[Sequence[str]] = None) -> str:
    """The folder of a local scene model; :class:`ModelNotFoundError` names where it should be."""
    path = resolve_model("llm", name_or_path, search_dirs, must_contain=("config.json",))
    if not os.path.isdir(path):
        raise ModelNotFoundError(f"{path} is a file; the scene describer needs a transformers model folder "
                                 f"(config.json, tokenizer files, *.safetensors)")
    if not glob.glob(os.path.join(path, "*.safetensors")):
        raise ModelNotFoundError(f"no .safetensors weights in {path}. Only safetensors weights are loaded "
                                 f"(pickled .bin/.pt files are refused); download the model's safetensors files")
    return path


@dataclass
class LocalBackend:
    """A transformers chat model loaded from ``path`` (see the module docstring)."""

    path: str
    device: Any = "cpu"
    dtype: str = "auto"
    model_type: str = "auto"
    max_new_tokens: int = 1024
    send_images: bool = True
    time_limit_s: float = 0.0
    model: Any = field(default=None, repr=False)
    tokenizer: Any = field(default=None, repr=False)
    processor: Any = field(default=None, repr=False)

    name = "local"

    def __post_init__(self):
        if self.model_type not in MODEL_TYPES:
            raise SceneConfigError(f"model_type must be one of {MODEL_TYPES}, got {self.model_type!r}")
        if self.dtype not in DTYPES:
            raise SceneConfigError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        self.max_new_tokens = int(self.max_new_tokens)
        if self.max_new_tokens < 1:
            raise SceneConfigError("max_new_tokens must be at least 1")
        self.time_limit_s = max(0.0, float(self.time_limit_s))
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return f"local model {os.path.basename(os.path.normpath(self.path))!r}"

    @property
    def is_vision(self) -> bool:
        return self.processor is not None

    # ------------------------------------------------------------------ loading

    def load(self) -> "LocalBackend":
        """Load the model and tokenizer/processor (once)."""
        if self.model is not None:
            return self
        import torch
        tf = _transformers()
        detected = detect_model_type(self.path)
        kind = detected if self.model_type == "auto" else self.model_type
        if kind == "vision" and detected != "vision":
            raise SceneConfigError(f"model_type is 'vision' but the model in {self.path} is not an image-text-to-text "
                                   f"model with a processor; choose 'auto' or 'text'")
        dev = torch.device(self.device) if not isinstance(self.device, torch.device) else self.device
        if self.dtype == "auto":
            dt = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if dev.type == "cuda" \
                else torch.float32
        else:
            dt = getattr(torch, self.dtype)
        kw = {"local_files_only": True, "use_safetensors": True, "trust_remote_code": False, _dtype_kw(): dt}
        try:
            if kind == "vision":
                self.processor = tf.AutoProcessor.from_pretrained(self.path, local_files_only=True,
                                                                  trust_remote_code=False)
                self.tokenizer = getattr(self.processor, "tokenizer", None)
                self.model = _image_text_class().from_pretrained(self.path, **kw)
            else:
                self.tokenizer = tf.AutoTokenizer.from_pretrained(self.path, local_files_only=True,
                                                                  trust_remote_code=False)
                self.model = tf.AutoModelForCausalLM.from_pretrained(self.path, **kw)
        except (OSError, ValueError, KeyError, *LOAD_ERRORS) as e:
            self.model = self.tokenizer = self.processor = None
            msg = " ".join(str(e).split())
            msg = msg[:300] + ("..." if len(msg) > 300 else "")
            raise ModelNotFoundError(f"cannot load the {kind} model in {self.path}: {msg}. It needs config.json, "
                                     f"*.safetensors and the tokenizer{' and processor' if kind == 'vision' else ''} "
                                     f"files of a transformers chat model") from e
        self.model.to(dev).eval()
        self._device = dev
        self.kind = kind
        log.info("scene: loaded %s model %s on %s (%s)", kind, self.path, dev, dt)
        return self

    # ------------------------------------------------------------------ prompting

    def _text_inputs(self, messages: Sequence[Dict[str, Any]]):
        tok = self.tokenizer
        msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
        if getattr(tok, "chat_template", None):
            try:
                return tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            except Exception as e:  # noqa: BLE001 - e.g. templates without a system role
                log.debug("chat template refused the messages (%s); folding the system message into the user's", e)
                msgs = _fold_system(msgs)
                return tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        text = "".join(f"{m['role'].capitalize()}: {m['content']}\n\n" for m in msgs) + "Assistant: "
        return tok(text, return_tensors="pt")

    def _vision_inputs(self, messages: Sequence[Dict[str, Any]], images: Sequence[np.ndarray]):
        from PIL import Image
        pil = [Image.fromarray((np.clip(np.asarray(im, np.float32)[..., :3], 0, 1) * 255 + 0.5).astype(np.uint8))
               for im in images]
        msgs: List[Dict[str, Any]] = []
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        for i, m in enumerate(messages):
            parts: List[Dict[str, Any]] = [{"type": "text", "text": m["content"]}]
            if i == last_user:
                parts += [{"type": "image"} for _ in pil]
            msgs.append({"role": m["role"], "content": parts})
        proc = self.processor
        try:
            text = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        except Exception:  # noqa: BLE001 - templates without a system role
            text = proc.apply_chat_template(_fold_system(msgs), add_generation_prompt=True, tokenize=False)
        if pil:
            return proc(text=[text], images=pil, return_tensors="pt")
        return proc(text=[text], return_tensors="pt")

    # ------------------------------------------------------------------ generation

    def complete(self, messages: Sequence[Dict[str, Any]], images: Sequence[np.ndarray] = (), seed: int = 0,
                 cancelled: Optional[Callable[[], bool]] = None,
                 progress: Optional[Callable[[int, int], None]] = None) -> Reply:
        """Greedy chat completion of ``messages`` (images only for vision models)."""
        import torch
        self.load()
        start = time.monotonic()
        imgs = list(images) if (self.is_vision and self.send_images) else []
        with self._lock:
            enc = self._vision_inputs(messages, imgs) if self.is_vision else self._text_inputs(messages)
            enc = {k: (v.to(self._device) if hasattr(v, "to") else v) for k, v in dict(enc).items()}
            if "pixel_values" in enc and enc["pixel_values"].is_floating_point():
                enc["pixel_values"] = enc["pixel_values"].to(self.model.dtype)
            n_in = int(enc["input_ids"].shape[1])
            limit = _max_positions(self.model.config)
            if limit and n_in >= limit:
                raise SceneBackendError(f"the prompt has {n_in} tokens but {self.label} takes at most {limit}; "
                                        f"use a shorter transcript or a model with a longer context", "model")
            max_new = self.max_new_tokens if not limit else max(1, min(self.max_new_tokens, limit - n_in))
            stop = _Stop(max_new, cancelled, progress,
                         start + self.time_limit_s if self.time_limit_s > 0 else None)
            gen_cfg = self._generation_config(max_new)
            torch.manual_seed(int(seed))
            try:
                with torch.inference_mode():
                    out = self.model.generate(**enc, generation_config=gen_cfg,
                                              stopping_criteria=_stopping_list([stop]))
            except Cancelled:
                raise
            except (RuntimeError, ValueError, IndexError) as e:
                raise SceneBackendError(f"{self.label} failed while generating: {e}", "model") from e
        if stop.was_cancelled:
            raise Cancelled("scene description cancelled by the user during generation")
        new = out[0, n_in:]
        dec = self.processor if self.is_vision else self.tokenizer
        text = dec.decode(new, skip_special_tokens=True)
        info = {"prompt_tokens": n_in, "new_tokens": int(new.shape[0]), "elapsed_s": round(time.monotonic() - start, 3),
                "model": self.path, "device": str(self._device), "kind": self.kind, "images": len(imgs)}
        if stop.timed_out:
            info["note"] = f"generation stopped by the time limit of {self.time_limit_s:g} s"
        return Reply(text, info)

    def _generation_config(self, max_new: int):
        import copy
        tf = _transformers()
        base = getattr(self.model, "generation_config", None)
        cfg = copy.deepcopy(base) if base is not None else tf.GenerationConfig()
        # greedy: drop sampling settings so nothing random (or warned about) remains
        cfg.do_sample = False
        cfg.num_beams = 1
        for k in ("temperature", "top_p", "top_k", "min_p", "typical_p"):
            if hasattr(cfg, k):
                setattr(cfg, k, None)
        cfg.max_new_tokens = int(max_new)
        cfg.max_length = None
        tok = self.tokenizer
        if cfg.pad_token_id is None and tok is not None:
            cfg.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else (
                tok.eos_token_id if cfg.eos_token_id is None else cfg.eos_token_id)
        return cfg

    def unload(self) -> None:
        self.model = self.tokenizer = self.processor = None


def _fold_system(msgs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Messages without a system role: its text goes in front of the first user message."""
    def text_of(c):
        return c if isinstance(c, str) else "\n".join(
            p.get("text", "") for p in c if isinstance(p, dict) and p.get("type") == "text")
    sys_text = "\n\n".join(text_of(m["content"]) for m in msgs if m["role"] == "system")
    rest = [dict(m) for m in msgs if m["role"] != "system"]
    if sys_text and rest:
        c = rest[0]["content"]
        rest[0]["content"] = f"{sys_text}\n\n{c}" if isinstance(c, str) else [{"type": "text", "text": sys_text}] + list(c)
    return rest


def _max_positions(config) -> int:
    cfg = getattr(config, "text_config", None) or config
    for k in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        v = getattr(cfg, k, None)
        if isinstance(v, int) and v > 0:
            return v
    return 0


class _Stop:
    """Stops generation on cancel or at the time limit; reports one progress step per token."""

    def __init__(self, total: int, cancelled, progress, deadline: Optional[float]):
        self.total, self.cancelled, self.progress, self.deadline = total, cancelled, progress, deadline
        self.n = 0
        self.was_cancelled = self.timed_out = False

    def __call__(self, input_ids, scores=None, **kw):
        import torch
        self.n += 1
        if self.progress is not None:
            self.progress(min(self.n, self.total), self.total)
        stop = False
        if self.cancelled is not None and self.cancelled():
            self.was_cancelled = stop = True
        elif self.deadline is not None and time.monotonic() >= self.deadline:
            self.timed_out = stop = True
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


def _stopping_list(items):
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Wrap(StoppingCriteria):
        def __init__(self, f):
            self.f = f

        def __call__(self, input_ids, scores, **kw):
            return self.f(input_ids, scores, **kw)

    return StoppingCriteriaList([_Wrap(f) for f in items])


def load_local_backend(name_or_path: str, search_dirs: Optional[Sequence[str]] = None, device: Any = "cpu",
                       dtype: str = "auto", model_type: str = "auto", max_new_tokens: int = 1024,
                       send_images: bool = True, time_limit_s: float = 0.0) -> LocalBackend:
    """Resolve (``models/synchrorama/llm/<name>`` or a path) and load a local scene model."""
    path = resolve_llm(name_or_path, search_dirs)
    return LocalBackend(path=path, device=device, dtype=dtype, model_type=model_type, max_new_tokens=max_new_tokens,
                        send_images=send_images, time_limit_s=time_limit_s).load()
