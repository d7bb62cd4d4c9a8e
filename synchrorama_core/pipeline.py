"""The whole SynchroRaMa flow as plain Python (used by the CLI, the tests and the benchmarks).

::

    from synchrorama_core.pipeline import generate
    result = generate(images=["portrait.jpg"], audio="speech.wav", text="Hello there!",
                      fps=25, out="talking.mp4", seed=0)
    print(result.video_path, result.json_path, result.timings)

Stages, each through its own public API (nothing is re-implemented here)::

    face analysis  -> load speech + features -> emotion embedder -> scene describer
                   -> A2M motion -> warp renderer -> video writer (H.264 + AAC mp4)

Rendered frames are streamed into the encoder one at a time (a small bounded queue lets the
renderer and the encoder run on two threads), so memory does not grow with the clip's length.
Before any stage runs, the output folder is created and the two temporary files the run will
write (the video and ``OUT.json``, hidden names beside ``out``) are made in it, so a folder that
cannot be written fails at once (:class:`~synchrorama_core.errors.OutputError`).  Both files are
renamed into place only when both are complete: a failed (disk full) or cancelled run leaves
neither ``out`` nor ``OUT.json`` nor a temporary file, and an earlier ``out`` is untouched.

``OUT.json`` (beside the video, same stem) holds every stage's result in its ``to_dict()`` form
(arrays as ``{"__ndarray__": {dtype, shape, data}}``), the seconds each stage took, the inputs
and options, and a ``summary`` section for people reading it.  Two deliberate omissions keep it
small: the speech ``waveform`` (16 kHz samples; it is the input audio file) is replaced by
``waveform_summary`` (samples, peak, RMS), and the face ``images`` (the input portraits) are
replaced by ``image_summary`` (sizes).  Everything else loads back, e.g.
``MotionData.from_dict(report["motion"])``.

Documented handling of unusual input:

* greyscale, greyscale+alpha and RGBA portraits are accepted: grey is repeated to RGB, alpha is
  composited over white (:func:`synchrorama_core.image.to_rgb_float`); EXIF rotation is applied;
* references of different sizes: the output has the first reference's size (the others are
  aligned onto it by the renderer);
* a portrait larger than ``max_side`` (1024 px on its longest side by default) is worked on as a
  head-and-shoulders crop around the face scaled to at most that size, with a warning: memory
  and time do not grow with the photo's pixel count beyond its decoding, and the video is at
  most 1024 px a side (an 8000x8000 mp4 would be no use to anyone; pass ``max_side`` for more);
* audio with NaN or infinite samples is refused while it is decoded, naming the file;
* an image with no face, a tiny image (< 32 px), a file that is not an image, a missing file,
  unreadable audio and audio shorter than one video frame raise an error subclassing
  ``ValueError``/``FileNotFoundError`` with a message that says what to do.
"""
from __future__ import annotations

import inspect
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from . import __version__
from .errors import AudioError, BackendError, Cancelled, InvalidDataError, OutputError
from .image import MAX_WORK_SIDE, load_image
from .outputs import commit, discard, os_reason, part_files, reserve
from .timing import check_fps
from .types import EMOTIONS, EmotionData, FaceData, MotionData, SceneData, SpeechData

#: The stages in order, as named in progress reports and in ``timings``.
STAGES = ("face", "speech", "emotion", "scene", "motion", "render")
#: Share of the overall progress bar given to each stage (render includes encoding).
_SHARE = {"face": 0.03, "speech": 0.05, "emotion": 0.01, "scene": 0.01, "motion": 0.01, "render": 0.89}

EMOTION_OPTIONS = ("weights", "smoothing_s", "intensity", "target", "target_strength",
                   "text_model", "ser_model", "va_model", "whisper_model")
SCENE_OPTIONS = ("extra_instructions", "on_failure")
MOTION_OPTIONS = ("head_scale", "expression_scale", "lip_scale", "blink_rate", "lead_frames", "procedural_blinks",
                  "phones", "language")
VIDEO_OPTIONS = ("crf", "preset")


ProgressCb = Callable[..., None]

