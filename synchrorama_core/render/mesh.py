"""The control mesh of one reference portrait: face mesh + mouth and eye fillers + hair/background rings.

Vertices, in this order:

* ``0..467``: the MediaPipe face-mesh landmarks (the irises are not part of the mesh);
* ring 1 (hair / head outline): one point per face-oval point, pushed out from the face centre
  along the ray through it; it follows the head's motion (fully above the head, less below);
* ring 2 (near background): further out on the same rays; follows the head a little;
* the border ring: where the rays meet the image border, plus the image corners; fixed.

Triangles: MediaPipe's tessellation (852 faces, with holes at the mouth and the eyes), strips
that fill the mouth and eye holes (so an opening mouth or eye has triangles to draw into), and
annuli between the oval and the rings.  The whole mesh is consistently oriented by
propagation across shared edges, so a triangle whose target orientation flips is known to be
folded away (back-facing) and is not drawn.
"""
from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from ..errors import InvalidDataError
from ..geometry import topology as topo
from ..types import LANDMARK_COUNT

N_MESH = 468

# triangle kinds
FACE, MOUTH, EYE_R, EYE_L, RING = 0, 1, 2, 3, 4
KIND_NAMES = {FACE: "face", MOUTH: "mouth", EYE_R: "right eye", EYE_L: "left eye", RING: "ring"}


@dataclass
class Chains:
    """Upper and lower contour of an opening (mouth or eye), both from corner ``a`` to corner ``b``
    (``a`` on the image's left in the reference); the corners are shared."""

    upper: np.ndarray
    lower: np.ndarray

    @property
    def a(self) -> int:
        return int(self.upper[0])

    @property
    def b(self) -> int:
        return int(self.upper[-1])


@dataclass
class ControlMesh:
    src: np.ndarray            # [V, 2] vertex positions in the reference (pixels)
    tris: np.ndarray           # [T, 3] vertex indices, positive signed area when front-facing
    kind: np.ndarray           # [T] FACE / MOUTH / EYE_R / EYE_L / RING
    ring1: np.ndarray          # vertex indices of ring 1
    ring2: np.ndarray          # vertex indices of ring 2
    border: np.ndarray         # vertex indices of the fixed border ring
    w_ring1: np.ndarray        # [len(ring1)] share of the head motion ring 1 follows
    w_ring2: np.ndarray        # [len(ring2)]
    mouth: Chains
    eye_r: Chains
    eye_l: Chains
    stable: np.ndarray         # landmark indices that move rigidly with the head (for pose estimates)
    up: np.ndarray             # unit vector from mouth to eyes in the reference
    size: Tuple[int, int]      # (H, W) of the reference

    @property
    def n_vertices(self) -> int:
        return int(self.src.shape[0])


# ----------------------------------------------------------------------------- chains

def _split_loop(loop: List[int], c0: int, c1: int, upper_mark: int) -> Tuple[List[int], List[int]]:
    """Split a closed contour at corners ``c0``/``c1`` into (upper, lower) chains from c0 to c1."""
    i0, i1 = loop.index(c0), loop.index(c1)
    n = len(loop)
    fwd = [loop[(i0 + k) % n] for k in range((i1 - i0) % n + 1)]
    bwd = [loop[(i0 - k) % n] for k in range((i0 - i1) % n + 1)]
    return (fwd, bwd) if upper_mark in fwd else (bwd, fwd)


def _chains(loop: List[int], c0: int, c1: int, upper_mark: int, pts: np.ndarray) -> Chains:
    up, lo = _split_loop(loop, c0, c1, upper_mark)
    if pts[up[0], 0] > pts[up[-1], 0]:  # run left to right in the reference image
        up, lo = up[::-1], lo[::-1]
    return Chains(np.asarray(up, np.int64), np.asarray(lo, np.int64))


def _strip(ch: Chains, pts: np.ndarray) -> List[Tuple[int, int, int]]:
    """Triangles filling the opening between two chains that share their end points."""
    u, l = ch.upper, ch.lower

    def params(c):
        d = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(pts[c], axis=0), axis=1))]
        return d / max(d[-1], 1e-9)
    pu, pl = params(u), params(l)
    tris = []
    i = j = 0
    while i < len(u) - 1 or j < len(l) - 1:
        adv_u = j >= len(l) - 1 or (i < len(u) - 1 and pu[i + 1] <= pl[j + 1])
        if adv_u:
            tris.append((int(u[i]), int(u[i + 1]), int(l[j])))
            i += 1
        else:
            tris.append((int(u[i]), int(l[j + 1]), int(l[j])))
            j += 1
    # drop the degenerate triangles at the shared corners
    return [t for t in tris if len(set(t)) == 3]


