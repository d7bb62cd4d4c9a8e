"""Progress reporting and cancellation for long loops (every long loop takes ``progress`` and ``cancelled``).

Core functions that loop take ``progress(done, total)`` and ``cancelled() -> bool`` callbacks,
both optional.  ``Steps`` wraps them so a loop only calls ``steps.tick()``; it raises
:class:`~synchrorama_core.errors.Cancelled` as soon as ``cancelled()`` says so.
"""
from __future__ import annotations

from typing import Callable, Optional

from .errors import Cancelled

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class Steps:
    def __init__(self, total: int, progress: Optional[ProgressFn] = None,
                 cancelled: Optional[CancelFn] = None, what: str = "work"):
        self.total = max(int(total), 1)
        self.done = 0
        self._progress = progress
        self._cancelled = cancelled
        self.what = what

    def check(self) -> None:
        """Raise :class:`Cancelled` if the user asked to stop."""
        if self._cancelled is not None and self._cancelled():
            raise Cancelled(f"{self.what} cancelled by the user after {self.done}/{self.total} steps")

    def tick(self, n: int = 1) -> None:
        """Mark ``n`` steps done, report progress, then check for cancellation."""
        self.done = min(self.done + n, self.total)
        if self._progress is not None:
            self._progress(self.done, self.total)
        self.check()
