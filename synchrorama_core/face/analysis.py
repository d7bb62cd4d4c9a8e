"""Face detection, 478-point face-mesh landmarks and per-frame tracking (TFLite, CPU).

The pipeline follows MediaPipe's face mesh: a BlazeFace short-range detector finds faces in a
letterboxed 128x128 copy of the image; a square region 1.5x the face box, rotated so the eyes
are level, is resampled to the landmark model's input (192x192) which gives 468 points with
depth; two eye regions (2.3x the eye width) go through the iris model, which adds the 5+5 iris
points (468..477).  In tracking mode the region of the next frame comes from the previous
frame's landmarks, and the detector runs only when the face is lost.

Coordinates: x, y in pixels of the image (continuous: pixel ``i`` covers ``[i, i+1)``), z in
the same pixel scale, smaller = nearer the camera (MediaPipe's convention).

Large references: a portrait whose longest side is over ``max_side`` (default
:data:`~synchrorama_core.image.MAX_WORK_SIDE`, 1024 px) is analysed as it is (as uint8, with no
float copy), then cropped to a head-and-shoulders region around the chosen face (the photo's
own aspect ratio, about three face heights) and scaled so its longest side is at most
``max_side``.  ``SR_FACE`` holds that working image with the landmarks mapped onto it, so the
later stages (and the warp renderer's video size) do not grow with the photo's pixel count; a
warning says so, and ``meta["work_region"]`` records the crop in the original's pixels.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import FaceNotFoundError, InvalidDataError
from ..progress import CancelFn, ProgressFn, Steps
from ..geometry import topology as T
from ..image import MAX_WORK_SIDE, MIN_IMAGE_SIDE, ImageError, to_rgb_float, to_rgb_u8
from ..types import LANDMARK_COUNT, FaceData
from .models import FaceModels, load_face_models

log = logging.getLogger("synchrorama.face")

DETECTION_THRESHOLD = 0.5
PRESENCE_THRESHOLD = 0.5
NMS_IOU = 0.3
ROI_SCALE = 1.5
EYE_ROI_SCALE = 2.3
#: A large reference's working region: this many face heights (face box: brows to chin) tall ...
WORK_FACE_HEIGHTS = 3.0
#: ... but at least this many pixels on its longest side (when the photo has them)
MIN_WORK_SIDE = 512


#: A reference image that cannot be analysed at all (wrong shape, too small, NaN); the name face
#: analysis has always raised, kept for callers that catch it.
FaceImageError = ImageError


@dataclass
class Detection:
    """One detected face: box ``(x0, y0, x1, y1)`` in pixels, score, 6 key points [6, 2] in pixels
    (subject's right eye, left eye, nose tip, mouth centre, right ear, left ear)."""

    box: Tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


@dataclass
class FaceResult:
    """Landmarks of one face in one image, with what produced them."""

    landmarks: np.ndarray          # [478, 3] float32
    box: Tuple[float, float, float, float]
    presence: float
    detection: Optional[Detection]
    roi: Tuple[float, float, float, float]   # centre x, centre y, side, rotation (radians)


# ---------------------------------------------------------------------------- images

def _describe(index: int, total: int, source: str = "") -> str:
    s = f"reference image {index + 1} of {total}" if total > 1 else "the reference image"
    return s + (f" ({source})" if source else "")


class _Image:
    """An image prepared once for the several crops taken from it: uint8 RGB as a PIL image,
    with a box-filtered pyramid so large downscales do not alias.  ``rgb`` (float) is made
    only when asked for."""

    def __init__(self, rgb: Optional[np.ndarray] = None, u8: Optional[np.ndarray] = None):
        self._rgb = rgb
        self._u8 = u8
        a = rgb if rgb is not None else u8
        self.h, self.w = a.shape[:2]
        self._levels = {}

    @property
    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            self._rgb = self._u8.astype(np.float32) / 255.0
        return self._rgb

    def u8(self) -> np.ndarray:
        if self._u8 is None:
            self._u8 = (self._rgb * 255.0 + 0.5).astype(np.uint8)
        return self._u8

    def level(self, f: int):
        """PIL image of this image reduced ``f`` times (box filter)."""
        if f not in self._levels:
            from PIL import Image
            base = self._levels.get(1) or Image.fromarray(self.u8())
            self._levels[1] = base
            if f != 1:
                self._levels[f] = base.reduce(f)
        return self._levels[f]


def _crop(im: _Image, cx: float, cy: float, side: float, rot: float, out_hw: Tuple[int, int],
          flip: bool = False) -> np.ndarray:
    """The rotated square ``side`` x ``side`` around (cx, cy) resampled (bilinear) to ``out_hw``,
    float32 in 0..1; black outside the image.  ``flip`` mirrors the crop left-right."""
    from PIL import Image
    oh, ow = out_hw
    s, t = side / ow, side / oh
    f = max(1, int(s))
    c, sn = math.cos(rot), math.sin(rot)
    sx = -s if flip else s
    # output pixel (u, v) -> image point; PIL samples at pixel centres, as we do
    a, b = c * sx / f, -sn * t / f
    d, e = sn * sx / f, c * t / f
    c0 = cx / f - a * ow / 2 - b * oh / 2
    f0 = cy / f - d * ow / 2 - e * oh / 2
    out = im.level(f).transform((ow, oh), Image.AFFINE, (a, b, c0, d, e, f0), resample=Image.BILINEAR)
    return np.asarray(out, np.float32) * (1.0 / 255.0)


def _to_image(pts: np.ndarray, cx: float, cy: float, side: float, rot: float, in_w: int, in_h: int,
              flip: bool = False) -> np.ndarray:
    """Model-input pixel coordinates [N, 2|3] -> image pixels (z scaled like x)."""
    p = np.asarray(pts, np.float64).copy()
    sx, sy = side / in_w, side / in_h
    u = (p[:, 0] - in_w / 2.0) * sx
    if flip:
        u = -u
    v = (p[:, 1] - in_h / 2.0) * sy
    c, sn = math.cos(rot), math.sin(rot)
    out = p.copy()
    out[:, 0] = cx + c * u - sn * v
    out[:, 1] = cy + sn * u + c * v
    if p.shape[1] > 2:
        out[:, 2] = p[:, 2] * sx
    return out


# ---------------------------------------------------------------------------- detection

def _anchors(size: int) -> np.ndarray:
    """BlazeFace short-range SSD anchors (strides 8, 16, 16, 16 -> 2 and 6 anchors per cell)."""
    out = []
    for stride, per_cell in ((8, 2), (16, 6)):
        n = size // stride
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        c = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(c, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


_ANCHORS = {}


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0 = np.maximum(a[0], b[:, 0])
    y0 = np.maximum(a[1], b[:, 1])
    x1 = np.minimum(a[2], b[:, 2])
    y1 = np.minimum(a[3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda r: (r[..., 2] - r[..., 0]) * (r[..., 3] - r[..., 1])
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def _detect_window(models: FaceModels, im: _Image, x0: int, y0: int, x1: int, y1: int,
                   threshold: float) -> List[Detection]:
    from PIL import Image
    size = models.detector.input_hw[0]
    if size not in _ANCHORS:
        _ANCHORS[size] = _anchors(size)
    anchors = _ANCHORS[size]
    ww, wh = x1 - x0, y1 - y0
    side = max(ww, wh)
    scale = size / side
    nw, nh = max(1, round(ww * scale)), max(1, round(wh * scale))
    small = Image.fromarray(im.u8()[y0:y1, x0:x1]).resize((nw, nh), Image.BILINEAR)
    canvas = np.zeros((size, size, 3), np.float32)
    ox, oy = (size - nw) // 2, (size - nh) // 2
    canvas[oy:oy + nh, ox:ox + nw] = np.asarray(small, np.float32) / 255.0
    out = models.detector.run(canvas * 2.0 - 1.0)
    reg = cls = None
    for v in out.values():
        if v.size == len(anchors) * 16:
            reg = v.reshape(-1, 16)
        elif v.size == len(anchors):
            cls = v
    if reg is None or cls is None:
        raise InvalidDataError(f"face detector {models.detector.name} is not a BlazeFace short-range model "
                               f"({len(anchors)} anchors)")
    score = 1.0 / (1.0 + np.exp(-np.clip(cls, -80.0, 80.0)))
    keep = np.nonzero(score >= threshold)[0]
    if not len(keep):
        return []
    r = reg[keep] / size
    a = anchors[keep]
    cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
    w, h = r[:, 2], r[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kps = r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]

    def back(px, py):  # letterboxed normalised -> image pixels
        return (px * size - ox) / scale + x0, (py * size - oy) / scale + y0
    bx0, by0 = back(boxes[:, 0], boxes[:, 1])
    bx1, by1 = back(boxes[:, 2], boxes[:, 3])
    boxes = np.stack([bx0, by0, bx1, by1], axis=1)
    kx, ky = back(kps[..., 0], kps[..., 1])
    kps = np.stack([kx, ky], axis=-1)
    s = score[keep]
    # weighted non-maximum suppression (MediaPipe's default for faces)
    order = np.argsort(-s)
    boxes, kps, s = boxes[order], kps[order], s[order]
    dets = []
    left = np.ones(len(s), bool)
    for i in range(len(s)):
        if not left[i]:
            continue
        same = left & (_iou(boxes[i], boxes) > NMS_IOU)
        wts = s[same][:, None]
        box = (boxes[same] * wts).sum(0) / wts.sum()
        kp = (kps[same] * wts[:, :, None]).sum(0) / wts.sum()
        dets.append(Detection(tuple(float(v) for v in box), float(s[i]), kp.astype(np.float32)))
        left &= ~same
    return dets


def detect_faces(image, model: str = "", search_dirs: Optional[Sequence[str]] = None,
                 threshold: float = DETECTION_THRESHOLD, models: Optional[FaceModels] = None) -> List[Detection]:
    """All faces the detector finds, largest first.  When the whole image yields none and it is
    larger than 256 px, overlapping tiles are searched too (small faces in large photos)."""
    models = models or load_face_models(model, search_dirs)
    im = image if isinstance(image, _Image) else _Image(to_rgb_float(image))
    dets = _detect_window(models, im, 0, 0, im.w, im.h, threshold)
    if not dets and max(im.w, im.h) > 256:
        tile = max(128, int(min(im.w, im.h) * 0.6))
        cand = []
        for ty in np.linspace(0, im.h - tile, 3).astype(int) if im.h > tile else [0]:
            for tx in np.linspace(0, im.w - tile, 3).astype(int) if im.w > tile else [0]:
                cand += _detect_window(models, im, int(tx), int(ty), int(min(im.w, tx + tile)),
                                       int(min(im.h, ty + tile)), threshold)
        cand.sort(key=lambda d: -d.score)
        for d in cand:  # merge the same face seen in several tiles
            if all(_iou(np.asarray(d.box), np.asarray([e.box])).item() <= NMS_IOU for e in dets):
                dets.append(d)
    dets.sort(key=lambda d: -d.area)
    return dets


# ---------------------------------------------------------------------------- landmarks

def _roi_from_detection(d: Detection) -> Tuple[float, float, float, float]:
    x0, y0, x1, y1 = d.box
    k = d.keypoints
    rot = math.atan2(float(k[1, 1] - k[0, 1]), float(k[1, 0] - k[0, 0]))
    side = max(x1 - x0, y1 - y0) * ROI_SCALE
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0, side, rot


def _roi_from_landmarks(lm: np.ndarray) -> Tuple[float, float, float, float]:
    p = lm[:468, :2].astype(np.float64)
    a, b = p[T.RIGHT_EYE_OUTER], p[T.LEFT_EYE_OUTER]
    rot = math.atan2(b[1] - a[1], b[0] - a[0])
    c, s = math.cos(rot), math.sin(rot)
    ctr = p.mean(0)
    q = (p - ctr) @ np.array([[c, -s], [s, c]])  # into the face's upright frame
    lo, hi = q.min(0), q.max(0)
    mid = (lo + hi) / 2.0
    centre = ctr + np.array([c * mid[0] - s * mid[1], s * mid[0] + c * mid[1]])
    side = float((hi - lo).max()) * ROI_SCALE
    return float(centre[0]), float(centre[1]), side, rot


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 60.0), -60.0)))