def _annulus(inner: np.ndarray, inner_ang: np.ndarray, outer: np.ndarray, outer_ang: np.ndarray):
    """Triangulate the band between two closed loops around a centre, given each vertex's angle.

    Both loops are re-ordered by increasing angle; the band is zipped by angle.
    """
    oi, oo = np.argsort(inner_ang), np.argsort(outer_ang)
    inner, inner_ang = inner[oi], inner_ang[oi]
    outer, outer_ang = outer[oo], outer_ang[oo]
    ni, no = len(inner), len(outer)
    # unwrap: walk both loops once, starting at the inner vertex with the smallest angle
    base = inner_ang[0]
    ia = np.r_[inner_ang, inner_ang[0] + 2 * np.pi]
    oa = (outer_ang - base) % (2 * np.pi) + base
    k0 = int(np.argmin(oa))
    oa = np.r_[np.roll(oa, -k0), np.roll(oa, -k0)[0] + 2 * np.pi]
    oidx = np.r_[np.roll(outer, -k0), np.roll(outer, -k0)[0]]
    iidx = np.r_[inner, inner[0]]
    tris = []
    i = j = 0
    while i < ni or j < no:
        adv_i = j >= no or (i < ni and ia[i + 1] <= oa[j + 1])
        if adv_i:
            tris.append((int(iidx[i]), int(iidx[i + 1]), int(oidx[j])))
            i += 1
        else:
            tris.append((int(iidx[i]), int(oidx[j + 1]), int(oidx[j])))
            j += 1
    # the first outer vertex may lie before the first inner one: close the seam
    return [t for t in tris if len(set(t)) == 3]


# ----------------------------------------------------------------------------- orientation

