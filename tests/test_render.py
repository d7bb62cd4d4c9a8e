"""Warp renderer on the real astronaut photo: geometry, pixels re-measured with the face module,
multiple references, streaming, bad input, the node."""
from __future__ import annotations

import os
import types

import numpy as np
import pytest

from synchrorama_core.errors import Cancelled, InvalidDataError
from synchrorama_core.face import analyze_face, analyze_faces
from synchrorama_core.geometry import topology as T
from synchrorama_core.render import (RenderOptions, ReferenceWarper, WarpOptions, WarpRenderer, build_mesh,
                                     expression_features, iter_frames, render_video)
from synchrorama_core.render.mesh import MOUTH, RING
from synchrorama_core.render.raster import signed_area, warp_triangles
from synchrorama_core.render.synth import bilinear, luminance
from synchrorama_core.timing import n_frames
from synchrorama_core.types import EXPRESSIONS, FaceData, MotionData
from helpers.measure import best_lag, lag_corr

FPS = 25.0


def motion(frames, fps=FPS) -> MotionData:
    """MotionData from a list of per-frame dicts: ``yaw/pitch/roll`` (deg), ``tx/ty``, ``scale``, expressions."""
    n = len(frames)
    rot = np.array([[f.get("yaw", 0), f.get("pitch", 0), f.get("roll", 0)] for f in frames], np.float32).reshape(n, 3)
    tr = np.array([[f.get("tx", 0), f.get("ty", 0)] for f in frames], np.float32).reshape(n, 2)
    sc = np.array([f.get("scale", 1.0) for f in frames], np.float32)
    ex = {k: np.array([f.get(k, 0.0) for f in frames], np.float32) for k in EXPRESSIONS}
    return MotionData(fps=fps, duration_s=n / fps, rotation=rot, translation=tr, scale=sc, expressions=ex)


@pytest.fixture(scope="module")
def face(astronaut):
    return analyze_face(astronaut, source="astronaut")


@pytest.fixture(scope="module")
def renderer(face):
    return WarpRenderer(face)


def _polygon_mask(poly: np.ndarray, h: int, w: int) -> np.ndarray:
    from skimage.draw import polygon
    m = np.zeros((h, w), bool)
    rr, cc = polygon(poly[:, 1], poly[:, 0], (h, w))
    m[rr, cc] = True
    return m


def _redetect(frame):
    return analyze_face(frame).landmarks[0]


# ---------------------------------------------------------------------------- the kernel

def test_kernel_reproduces_a_known_affine_map():
    rng = np.random.default_rng(0)
    img = rng.random((48, 64, 3)).astype(np.float32)
    # two triangles covering a quad; the target is the source under a rotation + scale + shift
    src_q = np.array([[4.0, 5.0], [58.0, 3.0], [60.0, 44.0], [2.0, 42.0]])
    ang = np.radians(7.0)
    a = 0.93 * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    t = np.array([2.5, -1.25])
    tgt_q = src_q @ a.T + t
    tris = np.array([[0, 1, 2], [0, 2, 3]])
    tt, ss = tgt_q[tris], src_q[tris]
    assert (signed_area(tt) > 0).all()
    out = np.zeros_like(img)
    zbuf = np.full(img.shape[:2], np.inf, np.float32)
    n = warp_triangles(out, zbuf, img, tt, ss, np.zeros((2, 3)), np.ones(2, bool))
    inside = _polygon_mask(tgt_q, 48, 64)
    from scipy.ndimage import binary_dilation, binary_erosion
    core = binary_erosion(inside, iterations=1)
    ys, xs = np.nonzero(core)
    back = (np.stack([xs, ys], 1) - t) @ np.linalg.inv(a).T
    want = bilinear(img, back[:, 0], back[:, 1])
    assert np.abs(out[ys, xs] - want).max() < 1e-5
    # nothing outside the quad was written; pixels on the shared diagonal may be written twice
    assert not out[~binary_dilation(inside, iterations=1)].any()
    assert core.sum() <= n <= inside.sum() + 64


def test_kernel_depth_test_and_back_faces():
    img = np.zeros((20, 20, 3), np.float32)
    img[:, :10] = [1, 0, 0]
    img[:, 10:] = [0, 0, 1]
    tri = np.array([[[2.0, 2.0], [17.0, 2.0], [2.0, 17.0]]])
    tri = tri[:, [0, 2, 1]] if signed_area(tri)[0] < 0 else tri
    red = np.array([[[3.0, 3.0], [3.0, 3.0], [3.0, 3.0]]])       # samples a red pixel
    blue = np.array([[[15.0, 3.0], [15.0, 3.0], [15.0, 3.0]]])    # samples a blue pixel
    tgt = np.concatenate([tri, tri])
    out = np.zeros_like(img)
    zbuf = np.full((20, 20), np.inf, np.float32)
    warp_triangles(out, zbuf, img, tgt, np.concatenate([red, blue]), np.array([[5.0] * 3, [1.0] * 3]),
                   np.ones(2, bool))
    assert np.allclose(out[5, 5], [0, 0, 1])        # the nearer (z=1) blue triangle wins although drawn last
    out2 = np.zeros_like(img)
    zbuf[:] = np.inf
    warp_triangles(out2, zbuf, img, tri[:, [0, 2, 1]], red, np.zeros((1, 3)), np.ones(1, bool))
    assert not out2.any()                          # reversed orientation = back-facing: not drawn


