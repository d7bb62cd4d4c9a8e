"""Finding and loading the face models (TFLite) and the TFLite runtime.

Default: the three Apache-2.0 MediaPipe models shipped in ``assets/`` (no download). When
they are not there (e.g. a trimmed install), the same files are taken from an installed
``mediapipe`` package (read as files; mediapipe is never imported), then from the model folder
``models/synchrorama/face/``.  A user may also name a model explicitly: a folder holding the
``.tflite`` files, a single landmark ``.tflite``, or MediaPipe's ``face_landmarker.task``
bundle (a zip with ``face_detector.tflite`` and ``face_landmarks_detector.tflite``).
"""
from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import BackendError, ModelNotFoundError
from ..models import default_dirs, resolve_model

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
log = logging.getLogger("synchrorama.face")

#: role -> accepted file names (first one is what we ship)
FILE_NAMES: Dict[str, Tuple[str, ...]] = {
    "detector": ("face_detection_short_range.tflite", "face_detector.tflite"),
    "landmarks": ("face_landmark.tflite", "face_landmarks_detector.tflite"),
    "iris": ("iris_landmark.tflite",),
}
TASK_MEMBERS = {"detector": "face_detector.tflite", "landmarks": "face_landmarks_detector.tflite"}

WHERE_TO_GET = (
    "Get them from the mediapipe==0.10.21 wheel on PyPI (Apache-2.0; `pip download --no-deps mediapipe==0.10.21`, "
    "then `python -m synchrorama_core.face.extract_assets <the .whl>` restores SynchroRaMa's bundled copies, "
    "or copy mediapipe/modules/face_detection/face_detection_short_range.tflite, "
    "mediapipe/modules/face_landmark/face_landmark.tflite and mediapipe/modules/iris_landmark/iris_landmark.tflite "
    "out of it), or download MediaPipe's face_landmarker.task from "
    "https://ai.google.dev/edge/mediapipe/solutions/vision/face_landmarker")


def interpreter_class():
    """The TFLite ``Interpreter`` class: ai-edge-litert, else tflite-runtime, else TensorFlow."""
    try:
        from ai_edge_litert.interpreter import Interpreter
        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore
        return Interpreter
    except ImportError:
        pass
    try:
        import tensorflow as tf  # type: ignore
        return tf.lite.Interpreter
    except ImportError:
        pass
    raise BackendError("face analysis needs a TFLite runtime and none is installed: "
                       "`pip install ai-edge-litert` (in ComfyUI's Python) and restart")


_NATIVE_LOG_LOCK = threading.Lock()


@contextlib.contextmanager
def native_stderr_to_log(what: str):
    """Route what native code writes to file descriptor 2 inside the block into Python logging.

    The TFLite runtime prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." straight to
    fd 2 from C++ (no Python logger, no setting turns it off), so ``-q`` could not silence it.  Inside
    the block fd 2 goes to a temporary file; afterwards its ``INFO:`` lines are logged at DEBUG and
    anything else (a real TFLite error) at WARNING, so nothing is lost.  Python's own ``sys.stderr``
    is flushed first; the block should be short (it is: creating an interpreter)."""
    with _NATIVE_LOG_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no usable fd 2 (an embedded host): leave it alone
            yield
            return
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                text = tmp.read(1 << 16).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                log.log(logging.DEBUG if line.startswith("INFO:") else logging.WARNING, "%s: %s", what, line)


class TFLiteModel:
    """One TFLite model with a lock (interpreters are not thread-safe)."""

    def __init__(self, content: bytes, name: str, num_threads: Optional[int] = None):
        cls = interpreter_class()
        threads = num_threads or min(2, os.cpu_count() or 1)
        try:
            with native_stderr_to_log(f"TFLite ({os.path.basename(name)})"):
                self.interp = cls(model_content=content, num_threads=threads)
                self.interp.allocate_tensors()
        except Exception as e:  # a corrupt file or an op this runtime lacks
            raise BackendError(f"cannot load face model {name}: {e}. "
                               f"Use the models of mediapipe 0.10.21 (see docs/face.md)") from e
        self.name = name
        self.lock = threading.Lock()
        self.inputs = self.interp.get_input_details()
        self.outputs = self.interp.get_output_details()
        shape = self.inputs[0]["shape"]
        self.input_hw = (int(shape[1]), int(shape[2]))

    def run(self, x):
        """Run on one float32 ``[H, W, 3]`` input; returns the flattened outputs (name -> array)."""
        import numpy as np
        with self.lock:
            self.interp.set_tensor(self.inputs[0]["index"], np.ascontiguousarray(x[None], dtype=np.float32))
            self.interp.invoke()
            return {d["name"]: self.interp.get_tensor(d["index"]).reshape(-1).copy() for d in self.outputs}


