"""Output files that are either whole or absent.

Everything this library writes for a user (videos, ``OUT.json``, saved ``SR_*`` values, trained
models) goes under a temporary name beside its final path and is renamed into place only when
complete, so a full disk, a cancel or a crash leaves no partial file and an earlier file stays as
it was.  Where a long job writes at its end, it first checks that it can (:func:`reserve`,
:func:`check_writable`): a folder that cannot be written fails in a second, not after the work.

* :func:`part_path`: the hidden temporary name ``.STEM.<pid>.<6 hex>.part.EXT`` beside a path (one
  tag names all the temporary files of one run); :func:`part_files` finds those a killed run left;
* :func:`reserve`: create the folders and the (empty) temporary files, before any work;
* :func:`commit` / :func:`discard`: rename the temporary files into place / remove them;
* :func:`check_writable`: :func:`reserve` then :func:`discard`, for writers that make their
  temporary files later (the trainers' saves);
* :func:`replacing`: a ``with`` block writing files under temporary names, committed when the
  block completes and discarded when it fails.

A failure is an :class:`~synchrorama_core.errors.OutputError` (an ``OSError`` and a
``SynchroRaMaError``) naming the file and the reason.
"""
from __future__ import annotations

import glob
import os
import re
import uuid
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Tuple

from .errors import OutputError, SynchroRaMaError


def part_path(path: str, tag: Optional[str] = None) -> str:
    """The hidden temporary name ``path`` is written under: ``.STEM.<pid>.<6 hex>.part.EXT`` beside it
    (``tag`` = ``"<pid>.<6 hex>"``; one tag names all the files of one run)."""
    d, name = os.path.split(os.path.abspath(os.fspath(path)))
    root, ext = os.path.splitext(name)
    tag = tag or new_tag()
    return os.path.join(d, f".{root}.{tag}.part{ext}")


def new_tag() -> str:
    """A fresh ``"<pid>.<6 hex>"`` tag for :func:`part_path`."""
    return f"{os.getpid()}.{uuid.uuid4().hex[:6]}"


def part_files(path: str) -> List[str]:
    """Temporary files (:func:`part_path`) that writes of ``path`` left behind, e.g. when their process
    was killed.  Only this naming is matched, so ``a.mp4`` never claims ``a.b.mp4``'s."""
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    root, ext = os.path.splitext(name)
    rx = re.compile(rf"^\.{re.escape(root)}\.\d+\.[0-9a-f]{{6}}\.part{re.escape(ext)}$")
    found = glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(root)}.*.part{glob.escape(ext)}"))
    return sorted(p for p in found if rx.match(os.path.basename(p)))


def os_reason(e: BaseException) -> str:
    """The human part of an ``OSError`` ("Permission denied", "No space left on device")."""
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def reserve(paths: Sequence[str], what: Optional[str] = None) -> List[str]:
    """Create the folders of ``paths`` and an empty temporary file beside each (:func:`part_path`, one
    tag): what cannot be written fails here, before any work, with an ``OutputError`` naming ``what``
    (default: the first path).  Returns the temporary paths, in the order of ``paths``."""
    made: List[str] = []
    tag = new_tag()
    try:
        for p in paths:
            folder = os.path.dirname(os.path.abspath(os.fspath(p)))
            if os.path.exists(folder) and not os.path.isdir(folder):
                raise NotADirectoryError(20, f"{folder} is a file, not a folder")
            os.makedirs(folder, exist_ok=True)
            tmp = part_path(p, tag)
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            made.append(tmp)
    except OSError as e:
        discard(made)
        raise OutputError(f"cannot write the output {what or paths[0]}: {os_reason(e)}; choose a folder you can "
                          f"write to") from None
    return made


def discard(paths: Sequence[Optional[str]]) -> None:
    """Remove ``paths`` (those that exist; ``None`` entries are skipped); never raises."""
    for p in paths:
        if p:
            try:
                os.remove(p)
            except OSError:
                pass


def commit(pairs: Sequence[Tuple[str, str]]) -> None:
    """Rename each ``(temporary, final)`` pair into place; if one fails, none of the finals is left."""
    done: List[str] = []
    final = ""
    try:
        for tmp, final in pairs:
            os.replace(tmp, final)
            done.append(final)
    except OSError as e:
        discard(done + [t for t, _ in pairs])
        raise OutputError(f"cannot write {final}: {os_reason(e)}") from e


def check_writable(paths: Sequence[str], what: Optional[str] = None) -> None:
    """Fail now (``OutputError``) if any of ``paths`` could not be written; creates their folders and
    leaves no file.  For a long job whose writer makes its own temporary files at the end."""
    discard(reserve(paths, what))


def _write_failure(e: BaseException) -> Optional[str]:
    """Why a write failed, if ``e`` is an I/O failure (an ``OSError``, or safetensors' own error type,
    which is not one); ``None`` for anything else."""
    if isinstance(e, OSError):
        return os_reason(e)
    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover - safetensors is a dependency
        return None
    return str(e) if isinstance(e, SafetensorError) else None


@contextmanager
def replacing(*paths: str) -> Iterator[List[str]]:
    """``with replacing(a, b) as (tmp_a, tmp_b): ...write the temporary files...``: when the block
    completes, every file is renamed into place (:func:`commit`); when it fails, the temporary files
    are removed and earlier ``a``/``b`` stay as they were.  An I/O failure in the block becomes an
    ``OutputError`` naming the final file; other errors pass through unchanged."""
    finals = [os.path.abspath(os.fspath(p)) for p in paths]
    temps = reserve(finals)
    try:
        yield temps
    except BaseException as e:
        discard(temps)
        reason = None if isinstance(e, SynchroRaMaError) else _write_failure(e)
        if reason is None:
            raise
        name = getattr(e, "filename", None)
        which = next((f for t, f in zip(temps, finals) if name and os.path.abspath(os.fspath(name)) == t),
                     finals[0] if len(finals) == 1 else " and ".join(finals))
        raise OutputError(f"cannot write {which}: {reason}") from e
    commit(list(zip(temps, finals)))


__all__ = ["check_writable", "commit", "discard", "new_tag", "os_reason", "part_files", "part_path", "replacing",
           "reserve"]
