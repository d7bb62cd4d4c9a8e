"""``SR_MOTION`` drawn as the pose video Wan2.2-S2V takes as ``control_video``.

Wan2.2-S2V's pose conditioning is a whole-body pose estimator's skeleton drawn on black: the
example that ships with the model (``examples/pose.mp4`` of Wan-Video/Wan2.2) is drawn by Wan's
own ``draw_aapose`` (``wan/modules/animate/preprocess/human_visualization.py``): OpenPose's
18 body points (DWPose keypoints), each limb a filled ellipse of half-width
``max(int(min(H, W) / 200), 1)`` in the OpenPose limb colour at 60 %, each joint a dot of that
radius in full colour, hands as HSV-coloured finger lines; no face points.  The colours are
OpenPose's with red and blue swapped (OpenCV draws the RGB-listed colours in BGR order): the
example's neck-nose limb is dark red, its shoulder line dark blue.  This module draws the same
pixels.  A talking portrait shows the head and shoulders, so the skeleton has nose, eyes, ears,
neck, shoulders and (placed low, usually off-frame) elbows; SR_MOTION carries no hands, so none
are drawn.

Anchoring: the head points come from the reference portrait's face analysis (nose tip, iris
centres, the face contour at the ears pushed back in depth) and move with SR_MOTION's head pose
through the shared face rig (:meth:`~synchrorama_core.geometry.FaceRig.pose`), so yaw turns the
ears and eyes, pitch moves the nose against the eyes, roll tilts the eye line.  Neck and
shoulders are placed from the inter-ocular distance with the proportions of Wan's example
(nose-neck 2.1, shoulder half-width 2.15 eye distances) and follow a third of the head's sideways
translation.  Points are taken back from SR_FACE's working image to the whole loaded picture (Face
Analysis keeps a portrait over 1024 px as a scaled crop, recorded in ``meta["work_region"]``) and
mapped into the output frame exactly as core's Wan nodes fit that picture as ``ref_image``
(``common_upscale(..., "center")``: scale to cover, centre crop), so the skeleton lies on the face
in ``ref_image`` (:func:`reference_to_frame`).

Frames for one window of an Extend chain are aligned to how ComfyUI's node encodes them
(:func:`window_frame_indices`).
"""
from __future__ import annotations

from typing import Callable, Iterator, Optional, Sequence, Tuple

import numpy as np

from ..errors import Cancelled, InvalidDataError
from ..geometry import face_rig, topology as topo
from ..resample import resample_motion
from ..timing import n_frames
from ..types import FaceData, MotionData
from .windows import check_length, video_model

ProgressCb = Optional[Callable[[int, int], None]]

#: OpenPose body points, in the order of Wan's ``draw_aapose`` (subject's right/left).
BODY_POINTS = ("nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
               "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear")
#: Limbs as 1-based point pairs and their colours (OpenPose's), as in ``draw_aapose``.
LIMBS = ((2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11), (2, 12), (12, 13),
         (13, 14), (2, 1), (1, 15), (15, 17), (1, 16), (16, 18))
COLORS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
          (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
          (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))
#: The points this drawing places (the others are absent, as a pose estimator leaves unseen joints).
DRAWN = ("nose", "neck", "r_shoulder", "r_elbow", "l_shoulder", "l_elbow", "r_eye", "l_eye", "r_ear", "l_ear")

# Body proportions in inter-ocular distances (measured on Wan's examples/pose.mp4, frame 0).
NECK_BELOW_NOSE = 2.1
SHOULDER_HALF_WIDTH = 2.15
SHOULDER_DROP = 0.1
ELBOW_BELOW_SHOULDER = 3.2
ELBOW_OUT = 0.35
EAR_DEPTH = 0.3          # ears sit this many face widths behind the face contour
BODY_FOLLOW = 0.33       # share of the head's sideways translation the shoulders follow


def check_face(face: FaceData, reference: int = 0) -> np.ndarray:
    """The reference's landmarks, or a clear error when they are blank or unusable."""
    if not isinstance(face, FaceData):
        raise InvalidDataError(f"face: expected an SR_FACE value, got {type(face).__name__}; connect "
                               f"SynchroRaMa Face Analysis")
    if not 0 <= reference < face.count:
        raise InvalidDataError(f"reference {reference} does not exist: the SR_FACE holds {face.count} portrait(s)")
    lm = np.asarray(face.landmarks[reference], np.float64)
    size = float(topo.face_size(lm)) if np.isfinite(lm).all() else 0.0
    iod = float(topo.interocular(lm)) if size else 0.0
    if size < 8.0 or iod < 2.0:
        raise InvalidDataError(
            f"reference portrait {reference + 1} of the SR_FACE has no usable face landmarks (face size {size:.1f} px, "
            f"eye distance {iod:.1f} px): the pose video is anchored on the face, so connect SynchroRaMa Face "
            f"Analysis on a portrait with a clearly visible, frontal face")
    return lm


