"""The bridge to ComfyUI's own video models: prompts per window, the Wan2.2-S2V pose video, exact re-timing."""
import numpy as np
import pytest

from synchrorama_core.bridge import (VIDEO_MODELS, WAN_NEGATIVE, cover_crop, latent_frames, pose_video,
                                     pose_video_indices, valid_length, video_prompt, window_frame_indices,
                                     window_prompt)
from synchrorama_core.bridge.pose import COLORS
from synchrorama_core.errors import InvalidDataError
from synchrorama_core.resample import resample_emotion, resample_motion, resample_rows, resample_speech
from synchrorama_core.types import EMOTIONS, EmotionData, FaceData, MotionData, SceneData, SceneSegment
from synchrorama_core.vocabulary.emotions import labelled_emotion

TEXTS = {"happy": "I am so happy and excited, this is wonderful, I love it!",
         "sad": "I feel so sad and lonely. I miss her terribly, everything is lost.",
         "neutral": "The meeting is on Tuesday at ten. Bring the report and the budget sheet."}


@pytest.fixture(scope="module")
def face(astronaut):
    from synchrorama_core.face import analyze_face
    return analyze_face(astronaut)


@pytest.fixture(scope="module")
def real(make_speech):
    """Speech (espeak-ng), emotion and template scene for a happy, a sad and a neutral utterance."""
    from synchrorama_core.audio import load_speech
    from synchrorama_core.emotion.embed import embed_emotion
    from synchrorama_core.scene.describer import describe_scene
    out = {}
    for k, text in TEXTS.items():
        sp = load_speech(make_speech(text), fps=25.0)
        emo = embed_emotion(sp, text)
        out[k] = (sp, emo, describe_scene(sp, text, emo))
    return out


def _timeline(parts, fps=25.0):
    """A labelled SR_EMOTION: ``[(emotion, intensity, seconds), ...]`` back to back."""
    rows = []
    for name, k, sec in parts:
        p, v, a, i = labelled_emotion(name, k)
        rows += [(p, v, a, i)] * int(round(sec * fps))
    probs, v, a, i = (np.array([r[j] for r in rows], np.float32) for j in range(4))
    return EmotionData(fps=fps, duration_s=len(rows) / fps, probs=probs, valence=v, arousal=a, intensity=i)


# ------------------------------------------------------------------------------ prompts

def test_real_happy_sad_neutral_speech_read_differently(real):
    texts = {k: video_prompt(emo, scene).positive for k, (_, emo, scene) in real.items()}
    assert len(set(texts.values())) == 3
    assert "smiling" in texts["happy"].lower()
    assert "sadness" in texts["sad"].lower() or "downcast" in texts["sad"].lower()
    assert "slow" in texts["sad"].lower() and "slow" not in texts["happy"].lower()
    for k in ("happy", "sad"):
        assert "relaxed face," not in texts[k]
    assert "smil" not in texts["neutral"].lower() and "sad" not in texts["neutral"].lower()
    # the negative pushes away from the opposite emotion
    neg = video_prompt(real["happy"][1]).negative
    assert neg.startswith(WAN_NEGATIVE) and "downturned mouth" in neg


def test_wording_follows_intensity_valence_and_arousal():
    strong = video_prompt(_timeline([("happy", 1.0, 2.0)])).positive.lower()
    mild = video_prompt(_timeline([("happy", 0.2, 2.0)])).positive.lower()
    sad = video_prompt(_timeline([("sad", 0.6, 2.0)])).positive.lower()
    assert "beaming" in strong and "lively and animated" in strong and "warm, upbeat mood" in strong
    assert "smiling gently" in mild and "beaming" not in mild
    assert "downcast eyes" in sad and "slow" in sad and "somber" in sad


def test_windows_follow_the_timeline():
    emo = _timeline([("happy", 0.9, 5.0), ("sad", 0.9, 5.0), ("surprised", 0.9, 5.0)])
    s2v = VIDEO_MODELS["wan2.2_s2v"]
    assert s2v.window_frames(77) == 80 and s2v.window_span(1, 77) == (5.0, 10.0)
    w = [window_prompt(emo, None, "wan2.2_s2v", k, 77) for k in range(3)]
    assert [p.emotion.dominant for p in w] == ["happy", "sad", "surprised"]
    assert "smil" in w[0].positive.lower() and "downcast" in w[1].positive.lower()
    assert "eyebrows" in w[2].positive.lower()
    whole = video_prompt(emo)
    assert whole.start_s == 0 and whole.end_s == pytest.approx(15.0)
    # any [start, end): the half-way window mixes, a window past the end reads the last moment
    assert video_prompt(emo, None, 4.0, 6.0).emotion.probs["sad"] == pytest.approx(0.5, abs=0.01)
    assert window_prompt(emo, None, "wan2.2_s2v", 5, 77).emotion.dominant == "surprised"