def _landmarks_in_roi(models: FaceModels, im: _Image, roi) -> Tuple[np.ndarray, float]:
    cx, cy, side, rot = roi
    ih, iw = models.landmarks.input_hw
    crop = _crop(im, cx, cy, side, rot, (ih, iw))
    out = models.landmarks.run(crop)
    mesh = flag = None
    for v in out.values():
        if v.size in (1404, 1434):
            mesh = v.reshape(-1, 3)
        elif v.size == 1:
            flag = _sigmoid(float(v[0]))
    if mesh is None or flag is None:
        raise InvalidDataError(f"face landmark model {models.landmarks.name} lacks the mesh or face-flag output")
    pts = _to_image(mesh, cx, cy, side, rot, iw, ih)
    if len(pts) == LANDMARK_COUNT:
        return pts.astype(np.float32), flag
    full = np.zeros((LANDMARK_COUNT, 3), np.float64)
    full[:468] = pts
    # the iris model is trained on right eyes (image left); the left eye is mirrored in and out
    for (a, b), flip, dst, contour in (((T.RIGHT_EYE_OUTER, T.RIGHT_EYE_INNER), False, T.RIGHT_IRIS, T.RIGHT_EYE),
                                        ((T.LEFT_EYE_INNER, T.LEFT_EYE_OUTER), True, T.LEFT_IRIS, T.LEFT_EYE)):
        pa, pb = pts[a, :2], pts[b, :2]
        ectr = (pa + pb) / 2.0
        d = pb - pa
        eside = max(float(np.hypot(*d)) * EYE_ROI_SCALE, 4.0)
        erot = math.atan2(d[1], d[0])
        eh, ew = models.iris.input_hw
        ecrop = _crop(im, float(ectr[0]), float(ectr[1]), eside, erot, (eh, ew), flip=flip)
        eo = models.iris.run(ecrop)
        iris = next(v for v in eo.values() if v.size == 15).reshape(5, 3)
        ip = _to_image(iris, float(ectr[0]), float(ectr[1]), eside, erot, ew, eh, flip=flip)
        if flip:  # mirroring swapped the outer and inner contour points; keep MediaPipe's order
            ip = ip[[0, 3, 2, 1, 4]]
        full[dst, :2] = ip[:, :2]
        full[dst, 2] = pts[contour, 2].mean()
    return full.astype(np.float32), flag


