"""Errors of the scene stage (subclasses of the core's, so generic handlers still catch them)."""
from __future__ import annotations

from ..errors import BackendError, InvalidDataError, SynchroRaMaError


class SceneConfigError(SynchroRaMaError, ValueError):
    """A scene backend is configured wrongly (URL, API-key variable, model type): fix the node."""


class SceneBackendError(BackendError):
    """A language-model backend failed while running (server down, HTTP error, bad protocol).

    ``kind`` says which: ``"connection"``, ``"timeout"``, ``"http"``, ``"protocol"``, ``"model"``.
    """

    def __init__(self, message: str, kind: str = "backend", status: int = 0):
        super().__init__(message)
        self.kind = kind
        self.status = int(status)


class SceneTimeoutError(SceneBackendError):
    """No complete reply within the configured time-out (all attempts together)."""

    def __init__(self, message: str):
        super().__init__(message, kind="timeout")


class SceneReplyError(InvalidDataError):
    """A model's reply held no usable scene segments (the describer falls back to the template)."""


class SceneTextError(InvalidDataError):
    """An edited scene text that cannot be read (the message names the line)."""
