"""A2M stage nodes called directly (no ComfyUI) on real espeak-ng speech and the astronaut portrait:
A2M Motion (procedural and a tiny neural model), Motion Frames, Save/Load Motion, Motion Adjust."""
import importlib
import json
import os
import shutil

import numpy as np
import pytest

from synchrorama_core.audio import load_speech
from synchrorama_core.audio.phones import speech_phones
from synchrorama_core.errors import Cancelled, InvalidDataError, ModelNotFoundError
from synchrorama_core.face import analyze_face
from synchrorama_core.geometry import apply_motion, face_rig
from synchrorama_core.geometry.rest import rest_landmarks
from synchrorama_core.motion import (blend_motion, fit_landmarks, generate_procedural, motion_frames,
                                     render_motion_frames, resample_motion)
from synchrorama_core.motion.neural import NeuralA2M, default_config
from synchrorama_core.types import EMOTIONS, EmotionData, MotionData, SceneData, SceneSegment

FPS = 25.0
KEYS = ("SynchroRaMaA2MMotion", "SynchroRaMaMotionFrames", "SynchroRaMaSaveMotion", "SynchroRaMaLoadMotion",
        "SynchroRaMaMotionAdjust")


@pytest.fixture(scope="module")
def speech(make_speech):
    return load_speech(make_speech("Good morning. It is lovely to see you again, shall we begin?"), FPS)


@pytest.fixture(scope="module")
def short_speech(make_speech):
    return load_speech(make_speech("See you soon."), FPS)


@pytest.fixture(scope="module")
def face(astronaut):
    return analyze_face(astronaut, source="astronaut")


@pytest.fixture()
def nodes(pack):
    return {k: pack.NODE_CLASS_MAPPINGS[k]() for k in KEYS}


@pytest.fixture()
def mod(pack):
    return importlib.import_module(f"{pack.__name__}.nodes.motion")


def _emotion(sp, name, intensity=0.8):
    n = sp.n_frames
    p = np.zeros((n, len(EMOTIONS)), np.float32)
    p[:, EMOTIONS.index(name)] = 1.0
    return EmotionData(fps=sp.fps, duration_s=sp.duration_s, probs=p, valence=np.zeros(n), arousal=np.zeros(n),
                       intensity=np.full(n, intensity, np.float32))


def _check_image(img, batch=None, hw=None):
    import torch
    assert isinstance(img, torch.Tensor) and img.dtype == torch.float32 and img.ndim == 4 and img.shape[3] == 3
    assert 0.0 <= float(img.min()) and float(img.max()) <= 1.0
    if batch is not None:
        assert img.shape[0] == batch
    if hw is not None:
        assert tuple(img.shape[1:3]) == tuple(hw)


def test_registration(pack):
    for k in KEYS:
        assert pack.NODE_CLASS_MAPPINGS[k].CATEGORY == "SynchroRaMa/motion"
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["SynchroRaMaA2MMotion"] == "SynchroRaMa A2M Motion"
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["SynchroRaMaMotionFrames"] == "SynchroRaMa Motion Frames"
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["SynchroRaMaMotionAdjust"] == "SynchroRaMa Motion Adjust"


# ----------------------------------------------------------------------------- A2M Motion

def test_a2m_procedural_outputs_and_controls(nodes, speech):
    node = nodes["SynchroRaMaA2MMotion"]
    m, curves, summary = node.generate(speech, "procedural", 0.5, 1.2, 0.8, 20.0, 2.0, 11)
    assert isinstance(m, MotionData) and m.n_frames == speech.n_frames and m.fps == speech.fps
    assert m.generator == "procedural"
    assert m.meta["config"] == {"head_scale": 0.5, "expression_scale": 1.2, "lip_scale": 0.8, "blink_rate": 20.0,
                                "lead_frames": 2.0, "seed": 11}
    # the node is the core generator with the widgets as controls, nothing else
    ref = generate_procedural(speech, head_scale=0.5, expression_scale=1.2, lip_scale=0.8, blink_rate=20.0,
                              lead_frames=2.0, seed=11, phones=speech_phones(speech))
    assert m.to_dict() == ref.to_dict()
    assert node.generate(speech, "procedural", 0.5, 1.2, 0.8, 20.0, 2.0, 11)[0].to_dict() == m.to_dict()
    _check_image(curves, batch=1)
    assert curves.shape[2] == 1024 and curves.shape[1] > 300
    assert (curves[0] < 0.5).any(axis=-1).float().mean() > 0.01  # curves and text drawn, not a blank page
    assert summary.startswith("procedural:") and f"{m.n_frames} frames" in summary and "blinks" in summary