def _result(models, im, det: Optional[Detection], roi) -> Optional[FaceResult]:
    lm, presence = _landmarks_in_roi(models, im, roi)
    if presence < PRESENCE_THRESHOLD or not np.isfinite(lm).all():
        return None
    x0, y0, x1, y1 = T.bounding_box(lm)
    box = (max(0.0, x0), max(0.0, y0), min(float(im.w), x1), min(float(im.h), y1))
    if box[2] <= box[0] or box[3] <= box[1]:
        return None
    return FaceResult(lm, box, presence, det, roi)


def find_faces(image, model: str = "", search_dirs: Optional[Sequence[str]] = None,
               models: Optional[FaceModels] = None) -> List[FaceResult]:
    """Landmarks of every face found in one image, ordered left to right (by box centre)."""
    models = models or load_face_models(model, search_dirs)
    im = image if isinstance(image, _Image) else _Image(to_rgb_float(image))
    results = []
    for d in detect_faces(im, models=models):
        r = _result(models, im, d, _roi_from_detection(d))
        if r is not None:
            # refine once from the landmarks themselves (tighter, better-centred region)
            r2 = _result(models, im, d, _roi_from_landmarks(r.landmarks))
            results.append(r2 if r2 is not None else r)
    results.sort(key=lambda r: (r.box[0] + r.box[2]) / 2.0)
    return results


