"""The typed values that flow between SynchroRaMa stages (the data contracts between stages).

Each type is a dataclass that validates itself on construction and converts losslessly to a
JSON-safe dict (``to_dict``/``from_dict``) or to a ``.safetensors`` file (``save``/``load``),
so creators can save, inspect, hand-edit and share every intermediate result.

Reading a file is checked against the dataclass fields before anything is built (a file may be
crafted): every field has its type (numbers, strings, arrays, lists, dicts of them; required
fields present), a tagged array holds one of :data:`ARRAY_DTYPES` only and its ``shape`` must
match the length of its ``data`` before anything is allocated, and a safetensors file's
``synchrorama`` metadata must name tensors the file holds.  Anything else is one
:class:`~synchrorama_core.errors.InvalidDataError` naming the file and the field.

ComfyUI type names: ``SR_SPEECH`` -> :class:`SpeechData`, ``SR_EMOTION`` -> :class:`EmotionData`,
``SR_SCENE`` -> :class:`SceneData`, ``SR_MOTION`` -> :class:`MotionData`,
``SR_FACE`` -> :class:`FaceData` (one person, one or several reference images),
``SR_CAST`` -> :class:`CastData` (several people in one picture, with their motions).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .errors import InvalidDataError
from .outputs import replacing
from .timing import check_fps, n_frames

#: The 8 MEAD emotions, in this order everywhere (columns of every ``probs`` array).
EMOTIONS: Tuple[str, ...] = ("angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised")

#: Named expression coefficients of ``SR_MOTION``, each in [0, 1] per frame.
EXPRESSIONS: Tuple[str, ...] = (
    "jaw_open",      # lower jaw / lip opening
    "mouth_wide",    # lip corners stretched sideways (ee, s)
    "mouth_pucker",  # rounded, forward lips (oo, w)
    "mouth_press",   # lips pressed together (m, b, p)
    "lip_tuck",      # lower lip tucked up under the upper teeth (f, v)
    "smile",         # mouth corners up, cheeks raised
    "frown",         # mouth corners down
    "brow_raise",    # inner and outer brows up
    "brow_furrow",   # brows down and together
    "blink_l",       # left eyelid closed (subject's left)
    "blink_r",       # right eyelid closed (subject's right)
    "eye_wide",      # eyes opened wider than rest
    "eye_squint",    # lower lids up
    "nose_wrinkle",  # sneer / disgust
)

#: Frame-aligned features every ``SR_SPEECH`` carries; each has ``n_frames`` rows.
SPEECH_FEATURES: Dict[str, str] = {
    "rms": "RMS amplitude of the frame's audio (linear, full scale = 1)",
    "loudness": "RMS level mapped from -60..0 dBFS to 0..1",
    "vad": "voice activity, 0 or 1 (energy + spectral detector with hysteresis)",
    "f0_hz": "fundamental frequency in Hz, 0 where unvoiced",
    "voiced": "1 where the frame is voiced (periodic), else 0",
    "bands": "[n_frames, 8] log energies (dB) of 8 mel-spaced bands from 60 Hz to 7.6 kHz",
    "centroid_hz": "spectral centroid in Hz (brightness)",
    "f1_proxy_hz": "energy centroid of 250-1000 Hz (first-formant / jaw-opening proxy)",
    "f2_proxy_hz": "energy centroid of 900-2800 Hz (second-formant / lip spreading proxy)",
    "tilt": "spectral tilt in dB per octave (flatter = more vocal effort)",
    "zcr": "zero-crossing rate per sample (fricatives are high)",
    "flux": "onset strength (positive spectral flux), 0..1 over the clip",
    "rate": "speaking-rate proxy: syllable nuclei per second in a 2 s window",
}

#: Viseme classes of a :class:`PhoneTrack` (the lip-shape inventory), in this order everywhere
#: (``PhoneTrack.viseme`` holds indices into it).  Which phone belongs to which class, and each
#: phone's lip targets, is the table in ``synchrorama_core/audio/phones/inventory.py``.
VISEMES: Dict[str, str] = {
    "rest": "silence or pause: lips at rest",
    "bilabial": "p b m: lips closed",
    "labiodental": "f v: lower lip against the upper teeth",
    "dental": "t d n s z l th dh: teeth nearly together, lips neutral",
    "postalveolar": "sh ch jh zh: lips slightly rounded and pushed forward",
    "velar": "k g ng: lips neutral, jaw a little open",
    "rounded": "uw uh ow oy w r: lips rounded and protruded",
    "spread": "iy ih ey y: lips spread, jaw nearly closed",
    "open": "aa ae ao aw ay: jaw open",
    "mid": "eh er ah (cup, schwa): jaw half open, lips neutral",
}

#: Continuous lip targets of a :class:`PhoneTrack`, each in [0, 1] per frame.  They describe the
#: phone's articulation only: loudness, coarticulation and smoothing are the A2M's business.
LIP_TARGETS: Dict[str, str] = {
    "jaw": "jaw opening by vowel height (aa, ae > eh, ow > ih, iy, uw); consonants low, 0 at rest",
    "round": "lip rounding and protrusion (uw, w, ow, r; sh a little)",
    "spread": "lip spreading (iy, ih, ey, y; s, eh, ae a little)",
    "closure": "lips closed (p, b, m): 1 in every frame whose class is bilabial",
    "labiodental": "lower lip to the upper teeth (f, v): 1 in every frame whose class is labiodental",
}

SPEECH_SAMPLE_RATE = 16000
LANDMARK_COUNT = 478


# --------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------

def _array(x: Any, name: str, dtype=np.float32, ndim: Optional[int] = None,
           shape: Optional[Sequence[Optional[int]]] = None, finite: bool = True) -> np.ndarray:
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # too large for float32: inf, refused below
            a = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as e:
        raise InvalidDataError(f"{name}: cannot be read as a {np.dtype(dtype).name} array ({e})") from e
    if ndim is not None and a.ndim != ndim:
        raise InvalidDataError(f"{name}: expected {ndim} dimensions, got shape {a.shape}")
    if shape is not None:
        if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
            want = "x".join("*" if s is None else str(s) for s in shape)
            raise InvalidDataError(f"{name}: expected shape [{want}], got {list(a.shape)}")
    if finite and a.dtype.kind == "f" and a.size and not np.isfinite(a).all():
        raise InvalidDataError(f"{name}: contains NaN or infinite values")
    return a


def _in_range(a: np.ndarray, lo: float, hi: float, name: str, tol: float = 1e-4) -> np.ndarray:
    if a.size and (a.min() < lo - tol or a.max() > hi + tol):
        raise InvalidDataError(f"{name}: values must lie in [{lo}, {hi}], got [{a.min():.4g}, {a.max():.4g}]")
    return np.clip(a, lo, hi).astype(a.dtype, copy=False)


def _frames(a: np.ndarray, n: int, name: str) -> None:
    if a.shape[0] != n:
        raise InvalidDataError(f"{name}: has {a.shape[0]} frames, expected {n} "
                               f"(n_frames = round(duration_s * fps); frames must match the audio)")


def _finite_float(x: Any, name: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError) as e:
        raise InvalidDataError(f"{name}: expected a number, got {x!r}") from e
    if not math.isfinite(v) or v < lo or v > hi:
        raise InvalidDataError(f"{name}: {v!r} is outside [{lo}, {hi}]")
    return v


def _json_safe(meta: Any, name: str = "meta") -> dict:
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise InvalidDataError(f"{name}: must be a dict, got {type(meta).__name__}")
    try:
        return json.loads(json.dumps(meta, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise InvalidDataError(f"{name}: must be JSON-serialisable ({e})") from e


# --------------------------------------------------------------------------------------
# lossless (de)serialisation of nested values with numpy arrays
# --------------------------------------------------------------------------------------

_ARRAY_TAG = "__ndarray__"
_TENSOR_TAG = "__tensor__"

#: Element types a saved array may have (``numpy.dtype.name``): plain numbers and booleans only.
ARRAY_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                          "float16", "float32", "float64"})
#: Most dimensions a saved array may have.
MAX_ARRAY_DIMS = 8


def _short(v: Any, n: int = 60) -> str:
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."


def _encode(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        # float32 -> Python float is exact and JSON keeps float64 exactly, so this is lossless.
        return {_ARRAY_TAG: {"dtype": v.dtype.name, "shape": list(v.shape), "data": v.ravel().tolist()}}
    if isinstance(v, np.generic):
        return v.item()
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _encode(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, dict):
        return {str(k): _encode(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_encode(x) for x in v]
    return v


def _array_from_spec(spec: Any, name: str) -> np.ndarray:
    """A tagged array ``{"dtype", "shape", "data"}`` read from a file, checked before it is allocated:
    an allowed dtype, a shape of non-negative integers whose product is the length of ``data``, and
    ``data`` a flat list of numbers (booleans for ``bool``)."""
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data"}:
        got = sorted(map(str, spec)) if isinstance(spec, dict) else type(spec).__name__
        raise InvalidDataError(f"{name}: an array must be {{\"{_ARRAY_TAG}\": {{\"dtype\", \"shape\", \"data\"}}}}, "
                               f"got {got}")
    dtype, shape, data = spec["dtype"], spec["shape"], spec["data"]
    if not isinstance(dtype, str) or dtype not in ARRAY_DTYPES:
        raise InvalidDataError(f"{name}: dtype {_short(dtype)} is not allowed; use one of {sorted(ARRAY_DTYPES)}")
    if not isinstance(shape, list) or len(shape) > MAX_ARRAY_DIMS or \
            any(type(d) is not int or d < 0 for d in shape):
        raise InvalidDataError(f"{name}: shape must be a list of at most {MAX_ARRAY_DIMS} integers >= 0, "
                               f"got {_short(shape)}")
    if not isinstance(data, list):
        raise InvalidDataError(f"{name}: data must be a flat list of numbers, got {type(data).__name__}")
    count = math.prod(shape)
    if count != len(data):
        raise InvalidDataError(f"{name}: shape {_short(shape)} holds {count} values but data has {len(data)}")
    allowed = {bool} if dtype == "bool" else {int} if dtype[0] in "iu" else {int, float}
    if not set(map(type, data)) <= allowed:
        bad = next(x for x in data if type(x) not in allowed)
        what = "true/false" if dtype == "bool" else "integers" if float not in allowed else "numbers"
        raise InvalidDataError(f"{name}: a {dtype} array holds {_short(bad)}; it may hold {what} only")
    try:
        with np.errstate(all="ignore"):  # a float too large for float32 becomes inf (refused as not finite)
            return np.array(data, dtype=dtype).reshape(shape)
    except (OverflowError, ValueError, TypeError) as e:
        raise InvalidDataError(f"{name}: values do not fit {dtype} ({e})") from None


def _decode(v: Any, name: str = "value") -> Any:
    if isinstance(v, dict):
        if _ARRAY_TAG in v:
            if set(v) != {_ARRAY_TAG}:
                raise InvalidDataError(f"{name}: an array holds only the key {_ARRAY_TAG!r}, got {sorted(map(str, v))}")
            return _array_from_spec(v[_ARRAY_TAG], name)
        return {k: _decode(x, f"{name}[{k!r}]") for k, x in v.items()}
    if isinstance(v, list):
        return [_decode(x, f"{name}[{i}]") for i, x in enumerate(v)]
    return v


def _split_tensors(v: Any, out: Dict[str, np.ndarray], path: str = "t") -> Any:
    """Replace arrays in an encoded dict by references, collecting them for safetensors."""
    if isinstance(v, dict):
        if set(v) == {_ARRAY_TAG}:
            key = path
            out[key] = _decode(v)
            return {_TENSOR_TAG: key}
        return {k: _split_tensors(x, out, f"{path}.{k}") for k, x in v.items()}
    if isinstance(v, list):
        return [_split_tensors(x, out, f"{path}.{i}") for i, x in enumerate(v)]
    return v


def _join_tensors(v: Any, tensors: Dict[str, np.ndarray], name: str = "value") -> Any:
    """The skeleton of a safetensors file with its tensor references replaced by the arrays (checked)."""
    if isinstance(v, dict):
        if _TENSOR_TAG in v:
            key = v[_TENSOR_TAG]
            if set(v) != {_TENSOR_TAG} or not isinstance(key, str):
                raise InvalidDataError(f"{name}: a tensor reference is {{\"{_TENSOR_TAG}\": \"name\"}}, got {_short(v)}")
            if key not in tensors:
                raise InvalidDataError(f"{name}: refers to tensor {key!r}, which the file does not hold")
            a = tensors[key]
            if a.dtype.name not in ARRAY_DTYPES or a.ndim > MAX_ARRAY_DIMS:
                raise InvalidDataError(f"{name}: tensor {key!r} is {a.dtype.name} with {a.ndim} dimensions; "
                                       f"allowed: {sorted(ARRAY_DTYPES)}, at most {MAX_ARRAY_DIMS} dimensions")
            return np.ascontiguousarray(a)
        return {k: _join_tensors(x, tensors, f"{name}[{k!r}]") for k, x in v.items()}
    if isinstance(v, list):
        return [_join_tensors(x, tensors, f"{name}[{i}]") for i, x in enumerate(v)]
    return v


# --------------------------------------------------------------------------------------
# the fields of a value read from a file: checked against the dataclass before building it
# --------------------------------------------------------------------------------------

def _is_number(v: Any) -> bool:
    return (type(v) is float) or (type(v) is int and abs(v) < 1e300) or isinstance(v, np.number)


def _check_numbers(v: Any, name: str, depth: int = 0) -> None:
    """A hand-written array: numbers, or lists of them nested at most MAX_ARRAY_DIMS deep."""
    if depth > MAX_ARRAY_DIMS:
        raise InvalidDataError(f"{name}: nested deeper than {MAX_ARRAY_DIMS} levels")
    for i, x in enumerate(v):
        if isinstance(x, list):
            _check_numbers(x, f"{name}[{i}]", depth + 1)
        elif not _is_number(x):
            raise InvalidDataError(f"{name}[{i}]: expected a number, got {_short(x)}")


def _hint_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


@functools.lru_cache(maxsize=None)
def _fields_of(cls) -> Tuple[Tuple[str, Any, bool], ...]:
    """``(name, type hint, required)`` of each field of a dataclass."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name], f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
                 for f in dataclasses.fields(cls))


