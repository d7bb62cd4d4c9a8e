"""Helpers shared by the bench scripts: median timing, the printed table, and the pieces of the
benchmarks that run the CLI (its environment, a measured run, the work folder, the machine line).

``python bench/<name>.py`` puts bench/ first on sys.path, so the scripts import this as
``from _common import ...``.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

#: The checkout these scripts belong to.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The ``timings_s`` of OUT.json that the CLI benchmarks print, in order.
CLI_TIMINGS = ("face", "speech", "emotion", "scene", "motion", "render", "encode", "render_encode_wall", "total")


def timed(fn, repeat: int):
    """Median wall time in seconds of ``repeat`` calls of ``fn()``, and the last call's result."""
    ts, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def median_s(fn, repeat: int) -> float:
    """Median wall time in seconds of ``repeat`` calls of ``fn()``."""
    return timed(fn, repeat)[0]


def median_ms(fn, repeat: int) -> float:
    """Median wall time in milliseconds of ``repeat`` calls of ``fn()``."""
    return 1000 * median_s(fn, repeat)


def cli_env(root: str = ROOT) -> dict:
    """This environment with ``root`` first on PYTHONPATH (so ``python -m synchrorama_core`` is that checkout's)."""
    return dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))


def run_cli(args, env) -> dict:
    """Run ``python -m synchrorama_core ARGS`` (in :data:`ROOT`) as a direct child; its own peak RSS and
    CPU time (user + system, all its threads) come from ``os.wait4``.  Returns ``{"wall_s", "cpu_s",
    "rss_mb", "rc", "stderr"}`` (the last 2000 characters of stderr)."""
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "synchrorama_core", *args], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    return {"wall_s": time.perf_counter() - t, "cpu_s": ru.ru_utime + ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024.0,
            "rc": os.waitstatus_to_exitcode(status), "stderr": err.decode(errors="replace")[-2000:]}


def work_folder(keep, prefix: str) -> str:
    """``keep`` (made if missing) or a new temporary folder named ``prefix...``."""
    folder = keep or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(folder, exist_ok=True)
    return folder


def print_machine(note: str = "numbers are pessimistic") -> None:
    """The cores and the load average at the start (the machine is shared with other work)."""
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start "
          f"(shared with other work: {note})")


def print_target(goal: str, met: bool, measured: str) -> None:
    """One line ``GOAL: MET (MEASURED)`` (or ``NOT MET``)."""
    print(f"{goal}: {'MET' if met else 'NOT MET'} ({measured})")


def print_folder(keep, folder: str) -> None:
    """Where the files of a run that was not asked to ``--keep`` them are."""
    if not keep:
        print(f"(files in {folder})")


def print_table(rows, head, align: str = "") -> None:
    """Print ``rows`` (tuples of cells) under the column titles ``head``, columns padded to their
    widest cell and separated by two spaces, with a rule under the titles.  ``align`` holds one
    character per column, ``<`` (left, the default) or ``>`` (right); the last column is not padded."""
    rows = [tuple(str(c) for c in r) for r in rows]
    head = tuple(str(h) for h in head)
    align = align.ljust(len(head), "<")
    width = [max([len(head[i])] + [len(r[i]) for r in rows]) for i in range(len(head))]

    def line(cells):
        out = [f"{c:{a}{w}}" for c, a, w in zip(cells[:-1], align, width)]
        last = cells[-1].rjust(width[-1]) if align[len(cells) - 1] == ">" else cells[-1]
        return "  ".join(out + [last]).rstrip()

    print(line(head))
    print("  ".join("-" * w for w in width))
    for r in rows:
        print(line(r))