def test_scene_segments_in_the_window_are_described():
    scene = SceneData(duration_s=10.0, segments=[
        SceneSegment(0.0, 4.0, "The person waves hello.", ["smiles"], ["close-up portrait", "soft light",
                                                                        "slightly happy expression"]),
        SceneSegment(4.0, 10.0, "The person looks down.", ["looks down"], ["close-up portrait", "soft light"])])
    a = video_prompt(None, scene, 0.0, 3.0).positive
    b = video_prompt(None, scene, 5.0, 10.0).positive
    assert a.startswith("Close-up portrait of a person talking to the camera, soft light.")
    assert "waves hello" in a and "looks down" not in a and "looks down" in b
    assert "happy expression" not in a  # the window's own emotion wording replaces the segment's
    assert video_prompt(None, scene, subject="a young woman").positive.startswith("Close-up portrait of a young woman")


def test_empty_scene_and_transcript_still_give_a_usable_prompt(real):
    sp, emo, _ = real["happy"]
    from synchrorama_core.scene.describer import describe_scene
    no_text = describe_scene(sp, "", emo)
    for p in (video_prompt(emo, SceneData(duration_s=emo.duration_s, segments=[])), video_prompt(),
              video_prompt(emo, no_text), video_prompt(None, SceneData(duration_s=0.0, segments=[]))):
        assert "talking to the camera" in p.positive and p.positive.endswith("steady camera.")
        assert len(p.positive.split()) >= 20 and p.negative
    with pytest.raises(InvalidDataError, match="after its start"):
        video_prompt(emo, None, 3.0, 2.0)
    with pytest.raises(InvalidDataError, match="SR_EMOTION"):
        video_prompt("happy")


def test_prompt_node(pack, real):
    node = pack.NODE_CLASS_MAPPINGS["SynchroRaMaVideoModelPrompt"]()
    _, emo, scene = real["sad"]
    pos, neg, info = node.prompt(model="wan2.2_s2v", window=0, length=77, emotion=emo, scene=scene)
    assert isinstance(pos, str) and "slow" in pos and neg.startswith(WAN_NEGATIVE[:10]) and "0.00-5.00 s" in info
    pos2, _, info2 = node.prompt(model="humo", window=-1, length=97)
    assert "calm" in pos2 and "no emotion input" in info2


# ------------------------------------------------------------------------------ pose video

def _motion(n, fps=25.0, yaw=0.0, pitch=0.0):
    return MotionData(fps=fps, duration_s=n / fps, rotation=np.tile([yaw, pitch, 0.0], (n, 1)).astype(np.float32),
                      translation=np.zeros((n, 2), np.float32), scale=np.ones(n, np.float32), expressions={})


def _joint(frame, name):
    """Centre of a joint's dot, found by its colour in the output pixels."""
    from synchrorama_core.bridge.pose import BODY_POINTS
    c = COLORS[BODY_POINTS.index(name)][::-1]
    ys, xs = np.nonzero(np.all(frame == c, axis=-1))
    assert len(xs), f"no {name} dot in the frame"
    return np.array([xs.mean(), ys.mean()])


def test_pose_frames_count_size_and_style(face):
    m = _motion(281)                                     # 11.24 s at 25 fps
    whole = pose_video(face, m, "wan2.2_s2v", 832, 480)
    assert whole.shape == (round(11.24 * 16), 480, 832, 3) and whole.dtype == np.uint8
    win = pose_video(face, m, "wan2.2_s2v", 640, 640, window=2, length=77)
    assert win.shape == (77, 640, 640, 3)
    # window 2 covers clip frames 160..239; the clip has 180: the rest is black
    idx = pose_video_indices(m, "wan2.2_s2v", 2, 77)
    assert idx[0] == 160 and idx[1] == 164 and idx[16] == 179 and (idx[17:] == -1).all()
    assert win[30].max() == 0 and win[0].max() > 0
    # Wan's drawing: black background, the shoulder line in dark blue (OpenPose red drawn in BGR)
    f = whole[0]
    assert (f.reshape(-1, 3) == 0).all(axis=1).mean() > 0.95
    neck, r_sh = _joint(f, "neck"), _joint(f, "r_shoulder")
    mid = ((neck + r_sh) / 2).round().astype(int)
    assert tuple(f[mid[1], mid[0]]) == (0, 0, 153)
    out = np.zeros((77, 64, 48, 3), np.float32)
    assert pose_video(face, m, "wan2.2_s2v", 48, 64, window=0, out=out) is out and 0 < out.max() <= 1


