"""Warp renderer on the real astronaut photo: geometry, pixels re-measured with the face module,
multiple references, streaming, bad input, the node."""
from __future__ import annotations

import types

import numpy as np
import pytest

from synchrorama_core.errors import Cancelled, InvalidDataError
from synchrorama_core.face import FaceTracker, analyze_face, analyze_faces
from synchrorama_core.face import topology as T
from synchrorama_core.render import (RenderOptions, ReferenceWarper, WarpOptions, WarpRenderer, build_mesh,
                                     expression_features, iter_frames, render_video)
from synchrorama_core.render.mesh import MOUTH, RING
from synchrorama_core.render.raster import signed_area, warp_triangles
from synchrorama_core.render.synth import bilinear, luminance
from synchrorama_core.timing import n_frames
from synchrorama_core.types import EXPRESSIONS, FaceData, MotionData

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

def test_zero_motion_reproduces_the_reference(face, renderer, astronaut):
    frames = renderer.render(motion([{}] * 3))
    assert frames.shape == (3, 512, 512, 3) and frames.dtype == np.float32
    assert np.abs(frames - astronaut[None]).max() == 0.0


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
    ref_open = float(T.mouth_opening(face.landmarks[0]))
    assert abs(opening[0] - ref_open) < 0.02
    assert all(b > a + 0.03 for a, b in zip(opening, opening[1:])), opening
    assert opening[-1] > ref_open + 0.15
    # the new opening is a dark cavity below a band of teeth, not stretched lips
    tg, _ = renderer.target_landmarks(motion([{"jaw_open": 1.0}]))
    up, lo = tg[0][renderer.warpers[0].mesh.mouth.upper, :2], tg[0][renderer.warpers[0].mesh.mouth.lower, :2]
    inside = _polygon_mask(np.r_[up, lo[::-1]], 512, 512)
    lum = luminance(frames[-1])[inside]
    lip_lum = float(luminance(renderer.warpers[0].lip_rgb))
    assert np.median(lum) < 0.6 * lip_lum
    assert np.quantile(lum, 0.95) > 0.6           # teeth


def _eye_not_skin(frame, face, warper) -> list:
    """Per eye (subject's right, left): share of the pixels inside the reference's open-eye outline
    whose colour differs clearly from the lid skin (sclera, iris, lashes)."""
    out = []
    for ch, skin in ((warper.mesh.eye_r, warper.eye_skin[0]), (warper.mesh.eye_l, warper.eye_skin[1])):
        lm = face.landmarks[0]
        mask = _polygon_mask(np.r_[lm[ch.upper, :2], lm[ch.lower, :2][::-1]], *frame.shape[:2])
        out.append(float((np.abs(frame[mask] - np.median(skin, axis=0)).max(axis=1) > 0.2).mean()))
    return out


def test_blink_closes_the_eyes_in_the_pixels(face, renderer):
    frames = renderer.render(motion([{}, {"blink_l": 1.0, "blink_r": 1.0}, {"blink_l": 1.0}, {"blink_r": 1.0},
                                     {"blink_l": 0.5, "blink_r": 0.5}]))
    w = renderer.warpers[0]
    # re-detected: the face-mesh model reads ~0.24 even on an eye painted shut (its eye contours
    # are not refined), ~0.335 on the open eyes of this photo; a full blink must come near that floor
    (l0, r0), (l1, r1) = T.eye_openness(_redetect(frames[0])), T.eye_openness(_redetect(frames[1]))
    assert l1 < l0 - 0.05 and r1 < r0 - 0.05, (l0, r0, l1, r1)
    # measured directly: the eyeball disappears under the lid, one eye at a time, half at half
    vis = [_eye_not_skin(f, face, w) for f in frames]
    (er0, el0), (er1, el1), (er2, el2), (er3, el3), (er4, el4) = vis
    assert er0 > 0.5 and el0 > 0.5, vis
    assert er1 < 0.6 * er0 and el1 < 0.45 * el0, vis
    assert el2 < 0.45 * el0 and er2 == er0, vis           # blink_l closes the subject's left eye only
    assert er3 < 0.6 * er0 and el3 == el0, vis
    assert er1 < er4 < er0 and el1 < el4 < el0, vis
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
    open_mouth = renderer.render(motion([{"jaw_open": 1.0}]))[0]
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


# ---------------------------------------------------------------------------- the node

def test_warp_renderer_node(pack, face, comfy_dirs):
    cls = pack.NODE_CLASS_MAPPINGS["SynchroRaMaWarpRenderer"]
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["SynchroRaMaWarpRenderer"].startswith("SynchroRaMa ")
    spec = cls.INPUT_TYPES()
    assert spec["required"]["face"][0] == "SR_FACE" and spec["required"]["motion"][0] == "SR_MOTION"
    assert cls.RETURN_TYPES[0] == "IMAGE" and cls.CATEGORY == "SynchroRaMa/render"
    mo = motion([{}, {"jaw_open": 1.0}, {"blink_l": 1.0}])
    (images,) = getattr(cls(), cls.FUNCTION)(face=face, motion=mo, mouth_interior=True, blend_frames=4)
    assert tuple(images.shape) == (3, 512, 512, 3) and str(images.dtype) == "torch.float32"
    assert float(images[0].sub(float(0)).abs().max()) <= 1.0
    assert np.abs(images[0].numpy() - face.images[0]).max() == 0.0
    assert np.abs(images[1].numpy() - face.images[0]).max() > 0.2
