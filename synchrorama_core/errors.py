"""Error types of the SynchroRaMa core.

Every error a creator can meet subclasses one of Python's standard ``ValueError``,
``FileNotFoundError``, ``RuntimeError`` or (for files that cannot be written) ``OSError``, so
generic handlers still work, and
``SynchroRaMaError`` (so callers can catch ours only).  Messages say what went wrong
*and* what to do about it.
"""
from __future__ import annotations


class SynchroRaMaError(Exception):
    """Base class of every error raised on purpose by synchrorama_core."""


class InvalidDataError(SynchroRaMaError, ValueError):
    """A value broke its data contract (wrong shape, NaN, out of range, mismatched lengths)."""


class AudioError(SynchroRaMaError, ValueError):
    """Audio that cannot be used: undecodable, empty, trim outside the file."""


class AudioFileNotFoundError(SynchroRaMaError, FileNotFoundError):
    """The audio file named by the user does not exist."""


class ModelNotFoundError(SynchroRaMaError, FileNotFoundError):
    """A model-backed component could not find its local weights."""


class FaceNotFoundError(SynchroRaMaError, ValueError):
    """No face could be found in a reference image."""


class OutputError(SynchroRaMaError, OSError):
    """An output file cannot be written: a folder that cannot be created or written to, a full disk."""


class BackendError(SynchroRaMaError, RuntimeError):
    """A backend (model, server, encoder) failed while running."""


class Cancelled(SynchroRaMaError, RuntimeError):
    """The user cancelled a long-running operation."""


def one_line(e: BaseException) -> str:
    """``e`` as the one line a command line prints after ``error:`` (whitespace folded; a plain
    ``OSError`` as "reason: file", without Python's ``[Errno N]``)."""
    msg = str(e)
    if isinstance(e, OSError) and not isinstance(e, SynchroRaMaError) and e.strerror:
        msg = e.strerror + (f": {e.filename}" if e.filename is not None else "")
    return " ".join(msg.split()) or type(e).__name__
