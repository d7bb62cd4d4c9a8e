"""The portrait's own expression, and the neutral rest face that the motion starts from.

A portrait is rarely neutral: people smile for photos, their lips are parted, brows raised.
If the motion were applied to the portrait as it is, every frame would carry that expression:
lips that never close in pauses, a grin through sad speech.  :func:`estimate_expression`
measures the portrait's expression from its landmarks (lip gap, mouth-corner lift, brow height,
eye opening), and :func:`rest_landmarks` moves the landmarks to a neutral rest face:

* **lips closed**: the upper lip comes down a share (``UPPER_CLOSE``) of the inner-lip gap and
  the lower lip, with the jaw below it, comes up the rest, point by point along the mouth, so the
  lips keep their thickness and meet along the whole contact line;
* **smile / frown removed**: the rig's own ``smile`` (or ``frown``) field with the negative of
  the coefficient that reproduces the measured corner lift, on the mouth only (below the nose:
  the cheeks, which carry much of the likeness, stay as photographed);
* **brows and eyes** only when they lie clearly outside the usual range (brows are very
  personal): ``brow_raise`` / ``brow_furrow`` and ``eye_wide`` / ``eye_squint`` fields take them
  back to the edge of that range.  Closed eyes are left closed (there is no eyeball to show).

The renderer drives the rest face with the motion; the warp still samples the portrait as it is,
so a motion frame with zero expression shows the portrait with a neutral face, and the
portrait's own teeth appear when the motion opens the mouth (see ``docs/render.md``).
Everything is measured in the head's own frame (:class:`~.rig.FaceRig`), so head roll and scale
do not matter.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np

from ..errors import InvalidDataError
from . import topology as topo
from .rig import X, FaceRig, _arc, _smoothstep, check_landmarks, face_rig

#: share of the inner-lip gap that the upper lip travels when the lips close (the lower lip, with
#: the jaw, travels the rest)
UPPER_CLOSE = 0.4
#: an inner-lip gap below this share of the mouth width counts as closed (the landmark model's noise)
LIP_CLOSED = 0.03
#: mouth-corner lift above the lip contact point, in mouth widths: neutral value and dead zone
NEUTRAL_SMILE, SMILE_TOL = 0.0, 0.012
#: brow height above the upper lids in face heights: usual range (outside it: corrected to its edge)
NEUTRAL_BROW, BROW_TOL = 0.085, 0.022
#: eye openness (lid gap / eye width): usual range for open eyes; below EYE_SHUT the eyes count as closed
NEUTRAL_EYE, EYE_TOL, EYE_SHUT = 0.30, 0.06, 0.14


@dataclass
class PortraitExpression:
    """What :func:`estimate_expression` measured on a portrait, and the rig coefficients that the
    rest face removes (``coefficients``; ``lip_gap`` is removed by closing the lips)."""

    lip_gap: float            #: inner-lip gap at the mouth centre / mouth width (~0: closed)
    smile: float              #: mouth-corner lift above the lip contact point / mouth width (~0: neutral)
    brow: float               #: brow height above the upper lids / face height
    eye: float                #: mean eye openness (lid gap / eye width)
    coefficients: Dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: (round(v, 4) if isinstance(v, float) else {a: round(b, 4) for a, b in v.items()})
                for k, v in d.items()}


def _measures(local: np.ndarray, height: float) -> Tuple[float, float, float, float, float]:
    """(lip gap, smile, brow, eye openness, mouth width) of head-local landmarks ``[478, 3]``."""
    cr, cl = local[topo.MOUTH_CORNER_RIGHT], local[topo.MOUTH_CORNER_LEFT]
    mw = max(abs(cl[0] - cr[0]), 1e-6)
    up, lo = local[topo.UPPER_LIP_INNER], local[topo.LOWER_LIP_INNER]
    gap = max(lo[1] - up[1], 0.0) / mw
    contact = up[1] + UPPER_CLOSE * max(lo[1] - up[1], 0.0)
    smile = (contact - 0.5 * (cr[1] + cl[1])) / mw
    brows = np.concatenate([topo.LEFT_BROW, topo.RIGHT_BROW])
    lids = np.r_[local[159, 1], local[386, 1]].mean()
    brow = (lids - local[brows, 1].mean()) / max(height, 1e-6)
    el, er = topo.eye_openness(local)
    return float(gap), float(smile), float(brow), float(0.5 * (el + er)), float(mw)


def _unit_response(rig: FaceRig, name: str, which: int) -> float:
    """Change of measure ``which`` (index into :func:`_measures`) for coefficient 1 of ``name``."""
    e = np.zeros(len(X))
    e[X[name]] = 1.0
    moved = rig.deform(e)[0]
    a = _measures(rig.local, rig.height)[which]
    b = _measures((moved - rig.center) @ rig.R0, rig.height)[which]
    return b - a


def estimate_expression(landmarks, rig: Optional[FaceRig] = None) -> PortraitExpression:
    """Measure the expression of a portrait's landmarks ``[478, 3]`` (see the module doc)."""
    rig = rig if rig is not None else face_rig(landmarks)
    gap, smile, brow, eye, _ = _measures(rig.local, rig.height)
    co: Dict[str, float] = {}

    def solve(name: str, excess: float, which: int):
        r = _unit_response(rig, name, which)
        if abs(r) > 1e-6 and excess / r > 0:
            co[name] = float(np.clip(excess / r, 0.0, 1.5))

    if smile > NEUTRAL_SMILE + SMILE_TOL:
        solve("smile", smile - NEUTRAL_SMILE - SMILE_TOL, 1)
    elif smile < NEUTRAL_SMILE - SMILE_TOL:
        solve("frown", smile - NEUTRAL_SMILE + SMILE_TOL, 1)
    if brow > NEUTRAL_BROW + BROW_TOL:
        solve("brow_raise", brow - NEUTRAL_BROW - BROW_TOL, 2)
    elif brow < NEUTRAL_BROW - BROW_TOL:
        solve("brow_furrow", brow - NEUTRAL_BROW + BROW_TOL, 2)
    if eye > NEUTRAL_EYE + EYE_TOL:
        solve("eye_wide", eye - NEUTRAL_EYE - EYE_TOL, 3)
    elif EYE_SHUT < eye < NEUTRAL_EYE - EYE_TOL:
        solve("eye_squint", eye - NEUTRAL_EYE + EYE_TOL, 3)
    return PortraitExpression(lip_gap=gap, smile=smile, brow=brow, eye=eye, coefficients=co)


