"""Landmarks -> motion coefficients: the inverse of :func:`~.landmarks.apply_motion`.

Used to turn tracked talking-face videos into neural-A2M training targets.  For a track of
``[478, 3]`` landmark sets (``None`` where no face was found):

1. a **neutral reference** is chosen from the track itself: the frames with the most closed
   mouth and open eyes (after aligning every frame rigidly to the first), averaged;
2. each frame's **head pose** is a similarity fit (Umeyama) of the reference's *stable*
   points (those no expression moves: forehead, temples, nose bridge) to the frame, then
   decomposed into :class:`~.landmarks.FaceRig`'s yaw/pitch/roll, translation (face widths)
   and scale; the reference is first re-posed to the track's mean head pose, so rotations are
   centred on how the person usually holds their head;
3. the frame is **frontalised** with that pose, and the **expressions** are the coefficients
   in [0, 1] whose displacement fields (the rig's basis) best explain what is left: a
   box-constrained least-squares fit (accelerated projected gradient, all frames at once).

Synthetic landmarks made by :func:`apply_motion` come back with the motion that made them
(tested); on real faces the coefficients are the rig's best explanation of the geometry.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..errors import InvalidDataError
from ..geometry import topology as topo
from ..types import EXPRESSIONS, LANDMARK_COUNT, MotionData
from ..geometry.rig import FaceRig, matrix_to_euler

N_EXPR = len(EXPRESSIONS)
REFINE = 2   # extra pose/expression alternations


def umeyama(src: np.ndarray, dst: np.ndarray, weights: Optional[np.ndarray] = None
            ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Similarity ``dst ~ s * R @ src + t`` for batches: src ``[k, 3]`` or ``[n, k, 3]``, dst ``[n, k, 3]``.

    Returns ``s [n]``, ``R [n, 3, 3]`` (proper rotations), ``t [n, 3]``.
    """
    dst = np.asarray(dst, np.float64)
    src = np.broadcast_to(np.asarray(src, np.float64), dst.shape)
    w = np.ones(src.shape[1]) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    ms = np.einsum("k,nkd->nd", w, src)
    md = np.einsum("k,nkd->nd", w, dst)
    a = src - ms[:, None]
    b = dst - md[:, None]
    cov = np.einsum("k,nki,nkj->nij", w, b, a)         # [n, 3, 3] = sum w b a^T
    U, S, Vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.ones((len(dst), 3))
    D[:, 2] = d
    R = U @ (D[:, :, None] * Vt)
    var = np.einsum("k,nk->n", w, (a ** 2).sum(2))
    s = (S * D).sum(1) / np.maximum(var, 1e-12)
    t = md - s[:, None] * np.einsum("nij,nj->ni", R, ms)
    return s, R, t


def _stack(track) -> Tuple[np.ndarray, np.ndarray]:
    if isinstance(track, np.ndarray) and track.ndim == 3:
        arr = np.asarray(track, np.float64)
        if arr.shape[1:] != (LANDMARK_COUNT, 3):
            raise InvalidDataError(f"landmark track must be [n, {LANDMARK_COUNT}, 3], got {list(arr.shape)}")
        valid = np.isfinite(arr).all(axis=(1, 2))
        return arr, valid
    n = len(track)
    arr = np.full((n, LANDMARK_COUNT, 3), np.nan)
    valid = np.zeros(n, bool)
    for i, lm in enumerate(track):
        if lm is None:
            continue
        a = np.asarray(lm, np.float64)
        if a.shape != (LANDMARK_COUNT, 3):
            raise InvalidDataError(f"landmarks of frame {i} must be [{LANDMARK_COUNT}, 3], got {list(a.shape)}")
        if np.isfinite(a).all():
            arr[i] = a
            valid[i] = True
    return arr, valid


def _mean_rotation(R: np.ndarray) -> np.ndarray:
    U, _, Vt = np.linalg.svd(R.mean(0))
    M = U @ Vt
    if np.linalg.det(M) < 0:
        U[:, -1] *= -1
        M = U @ Vt
    return M


