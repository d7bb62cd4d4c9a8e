"""What the scene describer knows about a clip, read from its inputs.

* **speech** (``SR_SPEECH``): the clip's duration and its voiced regions (from the per-frame
  ``vad`` feature) and loudness;
* **transcript** (text): split into sentences (long ones into clauses) and timed over the voiced
  time by the transcript timer the emotion stage uses (:mod:`synchrorama_core.transcript`);
* **emotion** (``SR_EMOTION``, optional): mean probabilities, valence, arousal and intensity
  over each timed unit and over the clip;
* **face** (``SR_FACE``, optional): framing, head direction, gaze, mouth, lighting and
  background of the reference portrait(s), measured on the 478 MediaPipe landmarks and the
  image.

Everything here is plain numpy and takes well under a millisecond for a minute of speech.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidDataError
from ..geometry import topology as T
from ..transcript import split_units, spread_over_voiced
from ..types import EmotionData, FaceData, SpeechData
from ..vocabulary.emotions import EmotionSummary, summarise_emotion

# face-mesh key points used here (image-left = subject's right)
_NOSE_TIP, _CHIN = T.NOSE_TIP, T.CHIN
_CHEEK_R, _CHEEK_L = T.CHEEK_RIGHT, T.CHEEK_LEFT
_EYE_R_OUT, _EYE_R_IN = T.RIGHT_EYE_OUTER, T.RIGHT_EYE_INNER
_EYE_L_IN, _EYE_L_OUT = T.LEFT_EYE_INNER, T.LEFT_EYE_OUTER
_IRIS_R, _IRIS_L = T.RIGHT_IRIS_CENTER, T.LEFT_IRIS_CENTER
_MOUTH_R, _MOUTH_L = T.MOUTH_CORNER_RIGHT, T.MOUTH_CORNER_LEFT
_LIP_UP, _LIP_LO = T.UPPER_LIP_INNER, T.LOWER_LIP_INNER

MIN_PAUSE_S = 0.25      # silences shorter than this do not split phrases
MIN_VOICED_S = 0.06     # voiced blips shorter than this are ignored


# ------------------------------------------------------------------------------ speech

def voiced_regions(speech: SpeechData, min_pause_s: float = MIN_PAUSE_S,
                   min_voiced_s: float = MIN_VOICED_S) -> List[Tuple[float, float]]:
    """``[(start_s, end_s), ...]`` of speech, from the ``vad`` feature (short pauses merged)."""
    vad = np.asarray(speech.features["vad"], np.float32).reshape(-1) > 0.5
    fps = speech.fps
    dur = speech.duration_s
    regions: List[List[float]] = []
    if vad.size:
        d = np.diff(np.concatenate([[0], vad.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        for a, b in zip(starts, ends):
            s0, s1 = a / fps, min(b / fps, dur)
            if regions and s0 - regions[-1][1] < min_pause_s:
                regions[-1][1] = s1
            else:
                regions.append([s0, s1])
    return [(float(a), float(b)) for a, b in regions if b - a >= min_voiced_s]


# ------------------------------------------------------------------------------ transcript

@dataclass
class Unit:
    """A timed piece of the clip: a sentence or clause (``text``), or a phrase of speech with
    no transcript (``text == ""``)."""

    start_s: float          # segment start (units tile [0, duration])
    end_s: float
    speech_start_s: float   # first voiced moment inside it (== start_s when silent)
    speech_end_s: float
    text: str = ""
    pause_before_s: float = 0.0
    emotion: Optional["EmotionSummary"] = None
    loudness: float = 0.0   # mean loudness (0..1) over its voiced frames


def align_units(texts: Sequence[str], vad: np.ndarray, fps: float, regions: Sequence[Tuple[float, float]],
                duration_s: float, min_unit_s: float = 0.4) -> List[Unit]:
    """Time ``texts`` over a clip of ``duration_s`` seconds with voice activity ``vad`` (per frame at
    ``fps``) and voiced ``regions`` (:func:`voiced_regions`).

    The texts are placed by the transcript timer (:func:`synchrorama_core.transcript.spread_over_voiced`,
    the one the emotion stage uses); the boundary between two units is the middle of the silence
    between them.  Units tile ``[0, duration_s]`` without gaps.
    """
    duration_s = float(duration_s)
    if duration_s <= 0:
        return []
    texts = [t for t in texts if t.strip()]
    regions = [(a, b) for a, b in regions if b > a]
    if not regions:
        # nothing voiced: the whole clip is one unit (the text, if any, is kept)
        return [Unit(0.0, duration_s, 0.0, duration_s, " ".join(texts))]
    if not texts:
        # no transcript: one unit per phrase (a phrase = voiced region), pauses split between them
        bounds = [0.0] + [(regions[i][1] + regions[i + 1][0]) / 2 for i in range(len(regions) - 1)] + [duration_s]
        units = [Unit(bounds[i], bounds[i + 1], regions[i][0], regions[i][1]) for i in range(len(regions))]
        return _merge_short(_with_pauses(units, regions), min_unit_s)
    spans = spread_over_voiced(texts, vad, fps)
    inner = [float(min(max((a.end_s + b.start_s) / 2, 0.0), duration_s)) for a, b in zip(spans, spans[1:])]
    bounds = [0.0] + inner + [duration_s]
    units = []
    for i, text in enumerate(texts):
        s0, s1 = bounds[i], bounds[i + 1]
        inside = [(max(a, s0), min(b, s1)) for a, b in regions if b > s0 and a < s1]
        sp0, sp1 = (inside[0][0], inside[-1][1]) if inside else (s0, s1)
        units.append(Unit(s0, s1, sp0, sp1, text))
    return _merge_short(_with_pauses(units, regions), min_unit_s)


def _with_pauses(units: List[Unit], regions) -> List[Unit]:
    prev_end = 0.0
    for u in units:
        before = [b for a, b in regions if b <= u.speech_start_s + 1e-9]
        prev_end = max(before) if before else 0.0
        u.pause_before_s = max(0.0, u.speech_start_s - prev_end) if before else u.speech_start_s
    return units


def _merge_short(units: List[Unit], min_unit_s: float) -> List[Unit]:
    """Fold units shorter than ``min_unit_s`` into a neighbour (zero-length ones always)."""
    out: List[Unit] = []
    for u in units:
        if out and (u.end_s - u.start_s < min_unit_s):
            p = out[-1]
            p.end_s, p.speech_end_s = u.end_s, max(p.speech_end_s, u.speech_end_s)
            p.text = f"{p.text} {u.text}".strip()
        else:
            out.append(u)
    if len(out) > 1 and out[0].end_s - out[0].start_s < min_unit_s:
        a, b = out[0], out[1]
        b.start_s, b.speech_start_s, b.text = a.start_s, a.speech_start_s, f"{a.text} {b.text}".strip()
        b.pause_before_s = a.pause_before_s
        out = out[1:]
    return out


# ------------------------------------------------------------------------------ face

@dataclass
class FaceSummary:
    """What the reference portrait shows (first image; ``count`` references in all)."""

    count: int
    framing: str                 # "close-up portrait", ...
    facing: str                  # "facing the camera", "face turned toward the left of the frame", ...
    gaze: str                    # "eyes on the camera", ...
    expression: str              # "slight smile", "neutral mouth", "open mouth"
    lighting: str                # "bright, evenly lit", ...
    background: str              # "dark blue background", ...
    yaw: float = 0.0             # > 0: face turned toward the image's right (subject's left)
    pitch: float = 0.0           # nose position between eyes and chin, ~0.4 level
    roll_deg: float = 0.0
    smile: float = 0.0
    measures: Dict[str, float] = field(default_factory=dict)

    def attributes(self) -> List[str]:
        if self.gaze == "eyes on the camera":
            look = "looking into the camera" if self.facing == "facing the camera" else \
                f"{self.facing}, eyes on the camera"
        else:
            look = f"{self.facing}, {self.gaze}"
        out = [self.framing, look, self.lighting, self.background]
        if self.count > 1:
            out.append(f"{self.count} reference views")
        # one idea per attribute (no commas: the readable scene text separates attributes by commas)
        return [p.strip() for a in out if a for p in a.split(",") if p.strip()]


def _colour_name(rgb: np.ndarray) -> str:
    r, g, b = (float(x) for x in rgb)
    h, l, s = colorsys.rgb_to_hls(r, g, b)
    tone = "dark" if l < 0.25 else ("light" if l > 0.72 else "")
    if s < 0.18 or (l < 0.12) or (l > 0.93):
        name = "black" if l < 0.12 else ("white" if l > 0.9 else "grey")
        tone = "" if name in ("black", "white") else tone
    else:
        deg = h * 360
        name = ("red" if deg < 15 or deg >= 345 else "orange" if deg < 40 else "yellow" if deg < 65 else
                "green" if deg < 160 else "teal" if deg < 190 else "blue" if deg < 255 else
                "purple" if deg < 290 else "pink")
    return f"{tone} {name}".strip()


STATS_SIDE = 256  # longest side of the image the light and background statistics are taken on
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def summarise_face(face: Optional[FaceData]) -> Optional[FaceSummary]:
    """Framing, head direction, gaze, mouth, light and background of the first reference."""
    if face is None:
        return None
    img = face.images[0]
    lm = np.asarray(face.landmarks[0], np.float64)
    h, w = img.shape[:2]
    x0, y0, x1, y1 = face.boxes[0]
    m: Dict[str, float] = {}
    # framing: face height relative to the image
    fh = (y1 - y0) / max(h, 1)
    m["face_height_frac"] = fh
    framing = ("extreme close-up" if fh > 0.6 else "close-up portrait" if fh > 0.33 else
               "head-and-shoulders portrait" if fh > 0.16 else "medium shot")
    # head direction from the nose tip between the face contour points
    cheek_mid = (lm[_CHEEK_R, :2] + lm[_CHEEK_L, :2]) / 2
    face_w = max(np.linalg.norm(lm[_CHEEK_L, :2] - lm[_CHEEK_R, :2]), 1e-6)
    yaw = float((lm[_NOSE_TIP, 0] - cheek_mid[0]) / (face_w / 2))
    eye_y = (lm[_EYE_R_OUT, 1] + lm[_EYE_L_OUT, 1]) / 2
    pitch = float((lm[_NOSE_TIP, 1] - eye_y) / max(lm[_CHIN, 1] - eye_y, 1e-6))
    dx, dy = lm[_EYE_L_OUT, :2] - lm[_EYE_R_OUT, :2]
    roll = float(math.degrees(math.atan2(dy, dx)))
    m.update(yaw=yaw, pitch=pitch, roll_deg=roll)
    parts = []
    if yaw > 0.45:
        parts.append("face turned toward the right of the frame")
    elif yaw > 0.18:
        parts.append("face turned slightly toward the right of the frame")
    elif yaw < -0.45:
        parts.append("face turned toward the left of the frame")
    elif yaw < -0.18:
        parts.append("face turned slightly toward the left of the frame")
    if pitch < 0.26:
        parts.append("chin raised")
    elif pitch > 0.58:
        parts.append("head lowered")
    if abs(roll) > 8:
        parts.append("head tilted")
    facing = ", ".join(parts) if parts else "facing the camera"
    # gaze: iris centre between the eye corners (0 = outer corner side of image-left, 1 = image-right)
    def _ratio(iris, a, b):
        span = lm[b, 0] - lm[a, 0]
        return float((lm[iris, 0] - lm[a, 0]) / span) if abs(span) > 1e-6 else 0.5
    gx = (_ratio(_IRIS_R, _EYE_R_OUT, _EYE_R_IN) + _ratio(_IRIS_L, _EYE_L_IN, _EYE_L_OUT)) / 2
    m["gaze_x"] = gx
    gaze = ("eyes on the camera" if 0.38 <= gx <= 0.62 else
            "eyes glancing toward the left of the frame" if gx < 0.38 else
            "eyes glancing toward the right of the frame")
    # mouth: corners above the lip midline = smile; inner lips apart = open
    mouth_w = max(np.linalg.norm(lm[_MOUTH_L, :2] - lm[_MOUTH_R, :2]), 1e-6)
    mid_y = (lm[_LIP_UP, 1] + lm[_LIP_LO, 1]) / 2
    smile = float((mid_y - (lm[_MOUTH_R, 1] + lm[_MOUTH_L, 1]) / 2) / mouth_w)
    opening = float((lm[_LIP_LO, 1] - lm[_LIP_UP, 1]) / mouth_w)
    m.update(smile=smile, mouth_opening=opening)
    expression = ("broad smile" if smile > 0.2 else "slight smile" if smile > 0.09 else
                  "downturned mouth" if smile < -0.08 else "neutral mouth")
    if opening > 0.35:
        expression += ", mouth open"
    # light: face region brightness, left/right balance, colour temperature (on a <= ~STATS_SIDE px
    # subsample: these are means and spreads, so big photos cost no more than small ones)
    st = max(1, int(math.ceil(max(h, w) / STATS_SIDE)))
    img = img[::st, ::st]
    h, w = img.shape[:2]
    x0, y0, x1, y1 = x0 / st, y0 / st, x1 / st, y1 / st
    yi0, yi1 = int(max(0, y0)), int(min(h, math.ceil(y1)))
    xi0, xi1 = int(max(0, x0)), int(min(w, math.ceil(x1)))
    face_px = img[yi0:yi1, xi0:xi1]
    if face_px.size == 0:
        face_px = img
    face_lum = face_px @ _LUMA
    fl = float(face_lum.mean())
    half = max(1, face_lum.shape[1] // 2)
    bal = float(face_lum[:, :half].mean() - face_lum[:, half:].mean())
    mean_rgb = face_px.reshape(-1, 3).mean(axis=0)
    warm = float(mean_rgb[0] - mean_rgb[2])
    contrast = float(face_lum.std())
    m.update(face_luminance=fl, light_balance=bal, warmth=warm, face_contrast=contrast)
    light = ["bright" if fl > 0.62 else "dim" if fl < 0.28 else "soft"]
    if abs(bal) > 0.08:
        light.append("side light from the " + ("left" if bal > 0 else "right") + " of the frame")
    elif contrast < 0.12:
        light.append("even lighting")
    else:
        light.append("natural lighting")
    light.append("warm tones" if warm > 0.18 else "cool tones" if warm < -0.02 else "neutral tones")
    lighting = ", ".join([f"{light[0]} {light[1]}"] + light[2:])
    # background: mean colour outside an enlarged face box
    mask = np.ones((h, w), bool)
    bw, bh = (x1 - x0), (y1 - y0)
    mask[int(max(0, y0 - 0.6 * bh)):, int(max(0, x0 - 0.5 * bw)):int(min(w, x1 + 0.5 * bw))] = False
    bg = img[mask].reshape(-1, 3) if mask.any() else img.reshape(-1, 3)
    bg_mean = bg.mean(axis=0)
    bg_std = float((bg @ _LUMA).std())
    m["background_std"] = bg_std
    texture = "plain " if bg_std < 0.08 else ("detailed " if bg_std > 0.22 else "")
    background = f"{texture}{_colour_name(bg_mean)} background"
    return FaceSummary(count=face.count, framing=framing, facing=facing, gaze=gaze, expression=expression,
                       lighting=lighting, background=background, yaw=yaw, pitch=pitch, roll_deg=roll,
                       smile=smile, measures={k: round(float(v), 4) for k, v in m.items()})


# ------------------------------------------------------------------------------ all together

@dataclass
class SceneContext:
    duration_s: float
    fps: float
    units: List[Unit]
    regions: List[Tuple[float, float]]
    transcript: str = ""
    emotion: Optional[EmotionSummary] = None     # over the whole clip
    face: Optional[FaceSummary] = None
    loudness: float = 0.0                        # mean loudness over voiced frames
    warnings: List[str] = field(default_factory=list)


def build_context(speech: SpeechData, transcript: str = "", emotion: Optional[EmotionData] = None,
                  face: Optional[FaceData] = None) -> SceneContext:
    """Read everything the describers use from their inputs (see the module docstring)."""
    if not isinstance(speech, SpeechData):
        raise InvalidDataError(f"the scene describer needs an SR_SPEECH value, got {type(speech).__name__}; "
                               f"connect SynchroRaMa Load Audio or Speech Features")
    if emotion is not None and not isinstance(emotion, EmotionData):
        raise InvalidDataError(f"emotion must be an SR_EMOTION value, got {type(emotion).__name__}")
    if face is not None and not isinstance(face, FaceData):
        raise InvalidDataError(f"face must be an SR_FACE value, got {type(face).__name__}")
    warnings: List[str] = []
    dur = speech.duration_s
    if emotion is not None and abs(emotion.duration_s - dur) > 0.5:
        warnings.append(f"the emotion timeline lasts {emotion.duration_s:.2f} s but the speech {dur:.2f} s; "
                        f"its frames were matched by time")
    regions = voiced_regions(speech)
    fps = speech.fps
    vad = np.asarray(speech.features["vad"], np.float32).reshape(-1) > 0.5
    units = align_units(split_units(transcript), vad, fps, regions, dur)
    loud = np.asarray(speech.features["loudness"], np.float32).reshape(-1)
    for u in units:
        u.emotion = summarise_emotion(emotion, u.start_s, u.end_s)
        i0, i1 = int(u.speech_start_s * fps), max(int(math.ceil(u.speech_end_s * fps)), int(u.speech_start_s * fps) + 1)
        sel = loud[i0:i1][vad[i0:i1]] if i1 <= len(loud) else loud[i0:][vad[i0:]]
        u.loudness = float(sel.mean()) if sel.size else 0.0
    overall = loud[vad].mean() if vad.any() else 0.0
    return SceneContext(duration_s=dur, fps=fps, units=units, regions=regions, transcript=transcript or "",
                        emotion=summarise_emotion(emotion, 0.0, dur), face=summarise_face(face),
                        loudness=float(overall), warnings=warnings)
