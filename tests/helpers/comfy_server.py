"""A real ComfyUI server with this pack, isolated, for the host and frontend tests and the host benchmark.

The ComfyUI source tree (``COMFYUI_PATH``) and its venv (``<tree>/.venv``, made by
``../shared/tools/comfy_host.sh setup``) are shared and only read.  Everything a running server
writes is its own: each :class:`ComfyServer` gets a fresh base folder (``--base-directory``:
``custom_nodes/`` holding only a link to this pack, ``models/``, ``input/``, ``output/``,
``temp/``, ``user/`` with its own sqlite database), a free port and its own log.  So two servers
(two test runs, a test and a benchmark) never share a temp folder (ComfyUI empties its temp folder
when it starts), an output counter, a database or a port.

The server is started here (not through ``comfy_host.sh start``, which takes no folder options)
as a new process group, and stopped by that group's id: only processes this object started.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from typing import Optional


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_venv(comfy: str, pack_dir: str, host_sh: str) -> None:
    """Make ComfyUI's venv with ``comfy_host.sh setup`` (first run: minutes), or keep an existing one
    in step with this pack's requirements.  Raises ``RuntimeError`` with pip's output on failure."""
    venv_py = os.path.join(comfy, ".venv", "bin", "python")
    with tempfile.TemporaryFile("w+") as log:  # files, not pipes: a child holding a pipe would hang a read
        if not os.path.exists(venv_py):
            if not os.path.isfile(host_sh):
                raise RuntimeError(f"{comfy} has no .venv and comfy_host.sh is not at {host_sh} (set COMFY_HOST_SH)")
            r = subprocess.run(["bash", host_sh, "setup", comfy], cwd=pack_dir, stdout=log, stderr=subprocess.STDOUT,
                               env=dict(os.environ, PACK_DIR=pack_dir), timeout=1800)
        else:
            r = subprocess.run([venv_py, "-m", "pip", "install", "-q", "-r", os.path.join(pack_dir, "requirements.txt"),
                                "-c", os.path.join(comfy, ".venv", "constraints.txt")],
                               stdout=log, stderr=subprocess.STDOUT, timeout=1800)
        if r.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"preparing ComfyUI's venv failed:\n{log.read()[-4000:]}")


class ComfyServer:
    """``with ComfyServer(comfy, pack_dir) as s: s.run(prompt)``: one isolated ComfyUI on loopback."""

    def __init__(self, comfy: str, pack_dir: str, base: Optional[str] = None, extra_args=(),
                 settings: Optional[dict] = None, extra_nodes=()):
        self.comfy = os.path.abspath(comfy)
        self.pack_dir = os.path.abspath(pack_dir)
        self.python = os.path.join(self.comfy, ".venv", "bin", "python")
        self._own_base = base is None
        self.base = os.path.abspath(base or tempfile.mkdtemp(prefix="synchrorama-comfy-"))
        self.extra_args = list(extra_args)
        self.pack_name = os.path.basename(self.pack_dir.rstrip(os.sep))
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0
        self.log_path = os.path.join(self.base, "server.log")
        #: the editor's user settings (``user/default/comfy.settings.json``) the server starts with
        self.settings = dict(settings or {})
        #: other node pack folders linked into this server's custom_nodes (e.g. test-only nodes)
        self.extra_nodes = [os.path.abspath(p) for p in extra_nodes]

    # ------------------------------------------------------------------ folders
    def folder(self, kind: str, *parts: str) -> str:
        """A path under this server's ``input``/``output``/``temp``/``models``/``custom_nodes``/``user``."""
        return os.path.join(self.base, kind, *parts)

    def result_path(self, f: dict) -> str:
        """The file a node's UI result names (``{filename, subfolder, type}``)."""
        return self.folder(f.get("type", "output"), f.get("subfolder", ""), f["filename"])

    # ------------------------------------------------------------------ life
    def start(self, timeout: float = 300, tries: int = 3) -> "ComfyServer":
        for kind in ("custom_nodes", "models", "input", "output", "temp", "user"):
            os.makedirs(self.folder(kind), exist_ok=True)
        if self.settings:
            os.makedirs(self.folder("user", "default"), exist_ok=True)
            with open(self.folder("user", "default", "comfy.settings.json"), "w") as f:
                json.dump(self.settings, f)
        for src, name in [(self.pack_dir, self.pack_name)] + [(p, os.path.basename(p)) for p in self.extra_nodes]:
            link = self.folder("custom_nodes", name)
            if not os.path.islink(link):
                os.symlink(src, link)
        last = ""
        for _ in range(tries):
            self.port = free_port()
            if self._launch(timeout):
                with open(self.log_path, encoding="utf-8", errors="replace") as f:
                    log = f.read()
                if "IMPORT FAILED" in log:
                    self.stop()
                    raise RuntimeError(f"ComfyUI failed to import a custom node pack:\n{log[-6000:]}")
                return self
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                last = f.read()
            if "address already in use" not in last.lower():  # a port taken between free_port and bind: retry
                break
        raise RuntimeError(f"ComfyUI did not start (log {self.log_path}):\n{last[-6000:]}")

    def _launch(self, timeout: float) -> bool:
        args = [self.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
                "--base-directory", self.base, "--database-url", f"sqlite:///{self.folder('user', 'comfyui.db')}",
                "--disable-auto-launch", *self.extra_args]
        log = open(self.log_path, "w")
        try:
            self.proc = subprocess.Popen(args, cwd=self.comfy, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                return False
            try:
                self.get("/system_stats", timeout=5)
                return True
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"ComfyUI did not answer within {timeout:.0f} s (log {self.log_path})")

    def stop(self) -> None:
        """End the server's process group (the server and anything it started), then wait for it."""
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                return
            try:
                p.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def close(self) -> None:
        self.stop()
        if self._own_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ HTTP
    def get(self, path: str, timeout: float = 60):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
            return json.load(r)

    def post(self, path: str, body: Optional[dict] = None, timeout: float = 60):
        req = urllib.request.Request(self.url + path, data=json.dumps(body or {}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            data = r.read()
        return json.loads(data) if data.strip() else None

    def queue(self, prompt: dict, client_id: Optional[str] = None) -> str:
        """POST /prompt; returns the prompt id.  A refused prompt raises with the server's reasons."""
        try:
            return self.post("/prompt", {"prompt": prompt, "client_id": client_id or str(uuid.uuid4())})["prompt_id"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"/prompt refused the workflow: {e.read().decode(errors='replace')[:6000]}") from e

    def wait(self, prompt_id: str, timeout: float = 1800) -> dict:
        """The history entry once the prompt has finished (``status.status_str``: success / error)."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            hist = self.get(f"/history/{prompt_id}")
            if prompt_id in hist and hist[prompt_id].get("status", {}).get("completed") is not None:
                return hist[prompt_id]
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the ComfyUI server died while running the prompt (log {self.log_path}):\n"
                                   + self.log_tail())
            time.sleep(0.25)
        raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout:.0f} s")

    def run(self, prompt: dict, timeout: float = 1800) -> dict:
        """Queue ``prompt`` and wait; raises with the server's error messages unless it succeeded."""
        entry = self.wait(self.queue(prompt), timeout)
        status = entry.get("status", {})
        if status.get("status_str") != "success":
            msgs = [m for m in status.get("messages", []) if m[0] in ("execution_error", "execution_interrupted")]
            raise RuntimeError(f"the prompt failed: {json.dumps(msgs, indent=1)[:6000]}\nlog tail:\n{self.log_tail()}")
        return entry

    def log_tail(self, n: int = 4000) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    # ------------------------------------------------------------------ memory (Linux /proc)
    def rss_mb(self) -> float:
        return _status_kb(self.pid, "VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        return _status_kb(self.pid, "VmHWM") / 1024

    def reset_peak_rss(self) -> bool:
        """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (``clear_refs`` 5; Linux >= 4.0)."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)