def _check_fields(cls, d: dict, name: str, *, ignore_unknown: bool) -> dict:
    """The known fields of ``d`` checked against the dataclass ``cls`` (missing required ones are an error)."""
    fields_ = _fields_of(cls)
    missing = [f for f, _, req in fields_ if req and f not in d]
    if missing:
        raise InvalidDataError(f"{name}: missing field(s) {missing}")
    known = {f for f, _, _ in fields_}
    unknown = sorted(str(k) for k in d if k not in known)
    if unknown and not ignore_unknown:
        raise InvalidDataError(f"{name}: unknown field(s) {unknown}; known: {sorted(known)}")
    return {f: _check_value(d[f], hint, f"{name}.{f}") for f, hint, _ in fields_ if f in d}


def _check_value(v: Any, hint: Any, name: str) -> Any:
    """``v`` (decoded from a file) if it has the type ``hint`` describes; nested dataclasses are checked
    field by field (and returned as dicts of their known fields)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return v
    if origin is typing.Union:
        if v is None and type(None) in args:
            return v
        return _check_value(v, next(a for a in args if a is not type(None)), name)
    if hint is np.ndarray:
        if isinstance(v, np.ndarray):
            return v
        if isinstance(v, list):
            _check_numbers(v, name)
            return v
        raise InvalidDataError(f"{name}: expected an array (a list of numbers), got {_short(v)}")
    if hint is float:
        if not _is_number(v):
            raise InvalidDataError(f"{name}: expected a number, got {_short(v)}")
        return v
    if hint is int:
        if type(v) is int or (type(v) is float and v.is_integer() and abs(v) < 1e15):
            return int(v)
        raise InvalidDataError(f"{name}: expected an integer, got {_short(v)}")
    if hint is str:
        if not isinstance(v, str):
            raise InvalidDataError(f"{name}: expected a string, got {_short(v)}")
        return v
    if origin is tuple:
        if not isinstance(v, (list, tuple)) or (args and args[-1] is not Ellipsis and len(v) != len(args)):
            raise InvalidDataError(f"{name}: expected a list of {len(args)} values, got {_short(v)}")
        return [_check_value(x, args[0] if args[-1] is Ellipsis else a, f"{name}[{i}]")
                for i, (x, a) in enumerate(zip(v, args if args[-1] is not Ellipsis else [args[0]] * len(v)))]
    if origin is list:
        if not isinstance(v, (list, tuple)):
            raise InvalidDataError(f"{name}: expected a list, got {_short(v)}")
        return [_check_value(x, args[0], f"{name}[{i}]") for i, x in enumerate(v)]
    if origin is dict:
        if not isinstance(v, dict):
            raise InvalidDataError(f"{name}: expected a dict, got {_short(v)}")
        return {k: _check_value(x, args[1], f"{name}[{k!r}]") for k, x in v.items()}
    if dataclasses.is_dataclass(hint):
        if isinstance(v, hint):
            return v
        if not isinstance(v, dict):
            raise InvalidDataError(f"{name}: expected a dict of {_hint_name(hint)} fields, got {_short(v)}")
        return _check_fields(hint, v, name, ignore_unknown=False)
    raise InvalidDataError(f"{name}: cannot check a value of type {_hint_name(hint)}")  # pragma: no cover


class SRData:
    """Serialisation shared by every SynchroRaMa type."""

    TYPE: ClassVar[str] = ""
    FORMAT_VERSION: ClassVar[int] = 1

    def to_dict(self) -> dict:
        """A JSON-safe dict (arrays as tagged flat lists) that :meth:`from_dict` restores exactly."""
        d = {f.name: _encode(getattr(self, f.name)) for f in dataclasses.fields(self)}
        d.update(self._derived())
        return {"type": self.TYPE, "version": self.FORMAT_VERSION, **d}

    def _derived(self) -> dict:
        """Read-only values added to ``to_dict`` for people reading the file; ignored on load."""
        return {}

    @classmethod
    def from_dict(cls, d: dict):
        """Build from a ``to_dict`` dict (or one read from a file or written by hand); each field is
        checked against its type first, so a bad value is one :class:`InvalidDataError` naming it."""
        if not isinstance(d, dict):
            raise InvalidDataError(f"{cls.TYPE}: expected a dict, got {type(d).__name__}")
        kind = d.get("type")
        if kind is not None and not (isinstance(kind, str) and kind == cls.TYPE):
            shown = kind[:60] if isinstance(kind, str) else _short(kind)
            raise InvalidDataError(f"this is a {shown} value, not {cls.TYPE}")
        version = d.get("version", 1)
        if type(version) is not int:
            raise InvalidDataError(f"{cls.TYPE}.version: expected an integer, got {_short(version)}")
        if version > cls.FORMAT_VERSION:
            raise InvalidDataError(f"{cls.TYPE} format version {version} is newer than this "
                                   f"SynchroRaMa ({cls.FORMAT_VERSION}); update the node pack")
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: _decode(v, f"{cls.TYPE}.{k}") for k, v in d.items() if k in names}
        kwargs = _check_fields(cls, kwargs, cls.TYPE, ignore_unknown=True)
        try:
            return cls._from_fields(kwargs)
        except InvalidDataError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as e:
            raise InvalidDataError(f"{cls.TYPE}: {e}") from None

    @classmethod
    def _from_fields(cls, kwargs: dict):
        return cls(**kwargs)

    def save(self, path: str) -> str:
        """Write to ``path``: ``.json`` (readable, hand-editable) or ``.safetensors`` (compact).  The file
        is written under a temporary name and renamed when complete, so a full disk leaves no partial
        file (:class:`~synchrorama_core.errors.OutputError`)."""
        path = os.fspath(path)
        d = self.to_dict()
        with replacing(path) as (tmp,):
            if path.endswith(".safetensors"):
                from safetensors.numpy import save_file
                tensors: Dict[str, np.ndarray] = {}
                skeleton = _split_tensors(d, tensors)
                save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, tmp,
                          metadata={"synchrorama": json.dumps(skeleton)})
            else:
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump(d, f, allow_nan=False)
        return path

    @classmethod
    def load(cls, path: str):
        """Read a ``.json`` or ``.safetensors`` file written by :meth:`save` (or by hand).  A file that
        is not one raises :class:`InvalidDataError` naming the file and what is wrong in it."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{cls.TYPE} file not found: {path}")
        try:
            return cls.from_dict(cls._read(path))
        except InvalidDataError as e:
            raise InvalidDataError(f"{path}: {e}") from None

    @classmethod
    def _read(cls, path: str) -> dict:
        if path.endswith(".safetensors"):
            from safetensors import safe_open
            try:
                with safe_open(path, "np") as f:
                    meta = f.metadata() or {}
                    if "synchrorama" not in meta:
                        raise InvalidDataError(f"a safetensors file but not a SynchroRaMa {cls.TYPE} file "
                                               f"(no 'synchrorama' metadata)")
                    tensors = {k: f.get_tensor(k) for k in f.keys()}
            except InvalidDataError:
                raise
            except Exception as e:  # noqa: BLE001 - safetensors and numpy raise several kinds
                raise InvalidDataError(f"not a readable safetensors file ({e})") from None
            try:
                skeleton = json.loads(meta["synchrorama"])
            except (ValueError, RecursionError) as e:
                raise InvalidDataError(f"its 'synchrorama' metadata is not valid JSON ({e})") from None
            return _join_tensors(skeleton, tensors, cls.TYPE)
        try:
            with open(path, "r", encoding="utf-8") as f:
                return json.load(f)
        except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise InvalidDataError(f"not valid JSON (UTF-8): {str(e)[:200]}") from None


