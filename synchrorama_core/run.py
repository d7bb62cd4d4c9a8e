"""One run of the whole flow: the machinery that :mod:`~.pipeline` (one speaker) and
:mod:`~.conversation` (several) share, in one place.

* **Options**: :func:`pick_options` (unknown names are an error listing the known ones),
  :func:`check_render_options`, :func:`check_output_path` (an ``.mp4`` that is not a folder),
  :func:`check_audio_path`; :func:`options_report` writes them into ``OUT.json``.
* **Output files** (:class:`OutputFiles`): before any stage runs, the output folder is created and
  the run's temporary files (the video and ``OUT.json``, hidden names beside ``out``) are made in
  it, so a folder that cannot be written fails at once (:class:`~.errors.OutputError`).  Both are
  renamed into place only when both are complete; a failed or cancelled run leaves neither file nor
  a temporary one, and an earlier ``out`` is untouched.  :func:`partial_files` finds the temporary
  files of a run whose process was killed.
* **Progress, cancel and timings** (:class:`Run`): every stage of :data:`STAGES` gets its share of
  one overall progress bar, is timed, and a cancel raises :class:`~.errors.Cancelled` between and
  inside stages.
* **Encoding** (:func:`encode_to_file`): frames streamed with the sound into the reserved video file.
* **Speech length** (:func:`check_speech_frames`): audio shorter than one video frame is an error.
"""
from __future__ import annotations

import inspect
import json
import os
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from .errors import AudioError, BackendError, Cancelled, InvalidDataError, OutputError
from .outputs import commit, discard, os_reason, part_files, reserve

#: The stages in order, as named in progress reports and in ``timings``.
STAGES = ("face", "speech", "emotion", "scene", "motion", "render")
#: Share of the overall progress bar given to each stage (render includes encoding).
_SHARE = {"face": 0.03, "speech": 0.05, "emotion": 0.01, "scene": 0.01, "motion": 0.01, "render": 0.89}

ProgressCb = Callable[..., None]


@dataclass
class RunResult:
    """The files one run made and its timings (the first fields of :class:`~.pipeline.PipelineResult`
    and :class:`~.conversation.ConversationResult`, which add the stages' values)."""

    video_path: str
    json_path: str              # "" when no OUT.json was asked for
    n_frames: int
    fps: float
    duration_s: float
    timings: Dict[str, float]


# ------------------------------------------------------------------------------ options