def analyze_faces(images: Union[Sequence, np.ndarray], face_index: int = -1, sources: Optional[Sequence[str]] = None,
                  model: str = "", search_dirs: Optional[Sequence[str]] = None,
                  progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None,
                  max_side: int = MAX_WORK_SIDE) -> FaceData:
    """Analyse one or several reference portraits into an ``SR_FACE`` value.

    ``images``: a list of images (any of the forms :func:`to_rgb_float` takes; sizes may
    differ), a batch ``[B, H, W, C]`` or one image.  ``face_index``: ``-1`` picks the largest
    face in each image, ``k >= 0`` the k-th face counted from the left.  Raises
    :class:`FaceNotFoundError` naming the image when no face is found.  An image whose longest
    side is over ``max_side`` is kept as a face crop scaled to at most ``max_side`` (see the
    module docstring; ``max_side=0`` keeps every image whole).
    """
    if isinstance(images, np.ndarray) or hasattr(images, "detach"):
        arr = images.detach().cpu().float().numpy() if hasattr(images, "detach") else images
        images = list(arr) if arr.ndim == 4 else [arr]
    images = list(images)
    if not images:
        raise FaceImageError("no reference image given; connect at least one portrait")
    k = len(images)
    sources = [str(s) for s in (sources or [""] * k)]
    if len(sources) != k:
        raise FaceImageError(f"{k} images but {len(sources)} source names")
    face_index = int(face_index)
    if face_index < -1:
        raise FaceImageError(f"face_index must be -1 (largest face) or >= 0, got {face_index}")
    max_side = int(max_side)
    if max_side and max_side < 4 * MIN_IMAGE_SIDE:
        raise FaceImageError(f"max_side must be 0 (no limit) or at least {4 * MIN_IMAGE_SIDE} px, got {max_side}")
    models = load_face_models(model, search_dirs)
    steps = Steps(k, progress, cancelled, "face analysis")
    imgs, lms, boxes, meta = [], [], [], {"faces_found": [], "face_index": [], "presence": [], "detection_score": [],
                                          "roll_deg": [], "roi": [], "work_region": []}
    for i, img in enumerate(images):
        what = _describe(i, k, sources[i])
        im = _reference_image(img, what, max_side)
        faces = find_faces(im, models=models)
        if not faces:
            raise FaceNotFoundError(f"no face found in {what} ({im.w}x{im.h}); use a frontal portrait where the "
                                    f"face is clearly visible and at least ~64 px wide")
        if face_index == -1:
            j = max(range(len(faces)), key=lambda n: (faces[n].box[2] - faces[n].box[0]) *
                    (faces[n].box[3] - faces[n].box[1]))
        elif face_index < len(faces):
            j = face_index
        else:
            raise FaceNotFoundError(f"{what} has {len(faces)} face(s) (numbered 0..{len(faces) - 1} from the left) "
                                    f"but face_index is {face_index}; pick a smaller index or -1 for the largest")
        f = faces[j]
        work = None
        if max_side and max(im.w, im.h) > max_side:
            im, f, work = _work_region(im, f, max_side)
            log.warning("SynchroRaMa face: %s is %dx%d pixels; working on the face region %dx%d at (%d, %d) scaled to "
                        "%dx%d (references are used at up to %d px a side, so the warp renderer's video is %dx%d); "
                        "crop the photo yourself to frame it differently", what, work["original_size"][0],
                        work["original_size"][1], work["crop"][2] - work["crop"][0],
                        work["crop"][3] - work["crop"][1], work["crop"][0], work["crop"][1], im.w, im.h, max_side,
                        im.w, im.h)
        imgs.append(im.rgb)
        lms.append(f.landmarks)
        boxes.append(f.box)
        meta["work_region"].append(work)
        meta["faces_found"].append(len(faces))
        meta["face_index"].append(j)
        meta["presence"].append(round(f.presence, 4))
        meta["detection_score"].append(round(f.detection.score, 4) if f.detection else None)
        meta["roll_deg"].append(round(math.degrees(f.roi[3]), 3))
        meta["roi"].append([round(float(v), 3) for v in f.roi])
        steps.tick()
    meta["models"] = {r: p for r, p in models.sources.items()}
    meta["landmarks"] = ("468-point face mesh + 5+5 iris points (MediaPipe topology); eye contours and lips are "
                         "not refined by the attention model")
    return FaceData(images=imgs, landmarks=lms, boxes=boxes, sources=sources, detector=DETECTOR_NAME, meta=meta)