def test_head_moves_with_the_motion(face):
    rest = pose_video(face, _motion(25), "wan2.2_s2v", 640, 640, window=-1)[0]
    left = pose_video(face, _motion(25, yaw=20.0), "wan2.2_s2v", 640, 640, window=-1)[0]
    nod = pose_video(face, _motion(25, pitch=15.0), "wan2.2_s2v", 640, 640, window=-1)[0]
    n0, n1, n2 = (_joint(f, "nose") for f in (rest, left, nod))
    assert n1[0] - n0[0] > 15          # yaw > 0 turns the face to the subject's left = image right
    eyes0 = (_joint(rest, "r_eye") + _joint(rest, "l_eye")) / 2
    eyes2 = (_joint(nod, "r_eye") + _joint(nod, "l_eye")) / 2
    assert (n2[1] - eyes2[1]) - (n0[1] - eyes0[1]) > 3   # a nod brings the nose down against the eyes
    np.testing.assert_allclose(_joint(left, "neck"), _joint(rest, "neck"), atol=1.0)   # the body stays
    # a motion at 25 fps drawn at 16 fps: the re-timed head turns at the same moments
    ramp = _motion(50)
    ramp.rotation[:, 0] = np.linspace(0, 30, 50)
    fr = pose_video(face, MotionData(**{k: getattr(ramp, k) for k in ("fps", "duration_s", "rotation", "translation",
                                                                       "scale", "expressions")}), "wan2.2_s2v", 640, 640)
    xs = [_joint(f, "nose")[0] for f in fr]
    assert len(fr) == 32 and np.all(np.diff(xs) > -0.5) and xs[-1] - xs[0] > 20


def test_blank_reference_face_is_a_clear_error(face):
    blank = FaceData(images=[np.zeros((256, 256, 3), np.float32)], landmarks=[np.zeros((478, 3), np.float32)],
                     boxes=[(0.0, 0.0, 256.0, 256.0)])
    with pytest.raises(InvalidDataError, match="no usable face landmarks.*Face Analysis"):
        pose_video(blank, _motion(25), "wan2.2_s2v", 640, 640)
    with pytest.raises(InvalidDataError, match="SR_FACE"):
        pose_video("portrait.png", _motion(25))
    with pytest.raises(InvalidDataError, match="16..8192"):
        pose_video(face, _motion(25), "wan2.2_s2v", 8, 640)
    with pytest.raises(InvalidDataError, match="unknown video model"):
        pose_video(face, _motion(25), "sora")


def test_skeleton_lies_on_the_face_of_a_large_portrait(astronaut):
    """Face Analysis keeps a portrait over 1024 px as a scaled head-and-shoulders crop, but Wan's
    ref_image is the loaded picture itself: the skeleton must land on the face of that picture as the
    model sees it (cover-cropped to 640x640), found there by a fresh face analysis of those pixels."""
    from PIL import Image
    from synchrorama_core.face import analyze_face
    from synchrorama_core.geometry import topology as topo
    big = np.full((1600, 2400, 3), 128, np.uint8)              # a 2400x1600 photo, the face off-centre
    big[32:1568, 100:1636] = np.asarray(Image.fromarray((astronaut * 255 + 0.5).astype(np.uint8))
                                        .resize((1536, 1536), Image.LANCZOS))
    face = analyze_face(big)
    assert face.meta["work_region"][0] is not None and max(face.images[0].shape[:2]) <= 1024
    frame = pose_video(face, _motion(25), "wan2.2_s2v", 640, 640)[0]
    nose, neck = _joint(frame, "nose") + 0.5, _joint(frame, "neck") + 0.5     # pixel centres
    # the picture as WanSoundImageToVideo fits ref_image to 640x640: centre 1600x1600 crop, scaled by 0.4
    whole = analyze_face(big, max_side=0).landmarks[0]          # the same face, analysed uncropped
    at = (whole[topo.NOSE_TIP, :2] - [400, 0]) * 0.4
    assert np.linalg.norm(nose - at) < 1.5, (nose, at)
    # and on the pixels the model gets: a fresh analysis of the fitted 640x640 reference (its landmarks
    # differ from the full-size ones by ~0.07 eye distances, 3.6 px here; the bug put the nose 193 px away)
    ref = np.asarray(Image.fromarray(big).crop((400, 0, 2000, 1600)).resize((640, 640), Image.LANCZOS))
    seen = analyze_face(ref).landmarks[0]
    iod = np.linalg.norm(seen[topo.LEFT_IRIS_CENTER, :2] - seen[topo.RIGHT_IRIS_CENTER, :2])
    assert np.linalg.norm(nose - seen[topo.NOSE_TIP, :2]) < 0.12 * iod, (nose, seen[topo.NOSE_TIP, :2], iod)
    assert abs(neck[0] - seen[topo.NOSE_TIP, 0]) < 0.12 * iod and neck[1] > seen[topo.CHIN, 1]   # under the chin
    # the mapping itself: work image -> picture -> model frame, against the record
    x0, y0, kx, ky, w, h = face.picture_region(0)
    assert (w, h) == (2400, 1600) and (x0, y0) == tuple(face.meta["work_region"][0]["crop"][:2])
    assert kx == pytest.approx(face.meta["work_region"][0]["scale"], rel=1e-5)


