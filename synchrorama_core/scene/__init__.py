"""Scene stage: timed scene descriptions (``SR_SCENE``) from a template, a local model or a server.

* :func:`describe_scene` - the describer (template by default; see :mod:`.describer`);
* :class:`HTTPBackend` - OpenAI-compatible chat completions (:mod:`.http_backend`);
* :class:`LocalBackend` / :func:`load_local_backend` - transformers models from a folder;
* :func:`format_scene` / :func:`parse_scene_text` - the readable, editable form;
(the action phrases the A2M stage understands: :mod:`synchrorama_core.vocabulary.actions`)
"""
from __future__ import annotations

from .context import SceneContext, build_context
from .describer import ON_FAILURE, TemplateBackend, describe_scene
from .errors import SceneBackendError, SceneConfigError, SceneReplyError, SceneTextError, SceneTimeoutError
from .http_backend import RESPONSE_FORMATS, HTTPBackend, Reply
from .local_backend import DTYPES, MODEL_TYPES, LocalBackend, load_local_backend, resolve_llm
from .structured import build_messages, parse_reply
from .template import template_scene
from .text_format import format_scene, parse_scene_text

__all__ = ["DTYPES", "MODEL_TYPES", "ON_FAILURE", "RESPONSE_FORMATS", "HTTPBackend", "LocalBackend",
           "Reply", "SceneBackendError", "SceneConfigError", "SceneContext", "SceneReplyError", "SceneTextError",
           "SceneTimeoutError", "TemplateBackend", "build_context", "build_messages",
           "describe_scene", "format_scene", "load_local_backend",
           "parse_reply", "parse_scene_text", "resolve_llm", "template_scene"]