def choose_reference(arr: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """A neutral reference shape (closed mouth, open eyes) in the track's mean head pose."""
    idx = np.flatnonzero(valid)
    first = arr[idx[0]]
    rig0 = FaceRig(first)
    st = rig0.stable
    s, R, t = umeyama(first[st], arr[idx][:, st])
    # align every valid frame onto the first one
    aligned = np.einsum("nji,nkj->nki", R, arr[idx] - t[:, None]) / s[:, None, None]
    mo = topo.mouth_opening(aligned)
    el, er = topo.eye_openness(aligned)
    eyes = 0.5 * (el + er)
    calm = (mo <= np.percentile(mo, 20) + 1e-9) & (eyes >= np.percentile(eyes, 40) - 1e-9)
    if calm.sum() < 1:
        calm = mo <= np.percentile(mo, 20) + 1e-9
    ref = np.median(aligned[calm], axis=0)
    # re-pose the reference into the mean head pose of the track (about the rig's pivot)
    Rm = _mean_rotation(R)
    rig = FaceRig(ref)
    return rig.pivot + (ref - rig.pivot) @ Rm.T


def fit_expressions(rig: FaceRig, frontal: np.ndarray, z_weight: float = 0.3, iters: int = 400,
                    ridge: float = 1e-5) -> np.ndarray:
    """Coefficients ``[n, len(EXPRESSIONS)]`` in [0, 1] with ``rig.deform(e) ~ frontal`` (box-constrained LSQ)."""
    w = np.array([1.0, 1.0, z_weight])
    Bw = (rig.basis * w).reshape(N_EXPR, -1)                        # [n_expr, 1434]
    D = ((frontal - rig.ref[None]) * w).reshape(len(frontal), -1)   # [n, 1434]
    G = Bw @ Bw.T
    G = G + ridge * np.trace(G) / N_EXPR * np.eye(N_EXPR)
    h = D @ Bw.T                                                     # [n, n_expr]
    L = float(np.linalg.eigvalsh(G).max())
    e = np.clip(np.linalg.solve(G, h.T).T, 0.0, 1.0)
    y, tk = e.copy(), 1.0
    for _ in range(iters):  # FISTA on 0.5 e G e - h e over the box [0, 1]
        e_new = np.clip(y - (y @ G - h) / L, 0.0, 1.0)
        tk1 = 0.5 * (1 + np.sqrt(1 + 4 * tk * tk))
        y = e_new + ((tk - 1) / tk1) * (e_new - e)
        e, tk = e_new, tk1
    return e


def fit_pose(rig: FaceRig, arr: np.ndarray, expressions: Optional[np.ndarray] = None):
    """Per-frame ``(rotation [n, 3] deg, translation [n, 2], scale [n], s, R, t)`` of ``arr`` [n, 478, 3].

    Without ``expressions`` only the rig's stable points are used; with them, every point of
    the reference deformed by those expressions (so the fit is not biased by the expression).
    """
    if expressions is None:
        st = rig.stable
        s, R, t = umeyama(rig.ref[st], arr[:, st])
    else:
        w = np.full(LANDMARK_COUNT, 0.5)
        w[rig.stable] = 1.0
        s, R, t = umeyama(rig.deform(expressions), arr, w)
    Rm = np.einsum("ji,njk,kl->nil", rig.R0, R, rig.R0)           # R0^T R R0
    rot = matrix_to_euler(Rm)
    c_rot = np.einsum("nij,j->ni", R, rig.center - rig.pivot) + rig.pivot
    T = t - s[:, None] * (rig.pivot[None] - np.einsum("nij,j->ni", R, rig.pivot)) - (1 - s)[:, None] * c_rot
    trans = T[:, :2] / rig.width
    return rot, trans, s, R, t


def motion_from_landmarks(track, fps: float, duration_s: Optional[float] = None,
                          reference: Optional[np.ndarray] = None, generator: str = "landmarks"
                          ) -> Tuple[MotionData, np.ndarray]:
    """``(MotionData, valid)`` from a landmark track (``[n, 478, 3]`` with NaN, or a list with None).

    ``valid[i]`` is False where frame ``i`` had no face; those frames are filled by linear
    interpolation from their neighbours (so the motion is usable) and should be masked out
    of training losses.  ``reference``: the neutral face to measure against (default: chosen
    from the track, see the module doc).  ``duration_s`` defaults to ``n / fps``.
    """
    arr, valid = _stack(track)
    n = len(arr)
    if duration_s is None:
        duration_s = n / float(fps)
    if valid.sum() < 2:
        raise InvalidDataError(f"only {int(valid.sum())} of {n} frames have a face; a talking-face video "
                               f"needs the face visible in most frames")
    auto_ref = reference is None
    if auto_ref:
        reference = choose_reference(arr, valid)
    rig = FaceRig(reference)
    vi = np.flatnonzero(valid)
    ex = None
    for _ in range(1 + REFINE):  # alternate pose and expression fits
        rot, trans, s, R, t = fit_pose(rig, arr[vi], ex)
        frontal = np.einsum("nji,nkj->nki", R, arr[vi] - t[:, None]) / s[:, None, None]
        ex = fit_expressions(rig, frontal)
    if auto_ref:  # centre translation and scale on the track's mean (the reference is one of its frames)
        trans = trans - trans.mean(0)
        s = s / s.mean()
    full = {"rot": rot, "trans": trans, "scale": s, "ex": ex}
    out = {}
    for k, v in full.items():
        v2 = v.reshape(len(vi), -1)
        o = np.empty((n, v2.shape[1]))
        for j in range(v2.shape[1]):
            o[:, j] = np.interp(np.arange(n), vi, v2[:, j])
        out[k] = o
    m = MotionData(fps=fps, duration_s=duration_s, rotation=np.clip(out["rot"], -89, 89),
                   translation=out["trans"], scale=np.maximum(out["scale"][:, 0], 1e-3),
                   expressions={k: np.clip(out["ex"][:, i], 0, 1) for i, k in enumerate(EXPRESSIONS)},
                   generator=generator, meta={"valid_frames": int(valid.sum()), "frames": n})
    return m, valid