def test_picture_region_of_small_and_bad_records(face):
    assert face.picture_region(0) == (0.0, 0.0, 1.0, 1.0, 512, 512)
    im, lm = face.images[0], face.landmarks[0]
    bad = FaceData(images=[im], landmarks=[lm], boxes=face.boxes, meta={"work_region": [{"crop": [0, 0, 9]}]})
    with pytest.raises(InvalidDataError, match="work_region.*not a crop record"):
        pose_video(bad, _motion(25))
    outside = FaceData(images=[im], landmarks=[lm], boxes=face.boxes,
                       meta={"work_region": [{"crop": [0, 0, 900, 900], "original_size": [800, 800]}]})
    with pytest.raises(InvalidDataError, match="does not lie in the 800x800 picture"):
        pose_video(outside, _motion(25))


def test_pose_node(pack, face):
    node = pack.NODE_CLASS_MAPPINGS["SynchroRaMaPoseVideo"]()
    img, n_clip, fps = node.draw(_motion(100), face, "wan2.2_s2v", 832, 480, window=1, length=77)
    assert tuple(img.shape) == (77, 480, 832, 3) and n_clip == 64 and fps == 16.0


def test_windows_and_lengths():
    assert [latent_frames(n) for n in (1, 5, 77, 78, 80, 81)] == [1, 2, 20, 20, 20, 21]
    assert [valid_length(n) for n in (1, 4, 77, 80, 97)] == [1, 1, 77, 77, 97]
    humo = VIDEO_MODELS["humo"]
    assert humo.fps == 25 and humo.window_frames(97) == 97 and humo.window_span(0, 97) == (0.0, 3.88)
    assert VIDEO_MODELS["wan2.2_s2v"].n_windows(77, 11.27) == 3
    assert list(window_frame_indices(0, 9, 100, 12)) == [0, 4, 5, 6, 7, 8, 9, 10, 11]
    assert list(window_frame_indices(0, 5, 100, 5, align_to_latents=False)) == [0, 1, 2, 3, 4]


def test_cover_crop_is_comfyuis_centre_crop():
    # comfy.utils.common_upscale(crop="center"): 512x512 -> 832x480 keeps rows 108..403
    x0, y0, sx, sy = cover_crop(512, 512, 832, 480)
    assert (x0, y0) == (0, 108) and sx == pytest.approx(832 / 512) and sy == pytest.approx(480 / 296)
    assert cover_crop(640, 360, 640, 640)[:2] == (140, 0)


# ------------------------------------------------------------------------------ the shipped S2V graph

