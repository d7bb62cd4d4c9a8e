"""Structured output of the language-model describers: the request and the reply.

:func:`build_messages` asks a chat model for JSON ``{"summary": str, "segments": [{start_s,
end_s, description, actions[], attributes[]}]}`` covering the clip, giving it the timed
transcript, the emotion timeline and the portrait analysis (and the portrait itself for
vision models).

:func:`parse_reply` reads whatever came back.  It repairs what can be repaired, saying what it
did in its ``repairs`` list:

* text around the JSON: ``<think>`` blocks, code fences, prose before or after;
* JSON dialects: single quotes, Python literals, trailing commas, a bare list of segments;
* field names and types: ``start``/``end``, ``"1.5s"``, ``"0:01.5"``, comma-separated lists;
* times: out of range (clipped), unsorted (sorted), start and end swapped, overlapping (cut), gaps
  (closed), missing (a start from the previous end, an end from the next start, the span shared when
  neighbours each lack one side of their boundary; spread evenly when no segment has any time);
  actions mapped to the vocabulary.

When nothing usable remains it raises :class:`SceneReplyError` and the describer falls back to
the template.

A reply is bounded before it is kept (a model, or a server, may answer with anything): at most
:data:`MAX_REPLY_SEGMENTS` segments are read, at most one segment per :data:`MIN_SEGMENT_S`
seconds of the clip is kept (evenly chosen over the clip when there are more), descriptions and
the summary are cut to :data:`MAX_TEXT_CHARS` characters, attributes to :data:`MAX_ATTRIBUTES`
of :data:`MAX_ATTRIBUTE_CHARS`, and the repairs list to :data:`MAX_REPAIRS` entries.
"""
from __future__ import annotations

import ast
import json
import math
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..types import SceneSegment
from ..vocabulary.emotions import emotion_phrase, emotion_word
from .context import SceneContext
from .errors import SceneReplyError
from ..vocabulary.actions import ACTION_HELP, ACTIONS, extract_actions, normalise_actions


#: Bounds on what is kept of a model's reply (see the module docstring).
MAX_REPLY_SEGMENTS = 256
MIN_SEGMENT_S = 0.5
MAX_SEGMENTS = 64
MAX_TEXT_CHARS = 500
MAX_ATTRIBUTES = 8
MAX_ATTRIBUTE_CHARS = 100
MAX_REPAIRS = 20
MAX_UNKNOWN_ACTIONS = 20


def max_segments(duration_s: float) -> int:
    """How many segments a reply may keep for a clip of ``duration_s`` seconds."""
    return int(max(1, min(MAX_SEGMENTS, math.ceil(max(float(duration_s), 0.0) / MIN_SEGMENT_S))))


def _cut(text: str, n: int) -> str:
    """``text`` cut to at most ``n`` characters, at a word boundary where one is near."""
    if len(text) <= n:
        return text
    head = text[:n - 1]
    sp = head.rfind(" ")
    return (head[:sp] if sp > n * 0.7 else head).rstrip() + "…"


def _bounded_repairs(repairs: List[str]) -> List[str]:
    if len(repairs) <= MAX_REPAIRS:
        return repairs
    return repairs[:MAX_REPAIRS] + [f"... and {len(repairs) - MAX_REPAIRS} more repairs"]


#: JSON schema of the reply (sent as ``response_format`` to servers that take ``json_schema``).
SCENE_SCHEMA: Dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "segments": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "start_s": {"type": "number"},
                    "end_s": {"type": "number"},
                    "description": {"type": "string"},
                    "actions": {"type": "array", "items": {"type": "string", "enum": list(ACTIONS)}},
                    "attributes": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["start_s", "end_s", "description", "actions", "attributes"],
            },
        },
    },
    "required": ["summary", "segments"],
}


# ------------------------------------------------------------------------------ request

SYSTEM_PROMPT = """You direct a talking-head video. From the timed transcript, the emotion \
timeline and the portrait analysis, write timed scene descriptions of the speaking person: \
what they do (head gestures, facial actions) and high-level attributes of the shot that may \
change over the clip (expression, lighting, clothing, framing).

Reply with ONE JSON object and nothing else:
{"summary": "<one short sentence describing the whole shot, for an image generator>",
 "segments": [{"start_s": <seconds>, "end_s": <seconds>, "description": "<one sentence>",
               "actions": [<zero to three actions from the list>], "attributes": ["<short phrase>", ...]}]}

Rules:
- Segments are in time order, do not overlap, and together cover 0 to the clip duration exactly.
- Follow the given sentence timing; one segment per sentence is a good default.
- actions: only these phrases: %s.
- Directions are the person's own (\"looks left\" = toward their own left).
- Keep descriptions visual and short; do not quote the speech.""" % ", ".join(f'"{a}"' for a in ACTIONS)