#: The flat options a user gives on the command line or in a batch manifest (see :func:`generate_kwargs`).
FLAT_OPTIONS = ("fps", "seed", "start", "duration", "face_index", "head_scale", "expression_scale", "lip_scale",
                "blink_rate", "a2m", "emotion_weights", "emotion_intensity", "scene_url", "scene_model", "crf",
                "max_side")


def parse_weights(s) -> Optional[dict]:
    """Emotion fusion weights from ``"text=1,speech=0.5,va=1"`` (or a dict), ``None`` when empty."""
    if not s:
        return None
    if isinstance(s, dict):
        items = list(s.items())
    else:
        items = []
        for part in str(s).split(","):
            k, sep, v = part.partition("=")
            if not sep:
                raise InvalidDataError(f"emotion weights: {part!r} has no '='; use name=number pairs like "
                                       f"text=1,speech=0.5,va=1")
            items.append((k, v))
    out = {}
    for k, v in items:
        try:
            out[str(k).strip()] = float(v)
        except (TypeError, ValueError):
            raise InvalidDataError(f"emotion weights: expected a number for {str(k).strip()!r}, got {v!r}") from None
    return out


def generate_kwargs(flat: dict) -> dict:
    """:func:`generate` keyword arguments from flat options (keys of :data:`FLAT_OPTIONS`; ``None`` = default):
    ``fps``, ``seed``, ``start``/``duration`` (seconds), ``face_index``, the motion controls ``head_scale``,
    ``expression_scale``, ``lip_scale``, ``blink_rate``, ``a2m`` (a neural A2M name/folder or model),
    ``emotion_weights`` (``"text=1,speech=0.5,va=1"`` or a dict), ``emotion_intensity``, ``scene_url`` /
    ``scene_model`` (an OpenAI-compatible server for the scene describer), ``crf`` and ``max_side`` (the
    working size of a large portrait, px)."""
    unknown = sorted(set(flat) - set(FLAT_OPTIONS))
    if unknown:
        raise InvalidDataError(f"unknown option(s) {unknown}; known: {list(FLAT_OPTIONS)}")
    f = {k: v for k, v in flat.items() if v is not None}
    motion = {k: f[k] for k in ("head_scale", "expression_scale", "lip_scale", "blink_rate") if k in f}
    emotion = {}
    w = parse_weights(f.get("emotion_weights"))
    if w:
        emotion["weights"] = w
    if "emotion_intensity" in f:
        emotion["intensity"] = f["emotion_intensity"]
    backend = None
    if f.get("scene_url"):
        from .scene import HTTPBackend
        backend = HTTPBackend(base_url=f["scene_url"], model=f.get("scene_model", ""))
    kw = dict(motion_options=motion, emotion_options=emotion, video_options={"crf": f["crf"]} if "crf" in f else {},
              scene_backend=backend, motion_model=f.get("a2m") or None)
    for k, name in (("fps", "fps"), ("seed", "seed"), ("start", "start_s"), ("duration", "duration_s"),
                    ("face_index", "face_index"), ("max_side", "max_side")):
        if k in f:
            kw[name] = f[k]
    return kw


@dataclass
class PipelineResult:
    """What :func:`generate` made: the files, every stage's value and the timings."""

    video_path: str
    json_path: str
    n_frames: int
    fps: float
    duration_s: float
    timings: Dict[str, float]
    face: FaceData
    speech: SpeechData
    emotion: EmotionData
    scene: SceneData
    motion: MotionData
    video: Dict[str, Any] = field(default_factory=dict)
    report: Dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------ inputs

def _images(images) -> tuple:
    """``(list of image values, list of source names)`` from paths / arrays / PIL images."""
    if isinstance(images, (str, os.PathLike)) or hasattr(images, "shape") or hasattr(images, "mode"):
        images = [images]
    images = list(images or [])
    if not images:
        raise InvalidDataError("no reference image given; pass at least one portrait (--image IMG)")
    vals, sources = [], []
    for i, im in enumerate(images):
        if isinstance(im, (str, os.PathLike)):
            vals.append(load_image(im, i, len(images)))
            sources.append(os.fspath(im))
        else:
            vals.append(im)
            sources.append(getattr(im, "filename", "") or f"image {i}")
    return vals, sources


