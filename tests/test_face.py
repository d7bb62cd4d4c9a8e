"""Face analysis on the real astronaut photo: landmarks, geometry, bad input, models, node."""
from __future__ import annotations

import os
import shutil
import zipfile

import numpy as np
import pytest

from synchrorama_core.errors import BackendError, FaceNotFoundError, ModelNotFoundError
from synchrorama_core.face import (FaceImageError, FaceTracker, analyze_face, analyze_faces, clear_model_cache,
                                   find_faces, load_face_models, measure_landmarks, track_landmarks)
from synchrorama_core.face import models as face_models
from synchrorama_core.geometry import topology as T
from synchrorama_core.image import to_rgb_float
from synchrorama_core.types import FaceData


@pytest.fixture(scope="module")
def ref(astronaut):
    return analyze_face(astronaut, source="astronaut")


def _shift(img, dx, dy, fill=0.5):
    out = np.full_like(img, fill)
    h, w = img.shape[:2]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = img[max(-dy, 0):h - max(dy, 0),
                                                                      max(-dx, 0):w - max(dx, 0)]
    return out


# ---------------------------------------------------------------------------- landmarks

def test_astronaut_landmarks_are_plausible(ref, astronaut):
    assert isinstance(ref, FaceData) and ref.count == 1
    lm = ref.landmarks[0]
    assert lm.shape == (478, 3) and lm.dtype == np.float32 and np.isfinite(lm).all()
    x0, y0, x1, y1 = ref.boxes[0]
    # the face of the astronaut photo lies around x 180-275, y 65-180 (512x512 image)
    assert 150 < x0 < 200 and 250 < x1 < 300 and 40 < y0 < 100 and 150 < y1 < 210
    inside = (lm[:, 0] >= x0 - 1e-3) & (lm[:, 0] <= x1 + 1e-3) & (lm[:, 1] >= y0 - 1e-3) & (lm[:, 1] <= y1 + 1e-3)
    assert inside.all()
    eyes_y = lm[np.r_[T.LEFT_EYE, T.RIGHT_EYE], 1].mean()
    mouth_y = lm[T.LIPS_OUTER, 1].mean()
    brows_y = lm[np.r_[T.LEFT_BROW, T.RIGHT_BROW], 1].mean()
    assert brows_y < eyes_y < lm[T.NOSE_TIP, 1] < mouth_y < lm[T.CHIN, 1]
    # subject's right eye is on the image's left; irises sit between their eye corners
    assert lm[T.RIGHT_EYE_OUTER, 0] < lm[T.RIGHT_IRIS_CENTER, 0] < lm[T.RIGHT_EYE_INNER, 0]
    assert lm[T.LEFT_EYE_INNER, 0] < lm[T.LEFT_IRIS_CENTER, 0] < lm[T.LEFT_EYE_OUTER, 0]
    # iris centre = middle of its 4 contour points, radius a few pixels
    for c in (T.RIGHT_IRIS, T.LEFT_IRIS):
        assert np.abs(lm[c[0], :2] - lm[c[1:], :2].mean(0)).max() < 1.0
        r = np.linalg.norm(lm[c[1:], :2] - lm[c[0], :2], axis=1)
        assert (2.0 < r).all() and (r < 8.0).all()
    # depth: the nose tip is nearer the camera (smaller z) than the cheeks at the face outline
    assert lm[T.NOSE_TIP, 2] < lm[234, 2] - 10 and lm[T.NOSE_TIP, 2] < lm[454, 2] - 10
    # z in pixel scale: the face's depth range is comparable to its width
    assert 0.2 < np.ptp(lm[:468, 2]) / (x1 - x0) < 1.5
    # measurements: open eyes, smiling mouth slightly open, ~45 px between the irises
    le, re = T.eye_openness(lm)
    assert 0.2 < le < 0.5 and 0.2 < re < 0.5 and abs(le - re) < 0.1
    assert 0.05 < T.mouth_opening(lm) < 0.4
    assert 35 < T.interocular(lm) < 55
    assert 85 < T.face_size(lm) < 130
    assert ref.sources == ["astronaut"] and ref.meta["faces_found"] == [1]
    assert abs(ref.meta["roll_deg"][0]) < 10


