"""Transcript -> the word sequence an English aligner can use, with pronunciations for unknown words.

The aligner needs words from its dictionary: the text is lower-cased, split into words
(apostrophes inside words kept: ``don't``), and whole numbers are spelled out
(``42`` -> ``forty two``).  Words the dictionary lacks get a pronunciation from spelling rules
(:func:`spell`): rough for vowels, but the consonants that shape the lips (p b m f v w, sh)
are nearly always spelled as they sound, which is what the visemes need.
"""
from __future__ import annotations

import re
import unicodedata
from typing import List, Tuple

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> List[str]:
    """English cardinal words of ``0 <= n < 10**12``."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + (number_words(n % 10) if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (number_words(n % 100) if n % 100 else [])
    for size, name in ((10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand")):
        if n >= size:
            return number_words(n // size) + [name] + (number_words(n % size) if n % size else [])
    return []


def transcript_words(text: str) -> List[str]:
    """Lower-case words of ``text`` (numbers spelled out); empty for a text without words."""
    t = unicodedata.normalize("NFC", text or "").replace("\u2019", "'").replace("\u2018", "'").lower()
    out: List[str] = []
    for tok in re.findall(r"\d+|[^\W\d_]+(?:'[^\W\d_]+)*", t):
        if tok.isdigit():
            out += number_words(int(tok)) if len(tok) <= 12 else [_ONES[int(d)] for d in tok]
        else:
            out.append(tok)
    return out


def is_ascii_word(word: str) -> bool:
    return all("a" <= c <= "z" or c == "'" for c in word)


# spelling -> ARPABET, longest match first; a crude but lip-faithful reading of unknown words
_RULES = sorted({
    "tch": "CH", "sch": "SH", "tion": "SH AH N", "sion": "ZH AH N", "igh": "AY", "ough": "AO",
    "ch": "CH", "sh": "SH", "th": "TH", "ph": "F", "gh": "", "ng": "NG", "ck": "K", "qu": "K W",
    "wh": "W", "wr": "R", "kn": "N", "ee": "IY", "ea": "IY", "oo": "UW", "ou": "AW",
    "ow": "OW", "oi": "OY", "oy": "OY", "ai": "EY", "ay": "EY", "au": "AO", "aw": "AO", "ie": "IY",
    "ei": "EY", "ey": "IY", "ew": "UW", "oa": "OW", "ue": "UW", "ar": "AA R", "er": "ER", "ir": "ER",
    "ur": "ER", "or": "AO R",
    "a": "AE", "b": "B", "c": "K", "d": "D", "e": "EH", "f": "F", "g": "G", "h": "HH", "i": "IH",
    "j": "JH", "k": "K", "l": "L", "m": "M", "n": "N", "o": "AA", "p": "P", "q": "K", "r": "R",
    "s": "S", "t": "T", "u": "AH", "v": "V", "w": "W", "x": "K S", "y": "IY", "z": "Z",
}.items(), key=lambda kv: -len(kv[0]))


def spell(word: str) -> str:
    """ARPABET phones for a word by spelling rules (accents dropped; empty if no letters)."""
    w = "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if "a" <= c <= "z")
    if len(w) > 3 and w.endswith("e") and w[-2] not in "aeiouy":
        w = w[:-1]  # silent final e
    phones: List[str] = []
    i = 0
    while i < len(w):
        if i + 1 < len(w) and w[i] == w[i + 1] and w[i] not in "aeiou":
            i += 1  # doubled consonant sounds once
            continue
        if w[i] == "c" and i + 1 < len(w) and w[i + 1] in "eiy":
            phones.append("S")
            i += 1
            continue
        if w[i] == "y" and i == 0:
            phones.append("Y")
            i += 1
            continue
        for g, p in _RULES:
            if w.startswith(g, i):
                if p:
                    phones += p.split()
                i += len(g)
                break
    return " ".join(phones)


#: frequent English function words: about 40 % of running English text, rare in other languages'
_ENGLISH_COMMON = frozenset("""
a about after all also am an and any are as at be because been but by can could did do does for
from had has have he her him his how i if in into is it its just me more my no not now of on one
or our out she so some than that the their them then there these they this to up us was we were
what when where which who will with would you your i'm it's don't that's you're
""".split())


def english_verdict(words: List[str], dictionary) -> Tuple[bool, str]:
    """Whether a transcript reads as English, and if not, why.  Most of its words must be in the
    English ``dictionary`` and, in a text of six words or more, either nearly all (95 %) or at
    least 15 % common English function words (the dictionary alone holds many foreign names:
    German, French, Spanish and Italian sentences score 56-75 % in it)."""
    if not words:
        return True, ""
    known = sum(1 for w in words if is_ascii_word(w) and w in dictionary)
    common = sum(1 for w in words if w in _ENGLISH_COMMON)
    if known < 0.75 * len(words):
        return False, f"language not English: {known} of {len(words)} transcript words are English"
    if len(words) >= 6 and common < 0.15 * len(words) and known < 0.95 * len(words):
        return False, (f"language not English: only {common} of {len(words)} transcript words are "
                       f"common English words")
    return True, ""