def test_a2m_emotion_and_scene_inputs(nodes, speech):
    node = nodes["SynchroRaMaA2MMotion"]
    neutral = node.generate(speech, emotion=_emotion(speech, "neutral"))[0]
    happy = node.generate(speech, emotion=_emotion(speech, "happy"))[0]
    assert happy.expressions["smile"].mean() >= neutral.expressions["smile"].mean() + 0.2
    scene = SceneData(duration_s=speech.duration_s,
                      segments=[SceneSegment(0.5, 2.0, "she looks to her left", ["looks to the left"])])
    m = node.generate(speech, scene=scene)[0]
    assert [g["gesture"] for g in m.meta["gestures"]] == ["looks left"]
    t = (np.arange(m.n_frames) + 0.5) / FPS
    w = (t > 1.0) & (t < 1.5)
    assert m.rotation[w, 0].mean() > neutral.rotation[w, 0].mean() + 8


def test_a2m_bad_inputs(nodes, speech):
    node = nodes["SynchroRaMaA2MMotion"]
    with pytest.raises(InvalidDataError, match="SR_SPEECH"):
        node.generate("speech.wav")
    with pytest.raises(InvalidDataError, match="head_scale"):
        node.generate(speech, head_scale=-1.0)
    with pytest.raises(ValueError, match="unknown generator"):
        node.generate(speech, generator="magic")


def _tiny_model(folder, seed=0):
    import torch
    torch.manual_seed(seed)
    model = NeuralA2M(default_config(channels=16, kernel=3, dilations=(1, 2), dropout=0.0))
    return model.save(str(folder))


def test_a2m_neural_model_from_the_model_folder(pack, mod, nodes, speech, comfy_dirs):
    a2m_dir = comfy_dirs / "models" / "synchrorama" / "a2m"
    # nothing installed: the combo says so and choosing neural names the folder to fill
    assert mod.SynchroRaMaA2MMotion.INPUT_TYPES()["optional"]["model"][0] == [mod.NO_MODEL]
    with pytest.raises(ModelNotFoundError) as ei:
        nodes["SynchroRaMaA2MMotion"].generate(speech, "neural")
    assert str(a2m_dir) in str(ei.value) and "config.json" in str(ei.value)
    with pytest.raises(ModelNotFoundError) as ei:
        nodes["SynchroRaMaA2MMotion"].generate(speech, "neural", model="gone")
    assert str(a2m_dir / "gone") in str(ei.value)

    path = _tiny_model(a2m_dir / "tiny")
    assert mod.SynchroRaMaA2MMotion.INPUT_TYPES()["optional"]["model"][0] == ["tiny"]
    node = nodes["SynchroRaMaA2MMotion"]
    emo = _emotion(speech, "happy")
    m, curves, summary = node.generate(speech, "neural", 1.0, 1.0, 1.0, 17.0, 1.0, 3, emotion=emo, model="tiny")
    assert m.generator == "neural:tiny" and m.n_frames == speech.n_frames
    ref = NeuralA2M.load(path).generate(speech, emo, seed=3, phones=speech_phones(speech))
    np.testing.assert_allclose(m.rotation, ref.rotation, atol=1e-5)
    np.testing.assert_allclose(m.expression_matrix(), ref.expression_matrix(), atol=1e-5)
    _check_image(curves, batch=1)
    assert summary.startswith("neural:tiny")
    # model_path overrides the combo; the creator controls act on the neural output too
    other = _tiny_model(comfy_dirs / "elsewhere" / "tiny2", seed=1)
    m2 = node.generate(speech, "neural", 1.0, 1.0, 0.0, 0.0, 1.0, 3, model="tiny", model_path=other)[0]
    assert m2.generator == "neural:tiny2"
    for k in ("jaw_open", "mouth_wide", "mouth_pucker", "mouth_press", "blink_l"):
        assert m2.expressions[k].max() == 0
    os.remove(os.path.join(path, "model.safetensors"))
    with pytest.raises(ModelNotFoundError, match="missing model.safetensors"):
        node.generate(speech, "neural", model="tiny")


