"""The scene actions vocabulary: the phrases the scene describer writes and the A2M stage turns into head gestures.

Scene segments carry ``actions`` from :data:`ACTIONS`.  Language models and people write
variants ("nodding", "looks to the left", "raises her eyebrows", "grins"); :func:`canonical_action`
maps one action phrase to its canonical name and :func:`extract_actions` finds every known
action mentioned in free text (e.g. a segment description), in order of appearance.

Directions are the subject's own: "looks left" turns the face to the subject's left (towards
the image's right), as in ``SR_MOTION``.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

#: Canonical action phrases, in the order the A2M stage documents them.
ACTIONS: Tuple[str, ...] = ("nods", "shakes head", "looks left", "looks right", "looks up", "looks down",
                            "tilts head", "smiles", "raises eyebrows", "frowns", "blinks")

#: What each action does, for prompts, tooltips and docs.
ACTION_HELP: Dict[str, str] = {
    "nods": "a few downward nods (agreement, emphasis)",
    "shakes head": "side-to-side head shakes (negation, disbelief)",
    "looks left": "face turns to the subject's own left for the segment",
    "looks right": "face turns to the subject's own right for the segment",
    "looks up": "chin lifts (thinking, recalling)",
    "looks down": "chin lowers (sadness, modesty, reading)",
    "tilts head": "head rolls to one side (questioning, curiosity)",
    "smiles": "a smile",
    "raises eyebrows": "brows go up (surprise, questions, emphasis)",
    "frowns": "brows furrow and mouth corners drop (anger, worry, disgust)",
    "blinks": "an extra blink",
}

# One pattern per action, tried in this order; the first regex group-free match wins.
# Word stems cover inflections ("nodding", "nodded", "smiling", "grins", "frowning").
_PATTERNS: Tuple[Tuple[str, str], ...] = (
    ("shakes head", r"\bshak(?:e|es|ing|en)\b[\w\s']{0,20}?\bhead\b|\bhead[\s-]?shak\w*"),
    ("nods", r"\bnod(?:s|ded|ding)?\b"),
    ("raises eyebrows", r"\b(?:rais\w*|lift\w*|arch\w*)\b[\w\s']{0,20}?\b(?:eye)?brows?\b|\b(?:eye)?brows?\s+(?:go\s+|went\s+)?(?:up|raised|lifted)\b"),
    ("frowns", r"\bfrown\w*|\bscowl\w*|\bfurrow\w*|\bgrimac\w*"),
    ("looks left", r"\b(?:look|glanc|turn|gaz|peek)\w*\b[\w\s']{0,25}?\bleft(?:wards?)?\b"),
    ("looks right", r"\b(?:look|glanc|turn|gaz|peek)\w*\b[\w\s']{0,25}?\bright(?:wards?)?\b"),
    ("looks up", r"\b(?:look|glanc|gaz|peek)\w*\s+(?:\w+\s+){0,2}?(?:up|upwards?|skywards?|at the ceiling)\b|\b(?:lift|rais)\w*\s+(?:\w+\s+)?(?:chin|head)\b"),
    ("looks down", r"\b(?:look|glanc|gaz|peek)\w*\s+(?:\w+\s+){0,2}?(?:down|downwards?|at the (?:floor|ground))\b|\b(?:lower|drop|bow)\w*\s+(?:\w+\s+)?(?:chin|head|gaze|eyes)\b"),
    ("tilts head", r"\btilt\w*|\bcock\w*\s+(?:\w+\s+)?head\b"),
    ("smiles", r"\bsmil\w*|\bgrin\w*|\blaugh\w*|\bbeam(?:s|ing|ed)?\b"),
    ("blinks", r"\bblink\w*"),
)
_COMPILED = tuple((name, re.compile(p)) for name, p in _PATTERNS)


def _norm(text: str) -> str:
    return " ".join(str(text).lower().replace("-", " ").replace("_", " ").split())


def canonical_action(action: str) -> Optional[str]:
    """The canonical name (one of :data:`ACTIONS`) of one action phrase, or ``None``."""
    a = _norm(action)
    if not a:
        return None
    if a in ACTIONS:
        return a
    for name, rx in _COMPILED:
        if rx.search(a):
            return name
    return None


def extract_actions(text: str) -> List[str]:
    """Every known action mentioned in ``text``, canonical, without repeats, in order of appearance."""
    t = _norm(text)
    found = []
    for name, rx in _COMPILED:
        m = rx.search(t)
        if m:
            found.append((m.start(), name))
    out: List[str] = []
    for _, name in sorted(found):
        if name not in out:
            out.append(name)
    return out


def normalise_actions(actions) -> Tuple[List[str], List[str]]:
    """``(canonical, unknown)``: each entry of ``actions`` (a list, or a comma/semicolon separated
    string) mapped to its canonical name; entries that name no known action are returned apart."""
    if actions is None:
        return [], []
    if isinstance(actions, str):
        actions = [a for a in re.split(r"[,;/]|\band\b", actions)]
    elif not isinstance(actions, (list, tuple)):
        actions = [actions]
    known: List[str] = []
    unknown: List[str] = []
    for a in actions:
        if isinstance(a, dict):  # {"action": "nods", ...} from chatty models
            a = a.get("action") or a.get("name") or ""
        s = " ".join(str(a).split())
        if not s:
            continue
        c = canonical_action(s)
        if c is None:
            # a phrase such as "nods and smiles" holds several
            several = extract_actions(s)
            if several:
                for x in several:
                    if x not in known:
                        known.append(x)
            elif s not in unknown:
                unknown.append(s)
        elif c not in known:
            known.append(c)
    return known, unknown
