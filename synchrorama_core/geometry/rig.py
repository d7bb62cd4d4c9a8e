"""Motion -> landmarks: drive a reference face's 478 landmarks with an ``SR_MOTION``.

:func:`apply_motion` is the one place where motion coefficients become geometry; the warp
renderer, the motion-frame drawings and the training-target extraction (its inverse,
:mod:`.extract`) all use it, so they always agree.

Model (all of it vectorised over frames with numpy):

1. **Face frame** of the reference (:class:`FaceRig`): centre ``c`` (face-oval centroid), an
   orthonormal head frame ``R0`` (x: right cheek -> left cheek, i.e. image right on a frontal
   face; y: forehead -> chin; z = x cross y, away from the camera), face width ``W`` (extent
   of the face oval along x, pixels) and height ``H`` (forehead 10 -> chin 152).
2. **Expressions** are linear displacement fields ``B[k]`` (``[14, 478, 3]`` pixels at
   coefficient 1) built once per reference from its own geometry, so they follow that face's
   proportions and work at any resolution (every displacement is a fraction of ``H``, of the
   mouth width or of the eye's own opening):

   ``jaw_open``: the lower face (lower lip, chin, jaw line below the lip contact line) rotates
   about a jaw hinge behind the cheeks (lower inner lip drops ~0.12 H at 1); the upper lip
   lifts slightly and the mouth narrows a little.  ``mouth_wide`` / ``mouth_pucker``:
   lateral stretch (+28 % width) / contraction with lips pushed forward.  ``mouth_press``:
   lips thin towards their contact line.  ``lip_tuck`` (f, v): the lower lip rolls up and back
   under the upper teeth while the upper lip lifts a little off it.  ``smile`` / ``frown``: mouth corners up 0.2 and out
   0.12 mouth widths / down 0.16, cheeks raised 0.045 H with a smile.  ``brow_raise`` /
   ``brow_furrow``: brows (and the skin above) up ~0.055 H / down and towards the midline, the
   inner ends more than the outer ones (raise + furrow: the slanted brow of sadness).  ``blink_l`` / ``blink_r``: the upper lid
   (and the skin above it) moves down to meet the lower lid; at 1 the eye is closed and the
   iris is flattened onto the closed lid line.  ``eye_wide`` / ``eye_squint``: upper lid up /
   lower lid up.  ``nose_wrinkle``: nose wings and the upper lip up, inner brows down.
3. **Head pose**: ``R = R0 Rz(roll) Rx(pitch) Ry(yaw) R0^T`` about a pivot behind the face
   centre (``0.45 W`` deeper, like a neck/head joint, so turning also shifts the face a little);
   then ``scale`` about the rotated face centre; then ``translation * W`` pixels in image x/y.
   Rotation signs follow ``MotionData``: yaw > 0 turns the face to the subject's left (image
   right), pitch > 0 tips the chin down, roll > 0 tilts clockwise in the image.

Input and output landmarks are ``[..., 478, 3]``: x, y in pixels, z in the same pixel scale
(smaller = nearer the camera), as in ``FaceData``.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Optional, Sequence, Union

import numpy as np

from ..errors import InvalidDataError
from . import topology as topo
from ..types import EXPRESSIONS, LANDMARK_COUNT, MotionData

X = {k: i for i, k in enumerate(EXPRESSIONS)}
N_EXPR = len(EXPRESSIONS)
PIVOT_DEPTH = 0.45   # head pivot behind the face centre, in face widths
JAW_DROP = 0.12      # lower inner lip drop at jaw_open = 1, in face heights

FrameSel = Union[None, int, slice, Sequence[int], np.ndarray]


# ------------------------------------------------------------------------------ helpers

def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    u = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _kernel(d2: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-like weight ``~exp(-d^2 / 2 sigma^2)`` with compact support (exactly 0 beyond 2.5 sigma),
    so every expression leaves the rest of the face (forehead, nose bridge, temples) exactly still."""
    r2 = d2 / (2.5 * sigma) ** 2
    return np.where(r2 < 1.0, (1.0 - r2) ** 3, 0.0)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    if not np.isfinite(n) or n < 1e-9:
        raise InvalidDataError("reference landmarks are degenerate (all points coincide); "
                               "run face analysis on a portrait with a visible face")
    return v / n