def _check_audio_path(audio) -> str:
    from .errors import AudioFileNotFoundError
    if not isinstance(audio, (str, os.PathLike)):
        raise InvalidDataError(f"audio must be the path of an audio file, got {type(audio).__name__}")
    audio = os.fspath(audio)
    if not os.path.exists(audio):
        raise AudioFileNotFoundError(f"audio file not found: {audio}")
    return audio


def _pick(options: Optional[dict], allowed: Sequence[str], what: str) -> dict:
    options = dict(options or {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InvalidDataError(f"unknown {what} option(s) {unknown}; known: {list(allowed)}")
    return options


def _progress_fn(progress: Optional[ProgressCb]) -> Optional[Callable[[int, int, str], None]]:
    """Accept ``progress(done, total, stage)`` or ``progress(done, total)``."""
    if progress is None:
        return None
    try:
        params = inspect.signature(progress).parameters.values()
        three = any(p.kind == p.VAR_POSITIONAL for p in params) or \
            sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params) >= 3
    except (TypeError, ValueError):
        three = True
    return progress if three else (lambda d, t, s: progress(d, t))


class _Progress:
    """Maps each stage's ``(done, total)`` onto one overall scale of ``TOTAL`` units."""

    TOTAL = 1000

    def __init__(self, cb):
        self.cb = cb
        self.last = -1

    def stage(self, name: str):
        lo = sum(_SHARE[s] for s in STAGES[:STAGES.index(name)])
        hi = lo + _SHARE[name]

        def report(done, total):
            if self.cb is None:
                return
            v = int(self.TOTAL * (lo + (hi - lo) * min(max(done / max(total, 1), 0.0), 1.0)))
            if v != self.last:
                self.last = v
                self.cb(v, self.TOTAL, name)
        return report

    def finish(self):
        if self.cb is not None:
            self.cb(self.TOTAL, self.TOTAL, "done")


# ------------------------------------------------------------------------------ report

def _mean(a) -> float:
    a = np.asarray(a, np.float64)
    return round(float(a.mean()), 4) if a.size else 0.0


def emotion_summary(emotion: EmotionData) -> dict:
    """Fused and per-modality means (valence, arousal, confidence, dominant emotion)."""
    def one(probs, valence, arousal):
        mp = np.asarray(probs, np.float64).mean(axis=0) if len(probs) else np.zeros(len(EMOTIONS))
        return {"mean_valence": _mean(valence), "mean_arousal": _mean(arousal),
                "dominant": EMOTIONS[int(np.argmax(mp))] if len(probs) else "",
                "mean_probs": dict(zip(EMOTIONS, np.round(mp, 4).tolist()))}
    out = {"fused": {**one(emotion.probs, emotion.valence, emotion.arousal),
                     "mean_intensity": _mean(emotion.intensity)}, "parts": {}}
    for k, p in emotion.parts.items():
        out["parts"][k] = {**one(p.probs, p.valence, p.arousal), "mean_confidence": _mean(p.confidence),
                           "backend": p.backend, "weight": emotion.weights.get(k, 1.0)}
    return out


def speech_dict(speech: SpeechData) -> dict:
    """``speech.to_dict()`` without the 16 kHz samples (replaced by their summary)."""
    d = speech.to_dict()
    w = speech.waveform
    d.pop("waveform", None)
    d["waveform_summary"] = {"omitted": "the 16 kHz samples are the input audio; not repeated here",
                             "samples": int(len(w)), "sample_rate": speech.sample_rate,
                             "peak": round(float(np.abs(w).max()), 5) if len(w) else 0.0,
                             "rms": round(float(np.sqrt(np.mean(np.square(w, dtype=np.float64)))), 5)
                             if len(w) else 0.0}
    return d


def face_dict(face: FaceData) -> dict:
    """``face.to_dict()`` without the portraits' pixels (replaced by their sizes)."""
    d = face.to_dict()
    d.pop("images", None)
    d["image_summary"] = {"omitted": "the portraits' pixels are the input images; not repeated here",
                          "sizes_hw": [list(im.shape[:2]) for im in face.images]}
    return d


def _write_json(tmp: str, data: dict, name: str) -> None:
    """Write ``data`` into the reserved temporary file ``tmp``; a failure names ``name`` (OUT.json)."""
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, allow_nan=False)
    except OSError as e:
        raise OutputError(f"cannot write {name}: {os_reason(e)}; neither it nor the video was kept") from e