# --------------------------------------------------------------------------------------
# SR_SPEECH
# --------------------------------------------------------------------------------------

@dataclass
class SpeechData(SRData):
    """Speech audio (mono, 16 kHz) with features aligned to video frames.

    ``features[name]`` has ``n_frames`` rows for every name in :data:`SPEECH_FEATURES`;
    frame ``i`` summarises audio ``[i/fps, (i+1)/fps)``.  ``embeddings`` optionally holds
    per-frame audio-encoder vectors ``[n_frames, D]`` (name of the encoder in
    ``embedding_model``).
    """

    TYPE: ClassVar[str] = "SR_SPEECH"

    waveform: np.ndarray
    fps: float
    features: Dict[str, np.ndarray]
    sample_rate: int = SPEECH_SAMPLE_RATE
    source: str = ""
    start_s: float = 0.0
    embeddings: Optional[np.ndarray] = None
    embedding_model: str = ""
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.fps = check_fps(self.fps)
        self.sample_rate = int(self.sample_rate)
        if self.sample_rate != SPEECH_SAMPLE_RATE:
            raise InvalidDataError(f"SR_SPEECH audio must be resampled to {SPEECH_SAMPLE_RATE} Hz, "
                                   f"got {self.sample_rate} Hz")
        self.waveform = _array(self.waveform, "SR_SPEECH.waveform", ndim=1)
        self.start_s = _finite_float(self.start_s, "SR_SPEECH.start_s", lo=0.0)
        n = self.n_frames
        if not isinstance(self.features, dict):
            raise InvalidDataError("SR_SPEECH.features must be a dict of arrays")
        missing = [k for k in SPEECH_FEATURES if k not in self.features]
        if missing:
            raise InvalidDataError(f"SR_SPEECH.features lacks {missing}")
        feats = {}
        for k, v in self.features.items():
            a = _array(v, f"SR_SPEECH.features[{k!r}]")
            if a.ndim not in (1, 2):
                raise InvalidDataError(f"SR_SPEECH.features[{k!r}] must be [n_frames] or [n_frames, k]")
            _frames(a, n, f"SR_SPEECH.features[{k!r}]")
            feats[str(k)] = a
        self.features = feats
        if self.embeddings is not None:
            self.embeddings = _array(self.embeddings, "SR_SPEECH.embeddings", ndim=2)
            _frames(self.embeddings, n, "SR_SPEECH.embeddings")
        self.source = str(self.source)
        self.embedding_model = str(self.embedding_model)
        self.meta = _json_safe(self.meta, "SR_SPEECH.meta")

    @property
    def duration_s(self) -> float:
        return len(self.waveform) / float(self.sample_rate)

    @property
    def n_frames(self) -> int:
        return n_frames(self.duration_s, self.fps)

    def _derived(self) -> dict:
        return {"duration_s": self.duration_s, "n_frames": self.n_frames}