# ---------------------------------------------------------------------------- the mesh

def test_control_mesh_tiles_the_image(face):
    lm = face.landmarks[0]
    m = build_mesh(lm, (512, 512))
    # consistent orientation: every interior edge is used once in each direction
    directed = {}
    for a, b, c in m.tris.tolist():
        for e in ((a, b), (b, c), (c, a)):
            assert e not in directed, f"edge {e} used twice in the same direction"
            directed[e] = True
    # the triangles tile the whole image: signed areas add up to the image rectangle
    area = signed_area(m.src[m.tris]).sum() / 2
    assert abs(area - 511 * 511) < 1.0
    # the mouth opening and both eyes are filled; the ring triangles surround the face
    assert (m.kind == MOUTH).sum() == 18 and (m.kind == RING).sum() > 100
    assert list(m.mouth.upper[[0, -1]]) == [T.MOUTH_INNER_CORNER_RIGHT, T.MOUTH_INNER_CORNER_LEFT]
    assert T.UPPER_LIP_INNER in m.mouth.upper and T.LOWER_LIP_INNER in m.mouth.lower
    # the image border ring does not move; ring 1 follows the head more than ring 2
    assert (m.w_ring1 >= m.w_ring2).all() and m.w_ring1.max() > 0.9


# ---------------------------------------------------------------------------- pixels

def test_zero_motion_reproduces_the_reference(face, astronaut):
    """Without the neutral rest face, zero motion is the reference itself, pixel for pixel."""
    r = WarpRenderer(face, RenderOptions(neutralize=0.0))
    frames = r.render(motion([{}] * 3))
    assert frames.shape == (3, 512, 512, 3) and frames.dtype == np.float32
    assert np.abs(frames - astronaut[None]).max() == 0.0


def test_zero_motion_shows_the_neutral_rest_face(face, renderer, astronaut):
    """The astronaut smiles with parted lips; with the rest face (default) zero motion closes her
    lips and lowers the smile, measured on the re-detected pixels, and changes nothing outside the face."""
    assert renderer.portrait_expression.coefficients.get("smile", 0) > 0.3
    assert renderer.portrait_expression.lip_gap > 0.1
    f = renderer.render(motion([{}]))[0]
    m = renderer.warpers[0].mesh
    face_hair = _polygon_mask(m.src[m.ring1], 512, 512)
    assert np.abs(f - astronaut).max(axis=2)[~face_hair].max() == 0.0
    got, ref = _redetect(f), face.landmarks[0]
    assert T.mouth_opening(got) < 0.05 < 0.16 < T.mouth_opening(ref)
    assert expression_features(got)[2] < expression_features(ref)[2] - 0.04      # smile (corner lift) lowered


def test_expressions_leave_everything_outside_the_face_unchanged(face, renderer, astronaut):
    mo = motion([{"jaw_open": 1.0}, {"blink_l": 1.0, "blink_r": 1.0}, {"smile": 1.0, "jaw_open": 0.4},
                 {"brow_raise": 1.0, "mouth_wide": 1.0}, {"mouth_pucker": 1.0, "eye_wide": 1.0}])
    frames = renderer.render(mo)
    assert np.isfinite(frames).all()
    m = renderer.warpers[0].mesh
    face_hair = _polygon_mask(m.src[m.ring1], 512, 512)
    diff = np.abs(frames - astronaut[None]).max(axis=3)
    assert diff[:, ~face_hair].max() < 1e-6          # head still: background, body, border untouched
    assert (diff.reshape(len(frames), -1).max(axis=1) > 0.2).all()   # ... while every face changed


def test_jaw_open_opens_the_mouth_in_the_pixels(face, renderer, astronaut):
    jaws = [0.0, 0.35, 0.7, 1.0]
    frames = renderer.render(motion([{"jaw_open": j} for j in jaws]))
    opening = [float(T.mouth_opening(_redetect(f))) for f in frames]
    assert opening[0] < 0.05                      # the rest face: lips closed although the photo's are parted
    assert all(b > a + 0.03 for a, b in zip(opening, opening[1:])), opening
    assert opening[-1] > 0.3
    # the opening is a mouth: darker than the lips inside, the portrait's own teeth at the top
    tg, _ = renderer.target_landmarks(motion([{"jaw_open": 1.0}]))
    up, lo = tg[0][renderer.warpers[0].mesh.mouth.upper, :2], tg[0][renderer.warpers[0].mesh.mouth.lower, :2]
    inside = _polygon_mask(np.r_[up, lo[::-1]], 512, 512)
    lum = luminance(frames[-1])[inside]
    lip_lum = float(luminance(renderer.warpers[0].lip_rgb))
    assert np.median(lum) < 0.8 * lip_lum
    assert np.quantile(lum, 0.95) > 0.6           # teeth


def _eye_still_open(frame, open_frame, face, warper) -> list:
    """Per eye (subject's right, left): share of the pixels inside the reference's open-eye outline
    that still show what the open eye showed there (sclera, iris, lashes: unchanged colour)."""
    out = []
    lm = face.landmarks[0]
    for ch in (warper.mesh.eye_r, warper.mesh.eye_l):
        mask = _polygon_mask(np.r_[lm[ch.upper, :2], lm[ch.lower, :2][::-1]], *frame.shape[:2])
        out.append(float((np.abs(frame[mask] - open_frame[mask]).max(axis=1) < 0.05).mean()))
    return out


