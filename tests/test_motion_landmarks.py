"""Motion -> landmarks (apply_motion) and motion frames, on the astronaut's real face-mesh landmarks."""
import numpy as np
import pytest

from synchrorama_core.errors import InvalidDataError
from synchrorama_core.face import analyze_face
from synchrorama_core.geometry.topology import eye_openness, mouth_opening
from synchrorama_core.geometry import topology as topo
from synchrorama_core.geometry import apply_motion, face_rig
from synchrorama_core.motion import render_motion_frames
from synchrorama_core.motion.draw import STYLES
from synchrorama_core.geometry.rig import euler_matrices, matrix_to_euler
from synchrorama_core.types import EXPRESSIONS, MotionData


@pytest.fixture(scope="module")
def face(astronaut):
    return analyze_face(astronaut, source="astronaut")


@pytest.fixture(scope="module")
def ref(face):
    return face.landmarks[0]


def _motion(n=3, fps=25.0, rot=None, tr=None, sc=None, **ex):
    m = MotionData.neutral(n / fps, fps)
    if rot is not None:
        m.rotation[:] = rot
    if tr is not None:
        m.translation[:] = tr
    if sc is not None:
        m.scale[:] = sc
    for k, v in ex.items():
        m.expressions[k][:] = v
    return m


def test_neutral_motion_returns_the_reference(ref):
    out = apply_motion(ref, _motion(4))
    assert out.shape == (4, 478, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, np.repeat(ref[None], 4, 0), atol=1e-3)


def test_euler_round_trip():
    r = np.random.default_rng(1).uniform(-60, 60, (200, 3))
    np.testing.assert_allclose(matrix_to_euler(euler_matrices(r)), r, atol=1e-9)


def test_rotation_signs_follow_the_motion_convention(ref):
    nose = topo.NOSE_TIP
    yaw = apply_motion(ref, _motion(1, rot=[15, 0, 0]))[0]
    assert yaw[nose, 0] - ref[nose, 0] > 3, "yaw > 0 turns the face towards image right"
    # the face turns: the subject's right cheek (image left) comes forward, the nose shifts more than the ears
    assert (yaw[nose, 0] - ref[nose, 0]) > (yaw[454, 0] - ref[454, 0])
    pitch = apply_motion(ref, _motion(1, rot=[0, 15, 0]))[0]
    assert pitch[nose, 1] - ref[nose, 1] > 3, "pitch > 0 tips the chin down"
    chin_fwd = pitch[topo.CHIN, 2] - ref[topo.CHIN, 2]
    assert chin_fwd > 0, "nodding moves the chin away from the camera"
    roll = apply_motion(ref, _motion(1, rot=[0, 0, 12]))[0]
    # clockwise in the image: the image-right eye (subject's left) goes down, the image-left eye up
    assert roll[topo.LEFT_EYE_OUTER, 1] > ref[topo.LEFT_EYE_OUTER, 1] + 2
    assert roll[topo.RIGHT_EYE_OUTER, 1] < ref[topo.RIGHT_EYE_OUTER, 1] - 2
    # rotations are rigid: distances between points are kept
    for out in (yaw, pitch, roll):
        d0 = np.linalg.norm(ref[topo.FOREHEAD] - ref[topo.CHIN])
        d1 = np.linalg.norm(out[topo.FOREHEAD] - out[topo.CHIN])
        assert abs(d1 - d0) < 1e-3 * d0


def test_translation_in_face_widths_and_scale(ref):
    rig = face_rig(ref)
    out = apply_motion(ref, _motion(1, tr=[0.5, -0.25]))[0]
    np.testing.assert_allclose(out[:, 0] - ref[:, 0], 0.5 * rig.width, atol=1e-3)
    np.testing.assert_allclose(out[:, 1] - ref[:, 1], -0.25 * rig.width, atol=1e-3)
    big = apply_motion(ref, _motion(1, sc=1.2))[0]
    w0 = np.ptp(ref[topo.FACE_OVAL, 0])
    assert abs(np.ptp(big[topo.FACE_OVAL, 0]) / w0 - 1.2) < 1e-3


@pytest.mark.parametrize("name", ["jaw_open", "mouth_press"])
def test_mouth_expressions(ref, name):
    out = apply_motion(ref, _motion(1, **{name: 1.0}))[0]
    before, after = float(mouth_opening(ref)), float(mouth_opening(out))
    if name == "jaw_open":
        assert after > before + 0.25
        assert out[topo.CHIN, 1] - ref[topo.CHIN, 1] > 0.08 * face_rig(ref).height
        # the upper face does not move
        np.testing.assert_allclose(out[topo.FOREHEAD], ref[topo.FOREHEAD], atol=1e-3)
    else:
        assert after < before * 0.6 + 0.01


