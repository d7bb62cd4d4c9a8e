"""The zero-download video sampler: SR_FACE + SR_MOTION -> frames, streamed one at a time.

:class:`WarpRenderer` prepares the reference portrait(s) once; :meth:`WarpRenderer.frames`
yields one ``[H, W, 3]`` frame per motion frame (so a caller can pipe them to an encoder
without keeping them), :meth:`WarpRenderer.render` collects them into one array.

Several references (``FaceData.count > 1``): every reference is aligned onto the first one's
frame (a similarity fitted on the landmarks that move rigidly with the head), so the output
has the first reference's size whatever the others' sizes.  The motion drives the most
neutral reference's landmarks (closed mouth, open eyes), and for every frame the reference
whose own expression is nearest to the frame's target expression (mouth opening and width,
smile, eye openness, all measured from landmarks) is warped to the same target landmarks.
When the choice changes, the old and new references are cross-faded over ``blend_frames``
frames; a small hysteresis keeps the choice from flickering.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterator, List, Optional

import numpy as np

from ..errors import InvalidDataError
from ..geometry import topology as topo
from ..progress import CancelFn, ProgressFn, Steps
from ..types import EXPRESSIONS, FaceData, MotionData
from .raster import sample_map
from .warp import ReferenceWarper, WarpOptions, similarity

#: How many frames of landmarks are computed at once (memory stays bounded for long clips).
CHUNK = 64
#: weights of the expression features used to pick the nearest reference
FEATURE_WEIGHTS = np.array([3.0, 1.5, 1.5, 1.0, 1.0])
FEATURE_NAMES = ("mouth_opening", "mouth_width", "smile", "eye_left", "eye_right")


@dataclass
class RenderOptions(WarpOptions):
    """Warp options plus the multi-reference and motion-strength settings."""

    blend_frames: int = 4          #: cross-fade length when the reference changes (0 = cut)
    reference: int = -1            #: -1: nearest expression per frame; k >= 0: always reference k
    switch_margin: float = 0.03    #: a new reference must be this much nearer to take over
    head_scale: float = 1.0        #: multiplies the head rotation/translation of the motion
    expression_scale: float = 1.0  #: multiplies the expression coefficients of the motion
    neutralize: float = 1.0        #: 0..1: how far the portrait's own expression is taken back to a neutral rest face
    max_yaw: float = 22.0          #: turns are compressed smoothly beyond ~12 degrees to at most this (0 = no limit)

    def __post_init__(self):
        super().__post_init__()
        self.blend_frames = int(self.blend_frames)
        if self.blend_frames < 0 or self.blend_frames > 250:
            raise InvalidDataError(f"blend_frames must lie in [0, 250], got {self.blend_frames}")
        self.reference = int(self.reference)
        for k in ("switch_margin", "head_scale", "expression_scale"):
            v = float(getattr(self, k))
            if not np.isfinite(v) or v < 0 or v > 10:
                raise InvalidDataError(f"render option {k}={v!r} must lie in [0, 10]")
            setattr(self, k, v)
        self.neutralize = float(self.neutralize)
        if not np.isfinite(self.neutralize) or not 0.0 <= self.neutralize <= 1.0:
            raise InvalidDataError(f"render option neutralize={self.neutralize!r} must lie in [0, 1]")
        self.max_yaw = float(self.max_yaw)
        if not np.isfinite(self.max_yaw) or not 0.0 <= self.max_yaw <= 90.0:
            raise InvalidDataError(f"render option max_yaw={self.max_yaw!r} must lie in [0, 90] degrees (0 = no limit)")

    def warp_options(self) -> WarpOptions:
        return WarpOptions(**{f.name: getattr(self, f.name) for f in fields(WarpOptions)})


def expression_features(landmarks) -> np.ndarray:
    """``[..., 5]`` expression measurements of landmark set(s) ``[..., 478, 2|3]``:
    mouth opening (gap / width), mouth width (/ face size), smile (corner lift / width),
    left and right eye openness (see :mod:`synchrorama_core.geometry.topology`)."""
    a = np.asarray(landmarks, np.float64)[..., :2]
    opening = topo.mouth_opening(a)
    width = topo.mouth_width(a)
    mw = width / np.maximum(topo.face_size(a), 1e-6)
    eye_mid = 0.5 * (a[..., topo.RIGHT_EYE_OUTER, :] + a[..., topo.LEFT_EYE_OUTER, :])
    corners = 0.5 * (a[..., topo.MOUTH_CORNER_RIGHT, :] + a[..., topo.MOUTH_CORNER_LEFT, :])
    centre = 0.5 * (a[..., topo.UPPER_LIP_OUTER, :] + a[..., topo.LOWER_LIP_OUTER, :])
    up = eye_mid - centre
    up = up / np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
    smile = ((corners - centre) * up).sum(axis=-1) / np.maximum(width, 1e-6)
    el, er = topo.eye_openness(a)
    return np.stack([opening, mw, smile, el, er], axis=-1)


def limit_turn(angle_deg, limit: float, knee: float = 0.55) -> np.ndarray:
    """Soft limit of a head angle: unchanged up to ``knee * limit``, then compressed smoothly (same
    slope at the knee) so that it never exceeds ``limit`` degrees.  A 2D warp of one photo cannot
    show the far side of the face, so large turns are reduced instead of torn."""
    a = np.asarray(angle_deg, np.float64)
    k = knee * limit
    room = limit - k
    mag = np.abs(a)
    soft = k + room * np.tanh((mag - k) / max(room, 1e-9))
    return np.where(mag > k, np.sign(a) * soft, a)


def _stable_points() -> np.ndarray:
    """Landmarks that move with the skull, for aligning references (forehead, nose, temples)."""
    moving = set()
    for g in ("lips", "left_eye", "right_eye", "left_brow", "right_brow", "left_iris", "right_iris"):
        moving.update(topo.group(g).tolist())
    return np.asarray([i for i in range(468) if i not in moving], np.int64)


def _align(image: np.ndarray, lm: np.ndarray, ref_lm: np.ndarray, size) -> tuple:
    """Resample ``image`` so its face lies on ``ref_lm`` (similarity fit), at ``size`` (H, W)."""
    st = _stable_points()
    a, t = similarity(lm[st, :2].astype(np.float64), ref_lm[st, :2].astype(np.float64))
    ai = np.linalg.inv(a)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    px, py = xx - t[0], yy - t[1]
    mx = ai[0, 0] * px + ai[0, 1] * py
    my = ai[1, 0] * px + ai[1, 1] * py
    out = np.empty((h, w, 3), np.float32)
    sample_map(out, np.ascontiguousarray(image, np.float32), mx, my)
    lm2 = lm.astype(np.float64).copy()
    lm2[:, :2] = lm[:, :2] @ a.T + t
    lm2[:, 2] = lm[:, 2] * np.sqrt(abs(np.linalg.det(a)))
    return out, lm2


def _check_motion(motion) -> None:
    if not isinstance(motion, MotionData):
        raise InvalidDataError(f"expected an SR_MOTION value (A2M Motion output), got {type(motion).__name__}")
    if motion.n_frames == 0:
        raise InvalidDataError(f"SR_MOTION has no frames: {motion.duration_s:.3f} s at {motion.fps:g} fps rounds to "
                               f"0 frames (the audio is shorter than one video frame, {1 / motion.fps:.3f} s); "
                               f"use longer audio")


def _frame_dtype(dtype) -> np.dtype:
    """The frames' dtype: float32 (0..1) or uint8; anything else is an error."""
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.uint8)):
        raise InvalidDataError(f"frames can be float32 or uint8, not {dtype}")
    return dtype