def _s2v_wiring_problems(wf: dict, info: dict) -> list:
    """What is wrong with window k's wiring in a UI-format S2V graph: the k-th sampler stage (the
    WanSoundImageToVideo, then each WanSoundImageToVideoExtend in the order the latent chain gives)
    must get window k's prompt (positive and negative of one Video Model Prompt with window k) and
    window k's pose video, and the time both start at must be where ComfyUI's Extend node continues
    (4 x the latent frames made before it)."""
    from comfy_workflow import ui_to_api
    prompt, problems = ui_to_api(wf, info)
    if problems:
        return problems
    spec = VIDEO_MODELS["wan2.2_s2v"]
    of = lambda cls: sorted(i for i, n in prompt.items() if n["class_type"] == cls)  # noqa: E731

    def val(node, name):
        v = node["inputs"][name]
        if isinstance(v, list):                      # a link: only from a primitive node is it a value
            src = prompt[v[0]]
            assert src["class_type"] in ("PrimitiveInt", "PrimitiveFloat"), (name, src["class_type"])
            return src["inputs"]["value"]
        return v

    def sampler(cond):
        ks = [i for i in of("KSampler") if [prompt[i]["inputs"][k] for k in ("positive", "negative", "latent_image")]
              == [[cond, 0], [cond, 1], [cond, 2]]]
        return ks[0] if len(ks) == 1 else None

    def parts(ref):                                  # the KSampler outputs a latent is made of, in time order
        n = prompt[ref[0]]
        if n["class_type"] == "KSampler":
            return [ref[0]]
        if n["class_type"] == "LatentConcat" and n["inputs"].get("dim") == "t":
            return parts(n["inputs"]["samples1"]) + parts(n["inputs"]["samples2"])
        return [f"{n['class_type']} {ref[0]}"]

    first, extends = of("WanSoundImageToVideo"), of("WanSoundImageToVideoExtend")
    if len(first) != 1:
        return [f"{len(first)} WanSoundImageToVideo nodes"]
    stages, samplers = [first[0]], [sampler(first[0])]
    while None not in samplers:
        nxt = [e for e in extends if parts(prompt[e]["inputs"]["video_latent"]) == samplers]
        if len(nxt) != 1:
            break
        stages.append(nxt[0])
        samplers.append(sampler(nxt[0]))
    out = []
    if None in samplers or len(stages) != 1 + len(extends):
        return [f"the latent chain joins {len(stages)} of {1 + len(extends)} sampler stages in order"]
    width, height = val(prompt[first[0]], "width"), val(prompt[first[0]], "height")
    made = 0                                          # latent frames before stage k
    for k, cid in enumerate(stages):
        cond = prompt[cid]
        length, offset = val(cond, "length"), 4 * made
        made += latent_frames(length)
        texts = [prompt[cond["inputs"][side][0]] for side in ("positive", "negative")]
        links = [t["inputs"].get("text") for t in texts]
        if any(t["class_type"] != "CLIPTextEncode" for t in texts) or not all(isinstance(x, list) for x in links) \
                or links[0][0] != links[1][0] or [links[0][1], links[1][1]] != [0, 1]:
            out.append(f"stage {k}: positive/negative are not one Video Model Prompt's outputs 0 and 1")
            continue
        pr, pose = prompt[links[0][0]], prompt[cond["inputs"]["control_video"][0]]
        for what, n in (("prompt", pr), ("pose video", pose)):
            want = {"SynchroRaMaVideoModelPrompt", "SynchroRaMaPoseVideo"}
            if n["class_type"] not in want or val(n, "model") != "wan2.2_s2v" or val(n, "length") != length:
                out.append(f"stage {k}: {what} is a {n['class_type']} for {val(n, 'model')!r}, length "
                           f"{val(n, 'length')} (the stage has {length})")
            elif val(n, "window") != k:
                out.append(f"stage {k}: its {what} is for window {val(n, 'window')}")
        if (val(pose, "width"), val(pose, "height")) != (width, height):
            out.append(f"stage {k}: pose video {val(pose, 'width')}x{val(pose, 'height')}, model {width}x{height}")
        # where the windows start, as our nodes compute it, against ComfyUI's frame_offset
        if val(pose, "window") >= 0 and val(pr, "window") >= 0:
            clip = MotionData.neutral(60.0, 25.0)
            start_pose = int(pose_video_indices(clip, "wan2.2_s2v", val(pose, "window"), length)[0])
            start_s = spec.window_span(val(pr, "window"), length)[0]
            if start_pose != offset or start_s * spec.fps != offset:
                out.append(f"stage {k}: ComfyUI continues at frame {offset}; the pose video starts at "
                           f"{start_pose}, the prompt at {start_s * spec.fps:g}")
        # the skeleton is anchored on the face analysed from the very picture the stage gets as ref_image
        face = prompt[pose["inputs"]["face"][0]]
        if face["class_type"] != "SynchroRaMaFaceAnalysis" or face["inputs"]["image"] != cond["inputs"]["ref_image"]:
            out.append(f"stage {k}: the pose video's face is not analysed from the stage's ref_image")
    return out


