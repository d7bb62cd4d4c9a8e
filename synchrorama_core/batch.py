"""Batch rendering: many talking-portrait clips from one manifest, on a local process pool or a Ray cluster.

::

    python -m synchrorama_core batch jobs.jsonl --out renders/ [--workers 2] [--engine local|ray]
        [--resume] [--keep-going] [--retries 1] [--quiet]

**Manifest.** JSON Lines (one JSON object per line; blank lines and lines starting with ``#`` are
skipped) or CSV with a header row (``.csv``).  Each job takes the options of ``generate``:

========================  ==========================================================================
``image`` / ``images``    portrait path, or a list (CSV: separated by ``;``); required
``audio``                 speech file; required
``text`` / ``text_file``  the transcript, or a UTF-8 file holding it (optional; not both)
``output``                output name in ``--out`` (``NAME`` -> ``NAME.mp4`` + ``NAME.json``); default:
                          the audio file's stem.  Names must be unique.
the rest                  :data:`synchrorama_core.pipeline.FLAT_OPTIONS`: ``fps``, ``seed``, ``start``,
                          ``duration``, ``face_index``, ``head_scale``, ``expression_scale``,
                          ``lip_scale``, ``blink_rate``, ``a2m``, ``emotion_weights``,
                          ``emotion_intensity``, ``scene_url``, ``scene_model``, ``crf``, ``max_side``
========================  ==========================================================================

Relative paths are relative to the manifest's folder.  The whole manifest is checked before any work
starts (unknown keys, missing files, wrong types, duplicate output names): every bad line is reported
and nothing runs, unless ``keep_going`` (then bad lines are recorded as failed and the rest runs).

**Engines.** ``local``: a process pool of ``workers`` processes (default: this machine's CPU count).
``ray``: Ray actors, one per worker (default: the cluster's CPU count), fed by
:class:`ray.util.ActorPool`, on the cluster ``RAY_ADDRESS`` names (or a local Ray instance); Ray is an
optional extra (``pip install 'ray[default]'``).  Either way each worker loads its models and the face
tracker once and keeps them for all its jobs, and the output folder (and inputs) must be reachable from
every worker (shared storage on a cluster).

**Nothing lost.** A failing job (no face, unreadable audio, bad option) is recorded with its one-line
error and the others go on.  Outputs are written atomically by :func:`~synchrorama_core.pipeline.generate`.
``OUT/batch_summary.json`` lists every job (status ``done``, ``failed``, ``cancelled``, ``pending``,
``running``; output paths, seconds, attempts, error) and is rewritten atomically after every change, so
it is consistent even if the batch is killed.  A worker that dies mid-job (killed, out of memory) makes
its jobs ``interrupted``: they run again up to ``retries`` times.  ``resume`` skips the jobs the summary
records as done whose outputs still exist and whose inputs and options are unchanged, and redoes the
rest.  Cancelling (``cancelled()``; the CLI's first Ctrl-C) stops the running jobs at their next frame,
leaves no partial file and marks them ``cancelled``; an exception while the batch runs (the CLI's
second Ctrl-C) ends the workers at once, marks the jobs they were running ``cancelled``, removes their
partial files, writes the summary and is re-raised.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .errors import Cancelled, InvalidDataError, SynchroRaMaError
from .outputs import replacing
from .pipeline import FLAT_OPTIONS, generate_kwargs

SUMMARY_NAME = "batch_summary.json"
ENGINES = ("local", "ray")
#: keys a manifest line may hold besides the flat generate options
JOB_KEYS = ("image", "images", "audio", "text", "text_file", "output")

ProgressFn = Callable[[int, int, str], None]
log = logging.getLogger(__name__)


class ManifestError(SynchroRaMaError, ValueError):
    """A manifest that cannot run: one line per bad job."""

    def __init__(self, path: str, errors: Sequence[Tuple[int, str]]):
        self.errors = [f"line {line}: {msg}" if line else msg for line, msg in errors]
        super().__init__(f"{path}: {len(self.errors)} bad job(s):\n" + "\n".join(self.errors))


@dataclass
class Job:
    """One clip to make: where it came from, what goes in, and the output name."""

    line: int                       # line of the manifest (1-based; CSV: counting the header)
    name: str                       # output name (``NAME.mp4`` + ``NAME.json`` in the output folder)
    images: List[str]
    audio: str
    text: str = ""
    options: Dict[str, object] = field(default_factory=dict)   # flat generate options

    def spec_hash(self) -> str:
        """Identity of the job for ``resume``: its spec and the size/mtime of its input files."""
        files = []
        for p in self.images + [self.audio]:
            try:
                st = os.stat(p)
                files.append([p, st.st_size, st.st_mtime_ns])
            except OSError:
                files.append([p, None, None])
        raw = json.dumps([asdict(self), files], sort_keys=True, default=str)
        return hashlib.sha1(raw.encode("utf-8")).hexdigest()[:16]


# ------------------------------------------------------------------------------ manifest

def _rows(path: str) -> List[Tuple[int, object]]:
    """``(line number, dict or error text)`` per job line of a JSON Lines or CSV manifest."""
    rows: List[Tuple[int, object]] = []
    try:
        with open(path, "r", encoding="utf-8-sig", newline="") as f:
            if path.lower().endswith(".csv"):
                reader = csv.DictReader(f)
                for row in reader:
                    if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                        continue
                    if None in row:
                        rows.append((reader.line_num, "more values than header columns"))
                        continue
                    rows.append((reader.line_num, {k.strip(): v.strip() for k, v in row.items()
                                                   if k and v is not None and v.strip() != ""}))
            else:
                for i, text in enumerate(f, 1):
                    s = text.strip()
                    if not s or s.startswith("#"):
                        continue
                    try:
                        obj = json.loads(s)
                    except json.JSONDecodeError as e:
                        rows.append((i, f"not valid JSON ({e.msg} at column {e.colno})"))
                        continue
                    rows.append((i, obj if isinstance(obj, dict) else "expected a JSON object {...}"))
    except FileNotFoundError:
        raise FileNotFoundError(f"batch manifest not found: {path}") from None
    except UnicodeDecodeError as e:
        raise InvalidDataError(f"batch manifest {path} is not UTF-8 text ({e})") from None
    return rows


_NUMBERS = {"fps": float, "seed": int, "start": float, "duration": float, "face_index": int, "head_scale": float,
            "expression_scale": float, "lip_scale": float, "blink_rate": float, "emotion_intensity": float,
            "crf": int, "max_side": int}


def _job(line: int, d: dict, base: str) -> Job:
    """A :class:`Job` from one manifest object; raises ``ValueError`` with the reason."""
    unknown = sorted(set(d) - set(JOB_KEYS) - set(FLAT_OPTIONS))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown}; known: {sorted(set(JOB_KEYS) | set(FLAT_OPTIONS))}")

    def path(p, what):
        if not isinstance(p, str) or not p.strip():
            raise ValueError(f"'{what}' must be a file path")
        p = os.path.expanduser(p.strip())
        p = p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))
        if not os.path.isfile(p):
            raise ValueError(f"{what} file not found: {p}")
        return p
    if "image" in d and "images" in d:
        raise ValueError("give 'image' or 'images', not both")
    imgs = d.get("images", d.get("image"))
    if imgs is None:
        raise ValueError("no 'image': every job needs a portrait")
    if isinstance(imgs, str):
        imgs = [s for s in imgs.split(";") if s.strip()]
    if not isinstance(imgs, list) or not imgs:
        raise ValueError("'image' must be a path or a list of paths")
    images = [path(p, "image") for p in imgs]
    if "audio" not in d:
        raise ValueError("no 'audio': every job needs a speech file")
    audio = path(d["audio"], "audio")
    if "text" in d and "text_file" in d:
        raise ValueError("give 'text' or 'text_file', not both")
    text = d.get("text", "")
    if not isinstance(text, str):
        raise ValueError("'text' must be a string")
    if "text_file" in d:
        try:
            with open(path(d["text_file"], "text_file"), "r", encoding="utf-8-sig") as f:
                text = f.read()
        except UnicodeDecodeError as e:
            raise ValueError(f"text_file is not UTF-8 text ({e})") from None
    name = d.get("output") or os.path.splitext(os.path.basename(audio))[0]
    if not isinstance(name, str):
        raise ValueError("'output' must be a name")
    name = name[:-4] if name.lower().endswith(".mp4") else name
    if not name.strip() or os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
        raise ValueError(f"'output' must be a plain name inside the output folder, got {name!r}")
    options = {}
    for k in FLAT_OPTIONS:
        if k not in d:
            continue
        v = d[k]
        if k in _NUMBERS:
            try:
                v = _NUMBERS[k](v)
            except (TypeError, ValueError):
                raise ValueError(f"'{k}' must be a number, got {v!r}") from None
        options[k] = v
    generate_kwargs(options)   # the same checks generate() makes (weights syntax, option names)
    return Job(line=line, name=name.strip(), images=images, audio=audio, text=text.strip(), options=options)


def read_manifest(path: str) -> Tuple[List[Job], List[Tuple[int, str]]]:
    """The good jobs of a manifest and ``(line, reason)`` for every bad one."""
    path = os.path.abspath(os.fspath(path))
    base = os.path.dirname(path)
    jobs: List[Job] = []
    errors: List[Tuple[int, str]] = []
    for line, row in _rows(path):
        if isinstance(row, str):
            errors.append((line, row))
            continue
        try:
            jobs.append(_job(line, row, base))
        except (ValueError, SynchroRaMaError) as e:
            errors.append((line, " ".join(str(e).split())))
    seen: Dict[str, int] = {}
    good = []
    for j in jobs:
        key = j.name.lower()
        if key in seen:
            errors.append((j.line, f"output name {j.name!r} is already used on line {seen[key]}; "
                                   f"give each job its own 'output'"))
        else:
            seen[key] = j.line
            good.append(j)
    if not good and not errors:
        errors.append((0, "the manifest holds no jobs"))
    return good, sorted(errors)


# ------------------------------------------------------------------------------ one job (in a worker)

class Worker:
    """Runs jobs in one process, keeping what it loaded (A2M models, scene backends) for later jobs;
    the face models are cached by the face stage itself."""

    def __init__(self, out_dir: str, cancelled: Optional[Callable[[], bool]] = None):
        self.out_dir = out_dir
        self.cancelled = cancelled
        self.models: Dict[str, object] = {}

    def _kwargs(self, job: Job) -> dict:
        kw = generate_kwargs(job.options)
        name = kw.get("motion_model")
        if isinstance(name, str):
            if name not in self.models:
                from .motion.neural import load_a2m
                self.models[name] = load_a2m(name)
            kw["motion_model"] = self.models[name]
        return kw

    def run(self, job: Job) -> dict:
        """``{"status": "done"|"failed"|"cancelled", ...}`` for one job; never raises for a bad job."""
        from .pipeline import generate
        t = time.perf_counter()
        out = os.path.join(self.out_dir, job.name + ".mp4")
        res = {"worker": f"{os.uname().nodename}:{os.getpid()}" if hasattr(os, "uname") else str(os.getpid())}
        try:
            r = generate(images=job.images, audio=job.audio, text=job.text, out=out, cancelled=self.cancelled,
                         **self._kwargs(job))
            res.update(status="done", video=r.video_path, json=r.json_path, frames=r.n_frames,
                       duration_s=round(r.duration_s, 3),
                       timings={k: round(v, 3) for k, v in r.timings.items()})
        except Cancelled:
            res.update(status="cancelled", error="cancelled by the user")
        except (SynchroRaMaError, FileNotFoundError, ValueError) as e:
            res.update(status="failed", error=" ".join(str(e).split()) or type(e).__name__)
        except Exception as e:  # noqa: BLE001 - a bug in one job must not stop the batch; keep its trace
            res.update(status="failed", error=f"{type(e).__name__}: {' '.join(str(e).split())}",
                       traceback=traceback.format_exc(limit=8))
        res["seconds"] = round(time.perf_counter() - t, 3)
        return res


# local engine: one Worker per pool process, made by the initializer
_WORKER: Optional[Worker] = None


def _local_init(out_dir: str, stop_event) -> None:
    import logging
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the parent handles Ctrl-C and sets stop_event
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    global _WORKER
    _WORKER = Worker(out_dir, cancelled=stop_event.is_set)


def _local_run(job: Job) -> dict:
    return _WORKER.run(job)


# ------------------------------------------------------------------------------ the batch

@dataclass
class BatchResult:
    summary_path: str
    counts: Dict[str, int]
    jobs: List[dict]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(j["status"] == "done" for j in self.jobs)


class _Summary:
    """``batch_summary.json``: every job's state, rewritten atomically after every change."""

    def __init__(self, path: str, manifest: str, engine: str, workers: int, entries: List[dict]):
        self.path, self.entries = path, entries
        self.head = {"manifest": manifest, "engine": engine, "workers": workers,
                     "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def counts(self) -> Dict[str, int]:
        out: Dict[str, int] = {}
        for e in self.entries:
            out[e["status"]] = out.get(e["status"], 0) + 1
        return out

    def write(self, finished: bool = False) -> None:
        data = dict(self.head, counts=self.counts(), jobs=self.entries)
        if finished:
            data["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with replacing(self.path) as (tmp,):
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, allow_nan=False, default=str)


def _previous(path: str) -> Dict[str, dict]:
    try:
        with open(path, "r", encoding="utf-8") as f:
            return {e["name"]: e for e in json.load(f).get("jobs", []) if isinstance(e, dict) and "name" in e}
    except (OSError, ValueError, AttributeError):
        return {}


def _clean_partials(out_dir: str, names: Sequence[str]) -> List[str]:
    """Remove the temporary files of jobs a killed worker left behind (the finished outputs are untouched)."""
    from .run import partial_files
    gone = []
    for n in names:
        for p in partial_files(os.path.join(out_dir, n + ".mp4")):
            try:
                os.remove(p)
                gone.append(p)
            except OSError:
                pass
    return gone


def run_batch(manifest: str, out_dir: str, workers: Optional[int] = None, engine: str = "local",
              resume: bool = False, keep_going: bool = False, retries: int = 1,
              progress: Optional[ProgressFn] = None, cancelled: Optional[Callable[[], bool]] = None,
              ray_address: Optional[str] = None) -> BatchResult:
    """Run every job of ``manifest`` into ``out_dir`` (see the module docs).  Returns the summary.

    ``progress(done, total, text)`` is called as jobs finish (``text`` counts done/failed/running);
    ``cancelled()`` is polled: when it says True, running jobs stop at their next frame and are
    marked ``cancelled``, queued ones stay ``pending``, and :class:`~synchrorama_core.errors.Cancelled`
    is raised after the summary is written.
    """
    t0 = time.perf_counter()
    if engine not in ENGINES:
        raise InvalidDataError(f"unknown engine {engine!r}; use one of {ENGINES}")
    workers = max(1, int(workers)) if workers else None
    if workers is None and engine == "local":
        workers = max(1, os.cpu_count() or 1)      # the ray engine asks the cluster once connected
    retries = max(0, int(retries))
    manifest = os.path.abspath(os.fspath(manifest))
    jobs, errors = read_manifest(manifest)
    if errors and not keep_going:
        raise ManifestError(manifest, errors)
    out_dir = os.path.abspath(os.fspath(out_dir))
    try:
        os.makedirs(out_dir, exist_ok=True)
        probe = os.path.join(out_dir, f".synchrorama-write-test.{os.getpid()}")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as e:
        raise InvalidDataError(f"cannot write into the output folder {out_dir}: {e.strerror or e}") from None
    spath = os.path.join(out_dir, SUMMARY_NAME)
    before = _previous(spath) if resume else {}
    entries: List[dict] = [{"line": line, "name": "", "status": "failed", "error": f"bad manifest line: {msg}",
                            "attempts": 0} for line, msg in errors]
    todo: List[Tuple[Job, dict]] = []
    for j in jobs:
        h = j.spec_hash()
        old = before.get(j.name)
        entry = {"line": j.line, "name": j.name, "status": "pending", "spec": h, "attempts": 0,
                 "video": os.path.join(out_dir, j.name + ".mp4"), "json": os.path.join(out_dir, j.name + ".json")}
        if (old and old.get("status") == "done" and old.get("spec") == h and os.path.isfile(entry["video"])
                and os.path.isfile(entry["json"])):
            entry.update({k: old[k] for k in ("status", "seconds", "frames", "duration_s", "timings", "worker",
                                               "attempts") if k in old}, resumed=True)
        else:
            todo.append((j, entry))
        entries.append(entry)
    entries.sort(key=lambda e: e["line"])
    summary = _Summary(spath, manifest, engine, workers, entries)
    _clean_partials(out_dir, [j.name for j, _ in todo])
    summary.write()
    total = len(entries)

    def report() -> None:
        if progress is not None:
            c = summary.counts()
            progress(c.get("done", 0) + c.get("failed", 0), total,
                     f"{c.get('done', 0)} done, {c.get('failed', 0)} failed, {c.get('running', 0)} running")

    report()
    runner = _run_local if engine == "local" else _run_ray
    try:
        runner(todo, out_dir, workers, retries, summary, report, cancelled, ray_address)
    finally:
        summary.write(finished=True)
    res = BatchResult(spath, summary.counts(), summary.entries, time.perf_counter() - t0)
    if res.counts.get("cancelled") or (cancelled is not None and cancelled()):
        raise Cancelled(f"batch cancelled: {res.counts.get('done', 0)} of {total} jobs done; "
                        f"rerun with --resume to finish (summary: {spath})")
    return res


def _finish(entry: dict, result: dict, summary: _Summary, report) -> None:
    _record(entry, result)
    summary.write()
    report()


def _record(entry: dict, result: dict) -> None:
    entry.update(result)
    if entry["status"] != "done":       # the output paths are only listed for made outputs
        entry.pop("video", None)
        entry.pop("json", None)


def _stopped(entries: Sequence[dict], exc: BaseException) -> None:
    """Jobs that were running when the batch was stopped at once (a second Ctrl-C, or an error in the
    batch itself): ``cancelled``, so that ``resume`` redoes them."""
    why = "cancelled by the user" if isinstance(exc, (KeyboardInterrupt, Cancelled)) else \
        f"stopped: the batch ended with {type(exc).__name__}: {' '.join(str(exc).split())}".rstrip(": ")
    for entry in entries:
        _record(entry, {"status": "cancelled", "error": why})


def _run_local(todo, out_dir, workers, retries, summary, report, cancelled, ray_address) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    queue = list(todo)
    pool = None
    running: Dict[object, Tuple[Job, dict]] = {}
    try:
        while queue or running:
            if cancelled is not None and cancelled():
                stop.set()
            if pool is None:
                pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_local_init,
                                           initargs=(out_dir, stop))
            while queue and len(running) < workers and not stop.is_set():
                job, entry = queue.pop(0)
                entry.update(status="running", attempts=entry["attempts"] + 1)
                entry.pop("error", None)
                running[pool.submit(_local_run, job)] = (job, entry)
                summary.write()
                report()
            if not running:
                break
            done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                job, entry = running.pop(fut)
                try:
                    _finish(entry, fut.result(), summary, report)
                except BrokenProcessPool:
                    broken = True
                    _interrupted(job, entry, queue, retries, summary, report)
            if broken:
                # a dead worker takes the pool down: every job in flight was interrupted
                for fut, (job, entry) in list(running.items()):
                    _interrupted(job, entry, queue, retries, summary, report)
                running.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = None
                _clean_partials(out_dir, [j.name for j, _ in todo])
    except BaseException as e:
        # stop at once (a second Ctrl-C, or an error here): end the workers, leave no partial file
        stop.set()
        if pool is not None:
            for p in list(getattr(pool, "_processes", {}).values()):
                p.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            pool = None
        for fut, (_, entry) in running.items():
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                _record(entry, fut.result())     # it finished before the stop: keep its result
            else:
                _stopped([entry], e)
        _clean_partials(out_dir, [j.name for j, _ in todo])
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _interrupted(job: Job, entry: dict, queue: list, retries: int, summary: _Summary, report) -> None:
    """A job whose worker died: run it again while attempts remain, else record it as failed."""
    if entry["attempts"] <= retries:
        entry.update(status="pending", error="interrupted: its worker process died; running it again")
        queue.insert(0, (job, entry))
    else:
        entry.update(status="failed", error=f"its worker process died {entry['attempts']} time(s) "
                                            f"(killed or out of memory)")
    summary.write()
    report()