def test_lip_corner_expressions(ref):
    w0 = np.linalg.norm(ref[topo.MOUTH_CORNER_LEFT, :2] - ref[topo.MOUTH_CORNER_RIGHT, :2])

    def width(out):
        return np.linalg.norm(out[topo.MOUTH_CORNER_LEFT, :2] - out[topo.MOUTH_CORNER_RIGHT, :2])
    corners = [topo.MOUTH_CORNER_LEFT, topo.MOUTH_CORNER_RIGHT]
    wide = apply_motion(ref, _motion(1, mouth_wide=1.0))[0]
    pucker = apply_motion(ref, _motion(1, mouth_pucker=1.0))[0]
    smile = apply_motion(ref, _motion(1, smile=1.0))[0]
    frown = apply_motion(ref, _motion(1, frown=1.0))[0]
    assert width(wide) > 1.15 * w0 and width(pucker) < 0.85 * w0
    assert (smile[corners, 1] < ref[corners, 1] - 1.5).all(), "smile raises the corners"
    assert (frown[corners, 1] > ref[corners, 1] + 1.0).all(), "frown lowers the corners"


def test_eye_and_brow_expressions(ref):
    l0, r0 = eye_openness(ref)
    bl = apply_motion(ref, _motion(1, blink_l=1.0))[0]
    l1, r1 = eye_openness(bl)
    assert l1 < 0.05 and abs(r1 - r0) < 1e-3, "blink_l closes the subject's left eye only"
    both = apply_motion(ref, _motion(1, blink_l=0.5, blink_r=0.5))[0]
    lh, rh = eye_openness(both)
    assert 0.3 * l0 < lh < 0.8 * l0 and 0.3 * r0 < rh < 0.8 * r0
    wide = apply_motion(ref, _motion(1, eye_wide=1.0))[0]
    squint = apply_motion(ref, _motion(1, eye_squint=1.0))[0]
    assert eye_openness(wide)[0] > 1.2 * l0 and eye_openness(squint)[0] < 0.8 * l0
    brows = np.concatenate([topo.LEFT_BROW, topo.RIGHT_BROW])
    up = apply_motion(ref, _motion(1, brow_raise=1.0))[0]
    down = apply_motion(ref, _motion(1, brow_furrow=1.0))[0]
    h = face_rig(ref).height
    assert (up[brows, 1] - ref[brows, 1]).mean() < -0.04 * h
    assert (down[brows, 1] - ref[brows, 1]).mean() > 0.02 * h
    gap = lambda a: abs(a[topo.LEFT_BROW, 0].min() - a[topo.RIGHT_BROW, 0].max())  # noqa: E731
    assert gap(down) < gap(ref), "furrowing pulls the brows together"
    wr = apply_motion(ref, _motion(1, nose_wrinkle=1.0))[0]
    assert (wr[topo.NOSE, 1] - ref[topo.NOSE, 1]).min() < -0.015 * h


def test_deformations_scale_with_the_face(ref):
    """Expressions are relative to face size: the same motion on a 2x larger face moves 2x as far."""
    m = _motion(2, rot=[[5, -3, 2], [-10, 4, 1]], tr=[0.1, 0.05], jaw_open=0.7, smile=0.5, blink_r=1.0,
                brow_raise=0.4)
    a = apply_motion(ref, m)
    b = apply_motion(ref * 2.0, m)
    np.testing.assert_allclose(b, 2.0 * a, rtol=1e-4, atol=1e-2)


def test_frame_selection_and_vectorised_equivalence(ref):
    rng = np.random.default_rng(0)
    n = 12
    m = _motion(n, rot=rng.uniform(-10, 10, (n, 3)), tr=rng.uniform(-.1, .1, (n, 2)), sc=rng.uniform(.9, 1.1, n),
                **{k: rng.uniform(0, 1, n) for k in EXPRESSIONS})
    all_ = apply_motion(ref, m)
    one = apply_motion(ref, m, 5)
    assert one.shape == (1, 478, 3)
    np.testing.assert_allclose(one[0], all_[5], atol=1e-4)
    np.testing.assert_allclose(apply_motion(ref, m, slice(2, 6)), all_[2:6], atol=1e-4)
    np.testing.assert_allclose(apply_motion(ref, m, [-1]), all_[-1:], atol=1e-4)
    still = apply_motion(ref, m, head_scale=0.0, expression_scale=0.0)
    np.testing.assert_allclose(still, np.repeat(ref[None], n, 0), atol=1e-3)
    with pytest.raises(IndexError):
        apply_motion(ref, m, n)


def test_bad_inputs_are_refused_clearly(ref):
    with pytest.raises(InvalidDataError, match="478, 3"):
        apply_motion(ref[:468], _motion(1))
    bad = ref.copy()
    bad[3, 0] = np.nan
    with pytest.raises(InvalidDataError, match="NaN"):
        apply_motion(bad, _motion(1))
    with pytest.raises(InvalidDataError, match="degenerate|too small"):
        apply_motion(np.zeros((478, 3)), _motion(1))
    with pytest.raises(InvalidDataError, match="SR_MOTION"):
        apply_motion(ref, {"rotation": 0})