# ----------------------------------------------------------------------------- Motion Frames

def test_motion_frames_node(nodes, short_speech, face):
    m = generate_procedural(short_speech, seed=2)
    sel = m.n_frames // 2
    (frames,) = nodes["SynchroRaMaMotionFrames"].draw(m, face, "mediapipe", 0, 0)
    _check_image(frames, batch=m.n_frames, hw=face.images[0].shape[:2])
    # exactly the core drawing of the driven landmarks: the motion drives the portrait's neutral rest face
    # (the astronaut's parted lips closed, her smile taken out), as in the warp renderer
    rest, _ = rest_landmarks(face.landmarks[0])
    lm = apply_motion(rest, m, [0, sel])
    want = render_motion_frames(lm, 512, 512, "mediapipe").astype(np.float32) / 255.0
    np.testing.assert_allclose(frames[[0, sel]].numpy(), want, atol=1e-6)
    # neutralize=0 drives the photo's own landmarks
    (own,) = nodes["SynchroRaMaMotionFrames"].draw(m, face, "mediapipe", 0, 0, neutralize=0.0)
    want = render_motion_frames(apply_motion(face.landmarks[0], m, [sel]), 512, 512, "mediapipe")
    np.testing.assert_allclose(own[[sel]].numpy(), want.astype(np.float32) / 255.0, atol=1e-6)
    # the motion moves the drawing: the most open and the most closed mouth differ
    jaw = m.expressions["jaw_open"]
    assert jaw.max() - jaw.min() > 0.3          # "See you soon.": close vowels, the jaw opens only so far
    diff = (frames[int(jaw.argmax())] - frames[int(jaw.argmin())]).abs().max(dim=-1).values
    assert int((diff > 0.2).sum()) > 200


def test_motion_frames_default_is_what_the_samplers_controlnet_learnt(nodes, pack, short_speech, face):
    """Motion Frames feeds the Video Sampler's MediaPipe-face ControlNet, which was trained on the
    LAION-Face annotator's drawing: the node's default draws that, as the shipped sampler graph and
    the adapter trainer do."""
    from comfy_workflow import core_object_info, pack_object_info, widget_slots
    from synchrorama_core.motion.draw import FACE_CONTROLNET_STYLE
    from synchrorama_core.training.adapters import build_parser
    node = nodes["SynchroRaMaMotionFrames"]
    spec = node.INPUT_TYPES()["required"]["style"]
    assert spec[1]["default"] == FACE_CONTROLNET_STYLE == "laion_face" == build_parser().get_default("style")
    assert "not what that ControlNet saw" in spec[1]["tooltip"]
    # the shipped sampler graph: its Motion Frames style is the node's default, into that ControlNet
    info = {**core_object_info(), **pack_object_info(pack.NODE_CLASS_MAPPINGS)}
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "workflows",
                           "synchrorama_diffusion_sampler.json"), encoding="utf-8") as f:
        wf = json.load(f)
    (mf,) = [n for n in wf["nodes"] if n["type"] == "SynchroRaMaMotionFrames"]
    (ld,) = [n for n in wf["nodes"] if n["type"] == "SynchroRaMaLoadDiffusionModels"]
    assert mf["widgets_values"][widget_slots(info[mf["type"]])[0]["style"]] == spec[1]["default"]
    assert "mediapipe_face" in ld["widgets_values"][widget_slots(info[ld["type"]])[0]["controlnet"]]
    # from the pixels: the default drawing is the annotator's (the subject's right eye in (180, 200, 10),
    # no grey tessellation), not MediaPipe's own
    m = generate_procedural(short_speech, seed=2)
    (default,) = node.draw(m, face)
    (lf,) = node.draw(m, face, "laion_face")
    (mp,) = node.draw(m, face, "mediapipe")
    assert (default == lf).all() and not (default == mp).all()
    px = np.round(default[0].numpy() * 255).astype(int).reshape(-1, 3)
    assert (px == (180, 200, 10)).all(axis=1).sum() > 20
    assert (px == 128).all(axis=1).sum() == 0 < (np.round(mp[0].numpy() * 255) == 128).all(axis=-1).sum()


