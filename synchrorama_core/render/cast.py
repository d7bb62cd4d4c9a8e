"""Several animated faces in one picture: ``SR_CAST`` (+ one ``SR_MOTION`` per person) -> frames.

The picture is cut into one rectangle per person (:func:`face_tiles`): a guillotine partition
whose cuts run through the widest gap between faces, so every face (with as much room around it
as its neighbours leave) lies inside its own cell.  Within its cell, each person's warp works on
a square around the face, large enough for the hair and background rings to follow the head
(``REACH``), clipped to the cell; it gets its own :class:`WarpRenderer` (its own rest face, mesh
and mouth interior).  A warp's border is fixed by construction (the mesh's outer ring sits on it
and never moves), so every warped region meets the untouched picture and its neighbours pixel for
pixel along its edges: **no seam, however close the faces are** (the closer they are, the less
room the hair and background have to follow a head).  A person without a motion stays as
photographed.

Work per frame is one warp per animated person over their region: for small faces in a wide
picture much less than a warp of the whole picture.  ``threads > 1`` renders the regions on a
thread pool (the numba kernel releases the GIL; on a busy 2-core machine, where the pipeline
already encodes on a second thread, one thread was faster).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidDataError
from ..geometry import topology as topo
from ..progress import CancelFn, ProgressFn, Steps
from ..types import CastData, FaceData, MotionData
from .renderer import RenderOptions, WarpRenderer, _check_motion, _frame_dtype, _render_into

Tile = Tuple[int, int, int, int]   # x0, y0, x1, y1 (pixels, end exclusive)


def face_tiles(boxes: Sequence[Sequence[float]], size: Tuple[int, int]) -> List[Tile]:
    """One rectangle per face box, together covering the picture ``size`` = ``(H, W)`` without
    overlap.  Cuts (vertical or horizontal) run through the middle of the widest gap between the
    faces on either side, recursively; faces whose boxes overlap in both directions cannot be
    separated and raise :class:`InvalidDataError`."""
    h, w = int(size[0]), int(size[1])
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    out: List[Optional[Tile]] = [None] * len(b)

    def split(ids: List[int], x0: int, y0: int, x1: int, y1: int) -> None:
        if len(ids) == 1:
            out[ids[0]] = (x0, y0, x1, y1)
            return
        best = None
        for axis in (0, 1):
            order = sorted(ids, key=lambda i: (b[i, axis] + b[i, axis + 2]) / 2)
            for j in range(1, len(order)):
                before, after = order[:j], order[j:]
                hi = max(b[i, axis + 2] for i in before)
                lo = min(b[i, axis] for i in after)
                if best is None or lo - hi > best[0]:
                    best = (lo - hi, axis, (hi + lo) / 2, before, after)
        gap, axis, cut, before, after = best
        if gap <= 0:
            raise InvalidDataError(f"faces {sorted(ids)} overlap in the picture (their boxes overlap both across "
                                   f"and down), so they cannot be animated separately; use a picture where the "
                                   f"faces do not overlap")
        c = int(round(cut))
        if axis == 0:
            split(before, x0, y0, c, y1)
            split(after, c, y0, x1, y1)
        else:
            split(before, x0, y0, x1, c)
            split(after, x0, c, x1, y1)

    if len(b):
        split(list(range(len(b))), 0, 0, w, h)
    return [t for t in out]


#: a person's region reaches this far from their face centre, in face-oval radii beyond the
#: background ring (``RenderOptions.background``): hair and background move inside it, the rest
#: of their tile is the photo as it is (so small faces in a wide picture cost little)
REACH = 1.6


def _region(landmarks: np.ndarray, cell: Tile, background: float) -> Tile:
    """The part of ``cell`` the warp works on: a square around the face, big enough for the face's
    hair and background rings, clipped to the cell."""
    oval = landmarks[topo.CONTOURS["face_oval"], :2].astype(np.float64)
    c = oval.mean(axis=0)
    half = (REACH + background) * float(np.linalg.norm(oval - c, axis=1).max())
    x0, y0, x1, y1 = cell
    return (max(x0, int(np.floor(c[0] - half))), max(y0, int(np.floor(c[1] - half))),
            min(x1, int(np.ceil(c[0] + half))), min(y1, int(np.ceil(c[1] + half))))


def _tile_face(cast: CastData, k: int, tile: Tile) -> FaceData:
    x0, y0, x1, y1 = tile
    lm = cast.landmarks[k].copy()
    lm[:, 0] -= x0
    lm[:, 1] -= y0
    bx = cast.boxes[k]
    box = (max(bx[0] - x0, 0.0), max(bx[1] - y0, 0.0), min(bx[2] - x0, x1 - x0), min(bx[3] - y0, y1 - y0))
    return FaceData(images=[np.ascontiguousarray(cast.image[y0:y1, x0:x1])], landmarks=[lm], boxes=[box],
                    sources=[f"{cast.source} person {k}"], detector=cast.detector)


class CastRenderer:
    """Render every person of an ``SR_CAST`` along their motion in one frame (see the module doc).

    ``motions``: one ``SR_MOTION`` (or ``None``) per person; default the cast's own ``motions``.
    All given motions share one timeline.
    """

    def __init__(self, cast: CastData, options: Optional[RenderOptions] = None, threads: int = 0):
        if not isinstance(cast, CastData):
            raise InvalidDataError(f"expected an SR_CAST value (SynchroRaMa Find Faces / Conversation output), got "
                                   f"{type(cast).__name__}")
        self.cast = cast
        self.options = options or RenderOptions()
        if self.options.reference > 0:
            raise InvalidDataError(f"reference {self.options.reference} was asked for but each person of a cast has "
                                   f"one reference (the shared picture); use -1 or 0")
        self.size = cast.size
        #: each person's cell of the partition, and the part of it the warp works on
        self.cells = face_tiles(cast.boxes, self.size)
        self.tiles = [_region(cast.landmarks[k], c, self.options.background) for k, c in enumerate(self.cells)]
        self.renderers = [WarpRenderer(_tile_face(cast, k, t), self.options) for k, t in enumerate(self.tiles)]
        self.threads = int(threads)
        self._u8 = (np.clip(cast.image, 0, 1) * 255.0 + 0.5).astype(np.uint8)

    @property
    def count(self) -> int:
        return len(self.renderers)

    def _motions(self, motions) -> List[Optional[MotionData]]:
        ms = list(self.cast.motions if motions is None else motions)
        if len(ms) != self.count:
            raise InvalidDataError(f"{len(ms)} motions for {self.count} people in the cast; give one per person "
                                   f"(None for a person who stays as photographed)")
        live = [m for m in ms if m is not None]
        if not live:
            raise InvalidDataError("no person of the cast has a motion; assign motions with SynchroRaMa Conversation")
        for i, m in enumerate(ms):
            if m is None:
                continue
            _check_motion(m)
            if abs(m.fps - live[0].fps) > 1e-9 or m.n_frames != live[0].n_frames:
                raise InvalidDataError(f"motion {i} has {m.n_frames} frames at {m.fps:g} fps but another "
                                       f"{live[0].n_frames} at {live[0].fps:g} fps; the people of a cast share "
                                       f"one timeline (SynchroRaMa Conversation pads the shorter ones with rest)")
        return ms

    def n_frames(self, motions=None) -> int:
        return next(m for m in self._motions(motions) if m is not None).n_frames

    def frames(self, motions: Optional[Sequence[Optional[MotionData]]] = None, progress: Optional[ProgressFn] = None,
               cancelled: Optional[CancelFn] = None, dtype=np.float32) -> Iterator[np.ndarray]:
        """Yield one ``[H, W, 3]`` frame per motion frame (float32 in 0..1, or uint8), the picture with
        every animated person moved.  Inputs are checked before the first frame is asked for."""
        ms = self._motions(motions)
        return self._frames(ms, progress, cancelled, _frame_dtype(dtype))

    def _frames(self, ms, progress, cancelled, dtype) -> Iterator[np.ndarray]:
        n = next(m for m in ms if m is not None).n_frames
        steps = Steps(n, progress, cancelled, what="warp rendering")
        steps.check()
        live = [k for k, m in enumerate(ms) if m is not None]
        gens = {k: self.renderers[k].frames(ms[k], dtype=dtype) for k in live}
        base = self._u8 if dtype == np.uint8 else self.cast.image
        threads = self.threads or 1
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="synchrorama-tile") if threads > 1 else None
        try:
            for _ in range(n):
                out = base.copy()
                if pool is None:
                    parts = [(k, next(gens[k])) for k in live]
                else:
                    futs = [(k, pool.submit(next, gens[k])) for k in live]
                    parts = [(k, f.result()) for k, f in futs]
                for k, f in parts:
                    x0, y0, x1, y1 = self.tiles[k]
                    out[y0:y1, x0:x1] = f
                steps.tick()
                yield out
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
            for g in gens.values():
                g.close()

    def render(self, motions=None, progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None,
               out: Optional[np.ndarray] = None) -> np.ndarray:
        """All frames as one ``[N, H, W, 3]`` float32 array (written into ``out`` when given)."""
        ms = self._motions(motions)
        n = next(m for m in ms if m is not None).n_frames
        return _render_into(self.frames(ms, progress, cancelled), n, self.size, out)


__all__ = ["CastRenderer", "face_tiles"]