def test_s2v_graph_gives_window_k_to_the_kth_sampler_stage(pack):
    import copy
    import json
    import os
    from comfy_workflow import core_object_info, pack_object_info, set_widget, widget_slots
    info = {**core_object_info(), **pack_object_info(pack.NODE_CLASS_MAPPINGS)}
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "workflows",
                        "synchrorama_wan_s2v.json")
    with open(path, encoding="utf-8") as f:
        wf = json.load(f)
    assert _s2v_wiring_problems(wf, info) == []
    n_extend = sum(n["type"] == "WanSoundImageToVideoExtend" for n in wf["nodes"])
    assert n_extend >= 2                                 # a real chain is checked
    windowed = ("SynchroRaMaVideoModelPrompt", "SynchroRaMaPoseVideo")

    def window(n):
        return n["widgets_values"][widget_slots(info[n["type"]])[0]["window"]]

    # every window left at 0: each later stage is reported, for its prompt and for its pose video
    zero = copy.deepcopy(wf)
    for n in zero["nodes"]:
        if n["type"] in windowed:
            set_widget(n, "window", 0, info)
    bad = _s2v_wiring_problems(zero, info)
    assert len([b for b in bad if "is for window 0" in b]) == 2 * n_extend, bad
    # windows 1 and 2 of the pose videos swapped
    swapped = copy.deepcopy(wf)
    one, two = (next(n for n in swapped["nodes"] if n["type"] == "SynchroRaMaPoseVideo" and window(n) == w)
                for w in (1, 2))
    set_widget(one, "window", 2, info)
    set_widget(two, "window", 1, info)
    bad = _s2v_wiring_problems(swapped, info)
    assert {"stage 1: its pose video is for window 2", "stage 2: its pose video is for window 1"} <= set(bad), bad
    assert "stage 1: ComfyUI continues at frame 80; the pose video starts at 160, the prompt at 80" in bad


# ------------------------------------------------------------------------------ re-timing (one home)

def test_resample_motion_is_exact():
    m = _motion(281)
    m.rotation[:, 0] = np.arange(281) * 0.1
    for fps in (16.0, 24.0, 30.0, 12.5):
        r = resample_motion(m, fps, m.duration_s)
        assert r.n_frames == round(m.duration_s * fps) and r.fps == fps
        t = (np.arange(r.n_frames) + 0.5) / fps       # a ramp stays the ramp at the new frame centres
        expect = np.clip(t * 25.0 - 0.5, 0, 280) * 0.1
        np.testing.assert_allclose(r.rotation[:, 0], expect, atol=1e-4)
    np.testing.assert_array_equal(resample_motion(m, 25.0, m.duration_s).rotation, m.rotation)


def test_resample_emotion_and_speech_are_exact(real):
    sp, emo, _ = real["happy"]
    for fps in (16.0, 30.0):
        e = resample_emotion(emo, fps)
        assert e.n_frames == round(emo.duration_s * fps) and e.duration_s == emo.duration_s
        np.testing.assert_allclose(e.probs.sum(1), 1.0, atol=1e-5)
        assert set(e.parts) == set(emo.parts) and all(p.probs.shape[0] == e.n_frames for p in e.parts.values())
        s = resample_speech(sp, fps)
        assert s.n_frames == round(sp.duration_s * fps) and s.waveform is sp.waveform
        assert all(v.shape[0] == s.n_frames for v in s.features.values())
        assert set(np.unique(s.features["vad"])) <= {0.0, 1.0} and set(np.unique(s.features["voiced"])) <= {0.0, 1.0}
        np.testing.assert_allclose(s.features["loudness"].mean(), sp.features["loudness"].mean(), atol=0.03)
    assert resample_emotion(emo, emo.fps) is emo
    x = np.arange(10, dtype=np.float64)[:, None] * [1.0, 2.0]
    np.testing.assert_allclose(resample_rows(x, 10.0, 20, 20.0)[5:15, 0], (np.arange(5, 15) + 0.5) / 2 - 0.5)
    with pytest.raises(InvalidDataError):
        resample_emotion(emo, 0.0)
    with pytest.raises(InvalidDataError, match="SR_SPEECH"):
        resample_speech(emo, 16.0)
    assert EMOTIONS  # the probs columns are the 8 MEAD emotions