@pytest.mark.parametrize("style", STYLES)
def test_motion_frames_draw_the_face_where_it_is(ref, face, style):
    h, w = face.images[0].shape[:2]
    m = _motion(2, rot=[[0, 0, 0], [20, 0, 0]], jaw_open=[0.0, 1.0])
    lm = apply_motion(ref, m)
    fr = render_motion_frames(lm, h, w, style=style)
    assert fr.shape == (2, h, w, 3) and fr.dtype == np.uint8
    x0, y0, x1, y1 = face.boxes[0]
    lit = fr[0].max(axis=2) > 0
    ys, xs = np.nonzero(lit)
    assert lit.sum() > 200
    assert x0 - 5 <= xs.min() and xs.max() <= x1 + 5 and y0 - 5 <= ys.min() and ys.max() <= y1 + 5
    # everything else is black
    assert lit[:, : int(x0) - 10].sum() == 0
    # the turned face is drawn further right
    xs1 = np.nonzero(fr[1].max(axis=2) > 0)[1]
    assert xs1.mean() > xs.mean() + 2


def test_mediapipe_style_colours(ref, face):
    h, w = face.images[0].shape[:2]
    fr = render_motion_frames(ref[None], h, w, style="mediapipe")[0]
    cols = {tuple(c) for c in fr.reshape(-1, 3)[fr.reshape(-1, 3).max(1) > 0].tolist()}
    assert (128, 128, 128) in cols and (224, 224, 224) in cols
    assert (255, 48, 48) in cols and (48, 255, 48) in cols
    # the subject's left eye (green) is on the image's right
    g = np.nonzero((fr == (48, 255, 48)).all(axis=2))[1].mean()
    r = np.nonzero((fr == (255, 48, 48)).all(axis=2))[1].mean()
    assert g > r


def test_laion_face_style_is_the_annotators(ref, face):
    """The MediaPipe-face ControlNet's annotator (LAION-Face) draws BGR colours and reverses the
    channels afterwards; left/right and gaze are encoded by colour, so the RGB values must be the
    reversed ones: the subject's right eye (180, 200, 10), left eye (10, 200, 180), right brow
    (180, 220, 10), left brow (10, 220, 180), lips (10, 180, 10), oval (10, 200, 10); irises are
    not drawn as loops but as 4 x 4 pupil squares at the iris centres, right (250, 200, 10),
    left (10, 200, 250); lines as OpenCV draws thickness 2 (about 3 px) at 512 px."""
    h, w = 512, 512
    lm = ref[:, :2] * (w / face.images[0].shape[1])
    fr = render_motion_frames(lm[None], h, w, style="laion_face")[0]
    cols = {tuple(c) for c in fr.reshape(-1, 3)[fr.reshape(-1, 3).max(1) > 0].tolist()}
    want = {(180, 200, 10), (10, 200, 180), (180, 220, 10), (10, 220, 180), (10, 180, 10), (10, 200, 10),
            (250, 200, 10), (10, 200, 250)}
    assert cols == want

    def mean_x(c):
        return np.nonzero((fr == c).all(axis=2))[1].mean()
    # the subject's right eye lies on the image's left
    nose = lm[topo.NOSE_TIP, 0]
    assert mean_x((180, 200, 10)) < nose < mean_x((10, 200, 180))
    assert mean_x((180, 220, 10)) < nose < mean_x((10, 220, 180))
    for centre, c in ((topo.RIGHT_IRIS_CENTER, (250, 200, 10)), (topo.LEFT_IRIS_CENTER, (10, 200, 250))):
        ys, xs = np.nonzero((fr == c).all(axis=2))
        x, y = (int(v) for v in lm[centre])
        assert len(xs) == 16 and set(xs.tolist()) == set(range(x - 2, x + 2)) and set(ys.tolist()) == set(range(y - 2, y + 2))
    # the annotator's cv2.line(thickness=2) fills a 2 px band inclusive of its outline: across the
    # nearly vertical side of the face oval a horizontal scan meets 3 lit pixels around the edge
    row = int(lm[topo.CHEEK_RIGHT, 1])
    lit = np.nonzero((fr[row] == (10, 200, 10)).all(axis=1))[0]
    left = lit[lit < nose]
    assert len(left) == 3 and abs(left.mean() - np.floor(lm[topo.CHEEK_RIGHT, 0])) <= 1.5


def test_motion_frames_errors(ref):
    with pytest.raises(InvalidDataError, match="style"):
        render_motion_frames(ref[None], 64, 64, style="sketchy")
    with pytest.raises(InvalidDataError, match="size"):
        render_motion_frames(ref[None], 0, 64)
    with pytest.raises(InvalidDataError, match="landmarks"):
        render_motion_frames(ref[:10][None], 64, 64)