def test_blink_closes_the_eyes_in_the_pixels(face, renderer):
    frames = renderer.render(motion([{}, {"blink_l": 1.0, "blink_r": 1.0}, {"blink_l": 1.0}, {"blink_r": 1.0},
                                     {"blink_l": 0.5, "blink_r": 0.5}]))
    w = renderer.warpers[0]
    # re-detected: the face-mesh model reads ~0.24 even on an eye painted shut (its eye contours
    # are not refined), ~0.335 on the open eyes of this photo; a full blink must come near that floor
    (l0, r0), (l1, r1) = T.eye_openness(_redetect(frames[0])), T.eye_openness(_redetect(frames[1]))
    assert l1 < l0 - 0.05 and r1 < r0 - 0.05, (l0, r0, l1, r1)
    # measured directly: the eyeball disappears under the lid (what remains of the open eye is the
    # lower lid's rim), one eye at a time, half at half
    vis = [_eye_still_open(f, frames[0], face, w) for f in frames]
    (er0, el0), (er1, el1), (er2, el2), (er3, el3), (er4, el4) = vis
    assert er0 == 1.0 and el0 == 1.0, vis
    assert er1 < 0.2 and el1 < 0.2, vis
    assert el2 < 0.2 and er2 == 1.0, vis                 # blink_l closes the subject's left eye only
    assert er3 < 0.2 and el3 == 1.0, vis
    assert er1 < er4 < 0.5 and el1 < el4 < 0.5, vis
    # the closed lid is skin coloured (sampled from around the eye), not a smear of lashes
    tg, _ = renderer.target_landmarks(motion([{"blink_l": 1.0, "blink_r": 1.0}]))
    for ch, skin in ((w.mesh.eye_r, w.eye_skin[0]), (w.mesh.eye_l, w.eye_skin[1])):
        top = face.landmarks[0][ch.upper, :2]           # where the open lid was
        lid = _polygon_mask(np.r_[top, tg[0][ch.upper, :2][::-1]], 512, 512)
        assert lid.sum() > 20
        assert np.median(luminance(frames[1][lid])) > 0.8 * float(np.median(luminance(skin)))


def test_head_motion_moves_face_and_hair_smoothly(face, renderer, astronaut):
    mo = motion([{"yaw": 12.0, "roll": 6.0}, {"pitch": 8.0, "tx": 0.05}, {"yaw": -8.0, "scale": 1.05}])
    frames = renderer.render(mo)
    tg, _ = renderer.target_landmarks(mo)
    for f, want in zip(frames, tg):
        got = _redetect(f)
        err = np.linalg.norm(got[:468, :2] - want[:468, :2], axis=1)
        assert np.median(err) < 3.0                      # the face lands where the motion put it
    # the hair just above the head moves, the image border stays
    m = renderer.warpers[0].mesh
    top = face.landmarks[0][T.FOREHEAD, :2].astype(int)
    hair = (slice(top[1] - 25, top[1] - 5), slice(top[0] - 10, top[0] + 10))
    assert np.abs(frames[0][hair] - astronaut[hair]).mean() > 0.01
    for f in frames:
        assert np.abs(f[0] - astronaut[0]).max() < 1e-6 and np.abs(f[-1] - astronaut[-1]).max() < 1e-6
        assert np.abs(f[:, 0] - astronaut[:, 0]).max() < 1e-6 and np.abs(f[:, -1] - astronaut[:, -1]).max() < 1e-6
    # smooth: neighbouring pixels around the face outline stay neighbours (no tears)
    d = frames[0] - astronaut
    assert np.abs(np.diff(d, axis=0)).max() < 1.0 and np.isfinite(d).all()
    assert m.n_vertices > 468


def test_any_size_up_to_1024(astronaut):
    from skimage.transform import resize
    big = resize(astronaut, (1024, 1024), order=1).astype(np.float32)
    tall = np.ascontiguousarray(astronaut[20:380, 110:390])          # 360 x 280, not square
    for img in (big, tall):
        f = analyze_face(img)
        mo = motion([{"jaw_open": 0.8, "yaw": 5.0}, {"blink_l": 1.0, "roll": -4.0}])
        out = render_video(f, mo)
        assert out.shape == (2,) + img.shape and out.dtype == np.float32
        assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
        assert T.mouth_opening(_redetect(out[0])) > T.mouth_opening(f.landmarks[0]) + 0.1


# ---------------------------------------------------------------------------- several references

@pytest.fixture(scope="module")
def two_refs(face, renderer, astronaut):
    """The astronaut plus a smaller, cropped picture of her with the mouth wide open."""
    from skimage.transform import resize
    open_mouth = WarpRenderer(face, RenderOptions(neutralize=0.0)).render(motion([{"jaw_open": 1.0}]))[0]
    crop = resize(open_mouth[40:440, 60:460], (300, 300), order=1).astype(np.float32)
    return analyze_faces([astronaut, crop], sources=["astronaut", "open mouth"])


