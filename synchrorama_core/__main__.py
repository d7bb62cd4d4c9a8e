"""Command line: ``python -m synchrorama_core demo|generate ...`` (see ``docs/pipeline.md``).

::

    python -m synchrorama_core demo --out demo.mp4
    python -m synchrorama_core generate --image face.jpg [--image face2.jpg ...] --audio speech.wav \\
        [--text "transcript" | --text-file transcript.txt] [--fps 25] [--seed 0] --out talking.mp4
    python -m synchrorama_core generate --image two_people.jpg --audio left.wav --audio right.wav \\
        [--text "left's words" --text "right's words"] [--face-index 1 --face-index 0] --out talk.mp4
    python -m synchrorama_core generate --image two_people.jpg --audio both.wav --turns "0-2.5:0,2.5-6:1" --out talk.mp4
    python -m synchrorama_core batch jobs.jsonl --out renders/ [--workers N] [--engine local|ray] [--resume]

Several ``--audio`` (or ``--turns``) make a conversation (``synchrorama_core.conversation``).
Both write ``OUT.json`` beside the video.  A progress bar goes to stderr.  Ctrl-C stops at the
next frame and leaves no video file (press it twice to stop at once).  Bad input gives a one-line
``error:`` message and exit code 2; a cancel exits with 130.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from typing import List, Optional

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130


class ProgressBar:
    """A one-line text progress bar on a stream (a line per 10 % when it is not a terminal)."""

    def __init__(self, stream=None, width: int = 30, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.monotonic()
        self.last_draw = 0.0
        self.last_decile = -1
        self.last_stage = None
        self.drawn = False

    def __call__(self, done: int, total: int, stage: str = "") -> None:
        if not self.enabled:
            return
        frac = min(max(done / max(total, 1), 0.0), 1.0)
        now = time.monotonic()
        el = now - self.t0
        if self.tty:
            if now - self.last_draw < 0.1 and frac < 1.0 and stage == self.last_stage:
                return
            self.last_draw, self.last_stage = now, stage
            fill = int(round(frac * self.width))
            eta = f" ETA {_mmss(el / frac - el)}" if 0.02 < frac < 1.0 else ""
            line = f"\r[{'#' * fill}{'-' * (self.width - fill)}] {frac * 100:5.1f}% {stage:<7} {_mmss(el)}{eta}"
            self.stream.write(line.ljust(75))
            self.stream.flush()
            self.drawn = True
        else:
            dec = int(frac * 10)
            if dec != self.last_decile or stage != self.last_stage:
                self.last_decile, self.last_stage = dec, stage
                self.stream.write(f"{frac * 100:5.1f}% {stage} ({_mmss(el)})\n")
                self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def _mmss(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60:02d}:{s % 60:02d}"


class CtrlC:
    """First Ctrl-C: ask the pipeline to stop at the next check; second: stop at once."""

    def __init__(self):
        self.hits = 0
        self._old = None

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGINT, self._handler)
        except ValueError:          # not the main thread: leave Python's default
            self._old = None
        return self

    def _handler(self, signum, frame):
        self.hits += 1
        if self.hits == 1:
            sys.stderr.write("\nstopping... (Ctrl-C again to stop at once)\n")
            sys.stderr.flush()
        else:
            raise KeyboardInterrupt

    def __call__(self) -> bool:
        return self.hits > 0

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def _positive(kind):
    def parse(s):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {s}")
        return v
    return parse


def _common(p: argparse.ArgumentParser, out_default: Optional[str]) -> None:
    p.add_argument("--out", "-o", required=out_default is None, default=out_default,
                   help="output video (.mp4); OUT.json is written beside it" +
                        (f" (default {out_default})" if out_default else ""))
    p.add_argument("--fps", type=_positive(float), default=25.0, help="video frame rate (default 25)")
    p.add_argument("--seed", type=int, default=0, help="seed of the motion and scene (default 0)")
    p.add_argument("--start", type=float, default=0.0, metavar="SECONDS", help="skip this much of the audio")
    p.add_argument("--duration", "--max-seconds", dest="duration", type=_positive(float), default=None,
                   metavar="SECONDS", help="use at most this much audio (default: all of it)")
    g = p.add_argument_group("motion controls")
    g.add_argument("--head-scale", type=float, default=None, help="head motion amplitude (0 = still, default 1)")
    g.add_argument("--expression-scale", type=float, default=None, help="emotion expressions (default 1)")
    g.add_argument("--lip-scale", type=float, default=None, help="mouth movement (default 1)")
    g.add_argument("--blink-rate", type=float, default=None, help="blinks per minute at rest (default 17)")
    g.add_argument("--a2m", default=None, metavar="MODEL",
                   help="a neural A2M model (name under models/synchrorama/a2m/ or a folder); default: procedural")
    g = p.add_argument_group("emotion, scene and video")
    g.add_argument("--emotion-weights", default=None, metavar="text=1,speech=1,va=1",
                   help="fusion weights of the emotion modalities")
    g.add_argument("--emotion-intensity", type=float, default=None, help="emotion intensity multiplier (default 1)")
    g.add_argument("--scene-url", default=None, metavar="URL",
                   help="an OpenAI-compatible server for the scene describer (default: the template)")
    g.add_argument("--scene-model", default="", help="model name on --scene-url")
    g.add_argument("--crf", type=int, default=None, help="H.264 quality 0..51, lower is better (default 19)")
    g.add_argument("--max-side", type=int, default=None, metavar="PX",
                   help="a portrait larger than this is worked on as a face crop of at most PX a side, which is "
                        "then the video's size (default 1024; 0 = use the whole photo)")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    g.add_argument("--debug", action="store_true", help="show Python tracebacks for errors")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m synchrorama_core",
                                description="SynchroRaMa: emotion-aware talking portrait video from photo(s) and speech.")
    sub = p.add_subparsers(dest="command", metavar="{generate,demo,batch}")
    sub.required = True
    g = sub.add_parser("generate", help="make a video from your portrait(s) and speech",
                       description="Make a talking-portrait video (mp4) and OUT.json from portrait(s) and speech.")
    g.add_argument("--image", "-i", action="append", required=True, metavar="IMG",
                   help="reference portrait; repeat for several (the nearest expression is used per frame). "
                        "Conversation: the picture with every speaker's face (several are composed side by side)")
    g.add_argument("--face-index", type=int, action="append", default=None, metavar="K",
                   help="which face when there are several (-1 = largest; faces counted from 0 on the left). "
                        "Conversation: repeat once per --audio to assign speakers to faces (default: left to right)")
    g.add_argument("--audio", "-a", action="append", required=True, metavar="SPEECH",
                   help="speech audio (wav, flac, mp3, m4a, ...); repeat once per speaker for a conversation")
    t = g.add_mutually_exclusive_group()
    t.add_argument("--text", "-t", action="append", default=None, metavar="TRANSCRIPT",
                   help="what is said (optional); conversation: once per --audio, in the same order")
    t.add_argument("--text-file", action="append", default=None, metavar="FILE",
                   help="the transcript from a UTF-8 text file (conversation: once per --audio)")
    c = g.add_argument_group("conversation (several speakers)")
    c.add_argument("--turns", default=None, metavar="START-END:SPEAKER,...",
                   help="one --audio holding several voices, split by time ranges in seconds, speakers numbered "
                        "from 0 left to right: '0-2.5:0,2.5-6:1,6-end:0'")
    c.add_argument("--name", action="append", default=None, metavar="NAME",
                   help="how the scene text names each speaker (default by place: 'the person on the left')")
    c.add_argument("--gaze", type=float, default=None, metavar="DEG",
                   help="listeners turn their head this far toward the speaker (default 7)")
    c.add_argument("--reaction", type=float, default=None, metavar="0..1",
                   help="how much of the speaker's emotion shows on a listener (default 0.5)")
    _common(g, None)
    d = sub.add_parser("demo", help="the bundled sample portrait and speech (no downloads)",
                       description="Run the whole pipeline on the bundled sample portrait and speech.")
    d.add_argument("--conversation", action="store_true",
                   help="the bundled two-person sample instead (two portraits side by side, one track, two voices)")
    _common(d, "synchrorama_demo.mp4")
    b = sub.add_parser("batch", help="many clips from a manifest (JSON Lines or CSV), on a process pool or Ray",
                       description="Render every job of a manifest (one JSON object per line, or CSV with a header; "
                                   "keys: image, audio, text | text_file, output, and the generate options fps, "
                                   "seed, start, duration, face_index, head_scale, expression_scale, lip_scale, "
                                   "blink_rate, a2m, emotion_weights, emotion_intensity, scene_url, scene_model, "
                                   "crf). Writes OUT/NAME.mp4 + NAME.json per job and OUT/batch_summary.json.")
    b.add_argument("manifest", help="jobs file (.jsonl/.json lines, or .csv)")
    b.add_argument("--out", "-o", required=True, help="output folder")
    b.add_argument("--workers", "-j", type=_positive(int), default=None,
                   help="worker processes (default: the number of CPUs; with --engine ray, the cluster's)")
    b.add_argument("--engine", choices=("local", "ray"), default=None,
                   help="local process pool (default) or Ray (default when RAY_ADDRESS is set)")
    b.add_argument("--resume", action="store_true",
                   help="skip jobs the summary in --out records as done (unchanged inputs, outputs present)")
    b.add_argument("--keep-going", action="store_true",
                   help="run the good jobs even if some manifest lines are bad (they are recorded as failed)")
    b.add_argument("--retries", type=int, default=1, help="re-runs of a job whose worker died (default 1)")
    b.add_argument("--quiet", "-q", action="store_true", help="no progress bar (one line at the end)")
    b.add_argument("--debug", action="store_true", help="show Python tracebacks for errors")
    return p


class UsageError(ValueError):
    pass


def _kwargs(args) -> dict:
    from .pipeline import FLAT_OPTIONS, generate_kwargs
    flat = {k: getattr(args, k) for k in FLAT_OPTIONS if k != "face_index"}
    return dict(generate_kwargs(flat), out=args.out)


def _read_text(path: str) -> str:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"transcript file not found: {path}")
    try:
        with open(path, "r", encoding="utf-8-sig") as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise UsageError(f"transcript file {path} is not UTF-8 text ({e})") from None


def _batch(args, bar: ProgressBar, stop) -> int:
    from .batch import run_batch
    engine = args.engine or ("ray" if os.environ.get("RAY_ADDRESS") else "local")
    res = run_batch(args.manifest, args.out, workers=args.workers, engine=engine, resume=args.resume,
                    keep_going=args.keep_going, retries=args.retries, progress=bar, cancelled=stop)
    bar.close()
    c = res.counts
    print(f"batch: {c.get('done', 0)} done, {c.get('failed', 0)} failed of {len(res.jobs)} jobs in "
          f"{res.seconds:.1f} s; summary {res.summary_path}")
    for j in res.jobs:
        if j["status"] == "failed":
            print(f"  failed line {j['line']} {j['name'] or ''}: {j.get('error', '')}".rstrip())
    return 0 if res.ok else 1


def _single_speaker_only(args, texts) -> None:
    """Repeated options that only a conversation (several --audio or --turns) can use."""
    for flag, values in (("--face-index", args.face_index), ("--text/--text-file", texts)):
        if values is not None and len(values) > 1:
            raise UsageError(f"{flag} was given {len(values)} times for one --audio; repeat --audio once per "
                             f"speaker for a conversation (or give {flag} once)")
    for flag, v in (("--name", args.name), ("--gaze", args.gaze), ("--reaction", args.reaction)):
        if v is not None:
            raise UsageError(f"{flag} is a conversation option; give several --audio (or --turns)")


def _conversation(args, texts, kw: dict, bar, stop):
    from .conversation import generate_conversation
    kw = dict(kw)
    kw.pop("face_index", None)
    listening = {k: v for k, v in (("gaze_deg", args.gaze), ("reaction", args.reaction)) if v is not None}
    return generate_conversation(args.image, args.audio, texts=texts or None, face_indices=args.face_index,
                                 turns=args.turns, names=args.name, listening_options=listening,
                                 progress=bar, cancelled=stop, **kw)


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr)
    from .errors import Cancelled, OutputError, SynchroRaMaError, one_line
    bar = ProgressBar(enabled=not args.quiet)
    t0 = time.monotonic()
    try:
        with CtrlC() as stop:
            if args.command == "batch":
                return _batch(args, bar, stop)
            from . import pipeline
            kw = _kwargs(args)
            if args.command == "demo" and args.conversation:
                from .conversation import demo_conversation
                res = demo_conversation(progress=bar, cancelled=stop, **kw)
            elif args.command == "demo":
                res = pipeline.demo(progress=bar, cancelled=stop, **kw)
            else:
                texts = args.text if args.text is not None else [_read_text(f) for f in args.text_file or []]
                if len(args.audio) > 1 or args.turns:
                    res = _conversation(args, texts, kw, bar, stop)
                else:
                    _single_speaker_only(args, texts)
                    res = pipeline.generate(images=args.image, audio=args.audio[0], text=texts[0] if texts else "",
                                            face_index=(args.face_index or [-1])[0], progress=bar, cancelled=stop,
                                            **kw)
    except (Cancelled, KeyboardInterrupt) as e:
        bar.close()
        if args.command == "batch":
            sys.stderr.write(f"cancelled: {e if isinstance(e, Cancelled) else 'stopped at once'}\n")
        else:
            sys.stderr.write("cancelled: no video was written\n")
        return EXIT_CANCELLED
    except (SynchroRaMaError, FileNotFoundError, ValueError) as e:
        bar.close()
        if args.debug:
            raise
        from .batch import ManifestError
        if isinstance(e, ManifestError):   # one line per bad job
            sys.stderr.write("".join(f"error: {args.manifest}: {m}\n" for m in e.errors))
            return EXIT_BAD_INPUT
        msg = one_line(e)
        if isinstance(e, OutputError):
            msg += " (--out)"
        sys.stderr.write(f"error: {msg}\n")
        return EXIT_BAD_INPUT
    bar.close()
    tm = res.timings
    stages = ", ".join(f"{k} {tm[k]:.2f}s" for k in ("face", "speech", "emotion", "scene", "motion", "render", "encode")
                       if k in tm)
    who = f", {res.cast.count} speakers" if hasattr(res, "cast") else ""
    print(f"wrote {res.video_path} ({res.n_frames} frames, {res.duration_s:.2f} s at {res.fps:g} fps{who}) and "
          f"{res.json_path} in {time.monotonic() - t0:.1f} s ({stages})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
