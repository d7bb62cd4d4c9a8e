"""Speech with its own phoneme timing: espeak-ng's library reports each phoneme it speaks.

``synth(path, text, voice)`` synthesises ``text`` through ``libespeak-ng`` (the library behind the
``espeak-ng`` command, installed with it) and writes the wav; it also returns the phonemes in IPA with
the sample where each starts, taken from the synthesiser's own phoneme events.  That is ground truth
for phone timing, independent of the code under test (espeak-ng's ``--pho`` prints nothing without
an mbrola voice, hence the library).

``ipa_class(phoneme)`` maps espeak's IPA phonemes to the viseme classes the tests score, written
here from phonetics, separately from the module's ARPABET table.  ``frame_classes`` turns timed
phonemes into one class per video frame (the largest overlap in the frame), the same frame rule
the module documents.
"""
from __future__ import annotations

import ctypes
import threading
from typing import List, Tuple

import numpy as np

_LOCK = threading.Lock()
_LIB = None
_RATE = 0

# libespeak-ng's public API (speak_lib.h, 1.51)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS, _INIT_PHONEME_IPA, _INIT_DONT_EXIT = 0x0001, 0x0002, 0x8000
_EVENT_END_OF_LIST, _EVENT_PHONEME = 0, 7
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH = 1, 2, 3
_POS_CHARACTER, _CHARS_UTF8 = 1, 1


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_state = {"audio": [], "events": []}


def _on_synth(wav, n, events):
    if n > 0:
        _state["audio"].append(np.ctypeslib.as_array(wav, (n,)).copy())
    i = 0
    while events[i].type != _EVENT_END_OF_LIST:
        e = events[i]
        if e.type == _EVENT_PHONEME:
            _state["events"].append((int(e.sample), bytes(e.id).split(b"\0")[0].decode("utf-8", "replace")))
        i += 1
    return 0


_callback = _CALLBACK(_on_synth)  # kept alive for the library


def _lib():
    global _LIB, _RATE
    if _LIB is None:
        try:
            lib = ctypes.CDLL("libespeak-ng.so.1")
        except OSError as e:
            import pytest
            pytest.fail(f"libespeak-ng is not installed ({e}): `apt-get install espeak-ng` (.ci/setup does it)")
        _RATE = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
                                      _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT)
        lib.espeak_SetSynthCallback(_callback)
        _LIB = lib
    return _LIB


def synth(path: str, text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50
          ) -> Tuple[List[Tuple[float, float, str]], float]:
    """Write ``text`` spoken by espeak-ng to the wav ``path``; return its phonemes as
    ``[(start_s, end_s, ipa)]`` (pauses have the name ``""``) and the audio duration in seconds."""
    import soundfile as sf
    with _LOCK:
        lib = _lib()
        _state["audio"], _state["events"] = [], []
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {voice!r}")
        lib.espeak_SetParameter(_PARAM_RATE, int(speed), 0)
        lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
        data = text.encode("utf-8")
        lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        audio = np.concatenate(_state["audio"]).astype(np.float32) / 32768.0
        events = list(_state["events"])
    # the samples espeak reports are positions in its output; one phoneme ends where the next starts
    dur = len(audio) / _RATE
    starts = [max(_closure_start(audio, s), events[k - 1][0] + 1 if k else 0) if _is_stop(name) else s
              for k, (s, name) in enumerate(events)]
    phones = []
    for k, (s, (_, name)) in enumerate(zip(starts, events)):
        end = starts[k + 1] if k + 1 < len(events) else len(audio)
        if end > s:
            phones.append((s / _RATE, end / _RATE, name))
    # a little room after the speech, as the espeak-ng command leaves
    sf.write(path, np.concatenate([audio, np.zeros(int(0.3 * _RATE), np.float32)]), _RATE)
    return phones, dur + 0.3


_VOICELESS_STOPS = ("p", "t", "k", "tʃ", "ts", "q", "ʔ")


def _is_stop(name: str) -> bool:
    return name.replace("ʰ", "").replace("ː", "") in _VOICELESS_STOPS


def _closure_start(audio: np.ndarray, at: int) -> int:
    """espeak's event for a voiceless stop marks its release; the closure before it is written as
    silence inside the previous phoneme.  The lips (or tongue) close where that silence starts: walk
    back from the release over the 5 ms windows quieter than -50 dBFS (at most 200 ms)."""
    hop = int(0.005 * _RATE)
    start = at
    while start - hop >= max(0, at - int(0.2 * _RATE)):
        w = audio[start - hop:start].astype(np.float64)
        if np.sqrt(np.mean(w ** 2)) > 10 ** (-50 / 20):
            break
        start -= hop
    return start