def partial_files(out: str) -> List[str]:
    """Temporary files a run writing ``out`` (and its OUT.json) left behind, e.g. when its process was
    killed: for a batch to clean up (:func:`..outputs.part_files`)."""
    return sorted(part_files(out) + part_files(json_path_for(out)))


def output_files(out: str, write_json: bool) -> List[str]:
    """What a run writes: the video, then OUT.json."""
    return [out] + ([json_path_for(out)] if write_json else [])


def json_path_for(out: str) -> str:
    """``OUT.mp4`` -> ``OUT.json``."""
    root, _ = os.path.splitext(os.fspath(out))
    return root + ".json"


# ------------------------------------------------------------------------------ the pipeline

class _Run:
    """Timings, overall progress and cancellation of one :func:`generate` call."""

    def __init__(self, progress: Optional[ProgressCb], cancelled: Optional[Callable[[], bool]]):
        self.prog = _Progress(_progress_fn(progress))
        self.stop_check = (lambda: bool(cancelled())) if cancelled is not None else None
        self.timings: Dict[str, float] = {}

    def check(self) -> None:
        if self.stop_check is not None and self.stop_check():
            raise Cancelled("video generation cancelled by the user")

    def stage(self, name: str, fn, *a, **kw):
        """Run one stage's ``fn`` with its share of the progress bar, timed under ``name``."""
        self.check()
        t = time.perf_counter()
        v = fn(*a, progress=self.prog.stage(name), cancelled=self.stop_check, **kw)
        self.timings[name] = time.perf_counter() - t
        self.prog.stage(name)(1, 1)
        return v


def _render_options(render_options):
    from .render import RenderOptions
    if render_options is None:
        return RenderOptions()
    if isinstance(render_options, dict):
        try:
            return RenderOptions(**render_options)
        except TypeError as e:
            raise InvalidDataError(f"render options: {e}") from e
    if not isinstance(render_options, RenderOptions):
        raise InvalidDataError(f"render_options must be a RenderOptions or a dict, got "
                               f"{type(render_options).__name__}")
    return render_options


def _output_path(out) -> str:
    out = os.path.abspath(os.fspath(out))
    if not out.lower().endswith(".mp4"):
        raise InvalidDataError(f"the output must be an .mp4 file, got {out}")
    if os.path.isdir(out):
        raise InvalidDataError(f"the output {out} is a folder; give a file name ending in .mp4")
    return out


def motion_generator(motion_model: Any, motion_options: dict):
    """The A2M stage as one callable ``a2m(speech, emotion, scene, text, seed=..., progress=..., cancelled=...)
    -> SR_MOTION``: the speech's phone track first (the first half of the stage's progress; for the
    procedural A2M and neural models that use phones; options ``phones``, ``language``), then the
    procedural A2M (``motion_model`` None) or a neural one (the model, or its name/folder), with the
    other ``motion_options`` as controls.  The model is loaded once, here."""
    from .audio.phones import speech_phones
    from .motion import generate_procedural
    lips = {k: motion_options[k] for k in ("phones", "language") if k in motion_options}
    controls = {k: v for k, v in motion_options.items() if k not in lips}
    model = None
    if motion_model is not None:
        from .motion.neural import NeuralA2M, load_a2m
        model = motion_model if isinstance(motion_model, NeuralA2M) else load_a2m(os.fspath(motion_model))

    def a2m(speech, emotion, scene, text: str = "", seed: int = 0, progress=None, cancelled=None):
        progress = progress or (lambda d, t: None)
        track = None
        if model is None or model.uses_phones:
            track = speech_phones(speech, lips.get("phones", "auto"), text, lips.get("language", ""), emotion,
                                  progress=lambda d, t: progress(d, 2 * t), cancelled=cancelled)
        rest = dict(progress=lambda d, t: progress(t + d, 2 * t), cancelled=cancelled, phones=track, seed=int(seed))
        if model is None:
            return generate_procedural(speech, emotion, scene, **rest,
                                       **{k: v for k, v in controls.items() if k != "procedural_blinks"})
        return model.generate(speech, emotion, scene, **rest, **controls)
    return a2m