def test_motion_frames_fit_other_sizes_like_the_sampler(nodes, short_speech, face):
    m = generate_procedural(short_speech, head_scale=0.0)
    (tall,) = nodes["SynchroRaMaMotionFrames"].draw(m, face, "outline", 256, 384)
    _check_image(tall, batch=m.n_frames, hw=(384, 256))
    rest, _ = rest_landmarks(face.landmarks[0])
    lm = fit_landmarks(apply_motion(rest, m, 0)[0], 512, 512, 384, 256)
    # 512x512 -> 256x384: keep the middle 341 columns, scale 384/512
    x0 = (512 - round(512 * 256 / 384)) // 2
    st = face_rig(rest).stable                  # the points no expression moves (head motion is off)
    np.testing.assert_allclose(lm[st, 0], (rest[st, 0] - x0) * 256 / round(512 * 256 / 384), atol=0.5)
    ys, xs = np.nonzero(tall[0].numpy().max(axis=2) > 0.5)
    assert abs(xs.min() - lm[:, 0].min()) < 4 and abs(xs.max() - lm[:, 0].max()) < 4
    assert abs(ys.min() - lm[:, 1].min()) < 4 and abs(ys.max() - lm[:, 1].max()) < 4
    # styles differ; outline has no grey tessellation
    (mp,) = nodes["SynchroRaMaMotionFrames"].draw(m, face, "mediapipe", 256, 384)
    assert set(np.unique(tall[0].numpy())) == {0.0, 1.0}                     # white lines on black
    assert np.isclose(mp[0].numpy(), 128 / 255).all(axis=-1).sum() > 500        # grey tessellation


def test_motion_frames_bad_inputs_progress_cancel(nodes, speech, face):
    m = generate_procedural(speech)
    node = nodes["SynchroRaMaMotionFrames"]
    with pytest.raises(InvalidDataError, match="reference 3 does not exist"):
        node.draw(m, face, reference=3)
    with pytest.raises(InvalidDataError, match="both width and height"):
        node.draw(m, face, width=256, height=0)
    with pytest.raises(InvalidDataError, match="style"):
        node.draw(m, face, style="sketch")
    with pytest.raises(InvalidDataError, match="SR_FACE"):
        node.draw(m, face.images[0])
    with pytest.raises(InvalidDataError, match="SR_MOTION"):
        node.draw("motion", face)
    seen = []
    out = motion_frames(face, m, "outline", 64, 64, progress=lambda d, t: seen.append((d, t)))
    assert out.shape == (m.n_frames, 64, 64, 3) and out.dtype == np.uint8
    assert seen[-1] == (m.n_frames, m.n_frames)
    with pytest.raises(Cancelled):
        motion_frames(face, m, "outline", 64, 64, cancelled=lambda: True)


# ----------------------------------------------------------------------------- Save / Load