def _render_into(frames: Iterator[np.ndarray], n: int, size, out: Optional[np.ndarray]) -> np.ndarray:
    """The ``n`` frames of ``frames`` written into ``out`` (``[n, H, W, 3]`` float32; made when ``None``;
    another shape is an error raised before the first frame is made)."""
    h, w = size
    if out is None:
        out = np.empty((n, h, w, 3), np.float32)
    elif out.shape != (n, h, w, 3):
        raise InvalidDataError(f"output buffer has shape {list(out.shape)}, expected {[n, h, w, 3]}")
    for i, f in enumerate(frames):
        out[i] = f
    return out


class WarpRenderer:
    """Render an ``SR_MOTION`` on the reference portrait(s) of an ``SR_FACE`` (see the module doc)."""

    def __init__(self, face: FaceData, options: Optional[RenderOptions] = None):
        if not isinstance(face, FaceData):
            raise InvalidDataError(f"expected an SR_FACE value (Face Analysis output), got {type(face).__name__}")
        self.options = options or RenderOptions()
        k = face.count
        if self.options.reference >= k:
            raise InvalidDataError(f"reference {self.options.reference} was asked for but SR_FACE holds "
                                   f"{k} reference image(s) (0..{k - 1}); use -1 to pick automatically")
        self.size = tuple(face.images[0].shape[:2])
        wopt = self.options.warp_options()
        self.images: List[np.ndarray] = []
        self.landmarks: List[np.ndarray] = []
        for i in range(k):
            img, lm = face.images[i], np.asarray(face.landmarks[i], np.float64)
            if i > 0:
                img, lm = _align(img, lm, np.asarray(face.landmarks[0], np.float64), self.size)
            self.images.append(np.ascontiguousarray(img, np.float32))
            self.landmarks.append(lm)
        self.warpers = [ReferenceWarper(self.images[i], self.landmarks[i], wopt,
                                        what=f"reference image {i + 1} of {k}") for i in range(k)]
        self.features = np.stack([expression_features(lm) for lm in self.landmarks])
        # the motion drives the most neutral reference: mouth closed, not smiling, eyes open
        f = self.features
        neutrality = 3 * f[:, 0] + 2 * np.abs(f[:, 2]) - 0.5 * (f[:, 3] + f[:, 4])
        self.base = int(np.argmin(neutrality))
        from ..geometry.rest import rest_landmarks
        from ..geometry.rig import face_rig
        face_rig(self.landmarks[self.base])                  # checks the face is large enough to animate
        # the motion drives a neutral rest face (lips closed, no smile): see geometry/rest.py
        self.rest, self.portrait_expression = rest_landmarks(self.landmarks[self.base], self.options.neutralize)
        self.rig = face_rig(self.rest)
        self.choices: List[int] = []        # reference chosen per rendered frame (for inspection)
        self.weights: List[np.ndarray] = []  # blend weights per rendered frame

    @property
    def count(self) -> int:
        return len(self.warpers)

    # ------------------------------------------------------------------ landmarks

    def target_landmarks(self, motion: MotionData, start: int = 0, stop: Optional[int] = None) -> tuple:
        """``(targets, neutral)``, each ``[n, 478, 3]`` for frames ``start:stop``: the base reference's
        rest face (:mod:`synchrorama_core.geometry.rest`) moved by the motion, and the base reference's
        own landmarks in the same head poses (they give the head transform and where the lids were
        before a blink)."""
        rig = self.rig
        o = self.options
        idx = np.arange(motion.n_frames)[start:stop]
        rot = motion.rotation[idx] * o.head_scale
        if o.max_yaw > 0:
            rot = rot.copy()
            rot[:, 0] = limit_turn(rot[:, 0], o.max_yaw)
        tr = motion.translation[idx] * o.head_scale
        sc = 1.0 + (motion.scale[idx] - 1.0) * o.head_scale
        ex = np.stack([motion.expressions[k][idx] for k in EXPRESSIONS], axis=1) * o.expression_scale
        tg = rig.landmarks(rot, tr, sc, ex)
        own = np.broadcast_to(self.landmarks[self.base], (len(idx),) + self.landmarks[self.base].shape)
        neutral = rig.pose(own, rot, tr, sc).astype(np.float32)
        return tg, neutral

    # ------------------------------------------------------------------ choice of reference

    def _distances(self, target) -> np.ndarray:
        d = (expression_features(target)[None, :] - self.features) * FEATURE_WEIGHTS
        return np.sqrt((d ** 2).sum(axis=1))

    def _next_weights(self, target, current: Optional[int], w: Optional[np.ndarray]):
        k = self.count
        if self.options.reference >= 0:
            c = self.options.reference
        elif k == 1:
            c = 0
        else:
            d = self._distances(target)
            best = int(np.argmin(d))
            c = best if current is None or d[best] < d[current] - self.options.switch_margin else current
        goal = np.zeros(k)
        goal[c] = 1.0
        if w is None or self.options.blend_frames <= 1:
            return c, goal
        step = 1.0 / self.options.blend_frames
        w = w + np.clip(goal - w, -step, step)
        w = np.clip(w, 0, 1)
        return c, w / w.sum()

    # ------------------------------------------------------------------ frames

    def render_landmarks(self, target, neutral=None, weights=None) -> np.ndarray:
        """One frame for one target landmark set (``weights`` over the references; default: base)."""
        if weights is None:
            return self.warpers[self.base].render(target, neutral)
        use = np.flatnonzero(weights > 1e-3)
        if len(use) == 1:
            return self.warpers[use[0]].render(target, neutral)
        out = None
        for i in use:
            f = self.warpers[i].render(target, neutral)
            out = f * np.float32(weights[i]) if out is None else out + f * np.float32(weights[i])
        return out

    def frames(self, motion: MotionData, progress: Optional[ProgressFn] = None,
               cancelled: Optional[CancelFn] = None, dtype=np.float32) -> Iterator[np.ndarray]:
        """Yield ``motion.n_frames`` frames ``[H, W, 3]`` (float32 in 0..1, or uint8 with ``dtype=np.uint8``).

        The input is checked here, before the first frame is asked for (a motion with no frames,
        from audio shorter than one video frame, is an error)."""
        _check_motion(motion)
        return self._frames(motion, progress, cancelled, _frame_dtype(dtype))

    def _frames(self, motion: MotionData, progress, cancelled, dtype) -> Iterator[np.ndarray]:
        n = motion.n_frames
        steps = Steps(n, progress, cancelled, what="warp rendering")
        steps.check()
        self.choices, self.weights = [], []
        current, w = None, None
        for s in range(0, n, CHUNK):
            tg, neu = self.target_landmarks(motion, s, min(s + CHUNK, n))
            for j in range(len(tg)):
                current, w = self._next_weights(tg[j], current, w)
                self.choices.append(current)
                self.weights.append(w.copy())
                f = self.render_landmarks(tg[j], neu[j], w)
                np.clip(f, 0.0, 1.0, out=f)
                steps.tick()          # progress counts frames made; a cancel stops before handing out more
                yield (f * 255.0 + 0.5).astype(np.uint8) if dtype == np.uint8 else f

    def render(self, motion: MotionData, progress: Optional[ProgressFn] = None,
               cancelled: Optional[CancelFn] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
        """All frames as one ``[N, H, W, 3]`` float32 array (written into ``out`` when given)."""
        _check_motion(motion)
        return _render_into(self.frames(motion, progress, cancelled), motion.n_frames, self.size, out)


def render_video(face: FaceData, motion: MotionData, options: Optional[RenderOptions] = None,
                 progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None) -> np.ndarray:
    """Convenience: ``WarpRenderer(face, options).render(motion, ...)`` -> ``[N, H, W, 3]`` float32."""
    return WarpRenderer(face, options).render(motion, progress, cancelled)


def iter_frames(face: FaceData, motion: MotionData, options: Optional[RenderOptions] = None,
                progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None,
                dtype=np.float32) -> Iterator[np.ndarray]:
    """Convenience: ``WarpRenderer(face, options).frames(motion, ...)`` (a generator)."""
    return WarpRenderer(face, options).frames(motion, progress, cancelled, dtype=dtype)
