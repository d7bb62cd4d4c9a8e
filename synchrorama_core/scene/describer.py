"""The scene describer: speech + transcript (+ emotion, + portrait) -> ``SR_SCENE``.

``describe_scene(speech, transcript, emotion, face, backend)``:

* ``backend=None`` or :class:`TemplateBackend`: the template (:mod:`.template`), always works;
* :class:`~.http_backend.HTTPBackend` / :class:`~.local_backend.LocalBackend`: the model is asked for
  JSON segments (:mod:`.structured`); the reply is repaired where it can be.

Documented failure behaviour (``on_failure="fallback"``, the default): when the server is
down, times out, answers with an HTTP error, or the reply is empty, not JSON or holds no usable
segment, the template's scene is returned instead and ``meta["warnings"]`` says what happened
(also logged).  With ``on_failure="error"`` those raise instead.  Configuration mistakes (a
missing model folder, an unset API-key variable, a malformed URL) always raise, and so does a
user's cancel.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ..errors import Cancelled
from ..transcript import emotion_transcript
from ..types import EmotionData, FaceData, SceneData, SpeechData
from .context import SceneContext, build_context
from .errors import SceneBackendError, SceneConfigError, SceneReplyError
from .structured import build_messages, parse_reply
from .template import BACKEND_NAME as TEMPLATE_NAME
from .template import scene_prompt, template_scene

log = logging.getLogger("synchrorama.scene")

ON_FAILURE = ("fallback", "error")
MAX_REPLY_IN_META = 4000


@dataclass
class TemplateBackend:
    """The zero-download default (no model)."""

    name = TEMPLATE_NAME
    label = "template"


def _segment_text(ctx: SceneContext, scene: SceneData) -> List[str]:
    """The transcript pieces whose middle falls inside each segment."""
    out = []
    for s in scene.segments:
        out.append(" ".join(u.text for u in ctx.units if u.text and s.start_s <= (u.start_s + u.end_s) / 2 < s.end_s))
    return out


def scene_transcript(transcript: str = "", emotion: Optional[EmotionData] = None) -> tuple:
    """``(text, source)``: the transcript given here, else the one the emotion was embedded with
    (``SR_EMOTION.meta["transcript"]``: typed into the Emotion Embedder, or Whisper's), else none."""
    text = (transcript or "").strip()
    if text:
        return text, "given"
    carried = emotion_transcript(emotion)
    if carried:
        return carried, "from SR_EMOTION"
    return "", "none"


def describe_scene(speech: SpeechData, transcript: str = "", emotion: Optional[EmotionData] = None,
                   face: Optional[FaceData] = None, backend: Any = None, extra_instructions: str = "",
                   on_failure: str = "fallback", seed: int = 0, progress=None, cancelled=None) -> SceneData:
    """Timed scene segments and a sampler prompt for a clip (see the module docstring).

    An empty ``transcript`` uses the one carried by ``emotion`` (see :func:`scene_transcript`);
    ``meta["transcript_source"]`` says which was used."""
    transcript, source = scene_transcript(transcript, emotion)
    scene = _describe(speech, transcript, emotion, face, backend, extra_instructions, on_failure, seed, progress,
                      cancelled)
    scene.meta["transcript_source"] = source
    return scene


def _describe(speech, transcript, emotion, face, backend, extra_instructions, on_failure, seed, progress,
              cancelled) -> SceneData:
    if on_failure not in ON_FAILURE:
        raise SceneConfigError(f"on_failure must be one of {ON_FAILURE}, got {on_failure!r}")
    ctx = build_context(speech, transcript, emotion, face)
    if backend is None or isinstance(backend, TemplateBackend) or getattr(backend, "name", "") == TEMPLATE_NAME:
        scene = template_scene(ctx)
        if progress is not None:
            progress(1, 1)
        return scene
    if not callable(getattr(backend, "complete", None)):
        raise SceneConfigError(f"the scene backend input is a {type(backend).__name__}, not a scene backend; connect "
                               f"a SynchroRaMa Scene Backend node")
    messages = build_messages(ctx, extra_instructions)
    images = list(face.images) if face is not None else []
    label = getattr(backend, "label", backend.name)
    reply_text = None
    try:
        reply = backend.complete(messages, images=images, seed=int(seed), cancelled=cancelled, progress=progress)
        reply_text = reply.text
        segs, summary, info = parse_reply(reply.text, ctx.duration_s)
    except Cancelled:
        raise
    except SceneConfigError:
        raise
    except (SceneBackendError, SceneReplyError) as e:
        what = "its reply was unusable" if isinstance(e, SceneReplyError) else "it failed"
        warning = f"{label}: {what} ({e}); the template scene was used instead"
        if on_failure == "error":
            raise
        log.warning("SynchroRaMa scene: %s", warning)
        scene = template_scene(ctx, warnings=[warning])
        scene.meta["fallback_from"] = backend.name
        scene.meta["backend_error"] = {"type": type(e).__name__, "kind": getattr(e, "kind", "reply"),
                                       "message": str(e)}
        if reply_text is not None:
            scene.meta["reply"] = reply_text[:MAX_REPLY_IN_META]
        return scene
    warnings = list(ctx.warnings)
    if info["repairs"]:
        warnings.append("the model's reply was repaired: " + "; ".join(info["repairs"]))
        log.info("SynchroRaMa scene: %s", warnings[-1])
    lead = summary or (segs[0].description if segs else "")
    model = getattr(backend, "model", None)
    backend_name = f"{backend.name}:{model if isinstance(model, str) else getattr(backend, 'path', '')}"
    meta: Dict[str, Any] = {"warnings": warnings, "repairs": info["repairs"],
                            "unknown_actions": info["unknown_actions"], "summary": summary,
                            "reply": reply.text[:MAX_REPLY_IN_META], "call": reply.info, "seed": int(seed)}
    scene = SceneData(duration_s=ctx.duration_s, segments=segs, prompt=scene_prompt(ctx, lead=lead),
                      backend=backend_name, meta=meta)
    scene.meta["segment_text"] = _segment_text(ctx, scene)
    return scene