# --------------------------------------------------------------------------------------
# SR_EMOTION
# --------------------------------------------------------------------------------------

def _emotion_arrays(obj, name: str, n: Optional[int]) -> int:
    obj.probs = _array(obj.probs, f"{name}.probs", ndim=2)
    if n is not None:
        _frames(obj.probs, n, f"{name}.probs")
    obj.probs = _array(obj.probs, f"{name}.probs", shape=(n, len(EMOTIONS)))
    n = obj.probs.shape[0]
    obj.probs = _in_range(obj.probs, 0.0, 1.0, f"{name}.probs")
    if n and np.abs(obj.probs.sum(axis=1) - 1.0).max() > 1e-3:
        raise InvalidDataError(f"{name}.probs: each frame's probabilities must sum to 1")
    obj.valence = _in_range(_array(obj.valence, f"{name}.valence", shape=(n,)), -1, 1, f"{name}.valence")
    obj.arousal = _in_range(_array(obj.arousal, f"{name}.arousal", shape=(n,)), -1, 1, f"{name}.arousal")
    return n


@dataclass
class EmotionPart:
    """One modality's contribution (``text``, ``speech`` or ``va``) per frame.

    ``confidence`` in [0, 1] per frame is how much the modality trusts itself there (e.g. 0
    where nobody speaks); fusion multiplies it by the user's weight.
    """

    probs: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray
    confidence: np.ndarray
    backend: str = ""

    def validate(self, n: int, name: str) -> None:
        _emotion_arrays(self, name, n)
        self.confidence = _in_range(_array(self.confidence, f"{name}.confidence", shape=(n,)), 0, 1,
                                    f"{name}.confidence")
        self.backend = str(self.backend)