def test_landmarks_follow_translation_scale_rotation_and_mirror(ref, astronaut):
    lm = ref.landmarks[0]
    # translation by (+23, -17) pixels
    moved = analyze_face(_shift(astronaut, 23, -17)).landmarks[0]
    d = moved[:, :2] - lm[:, :2]
    assert np.abs(d.mean(0) - [23, -17]).max() < 1.0 and np.abs(d - d.mean(0)).mean() < 1.0
    # 2x upscaled (1024x1024): coordinates (and z) double
    big = np.repeat(np.repeat(astronaut, 2, 0), 2, 1)
    lm2 = analyze_face(big).landmarks[0]
    assert np.abs(lm2[:, :2] / 2 - lm[:, :2]).mean() < 1.0
    assert 1.8 < np.ptp(lm2[:468, 2]) / np.ptp(lm[:468, 2]) < 2.2
    # rotated 20 degrees about the face centre: the measured roll follows
    from skimage.transform import rotate
    cx, cy = lm[:, 0].mean(), lm[:, 1].mean()
    rot = rotate(astronaut, 20, center=(cx, cy), mode="edge").astype(np.float32)
    fr = analyze_face(rot)
    assert abs(abs(fr.meta["roll_deg"][0] - ref.meta["roll_deg"][0]) - 20) < 4
    # mirrored: the subject's right eye becomes the left one
    mir = analyze_face(np.ascontiguousarray(astronaut[:, ::-1])).landmarks[0]
    w = astronaut.shape[1]
    assert abs((w - mir[T.LEFT_IRIS_CENTER, 0]) - lm[T.RIGHT_IRIS_CENTER, 0]) < 2.0
    assert abs((w - mir[T.RIGHT_IRIS_CENTER, 0]) - lm[T.LEFT_IRIS_CENTER, 0]) < 2.0


def test_greyscale_rgba_uint8_and_small_inputs_give_the_same_face(ref, astronaut):
    lm = ref.landmarks[0]
    grey = astronaut @ np.array([0.299, 0.587, 0.114], np.float32)
    for img in (grey, grey[:, :, None], (astronaut * 255).astype(np.uint8)):
        assert np.abs(analyze_face(img).landmarks[0][:, :2] - lm[:, :2]).mean() < 2.5
    rgba = np.concatenate([astronaut, np.ones_like(astronaut[:, :, :1])], axis=2)
    rgba[:60, :, 3] = 0.0  # transparent band, composited over white
    fd = analyze_face(rgba)
    assert fd.images[0].shape == (512, 512, 3) and np.allclose(fd.images[0][:60], 1.0)
    assert np.abs(fd.landmarks[0][:, :2] - lm[:, :2]).mean() < 1.0
    # a 160x160 head crop (about 96 px of face) still works
    crop = astronaut[40:200, 145:305]
    small = analyze_face(crop).landmarks[0]
    assert np.abs(small[:, :2] + [145, 40] - lm[:, :2]).mean() < 2.0


def test_several_references_of_different_sizes(ref, astronaut):
    crop = np.ascontiguousarray(astronaut[20:380, 100:400])          # 360x300
    from skimage.transform import resize
    small = resize(astronaut, (384, 384), anti_aliasing=True).astype(np.float32)
    fd = analyze_faces([astronaut, crop, small], sources=["a", "b", "c"])
    assert fd.count == 3 and [im.shape[:2] for im in fd.images] == [(512, 512), (360, 300), (384, 384)]
    lm = ref.landmarks[0][:, :2]
    assert np.abs(fd.landmarks[1][:, :2] + [100, 20] - lm).mean() < 1.5
    assert np.abs(fd.landmarks[2][:, :2] * (512 / 384) - lm).mean() < 2.0
    # the value survives saving (types.py contract)
    back = FaceData.from_dict(fd.to_dict())
    assert np.array_equal(back.landmarks[2], fd.landmarks[2]) and back.boxes == fd.boxes


