"""Phone timing and visemes from speech, with no download: :func:`phone_track`.

Two backends, chosen by ``backend="auto"``:

* ``pocketsphinx`` (English; the PyPI package bundles its model): with a transcript, forced
  alignment of its words; without one, or when the transcript does not fit the audio, free
  phone recognition (:mod:`.sphinx`).
* ``acoustic``: cues any language has: closures and bursts, nasal murmurs, fricative noise,
  formant proxies (:mod:`.acoustic`).  Used when pocketsphinx is not installed, when the speech
  is not English (``language`` says so, or most transcript words are not English), or when the
  recogniser fails.

The result is a :class:`~synchrorama_core.types.PhoneTrack`: timed phones, a viseme class and
lip targets per video frame (inventory in :data:`~synchrorama_core.types.VISEMES` /
:data:`~synchrorama_core.types.LIP_TARGETS`, phone table in :mod:`.inventory`), and
``backend`` / ``note`` saying which backend ran and why.  :func:`speech_phones` is what the A2M
callers (node, pipeline, trainer) use: the track for a phone mode (``off`` gives none), the
transcript defaulting to the one the Emotion Embedder used.
"""
from __future__ import annotations

import logging
import math
from typing import List, Optional, Tuple

import numpy as np

from ...errors import BackendError, Cancelled, InvalidDataError
from ...progress import CancelFn, ProgressFn, Steps
from ...transcript import emotion_transcript
from ...types import PhoneTrack, SpeechData
from . import sphinx
from .acoustic import acoustic_phones
from .track import build_track, tidy_segments
from .words import english_verdict, transcript_words

log = logging.getLogger("synchrorama.audio")

BACKENDS = ("auto", "pocketsphinx", "acoustic")
#: what the A2M offers: a backend, or ``off`` (no phone track: energy-driven lips)
PHONE_MODES = BACKENDS + ("off",)
#: above this share of voice activity left as silence, an alignment is not trusted
MAX_UNALIGNED = 0.3
#: below it, pauses of the alignment that hold this much voice activity (not counting the voice
#: detector's hangover at their ends) are speech the transcript leaves out: recognised freely
MIN_FILL_S = 0.3
_HANG_S = 0.1


def _speech_frames_at_rest(track_segments, speech: SpeechData) -> Tuple[float, List[Tuple[float, float]]]:
    """Share of voice-activity frames that fall in pauses of ``track_segments``, and those pauses
    (start_s, end_s) that hold at least :data:`MIN_FILL_S` of voice activity."""
    vad = np.asarray(speech.features["vad"]) > 0.5
    fps = speech.fps
    if not vad.any():
        return 0.0, []
    covered = np.zeros(len(vad), bool)
    gaps = []
    for a, b, p in track_segments:
        if p != "SIL":
            continue
        i0, i1 = int(math.floor(a * fps)), int(math.ceil(b * fps))
        covered[i0:i1] = True
        h = int(round(_HANG_S * fps))
        if vad[i0 + h:max(i0 + h, i1 - h)].sum() / fps >= MIN_FILL_S:
            gaps.append((a, b))
    return float((vad & covered).sum() / vad.sum()), gaps


def _is_english(language: str, words: List[str]) -> Tuple[bool, str]:
    lang = (language or "").strip().lower()
    if lang:
        ok = lang in ("en", "eng", "english") or lang.startswith(("en-", "en_"))
        return ok, "" if ok else f"language {language!r} is not English"
    return english_verdict(words, sphinx.dictionary())


def _pocketsphinx(speech: SpeechData, words: List[str], steps: Steps) -> PhoneTrack:
    y = speech.waveform
    if words:
        try:
            phones, aligned, info = sphinx.align(y, words, steps)
        except sphinx.AlignmentFailed as e:
            log.info("SynchroRaMa: transcript alignment failed (%s); recognising phones freely", e)
            phones = sphinx.recognise(y, steps)
            return build_track(phones, speech.duration_s, speech.fps, "pocketsphinx-phones",
                               f"pocketsphinx (free phone recognition; the transcript did not align: {e})",
                               meta={"transcript_words": len(words)})
        segs = tidy_segments(phones, speech.duration_s)
        unaligned, gaps = _speech_frames_at_rest(segs, speech)
        meta = {**info, "unaligned_speech": round(unaligned, 3)}
        if unaligned > MAX_UNALIGNED:
            phones = sphinx.recognise(y, steps)
            return build_track(phones, speech.duration_s, speech.fps, "pocketsphinx-phones",
                               f"pocketsphinx (free phone recognition; the transcript covers only "
                               f"{100 * (1 - unaligned):.0f}% of the speech)", meta=meta)
        note = "pocketsphinx (aligned to transcript)"
        if info.get("pieces_recognised_freely_s"):
            note = (f"pocketsphinx (aligned to transcript, except {info['pieces_recognised_freely_s']:.0f} s "
                    f"that would not align: recognised freely)")
        if gaps:
            filled = sum(b - a for a, b in gaps)
            phones = [s for s in phones if all(s[1] <= a or s[0] >= b for a, b in gaps)]
            phones += sphinx.recognise(y, spans=gaps)
            meta["freely_recognised_s"] = round(filled, 3)
            note = (f"pocketsphinx (aligned to transcript; {filled:.1f} s of speech the transcript "
                    f"leaves out recognised freely)")
        return build_track(phones, speech.duration_s, speech.fps, "pocketsphinx-align", note,
                           words=aligned, meta=meta)
    phones = sphinx.recognise(y, steps)
    return build_track(phones, speech.duration_s, speech.fps, "pocketsphinx-phones",
                       "pocketsphinx (free phone recognition)")