def run_stages(run: _Run, imgs, sources, audio: str, text: str, fps: float, seed: int, face_index: int,
               start_s: float, duration_s: Optional[float], emotion_options: dict, scene_backend: Any,
               scene_options: dict, motion_model: Any, motion_options: dict, max_side: int = MAX_WORK_SIDE):
    """Face -> speech -> emotion -> scene -> motion, each through its stage's public API.
    Returns ``(face, speech, emotion, scene, motion)``."""
    from .audio import load_speech
    from .emotion import embed_emotion
    from .face import analyze_faces
    from .scene import describe_scene
    face = run.stage("face", analyze_faces, imgs, face_index=face_index, sources=sources, max_side=max_side)
    speech = run.stage("speech", load_speech, audio, fps=fps, start_s=start_s, duration_s=duration_s)
    if speech.n_frames < 1:
        raise AudioError(f"{os.path.basename(audio)} holds {speech.duration_s * 1000:.1f} ms of audio, shorter than "
                         f"one video frame ({1000 / fps:.1f} ms at {fps:g} fps); use a longer speech clip")
    emotion = run.stage("emotion", embed_emotion, speech, text, **emotion_options)
    scene = run.stage("scene", describe_scene, speech, text, emotion, face, backend=scene_backend, seed=int(seed),
                      **scene_options)
    a2m = motion_generator(motion_model, motion_options)
    motion = run.stage("motion", a2m, speech, emotion, scene, text, seed=int(seed))
    if motion.n_frames != speech.n_frames:
        raise InvalidDataError(f"the motion has {motion.n_frames} frames but the speech {speech.n_frames}")
    return face, speech, emotion, scene, motion


def render_to_file(run: _Run, face: FaceData, motion: MotionData, audio: str, start_s: float,
                   duration_s: Optional[float], out: str, render_options, video_options: dict, tmp: str):
    """Warp-render ``motion`` and stream the frames with the audio into ``tmp`` (a temporary file the
    caller renames to ``out`` once everything is written; removed here on failure).  A file that
    cannot be written raises :class:`OutputError` naming ``out``.  Returns ``(video info, renderer)``."""
    from .audio import decode_audio
    from .render import WarpRenderer
    run.check()
    t = time.perf_counter()
    renderer = WarpRenderer(face, render_options)
    run.timings["render_setup"] = time.perf_counter() - t
    t = time.perf_counter()
    sound, sr = decode_audio(audio, start_s=start_s or 0.0, duration_s=duration_s)
    run.timings["audio_for_video"] = time.perf_counter() - t
    frames = renderer.frames(motion, progress=run.prog.stage("render"), cancelled=run.stop_check, dtype=np.uint8)
    info = encode_to_file(run, frames, motion.fps, motion.n_frames, sound, sr, out, tmp, video_options)
    return info, renderer


def encode_to_file(run: _Run, frames, fps: float, n_frames: int, sound, sample_rate: int, out: str, tmp: str,
                   video_options: dict):
    """Stream ``frames`` (uint8, a generator) with ``sound`` into ``tmp`` (a temporary file the caller
    renames to ``out`` once everything is written; removed here on failure).  A file that cannot be
    written raises :class:`OutputError` naming ``out``.  Returns the video info (``path`` = ``out``)."""
    from .video.stream import write_stream
    try:
        t = time.perf_counter()
        info = write_stream(tmp, frames, fps, audio=sound, sample_rate=sample_rate, cancelled=run.stop_check,
                            timings=run.timings, metadata={"comment": "made with SynchroRaMa"}, **video_options)
        run.timings["render_encode_wall"] = time.perf_counter() - t
    except (OSError, BackendError) as e:
        cause = e if isinstance(e, OSError) else e.__cause__
        if not isinstance(cause, OSError) or isinstance(e, OutputError):
            raise
        raise OutputError(f"cannot write the video {out}: {os_reason(cause)}; nothing was kept") from e
    info.path = out
    run.timings["render_fps"] = n_frames / max(run.timings["render"], 1e-9)
    return info


