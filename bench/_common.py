"""Helpers shared by the bench scripts: median timing and the printed table.

``python bench/<name>.py`` puts bench/ first on sys.path, so the scripts import this as
``from _common import ...``.
"""
from __future__ import annotations

import statistics
import time


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