def _emotion_line(e) -> str:
    if e is None:
        return ""
    top = sorted(e.probs.items(), key=lambda kv: -kv[1])[:2]
    probs = ", ".join(f"{k} {v:.2f}" for k, v in top)
    return (f"emotion: {emotion_word(e)} ({probs}; valence {e.valence:+.2f}, arousal {e.arousal:+.2f}, "
            f"intensity {e.intensity:.2f})")


def context_text(ctx: SceneContext, extra: str = "") -> str:
    """The user message: everything the model should base the scene on, as plain text."""
    lines = [f"Clip duration: {ctx.duration_s:.2f} s."]
    if ctx.face is not None:
        f = ctx.face
        lines.append(f"Portrait ({f.count} reference image{'s' if f.count > 1 else ''}): {f.framing}; {f.facing}; "
                     f"{f.gaze}; {f.expression}; {f.lighting}; {f.background}.")
    else:
        lines.append("Portrait: not analysed.")
    if ctx.emotion is not None:
        lines.append(f"Overall {_emotion_line(ctx.emotion)}; prompt phrase: {emotion_phrase(ctx.emotion)}.")
    lines.append("Timed speech (suggested segments):")
    for u in ctx.units:
        what = f'"{u.text}"' if u.text else ("(speech, no transcript)" if u.speech_end_s - u.speech_start_s > 0.05
                                            and any(b > u.start_s and a < u.end_s for a, b in ctx.regions)
                                            else "(silence)")
        extra_bits = [s for s in (_emotion_line(u.emotion),
                                  f"pause before {u.pause_before_s:.1f} s" if u.pause_before_s >= 0.4 else "",
                                  "voice loud" if u.loudness >= 0.72 else "") if s]
        lines.append(f"- {u.start_s:.2f}-{u.end_s:.2f} s: {what}" + (f" [{'; '.join(extra_bits)}]" if extra_bits else ""))
    if extra and extra.strip():
        lines.append(f"Creator's notes (follow them): {extra.strip()}")
    lines.append(f"Reply with the JSON object; segments must cover 0 to {ctx.duration_s:.2f} s.")
    return "\n".join(lines)


def build_messages(ctx: SceneContext, extra: str = "") -> List[Dict[str, str]]:
    """OpenAI-style chat messages (text only; backends add images to the user message)."""
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": context_text(ctx, extra)}]


# ------------------------------------------------------------------------------ reply: text -> JSON value

_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.S | re.I)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n?(.*?)```", re.S)


def _balanced(text: str, start: int) -> List[Tuple[str, bool]]:
    """Candidates for the bracketed value starting at ``text[start]`` (``{`` or ``[``), respecting
    strings, each with whether it had to be closed.  A complete value gives one candidate; a value
    cut off by the end of the text (a reply stopped by ``max_tokens``) gives the text closed as it
    is, then cut back to each of its last commas (dropping the unfinished element) and closed."""
    stack: List[str] = []
    quote: Optional[str] = None
    esc = False
    pairs = {"{": "}", "[": "]"}
    commas: List[Tuple[int, str]] = []  # (position, closing brackets needed there)
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == quote:
                quote = None
            continue
        if ch == '"' or (ch == "'" and (i == start or not text[i - 1].isalnum())):
            quote = ch
        elif ch in pairs:
            stack.append(pairs[ch])
        elif ch == ",":
            commas.append((i, "".join(reversed(stack))))
        elif ch in "}]":
            if not stack or stack[-1] != ch:
                return [(text[start:i], False)]  # mismatched bracket: hand back what precedes it
            stack.pop()
            if not stack:
                return [(text[start:i + 1], False)]
    body = text[start:].rstrip()
    if quote is None:
        body = re.sub(r",\s*$", "", body)
    out = [(body + (quote or "") + "".join(reversed(stack)), True)]
    for pos, closing in reversed(commas[-12:]):
        out.append((text[start:pos] + closing, True))
    return out


_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_PY_LITERALS = {"true": "True", "false": "False", "null": "None"}


def _loads(candidate: str, repairs: List[str]) -> Any:
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        pass
    fixed = _TRAILING_COMMA.sub(r"\1", candidate)
    if fixed != candidate:
        try:
            v = json.loads(fixed)
            repairs.append("removed trailing commas")
            return v
        except json.JSONDecodeError:
            pass
    # single quotes / Python literals: read as a Python literal (safe: literals only)
    py = re.sub(r"\b(true|false|null)\b", lambda m: _PY_LITERALS[m.group(1)], fixed)
    try:
        v = ast.literal_eval(py)
        repairs.append("read single-quoted / Python-style JSON")
        return v
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        pass
    raise SceneReplyError("the reply is not valid JSON")


def extract_json(text: str) -> Tuple[Any, List[str]]:
    """The first JSON object or array in a model reply, and the repairs made to find it."""
    repairs: List[str] = []
    if text is None or not str(text).strip():
        raise SceneReplyError("the reply is empty")
    t = str(text).strip()
    t2 = _THINK.sub("", t)
    if t2 != t:
        repairs.append("removed a <think> block")
        t = t2.strip()
    m = None
    for m in _FENCE.finditer(t):
        body = m.group(2).strip()
        if body[:1] in "{[":
            repairs.append("removed a code fence")
            t = body
            break
    else:
        if t.startswith("```"):  # an unterminated fence (reply cut off)
            t = t.split("\n", 1)[1] if "\n" in t else t.lstrip("`")
            repairs.append("removed an unterminated code fence")
    starts = [i for i, ch in enumerate(t) if ch in "{["]
    if not starts:
        raise SceneReplyError(f"the reply holds no JSON object: {_preview(text)}")
    for s in starts[:20]:
        v = None
        for cand, closed in _balanced(t, s):
            tried: List[str] = []
            try:
                v = _loads(cand, tried)
            except SceneReplyError:
                continue
            break
        if not isinstance(v, (dict, list)):
            continue
        repairs += tried
        if t[:s].strip():
            repairs.append("ignored text before the JSON")
        if closed:
            repairs.append("closed a JSON value that was cut off")
        elif t[s + len(cand):].strip():
            repairs.append("ignored text after the JSON")
        return v, repairs
    raise SceneReplyError(f"the reply is not valid JSON: {_preview(text)}")


