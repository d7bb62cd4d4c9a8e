"""OpenAI-compatible chat-completions client (Ollama, llama.cpp server, vLLM, LM Studio, hosted APIs).

Standard library only (``http.client``): no proxies from the environment, no redirects
followed, so **no request goes anywhere but the configured URL**.  Every call has a hard
overall deadline: ``timeout_s`` bounds all attempts, retries and back-off together, including
name resolution and a server that stalls mid-reply (each attempt runs in a worker thread whose
connection is shut when the deadline passes).

The API key is read at call time from the environment variable *named* in the config
(``api_key_env``), so the key itself is never part of a workflow file.  Everything taken from a
server (error bodies, the reply, the model name it reports, a redirect's target) passes through
:func:`redact` before it is parsed, logged or kept: the key, ``Bearer``/``Basic`` tokens,
``Authorization``/``api_key`` values and ``sk-...`` style keys become ``[redacted]``.
"""
from __future__ import annotations

import base64
import http.client
import io
import json
import logging
import os
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

import numpy as np

from ..errors import Cancelled
from .errors import SceneBackendError, SceneConfigError, SceneTimeoutError
from .structured import SCENE_SCHEMA

log = logging.getLogger("synchrorama.scene")

RESPONSE_FORMATS = ("json_object", "json_schema", "none")
MAX_REPLY_BYTES = 8 << 20
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
USER_AGENT = "SynchroRaMa-scene/1"
REDACTED = "[redacted]"
_TOKEN = r"[A-Za-z0-9._~+/=:\-]"
_SECRET_PATTERNS = (
    # "Bearer <token>", "Basic <token>" (as a server echoing the Authorization header writes them)
    (re.compile(rf"(?i)\b(bearer|basic)(\s+){_TOKEN}{{6,}}"), lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}"),
    # authorization / api key / token fields: "Authorization: x", "api_key=x", '"x-api-key": "x"'
    (re.compile(rf"(?i)\b(authorization|proxy-authorization|x-api-key|api[-_ ]?key|access[-_]?token)"
                rf"([\"']?\s*[:=]\s*[\"']?)(?!{re.escape(REDACTED)}|bearer\b|basic\b)({_TOKEN}{{4,}})"),
     lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}"),
    # OpenAI-style keys and similar (sk-..., sk-proj-..., sess-...)
    (re.compile(r"\b(?:sk|sess|rk|pk)-[A-Za-z0-9_\-]{16,}"), lambda m: REDACTED),
)


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` with ``secrets`` and anything that looks like a credential replaced by ``[redacted]``."""
    text = str(text)
    for sec in secrets:
        if sec and len(sec) >= 4:
            text = text.replace(sec, REDACTED)
    for rx, repl in _SECRET_PATTERNS:
        text = rx.sub(repl, text)
    return text


@dataclass
class Reply:
    """A backend's raw reply text and facts about the call (attempts, status, usage, ...)."""

    text: str
    info: Dict[str, Any] = field(default_factory=dict)


def image_data_url(image: np.ndarray, max_side: int = 768, quality: int = 90) -> str:
    """``[H, W, 3]`` float image in 0..1 -> ``data:image/jpeg;base64,...`` (longest side <= max_side)."""
    from PIL import Image
    a = np.asarray(image, np.float32)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise SceneConfigError(f"an image to send must be [H, W, 3], got shape {list(a.shape)}")
    im = Image.fromarray((np.clip(a[..., :3], 0, 1) * 255 + 0.5).astype(np.uint8))
    s = max(im.size)
    if max_side and s > max_side:
        im = im.resize((max(1, round(im.size[0] * max_side / s)), max(1, round(im.size[1] * max_side / s))),
                       Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=int(quality))
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def with_images(messages: Sequence[Dict[str, Any]], images: Sequence[np.ndarray], max_side: int = 768
                ) -> List[Dict[str, Any]]:
    """The messages with ``images`` added to the last user message as ``image_url`` data-URL parts."""
    msgs = [dict(m) for m in messages]
    if not images:
        return msgs
    idx = max(i for i, m in enumerate(msgs) if m.get("role") == "user")
    content = msgs[idx]["content"]
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    parts += [{"type": "image_url", "image_url": {"url": image_data_url(im, max_side)}} for im in images]
    msgs[idx]["content"] = parts
    return msgs


def endpoint_url(base_url: str) -> str:
    """The chat-completions URL for a base URL (``.../v1`` -> ``.../v1/chat/completions``; a URL that
    already ends in ``/chat/completions`` is used as it is)."""
    u = (base_url or "").strip()
    if not u:
        raise SceneConfigError("the HTTP scene backend needs a base URL, e.g. http://127.0.0.1:11434/v1 (Ollama), "
                               "http://127.0.0.1:8080/v1 (llama.cpp), http://127.0.0.1:1234/v1 (LM Studio)")
    parts = urlsplit(u)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SceneConfigError(f"base URL {u!r} must start with http:// or https:// and name a host, "
                               f"e.g. http://127.0.0.1:11434/v1")
    if parts.username or parts.password:
        raise SceneConfigError("do not put credentials in the base URL; name an environment variable that "
                               "holds the API key instead")
    if parts.fragment:
        raise SceneConfigError(f"base URL {u!r} must not contain a '#fragment'")
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path += "/chat/completions"
    return f"{parts.scheme}://{parts.netloc}{path}" + (f"?{parts.query}" if parts.query else "")


@dataclass
class HTTPBackend:
    """An OpenAI-compatible ``/v1/chat/completions`` server.

    ``timeout_s`` is the hard limit for one describer call, all ``retries`` included; ``retries``
    extra attempts are made after connection errors and HTTP 408/425/429/5xx.  ``response_format``:
    ``json_object`` (default; widely supported), ``json_schema`` (strict schema, where supported)
    or ``none``; a server that rejects it with HTTP 400 is asked again without it.
    """

    base_url: str
    model: str
    api_key_env: str = ""
    timeout_s: float = 60.0
    retries: int = 1
    send_images: bool = False
    response_format: str = "json_object"
    max_tokens: int = 1024
    temperature: float = 0.0
    image_max_side: int = 768

    name = "http"

    def __post_init__(self):
        self.url = endpoint_url(self.base_url)
        self.model = str(self.model or "").strip()
        if not self.model:
            raise SceneConfigError("the HTTP scene backend needs a model name (e.g. 'llama3.2' for Ollama, "
                                   "'gpt-4o-mini' for OpenAI; llama.cpp accepts any name)")
        self.api_key_env = str(self.api_key_env or "").strip()
        if self.api_key_env and not _ENV_NAME.match(self.api_key_env):
            raise SceneConfigError("api_key_env must be the NAME of an environment variable (like OPENAI_API_KEY), "
                                   "not the key itself: the key would be saved in the workflow file")
        self.timeout_s = float(self.timeout_s)
        if not (0 < self.timeout_s <= 3600):
            raise SceneConfigError(f"timeout_s must be in (0, 3600] seconds, got {self.timeout_s}")
        self.retries = int(self.retries)
        if not (0 <= self.retries <= 10):
            raise SceneConfigError(f"retries must be 0..10, got {self.retries}")
        if self.response_format not in RESPONSE_FORMATS:
            raise SceneConfigError(f"response_format must be one of {RESPONSE_FORMATS}, got {self.response_format!r}")
        self.max_tokens = int(self.max_tokens)
        if self.max_tokens < 16:
            raise SceneConfigError("max_tokens must be at least 16")

    @property
    def label(self) -> str:
        return f"HTTP backend {self.model!r} at {self.url}"

    def _api_key(self) -> str:
        if not self.api_key_env:
            return ""
        key = os.environ.get(self.api_key_env, "")
        if not key.strip():
            raise SceneConfigError(f"the environment variable {self.api_key_env} named as the API key variable is not "
                                   f"set (or empty). Set it where ComfyUI starts (e.g. `export {self.api_key_env}=...`), "
                                   f"or clear api_key_env for a local server that needs no key")
        return key.strip()

    def request_body(self, messages: Sequence[Dict[str, Any]], images: Sequence[np.ndarray] = (), seed: int = 0,
                     response_format: Optional[str] = None) -> Dict[str, Any]:
        msgs = with_images(messages, images if self.send_images else (), self.image_max_side)
        body: Dict[str, Any] = {"model": self.model, "messages": msgs, "temperature": float(self.temperature),
                                "seed": int(seed), "max_tokens": self.max_tokens, "stream": False}
        rf = self.response_format if response_format is None else response_format
        if rf == "json_object":
            body["response_format"] = {"type": "json_object"}
        elif rf == "json_schema":
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "scene", "schema": SCENE_SCHEMA, "strict": False}}
        return body

    # ------------------------------------------------------------------ one attempt

    def _attempt(self, payload: bytes, headers: Dict[str, str], deadline: float,
                 cancelled: Optional[Callable[[], bool]]) -> Tuple[int, Dict[str, str], bytes]:
        """POST once; returns ``(status, headers, body)``; bounded by ``deadline`` (monotonic)."""
        parts = urlsplit(self.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SceneTimeoutError("time-out before the request could be sent")
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=remaining, context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=remaining)
        result: Dict[str, Any] = {}

        def work():
            try:
                conn.request("POST", path, body=payload, headers=headers)
                resp = conn.getresponse()
                data = resp.read(MAX_REPLY_BYTES + 1)
                result["ok"] = (resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                result["err"] = e

        t = threading.Thread(target=work, name="synchrorama-scene-http", daemon=True)
        t.start()
        late = False
        try:
            while t.is_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    late = True
                    break
                if cancelled is not None and cancelled():
                    raise Cancelled("scene description cancelled by the user while waiting for the server")
                t.join(min(left, 0.05))
        finally:
            if t.is_alive():
                _abort(conn)  # unblocks the worker; whatever it read after this is discarded
        if late or ("ok" not in result and "err" not in result):
            raise SceneTimeoutError("the server did not answer in time")
        if "err" in result:
            if isinstance(result["err"], (TimeoutError, socket.timeout)):
                raise SceneTimeoutError("the server did not answer in time")
            raise result["err"]
        status, hdrs, data = result["ok"]
        if len(data) > MAX_REPLY_BYTES:
            raise SceneBackendError(f"the reply from {self.url} is larger than {MAX_REPLY_BYTES >> 20} MB", "protocol")
        conn.close()
        return status, hdrs, data

    # ------------------------------------------------------------------ the call

    def complete(self, messages: Sequence[Dict[str, Any]], images: Sequence[np.ndarray] = (), seed: int = 0,
                 cancelled: Optional[Callable[[], bool]] = None,
                 progress: Optional[Callable[[int, int], None]] = None) -> Reply:
        """Ask the server; return the reply text.  Raises :class:`SceneTimeoutError` when
        ``timeout_s`` passes, :class:`SceneBackendError` for connection/HTTP/protocol failures,
        :class:`SceneConfigError` for a missing API key."""
        start = time.monotonic()
        deadline = start + self.timeout_s
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        rf = self.response_format
        attempts = 0
        max_attempts = 1 + self.retries
        errors: List[str] = []
        dropped_rf = False
        while True:
            attempts += 1
            body = self.request_body(messages, images, seed, response_format=rf)
            payload = json.dumps(body).encode("utf-8")
            retry_after = 0.0
            try:
                status, hdrs, data = self._attempt(payload, headers, deadline, cancelled)
                # nothing a server sent is kept or shown unredacted (a 401 may echo the key)
                data = redact(data.decode("utf-8", "replace"), [key]).encode("utf-8")
                hdrs = {k: redact(v, [key])[:300] for k, v in hdrs.items()}
            except Cancelled:
                raise
            except SceneTimeoutError:
                raise SceneTimeoutError(f"no complete reply from {self.url} within the time-out of {self.timeout_s:g} s "
                                        f"({attempts} attempt{'s' if attempts > 1 else ''}"
                                        + (f"; earlier: {'; '.join(errors)}" if errors else "") + ")")
            except (OSError, http.client.HTTPException) as e:
                err = SceneBackendError(f"cannot reach {self.url}: {_describe_os_error(e)}", "connection")
                errors.append(str(err))
            else:
                if status == 200:
                    text, info = self._read_reply(data)
                    info.update(attempts=attempts, status=status, elapsed_s=round(time.monotonic() - start, 3),
                                url=self.url, model=self.model, response_format=rf)
                    if dropped_rf:
                        info["note"] = (f"the server rejected response_format={self.response_format!r}; "
                                        f"asked again without it")
                    if progress is not None:
                        progress(1, 1)
                    return Reply(text, info)
                detail = _error_detail(data)
                if 300 <= status < 400:
                    raise SceneBackendError(
                        f"{self.url} answered HTTP {status} (redirect to {hdrs.get('location', '?')}); redirects are "
                        f"not followed: set the base URL to the server's real address", "http", status)
                if status == 400 and rf != "none" and not dropped_rf:
                    # many servers reject response_format types they do not know: ask again without it
                    dropped_rf, rf = True, "none"
                    errors.append(f"HTTP 400 with response_format={self.response_format!r}: {detail}")
                    attempts -= 1  # does not count as a retry
                    continue
                err = SceneBackendError(f"{self.url} answered HTTP {status}: {detail}", "http", status)
                if status not in RETRY_STATUS:
                    if status in (401, 403):
                        err = SceneBackendError(
                            f"{self.url} refused the request (HTTP {status}: {detail}); check the API key in "
                            f"${self.api_key_env or '<no variable named>'}", "http", status)
                    elif status == 404:
                        err = SceneBackendError(
                            f"{self.url} answered HTTP 404 ({detail}): wrong base URL (it should end in /v1) or "
                            f"unknown model {self.model!r}", "http", status)
                    raise err
                errors.append(str(err))
                retry_after = _retry_after(hdrs.get("retry-after"))
            if attempts >= max_attempts:
                raise SceneBackendError(f"{self.label} failed after {attempts} attempt(s): {'; '.join(errors)}",
                                        "http" if "HTTP" in errors[-1] else "connection")
            wait = max(retry_after, min(0.25 * 2 ** (attempts - 1), 4.0))
            if time.monotonic() + wait >= deadline:
                raise SceneTimeoutError(f"{self.label}: the time-out of {self.timeout_s:g} s left no time to retry "
                                        f"after: {'; '.join(errors)}")
            log.info("scene HTTP backend: attempt %d failed (%s); retrying in %.2f s", attempts, errors[-1], wait)
            _sleep(wait, cancelled)

    def _read_reply(self, data: bytes) -> Tuple[str, Dict[str, Any]]:
        try:
            obj = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SceneBackendError(f"{self.url} answered 200 but not with JSON: {data[:120]!r}; is this an "
                                    f"OpenAI-compatible /v1 endpoint?", "protocol")
        try:
            choice = obj["choices"][0]
            msg = choice.get("message") or {}
            content = msg.get("content")
            if content is None and "text" in choice:  # completions-style servers
                content = choice["text"]
        except (KeyError, IndexError, TypeError, AttributeError):
            raise SceneBackendError(f"{self.url} answered without choices[0].message: {json.dumps(obj)[:160]}",
                                    "protocol")
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        usage = obj.get("usage")
        usage = {str(k)[:40]: v for k, v in list(usage.items())[:8] if type(v) is int} \
            if isinstance(usage, dict) else None
        fr, served = choice.get("finish_reason"), obj.get("model")
        info = {"finish_reason": str(fr)[:40] if fr is not None else None, "usage": usage,
                "served_model": str(served)[:100] if served is not None else None}
        return str(content or ""), info


def _abort(conn: http.client.HTTPConnection) -> None:
    sock = getattr(conn, "sock", None)
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        conn.close()
    except Exception:  # noqa: BLE001
        pass


def _sleep(seconds: float, cancelled: Optional[Callable[[], bool]]) -> None:
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        if cancelled is not None and cancelled():
            raise Cancelled("scene description cancelled by the user")
        time.sleep(min(left, 0.05))


def _retry_after(v: Optional[str]) -> float:
    try:
        return min(max(float(v), 0.0), 30.0) if v else 0.0
    except ValueError:
        return 0.0


def _error_detail(data: bytes) -> str:
    try:
        obj = json.loads(data.decode("utf-8"))
        err = obj.get("error", obj) if isinstance(obj, dict) else obj
        msg = err.get("message", err) if isinstance(err, dict) else err
        return " ".join(str(msg).split())[:200]
    except Exception:  # noqa: BLE001
        return " ".join(data[:200].decode("utf-8", "replace").split()) or "(empty body)"


def _describe_os_error(e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused (is the server running and listening on that port?)"
    if isinstance(e, socket.gaierror):
        return f"unknown host ({e})"
    if isinstance(e, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    return f"{type(e).__name__}: {e}"
