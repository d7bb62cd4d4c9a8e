"""Running the command lines as a user would, in a child process, and what they promise on bad input.

Plain functions (not fixtures), imported as ``from helpers.cli import ...``.
"""
from __future__ import annotations

import os
import resource
import shutil

from conftest import need

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def env() -> dict:
    """The environment of a child that imports this checkout's ``synchrorama_core``."""
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


def one_error_line(stderr: str) -> str:
    """The command lines' promise on bad input: exactly one non-empty stderr line, starting with ``error:``."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), stderr
    return lines[0]


def without_root_powers():
    """A command prefix under which even root meets file permissions (root ignores a read-only mode)."""
    if os.geteuid() != 0:
        return []
    exe = shutil.which("setpriv")
    if exe is None:
        need(False, "running as root without setpriv (util-linux): a read-only folder cannot be simulated")
    return [exe, "--bounding-set=-dac_override,-dac_read_search,-fowner,-linux_immutable", "--"]


def file_size_limit(nbytes: int):
    """``preexec_fn``: the child may write files up to ``nbytes``; a longer write fails with EFBIG
    ("File too large") exactly as a full disk fails with ENOSPC (Python ignores SIGXFSZ itself)."""
    def pre():
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return pre
