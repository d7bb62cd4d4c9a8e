"""The template scene describer: the zero-download default (no model, a few milliseconds).

Segments follow the transcript's sentences (or the phrases of speech when there is no
transcript), timed over the voiced regions (:mod:`.context`).  Each segment's actions come
from simple, documented rules:

* emotion over the segment: happy -> "smiles", surprised/fear -> "raises eyebrows",
  angry/disgusted/contempt -> "frowns", sad -> "looks down" (when the emotion is clear);
* the words: a question -> "tilts head" (+ "raises eyebrows"); yes/agreement -> "nods";
  a greeting or thanks -> "smiles" (unless the emotion is negative);
  a flat "no"/"never" -> "shakes head"; thinking words (hmm, maybe, let me think) -> "looks up";
* the voice: a loud, aroused segment -> "nods" (beats of emphasis); a long pause before it ->
  "blinks".

The description says who does what and how ("The person speaks cheerfully to the camera,
smiling and nodding"); the attributes are the portrait's framing, head direction, light and
background (:func:`.context.summarise_face`) and the segment's emotion.
"""
from __future__ import annotations

import re
from typing import List, Optional

from ..types import SceneData, SceneSegment
from ..vocabulary.emotions import EmotionSummary, emotion_phrase
from .context import SceneContext, Unit

BACKEND_NAME = "template"

_GERUND = {
    "nods": "nodding", "shakes head": "shaking their head", "looks left": "glancing to their left",
    "looks right": "glancing to their right", "looks up": "looking up thoughtfully",
    "looks down": "looking down", "tilts head": "tilting their head", "smiles": "smiling",
    "raises eyebrows": "raising their eyebrows", "frowns": "frowning", "blinks": "blinking",
}

_YES = re.compile(r"^\s*(yes|yeah|yep|sure|of course|exactly|absolutely|indeed|right|okay|ok|definitely|certainly)\b"
                  r"|\b(i agree|that's right|that is right|of course|exactly)\b", re.I)
_NO = re.compile(r"^\s*(no|nope|never|nah)\b|\b(no way|not at all|absolutely not|certainly not|of course not)\b", re.I)
_GREETING = re.compile(r"^\s*(hello|hi|hey|good (morning|afternoon|evening)|welcome|thanks|thank you|nice to)\b", re.I)
_THINK = re.compile(r"\b(hmm+|umm*|maybe|perhaps|let me think|i wonder|i think|i guess|i suppose|i remember|"
                    r"wondering|imagine)\b", re.I)

LOUD = 0.72          # mean loudness (0..1) of an emphatic segment
LONG_PAUSE_S = 0.6


def unit_actions(u: Unit, clip_loudness: float = 0.0) -> List[str]:
    """The template's actions for one timed unit (see the module docstring)."""
    acts: List[str] = []
    e: Optional[EmotionSummary] = u.emotion
    text = u.text
    if e is not None:
        dom, p = e.dominant, e.probs[e.dominant]
        clear = p >= 0.35 and e.intensity >= 0.2
        if clear and dom == "happy":
            acts.append("smiles")
        elif clear and dom in ("surprised", "fear"):
            acts.append("raises eyebrows")
        elif clear and dom in ("angry", "disgusted", "contempt"):
            acts.append("frowns")
        elif clear and dom == "sad":
            acts.append("looks down")
    if text:
        if text.rstrip().endswith("?"):
            acts.append("tilts head")
            if "raises eyebrows" not in acts and len(acts) < 2:
                acts.append("raises eyebrows")
        if _YES.search(text):
            acts.append("nods")
        elif _NO.search(text):
            acts.append("shakes head")
        if _GREETING.search(text) and "smiles" not in acts and not (e is not None and e.valence < -0.2):
            acts.append("smiles")
        if _THINK.search(text) and "looks down" not in acts:
            acts.append("looks up")
    aroused = e is not None and e.arousal > 0.35
    if "nods" not in acts and "shakes head" not in acts and u.loudness > 0 and \
            (u.loudness >= max(LOUD, clip_loudness + 0.08) or (aroused and u.loudness >= clip_loudness)):
        acts.append("nods")
    if u.pause_before_s >= LONG_PAUSE_S:
        acts.append("blinks")
    out: List[str] = []
    for a in acts:
        if a not in out:
            out.append(a)
    return out[:3]