def _reference_image(img, what: str, max_side: int) -> _Image:
    """A reference as an :class:`_Image`: float as given when it is small, uint8 (no float copy of
    the whole photo) when it is larger than ``max_side`` and only a crop of it will be kept."""
    if hasattr(img, "mode") and hasattr(img, "size"):  # PIL
        h, w = img.size[1], img.size[0]
    else:
        shape = tuple(getattr(img, "shape", None) or np.shape(img))
        h, w = (shape[1:3] if len(shape) == 4 else shape[:2]) if len(shape) >= 2 else (0, 0)
    if max_side and max(h, w) > max_side:
        return _Image(u8=to_rgb_u8(img, what))
    return _Image(to_rgb_float(img, what))


def _work_region(im: _Image, f: FaceResult, max_side: int):
    """Crop ``im`` to a head-and-shoulders region around ``f`` (the photo's aspect ratio) and scale it
    to at most ``max_side``; returns the new image, ``f`` mapped onto it and a record of the crop."""
    from PIL import Image
    x0, y0, x1, y1 = f.box
    fh = max(y1 - y0, x1 - x0, 1.0)
    aspect = im.w / im.h
    # region height: WORK_FACE_HEIGHTS faces, at least MIN_WORK_SIDE on the longest side, at most the photo
    ch = max(WORK_FACE_HEIGHTS * fh, MIN_WORK_SIDE / max(aspect, 1.0))
    ch = min(ch, im.h, im.w / aspect)
    cw = min(ch * aspect, im.w)
    ch = min(cw / aspect, im.h)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0 + 0.1 * ch  # the face a little above the middle
    left = int(round(min(max(cx - cw / 2.0, 0.0), im.w - cw)))
    top = int(round(min(max(cy - ch / 2.0, 0.0), im.h - ch)))
    right, bottom = min(im.w, left + int(round(cw))), min(im.h, top + int(round(ch)))
    s = min(1.0, max_side / max(right - left, bottom - top))
    out_w, out_h = max(MIN_IMAGE_SIDE, int(round((right - left) * s))), max(MIN_IMAGE_SIDE, int(round((bottom - top) * s)))
    pil = im.level(1).crop((left, top, right, bottom))
    small = np.asarray(pil.resize((out_w, out_h), Image.LANCZOS, reducing_gap=3.0), np.float32) * (1.0 / 255.0)
    sx, sy = out_w / (right - left), out_h / (bottom - top)
    lm = f.landmarks.astype(np.float64).copy()
    lm[:, 0] = (lm[:, 0] - left) * sx
    lm[:, 1] = (lm[:, 1] - top) * sy
    lm[:, 2] *= (sx + sy) / 2.0
    box = (max(0.0, (x0 - left) * sx), max(0.0, (y0 - top) * sy), min(float(out_w), (x1 - left) * sx),
           min(float(out_h), (y1 - top) * sy))
    rx, ry, rs, rr = f.roi
    roi = ((rx - left) * sx, (ry - top) * sy, rs * sx, rr)
    work = {"original_size": [im.w, im.h], "crop": [left, top, right, bottom], "scale": round(float(sx), 6),
            "size": [out_w, out_h]}
    return _Image(small), FaceResult(lm.astype(np.float32), box, f.presence, f.detection, roi), work