def _orient(tris: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Consistently orient a triangulated disc by propagation, then flip all to positive area."""
    tris = tris.copy()
    edge_tris: Dict[Tuple[int, int], List[int]] = defaultdict(list)
    for t, (a, b, c) in enumerate(tris.tolist()):
        for e in ((a, b), (b, c), (c, a)):
            edge_tris[(min(e), max(e))].append(t)
    done = np.zeros(len(tris), bool)
    for seed in range(len(tris)):
        if done[seed]:
            continue
        done[seed] = True
        q = deque([seed])
        while q:
            t = q.popleft()
            a, b, c = tris[t]
            for u, v in ((a, b), (b, c), (c, a)):
                for s in edge_tris[(min(u, v), max(u, v))]:
                    if s == t or done[s]:
                        continue
                    sa, sb, sc = tris[s]
                    # consistent neighbours traverse the shared edge in opposite directions
                    if (sa, sb) == (u, v) or (sb, sc) == (u, v) or (sc, sa) == (u, v):
                        tris[s] = (sa, sc, sb)
                    done[s] = True
                    q.append(s)
    p = pts[tris]
    area = ((p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1])
            - (p[:, 2, 0] - p[:, 0, 0]) * (p[:, 1, 1] - p[:, 0, 1]))
    if area.sum() < 0:
        tris = tris[:, [0, 2, 1]]
    return tris


# ----------------------------------------------------------------------------- rays

def _ray_to_border(c: np.ndarray, d: np.ndarray, w: int, h: int) -> float:
    """Distance from ``c`` along unit ``d`` to the rectangle [0, w-1] x [0, h-1] (c inside)."""
    ts = []
    for k, lim in ((0, w - 1.0), (1, h - 1.0)):
        if d[k] > 1e-12:
            ts.append((lim - c[k]) / d[k])
        elif d[k] < -1e-12:
            ts.append((0.0 - c[k]) / d[k])
    return float(min(ts)) if ts else 0.0


def build_mesh(landmarks: np.ndarray, size: Tuple[int, int], hair: float = 0.35, background: float = 1.0,
               what: str = "the reference") -> ControlMesh:
    """Control mesh of a reference with ``landmarks`` [478, 2|3] (pixels) and image ``size`` (H, W).

    ``hair`` and ``background`` are the extents of rings 1 and 2 beyond the face oval, as
    fractions of the centre-to-oval distance (ring 1 reaches further above the head).
    """
    lm = np.asarray(landmarks, np.float64)
    if lm.shape[0] != LANDMARK_COUNT or lm.ndim != 2 or lm.shape[1] < 2 or not np.isfinite(lm).all():
        raise InvalidDataError(f"{what}: landmarks must be a finite [{LANDMARK_COUNT}, 3] array, "
                               f"got shape {list(lm.shape)}")
    h, w = int(size[0]), int(size[1])
    pts = lm[:N_MESH, :2].copy()

    mouth = _chains(topo.CONTOURS["lips_inner"], topo.MOUTH_INNER_CORNER_RIGHT, topo.MOUTH_INNER_CORNER_LEFT,
                    topo.UPPER_LIP_INNER, pts)
    eye_r = _chains(topo.CONTOURS["right_eye"], topo.RIGHT_EYE_OUTER, topo.RIGHT_EYE_INNER,
                    topo.RIGHT_EYE_LIDS[1][0], pts)
    eye_l = _chains(topo.CONTOURS["left_eye"], topo.LEFT_EYE_INNER, topo.LEFT_EYE_OUTER,
                    topo.LEFT_EYE_LIDS[1][0], pts)

    eye_mid = 0.5 * (pts[topo.RIGHT_EYE_OUTER] + pts[topo.LEFT_EYE_OUTER])
    mouth_mid = 0.5 * (pts[topo.MOUTH_CORNER_RIGHT] + pts[topo.MOUTH_CORNER_LEFT])
    up = eye_mid - mouth_mid
    if np.linalg.norm(up) < 1e-6:
        raise InvalidDataError(f"{what}: degenerate landmarks (eyes and mouth coincide)")
    up = up / np.linalg.norm(up)

    # stable points: upper face, not eyes / brows / lips
    moving = set()
    for g in ("lips", "left_eye", "right_eye", "left_brow", "right_brow"):
        moving.update(topo.group(g).tolist())
    down_of = (pts - eye_mid) @ (-up)
    limit = 0.55 * float(np.linalg.norm(mouth_mid - eye_mid))
    stable = np.asarray([i for i in range(N_MESH) if i not in moving and down_of[i] < limit], np.int64)

    # rings on rays from the oval's centre through each oval point
    oval = np.asarray(topo.CONTOURS["face_oval"], np.int64)
    po = pts[oval]
    c = po.mean(axis=0)
    if not (0 <= c[0] <= w - 1 and 0 <= c[1] <= h - 1):
        raise InvalidDataError(f"{what}: the face centre ({c[0]:.0f}, {c[1]:.0f}) lies outside the "
                               f"{w}x{h} image; use a portrait with the face inside the frame")
    d = po - c
    r_o = np.linalg.norm(d, axis=1)
    if r_o.min() < 1e-3:
        raise InvalidDataError(f"{what}: degenerate face oval in the landmarks")
    dirs = d / r_o[:, None]
    s = dirs @ up                                  # +1 above the head, -1 below the chin
    r_b = np.asarray([_ray_to_border(c, dd, w, h) for dd in dirs])
    room = np.maximum(r_b - r_o, 0.0)
    a1 = hair * (1.0 + 0.5 * np.clip(s, 0, 1))
    r1 = r_o + np.minimum(a1 * r_o, 0.45 * room)
    r2 = r_o + np.minimum(background * r_o, 0.85 * room)
    r3 = np.maximum(r_b, r2)
    p1, p2, p3 = c + dirs * r1[:, None], c + dirs * r2[:, None], c + dirs * r3[:, None]
    ang = np.arctan2(d[:, 1], d[:, 0])

    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    ca = np.arctan2(corners[:, 1] - c[1], corners[:, 0] - c[0])
    cr = np.linalg.norm(corners - c, axis=1)
    # keep a corner only where it lies beyond ring 2 in its direction
    order = np.argsort(ang)
    r2_at = np.interp(ca, ang[order], r2[order], period=2 * np.pi)
    keep = cr > r2_at + 1.0

    n = N_MESH
    i1 = np.arange(n, n + len(oval))
    i2 = i1 + len(oval)
    i3 = i2 + len(oval)
    ic = np.arange(i3[-1] + 1, i3[-1] + 1 + int(keep.sum()))
    verts = np.concatenate([pts, p1, p2, p3, corners[keep]], axis=0)

    tris: List[Tuple[int, int, int]] = [tuple(t) for t in topo.TRIANGLES.tolist()]
    kinds: List[int] = [FACE] * len(tris)
    for ch, k in ((mouth, MOUTH), (eye_r, EYE_R), (eye_l, EYE_L)):
        st = _strip(ch, pts)
        tris += st
        kinds += [k] * len(st)
    for inner, outer, outer_ang in ((oval, i1, ang), (i1, i2, ang), (i2, np.r_[i3, ic], np.r_[ang, ca[keep]])):
        an = _annulus(np.asarray(inner), ang, np.asarray(outer), np.asarray(outer_ang))
        tris += an
        kinds += [RING] * len(an)
    tri = np.asarray(tris, np.int64)
    tri = _orient(tri, verts)

    # hair (above and beside the face) moves with the head; neck and collar below the chin much less
    side = np.clip((s + 0.9) / 1.0, 0, 1)
    side = side * side * (3 - 2 * side)
    w1 = 0.2 + 0.8 * side
    w2 = 0.05 + 0.25 * side
    return ControlMesh(src=verts, tris=tri, kind=np.asarray(kinds, np.int8), ring1=i1, ring2=i2,
                       border=np.r_[i3, ic].astype(np.int64), w_ring1=w1, w_ring2=w2, mouth=mouth,
                       eye_r=eye_r, eye_l=eye_l, stable=stable, up=up, size=(h, w))