def _arc(contour: Sequence[int], a: int, b: int, through: int) -> list:
    """Indices of the closed ``contour`` from ``a`` to ``b`` (inclusive) on the side containing ``through``."""
    c = list(contour)
    n = len(c)
    ia, ib = c.index(a), c.index(b)
    fwd = [c[(ia + k) % n] for k in range((ib - ia) % n + 1)]
    bwd = [c[(ia - k) % n] for k in range((ia - ib) % n + 1)]
    return fwd if through in fwd else bwd


def _sorted_xy(P: np.ndarray, idx: Sequence[int]):
    """x and y of the points ``idx`` ordered by x (for ``np.interp`` along a lip contour)."""
    xs, ys = P[idx, 0], P[idx, 1]
    o = np.argsort(xs)
    return xs[o], ys[o]


def check_landmarks(landmarks, name: str = "reference landmarks") -> np.ndarray:
    a = np.asarray(landmarks, dtype=np.float64)
    if a.shape != (LANDMARK_COUNT, 3):
        raise InvalidDataError(f"{name} must be [{LANDMARK_COUNT}, 3] (MediaPipe face mesh with irises, "
                               f"x/y pixels and z), got shape {list(a.shape)}")
    if not np.isfinite(a).all():
        raise InvalidDataError(f"{name} contain NaN or infinite values")
    return a


def euler_matrices(rotation_deg: np.ndarray) -> np.ndarray:
    """``[n, 3, 3]`` matrices ``Rz(roll) @ Rx(pitch) @ Ry(yaw)`` in the head frame (see module doc)."""
    r = np.deg2rad(np.asarray(rotation_deg, np.float64).reshape(-1, 3))
    cy, sy = np.cos(r[:, 0]), np.sin(r[:, 0])
    cp, sp = np.cos(r[:, 1]), np.sin(r[:, 1])
    cr, sr = np.cos(r[:, 2]), np.sin(r[:, 2])
    m = np.empty((len(r), 3, 3))
    # rows of Rz @ Rx @ Ry, expanded (Ry: x' = x cy - z sy; Rx: y' = y cp - z sp; Rz: x' = x cr - y sr)
    m[:, 0, 0] = cr * cy + sr * sp * sy
    m[:, 0, 1] = -sr * cp
    m[:, 0, 2] = -cr * sy + sr * sp * cy
    m[:, 1, 0] = sr * cy - cr * sp * sy
    m[:, 1, 1] = cr * cp
    m[:, 1, 2] = -sr * sy - cr * sp * cy
    m[:, 2, 0] = cp * sy
    m[:, 2, 1] = sp
    m[:, 2, 2] = cp * cy
    return m


