"""The scene of a conversation: who speaks when, and how, named by place (``SR_SCENE``).

Each speaker has a scene of their own (:func:`~.describer.describe_scene` on their track,
transcript, emotion and face: it drives their gestures).  :func:`conversation_scene` joins them
into one scene for the whole picture: the clip is cut into turns where the set of people
speaking changes (voiced regions of each track, pauses under 0.25 s merged, turns under
``min_turn_s`` folded into their neighbour), and each turn says who speaks, how (the speaker's
own segment there, with "The person" replaced by their name) and who listens::

    0.00-2.41  The person on the left speaks cheerfully to the person on the right, smiling;
               the person on the right listens.
    2.41-5.02  The person on the right asks a question calmly, tilting their head; the person
               on the left listens.

The actions of a turn are its speaker's; ``meta["turns"]`` lists the speakers of every turn and
``meta["segment_text"]`` what they say there.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

from ..errors import InvalidDataError
from ..types import SceneData, SceneSegment, SpeechData
from .context import voiced_regions

MIN_TURN_S = 0.4
BACKEND_NAME = "conversation"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _speaker_line(scene: Optional[SceneData], name: str, listeners: Sequence[str], a: float, b: float) -> tuple:
    """(description, actions, attributes, text) of ``scene``'s segment that overlaps [a, b) most."""
    best = None if scene is None else max(scene.segments, key=lambda s: _overlap(a, b, s.start_s, s.end_s),
                                          default=None)
    if best is None:
        to = f" to {listeners[0]}" if len(listeners) == 1 else ""
        return f"{_cap(name)} speaks{to}", [], [], ""
    texts = scene.meta.get("segment_text") or []
    d = best.description.strip().rstrip(".")
    if d.startswith("The person "):
        d = name + d[len("The person"):]
        if len(listeners) == 1:
            d = d.replace(" to the camera", f" to {listeners[0]}")
        d = _cap(d)
    else:
        d = f"{_cap(name)} speaks: {d[:1].lower()}{d[1:]}"
    i = scene.segments.index(best)
    return d, list(best.actions), list(best.attributes), texts[i] if i < len(texts) else ""


def conversation_scene(scenes: Optional[Sequence[Optional[SceneData]]], speeches: Sequence[SpeechData],
                       names: Optional[Sequence[str]] = None, min_turn_s: float = MIN_TURN_S) -> SceneData:
    """One ``SR_SCENE`` for a conversation from each speaker's scene and speech (see the module doc).
    ``names[k]`` names speaker ``k`` (default "speaker 1", ...); the clip lasts as long as the
    longest speech.  A speaker without a scene (``None``) is described only by when they speak."""
    speeches = list(speeches)
    scenes = list(scenes) if scenes is not None else [None] * len(speeches)
    k = len(speeches)
    if k == 0 or len(scenes) != k:
        raise InvalidDataError(f"a conversation scene needs one scene per speech track, got {len(scenes)} scenes "
                               f"for {k} tracks")
    names = [str(n) for n in names] if names else [f"speaker {i + 1}" for i in range(k)]
    if len(names) != k:
        raise InvalidDataError(f"{len(names)} names for {k} speakers")
    dur = max(s.duration_s for s in speeches)
    regions = [voiced_regions(s) for s in speeches]
    cuts = sorted({0.0, dur} | {min(t, dur) for r in regions for ab in r for t in ab})
    turns: List[list] = []                     # [start, end, frozenset of speakers]
    for a, b in zip(cuts, cuts[1:]):
        if b - a <= 1e-6:
            continue
        who = frozenset(i for i in range(k) if any(_overlap(a, b, r0, r1) > 0 for r0, r1 in regions[i]))
        if turns and turns[-1][2] == who:
            turns[-1][1] = b
        else:
            turns.append([a, b, who])
    # fold turns too short to read into the longer neighbour
    changed = True
    while changed and len(turns) > 1:
        changed = False
        for i, t in enumerate(turns):
            if t[1] - t[0] >= min_turn_s:
                continue
            left = turns[i - 1] if i > 0 else None
            right = turns[i + 1] if i + 1 < len(turns) else None
            into = left if right is None or (left is not None and left[1] - left[0] >= right[1] - right[0]) else right
            into[0], into[1] = min(into[0], t[0]), max(into[1], t[1])
            del turns[i]
            for j in range(len(turns) - 1, 0, -1):            # neighbours may now say the same thing
                if turns[j][2] == turns[j - 1][2]:
                    turns[j - 1][1] = turns[j][1]
                    del turns[j]
            changed = True
            break
    segs, texts, meta_turns = [], [], []
    for a, b, who in turns:
        speakers = sorted(who)
        listeners = [names[i] for i in range(k) if i not in who]
        acts: List[str] = []
        attrs: List[str] = []
        said = []
        if len(speakers) == 1:
            d, acts, attrs, text = _speaker_line(scenes[speakers[0]], names[speakers[0]], listeners, a, b)
            said.append(text)
            if listeners:
                d += f"; {_names(listeners)} listen{'s' if len(listeners) == 1 else ''}"
        elif speakers:
            d = f"{_cap(_names([names[i] for i in speakers]))} speak at the same time"
            for i in speakers:
                _, a_i, at_i, text = _speaker_line(scenes[i], names[i], [], a, b)
                acts += [x for x in a_i if x not in acts]
                attrs += [x for x in at_i if x not in attrs]
                said.append(text)
            if listeners:
                d += f"; {_names(listeners)} listen{'s' if len(listeners) == 1 else ''}"
        else:
            d = ("Both pause and look at each other" if k == 2 else
                 f"{_cap(_names(names))} pause" if k > 2 else f"{_cap(names[0])} pauses")
        segs.append(SceneSegment(start_s=round(a, 3), end_s=round(b, 3), description=d + ".", actions=acts[:3],
                                 attributes=attrs))
        texts.append(" ".join(t for t in said if t))
        meta_turns.append({"start_s": round(a, 3), "end_s": round(b, 3), "speakers": speakers})
    if segs:
        segs[0].start_s, segs[-1].end_s = 0.0, dur
    who_word = {2: "two", 3: "three", 4: "four"}.get(k, str(k))
    prompt = (f"{who_word} people in a conversation, {_names(names)}, talking to each other" if k > 1
              else scenes[0].prompt if scenes[0] is not None else f"{names[0]} talking")
    meta = {"speakers": names, "turns": meta_turns, "segment_text": texts,
            "speaker_backends": [s.backend if s is not None else "" for s in scenes],
            "speaker_prompts": [s.prompt if s is not None else "" for s in scenes]}
    return SceneData(duration_s=dur, segments=segs, prompt=prompt, backend=BACKEND_NAME, meta=meta)


__all__ = ["MIN_TURN_S", "conversation_scene"]