_ADVERB = {"happy": "cheerfully", "sad": "sadly", "angry": "angrily", "fear": "nervously",
           "surprised": "with surprise", "disgusted": "with distaste", "contempt": "dismissively"}


def _manner(u: Unit, clip_loudness: float) -> str:
    e = u.emotion
    if e is not None and e.dominant != "neutral" and e.probs[e.dominant] >= 0.3 and e.intensity >= 0.15:
        return ("very " if e.intensity >= 0.75 and e.dominant not in ("surprised", "disgusted") else "") + \
            _ADVERB[e.dominant]
    if u.loudness and u.loudness >= max(LOUD, clip_loudness + 0.08):
        return "emphatically"
    if u.loudness and u.loudness < clip_loudness - 0.12:
        return "softly"
    return "calmly"


def _join(words: List[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def unit_description(u: Unit, actions: List[str], clip_loudness: float = 0.0, voiced: bool = True) -> str:
    if not voiced or u.speech_end_s - u.speech_start_s <= 0.05 or (not u.text and u.loudness == 0):
        base = "The person pauses and looks at the camera"
    elif u.text.rstrip().endswith("?"):
        base = f"The person asks a question {_manner(u, clip_loudness)}"
    else:
        base = f"The person speaks {_manner(u, clip_loudness)} to the camera"
    if actions:
        base += ", " + _join([_GERUND.get(a, a) for a in actions])
    return base + "."


def unit_attributes(u: Unit, ctx: SceneContext) -> List[str]:
    """The portrait's attributes and the segment's emotion phrase, split at commas (an attribute
    holds none, so the readable text round-trips it)."""
    attrs = list(ctx.face.attributes()) if ctx.face is not None else []
    if u.emotion is not None:
        attrs.append(emotion_phrase(u.emotion))
    return [p.strip() for a in attrs for p in a.split(",") if p.strip()]


def scene_prompt(ctx: SceneContext, lead: str = "") -> str:
    """The sampler prompt: ``lead`` (a scene summary) or a default one, the portrait's attributes,
    then the clip's emotion phrase.  Kept short so CLIP's 77 tokens hold it."""
    parts = [lead.strip().rstrip(".")] if lead and lead.strip() else []
    if not parts:
        framing = ctx.face.framing if ctx.face is not None else "portrait"
        parts.append(f"{framing} of a person talking to the camera")
    if ctx.face is not None:
        attrs = ctx.face.attributes()
        for a in attrs[1:] if not lead else attrs:
            if a.lower() not in parts[0].lower():
                parts.append(a)
    parts.append(emotion_phrase(ctx.emotion))
    return ", ".join(p for p in parts if p)


def template_scene(ctx: SceneContext, warnings: Optional[List[str]] = None) -> SceneData:
    """An ``SR_SCENE`` for ``ctx`` made by the rules in the module docstring."""
    segs: List[SceneSegment] = []
    texts: List[str] = []
    for u in ctx.units:
        voiced = any(b > u.start_s and a < u.end_s for a, b in ctx.regions)
        acts = unit_actions(u, ctx.loudness) if voiced else []
        segs.append(SceneSegment(start_s=round(u.start_s, 3), end_s=round(u.end_s, 3),
                                 description=unit_description(u, acts, ctx.loudness, voiced),
                                 actions=acts, attributes=unit_attributes(u, ctx)))
        texts.append(u.text)
    # rounding may leave the last end a hair short of the duration: the segments tile the clip
    if segs:
        segs[0].start_s = 0.0
        segs[-1].end_s = ctx.duration_s
    meta = {"warnings": list(ctx.warnings) + list(warnings or []), "segment_text": texts}
    if ctx.face is not None:
        meta["face"] = {"framing": ctx.face.framing, "facing": ctx.face.facing, "gaze": ctx.face.gaze,
                        "expression": ctx.face.expression, "lighting": ctx.face.lighting,
                        "background": ctx.face.background, "measures": ctx.face.measures}
    return SceneData(duration_s=ctx.duration_s, segments=segs, prompt=scene_prompt(ctx), backend=BACKEND_NAME,
                     meta=meta)