@dataclass
class EmotionData(SRData):
    """Per-frame emotion: probabilities over :data:`EMOTIONS`, valence/arousal in [-1, 1],
    intensity in [0, 1], plus the per-modality parts and fusion weights that produced it."""

    TYPE: ClassVar[str] = "SR_EMOTION"

    fps: float
    duration_s: float
    probs: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray
    intensity: np.ndarray
    parts: Dict[str, EmotionPart] = field(default_factory=dict)
    weights: Dict[str, float] = field(default_factory=dict)
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.fps = check_fps(self.fps)
        self.duration_s = _finite_float(self.duration_s, "SR_EMOTION.duration_s", lo=0.0)
        n = n_frames(self.duration_s, self.fps)
        _emotion_arrays(self, "SR_EMOTION", n)
        self.intensity = _in_range(_array(self.intensity, "SR_EMOTION.intensity", shape=(n,)), 0, 1,
                                   "SR_EMOTION.intensity")
        parts = {}
        for k, p in (self.parts or {}).items():
            if isinstance(p, dict):
                p = EmotionPart(**p)
            if not isinstance(p, EmotionPart):
                raise InvalidDataError(f"SR_EMOTION.parts[{k!r}] must be an EmotionPart")
            p.validate(n, f"SR_EMOTION.parts[{k!r}]")
            parts[str(k)] = p
        self.parts = parts
        self.weights = {str(k): _finite_float(v, f"SR_EMOTION.weights[{k!r}]", lo=0.0)
                        for k, v in (self.weights or {}).items()}
        self.meta = _json_safe(self.meta, "SR_EMOTION.meta")

    @property
    def n_frames(self) -> int:
        return int(self.probs.shape[0])

    def dominant(self) -> List[str]:
        """Most probable emotion per frame."""
        return [EMOTIONS[i] for i in self.probs.argmax(axis=1)]

    def _derived(self) -> dict:
        n = max(self.n_frames, 1)
        return {"n_frames": self.n_frames, "emotions": list(EMOTIONS),
                "mean_probs": dict(zip(EMOTIONS, (self.probs.sum(0) / n).round(4).tolist())),
                "mean_valence": float(self.valence.mean()) if self.n_frames else 0.0,
                "mean_arousal": float(self.arousal.mean()) if self.n_frames else 0.0}


# --------------------------------------------------------------------------------------
# SR_SCENE
# --------------------------------------------------------------------------------------

@dataclass
class SceneSegment:
    start_s: float
    end_s: float
    description: str
    actions: List[str] = field(default_factory=list)
    attributes: List[str] = field(default_factory=list)


@dataclass
class SceneData(SRData):
    """Timed scene descriptions (actions, attributes) and the sampler's prompt text."""

    TYPE: ClassVar[str] = "SR_SCENE"

    duration_s: float
    segments: List[SceneSegment]
    prompt: str = ""
    backend: str = ""
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.duration_s = _finite_float(self.duration_s, "SR_SCENE.duration_s", lo=0.0)
        segs = []
        for i, s in enumerate(self.segments or []):
            if isinstance(s, dict):
                try:
                    s = SceneSegment(**s)
                except TypeError as e:
                    raise InvalidDataError(f"SR_SCENE.segments[{i}]: {e}") from e
            if not isinstance(s, SceneSegment):
                raise InvalidDataError(f"SR_SCENE.segments[{i}] must be a SceneSegment or dict")
            name = f"SR_SCENE.segments[{i}]"
            s.start_s = _finite_float(s.start_s, f"{name}.start_s", lo=0.0, hi=self.duration_s + 1e-6)
            s.end_s = _finite_float(s.end_s, f"{name}.end_s", lo=0.0, hi=self.duration_s + 1e-6)
            if s.end_s <= s.start_s:
                raise InvalidDataError(f"{name}: end_s ({s.end_s}) must be after start_s ({s.start_s})")
            if segs and s.start_s < segs[-1].end_s - 1e-6:
                raise InvalidDataError(f"{name}: starts at {s.start_s} s, before the previous segment ends "
                                       f"({segs[-1].end_s} s); segments must be in order and not overlap")
            s.description = str(s.description)
            if not isinstance(s.actions, (list, tuple)) or not isinstance(s.attributes, (list, tuple)):
                raise InvalidDataError(f"{name}: actions and attributes must be lists of strings")
            s.actions = [str(a) for a in s.actions]
            s.attributes = [str(a) for a in s.attributes]
            segs.append(s)
        self.segments = segs
        self.prompt = str(self.prompt)
        self.backend = str(self.backend)
        self.meta = _json_safe(self.meta, "SR_SCENE.meta")

    def segment_at(self, t_s: float) -> Optional[SceneSegment]:
        for s in self.segments:
            if s.start_s <= t_s < s.end_s:
                return s
        return None


# --------------------------------------------------------------------------------------
# SR_MOTION
# --------------------------------------------------------------------------------------

