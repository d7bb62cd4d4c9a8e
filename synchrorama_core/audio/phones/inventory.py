"""The phone -> viseme table: each ARPABET phone's viseme class and lip targets.

One row per phone of the CMU dictionary's set (what pocketsphinx's en-us model uses), plus
``SIL`` and the coarse classes the acoustic backend emits.  Targets are ``(jaw, round, spread)``
at the start of the phone and, for diphthongs, at its end (the track interpolates between them);
``closure`` (bilabials) and ``labiodental`` (f, v) come from the class.  Jaw follows vowel
height: open a / ae highest, then mid e / o, then close i / u; consonants are nearly closed.
The class names and what the targets mean are documented in
:data:`synchrorama_core.types.VISEMES` and :data:`~synchrorama_core.types.LIP_TARGETS`.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from ...types import LIP_TARGETS, VISEMES

Target = Tuple[float, float, float]  # jaw, round, spread

#: phone -> (viseme, targets at the start, targets at the end or None when steady)
PHONES: Dict[str, Tuple[str, Target, Optional[Target]]] = {
    # silence
    "SIL": ("rest", (0.0, 0.0, 0.0), None),
    # bilabial, labiodental
    "P": ("bilabial", (0.0, 0.0, 0.0), None),
    "B": ("bilabial", (0.0, 0.0, 0.0), None),
    "M": ("bilabial", (0.0, 0.0, 0.0), None),
    "F": ("labiodental", (0.1, 0.0, 0.1), None),
    "V": ("labiodental", (0.1, 0.0, 0.1), None),
    # dental / alveolar
    "T": ("dental", (0.15, 0.0, 0.15), None),
    "D": ("dental", (0.15, 0.0, 0.15), None),
    "N": ("dental", (0.15, 0.0, 0.1), None),
    "S": ("dental", (0.1, 0.0, 0.4), None),
    "Z": ("dental", (0.1, 0.0, 0.4), None),
    "L": ("dental", (0.3, 0.0, 0.1), None),
    "TH": ("dental", (0.15, 0.0, 0.15), None),
    "DH": ("dental", (0.15, 0.0, 0.15), None),
    # postalveolar (English sh / ch / j are lip-rounded)
    "SH": ("postalveolar", (0.15, 0.55, 0.0), None),
    "ZH": ("postalveolar", (0.15, 0.55, 0.0), None),
    "CH": ("postalveolar", (0.15, 0.5, 0.0), None),
    "JH": ("postalveolar", (0.15, 0.5, 0.0), None),
    # velar
    "K": ("velar", (0.3, 0.0, 0.0), None),
    "G": ("velar", (0.3, 0.0, 0.0), None),
    "NG": ("velar", (0.25, 0.0, 0.0), None),
    # approximants
    "W": ("rounded", (0.15, 1.0, 0.0), None),
    "R": ("rounded", (0.25, 0.55, 0.0), None),
    "Y": ("spread", (0.2, 0.0, 0.8), None),
    # HH: no lip shape of its own; the track gives it the next vowel's (see track.resolve_hh)
    "HH": ("rest", (0.0, 0.0, 0.0), None),
    # vowels: open
    "AA": ("open", (0.95, 0.0, 0.0), None),
    "AE": ("open", (0.85, 0.0, 0.35), None),
    "AO": ("open", (0.75, 0.45, 0.0), None),
    "AW": ("open", (0.9, 0.0, 0.0), (0.35, 0.8, 0.0)),
    "AY": ("open", (0.9, 0.0, 0.0), (0.3, 0.0, 0.6)),
    # mid
    "EH": ("mid", (0.55, 0.0, 0.35), None),
    "ER": ("mid", (0.4, 0.35, 0.0), None),
    # ARPABET AH is both the stressed vowel of "cup" (open-mid, like EH) and schwa; the dictionary
    # has no stress marks, so it is one mid vowel.  The exclamation "ah" is AA.
    "AH": ("mid", (0.5, 0.0, 0.0), None),
    "AX": ("mid", (0.4, 0.0, 0.0), None),
    # spread
    "EY": ("spread", (0.5, 0.0, 0.45), (0.3, 0.0, 0.8)),
    "IH": ("spread", (0.3, 0.0, 0.6), None),
    "IY": ("spread", (0.2, 0.0, 1.0), None),
    # rounded
    "OW": ("rounded", (0.55, 0.6, 0.0), (0.35, 0.9, 0.0)),
    "OY": ("rounded", (0.6, 0.6, 0.0), (0.3, 0.0, 0.6)),
    "UH": ("rounded", (0.35, 0.7, 0.0), None),
    "UW": ("rounded", (0.2, 1.0, 0.0), None),
}

#: the acoustic backend's coarse phones (it cannot tell more apart reliably)
PHONES.update({
    "STOP": ("dental", (0.15, 0.0, 0.1), None),          # closure + burst, place unknown
    "STOP_LAB": ("bilabial", (0.0, 0.0, 0.0), None),     # closure + burst, labial formant transitions
    "NASAL": ("dental", (0.15, 0.0, 0.1), None),         # nasal murmur, place unknown
    "NASAL_LAB": ("bilabial", (0.0, 0.0, 0.0), None),    # nasal murmur with labial transitions
    "FRIC": ("dental", (0.1, 0.0, 0.35), None),          # hissing fricative
    "FRIC_WEAK": ("dental", (0.1, 0.0, 0.1), None),     # weak fricative: th or f, which cues cannot
                                                         # tell apart (so no lip-to-teeth claimed)
})

#: aligner noise and filler words: nothing for the lips
FILLERS = ("+NSN+", "+SPN+", "+BREATH+", "+COUGH+", "+LAUGH+", "+NOISE+", "+UM+", "+UH+", "<sil>",
           "<s>", "</s>", "[NOISE]")

VISEME_INDEX = {k: i for i, k in enumerate(VISEMES)}
TARGETS = tuple(LIP_TARGETS)
assert TARGETS == ("jaw", "round", "spread", "closure", "labiodental")
assert all(v in VISEMES for v, _, _ in PHONES.values())


def phone_row(phone: str) -> Tuple[str, Target, Optional[Target]]:
    """The table row of ``phone`` (stress digits and case ignored); unknown phones are silence."""
    p = phone.upper().rstrip("012")
    return PHONES.get(p, PHONES["SIL"])