def test_save_load_round_trip(mod, nodes, speech, comfy_dirs):
    m = generate_procedural(speech, _emotion(speech, "happy"), seed=5)
    for fmt in ("json", "safetensors"):
        r = nodes["SynchroRaMaSaveMotion"].save(m, "clips/talk", fmt)
        out_motion, path = r["result"]
        assert out_motion is m and os.path.isfile(path) and path.endswith("." + fmt)
        assert path.startswith(str(comfy_dirs / "output" / "clips"))
        assert r["ui"]["files"][0]["subfolder"] == "clips"
        shutil.copy(path, comfy_dirs / "input" / os.path.basename(path))
    files = mod.SynchroRaMaLoadMotion.INPUT_TYPES()["required"]["motion_file"][0]
    assert len(files) == 2 and all(f.startswith("talk_motion_") for f in files)
    for f in files:
        back, curves, summary = nodes["SynchroRaMaLoadMotion"].load(f)
        assert back.to_dict() == m.to_dict()
        _check_image(curves, batch=1)
    # an absolute path overrides the combo
    assert nodes["SynchroRaMaLoadMotion"].load("", path=path)[0].to_dict() == m.to_dict()


def test_hand_written_motion_json(mod, nodes, comfy_dirs):
    """A creator writes a short motion by hand: plain lists, only the channels they care about."""
    doc = {"type": "SR_MOTION", "fps": 25, "duration_s": 0.2,
           "rotation": [[0, 0, 0], [2, 0, 0], [4, 0, 0], [2, 0, 0], [0, 0, 0]],
           "translation": [[0, 0]] * 5, "scale": [1, 1, 1, 1, 1],
           "expressions": {"jaw_open": [0, 0.5, 1, 0.5, 0], "smile": [0.3] * 5}}
    p = comfy_dirs / "input" / "hand.json"
    p.write_text(json.dumps(doc))
    m = nodes["SynchroRaMaLoadMotion"].load("hand.json")[0]
    assert m.n_frames == 5 and m.rotation[2, 0] == 4
    np.testing.assert_allclose(m.expressions["jaw_open"], [0, 0.5, 1, 0.5, 0])
    assert m.expressions["frown"].max() == 0
    h1 = mod.SynchroRaMaLoadMotion.IS_CHANGED("hand.json")
    doc["expressions"]["smile"] = [0.6] * 5
    p.write_text(json.dumps(doc))
    assert mod.SynchroRaMaLoadMotion.IS_CHANGED("hand.json") != h1
    assert nodes["SynchroRaMaLoadMotion"].load("hand.json")[0].expressions["smile"][0] == pytest.approx(0.6)
    doc["expressions"]["jaw_open"] = [0, 2, 0, 0, 0]
    p.write_text(json.dumps(doc))
    with pytest.raises(InvalidDataError, match="jaw_open"):
        nodes["SynchroRaMaLoadMotion"].load("hand.json")
    doc["rotation"] = doc["rotation"][:4]
    doc["expressions"]["jaw_open"] = [0] * 5
    p.write_text(json.dumps(doc))
    with pytest.raises(InvalidDataError, match="4 frames, expected 5"):
        nodes["SynchroRaMaLoadMotion"].load("hand.json")


def test_load_motion_fits_a_speech_or_says_why_not(nodes, speech, short_speech, comfy_dirs):
    m = generate_procedural(short_speech)
    m.save(str(comfy_dirs / "input" / "short.json"))
    with pytest.raises(InvalidDataError) as ei:
        nodes["SynchroRaMaLoadMotion"].load("short.json", speech=speech)
    msg = str(ei.value)
    assert f"{m.n_frames} frames" in msg and f"{speech.n_frames} frames" in msg and "resample" in msg
    fit = nodes["SynchroRaMaLoadMotion"].load("short.json", speech=speech, mismatch="resample")[0]
    assert fit.n_frames == speech.n_frames and fit.fps == speech.fps
    same = nodes["SynchroRaMaLoadMotion"].load("short.json", speech=short_speech)[0]
    assert same.to_dict() == m.to_dict()


def test_load_motion_bad_files(nodes, speech, comfy_dirs):
    node = nodes["SynchroRaMaLoadMotion"]
    with pytest.raises(FileNotFoundError, match="missing.json"):
        node.load("missing.json")
    with pytest.raises(ValueError, match="no motion file chosen"):
        node.load("")
    _emotion(speech, "sad").save(str(comfy_dirs / "input" / "emotion.json"))
    with pytest.raises(InvalidDataError, match="SR_EMOTION value, not SR_MOTION"):
        node.load("emotion.json")
    (comfy_dirs / "input" / "broken.json").write_text("{not json")
    with pytest.raises(ValueError):
        node.load("broken.json")