DETECTOR_NAME = "mediapipe-tflite (BlazeFace short-range + face_landmark + iris_landmark, 0.10.21 models)"


def analyze_face(image, face_index: int = -1, source: str = "", **kw) -> FaceData:
    """:func:`analyze_faces` for a single image."""
    return analyze_faces([image], face_index=face_index, sources=[source], **kw)


# ---------------------------------------------------------------------------- tracking

class FaceTracker:
    """Per-frame landmarks for a video: the region of each frame comes from the previous
    frame's landmarks; the detector runs on the first frame and whenever the face is lost.

    ``tracker(frame) -> [478, 3] float32 array or None``.  Follows the largest face.
    """

    def __init__(self, model: str = "", search_dirs: Optional[Sequence[str]] = None,
                 models: Optional[FaceModels] = None):
        self.models = models or load_face_models(model, search_dirs)
        self._prev: Optional[np.ndarray] = None
        self.detections = 0   # how often the detector had to run

    def reset(self) -> None:
        self._prev = None

    def __call__(self, frame) -> Optional[np.ndarray]:
        im = _frame_image(frame)
        if self._prev is not None:
            r = _result(self.models, im, None, _roi_from_landmarks(self._prev))
            if r is not None:
                self._prev = r.landmarks
                return r.landmarks
        self.detections += 1
        dets = detect_faces(im, models=self.models)
        for d in dets:
            r = _result(self.models, im, d, _roi_from_detection(d))
            if r is not None:
                r2 = _result(self.models, im, d, _roi_from_landmarks(r.landmarks))
                self._prev = (r2 or r).landmarks
                return self._prev
        self._prev = None
        return None