@dataclass
class FaceModels:
    """The loaded detector, landmark and (optional) iris models, and where they came from."""

    detector: TFLiteModel
    landmarks: TFLiteModel
    iris: Optional[TFLiteModel]
    sources: Dict[str, str] = field(default_factory=dict)

    @property
    def n_landmarks(self) -> int:
        for d in self.landmarks.outputs:
            n = int(d["shape"].prod()) if hasattr(d["shape"], "prod") else 0
            if n in (1404, 1434):
                return n // 3
        raise BackendError(f"face landmark model {self.sources.get('landmarks')} has no 468- or 478-point output")


def _find_in(folder: str, role: str) -> Optional[str]:
    for n in FILE_NAMES[role]:
        p = os.path.join(folder, n)
        if os.path.isfile(p):
            return p
    return None


def _mediapipe_dirs() -> List[str]:
    """Model folders of an installed mediapipe package, found without importing it."""
    try:
        spec = importlib.util.find_spec("mediapipe")
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    root = list(spec.submodule_search_locations)[0]
    return [os.path.join(root, "modules", d) for d in ("face_detection", "face_landmark", "iris_landmark")]


def default_sources(search_dirs: Optional[Sequence[str]] = None) -> Dict[str, str]:
    """role -> file for the zero-download default (bundled, else mediapipe, else model folder)."""
    folders = [ASSETS] + _mediapipe_dirs() + list(search_dirs or default_dirs("face"))
    found = {}
    for role in FILE_NAMES:
        for f in folders:
            p = _find_in(f, role)
            if p:
                found[role] = p
                break
    return found


def _missing_error(missing: Sequence[str], search_dirs: Optional[Sequence[str]]) -> ModelNotFoundError:
    where = list(search_dirs or default_dirs("face"))[0]
    names = ", ".join(FILE_NAMES[r][0] for r in missing)
    return ModelNotFoundError(
        f"face model file(s) not found: {names}. SynchroRaMa ships them in {ASSETS}, which is missing or incomplete "
        f"here. Put {names} into {where} (or a face_landmarker.task there and choose it). {WHERE_TO_GET}")


_CACHE: Dict[Tuple, FaceModels] = {}
_CACHE_LOCK = threading.Lock()


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def clear_model_cache() -> None:
    """Forget loaded models (after files in the model folders changed)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def load_face_models(model: str = "", search_dirs: Optional[Sequence[str]] = None) -> FaceModels:
    """Load (and cache) the face models.

    ``model``: empty for the default; otherwise a name under ``models/synchrorama/face/`` (or
    ``search_dirs``) or a path: a folder with the ``.tflite`` files, a landmark ``.tflite``
    file, or a ``face_landmarker.task`` bundle.  Roles the named model does not provide (the
    detector, the iris model) come from the default sources.
    """
    key = (model or "", tuple(search_dirs or ()))
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    contents: Dict[str, Tuple[bytes, str]] = {}
    if model:
        path = resolve_model("face", model, search_dirs)
        if os.path.isdir(path):
            for role in FILE_NAMES:
                p = _find_in(path, role)
                if p:
                    contents[role] = (_read(p), p)
            if "landmarks" not in contents:
                raise ModelNotFoundError(f"face model folder {path} holds no landmark model "
                                         f"({' or '.join(FILE_NAMES['landmarks'])}). {WHERE_TO_GET}")
        elif path.endswith(".task") or (not path.endswith(".tflite") and zipfile.is_zipfile(path)):
            try:
                with zipfile.ZipFile(path) as z:
                    names = z.namelist()
                    for role, member in TASK_MEMBERS.items():
                        hit = [n for n in names if os.path.basename(n) == member]
                        if hit:
                            contents[role] = (z.read(hit[0]), f"{path}!{hit[0]}")
            except zipfile.BadZipFile as e:
                raise ModelNotFoundError(f"{path} is not a valid MediaPipe .task bundle ({e}). {WHERE_TO_GET}") from e
            if "landmarks" not in contents:
                raise ModelNotFoundError(f"{path} has no {TASK_MEMBERS['landmarks']} inside; it is not a "
                                         f"face_landmarker.task bundle. {WHERE_TO_GET}")
        else:
            contents["landmarks"] = (_read(path), path)
    defaults = default_sources(search_dirs)
    for role in ("detector", "landmarks"):
        if role not in contents:
            if role not in defaults:
                raise _missing_error([r for r in ("detector", "landmarks") if r not in contents and r not in defaults],
                                     search_dirs)
            contents[role] = (_read(defaults[role]), defaults[role])
    det = TFLiteModel(contents["detector"][0], contents["detector"][1])
    lmk = TFLiteModel(contents["landmarks"][0], contents["landmarks"][1])
    fm = FaceModels(det, lmk, None, {r: c[1] for r, c in contents.items()})
    if fm.n_landmarks == 468:
        src = contents.get("iris") or ((_read(defaults["iris"]), defaults["iris"]) if "iris" in defaults else None)
        if src is None:
            raise _missing_error(["iris"], search_dirs)
        fm.iris = TFLiteModel(src[0], src[1])
        fm.sources["iris"] = src[1]
    with _CACHE_LOCK:
        _CACHE[key] = fm
    return fm