def test_references_of_different_sizes_nearest_expression_and_cross_fade(two_refs):
    assert two_refs.images[1].shape == (300, 300, 3)
    f = expression_features(np.stack(two_refs.landmarks))
    assert f[1, 0] > f[0, 0] + 0.15                      # the second one really has its mouth open
    r = WarpRenderer(two_refs, RenderOptions(blend_frames=4))
    assert r.base == 0                                    # the motion drives the closed-mouth face
    jaws = [0.0] * 6 + [1.0] * 10 + [0.0] * 8
    mo = motion([{"jaw_open": j} for j in jaws])
    frames = r.render(mo)
    assert frames.shape == (len(jaws), 512, 512, 3) and np.isfinite(frames).all()
    assert r.choices[:6] == [0] * 6 and r.choices[6:16] == [1] * 10 and r.choices[16:] == [0] * 8
    w = np.array(r.weights)
    assert np.allclose(w.sum(axis=1), 1.0)
    assert np.abs(np.diff(w, axis=0)).max() <= 0.25 + 1e-9          # no jump: 4-frame cross-fades
    assert 0.2 < w[7, 1] < 0.8 and w[10, 1] == 1.0 and w[-1, 0] == 1.0
    # a mid-fade frame is the weighted mix of both references warped to the same landmarks
    tg, neu = r.target_landmarks(mo, 7, 8)
    a = r.warpers[0].render(tg[0], neu[0])
    b = r.warpers[1].render(tg[0], neu[0])
    assert np.abs(frames[7] - (w[7, 0] * a + w[7, 1] * b)).max() < 1e-4
    # a fixed reference is used throughout
    r1 = WarpRenderer(two_refs, RenderOptions(reference=1))
    r1.render(motion([{}, {"jaw_open": 1.0}]))
    assert r1.choices == [1, 1]


# ---------------------------------------------------------------------------- real speech motion

def _sub(mo: MotionData, k: int) -> MotionData:
    """The first ``k`` frames of ``mo``."""
    return MotionData(fps=mo.fps, duration_s=k / mo.fps, rotation=mo.rotation[:k], translation=mo.translation[:k],
                      scale=mo.scale[:k], expressions={n: v[:k] for n, v in mo.expressions.items()})


@pytest.fixture(scope="module")
def speech_motion(speech_16k):
    """5 s of espeak-ng speech and the procedural A2M motion for it (jaw, visemes, blinks, head)."""
    from synchrorama_core.audio import speech_from_waveform
    from synchrorama_core.motion import generate_procedural
    sp = speech_from_waveform(speech_16k[:5 * 16000], FPS, source="espeak")
    return sp, generate_procedural(sp)


@pytest.fixture(scope="module")
def speech_render(renderer, speech_motion):
    """The speech motion rendered on the astronaut, and every frame's face re-detected by tracking."""
    from synchrorama_core.face import measure_landmarks, track_landmarks
    _, mo = speech_motion
    frames, finite = [], True
    for f in renderer.frames(mo):           # checked as float, kept as uint8 (a quarter of the memory)
        finite = finite and bool(np.isfinite(f).all()) and f.min() >= 0 and f.max() <= 1
        frames.append((f * 255 + 0.5).astype(np.uint8))
    frames = np.stack(frames)
    lms = track_landmarks(frames)
    return frames, finite, measure_landmarks(lms)


def test_speech_motion_lip_sync_and_blinks_measured_in_the_pixels(speech_motion, speech_render):
    sp, mo = speech_motion
    frames, finite, meas = speech_render
    assert len(frames) == mo.n_frames == n_frames(sp.duration_s, FPS) == 125
    assert finite                                                   # no NaN, all in 0..1
    assert meas["found"].mean() >= 0.98
    # the lip opening re-detected in the rendered pixels follows the speech envelope
    corr = lag_corr(np.nan_to_num(meas["mouth_opening"]), sp.features["rms"])
    best = best_lag(corr)
    assert corr[best] >= 0.6 and abs(best) <= 2, corr
    # blinks in the motion close the eyes in the pixels
    blink = 0.5 * (mo.expressions["blink_l"] + mo.expressions["blink_r"])
    eyes = 0.5 * (meas["eye_left"] + meas["eye_right"])
    shut, open_ = blink > 0.7, blink < 0.05
    assert shut.sum() >= 2 and open_.sum() > 60
    assert np.nanmean(eyes[shut]) < np.nanmean(eyes[open_]) - 0.04, (eyes[shut], np.nanmean(eyes[open_]))


def _above_nose(face):
    lm = face.landmarks[0]
    x0, y0, x1, _ = (int(round(v)) for v in face.boxes[0])
    return slice(max(0, y0), int(lm[T.NOSE_TIP, 1])), slice(max(0, x0), x1)


def test_upper_face_keeps_the_reference_ssim(face, renderer, speech_motion, speech_render, astronaut):
    """Mean SSIM of the region above the nose vs the reference >= 0.85, each frame first moved back by
    the motion's head pose (a 2D similarity: what is left is the renderer's doing, plus the
    out-of-plane part of the head turns, which a 2D similarity cannot undo)."""
    from skimage.metrics import structural_similarity as ssim
    from skimage.transform import SimilarityTransform, warp
    from synchrorama_core.render.renderer import _stable_points
    _, mo = speech_motion
    frames = speech_render[0]
    reg = _above_nose(face)
    st = _stable_points()
    _, neu = renderer.target_landmarks(mo)
    ref = face.landmarks[0][st, :2]
    scores = []
    for f, nl in zip(frames[::2], neu[::2]):
        tf = SimilarityTransform.from_estimate(ref, nl[st, :2])
        back = warp(f.astype(np.float32) / 255, tf, order=1)
        scores.append(ssim(back[reg], astronaut[reg], channel_axis=2, data_range=1.0))
    assert np.mean(scores) >= 0.85, (np.mean(scores), np.min(scores))