def cover_crop(src_w: int, src_h: int, dst_w: int, dst_h: int) -> Tuple[float, float, float, float]:
    """``(x0, y0, sx, sy)``: a source pixel position ``p`` lands at ``((p.x - x0) * sx, (p.y - y0) * sy)``.

    Exactly ComfyUI's ``common_upscale(..., crop="center")`` (what the Wan nodes do to
    ``ref_image`` and ``control_video``): crop the centre to the target aspect, then resize.
    """
    old_aspect, new_aspect = src_w / src_h, dst_w / dst_h
    x0 = y0 = 0
    if old_aspect > new_aspect:
        x0 = round((src_w - src_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y0 = round((src_h - src_h * (old_aspect / new_aspect)) / 2)
    return float(x0), float(y0), dst_w / (src_w - 2 * x0), dst_h / (src_h - 2 * y0)


def reference_to_frame(face: FaceData, reference: int, width: int, height: int) -> Tuple[float, float, float, float]:
    """``(x0, y0, sx, sy)``: landmark position ``p`` of SR_FACE reference ``reference`` lands at
    ``((p.x - x0) * sx, (p.y - y0) * sy)`` in a ``width x height`` frame of the model.

    The model's ``ref_image`` is the picture the portrait was loaded as, not SR_FACE's image:
    Face Analysis keeps a portrait over 1024 px as a scaled head-and-shoulders crop of it
    (:meth:`~synchrorama_core.types.FaceData.picture_region`), so the landmarks are taken back to
    the whole picture first and then fitted as :func:`cover_crop` fits the picture.
    """
    ox, oy, kx, ky, pic_w, pic_h = face.picture_region(reference)
    cx, cy, sx, sy = cover_crop(pic_w, pic_h, width, height)
    # (p / k + o - c) * s  ==  (p - (c - o) * k) * (s / k)
    return (cx - ox) * kx, (cy - oy) * ky, sx / kx, sy / ky


def pose_keypoints(face: FaceData, motion: MotionData, width: int, height: int, frames: Sequence[int],
                   reference: int = 0) -> np.ndarray:
    """Body keypoints ``[len(frames), 18, 3]`` (x, y in output pixels, visible 0/1) for motion frames ``frames``."""
    lm = check_face(face, reference)
    rig = face_rig(lm)
    idx = np.asarray(frames, np.int64)
    k = len(idx)
    out = np.zeros((k, len(BODY_POINTS), 3), np.float64)
    if k == 0:
        return out
    back = rig.R0[:, 2] * EAR_DEPTH * rig.width                      # head's +z: away from the camera
    head = np.stack([lm[topo.NOSE_TIP], lm[topo.RIGHT_IRIS_CENTER], lm[topo.LEFT_IRIS_CENTER],
                     lm[topo.CHEEK_RIGHT] + back, lm[topo.CHEEK_LEFT] + back])
    posed = rig.pose(np.broadcast_to(head, (k,) + head.shape).copy(), motion.rotation[idx],
                     motion.translation[idx], motion.scale[idx])                     # [k, 5, 3]
    iod = float(np.linalg.norm(lm[topo.LEFT_IRIS_CENTER, :2] - lm[topo.RIGHT_IRIS_CENTER, :2]))
    nose0 = lm[topo.NOSE_TIP, :2]
    neck = np.tile(nose0 + [0.0, NECK_BELOW_NOSE * iod], (k, 1))
    neck[:, 0] += BODY_FOLLOW * motion.translation[idx, 0] * rig.width
    # the subject's right is the image's left on a frontal portrait
    r_sh = neck + [-SHOULDER_HALF_WIDTH * iod, SHOULDER_DROP * iod]
    l_sh = neck + [SHOULDER_HALF_WIDTH * iod, SHOULDER_DROP * iod]
    r_el = r_sh + [-ELBOW_OUT * iod, ELBOW_BELOW_SHOULDER * iod]
    l_el = l_sh + [ELBOW_OUT * iod, ELBOW_BELOW_SHOULDER * iod]
    pts = {"nose": posed[:, 0, :2], "r_eye": posed[:, 1, :2], "l_eye": posed[:, 2, :2], "r_ear": posed[:, 3, :2],
           "l_ear": posed[:, 4, :2], "neck": neck, "r_shoulder": r_sh, "l_shoulder": l_sh, "r_elbow": r_el,
           "l_elbow": l_el}
    x0, y0, sx, sy = reference_to_frame(face, reference, int(width), int(height))
    for name, p in pts.items():
        j = BODY_POINTS.index(name)
        out[:, j, 0] = (p[:, 0] - x0) * sx
        out[:, j, 1] = (p[:, 1] - y0) * sy
        out[:, j, 2] = 1.0
    # an ear turned away from the camera is hidden, as a pose estimator would not see it
    yaw = motion.rotation[idx, 0]
    out[:, BODY_POINTS.index("r_ear"), 2] = (yaw > -55).astype(np.float64)
    out[:, BODY_POINTS.index("l_ear"), 2] = (yaw < 55).astype(np.float64)
    return out


_CIRCLE = np.exp(2j * np.pi * np.arange(24) / 24)


def _ellipse(x1, y1, x2, y2, half_width: float):
    """Polygon of the filled ellipse ``draw_aapose`` draws between two points (24 vertices)."""
    c = complex((x1 + x2) / 2, (y1 + y2) / 2)
    d = complex(x2 - x1, y2 - y1)
    length = abs(d) / 2
    rot = d / abs(d) if abs(d) > 0 else 1.0
    z = c + rot * (length * _CIRCLE.real + 1j * half_width * _CIRCLE.imag)
    return list(zip(z.real.tolist(), z.imag.tolist()))


def draw_pose(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """One frame: ``points`` ``[18, 3]`` drawn like Wan's ``draw_aapose`` on black, uint8 ``[H, W, 3]``.

    Only the skeleton's bounding box goes through PIL (converting a whole frame would cost more
    than drawing it).
    """
    from PIL import Image, ImageDraw
    out = np.zeros((int(height), int(width), 3), np.uint8)
    vis = points[points[:, 2] >= 0.5]
    sw = max(int(min(width, height) / 200), 1)
    if not len(vis):
        return out
    x0 = max(int(np.floor(vis[:, 0].min())) - sw - 2, 0)
    y0 = max(int(np.floor(vis[:, 1].min())) - sw - 2, 0)
    x1 = min(int(np.ceil(vis[:, 0].max())) + sw + 3, int(width))
    y1 = min(int(np.ceil(vis[:, 1].max())) + sw + 3, int(height))
    if x1 <= x0 or y1 <= y0:
        return out
    img = Image.new("RGB", (x1 - x0, y1 - y0))
    d = ImageDraw.Draw(img)
    p_all = points[:, :2] - [x0, y0]
    for (a, b), c in zip(LIMBS, COLORS):
        if points[a - 1, 2] < 0.5 or points[b - 1, 2] < 0.5:
            continue
        (px, py), (qx, qy) = p_all[a - 1], p_all[b - 1]
        d.polygon(_ellipse(px, py, qx, qy, sw), fill=tuple(int(v * 0.6) for v in c[::-1]))
    for p, v, c in zip(p_all, points[:, 2], COLORS):
        if v >= 0.5:
            d.ellipse((p[0] - sw, p[1] - sw, p[0] + sw, p[1] + sw), fill=c[::-1])
    out[y0:y1, x0:x1] = np.asarray(img)
    return out


def window_frame_indices(window: int, length: int, n_clip: int, frames_per_window: int,
                         align_to_latents: bool = True) -> np.ndarray:
    """Clip frame indices of one window's control video (``-1`` = past the clip's end: a black frame).

    ``length`` frames are returned.  With ``align_to_latents`` (Wan2.2-S2V): ComfyUI's node
    VAE-encodes ``control_video[:length]`` as it is, and the causal VAE gives the first frame a
    latent of its own and every later latent four frames, while the generated window's latent
    ``k`` becomes output frames ``4k..4k+3``.  So the control video is window frame 0 followed by
    window frames 4, 5, 6, ...: control latent ``k >= 1`` then holds output frames ``4k..4k+3``.
    Control latent 0 holds window frame 0 alone, encoded as a still image.  Wan's own inference
    differs there: it encodes ``[frame 0] + window`` and drops the first latent, so its latent 0
    holds window frames 0..3.  No choice of frames can reproduce that through ComfyUI's node, so
    window frames 1..3 have no pose of their own and follow frame 0's.
    """
    start = int(window) * int(frames_per_window)
    rel = np.arange(int(length))
    if align_to_latents:
        rel = np.where(rel == 0, 0, rel + 3)
    idx = start + rel
    return np.where(idx < n_clip, idx, -1)


def pose_frames(face: FaceData, motion: MotionData, width: int, height: int, fps: float,
                indices: Optional[Sequence[int]] = None, reference: int = 0, progress: ProgressCb = None,
                cancelled: Optional[Callable[[], bool]] = None) -> Iterator[np.ndarray]:
    """Pose frames (uint8 ``[H, W, 3]``) of ``motion`` re-timed to ``fps``, one per entry of ``indices``
    (clip frame numbers at ``fps``; ``-1`` gives a black frame; None = every frame of the clip).

    The motion is re-timed exactly (:func:`~synchrorama_core.resample.resample_motion`:
    ``round(duration_s * fps)`` frames).
    """
    width, height = int(width), int(height)
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise InvalidDataError(f"width and height must be 16..8192 pixels, got {width}x{height}")
    check_face(face, reference)
    m = resample_motion(motion, fps, motion.duration_s)
    idx = np.arange(m.n_frames) if indices is None else np.asarray(indices, np.int64)
    if idx.size and idx.max() >= m.n_frames:
        raise InvalidDataError(f"frame {int(idx.max())} is past the motion's {m.n_frames} frames at {fps:g} fps")
    valid = idx[idx >= 0]
    kps = pose_keypoints(face, m, width, height, valid, reference)
    black = np.zeros((height, width, 3), np.uint8)
    j = 0
    for i, f in enumerate(idx.tolist()):
        if cancelled is not None and cancelled():
            raise Cancelled()
        if f < 0:
            yield black
        else:
            yield draw_pose(kps[j], width, height)
            j += 1
        if progress is not None:
            progress(i + 1, len(idx))


def pose_video(face: FaceData, motion: MotionData, model: str = "wan2.2_s2v", width: int = 640, height: int = 640,
               window: int = -1, length: int = 77, reference: int = 0, out: Optional[np.ndarray] = None,
               progress: ProgressCb = None, cancelled: Optional[Callable[[], bool]] = None) -> np.ndarray:
    """The pose video for ``model``: the whole clip at the model's fps (``window`` -1:
    ``round(duration_s * fps)`` frames), or the ``length`` frames of window ``window`` of its
    chain (latent-aligned for Wan2.2-S2V, black past the clip's end).

    Returns uint8 ``[n, H, W, 3]``, or fills ``out`` (float32 ``[n, H, W, 3]`` in 0..1, e.g. a
    ComfyUI IMAGE's numpy view) and returns it.  :func:`pose_video_frames` gives ``n``.
    """
    spec = video_model(model)
    idx = pose_video_indices(motion, model, window, length)
    if out is None:
        out = np.zeros((len(idx), int(height), int(width), 3), np.uint8)
    elif out.shape != (len(idx), int(height), int(width), 3):
        raise InvalidDataError(f"out has shape {list(out.shape)}, expected {[len(idx), int(height), int(width), 3]}")
    for i, fr in enumerate(pose_frames(face, motion, width, height, spec.fps, idx, reference, progress, cancelled)):
        out[i] = fr if out.dtype == np.uint8 else fr * np.float32(1 / 255)
    return out


def pose_video_indices(motion: MotionData, model: str = "wan2.2_s2v", window: int = -1, length: int = 77) -> np.ndarray:
    """Clip frame indices (at the model's fps; -1 = black) that :func:`pose_video` draws."""
    if not isinstance(motion, MotionData):
        raise InvalidDataError(f"motion: expected an SR_MOTION value, got {type(motion).__name__}; connect "
                               f"SynchroRaMa A2M Motion or Load Motion")
    spec = video_model(model)
    n = clip_frames(motion, spec.fps)
    if int(window) < 0:
        return np.arange(n)
    check_length(length)
    return window_frame_indices(int(window), length, n, spec.window_frames(length), align_to_latents=spec.extends)


def clip_frames(motion: MotionData, fps: float) -> int:
    """Frames of the whole clip at ``fps``: ``round(duration_s * fps)``."""
    return n_frames(motion.duration_s, fps)


__all__ = ["BODY_POINTS", "COLORS", "DRAWN", "LIMBS", "check_face", "clip_frames", "cover_crop", "draw_pose",
           "pose_frames", "pose_keypoints", "pose_video", "pose_video_indices", "reference_to_frame",
           "window_frame_indices"]