@dataclass
class MotionData(SRData):
    """Per-frame head pose and expression coefficients.

    ``rotation[:, 0:3]`` is yaw, pitch, roll in degrees (yaw > 0 turns the face to the
    subject's left = image right; pitch > 0 tips the chin down (nod); roll > 0 tilts
    clockwise in the image); ``translation[:, 0:2]`` is x, y in face widths (image axes);
    ``scale`` is a size factor (1 = unchanged); ``expressions[name]`` in [0, 1] for every
    name in :data:`EXPRESSIONS`.
    """

    TYPE: ClassVar[str] = "SR_MOTION"

    fps: float
    duration_s: float
    rotation: np.ndarray
    translation: np.ndarray
    scale: np.ndarray
    expressions: Dict[str, np.ndarray]
    generator: str = ""
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.fps = check_fps(self.fps)
        self.duration_s = _finite_float(self.duration_s, "SR_MOTION.duration_s", lo=0.0)
        n = n_frames(self.duration_s, self.fps)
        self.rotation = _array(self.rotation, "SR_MOTION.rotation", ndim=2)
        _frames(self.rotation, n, "SR_MOTION.rotation")
        self.rotation = _array(self.rotation, "SR_MOTION.rotation", shape=(n, 3))
        self.rotation = _in_range(self.rotation, -90, 90, "SR_MOTION.rotation")
        self.translation = _array(self.translation, "SR_MOTION.translation", shape=(n, 2))
        self.scale = _array(self.scale, "SR_MOTION.scale", shape=(n,))
        if n and self.scale.min() <= 0:
            raise InvalidDataError("SR_MOTION.scale must be > 0")
        if not isinstance(self.expressions, dict):
            raise InvalidDataError("SR_MOTION.expressions must be a dict of name -> [n_frames]")
        unknown = sorted(set(self.expressions) - set(EXPRESSIONS))
        if unknown:
            raise InvalidDataError(f"SR_MOTION.expressions: unknown names {unknown}; known: {list(EXPRESSIONS)}")
        ex = {}
        for k in EXPRESSIONS:
            v = self.expressions.get(k)
            a = np.zeros(n, np.float32) if v is None else _array(v, f"SR_MOTION.expressions[{k!r}]", shape=(n,))
            ex[k] = _in_range(a, 0.0, 1.0, f"SR_MOTION.expressions[{k!r}]")
        self.expressions = ex
        self.generator = str(self.generator)
        self.meta = _json_safe(self.meta, "SR_MOTION.meta")

    @property
    def n_frames(self) -> int:
        return int(self.rotation.shape[0])

    def expression_matrix(self) -> np.ndarray:
        """``[n_frames, len(EXPRESSIONS)]`` in :data:`EXPRESSIONS` order."""
        return np.stack([self.expressions[k] for k in EXPRESSIONS], axis=1) if self.n_frames else \
            np.zeros((0, len(EXPRESSIONS)), np.float32)

    @classmethod
    def neutral(cls, duration_s: float, fps: float, generator: str = "neutral") -> "MotionData":
        n = n_frames(duration_s, fps)
        return cls(fps=fps, duration_s=duration_s, rotation=np.zeros((n, 3), np.float32),
                   translation=np.zeros((n, 2), np.float32), scale=np.ones(n, np.float32),
                   expressions={}, generator=generator)

    def _derived(self) -> dict:
        stats = {}
        if self.n_frames:
            stats = {k: {"mean": float(v.mean()), "max": float(v.max())} for k, v in self.expressions.items()}
            for i, k in enumerate(("yaw", "pitch", "roll")):
                r = self.rotation[:, i]
                stats[k] = {"mean": float(r.mean()), "std": float(r.std()), "min": float(r.min()), "max": float(r.max())}
        return {"n_frames": self.n_frames, "stats": stats}


# --------------------------------------------------------------------------------------
# SR_FACE
# --------------------------------------------------------------------------------------

@dataclass
class FaceData(SRData):
    """Analysed reference portrait(s).

    ``images[k]`` is ``[H, W, 3]`` float32 in 0..1 (sizes may differ between references);
    ``landmarks[k]`` is ``[478, 3]`` in MediaPipe's face-mesh topology, x and y in pixels of
    that image, z in the same pixel scale (smaller = nearer the camera);
    ``boxes[k]`` is the face crop box ``(x0, y0, x1, y1)`` in pixels.
    """

    TYPE: ClassVar[str] = "SR_FACE"

    images: List[np.ndarray]
    landmarks: List[np.ndarray]
    boxes: List[Tuple[float, float, float, float]]
    sources: List[str] = field(default_factory=list)
    detector: str = ""
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not self.images:
            raise InvalidDataError("SR_FACE needs at least one reference image")
        k = len(self.images)
        if len(self.landmarks) != k or len(self.boxes) != k:
            raise InvalidDataError(f"SR_FACE: {k} images but {len(self.landmarks)} landmark sets and "
                                   f"{len(self.boxes)} boxes")
        imgs, lms, boxes = [], [], []
        for i in range(k):
            img = _array(self.images[i], f"SR_FACE.images[{i}]", shape=(None, None, 3))
            imgs.append(_in_range(img, 0.0, 1.0, f"SR_FACE.images[{i}]", tol=1e-3))
            lm = _array(self.landmarks[i], f"SR_FACE.landmarks[{i}]", shape=(LANDMARK_COUNT, 3))
            lms.append(lm)
            b = [_finite_float(x, f"SR_FACE.boxes[{i}]") for x in self.boxes[i]]
            if len(b) != 4 or b[2] <= b[0] or b[3] <= b[1]:
                raise InvalidDataError(f"SR_FACE.boxes[{i}] must be (x0, y0, x1, y1) with x1 > x0 and y1 > y0")
            boxes.append(tuple(b))
        self.images, self.landmarks, self.boxes = imgs, lms, boxes
        self.sources = [str(s) for s in (self.sources or [""] * k)]
        if len(self.sources) != k:
            raise InvalidDataError(f"SR_FACE: {k} images but {len(self.sources)} sources")
        self.detector = str(self.detector)
        self.meta = _json_safe(self.meta, "SR_FACE.meta")

    @property
    def count(self) -> int:
        return len(self.images)

    def picture_region(self, k: int = 0) -> Tuple[float, float, float, float, int, int]:
        """Where ``images[k]`` lies in the picture it was analysed from: ``(x0, y0, sx, sy, W, H)``.

        Pixel position ``p`` of ``images[k]`` (and of ``landmarks[k]``) is at
        ``(x0 + p.x / sx, y0 + p.y / sy)`` in that ``W x H`` picture.  Face Analysis keeps a
        portrait over its ``max_side`` as a scaled head-and-shoulders crop and records the crop in
        ``meta["work_region"][k]``; any other reference is the picture itself: ``(0, 0, 1, 1, w, h)``.
        """
        h, w = (int(v) for v in self.images[k].shape[:2])
        regions = self.meta.get("work_region") if isinstance(self.meta, dict) else None
        work = regions[k] if isinstance(regions, list) and k < len(regions) else None
        if work is None:
            return 0.0, 0.0, 1.0, 1.0, w, h
        try:
            x0, y0, x1, y1 = (float(v) for v in work["crop"])
            big_w, big_h = (int(v) for v in work["original_size"])
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidDataError(f"SR_FACE.meta['work_region'][{k}] is not a crop record ({e}): expected "
                                   f"{{'original_size': [W, H], 'crop': [x0, y0, x1, y1], ...}} as Face "
                                   f"Analysis writes it, or null") from None
        if not (0 <= x0 < x1 <= big_w and 0 <= y0 < y1 <= big_h):
            raise InvalidDataError(f"SR_FACE.meta['work_region'][{k}]: crop {[x0, y0, x1, y1]} does not lie in "
                                   f"the {big_w}x{big_h} picture")
        return x0, y0, w / (x1 - x0), h / (y1 - y0), big_w, big_h

    def _derived(self) -> dict:
        return {"count": self.count, "sizes": [list(im.shape[:2]) for im in self.images]}