def _frame_image(frame) -> _Image:
    """A video frame as an :class:`_Image`, converting float frames straight to uint8."""
    if hasattr(frame, "detach"):
        frame = frame.detach().cpu().numpy()
    a = np.asarray(frame)
    if a.ndim == 3 and a.shape[2] == 3 and min(a.shape[:2]) >= MIN_IMAGE_SIDE:
        if a.dtype == np.uint8:
            return _Image(u8=np.ascontiguousarray(a))
        if a.dtype.kind == "f":
            if not np.isfinite(a.sum()):
                raise FaceImageError("video frame contains NaN or infinite pixel values")
            return _Image(u8=(np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    return _Image(to_rgb_float(a, "video frame"))


def _iter_frames(frames) -> Iterable:
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu()
        return (f.float().numpy() for f in frames)
    if isinstance(frames, np.ndarray) and frames.ndim == 3 and frames.shape[-1] not in (1, 3, 4):
        raise FaceImageError(f"frames must be [N, H, W, C] or a sequence of images, got {list(frames.shape)}")
    return frames


def track_landmarks(frames, model: str = "", search_dirs: Optional[Sequence[str]] = None,
                    progress: Optional[ProgressFn] = None, cancelled: Optional[CancelFn] = None,
                    total: Optional[int] = None) -> List[Optional[np.ndarray]]:
    """Landmarks ``[478, 3]`` (or ``None`` where no face is found) for every frame of ``frames``
    (a batch ``[N, H, W, C]`` array/tensor or any iterable of images)."""
    tracker = FaceTracker(model, search_dirs)
    if total is None and hasattr(frames, "__len__"):
        total = len(frames)
    steps = Steps(total or 1, progress, cancelled, "face tracking")
    out = []
    for f in _iter_frames(frames):
        out.append(tracker(f))
        steps.tick()
    return out


def measure_landmarks(landmarks: Sequence[Optional[np.ndarray]]) -> dict:
    """Per-frame measurements of a landmark sequence (e.g. :func:`track_landmarks`'s result):
    ``found`` (bool), ``mouth_opening``, ``mouth_width``, ``eye_left``, ``eye_right``,
    ``face_size``, ``roll_deg`` — float arrays with NaN where no face was found."""
    n = len(landmarks)
    out = {k: np.full(n, np.nan) for k in ("mouth_opening", "mouth_width", "eye_left", "eye_right", "face_size",
                                             "roll_deg")}
    found = np.array([lm is not None for lm in landmarks], bool)
    out["found"] = found
    if found.any():
        idx = np.nonzero(found)[0]
        lm = np.stack([landmarks[i] for i in idx])
        out["mouth_opening"][idx] = T.mouth_opening(lm)
        out["mouth_width"][idx] = T.mouth_width(lm)
        out["eye_left"][idx], out["eye_right"][idx] = T.eye_openness(lm)
        out["face_size"][idx] = T.face_size(lm)
        d = lm[:, T.LEFT_EYE_OUTER, :2] - lm[:, T.RIGHT_EYE_OUTER, :2]
        out["roll_deg"][idx] = np.degrees(np.arctan2(d[:, 1], d[:, 0]))
    return out