def phone_track(speech: SpeechData, transcript: str = "", backend: str = "auto", language: str = "",
                progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None) -> PhoneTrack:
    """Timed phones and per-frame visemes of ``speech`` (``SR_SPEECH``).

    ``transcript``: what is said (optional; English words are aligned when pocketsphinx runs).
    ``backend``: ``auto`` (pocketsphinx for English when installed, else acoustic cues),
    ``pocketsphinx`` (an error if it is not installed) or ``acoustic``.  ``language``: e.g.
    ``en`` or ``de``; empty = English unless most transcript words are not.
    """
    if not isinstance(speech, SpeechData):
        raise InvalidDataError(f"phone_track needs SR_SPEECH (SpeechData), got {type(speech).__name__}")
    if backend not in BACKENDS:
        raise InvalidDataError(f"unknown phone backend {backend!r}; choose one of {list(BACKENDS)}")
    words = transcript_words(transcript)
    steps = Steps(3 + int(speech.duration_s // sphinx.CHUNK_S), progress, cancelled, what="phone timing")
    steps.check()
    reason = ""
    if backend in ("auto", "pocketsphinx"):
        missing = sphinx.import_error()
        english, why = _is_english(language, words) if missing is None else (True, "")
        if missing is not None:
            if backend == "pocketsphinx":
                raise BackendError(f"the pocketsphinx phone backend is not installed ({missing}); install it "
                                   f"into ComfyUI's Python with `pip install pocketsphinx` (its English model "
                                   f"comes with it), or choose backend='acoustic'")
            reason = "pocketsphinx not installed"
        elif not english and backend == "auto":
            reason = why
        else:
            try:
                track = _pocketsphinx(speech, words, steps)
                if why:
                    track.note += f" ({why}; pocketsphinx chosen explicitly)"
                steps.tick(steps.total)
                return track
            except (Cancelled, BackendError):
                raise
            except RuntimeError as e:
                log.warning("SynchroRaMa: pocketsphinx failed (%s); using acoustic cues", e)
                reason = f"pocketsphinx failed: {e}"
    phones, info = acoustic_phones(speech.waveform, cancelled=cancelled)
    steps.check()
    note = f"acoustic cues ({reason})" if reason else "acoustic cues"
    track = build_track(phones, speech.duration_s, speech.fps, "acoustic", note, meta=info)
    steps.tick(steps.total)
    return track


def speech_phones(speech: SpeechData, mode: str = "auto", transcript: str = "", language: str = "",
                  emotion=None, progress: Optional[ProgressFn] = None,
                  cancelled: Optional[CancelFn] = None) -> Optional[PhoneTrack]:
    """The phone track the A2M takes: :func:`phone_track` with backend ``mode``, or ``None`` for
    ``"off"``.  ``transcript`` defaults to the one ``emotion`` (an ``SR_EMOTION``) was made from."""
    if not isinstance(speech, SpeechData):
        raise InvalidDataError(f"expected an SR_SPEECH value, got {type(speech).__name__}; connect SynchroRaMa "
                               f"Load Audio or Speech Features")
    if mode not in PHONE_MODES:
        raise InvalidDataError(f"unknown phone backend {mode!r}; choose one of {list(PHONE_MODES)}")
    if mode == "off":
        return None
    text = (transcript or "").strip() or emotion_transcript(emotion)
    return phone_track(speech, text, backend=mode, language=language or "", progress=progress, cancelled=cancelled)


__all__ = ["BACKENDS", "PHONE_MODES", "phone_track", "speech_phones"]
