"""MediaPipe face-mesh topology (478 points) and measurements on landmarks.

Index conventions are MediaPipe's: "left"/"right" are the *subject's* left and right, so on a
frontal photo the ``right_*`` groups lie on the image's left side.  Points 0..467 are the
face mesh, 468..472 the right iris (468 its centre) and 473..477 the left iris (473 its centre).

The edge lists are read from ``face/assets/face_mesh_topology.json``, extracted as data from
MediaPipe 0.10.21's ``face_mesh_connections.py`` (Apache-2.0; see ``extract_assets.py``).
Triangles are derived from the tessellation edges (every 3-cycle of the edge graph that is a
face of the mesh).

Every group is available as

* ``EDGES[name]``: ``[E, 2]`` int array of (undirected) connections,
* ``INDICES[name]``: sorted unique point indices,
* for closed contours, ``CONTOURS[name]``: the indices in order around the loop.

Names: ``lips``, ``lips_outer``, ``lips_inner``, ``left_eye``, ``right_eye``, ``left_brow``,
``right_brow``, ``left_iris``, ``right_iris``, ``face_oval``, ``nose``, ``tessellation``.
"""
from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from typing import Dict, List, Tuple

import numpy as np

from ..errors import InvalidDataError
from ..types import LANDMARK_COUNT

#: the MediaPipe-derived data files live together (one licence, one extraction script: face/extract_assets.py)
_ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "face", "assets")

# ---------------------------------------------------------------------------- key points
#: Single landmarks that many stages need (subject's left/right).
NOSE_TIP = 1
FOREHEAD = 10
CHIN = 152
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14
UPPER_LIP_OUTER, LOWER_LIP_OUTER = 0, 17
MOUTH_CORNER_RIGHT, MOUTH_CORNER_LEFT = 61, 291          # outer corners
MOUTH_INNER_CORNER_RIGHT, MOUTH_INNER_CORNER_LEFT = 78, 308
RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 33, 133
LEFT_EYE_INNER, LEFT_EYE_OUTER = 362, 263
RIGHT_IRIS_CENTER, LEFT_IRIS_CENTER = 468, 473
CHEEK_RIGHT, CHEEK_LEFT = 234, 454                        # face contour at the cheekbones
#: pairs (upper lid, lower lid) across each eye, inner to outer
RIGHT_EYE_LIDS = ((158, 153), (159, 145), (160, 144))
LEFT_EYE_LIDS = ((385, 380), (386, 374), (387, 373))
#: pairs (upper inner lip, lower inner lip) across the mouth
INNER_LIP_PAIRS = ((82, 87), (13, 14), (312, 317))


def _load_edges() -> Dict[str, np.ndarray]:
    path = os.path.join(_ASSETS, "face_mesh_topology.json")
    try:
        with open(path, "r", encoding="utf-8") as f:
            raw = json.load(f)["edges"]
    except (OSError, ValueError, KeyError) as e:  # a broken install, not a user error
        raise RuntimeError(f"SynchroRaMa's face-mesh topology file is missing or broken ({path}: {e}); "
                           f"reinstall the node pack") from e
    out = {}
    for k, v in raw.items():
        e = np.sort(np.asarray(v, dtype=np.int64).reshape(-1, 2), axis=1)
        out[k] = np.unique(e, axis=0)
    return out


def _loops(edges: np.ndarray) -> List[List[int]]:
    """Split an edge set in which every vertex has degree 2 into closed loops."""
    nb = defaultdict(list)
    for a, b in edges.tolist():
        nb[a].append(b)
        nb[b].append(a)
    seen, loops = set(), []
    for start in sorted(nb):
        if start in seen:
            continue
        loop, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [n for n in nb[cur] if n != prev]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            if cur == start:
                break
            if cur in seen:
                break
            loop.append(cur)
            seen.add(cur)
        loops.append(loop)
    return loops


def _triangles(edges: np.ndarray) -> np.ndarray:
    """Faces of the tessellation: 3-cycles of the edge graph, minus cycles that are not faces.

    In a triangulated surface every edge borders at most two faces; a 3-cycle whose three
    edges all border a third triangle encloses other faces (a "separating" triangle) and is
    dropped.
    """
    nb = defaultdict(set)
    for a, b in edges.tolist():
        nb[a].add(b)
        nb[b].add(a)
    tris = sorted({tuple(sorted((a, b, c))) for a, b in edges.tolist() for c in (nb[a] & nb[b])})
    while True:
        use = Counter()
        for a, b, c in tris:
            use.update([(a, b), (a, c), (b, c)])
        bad = [t for t in tris if all(use[e] > 2 for e in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])))]
        if not bad:
            break
        tris = [t for t in tris if t not in set(bad)]
    return np.asarray(tris, dtype=np.int64)


EDGES: Dict[str, np.ndarray] = _load_edges()