def test_largest_face_or_face_by_index(astronaut):
    from skimage.transform import resize
    face = astronaut[30:230, 125:325]                                     # 200x200 head
    canvas = np.full((420, 760, 3), 0.6, np.float32)
    canvas[20:420, 20:420] = resize(face, (400, 400), anti_aliasing=True)  # big face on the left
    canvas[150:350, 520:720] = face                                        # smaller face on the right
    faces = find_faces(canvas)
    assert len(faces) == 2
    left, right = faces
    assert (left.box[0] + left.box[2]) / 2 < 420 < (right.box[0] + right.box[2]) / 2
    largest = analyze_face(canvas).landmarks[0]
    assert largest[:, 0].mean() < 420
    assert analyze_face(canvas, face_index=1).landmarks[0][:, 0].mean() > 520
    assert analyze_face(canvas, face_index=0).meta["face_index"] == [0]
    with pytest.raises(FaceNotFoundError, match="has 2 face"):
        analyze_face(canvas, face_index=2)


# ---------------------------------------------------------------------------- bad input

def test_no_face_names_the_image(astronaut):
    rng = np.random.default_rng(0)
    noise = rng.random((300, 400, 3), dtype=np.float32)
    blank = np.full((256, 256, 3), 0.8, np.float32)
    with pytest.raises(FaceNotFoundError, match=r"reference image 2 of 3 \(noise\).*frontal portrait"):
        analyze_faces([astronaut, noise, astronaut], sources=["a", "noise", "c"])
    with pytest.raises(FaceNotFoundError, match="no face found in the reference image"):
        analyze_face(blank)
    # an error is a ValueError for generic handlers too
    with pytest.raises(ValueError):
        analyze_face(astronaut[300:, :])            # the body, no face


def test_tiny_odd_and_broken_images_get_clear_errors(astronaut):
    with pytest.raises(FaceImageError, match=r"20x24 pixels.*at least 32x32"):
        analyze_faces([astronaut, astronaut[:24, :20]])
    with pytest.raises(FaceImageError, match="shape"):
        analyze_face(np.zeros((64, 64, 5), np.float32))
    bad = astronaut.copy()
    bad[5, 5, 0] = np.nan
    with pytest.raises(FaceImageError, match="NaN"):
        analyze_face(bad)
    with pytest.raises(FaceImageError, match="no reference image"):
        analyze_faces([])
    with pytest.raises(FaceImageError, match="face_index"):
        analyze_face(astronaut, face_index=-3)
    # 48x48 of the whole photo: too little face for the detector -> no face, named
    from skimage.transform import resize
    with pytest.raises(FaceNotFoundError):
        analyze_face(resize(astronaut, (48, 48), anti_aliasing=True))
    assert to_rgb_float(np.zeros((40, 40), np.uint8)).shape == (40, 40, 3)


# ---------------------------------------------------------------------------- tracking

def test_tracking_follows_motion_and_recovers_after_losing_the_face(ref, astronaut):
    lm = ref.landmarks[0]
    shifts = [(0, 0), (4, 2), (8, 4), (12, 6), (16, 8), None, (8, 0), (0, 0)]
    frames = np.stack([_shift(astronaut, *s) if s else np.full_like(astronaut, 0.3) for s in shifts])
    tracker = FaceTracker()
    out = [tracker(f) for f in frames]
    assert out[5] is None and all(o is not None for i, o in enumerate(out) if i != 5)
    for s, o in zip(shifts, out):
        if s:
            assert np.abs((o[:, :2] - lm[:, :2]).mean(0) - s).max() < 1.0
    assert tracker.detections == 3          # first frame, the blank frame (in vain), the frame after it
    # the function form takes a batch (ComfyUI IMAGE style) and reports progress
    import torch
    seen = []
    res = track_landmarks(torch.from_numpy(frames[:3]), progress=lambda d, t: seen.append((d, t)))
    assert len(res) == 3 and seen[-1] == (3, 3)
    assert np.abs(res[2][:, :2] - out[2][:, :2]).mean() < 0.5
    m = measure_landmarks(out)
    assert m["found"].tolist() == [True] * 5 + [False, True, True]
    assert np.isnan(m["mouth_opening"][5]) and np.allclose(m["mouth_opening"][0], T.mouth_opening(out[0]))
    assert np.nanmax(np.abs(m["roll_deg"])) < 10 and np.all(m["face_size"][~np.isnan(m["face_size"])] > 80)