# ----------------------------------------------------------------------------- Adjust / blend

def test_adjust_scales_and_offsets(nodes, speech):
    m = generate_procedural(speech, _emotion(speech, "happy", 0.5), seed=1)
    node = nodes["SynchroRaMaMotionAdjust"]
    same, curves = node.adjust(m)
    np.testing.assert_array_equal(same.rotation, m.rotation)
    np.testing.assert_array_equal(same.expression_matrix(), m.expression_matrix())
    _check_image(curves, batch=1)
    a = node.adjust(m, head_scale=0.5, expression_scale=0.5, lip_scale=0.0, blink_scale=0.0, yaw_offset=5.0,
                    pitch_offset=-2.0, x_offset=0.1, scale_offset=0.05, expression="brow_raise",
                    expression_offset=0.25)[0]
    np.testing.assert_allclose(a.rotation[:, 0], m.rotation[:, 0] * 0.5 + 5.0, atol=1e-5)
    np.testing.assert_allclose(a.rotation[:, 1], m.rotation[:, 1] * 0.5 - 2.0, atol=1e-5)
    np.testing.assert_allclose(a.rotation[:, 2], m.rotation[:, 2] * 0.5, atol=1e-5)
    np.testing.assert_allclose(a.translation[:, 0], m.translation[:, 0] * 0.5 + 0.1, atol=1e-6)
    np.testing.assert_allclose(a.scale, 1 + (m.scale - 1) * 0.5 + 0.05, atol=1e-6)
    for k in ("jaw_open", "mouth_wide", "mouth_pucker", "mouth_press", "blink_l", "blink_r"):
        assert a.expressions[k].max() == 0
    np.testing.assert_allclose(a.expressions["smile"], m.expressions["smile"] * 0.5, atol=1e-6)
    np.testing.assert_allclose(a.expressions["brow_raise"], np.clip(m.expressions["brow_raise"] * 0.5 + 0.25, 0, 1),
                               atol=1e-6)
    assert a.meta["adjustments"][-1]["head_scale"] == 0.5
    big = node.adjust(m, lip_scale=5.0, yaw_offset=45.0, head_scale=5.0)[0]  # clipped to the contract
    assert big.expressions["jaw_open"].max() <= 1 and np.abs(big.rotation).max() <= 89
    with pytest.raises(InvalidDataError, match="unknown expression names \\['ears'\\]"):
        node.adjust(m, expression="ears", expression_offset=0.1)
    with pytest.raises(InvalidDataError, match="head_scale=-1.0 is outside"):
        node.adjust(m, head_scale=-1.0)
    with pytest.raises(InvalidDataError, match="SR_MOTION"):
        node.adjust("motion.json")
    with pytest.raises(InvalidDataError, match="weight=1.5"):
        node.adjust(m, motion_b=m, blend_weight=1.5)