def pick_options(options: Optional[dict], allowed: Sequence[str], what: str) -> dict:
    """``options`` as a dict (``None`` = empty); a name not in ``allowed`` is an error listing them."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InvalidDataError(f"unknown {what} option(s) {unknown}; known: {list(allowed)}")
    return options


def check_render_options(render_options):
    """A :class:`~.render.RenderOptions` from ``None`` (the defaults), a dict of its fields or itself."""
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


def check_output_path(out) -> str:
    """The absolute path of ``out``, which must end in ``.mp4`` and not be a folder."""
    out = os.path.abspath(os.fspath(out))
    if not out.lower().endswith(".mp4"):
        raise InvalidDataError(f"the output must be an .mp4 file, got {out}")
    if os.path.isdir(out):
        raise InvalidDataError(f"the output {out} is a folder; give a file name ending in .mp4")
    return out


def check_audio_path(audio) -> str:
    """``audio`` as a path string; not a path, or a missing file, is an error naming it."""
    from .errors import AudioFileNotFoundError
    if not isinstance(audio, (str, os.PathLike)):
        raise InvalidDataError(f"audio must be the path of an audio file, got {type(audio).__name__}")
    audio = os.fspath(audio)
    if not os.path.exists(audio):
        raise AudioFileNotFoundError(f"audio file not found: {audio}")
    return audio


def check_speech_frames(speech, fps: float, what: str, advice: str = "use a longer speech clip") -> None:
    """An :class:`~.errors.AudioError` when ``speech`` (named ``what``) is shorter than one video frame."""
    if speech.n_frames < 1:
        raise AudioError(f"{what} holds {speech.duration_s * 1000:.1f} ms of audio, shorter than one video frame "
                         f"({1000 / fps:.1f} ms at {fps:g} fps); {advice}")


def option_value(v):
    """An option as JSON: plain values as they are, model objects by name."""
    return v if isinstance(v, (int, float, str, dict, type(None))) else getattr(v, "name", type(v).__name__)


def options_report(*, emotion_options: dict, scene_backend, scene_options: dict, motion_model: str,
                   motion_options: dict, render_options, video_options: dict, **more) -> dict:
    """The ``options`` section of ``OUT.json`` (``motion_model``: the generator's name; ``more`` is
    added after the shared ones)."""
    return {"emotion": {k: option_value(v) for k, v in emotion_options.items()},
            "scene_backend": "template" if scene_backend is None else option_value(scene_backend),
            "scene": scene_options, "motion_model": motion_model, "motion": motion_options,
            "render": {k: getattr(render_options, k) for k in render_options.__dataclass_fields__},
            "video": video_options, **more}


# ------------------------------------------------------------------------------ bundled samples

#: The bundled samples' folder (``synchrorama_core/assets``; see its README).
ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")


def bundled_files(what: str, **names: str) -> Dict[str, str]:
    """``{key: path}`` of the bundled files ``key=file name`` in :data:`ASSETS`; a missing one is a
    ``FileNotFoundError`` naming it (``what``: "sample", "conversation sample")."""
    paths = {k: os.path.join(ASSETS, name) for k, name in names.items()}
    for k, p in paths.items():
        if not os.path.isfile(p):
            raise FileNotFoundError(f"the bundled {what} {k} is missing: {p}; reinstall the SynchroRaMa node pack")
    return paths


# ------------------------------------------------------------------------------ output files

def json_path_for(out: str) -> str:
    """``OUT.mp4`` -> ``OUT.json``."""
    root, _ = os.path.splitext(os.fspath(out))
    return root + ".json"


def partial_files(out: str) -> List[str]:
    """Temporary files a run writing ``out`` (and its OUT.json) left behind, e.g. when its process was
    killed: for a batch to clean up (:func:`..outputs.part_files`)."""
    return sorted(part_files(out) + part_files(json_path_for(out)))


def reserve_outputs(out: str, write_json: bool) -> List[str]:
    """Create ``out``'s folder and the run's temporary files in it (video, then OUT.json): what cannot
    be written fails here, before any stage runs.  Returns their paths."""
    return reserve([out] + ([json_path_for(out)] if write_json else []), what=out)


def write_json(tmp: str, data: dict, name: str) -> None:
    """Write ``data`` into the reserved temporary file ``tmp``; a failure names ``name`` (OUT.json)."""
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, allow_nan=False)
    except OSError as e:
        raise OutputError(f"cannot write {name}: {os_reason(e)}; neither it nor the video was kept") from e


class OutputFiles:
    """The video ``out`` and (with ``write_json``) ``OUT.json`` of one run, reserved when made
    (:func:`reserve_outputs`)::

        with OutputFiles(out, write_json) as files:
            ... write the video into files.video_tmp ...
            files.commit(report)        # OUT.json written, both renamed into place

    Leaving the ``with`` block by any exception (a cancel included) removes the temporary files."""

    def __init__(self, out: str, write_json: bool):
        self.out = out
        #: the final ``OUT.json`` path, ``""`` without one
        self.json_path = json_path_for(out) if write_json else ""
        self.temps = reserve_outputs(out, write_json)

    @property
    def video_tmp(self) -> str:
        """The temporary file the video is written into."""
        return self.temps[0]

    def commit(self, report: dict) -> None:
        """Write ``report`` as ``OUT.json`` (when asked for) and rename both files into place."""
        if self.json_path:
            write_json(self.temps[1], report, self.json_path)
        commit(list(zip(self.temps, [self.out, self.json_path])))

    def __enter__(self) -> "OutputFiles":
        return self

    def __exit__(self, et, ev, tb) -> bool:
        if et is not None:
            discard(self.temps)
        return False


# ------------------------------------------------------------------------------ progress, cancel, timings

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


class Run:
    """Timings, overall progress and cancellation of one run (:func:`~.pipeline.generate`,
    :func:`~.conversation.generate_conversation`)."""

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


# ------------------------------------------------------------------------------ encoding

def encode_to_file(run: Run, frames, fps: float, n_frames: int, sound, sample_rate: int, out: str, tmp: str,
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


__all__ = ["ASSETS", "OutputFiles", "ProgressCb", "Run", "RunResult", "STAGES", "bundled_files", "check_audio_path",
           "check_output_path", "check_render_options", "check_speech_frames",
           "encode_to_file", "json_path_for", "option_value", "options_report", "partial_files",
           "pick_options", "reserve_outputs", "write_json"]