def test_tracking_measures_a_mouth_opened_in_the_pixels(ref, astronaut):
    """Open the mouth in the pixels: a dark gap between the lips, the jaw below moved down."""
    lm = ref.landmarks[0]
    y = int(round((lm[T.UPPER_LIP_INNER, 1] + lm[T.LOWER_LIP_INNER, 1]) / 2))
    x0, _, x1, _ = (int(v) for v in ref.boxes[0])
    mx0, mx1 = int(lm[T.MOUTH_CORNER_RIGHT, 0]) + 3, int(lm[T.MOUTH_CORNER_LEFT, 0]) - 3
    frames = []
    for gap in (0, 4, 8, 12):
        f = astronaut.copy()
        f[y + gap:, x0:x1] = astronaut[y:512 - gap, x0:x1]       # jaw and chin move down
        f[y:y + gap, x0:x1] = astronaut[y - 1:y, x0:x1]            # skin fills the columns outside the mouth
        f[y:y + gap, mx0:mx1] = 0.08                               # dark mouth cavity
        frames.append(f)
    res = track_landmarks(frames)
    gaps = [float(T.mouth_opening(r)) for r in res]
    assert all(b > a + 0.02 for a, b in zip(gaps, gaps[1:])), gaps


def test_cancel_and_progress(astronaut):
    from synchrorama_core.errors import Cancelled
    calls = []
    analyze_faces([astronaut, astronaut], progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 2), (2, 2)]
    with pytest.raises(Cancelled):
        analyze_faces([astronaut, astronaut], cancelled=lambda: True)


# ---------------------------------------------------------------------------- topology

def test_topology_groups_and_triangles():
    assert len(T.LIPS_OUTER) == 20 and len(T.LIPS_INNER) == 20
    assert T.MOUTH_CORNER_RIGHT in T.LIPS_OUTER and T.UPPER_LIP_INNER in T.LIPS_INNER
    assert len(T.LEFT_EYE) == len(T.RIGHT_EYE) == 16 and len(T.LEFT_BROW) == len(T.RIGHT_BROW) == 10
    assert list(T.LEFT_IRIS) == [473, 474, 475, 476, 477] and list(T.RIGHT_IRIS) == [468, 469, 470, 471, 472]
    assert len(T.FACE_OVAL) == 36 and len(T.CONTOURS["face_oval"]) == 36 and len(T.NOSE) > 10
    tri = T.TRIANGLES
    assert tri.shape[1] == 3 and len(np.unique(tri)) == 468
    # a manifold mesh: each edge borders 1 (boundary) or 2 triangles; Euler: disk with 3 holes
    from collections import Counter
    use = Counter()
    for a, b, c in tri.tolist():
        use.update([(a, b), (a, c), (b, c)])
    assert set(use.values()) == {1, 2}
    assert 468 - len(use) + len(tri) == 1 - 3          # outline + two eyes + mouth
    with pytest.raises(KeyError, match="known"):
        T.group("ears")


def test_measurements_respond_to_moving_landmarks(ref):
    lm = ref.landmarks[0].copy()
    base = float(T.mouth_opening(lm))
    opened = lm.copy()
    opened[[87, 14, 317], 1] += 10
    assert T.mouth_opening(opened) > base + 0.08
    closed = lm.copy()
    closed[[153, 145, 144], :2] = closed[[158, 159, 160], :2]
    le, re = T.eye_openness(closed)
    assert re < 0.02 and le > 0.2
    batch = np.stack([lm, opened])
    assert T.mouth_opening(batch).shape == (2,)


