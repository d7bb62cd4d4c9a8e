"""The readable, editable form of an ``SR_SCENE``.

::

    # SynchroRaMa scene: 7.14 s, backend template. Edit and connect to "SynchroRaMa Parse Scene Text".
    # [start - end] description | actions: ... | attributes: ...
    prompt: head-and-shoulders portrait of a person talking to the camera, ..., calm expression
    [0.00 - 0.82] The person speaks calmly to the camera, smiling. | actions: smiles | attributes: close-up
    #   "Hello there."
    [0.82 - 4.20] ...

Lines starting with ``#`` are comments (the spoken text is shown that way).  Times may be
written ``1.5``, ``1.5s`` or ``0:01.5``; ``actions:`` and ``attributes:`` parts are optional and
comma-separated; the ``prompt:`` line is optional (without it the prompt is made from the
segments; an attribute holding a comma becomes two).  :func:`parse_scene_text` reads it back,
repairing small timing slips (overlaps, gaps, out of range) like a model reply, and raises
:class:`SceneTextError` naming the line for anything it cannot read.
"""
from __future__ import annotations

import re
from typing import List, Optional, Tuple

from ..types import EmotionData, SceneData, SceneSegment
from ..vocabulary.emotions import emotion_phrase, summarise_emotion
from .errors import SceneReplyError, SceneTextError
from .structured import normalise_segments, parse_time


def _fmt_t(t: float) -> str:
    s = f"{t:.3f}"
    return s[:-1] if s.endswith("0") else s


def format_scene(scene: SceneData, spoken: Optional[List[str]] = None) -> str:
    """The readable text of ``scene`` (``spoken``: the transcript piece of each segment, shown as
    comments; default: ``scene.meta["segment_text"]`` when it matches the segments)."""
    if spoken is None:
        st = scene.meta.get("segment_text") if isinstance(scene.meta, dict) else None
        spoken = st if isinstance(st, list) and len(st) == len(scene.segments) else None
    lines = [f"# SynchroRaMa scene: {scene.duration_s:.2f} s, backend {scene.backend or 'unknown'}. "
             f"Edit and connect to \"SynchroRaMa Parse Scene Text\".",
             "# [start - end] description | actions: a, b | attributes: c, d"]
    for w in (scene.meta.get("warnings") or []) if isinstance(scene.meta, dict) else []:
        lines.append("# warning: " + " ".join(str(w).split()))
    if scene.prompt:
        lines.append("prompt: " + " ".join(scene.prompt.split()))
    for i, s in enumerate(scene.segments):
        line = f"[{_fmt_t(s.start_s)} - {_fmt_t(s.end_s)}] {' '.join(s.description.split())}"
        if s.actions:
            line += " | actions: " + ", ".join(s.actions)
        if s.attributes:
            line += " | attributes: " + ", ".join(" ".join(a.split()) for a in s.attributes)
        lines.append(line)
        if spoken and spoken[i]:
            lines.append(f'#   "{" ".join(str(spoken[i]).split())}"')
    return "\n".join(lines) + "\n"


_LINE = re.compile(r"^\s*\[\s*([^\]\-\u2013\u2014>]+?)\s*(?:-|\u2013|\u2014|->|to)\s*([^\]]+?)\s*\]\s*(.*)$")
_PART = re.compile(r"\|\s*(actions?|attributes?|attrs?)\s*:", re.I)


def _split_parts(rest: str) -> Tuple[str, str, str]:
    desc, acts, attrs = rest, "", ""
    pieces = _PART.split(rest)
    desc = pieces[0]
    for k in range(1, len(pieces) - 1, 2):
        key, val = pieces[k].lower(), pieces[k + 1]
        if key.startswith("act"):
            acts = f"{acts}, {val}" if acts else val
        else:
            attrs = f"{attrs}, {val}" if attrs else val
    return desc.strip().rstrip("|").strip(), acts.strip(), attrs.strip()


def prompt_from_segments(segments: List[SceneSegment], emotion: Optional[EmotionData] = None) -> str:
    """A sampler prompt for segments that came without one: the longest segment's description, the
    attributes every segment shares, and the emotion phrase (when not already among them)."""
    if not segments:
        return ""
    longest = max(segments, key=lambda s: s.end_s - s.start_s)
    parts = [longest.description.strip().rstrip(".")] if longest.description.strip() else []
    shared = [a for a in segments[0].attributes if all(a in s.attributes for s in segments[1:])]
    parts += [a for a in shared if a.lower() not in (parts[0].lower() if parts else "")]
    if emotion is not None and not any("expression" in a for a in shared):
        parts.append(emotion_phrase(summarise_emotion(emotion, 0.0, emotion.duration_s)))
    return ", ".join(p for p in parts if p)


def parse_scene_text(text: str, duration_s: Optional[float] = None, backend: str = "edited",
                     emotion: Optional[EmotionData] = None) -> Tuple[SceneData, List[str]]:
    """An ``SR_SCENE`` from the readable form (see the module docstring) and the repairs made.

    ``duration_s``: the clip's length (from the speech); ``None`` or 0 uses the last segment's end.
    The prompt is the ``prompt:`` line, else :func:`prompt_from_segments` (with ``emotion``'s
    phrase); ``meta["warnings"]`` lists the repairs.
    """
    if text is None or not str(text).strip():
        raise SceneTextError("the scene text is empty; write one line per segment like "
                             "'[0.00 - 2.50] The person smiles. | actions: smiles'")
    raw = []
    prompt = ""
    for no, line in enumerate(str(text).splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.lower().startswith("prompt:"):
            prompt = s.split(":", 1)[1].strip()
            continue
        m = _LINE.match(s)
        if not m:
            raise SceneTextError(f"line {no} is not a segment: {s[:80]!r}. Write '[start - end] description "
                                 f"| actions: ... | attributes: ...' (times in seconds) or start it with '#'")
        t0, t1 = parse_time(m.group(1)), parse_time(m.group(2))
        if t0 is None or t1 is None:
            raise SceneTextError(f"line {no}: cannot read the times [{m.group(1)} - {m.group(2)}]; "
                                 f"write seconds like 1.5 or 0:01.5")
        desc, acts, attrs = _split_parts(m.group(3))
        if t1 <= t0:
            raise SceneTextError(f"line {no}: the segment ends ({t1:g} s) before it starts ({t0:g} s)")
        raw.append({"start_s": t0, "end_s": t1, "description": desc, "actions": acts, "attributes": attrs})
    if not raw:
        raise SceneTextError("the scene text has no segment lines ('[start - end] description ...')")
    if duration_s is None or duration_s <= 0:
        duration_s = max(r["end_s"] for r in raw)
    repairs: List[str] = []
    try:
        # times are written with 3 decimals: slips below 6 ms are that rounding, not edits
        segs, info = normalise_segments(raw, float(duration_s), repairs, tolerance_s=0.006, allow_ms=False)
    except SceneReplyError as e:
        raise SceneTextError(f"the scene text has no usable segment: {e}") from e
    warnings = list(info["repairs"])
    if not prompt:
        prompt = prompt_from_segments(segs, emotion)
    return SceneData(duration_s=float(duration_s), segments=segs, prompt=prompt, backend=backend,
                     meta={"warnings": warnings, "unknown_actions": info["unknown_actions"]}), warnings