def test_zero_head_motion_keeps_background_and_upper_face(face, speech_motion, astronaut):
    """The real speech motion without its head motion: outside the face/hair region nothing changes,
    the region above the nose stays close to the reference (only blinks and brows move there)."""
    from skimage.metrics import structural_similarity as ssim
    _, mo = speech_motion
    mo = _sub(mo, 50)
    r = WarpRenderer(face, RenderOptions(head_scale=0.0))
    m = r.warpers[0].mesh
    face_hair = _polygon_mask(m.src[m.ring1], 512, 512)
    reg = _above_nose(face)
    outside, inside, scores = 0.0, 0.0, []
    for f in r.frames(mo):                                      # streamed: one frame in memory at a time
        diff = np.abs(f - astronaut).max(axis=2)
        outside, inside = max(outside, diff[~face_hair].max()), max(inside, diff[face_hair].max())
        scores.append(ssim(f[reg], astronaut[reg], channel_axis=2, data_range=1.0))
    assert outside <= 1.0 / 255
    assert inside > 0.2                                         # while the face does move
    assert np.mean(scores) >= 0.95 and np.min(scores) >= 0.85, (np.mean(scores), np.min(scores))


def test_several_references_follow_speech_without_popping(face, renderer, speech_motion, astronaut):
    """Two references (the astronaut, and her warmer-lit, cropped picture with the mouth open): per
    frame the nearer expression is used, and switching cross-fades: the largest frame-to-frame
    change of the face stays at the level of the speech motion itself, while hard cuts jump."""
    from skimage.transform import resize
    _, mo = speech_motion
    mo = _sub(mo, 50)
    # the multi-reference mechanics on the photo as it is (no rest face: the targets span the same
    # mouth openings as the two pictures)
    renderer = WarpRenderer(face, RenderOptions(neutralize=0.0))
    open_mouth = renderer.render(motion([{"jaw_open": 1.0}]))[0]
    warm = np.clip(open_mouth * np.array([1.1, 1.0, 0.88], np.float32), 0, 1)
    crop = resize(warm[40:440, 60:460], (300, 300), order=1).astype(np.float32)
    refs = analyze_faces([astronaut, crop], sources=["astronaut", "open mouth"])
    x0, y0, x1, y1 = (int(v) for v in face.boxes[0])

    def steps(r):
        """Mean absolute change of the face box from each frame to the next (frames streamed)."""
        out, prev = [], None
        for f in r.frames(mo):
            assert f.shape == (512, 512, 3) and np.isfinite(f).all()
            box = f[y0:y1, x0:x1].copy()
            if prev is not None:
                out.append(np.abs(box - prev).mean())
            prev = box
        return np.asarray(out)

    single = steps(renderer)
    r = WarpRenderer(refs, RenderOptions(blend_frames=4, neutralize=0.0))
    blended = steps(r)
    ch = np.asarray(r.choices)
    assert len(ch) == 50
    assert 5 <= (ch == 1).sum() <= 45 and (np.diff(ch) != 0).sum() >= 2
    jaw = mo.expressions["jaw_open"]
    assert jaw[ch == 1].mean() > jaw[ch == 0].mean() + 0.2       # the open-mouth picture for open mouths
    tg, _ = r.target_landmarks(mo)
    for j in range(len(ch)):                                     # nearest, up to the switching hysteresis
        d = r._distances(tg[j])
        assert d[ch[j]] <= d.min() + r.options.switch_margin + 1e-9
    cut_steps = steps(WarpRenderer(refs, RenderOptions(blend_frames=0, neutralize=0.0)))
    # a cut pops: frame-to-frame changes jump above those of the one-reference render (the measure
    # can see it); the cross-fade spreads the same change over 4 frames: at most ~1/3 of the jump
    pop_cut = (cut_steps - single).max()
    pop_blend = (blended - single).max()
    assert pop_cut > 0.3 * single.max(), (pop_cut, single.max())
    assert pop_blend <= 0.35 * pop_cut, (pop_blend, pop_cut)


# ---------------------------------------------------------------------------- streaming, errors

def test_streaming_progress_cancel_and_uint8(face, renderer):
    mo = motion([{"jaw_open": (i % 5) / 4} for i in range(12)])
    assert mo.n_frames == n_frames(12 / FPS, FPS) == 12
    calls = []
    gen = renderer.frames(mo, progress=lambda d, t: calls.append((d, t)))
    assert isinstance(gen, types.GeneratorType)
    first = next(gen)
    assert first.shape == (512, 512, 3) and calls == [(1, 12)]
    rest = list(gen)
    assert len(rest) == 11 and calls[-1] == (12, 12)
    u8 = list(iter_frames(face, mo, dtype=np.uint8))
    assert len(u8) == 12 and u8[3].dtype == np.uint8
    assert np.abs(u8[3].astype(np.float32) / 255 - rest[2]).max() <= 0.5 / 255 + 1e-6
    seen = []
    with pytest.raises(Cancelled):
        for f in renderer.frames(mo, cancelled=lambda: len(seen) >= 3):
            seen.append(f)
    assert len(seen) == 3