def matrix_to_euler(m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`euler_matrices`: ``[n, 3, 3]`` -> ``[n, 3]`` yaw, pitch, roll in degrees."""
    m = np.asarray(m, np.float64).reshape(-1, 3, 3)
    pitch = np.arcsin(np.clip(m[:, 2, 1], -1.0, 1.0))
    yaw = np.arctan2(m[:, 2, 0], m[:, 2, 2])
    roll = np.arctan2(-m[:, 0, 1], m[:, 1, 1])
    return np.rad2deg(np.stack([yaw, pitch, roll], axis=1))


# ------------------------------------------------------------------------------ the rig

class FaceRig:
    """Everything :func:`apply_motion` precomputes for one reference face.

    Attributes: ``ref`` ``[478, 3]``, ``center`` ``[3]``, ``R0`` ``[3, 3]`` (columns: head x, y, z
    axes in image coordinates), ``width``/``height`` (pixels), ``pivot`` ``[3]``, ``basis``
    ``[14, 478, 3]`` (image-frame displacement of every point at coefficient 1),
    ``stable`` (indices of points no expression moves: forehead, nose bridge, temples).
    """

    def __init__(self, ref_landmarks):
        ref = check_landmarks(ref_landmarks)
        self.ref = ref
        oval = ref[topo.FACE_OVAL]
        ex = _unit((ref[topo.CHEEK_LEFT] - ref[topo.CHEEK_RIGHT]) + (ref[topo.LEFT_EYE_OUTER] - ref[topo.RIGHT_EYE_OUTER]))
        ey = ref[topo.CHIN] - ref[topo.FOREHEAD]
        ey = _unit(ey - (ey @ ex) * ex)
        ez = np.cross(ex, ey)
        self.R0 = np.stack([ex, ey, ez], axis=1)
        self.center = oval.mean(axis=0)
        local = (ref - self.center) @ self.R0
        self.local = local
        ov = local[topo.FACE_OVAL]
        self.width = float(ov[:, 0].max() - ov[:, 0].min())
        self.height = float(abs(local[topo.CHIN, 1] - local[topo.FOREHEAD, 1]))
        if self.width < 4 or self.height < 4:
            raise InvalidDataError(f"the reference face is too small ({self.width:.1f} x {self.height:.1f} px); "
                                   f"use a larger portrait or crop closer to the face")
        self.pivot = self.center + self.R0 @ np.array([0.0, 0.0, PIVOT_DEPTH * self.width])
        basis_local = _expression_basis(local, self.width, self.height)
        self.basis_local = basis_local
        self.basis = basis_local @ self.R0.T                  # [14, 478, 3] in image axes
        self._basis_flat = self.basis.reshape(N_EXPR, -1)
        mag = np.linalg.norm(basis_local, axis=2).max(axis=0)
        self.stable = np.flatnonzero(mag < 0.004 * self.height)
        if len(self.stable) < 12:  # never happens for a real face; keep the fit well-posed anyway
            self.stable = np.argsort(mag)[:40]

    # -- forward model
    def deform(self, expressions: np.ndarray) -> np.ndarray:
        """Reference landmarks with expressions only: ``[n, 14]`` -> ``[n, 478, 3]``."""
        e = np.asarray(expressions, np.float64).reshape(-1, N_EXPR)
        return self.ref[None] + (e @ self._basis_flat).reshape(len(e), LANDMARK_COUNT, 3)

    def pose(self, points: np.ndarray, rotation: np.ndarray, translation: np.ndarray,
             scale: np.ndarray) -> np.ndarray:
        """Apply head pose to ``[n, 478, 3]`` points (rotation ``[n, 3]`` degrees, translation ``[n, 2]``
        face widths, scale ``[n]``)."""
        n = points.shape[0]
        Rm = euler_matrices(rotation)
        R = np.einsum("ij,njk,lk->nil", self.R0, Rm, self.R0)           # R0 Rm R0^T
        rel = points - self.pivot
        out = np.einsum("nij,npj->npi", R, rel) + self.pivot
        c = np.einsum("nij,j->ni", R, self.center - self.pivot) + self.pivot   # rotated face centre
        s = np.asarray(scale, np.float64).reshape(n, 1, 1)
        out = c[:, None] + s * (out - c[:, None])
        t = np.asarray(translation, np.float64).reshape(n, 2) * self.width
        out[..., 0] += t[:, 0:1]
        out[..., 1] += t[:, 1:2]
        return out

    def landmarks(self, rotation, translation, scale, expressions) -> np.ndarray:
        """``[n, 478, 3]`` float32 landmarks for per-frame coefficients."""
        pts = self.deform(expressions)
        return self.pose(pts, rotation, translation, scale).astype(np.float32)


class _Frame:
    """The reference's head-local points and what every expression field measures on them."""

    def __init__(self, P: np.ndarray, W: float, H: float):
        self.P, self.W, self.H = P, W, H
        self.x, self.y = P[:, 0], P[:, 1]
        self.iris = np.concatenate([topo.LEFT_IRIS, topo.RIGHT_IRIS])
        self.eyes = np.concatenate([topo.LEFT_EYE, topo.RIGHT_EYE, self.iris])
        self.brows = np.concatenate([topo.LEFT_BROW, topo.RIGHT_BROW])
        self.re_c = P[topo.RIGHT_EYE].mean(axis=0)     # eye centres
        self.le_c = P[topo.LEFT_EYE].mean(axis=0)
        self.xc = 0.5 * (self.re_c[0] + self.le_c[0])  # face midline between the eyes


def _expression_basis(P: np.ndarray, W: float, H: float) -> np.ndarray:
    """Displacement fields ``[14, 478, 3]`` in head-local coordinates (pixels at coefficient 1)."""
    B = np.zeros((N_EXPR, LANDMARK_COUNT, 3))
    f = _Frame(P, W, H)
    up_region = _mouth_fields(B, f)
    furrow = _brow_fields(B, f)
    _eye_fields(B, f)
    _nose_fields(B, f, up_region, furrow)
    return B


def _mouth_fields(B: np.ndarray, f: _Frame) -> np.ndarray:
    """jaw_open, mouth_wide, mouth_pucker, mouth_press, lip_tuck, smile, frown.  Returns the upper-lip region
    weights (the nose wrinkle lifts it too)."""
    P, W, H, x, y, eyes, iris = f.P, f.W, f.H, f.x, f.y, f.eyes, f.iris
    # ---- mouth geometry
    cR, cL = topo.MOUTH_CORNER_RIGHT, topo.MOUTH_CORNER_LEFT
    icR, icL = topo.MOUTH_INNER_CORNER_RIGHT, topo.MOUTH_INNER_CORNER_LEFT
    outer, inner = topo.CONTOURS["lips_outer"], topo.CONTOURS["lips_inner"]
    up_outer = _arc(outer, cR, cL, topo.UPPER_LIP_OUTER)
    lo_outer = _arc(outer, cR, cL, topo.LOWER_LIP_OUTER)
    up_inner = _arc(inner, icR, icL, topo.UPPER_LIP_INNER)
    lo_inner = _arc(inner, icR, icL, topo.LOWER_LIP_INNER)
    upper_lip = sorted(set(up_outer + up_inner) - {cR, cL, icR, icL})
    lower_lip = sorted(set(lo_outer + lo_inner) - {cR, cL, icR, icL})
    corners = [cR, cL, icR, icL]
    mid = 0.5 * (P[topo.UPPER_LIP_INNER] + P[topo.LOWER_LIP_INNER])
    xm, ym = mid[0], mid[1]
    mw = max(abs(P[cL, 0] - P[cR, 0]), 1e-3)
    # lip contact line y(x): through the inner corners and the inner-lip midpoint
    lx = np.array([P[icR, 0], xm, P[icL, 0]])
    ly = np.array([P[icR, 1], ym, P[icL, 1]])
    order = np.argsort(lx)
    line_y = np.interp(x, lx[order], ly[order])
    below = y - line_y
    q = np.sqrt(((x - xm) / (0.5 * mw)) ** 2 + ((y - ym) / (0.35 * mw)) ** 2)
    g_mouth = 1.0 - _smoothstep(1.0, 1.9, q)
    g_core = 1.0 - _smoothstep(0.6, 1.3, q)
    g_mouth[eyes] = 0.0
    g_core[eyes] = 0.0

    # ---- jaw_open: rotation of the lower face about a hinge behind the cheeks
    w_jaw = _smoothstep(-0.015 * H, 0.03 * H, below)
    w_jaw[upper_lip] = 0.0
    w_jaw[lower_lip] = 1.0
    w_jaw[corners] = 0.45
    w_jaw[eyes] = 0.0
    w_jaw[y < P[topo.NOSE_TIP, 1]] = 0.0
    hinge = np.array([0.0, P[topo.NOSE_TIP, 1], 0.5 * (P[topo.CHEEK_RIGHT, 2] + P[topo.CHEEK_LEFT, 2]) + 0.1 * W])
    r = P - hinge
    rz = np.minimum(r[:, 2], -0.3 * W)                 # robust to flat or noisy depth
    lip_rz = min(r[topo.LOWER_LIP_INNER, 2], -0.3 * W)
    theta = JAW_DROP * H / -lip_rz
    jaw = np.stack([np.zeros_like(x), -rz * theta, 0.6 * np.clip(r[:, 1], 0, None) * theta], axis=1)
    B[X["jaw_open"]] = w_jaw[:, None] * jaw
    up_region = np.zeros_like(x)
    up_region[upper_lip] = 1.0
    near_above = (below < 0) & (below > -0.07 * H) & (np.abs(x - xm) < 0.5 * mw)
    up_region = np.maximum(up_region, near_above * (1.0 + below / (0.07 * H)))
    up_region[eyes] = 0.0
    B[X["jaw_open"], :, 1] -= 0.012 * H * up_region
    B[X["jaw_open"], :, 0] += -0.08 * (x - xm) * g_mouth

    # ---- mouth_wide / mouth_pucker / mouth_press
    B[X["mouth_wide"], :, 0] = 0.28 * (x - xm) * g_mouth
    B[X["mouth_wide"], :, 1] = -0.12 * (y - ym) * g_mouth
    B[X["mouth_wide"], :, 2] = 0.02 * mw * g_mouth
    B[X["mouth_pucker"], :, 0] = -0.22 * (x - xm) * g_mouth
    B[X["mouth_pucker"], :, 1] = 0.05 * (y - ym) * g_mouth
    B[X["mouth_pucker"], :, 2] = -0.12 * mw * g_core
    lips = np.zeros_like(x)
    lips[upper_lip + lower_lip] = 1.0
    lip_body = np.maximum(lips, (q < 1.15) * g_mouth)
    lip_body[eyes] = 0.0
    B[X["mouth_press"], :, 1] = -0.45 * below * lip_body
    B[X["mouth_press"], :, 0] = 0.03 * (x - xm) * g_mouth

    # ---- lip_tuck (f, v): the lower lip rolls up and back under the upper teeth (it gets thinner
    # and its outer edge rises), the upper lip lifts off it so the incisors show in between (the
    # renderer paints them there: they hang from the upper lip).  Most at the middle of the mouth.
    bell = np.clip(1.0 - ((x - xm) / (0.5 * mw)) ** 2, 0.0, 1.0)
    lo_in_y = np.interp(x, *_sorted_xy(P, lo_inner))
    lo_out_y = np.interp(x, *_sorted_xy(P, lo_outer))
    thick = np.maximum(lo_out_y - lo_in_y, 0.0)
    tuck = B[X["lip_tuck"]]
    up_in_i = [i for i in up_inner if i not in corners]
    up_out_i = [i for i in up_outer if i not in corners]
    lo_in_i = [i for i in lo_inner if i not in corners]
    lo_out_i = [i for i in lo_outer if i not in corners]
    tuck[:, 1] -= 0.015 * mw * up_region * bell              # the skin above follows the upper lip a little
    tuck[up_out_i, 1] = -0.035 * mw * bell[up_out_i]
    tuck[up_in_i, 1] = -0.07 * mw * bell[up_in_i]
    tuck[lo_in_i, 1] = -0.01 * mw * bell[lo_in_i]
    tuck[lo_in_i, 2] = 0.04 * mw * bell[lo_in_i]
    tuck[lo_out_i, 1] = -0.45 * thick[lo_out_i] * bell[lo_out_i]
    tuck[lo_out_i, 2] = 0.03 * mw * bell[lo_out_i]
    # the skin under the lower lip is drawn up with it, fading out towards the chin
    under = (y > lo_out_y) & (y < lo_out_y + 0.08 * H)
    under[lower_lip] = False
    under[eyes] = False
    fade = 1.0 - (y - lo_out_y) / (0.08 * H)
    tuck[under, 1] = -0.3 * thick[under] * bell[under] * fade[under]

    # ---- smile / frown: corner pulls
    for c in (cR, cL):
        wk = _kernel((x - P[c, 0]) ** 2 + (y - P[c, 1]) ** 2, 0.32 * mw)
        wk[eyes] = 0.0
        side = np.sign(P[c, 0] - xm)
        B[X["smile"], :, 0] += wk * side * 0.12 * mw
        B[X["smile"], :, 1] += wk * -0.20 * mw
        B[X["smile"], :, 2] += wk * 0.03 * mw
        B[X["frown"], :, 0] += wk * side * 0.02 * mw
        B[X["frown"], :, 1] += wk * 0.16 * mw
    for ec, c in ((f.re_c, cR), (f.le_c, cL)):
        cheek = np.array([ec[0] + 0.1 * (ec[0] - xm), 0.5 * (ec[1] + P[c, 1])])
        wc = _kernel((x - cheek[0]) ** 2 + (y - cheek[1]) ** 2, 0.13 * W)
        wc *= _smoothstep(ec[1], ec[1] + 0.06 * H, y)     # cheeks below the eyes only
        wc[iris] = 0.0
        B[X["smile"], :, 1] += -0.045 * H * wc
    return up_region


def _brow_fields(B: np.ndarray, f: _Frame) -> np.ndarray:
    """brow_raise, brow_furrow.  Returns the furrow weights (the nose wrinkle pulls the inner brows)."""
    P, W, H, x, y, eyes, brows, xc = f.P, f.W, f.H, f.x, f.y, f.eyes, f.brows, f.xc
    brow_y = P[brows, 1].mean()
    d_brow = np.min(np.linalg.norm(P[:, None, :2] - P[None, brows, :2], axis=2), axis=1)
    eye_top = min(P[topo.LEFT_EYE, 1].min(), P[topo.RIGHT_EYE, 1].min())
    wb = _kernel(d_brow ** 2, 0.09 * H)
    # the lower forehead rises a little with the brows; the hairline region stays
    fore = np.clip(1.0 - (brow_y - y) / (0.2 * H), 0.0, 1.0) * (y < brow_y) * (np.abs(x - x[brows].mean()) < 0.4 * W)
    wb = np.maximum(wb, 0.5 * fore)
    wb = np.where(y > brow_y, wb * np.clip((eye_top - y) / max(eye_top - brow_y, 1e-3), 0, 1) * 0.6, wb)
    wb[brows] = 1.0
    wb[eyes] = 0.0
    wb[y > eye_top + 0.02 * H] = 0.0
    # the inner ends of the brows move most (frontalis and corrugator pull there): raised together
    # with a furrow, the brows slant up towards the middle, the brow of sadness and worry
    half = max(float(np.abs(x[brows] - xc).max()), 1e-6)
    inner = np.clip(1.0 - np.abs(x - xc) / half, 0.0, 1.0)
    B[X["brow_raise"], :, 1] = -0.055 * H * wb * (0.7 + 0.5 * inner)
    wbf = _kernel(d_brow ** 2, 0.06 * H)
    wbf[brows] = 1.0
    wbf[eyes] = 0.0
    wbf[y > eye_top + 0.02 * H] = 0.0
    B[X["brow_furrow"], :, 1] = 0.035 * H * wbf * (0.6 + 0.5 * inner)
    B[X["brow_furrow"], :, 0] = -0.12 * (x - xc) * wbf * (np.abs(x - xc) < 0.45 * W)
    return wbf


def _eye_fields(B: np.ndarray, f: _Frame) -> None:
    """blink_l, blink_r, eye_wide, eye_squint."""
    P, x, y, eyes, brows = f.P, f.x, f.y, f.eyes, f.brows
    for name, eye, up_mid, lo_mid, a, b, ir in (
            ("blink_r", "right_eye", 159, 145, topo.RIGHT_EYE_OUTER, topo.RIGHT_EYE_INNER, topo.RIGHT_IRIS),
            ("blink_l", "left_eye", 386, 374, topo.LEFT_EYE_INNER, topo.LEFT_EYE_OUTER, topo.LEFT_IRIS)):
        cont = topo.CONTOURS[eye]
        up = _arc(cont, a, b, up_mid)
        lo = _arc(cont, a, b, lo_mid)
        ux, uy = P[up, 0], P[up, 1]
        lx_, ly_ = P[lo, 0], P[lo, 1]
        ou, ol = np.argsort(ux), np.argsort(lx_)
        upper_y = np.interp(x, ux[ou], uy[ou])
        lower_y = np.interp(x, lx_[ol], ly_[ol])
        gap = np.maximum(lower_y - upper_y, 0.0)
        meet = lower_y - 0.2 * gap
        ew = abs(P[b, 0] - P[a, 0])
        ecx = 0.5 * (P[a, 0] + P[b, 0])
        in_x = np.clip(1.0 - (np.abs(x - ecx) - 0.5 * ew) / (0.2 * ew), 0, 1)
        up_i = [i for i in up if i not in (a, b)]
        lo_i = [i for i in lo if i not in (a, b)]
        k = X[name]
        if len(up) == len(lo):
            # MediaPipe's lid points pair up by position along the arcs (159-145, 386-374, ...):
            # each pair meets at one point, so a closed eye has (almost) zero lid distance
            pu, pl_ = P[up[1:-1]], P[lo[1:-1]]
            m3 = pl_ + 0.2 * (pu - pl_)
            B[k, up[1:-1]] = m3 - pu
            B[k, lo[1:-1]] = m3 - pl_
            mx, my = np.r_[P[a, 0], m3[:, 0], P[b, 0]], np.r_[P[a, 1], m3[:, 1], P[b, 1]]
            mo = np.argsort(mx)
            meet = np.interp(x, mx[mo], my[mo])   # the closed-lid line, for the iris and the skin
        else:
            B[k, up_i, 1] = meet[up_i] - y[up_i]
            B[k, lo_i, 1] = meet[lo_i] - y[lo_i]
        B[k, ir, 1] = meet[ir] - y[ir]
        # the skin above the upper lid follows it part of the way
        above = upper_y - y
        skin = (above > 0) & (above < 0.7 * ew) & (in_x > 0)
        skin[eyes] = False
        skin[brows] = False
        B[k, skin, 1] = 0.45 * (meet[skin] - upper_y[skin]) * (1 - above[skin] / (0.7 * ew)) * in_x[skin]
        # eye_wide: upper lid up by 35 % of the opening, lower lid down 8 %
        B[X["eye_wide"], up_i, 1] += -0.35 * gap[up_i]
        B[X["eye_wide"], lo_i, 1] += 0.08 * gap[lo_i]
        B[X["eye_wide"], skin, 1] += -0.2 * gap[skin] * (1 - above[skin] / (0.7 * ew)) * in_x[skin]
        # eye_squint: lower lid up by 35 %, upper lid down 10 %, the cheek under the eye up
        B[X["eye_squint"], lo_i, 1] += -0.35 * gap[lo_i]
        B[X["eye_squint"], up_i, 1] += 0.10 * gap[up_i]
        under = y - lower_y
        cheek = (under > 0) & (under < 0.8 * ew) & (in_x > 0)
        cheek[eyes] = False
        B[X["eye_squint"], cheek, 1] += -0.25 * gap[cheek] * (1 - under[cheek] / (0.8 * ew)) * in_x[cheek]


def _nose_fields(B: np.ndarray, f: _Frame, up_region: np.ndarray, furrow: np.ndarray) -> None:
    """nose_wrinkle: nose wings and the upper lip up, inner brows down."""
    P, W, H, x, eyes, xc = f.P, f.W, f.H, f.x, f.eyes, f.xc
    nose = topo.NOSE
    side = np.abs(P[nose, 0] - P[topo.NOSE_TIP, 0]) > 0.04 * W
    wings = nose[side & (P[nose, 1] > P[topo.NOSE_TIP, 1] - 0.12 * H)]
    if len(wings):
        d_w = np.min(np.linalg.norm(P[:, None, :2] - P[None, wings, :2], axis=2), axis=1)
        ww = _kernel(d_w ** 2, 0.05 * H)
        ww[eyes] = 0.0
        B[X["nose_wrinkle"], :, 1] += -0.025 * H * ww
    B[X["nose_wrinkle"], :, 1] += -0.012 * H * up_region
    inner_brow = furrow * np.clip(1.0 - np.abs(x - xc) / (0.2 * W), 0, 1)
    B[X["nose_wrinkle"], :, 1] += 0.012 * H * inner_brow


# ------------------------------------------------------------------------------ public API

_RIGS: "OrderedDict[str, FaceRig]" = OrderedDict()


def face_rig(ref_landmarks) -> FaceRig:
    """The (cached) :class:`FaceRig` of a reference landmark set."""
    ref = check_landmarks(ref_landmarks)
    key = hashlib.sha1(np.ascontiguousarray(ref).tobytes()).hexdigest()
    rig = _RIGS.get(key)
    if rig is None:
        rig = FaceRig(ref)
        _RIGS[key] = rig
        while len(_RIGS) > 16:
            _RIGS.popitem(last=False)
    else:
        _RIGS.move_to_end(key)
    return rig


def _frame_index(sel: FrameSel, n: int) -> np.ndarray:
    if sel is None:
        return np.arange(n)
    if isinstance(sel, slice):
        return np.arange(n)[sel]
    idx = np.atleast_1d(np.asarray(sel)).astype(np.int64)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"frame index out of range for a motion of {n} frames: "
                         f"{idx.min()}..{idx.max()}")
    return np.where(idx < 0, idx + n, idx)