def _option_value(v):
    """An option as JSON: plain values as they are, model objects by name."""
    return v if isinstance(v, (int, float, str, dict, type(None))) else getattr(v, "name", type(v).__name__)


def build_report(*, info, sources, audio: str, text: str, fps: float, seed: int, face_index: int, start_s: float,
                 duration_s: Optional[float], emotion_options: dict, scene_backend: Any, scene_options: dict,
                 motion_options: dict, render_options, video_options: dict, timings: Dict[str, float],
                 face: FaceData, speech: SpeechData, emotion: EmotionData, scene: SceneData, motion: MotionData,
                 reference_used: List[int]) -> dict:
    """``OUT.json``: the video, inputs, options, timings, a summary for people, and every stage's value."""
    return {
        "synchrorama": __version__,
        "video": info.to_dict(),
        "inputs": {"images": sources, "audio": audio, "text": text, "fps": fps, "seed": int(seed),
                   "face_index": int(face_index), "start_s": float(start_s or 0.0),
                   "duration_s": None if duration_s is None else float(duration_s)},
        "options": {"emotion": {k: _option_value(v) for k, v in emotion_options.items()},
                    "scene_backend": "template" if scene_backend is None else _option_value(scene_backend),
                    "scene": scene_options, "motion_model": motion.generator, "motion": motion_options,
                    "render": {k: getattr(render_options, k) for k in render_options.__dataclass_fields__},
                    "video": video_options},
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        "summary": {"duration_s": round(speech.duration_s, 4), "n_frames": motion.n_frames, "fps": fps,
                    "emotion": emotion_summary(emotion),
                    "scene": [{"start_s": s.start_s, "end_s": s.end_s, "description": s.description,
                               "actions": list(s.actions)} for s in scene.segments],
                    "motion": motion.to_dict()["stats"],
                    "reference_used": reference_used},
        "face": face_dict(face),
        "speech": speech_dict(speech),
        "emotion": emotion.to_dict(),
        "scene": scene.to_dict(),
        "motion": motion.to_dict(),
    }