def _preview(text: Any, n: int = 120) -> str:
    s = " ".join(str(text).split())
    return repr(s[:n] + ("..." if len(s) > n else ""))


# ------------------------------------------------------------------------------ reply: JSON -> segments

_KEYS = {
    "start_s": ("start_s", "start", "start_time", "startTime", "begin", "from", "t0", "start_sec", "start_seconds"),
    "end_s": ("end_s", "end", "end_time", "endTime", "stop", "to", "t1", "end_sec", "end_seconds"),
    "description": ("description", "desc", "scene", "text", "caption", "content"),
    "actions": ("actions", "action", "gestures", "gesture"),
    "attributes": ("attributes", "attribute", "attrs", "tags", "details"),
}
_TIME = re.compile(r"^\s*(?:(\d+):)?(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|secs|seconds?)?\s*$", re.I)


def parse_time(v: Any) -> Optional[float]:
    """Seconds from 1.5, "1.5", "1.5s", "0:01.5"; ``None`` when unreadable."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(v) else None
    m = _TIME.match(str(v))
    if not m:
        return None
    return float(m.group(1) or 0) * 60.0 + float(m.group(2))


def _get(d: dict, field: str) -> Any:
    for k in _KEYS[field]:
        if k in d:
            return d[k]
    low = {str(k).lower(): v for k, v in d.items()}
    for k in _KEYS[field]:
        if k.lower() in low:
            return low[k.lower()]
    return None


def _strings(v: Any) -> List[str]:
    """A list of short phrases from a string or list; phrases never hold commas or semicolons (they
    split there), so the readable text (:mod:`.text_format`) round-trips them."""
    if v is None:
        return []
    if isinstance(v, str):
        return [" ".join(s.split()) for s in re.split(r"[,;]", v) if s.strip()]
    if isinstance(v, (list, tuple)):
        out = []
        for x in v:
            out += _strings(x if isinstance(x, (list, tuple)) else str(x))
        return [s for s in out if s]
    return [str(v)]


def segments_of(value: Any) -> Tuple[List[dict], str]:
    """The list of raw segment dicts in a reply value and its summary text."""
    summary = ""
    segs = None
    if isinstance(value, dict):
        for k in ("summary", "prompt", "scene_summary", "overall"):
            if isinstance(value.get(k), str):
                summary = value[k].strip()
                break
        for k in ("segments", "scenes", "scene", "timeline", "items", "data"):
            if isinstance(value.get(k), list):
                segs = value[k]
                break
        if segs is None and _get(value, "description") is not None:
            segs = [value]  # a single segment
    elif isinstance(value, list):
        segs = value
    if segs is None:
        raise SceneReplyError("the JSON has no 'segments' list")
    return [s for s in segs if isinstance(s, dict)], summary


def normalise_segments(raw: Sequence[dict], duration_s: float, repairs: Optional[List[str]] = None,
                       tolerance_s: float = 1e-6, allow_ms: bool = True, max_count: int = 0
                       ) -> Tuple[List[SceneSegment], Dict[str, Any]]:
    """Valid ``SceneSegment`` s tiling ``[0, duration_s]`` from raw dicts, repairing as described in
    the module docstring.  Returns the segments and ``{"repairs": [...], "unknown_actions": [...]}``.
    Gaps, overlaps and overshoots up to ``tolerance_s`` are fixed without being reported;
    ``allow_ms``: times that all look like milliseconds (far beyond the clip, within it / 1000) are
    divided by 1000; ``max_count`` > 0 keeps at most that many segments, evenly chosen over the clip
    (each kept one then reaches to the next)."""
    tol = max(float(tolerance_s), 1e-6)
    repairs = repairs if repairs is not None else []
    unknown: List[str] = []
    dur = float(duration_s)
    items = []
    timed = 0
    for i, d in enumerate(raw):
        if not isinstance(d, dict):
            continue
        s0, s1 = parse_time(_get(d, "start_s")), parse_time(_get(d, "end_s"))
        desc = _get(d, "description")
        desc = " ".join(str(desc).split()) if desc is not None else ""
        acts, unk = normalise_actions(_get(d, "actions"))
        if not acts and desc:
            found = extract_actions(desc)
            if found:
                acts = found
                repairs.append(f"segment {i}: took actions {found} from its description")
        unknown += [u for u in unk if u not in unknown]
        attrs = _strings(_get(d, "attributes"))
        if not desc and not acts and not attrs:
            repairs.append(f"segment {i}: dropped (empty)")
            continue
        if s0 is not None or s1 is not None:  # one time is enough: the other comes from the neighbours
            timed += 1
        items.append({"start_s": s0, "end_s": s1, "description": desc, "actions": acts[:4], "attributes": attrs})
    if not items:
        raise SceneReplyError("the reply has no usable segments")
    if unknown:
        repairs.append(f"actions outside the vocabulary ignored: {unknown}")
    if timed == 0:
        # no times at all: spread the segments evenly over the clip
        step = dur / len(items)
        for k, it in enumerate(items):
            it["start_s"], it["end_s"] = k * step, (k + 1) * step
        repairs.append("no segment had times: spread them evenly over the clip")
    else:
        keep = []
        for k, it in enumerate(items):
            if it["start_s"] is None and it["end_s"] is None:
                repairs.append(f"segment {k}: dropped (no times)")
                continue
            if it["start_s"] is None:
                it["start_s"] = keep[-1]["end_s"] if keep else 0.0
                repairs.append(f"segment {k}: missing start taken from the previous end")
            if it["end_s"] is None:
                after = items[k + 1] if k + 1 < len(items) else None
                if after is not None and after["start_s"] is None and after["end_s"] is not None:
                    # the next segment lacks its start too: the boundary is unknown, so the two share
                    # the span (taking the next segment's end would leave it nothing: it was dropped)
                    it["end_s"] = (it["start_s"] + after["end_s"]) / 2.0
                    repairs.append(f"segment {k}: missing end, and segment {k + 1} has no start: "
                                   f"split the time between them")
                else:
                    it["end_s"] = next((x["start_s"] for x in items[k + 1:] if x["start_s"] is not None), dur)
                    repairs.append(f"segment {k}: missing end taken from the next start")
            keep.append(it)
        items = keep
        top = max((max(it["start_s"], it["end_s"]) for it in items), default=0.0)
        if allow_ms and dur > 0 and top > dur * 50 + 5 and top / 1000.0 <= dur * 1.05 + 0.05:
            for it in items:
                it["start_s"], it["end_s"] = it["start_s"] / 1000.0, it["end_s"] / 1000.0
            repairs.append("times looked like milliseconds: divided by 1000")
    # swapped ends, out of range, order
    for k, it in enumerate(items):
        if it["end_s"] < it["start_s"]:
            it["start_s"], it["end_s"] = it["end_s"], it["start_s"]
            repairs.append(f"segment {k}: start and end swapped")
        c0, c1 = min(max(it["start_s"], 0.0), dur), min(max(it["end_s"], 0.0), dur)
        if max(abs(c0 - it["start_s"]), abs(c1 - it["end_s"])) > tol:
            repairs.append(f"segment {k}: times {it['start_s']:.3g}-{it['end_s']:.3g} s clipped to 0-{dur:.3g} s")
        it["start_s"], it["end_s"] = c0, c1
    order = sorted(range(len(items)), key=lambda k: (items[k]["start_s"], items[k]["end_s"]))
    if order != list(range(len(items))):
        repairs.append("segments sorted by start time")
    items = [items[k] for k in order]
    # overlaps: a segment starts where the previous ends; zero-length leftovers dropped
    out: List[dict] = []
    for it in items:
        if out and it["start_s"] < out[-1]["end_s"] - 1e-9:
            if out[-1]["end_s"] - it["start_s"] > tol:
                repairs.append(f"overlap at {it['start_s']:.2f} s: segment moved to start at {out[-1]['end_s']:.2f} s")
            it["start_s"] = out[-1]["end_s"]
        if it["end_s"] - it["start_s"] <= 1e-3:
            repairs.append(f"zero-length segment at {it['start_s']:.2f} s dropped")
            continue
        out.append(it)
    if not out:
        raise SceneReplyError("no segment is left inside the clip after repairs")
    if max_count and len(out) > max_count:
        keep = sorted({int(round(i)) for i in [k * (len(out) - 1) / max(max_count - 1, 1) for k in range(max_count)]})
        repairs.append(f"{len(out)} segments for a {dur:.2f} s clip: kept {len(keep)} spread over it "
                       f"(at most one per {MIN_SEGMENT_S:g} s)")
        out = [out[k] for k in keep]
        for a, b in zip(out, out[1:]):
            a["end_s"] = b["start_s"]  # each kept segment reaches to the next (no gap is reported for this)
    # gaps: extend the previous segment to the next start; first starts at 0, last ends at the end
    if out[0]["start_s"] > tol:
        repairs.append(f"gap 0-{out[0]['start_s']:.2f} s closed")
    out[0]["start_s"] = 0.0
    for a, b in zip(out, out[1:]):
        if b["start_s"] - a["end_s"] > tol:
            repairs.append(f"gap {a['end_s']:.2f}-{b['start_s']:.2f} s closed")
        a["end_s"] = b["start_s"]
    if dur - out[-1]["end_s"] > tol:
        repairs.append(f"gap {out[-1]['end_s']:.2f}-{dur:.2f} s closed")
    out[-1]["end_s"] = dur
    # exact tiling with boundaries rounded to the millisecond
    bounds = [0.0] + [round(float(it["end_s"]), 3) for it in out[:-1]] + [dur]
    segs = []
    for k, it in enumerate(out):
        s0, s1 = bounds[k], bounds[k + 1]
        if s1 <= s0:  # vanished in rounding: give its time to the previous segment
            if segs:
                segs[-1].end_s = s1 if s1 > segs[-1].end_s else segs[-1].end_s
            continue
        if segs and segs[-1].end_s != s0:
            s0 = segs[-1].end_s
        segs.append(SceneSegment(start_s=s0, end_s=s1, description=it["description"] or _describe(it["actions"]),
                                 actions=list(it["actions"]), attributes=list(it["attributes"])))
    segs[-1].end_s = dur
    return segs, {"repairs": repairs, "unknown_actions": unknown}


def _describe(actions: List[str]) -> str:
    return ("The person " + ", ".join(actions) + ".") if actions else "The person speaks to the camera."


def parse_reply(text: str, duration_s: float) -> Tuple[List[SceneSegment], str, Dict[str, Any]]:
    """``(segments, summary, info)`` from a model's reply text (bounded: see the module docstring);
    raises :class:`SceneReplyError`."""
    value, repairs = extract_json(text)
    raw, summary = segments_of(value)
    if not raw:
        raise SceneReplyError("the reply's segment list is empty")
    if len(raw) > MAX_REPLY_SEGMENTS:
        repairs.append(f"the reply held {len(raw)} segments; only the first {MAX_REPLY_SEGMENTS} were read")
        raw = raw[:MAX_REPLY_SEGMENTS]
    segs, info = normalise_segments(raw, duration_s, repairs, max_count=max_segments(duration_s))
    for sg in segs:
        sg.description = _cut(sg.description, MAX_TEXT_CHARS)
        sg.attributes = [_cut(a, MAX_ATTRIBUTE_CHARS) for a in sg.attributes[:MAX_ATTRIBUTES]]
    info["repairs"] = _bounded_repairs(info["repairs"])
    info["unknown_actions"] = [_cut(a, 40) for a in info["unknown_actions"][:MAX_UNKNOWN_ACTIONS]]
    return segs, _cut(summary, MAX_TEXT_CHARS), info


__all__ = ["ACTION_HELP", "SCENE_SCHEMA", "SYSTEM_PROMPT", "SceneReplyError", "build_messages", "context_text",
           "extract_json", "normalise_segments", "parse_reply", "parse_time", "segments_of"]