# ---------------------------------------------------------------------------- models

@pytest.fixture()
def fresh_models():
    clear_model_cache()
    yield
    clear_model_cache()


def test_models_from_a_task_bundle_and_a_folder(tmp_path, astronaut, ref, fresh_models):
    assets = face_models.ASSETS
    task = tmp_path / "face_landmarker.task"
    with zipfile.ZipFile(task, "w") as z:
        z.write(os.path.join(assets, "face_detection_short_range.tflite"), "face_detector.tflite")
        z.write(os.path.join(assets, "face_landmark.tflite"), "face_landmarks_detector.tflite")
    fd = analyze_face(astronaut, model=str(task))
    assert fd.meta["models"]["landmarks"].endswith("face_landmarks_detector.tflite")
    assert np.allclose(fd.landmarks[0], ref.landmarks[0], atol=1e-3)
    # by name in the model folder
    folder = tmp_path / "face"
    folder.mkdir()
    shutil.copy(os.path.join(assets, "face_landmark.tflite"), folder / "my_landmarks.tflite")
    fd = analyze_face(astronaut, model="my_landmarks.tflite", search_dirs=[str(folder)])
    assert fd.meta["models"]["landmarks"] == str(folder / "my_landmarks.tflite")
    with pytest.raises(ModelNotFoundError, match="not found. Expected it at"):
        load_face_models("nope.task", search_dirs=[str(folder)])
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"not a model" * 10)
    with pytest.raises(BackendError, match="cannot load face model"):
        load_face_models(str(bad))
    notask = tmp_path / "other.task"
    with zipfile.ZipFile(notask, "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(ModelNotFoundError, match="face_landmarks_detector.tflite"):
        load_face_models(str(notask))


def test_without_bundled_models_the_error_says_where_to_put_which_file(tmp_path, monkeypatch, astronaut,
                                                                       fresh_models):
    src = face_models.ASSETS
    monkeypatch.setattr(face_models, "ASSETS", str(tmp_path / "missing"))
    monkeypatch.setattr(face_models, "_mediapipe_dirs", lambda: [])
    monkeypatch.setenv("SYNCHRORAMA_MODELS", str(tmp_path / "models"))
    where = str(tmp_path / "models" / "face")
    with pytest.raises(ModelNotFoundError) as e:
        load_face_models()
    msg = str(e.value)
    assert where in msg and "face_landmark.tflite" in msg and "mediapipe==0.10.21" in msg
    # put the files where the message says: it works again
    os.makedirs(where)
    for f in ("face_detection_short_range.tflite", "face_landmark.tflite", "iris_landmark.tflite"):
        shutil.copy(os.path.join(src, f), where)
    clear_model_cache()
    fd = analyze_face(astronaut)
    assert fd.meta["models"]["iris"] == os.path.join(where, "iris_landmark.tflite")


def test_missing_tflite_runtime_says_what_to_install(monkeypatch, fresh_models):
    import sys
    for mod in ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime", "tflite_runtime.interpreter",
                "tensorflow"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(BackendError, match="pip install ai-edge-litert"):
        load_face_models()


def test_extract_assets_reads_topology_as_data():
    from synchrorama_core.face.extract_assets import parse_connections
    src = ("import os\nFACEMESH_LIPS = frozenset([(61, 146), (146, 91)])\n"
           + "".join(f"{n} = frozenset([(1, 2)])\n" for n in
                     ("FACEMESH_LEFT_EYE", "FACEMESH_RIGHT_EYE", "FACEMESH_LEFT_EYEBROW", "FACEMESH_RIGHT_EYEBROW",
                      "FACEMESH_LEFT_IRIS", "FACEMESH_RIGHT_IRIS", "FACEMESH_FACE_OVAL", "FACEMESH_NOSE",
                      "FACEMESH_TESSELATION"))
           + "FACEMESH_CONTOURS = frozenset().union(*[FACEMESH_LIPS])\n")
    g = parse_connections(src)
    assert g["lips"] == [(61, 146), (146, 91)] and g["nose"] == [(1, 2)]
    with pytest.raises(ValueError, match="lacks"):
        parse_connections("FACEMESH_LIPS = frozenset([(1, 2)])\n")


# ---------------------------------------------------------------------------- node

def test_face_analysis_node(pack, astronaut, comfy_dirs):
    import torch
    node_cls = pack.NODE_CLASS_MAPPINGS["SynchroRaMaFaceAnalysis"]
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["SynchroRaMaFaceAnalysis"] == "SynchroRaMa Face Analysis"
    spec = node_cls.INPUT_TYPES()
    assert spec["required"]["image"][0] == "IMAGE" and node_cls.RETURN_TYPES == ("SR_FACE", "IMAGE")
    img = torch.from_numpy(astronaut)[None]
    face, preview = getattr(node_cls(), node_cls.FUNCTION)(image=img, face_index=-1,
                                                           image_2=img[:, 40:400, 100:400])
    assert face.count == 2 and face.sources == ["image", "image_2"]
    assert preview.shape == (2, 512, 512, 3) and preview.dtype == torch.float32
    # the mesh is drawn on the preview, nowhere else
    diff = (preview[0].numpy() - astronaut).any(axis=2)
    ys, xs = np.nonzero(diff)
    x0, y0, x1, y1 = face.boxes[0]
    assert diff.sum() > 500 and xs.min() >= x0 - 3 and xs.max() <= x1 + 3 and ys.min() >= y0 - 3
    with pytest.raises(FaceNotFoundError, match="image_2"):
        getattr(node_cls(), node_cls.FUNCTION)(image=img, image_2=torch.full((1, 128, 128, 3), 0.5))


# ---------------------------------------------------------------------------- against MediaPipe itself

def test_matches_mediapipe_legacy_face_mesh(astronaut):
    """``data/face_legacy_landmarks.npz`` holds the 478 landmarks that mediapipe 0.10.21's own
    ``mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True)`` gave for the
    astronaut, the astronaut rotated 15 degrees about (225, 125) (skimage ``rotate``, mode
    "edge") and the mirrored astronaut (x, y in pixels, z = z_normalised * width), produced in a
    separate Python with numpy<2 and protobuf 4.25.  Ours (no attention model) stays within a
    few percent of the interocular distance, and the iris contour order is MediaPipe's."""
    from skimage.transform import rotate
    ref = np.load(os.path.join(os.path.dirname(__file__), "data", "face_legacy_landmarks.npz"))
    rot = (rotate((astronaut * 255).astype(np.uint8), 15, center=(225, 125), mode="edge") * 255).astype(np.uint8)
    for name, img in (("astronaut", astronaut), ("astronaut_rot15", rot),
                      ("astronaut_mirror", np.ascontiguousarray(astronaut[:, ::-1]))):
        lm, mp = analyze_face(img).landmarks[0], ref[name]
        iod = np.linalg.norm(mp[T.RIGHT_IRIS_CENTER, :2] - mp[T.LEFT_IRIS_CENTER, :2])
        err = np.linalg.norm(lm[:, :2] - mp[:, :2], axis=1)
        assert err.mean() < 0.05 * iod, (name, err.mean())
        assert err[T.LIPS_INNER].mean() < 0.04 * iod and err[468:].mean() < 0.03 * iod, name
        assert np.corrcoef(lm[:468, 2], mp[:468, 2])[0, 1] > 0.99
        assert 0.9 < np.std(lm[:468, 2]) / np.std(mp[:468, 2]) < 1.1
        assert abs(float(T.mouth_opening(lm)) - float(T.mouth_opening(mp))) < 0.03