def generate(images, audio: str, text: Optional[str] = None, fps: float = 25.0, out: str = "synchrorama.mp4",
             seed: int = 0, *, face_index: int = -1, start_s: float = 0.0, duration_s: Optional[float] = None,
             emotion_options: Optional[dict] = None, scene_backend: Any = None,
             scene_options: Optional[dict] = None, motion_model: Any = None,
             motion_options: Optional[dict] = None, render_options: Any = None,
             video_options: Optional[dict] = None, write_json: bool = True, max_side: int = MAX_WORK_SIDE,
             progress: Optional[ProgressCb] = None, cancelled: Optional[Callable[[], bool]] = None
             ) -> PipelineResult:
    """Make a talking-portrait video ``out`` (H.264/AAC mp4) and ``OUT.json`` beside it.

    ``images``: one or more portraits (paths, arrays ``[H, W, C]`` or PIL images); with several,
    the renderer uses the one whose expression is nearest per frame.  ``audio``: path of the
    speech file (any format the audio stage decodes); ``start_s``/``duration_s`` trim it.
    ``text``: the transcript (optional; it feeds the text emotion and the scene describer).

    Per-stage options: ``face_index`` (-1 = largest face); ``emotion_options`` (keys of
    :data:`EMOTION_OPTIONS`, passed to :func:`synchrorama_core.emotion.embed_emotion`);
    ``scene_backend`` (None = the template; or an HTTP/local backend object) with
    ``scene_options`` (:data:`SCENE_OPTIONS`); ``motion_model`` (None = procedural; a
    :class:`~synchrorama_core.motion.neural.NeuralA2M` or the name/path of one) with
    ``motion_options`` (:data:`MOTION_OPTIONS`); ``render_options`` (a
    :class:`~synchrorama_core.render.RenderOptions` or a dict of its fields);
    ``video_options`` (``crf``, ``preset``).  ``seed`` drives the motion and the scene.
    ``max_side``: a portrait larger than this (px, longest side) is worked on as a face crop scaled
    to it, so the video is at most ``max_side`` a side (a warning says so; 0 = never).

    ``progress(done, total, stage)`` (or ``progress(done, total)``) gets the overall progress
    (``total`` = 1000) and the running stage's name; ``cancelled()`` is polled throughout and a
    ``True`` stops the run with :class:`~synchrorama_core.errors.Cancelled`, leaving no output.
    """
    t_all = time.perf_counter()
    out = _output_path(out)
    emotion_options = _pick(emotion_options, EMOTION_OPTIONS, "emotion")
    scene_options = _pick(scene_options, SCENE_OPTIONS, "scene")
    motion_options = _pick(motion_options, MOTION_OPTIONS, "motion")
    video_options = _pick(video_options, VIDEO_OPTIONS, "video")
    render_options = _render_options(render_options)
    fps = check_fps(fps)
    text = (text or "").strip()
    audio = _check_audio_path(audio)
    imgs, sources = _images(images)
    temps = reserve(output_files(out, write_json))
    try:
        run = _Run(progress, cancelled)
        face, speech, emotion, scene, motion = run_stages(
            run, imgs, sources, audio, text, fps, seed, face_index, start_s, duration_s, emotion_options,
            scene_backend, scene_options, motion_model, motion_options, max_side=max_side)
        del imgs
        info, renderer = render_to_file(run, face, motion, audio, start_s, duration_s, out, render_options,
                                        video_options, temps[0])
        run.timings["total"] = time.perf_counter() - t_all
        jpath = json_path_for(out)
        report = build_report(info=info, sources=sources, audio=audio, text=text, fps=fps, seed=seed,
                              face_index=face_index, start_s=start_s, duration_s=duration_s,
                              emotion_options=emotion_options, scene_backend=scene_backend,
                              scene_options=scene_options, motion_options=motion_options,
                              render_options=render_options, video_options=video_options, timings=run.timings,
                              face=face, speech=speech, emotion=emotion, scene=scene, motion=motion,
                              reference_used=_reference_counts(renderer, face.count))
        if write_json:
            _write_json(temps[1], report, jpath)
        commit(list(zip(temps, [out, jpath])))
    except BaseException:
        discard(temps)
        raise
    run.prog.finish()
    return PipelineResult(video_path=out, json_path=jpath if write_json else "", n_frames=motion.n_frames,
                          fps=fps, duration_s=speech.duration_s, timings=dict(run.timings), face=face, speech=speech,
                          emotion=emotion, scene=scene, motion=motion, video=info.to_dict(), report=report)


def _reference_counts(renderer, k: int) -> List[int]:
    """How many frames each reference image was chosen for (the renderer records its choices)."""
    counts = [0] * k
    for c in getattr(renderer, "choices", []) or []:
        if c is not None and 0 <= int(c) < k:
            counts[int(c)] += 1
    return counts


def bundled_sample() -> Dict[str, str]:
    """Paths of the bundled demo portrait, speech and transcript (no downloads)."""
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
    paths = {"image": os.path.join(d, "sample_portrait.jpg"), "audio": os.path.join(d, "sample_speech.flac"),
             "text_file": os.path.join(d, "sample_speech.txt")}
    for k, p in paths.items():
        if not os.path.isfile(p):
            raise FileNotFoundError(f"the bundled sample {k} is missing: {p}; reinstall the SynchroRaMa node pack")
    return paths


def demo(out: str = "synchrorama_demo.mp4", duration_s: Optional[float] = None, **kw) -> PipelineResult:
    """Run :func:`generate` on the bundled sample portrait and speech (optionally only its first seconds)."""
    s = bundled_sample()
    with open(s["text_file"], "r", encoding="utf-8") as f:
        text = f.read().strip()
    return generate(images=[s["image"]], audio=s["audio"], text=text, out=out, duration_s=duration_s, **kw)


__all__ = ["EMOTION_OPTIONS", "MOTION_OPTIONS", "PipelineResult",
           "SCENE_OPTIONS", "STAGES", "VIDEO_OPTIONS", "bundled_sample", "demo", "emotion_summary", "face_dict",
           "generate", "json_path_for", "output_files", "partial_files", "speech_dict"]