def test_blend_two_motions(nodes, speech):
    a = generate_procedural(speech, seed=1)
    b = generate_procedural(speech, _emotion(speech, "surprised"), seed=2, lip_scale=0.5)
    node = nodes["SynchroRaMaMotionAdjust"]
    w0 = node.adjust(a, motion_b=b, blend_weight=0.0)[0]
    np.testing.assert_allclose(w0.rotation, a.rotation, atol=1e-6)
    w1 = node.adjust(a, motion_b=b, blend_weight=1.0)[0]
    np.testing.assert_allclose(w1.expression_matrix(), b.expression_matrix(), atol=1e-6)
    q = node.adjust(a, motion_b=b, blend_weight=0.25)[0]
    np.testing.assert_allclose(q.rotation, 0.75 * a.rotation + 0.25 * b.rotation, atol=1e-5)
    np.testing.assert_allclose(q.expressions["brow_raise"],
                               0.75 * a.expressions["brow_raise"] + 0.25 * b.expressions["brow_raise"], atol=1e-6)
    np.testing.assert_allclose(q.scale, np.exp(0.75 * np.log(a.scale) + 0.25 * np.log(b.scale)), rtol=1e-6)
    head = node.adjust(a, motion_b=b, blend_weight=1.0, blend_parts="head")[0]
    np.testing.assert_allclose(head.rotation, b.rotation, atol=1e-6)
    np.testing.assert_array_equal(head.expression_matrix(), a.expression_matrix())
    face_only = node.adjust(a, motion_b=b, blend_weight=1.0, blend_parts="face (all but head)")[0]
    np.testing.assert_array_equal(face_only.rotation, a.rotation)
    np.testing.assert_allclose(face_only.expression_matrix(), b.expression_matrix(), atol=1e-6)
    # blend first, then scale
    both = node.adjust(a, motion_b=b, blend_weight=0.5, head_scale=2.0)[0]
    np.testing.assert_allclose(both.rotation, np.clip(a.rotation + b.rotation, -89, 89), atol=1e-4)


def test_blend_mismatched_timelines(nodes, speech, short_speech):
    a = generate_procedural(speech, seed=1)
    b = generate_procedural(short_speech, seed=2)
    node = nodes["SynchroRaMaMotionAdjust"]
    with pytest.raises(InvalidDataError) as ei:
        node.adjust(a, motion_b=b)
    assert f"{b.n_frames} frames" in str(ei.value) and f"{a.n_frames} frames" in str(ei.value)
    assert "resample" in str(ei.value)
    r = node.adjust(a, motion_b=b, blend_weight=1.0, mismatch="resample")[0]
    assert r.n_frames == a.n_frames and r.fps == a.fps
    t = (np.arange(a.n_frames) + 0.5) / a.fps
    inside, after = t < b.duration_s - 0.1, t > b.duration_s + 0.01
    assert after.sum() > 10
    np.testing.assert_array_equal(r.rotation[after], a.rotation[after])      # b is over: a stays
    tb = (np.arange(b.n_frames) + 0.5) / b.fps
    np.testing.assert_allclose(r.rotation[inside, 1], np.interp(t[inside], tb, b.rotation[:, 1]), atol=1e-4)
    # another fps: 50 fps b onto 25 fps a
    b50 = resample_motion(generate_procedural(speech, seed=2), 50.0, speech.duration_s)
    assert b50.n_frames == 2 * a.n_frames or abs(b50.n_frames - 2 * a.n_frames) <= 1
    with pytest.raises(InvalidDataError, match="50 fps"):
        blend_motion(a, b50, 0.5)
    r50 = blend_motion(a, b50, 1.0, mismatch="resample")
    assert r50.n_frames == a.n_frames
    with pytest.raises(ValueError, match="blend_parts"):
        node.adjust(a, motion_b=b, blend_parts="ears")


def test_resample_motion_is_linear_in_time(speech):
    m = MotionData.neutral(2.0, 25.0)
    m.rotation[:, 0] = np.linspace(-10, 10, m.n_frames)
    m.expressions["jaw_open"][:] = np.linspace(0, 1, m.n_frames)
    up = resample_motion(m, 50.0, 2.0)
    assert up.n_frames == 100
    inner = slice(1, -1)
    assert np.allclose(np.diff(up.rotation[inner, 0]), np.diff(up.rotation[inner, 0])[0], atol=1e-4)
    back = resample_motion(up, 25.0, 2.0)
    # inside, linear interpolation returns the ramp exactly; the outermost frames hold the end values
    np.testing.assert_allclose(back.rotation[inner], m.rotation[inner], atol=1e-4)
    np.testing.assert_allclose(back.expressions["jaw_open"][inner], m.expressions["jaw_open"][inner], atol=1e-5)
    assert abs(back.rotation[0, 0] - m.rotation[0, 0]) < 0.1
    assert back.meta["resampled_from"]["fps"] == 50.0