def test_bad_input_is_reported_clearly(face, astronaut):
    with pytest.raises(InvalidDataError, match="SR_FACE"):
        WarpRenderer("not a face")
    with pytest.raises(InvalidDataError, match="SR_MOTION"):
        list(WarpRenderer(face).frames({"rotation": []}))
    with pytest.raises(InvalidDataError, match="reference 2"):
        WarpRenderer(face, RenderOptions(reference=2))
    with pytest.raises(InvalidDataError, match="hair_follow"):
        WarpOptions(hair_follow=-1)
    with pytest.raises(InvalidDataError, match="blend_frames"):
        RenderOptions(blend_frames=-2)
    with pytest.raises(InvalidDataError, match="uint8"):
        list(WarpRenderer(face).frames(motion([{}]), dtype=np.float64))
    lm = face.landmarks[0].copy()
    lm[5, 0] = np.nan
    with pytest.raises(InvalidDataError, match="NaN"):
        ReferenceWarper(astronaut, lm)
    with pytest.raises(InvalidDataError, match=r"\[478, 3\]"):
        ReferenceWarper(astronaut, face.landmarks[0][:400])
    with pytest.raises(InvalidDataError, match="outside"):
        ReferenceWarper(astronaut, face.landmarks[0] + np.array([600.0, 0, 0], np.float32))
    with pytest.raises(InvalidDataError, match="image"):
        ReferenceWarper(astronaut[:4, :4], face.landmarks[0])
    w = ReferenceWarper(astronaut, face.landmarks[0])
    with pytest.raises(InvalidDataError, match="target"):
        w.render(np.zeros((10, 3)))


def test_frame_dtype_and_output_buffer_are_checked_before_any_frame(renderer):
    m = motion([{"jaw_open": 0.5}] * 3)
    h, w = renderer.size
    with pytest.raises(InvalidDataError, match="frames can be float32 or uint8, not int16"):
        renderer.frames(m, dtype=np.int16)
    buf = np.full((3, h, w + 1, 3), 7.0, np.float32)
    with pytest.raises(InvalidDataError,
                       match=rf"output buffer has shape \[3, {h}, {w + 1}, 3\], expected \[3, {h}, {w}, 3\]"):
        renderer.render(m, out=buf)
    assert (buf == 7.0).all()                          # nothing written
    out = np.zeros((3, h, w, 3), np.float32)
    assert renderer.render(m, out=out) is out                         # the right buffer is filled in place
    assert np.array_equal(out, np.stack(list(renderer.frames(m))))


def test_motion_without_frames_is_an_error_before_any_frame(face, renderer):
    empty = MotionData.neutral(0.01, FPS)           # audio shorter than one frame: round(0.25) = 0 frames
    assert empty.n_frames == 0
    with pytest.raises(InvalidDataError, match="no frames.*shorter than one video frame"):
        renderer.frames(empty)                       # raised at the call, not at the first next()
    with pytest.raises(InvalidDataError, match="no frames"):
        iter_frames(face, empty)
    with pytest.raises(InvalidDataError, match="no frames"):
        render_video(face, empty)


def test_grey_rgba_tiny_and_faceless_references(face, astronaut):
    from synchrorama_core.errors import FaceNotFoundError
    from synchrorama_core.face import FaceImageError
    from skimage.transform import resize
    mo = motion([{"jaw_open": 1.0, "yaw": 6.0}, {"blink_l": 1.0, "blink_r": 1.0}])
    grey = astronaut @ np.array([0.299, 0.587, 0.114], np.float32)
    rgba = np.concatenate([astronaut, np.full((512, 512, 1), 0.5, np.float32)], axis=2)
    for img, want in ((grey, np.repeat(grey[:, :, None], 3, axis=2)), (rgba, astronaut * 0.5 + 0.5)):
        f = analyze_face(img)                         # grey -> RGB, RGBA composited over white
        assert np.abs(f.images[0] - want).max() < 1e-5
        out = render_video(f, mo)
        assert out.shape == (2, 512, 512, 3) and np.isfinite(out).all()
        if img.ndim == 2:
            assert np.abs(out[..., 0] - out[..., 2]).max() < 1e-5      # still grey after the warp
        assert T.mouth_opening(_redetect(out[0])) > T.mouth_opening(f.landmarks[0]) + 0.1
        # the warper alone takes grey / RGBA arrays the same way
        w = ReferenceWarper(img, f.landmarks[0])
        assert w.image.shape == (512, 512, 3) and np.abs(w.image - want).max() < 1e-5
    # a tiny reference (too small for face analysis) still renders when its landmarks are given ...
    with pytest.raises(FaceImageError, match="24x24"):
        analyze_face(resize(astronaut, (24, 24)))
    for side, ok in ((24, True), (12, False)):
        small = resize(astronaut, (side, side), order=1).astype(np.float32)
        k = side / 512
        fd = FaceData(images=[small], landmarks=[face.landmarks[0] * np.float32(k)],
                      boxes=[tuple(v * k for v in face.boxes[0])])
        if ok:
            out = render_video(fd, mo)
            assert out.shape == (2, side, side, 3) and np.isfinite(out).all() and out.max() <= 1
        else:                                         # ... until the face is only a few pixels
            with pytest.raises(InvalidDataError, match="too small"):
                WarpRenderer(fd)
    # no face at all: the error names the image
    with pytest.raises(FaceNotFoundError, match="no face found in reference image 2 of 2"):
        analyze_faces([astronaut, astronaut[330:, :]])