# ---- IPA -> viseme class (phonetics, written independently of the module's ARPABET table) ----
_BILABIAL = set("pbmβɸ")
_LABIODENTAL = set("fvɱ")
_DENTAL = set("tdnszlθðɾɬʎɲ") | {"ts", "dz"}
_POSTALVEOLAR = {"ʃ", "ʒ", "tʃ", "dʒ", "ç", "ʝ"}
_VELAR = set("kɡgŋxɣqχʁ") | {"ʔ"}
_ROUNDED = {"u", "ʊ", "o", "oʊ", "w", "ɹ", "r", "y", "ʏ", "ø", "œ", "ɔɪ", "ɔʏ", "ɵ", "əʊ"}
_SPREAD = {"i", "ɪ", "e", "eɪ", "j", "ɨ", "ᵻ"}
_OPEN = {"ɑ", "a", "æ", "aɪ", "aʊ", "ɔ", "ɒ", "ɐ", "ɑɹ", "ɔɹ", "aɪə", "aʊə", "ɑɪ"}
_MID = {"ɛ", "ʌ", "ɚ", "ə", "ɝ", "ɛɹ", "ɪɹ", "ʊɹ", "ɜ", "əl", "ɛə"}


def ipa_class(name: str) -> str:
    """Viseme class of one espeak IPA phoneme (``""`` and pauses are ``rest``; ``h`` is ``h``:
    its lips are those of the next vowel, see :func:`resolve_h`)."""
    p = name.replace("ː", "").replace("ˑ", "").replace("ʰ", "").replace("ʲ", "").replace("ʷ", "")
    p = p.replace("̃", "").replace("̩", "").replace("̯", "").strip("ˈˌ_ ")
    if not p:
        return "rest"
    if p in ("h", "ɦ"):
        return "h"
    for s, c in ((_POSTALVEOLAR, "postalveolar"), (_MID, "mid"), (_OPEN, "open"), (_ROUNDED, "rounded"),
                 (_SPREAD, "spread"), (_BILABIAL, "bilabial"), (_LABIODENTAL, "labiodental"),
                 (_DENTAL, "dental"), (_VELAR, "velar")):
        if p in s:
            return c
    # a sequence espeak names as one event (a diphthong, an affricate, r-coloured vowel): its first sound
    return ipa_class(p[0]) if len(p) > 1 else "rest"


def resolve_h(classes: List[str]) -> List[str]:
    """``h`` takes the class of the vowel after it (its lips are already shaped for it)."""
    out = list(classes)
    for i in range(len(out) - 1, -1, -1):
        if out[i] == "h":
            out[i] = out[i + 1] if i + 1 < len(out) and out[i + 1] not in ("rest", "h") else "rest"
    return out


def timed_classes(phones: List[Tuple[float, float, str]]) -> List[Tuple[float, float, str]]:
    """``[(start_s, end_s, class)]`` from ``synth``'s phonemes."""
    cls = resolve_h([ipa_class(p) for _, _, p in phones])
    return [(s, e, c) for (s, e, _), c in zip(phones, cls)]


def frame_classes(segments: List[Tuple[float, float, str]], n: int, fps: float) -> List[str]:
    """One class per frame ``[i/fps, (i+1)/fps)``: the class with the largest overlap (``rest`` where
    nothing is spoken)."""
    out = []
    for i in range(n):
        a, b = i / fps, (i + 1) / fps
        cover = {}
        for s, e, c in segments:
            o = min(b, e) - max(a, s)
            if o > 0:
                cover[c] = cover.get(c, 0.0) + o
        rest = (b - a) - sum(cover.values())
        if rest > 0:
            cover["rest"] = cover.get("rest", 0.0) + rest
        out.append(max(cover, key=cover.get))
    return out


def class_scores(truth: List[str], predicted: List[str], classes) -> dict:
    """Per class: frame precision, recall and F1 of ``predicted`` against ``truth``, and support."""
    t = np.asarray(truth)
    p = np.asarray(predicted)
    out = {}
    for c in classes:
        tp = int(((t == c) & (p == c)).sum())
        fp = int(((t != c) & (p == c)).sum())
        fn = int(((t == c) & (p != c)).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        out[c] = {"precision": prec, "recall": rec, "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
                  "support": int((t == c).sum())}
    out["accuracy"] = float((t == p).mean()) if len(t) else 0.0
    return out
