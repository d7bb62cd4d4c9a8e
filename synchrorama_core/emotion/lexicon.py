"""Zero-download text emotion: VADER valence + SynchroRaMa's own emotion word lists.

* **Valence** comes from VADER (``vaderSentiment``, MIT licence, lexicon bundled in the wheel;
  Hutto & Gilbert 2014), which handles negation ("not happy"), intensifiers ("very"), "but"
  contrasts, capitals and exclamation marks.
* **Emotion categories** come from the short word lists below, written for this project (not
  derived from NRC EmoLex or any other restrictively licensed lexicon; they are part of
  SynchroRaMa and share its licence).  A word's score is scaled by intensifiers/downtoners in
  the three words before it; a negator there ("not", "never", "n't", ...) moves the score to
  the emotion's opposite (negated happy reads as sad, negated sad/angry/afraid as calm).
* **Arousal** is the probability-weighted emotion prototype, raised by exclamation marks,
  intensifiers and words in capitals.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..types import EMOTIONS
from .common import N_EMO, NEUTRAL, PROTO_A, PROTO_V

#: word -> weight, per emotion (our own lists; weights 0.5 weak .. 1.5 strong).
EMOTION_WORDS: Dict[str, Dict[str, float]] = {
    "happy": {w: 1.0 for w in (
        "happy happily happiness glad joy joyful joyous delighted delightful cheerful cheer cheers pleased "
        "pleasure lovely wonderful fantastic amazing awesome excellent brilliant marvelous marvellous "
        "excited exciting thrilled grateful thankful celebrate celebrating celebration fun funny laugh "
        "laughing laughed smile smiling proud hooray yay enjoy enjoyed enjoying beautiful perfect terrific "
        "superb splendid blessed lucky cheerful elated ecstatic overjoyed yippee hurray love loved "
        "loving adore adorable sunshine").split()},
    "sad": {w: 1.0 for w in (
        "sad sadly sadness unhappy sorrow sorrowful grief grieving grieve cry crying cried tears tearful "
        "lonely loneliness depressed depressing depression miserable misery heartbroken heartbreaking "
        "hopeless despair gloomy gloom mourn mourning tragic tragedy weep weeping wept lost loss regret "
        "regretful sorry disappointed disappointing disappointment hurt hurting painful sigh alas "
        "melancholy devastated bereaved lament").split()},
    "angry": {w: 1.0 for w in (
        "angry angrily anger furious fury rage raging mad hate hated hateful annoyed annoying irritated "
        "irritating outraged outrageous livid hostile infuriating infuriated frustrated frustrating "
        "resent resentful bitter yell yelling shouting damn dammit unacceptable enraged seething "
        "fuming cross").split()},
    "fear": {w: 1.0 for w in (
        "afraid scared fear fearful frightened frightening terrified terrifying terror panic panicked "
        "anxious anxiety nervous worried worry worrying dread dreadful horror horrified horrifying "
        "danger dangerous threat threatening nightmare tremble trembling creepy alarmed alarming "
        "uneasy petrified spooky").split()},
    "disgusted": {w: 1.0 for w in (
        "disgust disgusted disgusting gross nasty revolting repulsive repulsed sickening vile yuck ew "
        "eww rotten filthy foul nauseating nauseous stink stinks stinking putrid slimy repugnant "
        "loathsome icky").split()},
    "contempt": {w: 1.0 for w in (
        "contempt pathetic ridiculous worthless despise despised scorn mock mocking sneer whatever "
        "loser inferior pitiful laughable useless arrogant beneath condescending smug disdain "
        "pointless lame").split()},
    "surprised": {w: 1.0 for w in (
        "surprised surprise surprising surprisingly wow whoa woah unexpected unexpectedly unbelievable "
        "incredible incredibly astonished astonishing amazed shocked shocking suddenly omg gosh "
        "goodness startled stunned speechless").split()},
}
# weaker cues
for _w in ("good nice great best fine pleasant sweet kind".split()):
    EMOTION_WORDS["happy"][_w] = 0.5
for _w in ("bad down blue upset alone missing".split()):
    EMOTION_WORDS["sad"][_w] = 0.5
for _w in ("stupid idiot shut enough".split()):
    EMOTION_WORDS["angry"][_w] = 0.6
for _w in ("help careful strange".split()):
    EMOTION_WORDS["fear"][_w] = 0.4
for _w in ("sick dirty".split()):
    EMOTION_WORDS["disgusted"][_w] = 0.5
for _w in ("really oh what".split()):
    EMOTION_WORDS["surprised"][_w] = 0.3

#: multi-word expressions (tokens joined by a space) -> (emotion, weight)
PHRASES: Dict[str, Tuple[str, float]] = {
    "can't believe": ("surprised", 1.0), "cannot believe": ("surprised", 1.0), "oh my god": ("surprised", 1.2),
    "oh my": ("surprised", 0.8), "fed up": ("angry", 1.0), "sick of": ("angry", 1.0), "pissed off": ("angry", 1.2),
    "scared to death": ("fear", 1.5), "over the moon": ("happy", 1.5), "broke my heart": ("sad", 1.5),
    "miss you": ("sad", 0.8), "so what": ("contempt", 1.0), "who cares": ("contempt", 1.0),
    "grossed out": ("disgusted", 1.2), "makes me sick": ("disgusted", 1.2),
}

NEGATORS = set("not no never none nobody nothing neither nor without hardly barely cannot cant dont doesnt "
               "didnt isnt wasnt arent werent wont wouldnt shouldnt couldnt aint nt".split())
INTENSIFIERS = {w: 1.5 for w in ("very really so extremely incredibly totally absolutely completely truly deeply "
                                 "utterly super too such terribly awfully highly most especially").split()}
INTENSIFIERS.update({w: 0.5 for w in "slightly somewhat little bit kinda sorta fairly rather mildly barely".split()})
#: where the score of a negated emotion word goes (emotion -> [(emotion, share)]; the rest: neutral)
NEGATED_TO = {"happy": [("sad", 0.6)], "sad": [("happy", 0.2)], "angry": [], "fear": [], "disgusted": [],
              "contempt": [], "surprised": []}

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")
_CLAUSE = re.compile(r"[,;:.!?()\"]+|\s-\s|\bbut\b")


def _tokens(clause: str) -> List[str]:
    out = []
    for t in _TOKEN.findall(clause.lower()):
        if t.endswith("n't"):
            base = t[:-3]
            if base:
                out.append({"ca": "can", "wo": "will", "sha": "shall"}.get(base, base))
            out.append("nt")
        else:
            out.append(t.replace("'", ""))
    return out


_PHRASE_TOKENS = {tuple(_tokens(k)): v for k, v in PHRASES.items()}


def _lookup(tok: str):
    for e, words in EMOTION_WORDS.items():
        if tok in words:
            return e, words[tok]
    if len(tok) > 3 and tok.endswith("s"):
        for e, words in EMOTION_WORDS.items():
            if tok[:-1] in words:
                return e, words[tok[:-1]]
    return None


@dataclass
class SegmentEmotion:
    """Emotion of one piece of text: probs over EMOTIONS, valence, arousal, confidence in [0, 1]."""

    probs: np.ndarray
    valence: float
    arousal: float
    confidence: float
    detail: Dict[str, object] = field(default_factory=dict)


class LexiconTextEmotion:
    """VADER valence + own emotion word lists (zero download, a few ms per sentence)."""

    name = "lexicon (VADER + SynchroRaMa word lists)"

    def __init__(self):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        self._vader = SentimentIntensityAnalyzer()

    def word_scores(self, text: str) -> Tuple[np.ndarray, int, float]:
        """Per-emotion scores from the word lists, number of cue words, intensifier boost."""
        scores = np.zeros(N_EMO, np.float64)
        hits = 0
        boost = 0.0
        for clause in _CLAUSE.split(text):
            toks = _tokens(clause)
            i = 0
            while i < len(toks):
                found = None
                for n in (3, 2):
                    key = tuple(toks[i:i + n])
                    if len(key) == n and key in _PHRASE_TOKENS:
                        found = _PHRASE_TOKENS[key], n
                        break
                if found is None:
                    lk = _lookup(toks[i])
                    if lk is not None:
                        found = lk, 1
                if found is None:
                    i += 1
                    continue
                (emo, w), n = found
                before = toks[max(0, i - 3):i]
                mult = 1.0
                for b in before:
                    mult *= INTENSIFIERS.get(b, 1.0)
                mult = float(np.clip(mult, 0.25, 2.5))
                if mult > 1.0:
                    boost += mult - 1.0
                s = w * mult
                hits += 1
                if any(b in NEGATORS for b in before):
                    for to, share in NEGATED_TO[emo]:
                        scores[EMOTIONS.index(to)] += s * share
                    scores[NEUTRAL] += s * 0.4
                else:
                    scores[EMOTIONS.index(emo)] += s
                i += n
        return scores, hits, boost

    def analyze_one(self, text: str) -> SegmentEmotion:
        text = (text or "").strip()
        if not text:
            p = np.zeros(N_EMO, np.float32)
            p[NEUTRAL] = 1.0
            return SegmentEmotion(p, 0.0, float(PROTO_A[NEUTRAL]), 0.0, {"words": 0})
        compound = float(self._vader.polarity_scores(text)["compound"])
        scores, hits, boost = self.word_scores(text)
        scores[EMOTIONS.index("happy")] += 1.2 * max(compound, 0.0)
        scores[EMOTIONS.index("sad")] += 0.8 * max(-compound, 0.0)
        scores[NEUTRAL] += 1.0
        probs = (scores / scores.sum()).astype(np.float32)
        valence = float(np.clip(0.7 * compound + 0.3 * float(probs @ PROTO_V), -1, 1))
        excl = min(text.count("!"), 3)
        caps = sum(1 for w in re.findall(r"\b[A-Z]{3,}\b", text))
        arousal = float(np.clip(probs @ PROTO_A + 0.15 * excl + 0.1 * min(caps, 3) + 0.1 * min(boost, 2.0), -1, 1))
        conf = float(np.clip(0.35 + 0.4 * abs(compound) + 0.25 * min(hits / 2.0, 1.0), 0.0, 1.0))
        return SegmentEmotion(probs, valence, arousal, conf,
                              {"vader_compound": round(compound, 4), "words": hits})

    def analyze(self, texts: Sequence[str]) -> List[SegmentEmotion]:
        return [self.analyze_one(t) for t in texts]