# --------------------------------------------------------------------------------------
# SR_CAST
# --------------------------------------------------------------------------------------

def cast_names(n: int) -> List[str]:
    """How text names the people of a cast by their place, left to right: two are "the person on
    the left" and "the person on the right", three add "the person in the middle", more are
    "person 1 (from the left)" ..."""
    if n == 1:
        return ["the person"]
    if n == 2:
        return ["the person on the left", "the person on the right"]
    if n == 3:
        return ["the person on the left", "the person in the middle", "the person on the right"]
    return [f"person {k + 1} (from the left)" for k in range(n)]


@dataclass
class CastData(SRData):
    """Several people in one picture: the faces of a conversation (ComfyUI type ``SR_CAST``).

    ``SR_FACE`` stays *one* person: its several images are references of that one person (the
    renderer picks the nearest expression per frame).  A cast is the other axis: *one* picture
    (``image``, ``[H, W, 3]`` float32 in 0..1; the video frame everyone is animated in) shared by
    ``count`` people.  Person ``k`` is ``landmarks[k]`` (``[478, 3]``, MediaPipe's topology, pixels
    of ``image``, as in ``SR_FACE``) with ``boxes[k]`` ``(x0, y0, x1, y1)``; ``face_index[k]`` is
    which detected face it is (counted from the left among all faces found in the picture, -1 when
    unknown); ``names[k]`` is how scene text names them (default by place: :func:`cast_names`).
    People are ordered as the speakers are (speaker ``k`` = person ``k``), which is left to right
    unless the user assigned faces by index.

    ``motions[k]`` is person ``k``'s ``SR_MOTION`` (listening behaviour included) or ``None``
    before motions are assigned, or for a person who stays as photographed.  All motions of a cast
    share one timeline (fps and frame count): assigning pads shorter ones with rest.

    :meth:`person` gives person ``k`` as a one-person ``SR_FACE`` (the shared picture and their
    landmarks), for every stage that works on one face (scene describer, motion frames, warp).
    """

    TYPE: ClassVar[str] = "SR_CAST"

    image: np.ndarray
    landmarks: List[np.ndarray]
    boxes: List[Tuple[float, float, float, float]]
    names: List[str] = field(default_factory=list)
    face_index: List[int] = field(default_factory=list)
    motions: List[Optional["MotionData"]] = field(default_factory=list)
    source: str = ""
    detector: str = ""
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        img = _array(self.image, "SR_CAST.image", shape=(None, None, 3))
        self.image = _in_range(img, 0.0, 1.0, "SR_CAST.image", tol=1e-3)
        h, w = self.image.shape[:2]
        k = len(self.landmarks or [])
        if k == 0:
            raise InvalidDataError("SR_CAST needs at least one person (landmarks of one face)")
        if len(self.boxes) != k:
            raise InvalidDataError(f"SR_CAST: {k} landmark sets but {len(self.boxes)} boxes")
        lms, boxes = [], []
        for i in range(k):
            lms.append(_array(self.landmarks[i], f"SR_CAST.landmarks[{i}]", shape=(LANDMARK_COUNT, 3)))
            b = [_finite_float(x, f"SR_CAST.boxes[{i}]") for x in self.boxes[i]]
            if len(b) != 4 or b[2] <= b[0] or b[3] <= b[1]:
                raise InvalidDataError(f"SR_CAST.boxes[{i}] must be (x0, y0, x1, y1) with x1 > x0 and "
                                       f"y1 > y0")
            if b[2] <= 0 or b[3] <= 0 or b[0] >= w or b[1] >= h:
                raise InvalidDataError(f"SR_CAST.boxes[{i}] {tuple(round(v, 1) for v in b)} lies outside the "
                                       f"{w}x{h} picture")
            boxes.append(tuple(b))
        self.landmarks, self.boxes = lms, boxes
        self.names = [str(s) for s in (self.names or cast_names(k))]
        if len(self.names) != k:
            raise InvalidDataError(f"SR_CAST: {k} people but {len(self.names)} names")
        self.face_index = [int(i) for i in (self.face_index or [-1] * k)]
        if len(self.face_index) != k:
            raise InvalidDataError(f"SR_CAST: {k} people but {len(self.face_index)} face indices")
        motions = list(self.motions or [None] * k)
        if len(motions) != k:
            raise InvalidDataError(f"SR_CAST: {k} people but {len(motions)} motions (use None for a person "
                                   f"without one)")
        timeline = None
        for i, m in enumerate(motions):
            if m is None:
                continue
            if isinstance(m, dict):
                m = motions[i] = MotionData.from_dict(m)
            if not isinstance(m, MotionData):
                raise InvalidDataError(f"SR_CAST.motions[{i}] must be an SR_MOTION value or None, "
                                       f"got {type(m).__name__}")
            if timeline is None:
                timeline = (i, m.fps, m.n_frames)
            elif abs(m.fps - timeline[1]) > 1e-9 or m.n_frames != timeline[2]:
                raise InvalidDataError(
                    f"SR_CAST.motions[{i}] has {m.n_frames} frames at {m.fps:g} fps but motions[{timeline[0]}] "
                    f"{timeline[2]} at {timeline[1]:g} fps; the people of a cast share one timeline (assign "
                    f"the motions with SynchroRaMa Conversation, which pads the shorter ones with rest)")
        self.motions = motions
        self.source, self.detector = str(self.source), str(self.detector)
        self.meta = _json_safe(self.meta, "SR_CAST.meta")

    @property
    def count(self) -> int:
        return len(self.landmarks)

    @property
    def size(self) -> Tuple[int, int]:
        """``(H, W)`` of the picture."""
        return int(self.image.shape[0]), int(self.image.shape[1])

    def person(self, k: int) -> "FaceData":
        """Person ``k`` as a one-person ``SR_FACE`` (the shared picture and their landmarks)."""
        if not 0 <= int(k) < self.count:
            raise InvalidDataError(f"person {k} was asked for but the cast holds {self.count} "
                                   f"(0..{self.count - 1}, left to right unless assigned by index)")
        k = int(k)
        return FaceData(images=[self.image], landmarks=[self.landmarks[k]], boxes=[self.boxes[k]],
                        sources=[self.source], detector=self.detector,
                        meta={"cast_person": k, "name": self.names[k], "face_index": [self.face_index[k]]})

    def with_motions(self, motions: Sequence[Optional["MotionData"]]) -> "CastData":
        """A copy of this cast with ``motions`` (one per person, ``None`` for none)."""
        return CastData(image=self.image, landmarks=self.landmarks, boxes=self.boxes, names=self.names,
                        face_index=self.face_index, motions=list(motions), source=self.source,
                        detector=self.detector, meta=self.meta)

    def _derived(self) -> dict:
        m = next((m for m in self.motions if m is not None), None)
        return {"count": self.count, "size": list(self.size),
                "animated": [m is not None for m in self.motions],
                "n_frames": m.n_frames if m is not None else 0}