def _run_ray(todo, out_dir, workers, retries, summary, report, cancelled, ray_address) -> None:
    """One Ray actor per worker (its models load once), fed by :class:`ray.util.ActorPool`.

    The pool dispatches a job to whichever actor is idle; this loop adds what the pool leaves to its
    caller: only as many jobs are submitted as there are idle actors (so the queue stays ours, to
    retry and to stop), a job whose actor died is found from its object ref and queued again, and the
    dead actor is replaced by a fresh one."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise InvalidDataError("the ray engine needs Ray: pip install 'ray[default]' (or use --engine local)") \
            from None
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    started = False
    if not ray.is_initialized():
        address = ray_address or os.environ.get("RAY_ADDRESS")
        if address:
            # a cluster: ship this package to its workers
            ray.init(address=address, runtime_env={"py_modules": [os.path.dirname(os.path.abspath(__file__))]},
                     log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": root}})
        started = True
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if workers is None:         # the cluster's CPUs, not this machine's
        workers = max(1, cpus)
        summary.head["workers"] = workers
        summary.write()
    elif workers > cpus:
        # each actor holds a CPU for the whole batch: a job given to an actor that finds none waits for
        # the autoscaler, or forever on a cluster that does not grow
        log.warning("%d workers asked for, but the Ray cluster has %d CPUs: the jobs of the actors that find "
                    "no CPU wait until the cluster grows (use --workers %d or less on a fixed cluster)",
                    workers, cpus, max(1, cpus))
    # max_concurrency 2: stop() must reach an actor while its run() is busy
    actor_cls = ray.remote(num_cpus=1, max_concurrency=2)(_RayWorker)
    actors = [actor_cls.remote(out_dir) for _ in range(workers)]
    pool = ActorPool(actors)
    queue = list(todo)
    running: Dict[str, Tuple[object, object, Job, dict]] = {}    # name -> (ref, actor, job, entry)
    stopping = False

    def submit(actor, item):
        job, entry = item
        ref = actor.run.remote(job)
        running[job.name] = (ref, actor, job, entry)
        return ref

    try:
        while queue or running:
            if cancelled is not None and cancelled() and not stopping:
                stopping = True
                for a in actors:
                    a.stop.remote()
            while queue and pool.has_free() and not stopping:
                job, entry = queue.pop(0)
                entry.update(status="running", attempts=entry["attempts"] + 1)
                entry.pop("error", None)
                pool.submit(submit, (job, entry))
                summary.write()
                report()
            if not pool.has_next():
                break
            try:
                name, result = pool.get_next_unordered(timeout=0.2)
            except TimeoutError:
                continue
            except ray.exceptions.RayError:
                # the pool does not say which job was lost: look for refs that hold an error
                dead = []
                for name, (ref, actor, job, entry) in list(running.items()):
                    err = _ray_error(ray, ref)
                    if err is None:
                        continue
                    del running[name]
                    why = " ".join(str(err).split())[-500:]
                    if not isinstance(err, ray.exceptions.RayActorError):     # Ray failed this one call
                        _finish(entry, {"status": "failed", "error": why}, summary, report)
                        continue
                    dead.append(actor)
                    if getattr(err, "actor_init_failed", False):             # e.g. an import on the node
                        _finish(entry, {"status": "failed", "error": f"its worker could not start: {why}"},
                                summary, report)
                    else:                                    # the process died (killed, out of memory)
                        _clean_partials(out_dir, [job.name])
                        _interrupted(job, entry, queue, retries, summary, report)
                if dead:
                    # older Rays' pools put a dead actor back among the idle ones (newer ones drop it),
                    # where the next job would fail at once: take it out, add a fresh actor instead
                    idle = []
                    while (a := pool.pop_idle()) is not None:
                        idle.append(a)
                    for a in idle:
                        if a not in dead:
                            pool.push(a)
                    for a in dead:
                        try:
                            ray.kill(a)          # in case it only went unreachable for a while
                        except Exception:  # noqa: BLE001 - already gone
                            pass
                        fresh = actor_cls.remote(out_dir)
                        actors[actors.index(a)] = fresh
                        pool.push(fresh)
                continue
            _finish(running.pop(name)[3], result, summary, report)
    except BaseException as e:
        # stop at once (a second Ctrl-C, or an error here): end the workers, leave no partial file
        for a in actors:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass
        refs = [r[0] for r in running.values()]
        if refs:                         # the actors are gone once their refs resolve (with an error)
            ray.wait(refs, num_returns=len(refs), timeout=10)
        for ref, _, _, entry in running.values():
            try:                         # a job that finished before the kill keeps its result
                _record(entry, ray.get(ref, timeout=0)[1])
            except Exception:  # noqa: BLE001 - killed: no result
                _stopped([entry], e)
        _clean_partials(out_dir, [j.name for j, _ in todo])
        raise
    finally:
        for a in actors:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass
        if started:
            ray.shutdown()


def _ray_error(ray, ref):
    """The error a finished ref holds, or None (still running, or a result)."""
    if not ray.wait([ref], timeout=0)[0]:
        return None
    try:
        ray.get(ref)
    except ray.exceptions.RayError as e:
        return e
    return None


class _RayWorker:
    """A Ray actor around :class:`Worker` (its models stay loaded between jobs)."""

    def __init__(self, out_dir: str):
        import threading
        self._stop = threading.Event()
        self.worker = Worker(out_dir, cancelled=self._stop.is_set)

    def run(self, job: Job) -> Tuple[str, dict]:
        return job.name, self.worker.run(job)

    def stop(self) -> None:
        self._stop.set()


__all__ = ["BatchResult", "ENGINES", "Job", "ManifestError", "SUMMARY_NAME", "Worker", "read_manifest", "run_batch"]