def _lip_closure(rig: FaceRig) -> np.ndarray:
    """Head-local displacement ``[478, 3]`` that closes the inner-lip gap (zero when closed)."""
    P, H = rig.local, rig.height
    x, y = P[:, 0], P[:, 1]
    cR, cL = topo.MOUTH_CORNER_RIGHT, topo.MOUTH_CORNER_LEFT
    icR, icL = topo.MOUTH_INNER_CORNER_RIGHT, topo.MOUTH_INNER_CORNER_LEFT
    outer, inner = topo.CONTOURS["lips_outer"], topo.CONTOURS["lips_inner"]
    up_in = _arc(inner, icR, icL, topo.UPPER_LIP_INNER)
    lo_in = _arc(inner, icR, icL, topo.LOWER_LIP_INNER)
    upper = sorted(set(_arc(outer, cR, cL, topo.UPPER_LIP_OUTER) + up_in) - {cR, cL, icR, icL})
    lower = sorted(set(_arc(outer, cR, cL, topo.LOWER_LIP_OUTER) + lo_in) - {cR, cL, icR, icL})
    # the gap as a function of x along the mouth (MediaPipe's inner-lip arcs pair up point by point)
    n = min(len(up_in), len(lo_in))
    xs = 0.5 * (P[up_in[:n], 0] + P[lo_in[:n], 0])
    gs = np.maximum(P[lo_in[:n], 1] - P[up_in[:n], 1], 0.0)
    o = np.argsort(xs)
    g_x = np.interp(x, xs[o], gs[o], left=0.0, right=0.0)
    g_c = max(P[topo.LOWER_LIP_INNER, 1] - P[topo.UPPER_LIP_INNER, 1], 0.0)
    mw = max(abs(P[cL, 0] - P[cR, 0]), 1e-6)
    if g_c < LIP_CLOSED * mw:
        return np.zeros_like(P)
    eyes = np.concatenate([topo.LEFT_EYE, topo.RIGHT_EYE, topo.LEFT_IRIS, topo.RIGHT_IRIS])
    d = np.zeros_like(P)
    # the upper lip, and the skin just above it, fading out towards the nose
    top_up = P[upper, 1].min()
    above = (y < top_up) & (y > top_up - 0.06 * H) & (np.abs(x - P[topo.UPPER_LIP_INNER, 0]) < 0.6 * mw)
    w_up = np.where(above, 1.0 - (top_up - y) / (0.06 * H), 0.0)
    w_up[upper] = 1.0
    w_up[eyes] = 0.0
    d[:, 1] += UPPER_CLOSE * g_x * w_up
    # the lower lip point by point; the jaw below it as the rig's jaw rotation (chin comes up too)
    jaw = rig.basis_local[X["jaw_open"]]
    unit = jaw / max(jaw[topo.LOWER_LIP_INNER, 1], 1e-6)     # lower inner lip moves 1 px up/down
    lower_y = np.interp(x, np.sort(P[lower, 0]), P[lower, 1][np.argsort(P[lower, 0])])
    depth = _smoothstep(0.0, 0.08 * H, y - lower_y)          # 0 at the lower lip, 1 well below it
    amount = (1.0 - UPPER_CLOSE) * (g_x + (g_c - g_x) * depth)
    region = (unit[:, 1] > 1e-3) & (y > lower_y)
    region[lower] = False
    d[region] -= amount[region, None] * unit[region]
    d[lower, 1] -= (1.0 - UPPER_CLOSE) * g_x[lower]
    return d


def rest_landmarks(landmarks, strength: float = 1.0, rig: Optional[FaceRig] = None
                   ) -> Tuple[np.ndarray, PortraitExpression]:
    """``(rest [478, 3] float64, expression)``: the portrait's landmarks moved to a neutral rest face.

    ``strength`` in [0, 1] scales the correction (0: the portrait as it is)."""
    ref = check_landmarks(landmarks)
    s = float(strength)
    if not np.isfinite(s) or s < 0 or s > 1:
        raise InvalidDataError(f"neutralize strength must lie in [0, 1], got {strength!r}")
    rig = rig if rig is not None else face_rig(ref)
    ex = estimate_expression(ref, rig)
    if s == 0.0:
        return ref.copy(), ex
    local = _lip_closure(rig)
    # the smile is taken out of the mouth only: the cheeks and the skin under the eyes stay as
    # photographed (they carry the person's likeness; a happy motion raises them further)
    y = rig.local[:, 1]
    nose = rig.local[topo.NOSE_TIP, 1]
    mouth_only = _smoothstep(nose, nose + 0.06 * rig.height, y)[:, None]
    for k, v in ex.coefficients.items():
        d = -v * rig.basis_local[X[k]]
        local = local + (d * mouth_only if k in ("smile", "frown") else d)
    return ref + s * (local @ rig.R0.T), ex


__all__ = ["PortraitExpression", "estimate_expression", "rest_landmarks"]