# ---------------------------------------------------------------------------- the node

def test_warp_renderer_node(pack, face, comfy_dirs):
    cls = pack.NODE_CLASS_MAPPINGS["SynchroRaMaWarpRenderer"]
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["SynchroRaMaWarpRenderer"].startswith("SynchroRaMa ")
    spec = cls.INPUT_TYPES()
    assert spec["required"]["face"][0] == "SR_FACE" and spec["required"]["motion"][0] == "SR_MOTION"
    assert cls.RETURN_TYPES == ("IMAGE", "FLOAT") and cls.CATEGORY == "SynchroRaMa/render"
    mo = motion([{}, {"jaw_open": 1.0}, {"blink_l": 1.0}], fps=24.0)
    assert spec["optional"]["neutralize"][1]["default"] == 1.0
    images, fps = getattr(cls(), cls.FUNCTION)(face=face, motion=mo, mouth_interior=True, blend_frames=4,
                                               neutralize=0.0)
    assert fps == 24.0      # the motion's fps, for Save Video / Create Video
    assert tuple(images.shape) == (3, 512, 512, 3) and str(images.dtype) == "torch.float32"
    assert float(images[0].sub(float(0)).abs().max()) <= 1.0
    assert np.abs(images[0].numpy() - face.images[0]).max() == 0.0
    assert np.abs(images[1].numpy() - face.images[0]).max() > 0.2
    rest, _ = cls().render(face=face, motion=motion([{}]))            # default: the neutral rest face
    assert T.mouth_opening(_redetect(rest[0].numpy())) < 0.05 < T.mouth_opening(face.landmarks[0])


def test_warp_renderer_node_progress_cancel_and_bad_motion(pack, face, comfy_dirs, monkeypatch):
    """The node reports progress and stops on a cancel through nodes/comfy_adapter.Progress (here
    standalone: its ComfyUI ends, ProgressBar and processing_interrupted, are replaced by recorders)."""
    import sys
    cls = pack.NODE_CLASS_MAPPINGS["SynchroRaMaWarpRenderer"]
    prog = sys.modules[cls.__module__].comfy.Progress
    seen = []
    monkeypatch.setattr(prog, "update", lambda self, d, t: seen.append((d, t)))
    mo = motion([{"jaw_open": i / 5} for i in range(6)])
    images, _ = cls().render(face=face, motion=mo)
    assert tuple(images.shape) == (6, 512, 512, 3) and seen == [(i, 6) for i in range(1, 7)]
    seen.clear()
    monkeypatch.setattr(prog, "cancelled", staticmethod(lambda: len(seen) >= 2))
    with pytest.raises(Cancelled):
        cls().render(face=face, motion=mo)
    assert len(seen) == 2
    monkeypatch.setattr(prog, "cancelled", staticmethod(lambda: False))
    with pytest.raises(InvalidDataError, match="no frames"):
        cls().render(face=face, motion=MotionData.neutral(0.0, FPS))
    with pytest.raises(InvalidDataError, match="SR_MOTION"):
        cls().render(face=face, motion={"frames": 3})
    with pytest.raises(InvalidDataError, match="reference 3"):
        cls().render(face=face, motion=mo, reference=3)


# ---------------------------------------------------------------------------- the streaming node (VIDEO)

def _audio(speech_wav, seconds):
    import torch
    from synchrorama_core.audio import decode_audio
    wave, sr = decode_audio(speech_wav, duration_s=seconds)
    return {"waveform": torch.from_numpy(wave)[None], "sample_rate": sr}     # core LoadAudio's AUDIO


def test_warp_render_video_node_streams_the_same_frames_into_a_video(pack, face, comfy_dirs, speech_wav):
    import av
    from synchrorama_core.video import probe_video
    cls = pack.NODE_CLASS_MAPPINGS["SynchroRaMaWarpRenderVideo"]
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["SynchroRaMaWarpRenderVideo"] == "SynchroRaMa Warp Render Video"
    assert cls.RETURN_TYPES == ("VIDEO",) and cls.CATEGORY == "SynchroRaMa/render"
    # the same renderer options as the IMAGE node, plus the audio and the quality
    img_cls = pack.NODE_CLASS_MAPPINGS["SynchroRaMaWarpRenderer"]
    assert set(cls.INPUT_TYPES()["optional"]) == set(img_cls.INPUT_TYPES()["optional"]) | {"audio", "crf"}
    mo = motion([{"jaw_open": (i % 6) / 5, "yaw": (i % 10) - 5.0} for i in range(30)])
    (video,) = getattr(cls(), cls.FUNCTION)(face=face, motion=mo, audio=_audio(speech_wav, 3.0), crf=12,
                                            hair_follow=0.5)
    path = video.get_stream_source()
    assert os.path.dirname(path) == str(comfy_dirs / "temp") and path.endswith(".mp4")
    assert os.listdir(comfy_dirs / "temp") == [os.path.basename(path)]        # no partial file beside it
    assert video.get_dimensions() == (512, 512) and abs(video.get_duration() - 30 / FPS) < 0.05
    p = probe_video(path)
    assert p["n_frames"] == 30 and p["fps"] == FPS and abs(p["audio_stream_duration_s"] - 30 / FPS) < 0.05
    # pixel for pixel the Warp Renderer's frames (through the encoder)
    ref, _ = img_cls().render(face=face, motion=mo, hair_follow=0.5)
    with av.open(path) as c:
        got = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.float64)
    want = np.clip(ref.numpy() * 255 + 0.5, 0, 255).astype(np.uint8).astype(np.float64)
    psnr = 10 * np.log10(255.0 ** 2 / np.mean((got - want) ** 2))
    assert psnr > 38, psnr
    # the VIDEO value's other readers: components and a stream copy with metadata
    comp = video.get_components()
    assert tuple(comp.images.shape) == (30, 512, 512, 3) and float(comp.frame_rate) == FPS
    assert comp.audio["sample_rate"] == _audio(speech_wav, 0.1)["sample_rate"]
    copy = str(comfy_dirs / "output" / "copy.mp4")
    video.save_to(copy, metadata={"prompt": {"1": {}}})
    assert probe_video(copy)["n_frames"] == 30
    with av.open(copy) as c:
        assert c.metadata["prompt"] == '{"1": {}}'