def apply_motion(ref_landmarks, motion: MotionData, frames: FrameSel = None, *,
                 head_scale: float = 1.0, expression_scale: float = 1.0,
                 rig: Optional[FaceRig] = None) -> np.ndarray:
    """Landmarks of ``ref_landmarks`` driven by ``motion``: ``[n, 478, 3]`` float32.

    ``ref_landmarks``: ``[478, 3]`` (x, y pixels of the reference image, z same scale), e.g.
    ``face.landmarks[0]``.  ``frames``: None (all frames), an int (returns ``[1, 478, 3]``), a
    slice, or an index array.  ``head_scale`` multiplies rotation, translation and the scale's
    deviation from 1; ``expression_scale`` multiplies the expression coefficients.  Pass a
    prepared ``rig`` (:func:`face_rig`) to skip the per-reference set-up (it is also cached).
    Output is in the reference image's pixel frame; nothing depends on the image size.
    """
    if not isinstance(motion, MotionData):
        raise InvalidDataError(f"expected an SR_MOTION value, got {type(motion).__name__}")
    rig = rig if rig is not None else face_rig(ref_landmarks)
    idx = _frame_index(frames, motion.n_frames)
    ex = np.stack([motion.expressions[k][idx] for k in EXPRESSIONS], axis=1) * float(expression_scale)
    rot = motion.rotation[idx] * float(head_scale)
    tr = motion.translation[idx] * float(head_scale)
    sc = 1.0 + (motion.scale[idx] - 1.0) * float(head_scale)
    return rig.landmarks(rot, tr, sc, ex)


def landmarks_for(ref_landmarks, rotation, translation, scale, expressions) -> np.ndarray:
    """:func:`apply_motion` for raw per-frame arrays (``[n, 3]``, ``[n, 2]``, ``[n]``, ``[n, 14]``)."""
    return face_rig(ref_landmarks).landmarks(rotation, translation, scale, expressions)


__all__ = ["FaceRig", "apply_motion", "euler_matrices", "face_rig", "landmarks_for", "matrix_to_euler"]