# --------------------------------------------------------------------------------------
# phone / viseme track (audio -> A2M; not a ComfyUI type of its own: it travels in SR_MOTION meta)
# --------------------------------------------------------------------------------------

@dataclass
class PhoneTrack(SRData):
    """Timed phones of a speech clip and, per video frame, their viseme class and lip targets.

    ``segments`` are ``(start_s, end_s, phone, viseme)`` in time order, not overlapping, covering
    the speech (pauses are phone ``SIL``, viseme ``rest``); phones are ARPABET (the CMU
    dictionary's set) for the pocketsphinx backends, or coarse acoustic classes (``STOP``,
    ``NASAL``, ``FRIC``, ``VOWEL`` ...) for the acoustic one.  Frame ``i`` covers
    ``[i/fps, (i+1)/fps)``: ``viseme[i]`` indexes :data:`VISEMES` (the class covering most of
    the frame, except that every bilabial or labiodental segment keeps at least the frame it
    covers most), ``targets[name][i]`` in [0, 1] for every name in :data:`LIP_TARGETS`.
    ``words`` are ``(start_s, end_s, word)`` where a recogniser aligned words.  ``backend`` is
    ``pocketsphinx-align``, ``pocketsphinx-phones`` or ``acoustic``; ``note`` says in words which
    and why (e.g. ``"acoustic cues (pocketsphinx not installed)"``).
    """

    TYPE: ClassVar[str] = "SR_PHONES"

    fps: float
    duration_s: float
    viseme: np.ndarray
    targets: Dict[str, np.ndarray]
    segments: List[Tuple[float, float, str, str]] = field(default_factory=list)
    words: List[Tuple[float, float, str]] = field(default_factory=list)
    backend: str = ""
    note: str = ""
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.fps = check_fps(self.fps)
        self.duration_s = _finite_float(self.duration_s, "SR_PHONES.duration_s", lo=0.0)
        n = n_frames(self.duration_s, self.fps)
        self.viseme = _array(self.viseme, "SR_PHONES.viseme", dtype=np.int64, ndim=1)
        _frames(self.viseme, n, "SR_PHONES.viseme")
        if n and (self.viseme.min() < 0 or self.viseme.max() >= len(VISEMES)):
            raise InvalidDataError(f"SR_PHONES.viseme: indices must lie in [0, {len(VISEMES) - 1}] "
                                   f"(VISEMES: {list(VISEMES)})")
        if not isinstance(self.targets, dict) or set(self.targets) != set(LIP_TARGETS):
            got = sorted(self.targets) if isinstance(self.targets, dict) else type(self.targets).__name__
            raise InvalidDataError(f"SR_PHONES.targets must hold exactly {list(LIP_TARGETS)}, got {got}")
        self.targets = {k: _in_range(_array(self.targets[k], f"SR_PHONES.targets[{k!r}]", shape=(n,)),
                                     0.0, 1.0, f"SR_PHONES.targets[{k!r}]") for k in LIP_TARGETS}
        segs = []
        for i, s in enumerate(self.segments or []):
            if len(s) != 4:
                raise InvalidDataError(f"SR_PHONES.segments[{i}] must be (start_s, end_s, phone, viseme)")
            a = _finite_float(s[0], f"SR_PHONES.segments[{i}].start_s", lo=0.0)
            b = _finite_float(s[1], f"SR_PHONES.segments[{i}].end_s", lo=a)
            if str(s[3]) not in VISEMES:
                raise InvalidDataError(f"SR_PHONES.segments[{i}]: unknown viseme {s[3]!r}; known: {list(VISEMES)}")
            if segs and a < segs[-1][1] - 1e-6:
                raise InvalidDataError(f"SR_PHONES.segments[{i}] starts at {a:.3f} s, before the previous "
                                       f"one ends ({segs[-1][1]:.3f} s): segments must be in order")
            segs.append((a, b, str(s[2]), str(s[3])))
        self.segments = segs
        self.words = [(_finite_float(w[0], "SR_PHONES.words.start_s", lo=0.0),
                       _finite_float(w[1], "SR_PHONES.words.end_s", lo=0.0), str(w[2])) for w in (self.words or [])]
        self.backend, self.note = str(self.backend), str(self.note)
        self.meta = _json_safe(self.meta, "SR_PHONES.meta")

    @property
    def n_frames(self) -> int:
        return int(self.viseme.shape[0])

    def viseme_names(self) -> List[str]:
        """The class name of every frame."""
        names = list(VISEMES)
        return [names[i] for i in self.viseme]

    def _derived(self) -> dict:
        names = list(VISEMES)
        counts = np.bincount(self.viseme, minlength=len(names)) if self.n_frames else np.zeros(len(names), int)
        return {"n_frames": self.n_frames, "viseme_names": names,
                "frames_per_viseme": {k: int(c) for k, c in zip(names, counts)}}


#: ComfyUI type name -> core class.
SR_TYPES = {c.TYPE: c for c in (SpeechData, EmotionData, SceneData, MotionData, FaceData, CastData)}