def test_warp_render_video_node_progress_cancel_and_bad_input(pack, face, comfy_dirs, monkeypatch):
    import sys
    cls = pack.NODE_CLASS_MAPPINGS["SynchroRaMaWarpRenderVideo"]
    prog = sys.modules[cls.__module__].comfy.Progress
    seen = []
    monkeypatch.setattr(prog, "update", lambda self, d, t: seen.append((d, t)))
    mo = motion([{"jaw_open": (i % 5) / 4} for i in range(40)])
    (video,) = cls().render(face=face, motion=mo)
    assert seen == [(i, 40) for i in range(1, 41)]                 # one step per frame written
    os.remove(video.get_stream_source())
    seen.clear()
    monkeypatch.setattr(prog, "cancelled", staticmethod(lambda: len(seen) >= 5))
    with pytest.raises(Cancelled):
        cls().render(face=face, motion=mo)
    assert 5 <= len(seen) < 40 and os.listdir(comfy_dirs / "temp") == []   # stopped early, no file left
    monkeypatch.setattr(prog, "cancelled", staticmethod(lambda: False))
    with pytest.raises(InvalidDataError, match="no frames"):
        cls().render(face=face, motion=MotionData.neutral(0.0, FPS))
    with pytest.raises(InvalidDataError, match="SR_MOTION"):
        cls().render(face=face, motion={"frames": 3})
    with pytest.raises(ValueError, match="AUDIO"):
        cls().render(face=face, motion=mo, audio=[0.0, 0.1])
    assert os.listdir(comfy_dirs / "temp") == []


def test_warp_render_video_node_memory_does_not_grow_with_the_clip(pack, face, comfy_dirs):
    """Peak traced memory (numpy buffers, the encoder's input frames) for 2 s and for 8 s of video:
    the same within a few MB, where holding the 150 extra frames would take 118 MB (uint8) or 470 MB
    (an IMAGE batch)."""
    import tracemalloc
    cls = pack.NODE_CLASS_MAPPINGS["SynchroRaMaWarpRenderVideo"]
    peaks = {}
    (warm,) = cls().render(face=face, motion=motion([{}] * 3))       # one-off set-up is not what is measured
    os.remove(warm.get_stream_source())
    for seconds in (2, 8):
        mo = motion([{"jaw_open": (i % 7) / 6, "yaw": (i % 20) / 2 - 5} for i in range(int(seconds * FPS))])
        tracemalloc.start()
        try:
            (video,) = cls().render(face=face, motion=mo)
            peaks[seconds] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        os.remove(video.get_stream_source())
    print(f"\ntraced peak: {peaks[2] / 1e6:.1f} MB (2 s), {peaks[8] / 1e6:.1f} MB (8 s)")
    assert peaks[8] - peaks[2] < 8e6, peaks


def test_turns_are_limited_gracefully_and_options_are_checked(face):
    """Yaw passes unchanged up to the knee, then is compressed smoothly (monotonic, no kink) and never
    exceeds max_yaw; the rendered frame of a 40 degree turn equals that of the limited turn."""
    from synchrorama_core.render.renderer import limit_turn
    a = np.linspace(-60, 60, 241)
    b = limit_turn(a, 22.0)
    assert np.allclose(b[np.abs(a) <= 12.0], a[np.abs(a) <= 12.0])
    assert (np.diff(b) > 0).all() and np.abs(b).max() < 22.0 and abs(float(limit_turn(30.0, 22.0)) - 21.5) < 0.3
    slope = np.diff(b) / np.diff(a)
    assert np.abs(np.diff(slope)).max() < 0.05                      # smooth: no kink at the knee
    limited, _ = WarpRenderer(face).target_landmarks(motion([{"yaw": 40.0}]))
    free = WarpRenderer(face, RenderOptions(max_yaw=0))             # 0 = no limit
    want, _ = free.target_landmarks(motion([{"yaw": float(limit_turn(40.0, 22.0))}]))
    full, _ = free.target_landmarks(motion([{"yaw": 40.0}]))
    assert np.abs(limited - want).max() < 1e-3 and np.abs(full - want).max() > 5.0
    with pytest.raises(InvalidDataError, match="neutralize"):
        RenderOptions(neutralize=1.5)
    with pytest.raises(InvalidDataError, match="max_yaw"):
        RenderOptions(max_yaw=-1)