_lip_loops = sorted(_loops(EDGES["lips"]), key=len)
_lip_pts = [set(l) for l in _lip_loops]
# the outer lip contour contains the outer corner 61, the inner one the inner corner 78
_outer = next(i for i, s in enumerate(_lip_pts) if MOUTH_CORNER_RIGHT in s)
_inner = next(i for i, s in enumerate(_lip_pts) if MOUTH_INNER_CORNER_RIGHT in s)
EDGES["lips_outer"] = np.asarray([e for e in EDGES["lips"].tolist() if set(e) <= _lip_pts[_outer]], np.int64)
EDGES["lips_inner"] = np.asarray([e for e in EDGES["lips"].tolist() if set(e) <= _lip_pts[_inner]], np.int64)

INDICES: Dict[str, np.ndarray] = {k: np.unique(v) for k, v in EDGES.items()}

CONTOURS: Dict[str, List[int]] = {}
for _name in ("lips_outer", "lips_inner", "left_eye", "right_eye", "left_iris", "right_iris", "face_oval"):
    _l = _loops(EDGES[_name])
    if len(_l) == 1:
        CONTOURS[_name] = _l[0]

#: ``[F, 3]`` triangles of the 468-point mesh (the irises are not part of the tessellation).
TRIANGLES: np.ndarray = _triangles(EDGES["tessellation"])

LIPS_OUTER, LIPS_INNER = INDICES["lips_outer"], INDICES["lips_inner"]
LEFT_EYE, RIGHT_EYE = INDICES["left_eye"], INDICES["right_eye"]
LEFT_BROW, RIGHT_BROW = INDICES["left_brow"], INDICES["right_brow"]
LEFT_IRIS = np.arange(473, 478)    # centre first, then the four contour points
RIGHT_IRIS = np.arange(468, 473)
INDICES["left_iris"], INDICES["right_iris"] = LEFT_IRIS, RIGHT_IRIS
FACE_OVAL, NOSE = INDICES["face_oval"], INDICES["nose"]


def group(name: str) -> np.ndarray:
    """Point indices of a named group (see the module doc)."""
    try:
        return INDICES[name]
    except KeyError:
        raise KeyError(f"unknown face-mesh group {name!r}; known: {sorted(INDICES)}") from None


# ---------------------------------------------------------------------------- measurements

def _lm(landmarks) -> np.ndarray:
    a = np.asarray(landmarks, dtype=np.float64)
    if a.ndim < 2 or a.shape[-2] != LANDMARK_COUNT or a.shape[-1] not in (2, 3):
        raise InvalidDataError(f"landmarks must be [..., {LANDMARK_COUNT}, 2 or 3], got shape {list(a.shape)}")
    return a[..., :2]


def _dist(a: np.ndarray, i: int, j: int) -> np.ndarray:
    return np.linalg.norm(a[..., i, :] - a[..., j, :], axis=-1)


def mouth_width(landmarks) -> np.ndarray:
    """Distance between the outer mouth corners (61, 291), in the landmarks' units."""
    return _dist(_lm(landmarks), MOUTH_CORNER_RIGHT, MOUTH_CORNER_LEFT)


def mouth_opening(landmarks) -> np.ndarray:
    """Inner-lip gap divided by mouth width: ~0 closed, ~0.3-0.6 wide open.

    The gap is the mean of three vertical inner-lip distances (82-87, 13-14, 312-317).
    Works on one ``[478, 2|3]`` set (returns a 0-d array) or a batch ``[N, 478, 2|3]``.
    """
    a = _lm(landmarks)
    gap = np.mean([_dist(a, u, l) for u, l in INNER_LIP_PAIRS], axis=0)
    return gap / np.maximum(_dist(a, MOUTH_CORNER_RIGHT, MOUTH_CORNER_LEFT), 1e-6)


def eye_openness(landmarks) -> Tuple[np.ndarray, np.ndarray]:
    """``(left, right)`` eye aspect ratio: mean lid gap divided by the eye's corner distance.

    Subject's left/right.  About 0.25-0.35 for an open eye, under ~0.1 when closed.
    """
    a = _lm(landmarks)
    left = np.mean([_dist(a, u, l) for u, l in LEFT_EYE_LIDS], axis=0) / np.maximum(
        _dist(a, LEFT_EYE_INNER, LEFT_EYE_OUTER), 1e-6)
    right = np.mean([_dist(a, u, l) for u, l in RIGHT_EYE_LIDS], axis=0) / np.maximum(
        _dist(a, RIGHT_EYE_INNER, RIGHT_EYE_OUTER), 1e-6)
    return left, right


def face_size(landmarks) -> np.ndarray:
    """A scale for the face: the larger of the face-oval's width and height (pixels)."""
    a = _lm(landmarks)[..., FACE_OVAL, :]
    ext = a.max(axis=-2) - a.min(axis=-2)
    return ext.max(axis=-1)


def interocular(landmarks) -> np.ndarray:
    """Distance between the two iris centres (468, 473)."""
    return _dist(_lm(landmarks), RIGHT_IRIS_CENTER, LEFT_IRIS_CENTER)


def bounding_box(landmarks) -> Tuple[float, float, float, float]:
    """Tight ``(x0, y0, x1, y1)`` box of one landmark set."""
    a = _lm(landmarks)
    if a.ndim != 2:
        raise InvalidDataError("bounding_box takes one landmark set [478, 2|3]")
    x0, y0 = a.min(axis=0)
    x1, y1 = a.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)
