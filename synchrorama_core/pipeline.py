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

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from . import __version__
from .errors import InvalidDataError
from .image import MAX_WORK_SIDE, load_images
from .run import (STAGES, OutputFiles, ProgressCb, Run, RunResult, bundled_files, check_audio_path, check_output_path,
                  check_render_options, check_speech_frames, encode_to_file, json_path_for, options_report,
                  partial_files, pick_options)
from .timing import check_fps
from .types import EMOTIONS, EmotionData, FaceData, MotionData, SceneData, SpeechData

EMOTION_OPTIONS = ("weights", "smoothing_s", "intensity", "target", "target_strength",
                   "text_model", "ser_model", "va_model", "whisper_model")
SCENE_OPTIONS = ("extra_instructions", "on_failure")
MOTION_OPTIONS = ("head_scale", "expression_scale", "lip_scale", "blink_rate", "lead_frames", "procedural_blinks",
                  "phones", "language")
VIDEO_OPTIONS = ("crf", "preset")

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
class PipelineResult(RunResult):
    """What :func:`generate` made: the files and timings (:class:`~.run.RunResult`), every stage's value."""

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
    return load_images(images or [], "no reference image given; pass at least one portrait (--image IMG)")


def check_stage_options(emotion_options: Optional[dict], scene_options: Optional[dict],
                        motion_options: Optional[dict], video_options: Optional[dict], render_options) -> tuple:
    """The stages' options checked (unknown names are an error listing the known ones: :data:`EMOTION_OPTIONS`,
    :data:`SCENE_OPTIONS`, :data:`MOTION_OPTIONS`, :data:`VIDEO_OPTIONS`; ``render_options`` a
    :class:`~.render.RenderOptions` or a dict of its fields): ``(emotion, scene, motion, video, render)``."""
    return (pick_options(emotion_options, EMOTION_OPTIONS, "emotion"),
            pick_options(scene_options, SCENE_OPTIONS, "scene"),
            pick_options(motion_options, MOTION_OPTIONS, "motion"),
            pick_options(video_options, VIDEO_OPTIONS, "video"),
            check_render_options(render_options))


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


# ------------------------------------------------------------------------------ the pipeline

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


def run_stages(run: Run, imgs, sources, audio: str, text: str, fps: float, seed: int, face_index: int,
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
    check_speech_frames(speech, fps, os.path.basename(audio))
    emotion = run.stage("emotion", embed_emotion, speech, text, **emotion_options)
    scene = run.stage("scene", describe_scene, speech, text, emotion, face, backend=scene_backend, seed=int(seed),
                      **scene_options)
    a2m = motion_generator(motion_model, motion_options)
    motion = run.stage("motion", a2m, speech, emotion, scene, text, seed=int(seed))
    if motion.n_frames != speech.n_frames:
        raise InvalidDataError(f"the motion has {motion.n_frames} frames but the speech {speech.n_frames}")
    return face, speech, emotion, scene, motion


def render_to_file(run: Run, face: FaceData, motion: MotionData, audio: str, start_s: float,
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
        "options": options_report(emotion_options=emotion_options, scene_backend=scene_backend,
                                  scene_options=scene_options, motion_model=motion.generator,
                                  motion_options=motion_options, render_options=render_options,
                                  video_options=video_options),
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
    out = check_output_path(out)
    emotion_options, scene_options, motion_options, video_options, render_options = check_stage_options(
        emotion_options, scene_options, motion_options, video_options, render_options)
    fps = check_fps(fps)
    text = (text or "").strip()
    audio = check_audio_path(audio)
    imgs, sources = _images(images)
    with OutputFiles(out, write_json) as files:
        run = Run(progress, cancelled)
        face, speech, emotion, scene, motion = run_stages(
            run, imgs, sources, audio, text, fps, seed, face_index, start_s, duration_s, emotion_options,
            scene_backend, scene_options, motion_model, motion_options, max_side=max_side)
        del imgs
        info, renderer = render_to_file(run, face, motion, audio, start_s, duration_s, out, render_options,
                                        video_options, files.video_tmp)
        run.timings["total"] = time.perf_counter() - t_all
        report = build_report(info=info, sources=sources, audio=audio, text=text, fps=fps, seed=seed,
                              face_index=face_index, start_s=start_s, duration_s=duration_s,
                              emotion_options=emotion_options, scene_backend=scene_backend,
                              scene_options=scene_options, motion_options=motion_options,
                              render_options=render_options, video_options=video_options, timings=run.timings,
                              face=face, speech=speech, emotion=emotion, scene=scene, motion=motion,
                              reference_used=_reference_counts(renderer, face.count))
        files.commit(report)
    run.prog.finish()
    return PipelineResult(video_path=out, json_path=files.json_path, n_frames=motion.n_frames,
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
    return bundled_files("sample", image="sample_portrait.jpg", audio="sample_speech.flac",
                         text_file="sample_speech.txt")


def demo(out: str = "synchrorama_demo.mp4", duration_s: Optional[float] = None, **kw) -> PipelineResult:
    """Run :func:`generate` on the bundled sample portrait and speech (optionally only its first seconds)."""
    s = bundled_sample()
    with open(s["text_file"], "r", encoding="utf-8") as f:
        text = f.read().strip()
    return generate(images=[s["image"]], audio=s["audio"], text=text, out=out, duration_s=duration_s, **kw)


__all__ = ["EMOTION_OPTIONS", "MOTION_OPTIONS", "PipelineResult",
           "SCENE_OPTIONS", "STAGES", "VIDEO_OPTIONS", "bundled_sample", "demo", "emotion_summary", "face_dict",
           "generate", "json_path_for", "partial_files", "speech_dict"]
