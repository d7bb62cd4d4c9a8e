"""Scene stage without models: vocabulary, reply repair, readable text, the template on real speech, nodes."""
import json

import numpy as np
import pytest

from synchrorama_core.audio import load_speech, speech_from_waveform
from synchrorama_core.errors import InvalidDataError, ModelNotFoundError
from synchrorama_core.scene import (SceneConfigError, SceneReplyError, SceneTextError, build_context, build_messages,
                                    describe_scene, format_scene, parse_reply, parse_scene_text, resolve_llm)
from synchrorama_core.vocabulary.actions import ACTIONS, canonical_action, extract_actions
from synchrorama_core.scene.context import summarise_face, voiced_regions
from synchrorama_core.transcript import split_units
from synchrorama_core.scene.structured import extract_json, normalise_segments
from synchrorama_core.types import EMOTIONS, LANDMARK_COUNT, EmotionData, FaceData, SceneData
from synchrorama_core.timing import n_frames

TEXT = ("Hello there. I am really happy to see you today, it is a wonderful morning. "
        "Shall we take a walk along the river before lunch?")


@pytest.fixture(scope="module")
def speech(speech_wav):
    return load_speech(speech_wav, fps=25.0)


def emotion_for(speech, first="happy", second="sad", split_s=None, intensity=0.8):
    """An SR_EMOTION: ``first`` until ``split_s``, then ``second``."""
    n = speech.n_frames
    split_s = speech.duration_s / 2 if split_s is None else split_s
    probs = np.full((n, len(EMOTIONS)), 0.02, np.float32)
    t = (np.arange(n) + 0.5) / speech.fps
    for i in range(n):
        probs[i, EMOTIONS.index(first if t[i] < split_s else second)] = 1 - 0.02 * 7
    val = np.where(t < split_s, 0.7, -0.6).astype(np.float32)
    return EmotionData(fps=speech.fps, duration_s=speech.duration_s, probs=probs, valence=val,
                       arousal=np.full(n, 0.1, np.float32), intensity=np.full(n, intensity, np.float32))


def face_for(image, box=(178.7, 69.6, 272.5, 176.7), yaw=0.0, gaze=0.5, smile=0.12):
    """An SR_FACE with made-up landmarks placed on ``box`` (the astronaut's face by default).

    Only the points the scene stage reads are placed carefully; ``yaw`` moves the nose tip
    (fraction of half the face width, + = toward image right), ``gaze`` the irises (0..1 across each
    eye), ``smile`` lifts the mouth corners (fraction of the mouth width)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    a = np.linspace(0, 2 * np.pi, LANDMARK_COUNT, endpoint=False)
    lm = np.stack([cx + 0.45 * w * np.cos(a), (y0 + y1) / 2 + 0.45 * h * np.sin(a), np.zeros_like(a)], 1)

    def put(i, x, y):
        lm[i, :2] = (x, y)
    eye_y = y0 + 0.31 * h
    put(234, x0, y0 + 0.4 * h)
    put(454, x1, y0 + 0.4 * h)
    put(1, cx + yaw * w / 2, y0 + 0.57 * h)
    put(152, cx, y1)
    put(10, cx, y0)
    for outer, inner, iris in ((33, 133, 468), (263, 362, 473)):
        side = -1 if outer == 33 else 1
        xo, xi = cx + side * 0.34 * w, cx + side * 0.12 * w
        put(outer, xo, eye_y)
        put(inner, xi, eye_y)
        lo, hi = (xo, xi) if outer == 33 else (xi, xo)
        put(iris, lo + gaze * (hi - lo), eye_y)
    mw = 0.46 * w
    lip_y = y0 + 0.72 * h
    put(13, cx, lip_y - 0.03 * h)
    put(14, cx, lip_y + 0.03 * h)
    put(61, cx - mw / 2, lip_y - smile * mw)
    put(291, cx + mw / 2, lip_y - smile * mw)
    return FaceData(images=[image], landmarks=[lm.astype(np.float32)], boxes=[box], sources=["astronaut"])


# ------------------------------------------------------------------ vocabulary

def test_vocabulary_maps_variants_and_extracts_in_order():
    assert canonical_action("nods") == "nods"
    assert canonical_action("Nodding slowly") == "nods"
    assert canonical_action("shakes her head") == "shakes head"
    assert canonical_action("looks to the left") == "looks left"
    assert canonical_action("glances right") == "looks right"
    assert canonical_action("raises her eyebrows") == "raises eyebrows"
    assert canonical_action("grins") == "smiles"
    assert canonical_action("looking up") == "looks up"
    assert canonical_action("lowers her gaze") == "looks down"
    assert canonical_action("waves") is None
    assert canonical_action("") is None
    assert extract_actions("She smiles, then looks to the left and nods twice.") == ["smiles", "looks left", "nods"]
    assert extract_actions("That is all right, she says calmly.") == []  # 'right' alone is no glance
    # every canonical phrase maps to itself (the A2M stage's gestures read this vocabulary)
    assert all(canonical_action(a) == a for a in ACTIONS)


# ------------------------------------------------------------------ structured replies

def test_reply_repairs_fences_trailing_text_times_overlaps_and_gaps():
    reply = ("Sure! Here is the scene:\n```json\n"
             '{"summary": "a woman talks", "segments": ['
             '{"start_s": 3.0, "end_s": 9.5, "description": "She nods and looks to the left", "actions": []},'
             '{"start": "0s", "end": "1.2s", "description": "She smiles", "actions": ["smiling"], "attributes": "warm light, close-up"},'
             '{"start_s": 1.0, "end_s": 2.5, "description": "She raises her eyebrows", "actions": ["raises eyebrows", "waves"]}'
             "]}\n```\nLet me know if you need anything else!")
    segs, summary, info = parse_reply(reply, 6.0)
    assert summary == "a woman talks"
    assert [(s.start_s, s.end_s) for s in segs] == [(0.0, 1.2), (1.2, 3.0), (3.0, 6.0)]
    assert segs[0].actions == ["smiles"] and segs[0].attributes == ["warm light", "close-up"]
    assert segs[1].actions == ["raises eyebrows"]
    assert segs[2].actions == ["nods", "looks left"]  # taken from the description
    rep = " | ".join(info["repairs"])
    for what in ("code fence", "sorted", "overlap", "clipped", "gap 2.50-3.00", "description", "waves"):
        assert what in rep, (what, rep)
    assert info["unknown_actions"] == ["waves"]
    # the result is a valid SR_SCENE
    SceneData(duration_s=6.0, segments=segs)


def test_reply_dialects_and_cut_off_json():
    v, rep = extract_json("{'segments': [{'start_s': 0, 'end_s': 1, 'description': 'x', 'actions': [],}], }")
    assert v["segments"][0]["description"] == "x" and rep
    v, rep = extract_json('<think>first {a} then</think>[{"start_s": 0, "end_s": 2, "description": "a"}, '
                          '{"start_s": 2, "end_s": 4, "description": "b, cut')
    assert [s["description"] for s in v] == ["a", "b, cut"]
    assert any("cut off" in r for r in rep) and any("think" in r for r in rep)
    segs, _, _ = parse_reply('{"segments":[{"description":"a", "attributes": ["warm light, golden  hour"]}]}', 3.0)
    assert segs[0].attributes == ["warm light", "golden hour"]  # phrases hold no commas (readable text)
    segs, _, _ = parse_reply('{"segments":[{"description":"a"},{"description":"b"}]}', 3.0)
    assert [(s.start_s, s.end_s) for s in segs] == [(0.0, 1.5), (1.5, 3.0)]
    segs, _, info = parse_reply('{"segments":[{"start_s":0,"end_s":1500,"description":"a"},'
                                '{"start_s":1500,"end_s":3000,"description":"b"}]}', 3.0)
    assert [(s.start_s, s.end_s) for s in segs] == [(0.0, 1.5), (1.5, 3.0)]
    assert any("milliseconds" in r for r in info["repairs"])


@pytest.mark.parametrize("reply,why", [
    ("", "empty"), ("   \n ", "empty"), ("I cannot help with that.", "no JSON"),
    ("{not json at all", "not valid JSON"), ('{"answer": 42}', "segments"), ('{"segments": []}', "empty"),
    ('{"segments": [{"start_s": 9, "end_s": 12, "description": "late"}]}', "inside the clip"),
    ('{"segments": [{"start_s": 0, "end_s": 1}]}', "no usable"),
])
def test_unusable_replies_raise(reply, why):
    with pytest.raises(SceneReplyError, match=why):
        parse_reply(reply, 5.0)


def test_normalised_segments_always_tile_the_clip():
    rng = np.random.default_rng(0)
    ran = 0
    for _ in range(200):
        k = int(rng.integers(1, 7))
        raw = [{"start_s": float(rng.uniform(-2, 12)), "end_s": float(rng.uniform(-2, 12)),
                "description": f"s{i}", "actions": ["nods"]} for i in range(k)]
        try:
            segs, _ = normalise_segments(raw, 8.0)
        except SceneReplyError:
            continue  # every segment outside the clip
        ran += 1
        sc = SceneData(duration_s=8.0, segments=segs)  # validates order / no overlap / range
        assert sc.segments[0].start_s == 0.0 and sc.segments[-1].end_s == 8.0
        assert all(a.end_s == b.start_s for a, b in zip(sc.segments, sc.segments[1:]))
    assert ran >= 180, f"only {ran} of 200 random replies were checked (the rest raised)"


_A, _C = {"start_s": 0, "end_s": 2, "description": "a"}, {"start_s": 5, "end_s": 8, "description": "c"}


@pytest.mark.parametrize("raw,bounds,repair", [
    ([_A, {"start_s": 5, "end_s": 2, "description": "b"}, _C], [(0, 2), (2, 5), (5, 8)], "swapped"),
    ([_A, {"end_s": 5, "description": "b"}, _C], [(0, 2), (2, 5), (5, 8)], "missing start"),
    ([_A, {"start_s": 2, "description": "b"}, _C], [(0, 2), (2, 5), (5, 8)], "missing end"),
    ([{"end_s": 2, "description": "a"}, {"start_s": 2, "end_s": 5, "description": "b"},
      {"start_s": 5, "description": "c"}], [(0, 2), (2, 5), (5, 8)], "missing"),
    ([{"start": "3s", "end": "0:00.5", "description": "a"}, {"end_s": 6, "description": "b"},
      {"start_s": 6, "description": "c"}], [(0, 3), (3, 6), (6, 8)], "swapped"),
    # only ends: each start is the previous end (the given ends are kept, not spread evenly)
    ([{"end_s": 2, "description": "a"}, {"end_s": 5, "description": "b"}, {"end_s": 8, "description": "c"}],
     [(0, 2), (2, 5), (5, 8)], "missing start"),
    # NaN and infinite times (JSON dialects have them) count as missing
    ([{"start_s": float("nan"), "end_s": 2, "description": "a"}, {"start_s": 2, "end_s": float("inf"), "description": "b"}],
     [(0, 2), (2, 8)], "missing end"),
    # neighbours that each lack one side of their shared boundary split the time between them
    ([_A, {"start_s": 2, "description": "b"}, {"end_s": 8, "description": "c"}], [(0, 2), (2, 5), (5, 8)],
     "split the time"),
])
def test_reply_time_repairs_keep_every_segment(raw, bounds, repair):
    """Promise (scene replies): swapped start/end, a missing start (from the previous end) and a
    missing end (from the next start) are repaired, said in the repairs, and lose no segment: every
    description comes through, in order, with the times the reply meant."""
    segs, _, info = parse_reply(json.dumps({"segments": raw}), 8.0)
    assert [s.description for s in segs] == [r["description"] for r in raw]
    assert [(s.start_s, s.end_s) for s in segs] == [(float(a), float(b)) for a, b in bounds]
    assert any(repair in r for r in info["repairs"]), info["repairs"]


def test_a_reply_that_is_one_segment_object_is_read():
    """Promise (scene replies): a model that answers with one segment object instead of the list still
    gives a scene (its description, actions and attributes), not a fallback to the template."""
    segs, _, _ = parse_reply('{"description": "She nods warmly.", "actions": ["nods"], "attributes": "soft light"}', 4.0)
    assert [(s.start_s, s.end_s, s.description, s.actions, s.attributes) for s in segs] == \
        [(0.0, 4.0, "She nods warmly.", ["nods"], ["soft light"])]


# ------------------------------------------------------------------ readable text

def test_readable_text_round_trip_and_edits(speech):
    scene = describe_scene(speech, TEXT, emotion=emotion_for(speech))
    text = format_scene(scene)
    assert text.count("\n[") == len(scene.segments) and "prompt: " in text
    back, warnings = parse_scene_text(text, speech.duration_s)
    assert warnings == []
    assert back.segments == scene.segments and back.prompt == scene.prompt
    # a creator's edit: new action, changed time, a typo'd overlap, no prompt line
    edited = ("# my scene\n[0 - 3.2] She grins at the camera | actions: grins, waves | attributes: red scarf\n"
              "[3.0 - 0:05.5] She nods firmly\n[5.5 - 99] She looks down sadly | actions: looks down\n")
    sc, warnings = parse_scene_text(edited, speech.duration_s, emotion=emotion_for(speech))
    assert [s.actions for s in sc.segments] == [["smiles"], ["nods"], ["looks down"]]
    assert sc.segments[0].attributes == ["red scarf"]
    assert sc.segments[1].start_s == 3.2 and sc.segments[-1].end_s == speech.duration_s
    assert any("overlap" in w for w in warnings) and any("clipped" in w for w in warnings)
    # no prompt line: the longest segment's description + the clip's emotion phrase
    assert sc.prompt.startswith("She grins at the camera, ") and sc.prompt.endswith(" expression")
    assert sc.meta["unknown_actions"] == ["waves"]


@pytest.mark.parametrize("text,msg", [
    ("", "empty"), ("# only a comment\n", "no segment lines"),
    ("[0 - 1] ok\nthis line is junk\n", "line 2"),
    ("[0 - x] bad time", "line 1: cannot read the times"),
    ("[2 - 1] backwards", "ends"),
])
def test_bad_scene_text_names_the_line(text, msg):
    with pytest.raises(SceneTextError, match=msg):
        parse_scene_text(text, 5.0)


# ------------------------------------------------------------------ template on real speech

def test_template_times_sentences_at_the_pauses(speech):
    regions = voiced_regions(speech)
    assert len(regions) >= 3  # espeak pauses between the sentences
    scene = describe_scene(speech, TEXT)
    assert scene.backend == "template"
    assert len(scene.segments) == 3
    assert scene.segments[0].start_s == 0 and scene.segments[-1].end_s == speech.duration_s
    vad = speech.features["vad"]
    for s in scene.segments[1:]:
        # every sentence boundary lies in silence (inside a pause)
        i = int(s.start_s * speech.fps)
        assert vad[max(i - 1, 0):i + 2].max() == 0, s.start_s
    assert scene.meta["segment_text"] == split_units(TEXT)
    # the question gets question gestures; the greeting a smile
    assert "tilts head" in scene.segments[2].actions and "smiles" in scene.segments[0].actions
    assert all(a in ACTIONS for s in scene.segments for a in s.actions)
    assert "calm" in scene.prompt  # no emotion input: calm


def test_template_follows_the_emotion_timeline(speech):
    emo = emotion_for(speech, "happy", "sad", split_s=4.0)
    scene = describe_scene(speech, TEXT, emotion=emo)
    first, last = scene.segments[0], scene.segments[-1]
    assert "smiles" in first.actions and "cheerfully" in first.description
    assert "looks down" in last.actions and "sadly" in last.description
    assert any("happy expression" in a for a in first.attributes)
    assert any("sad expression" in a for a in last.attributes)
    angry = describe_scene(speech, TEXT, emotion=emotion_for(speech, "angry", "angry"))
    assert all("frowns" in s.actions for s in angry.segments)
    assert "angry expression" in angry.prompt
    # the prompt's emotion phrase is about the whole clip
    assert "happy" in describe_scene(speech, TEXT, emotion=emotion_for(speech, "happy", "happy")).prompt


def test_template_without_transcript_and_on_silence(make_speech):
    sp = load_speech(make_speech("One two three. Four five six. Seven eight nine.", speed=140), fps=25.0)
    scene = describe_scene(sp, "")
    assert len(scene.segments) == len(voiced_regions(sp)) >= 2
    assert all("speaks" in s.description for s in scene.segments)
    silent = speech_from_waveform(np.zeros(16000 * 2, np.float32), 25.0)
    sc = describe_scene(silent, "Nothing is said.")
    assert len(sc.segments) == 1 and sc.segments[0].actions == [] and "pauses" in sc.segments[0].description
    assert sc.segments[0].end_s == silent.duration_s


def test_template_reads_the_portrait(speech, astronaut):
    straight = summarise_face(face_for(astronaut))
    assert straight.facing == "facing the camera" and straight.gaze == "eyes on the camera"
    assert straight.framing == "head-and-shoulders portrait"
    assert straight.expression == "slight smile"
    assert "warm tones" in straight.lighting  # the astronaut photo is warm (orange suit, skin)
    turned = summarise_face(face_for(astronaut, yaw=0.5, gaze=0.15, smile=-0.12))
    assert turned.facing == "face turned toward the right of the frame"
    assert "left of the frame" in turned.gaze and turned.expression == "downturned mouth"
    close = summarise_face(face_for(astronaut, box=(60.0, 20.0, 450.0, 480.0)))
    assert close.framing == "extreme close-up"
    dark = summarise_face(face_for(astronaut * 0.2))
    assert dark.lighting.startswith("dim")
    scene = describe_scene(speech, TEXT, face=face_for(astronaut))
    assert "head-and-shoulders portrait" in scene.segments[0].attributes
    assert scene.prompt.startswith("head-and-shoulders portrait of a person talking")
    assert scene.meta["face"]["framing"] == "head-and-shoulders portrait"
    # attributes hold no commas, so the readable text round-trips them
    assert all("," not in a for s in scene.segments for a in s.attributes)
    back, _ = parse_scene_text(format_scene(scene), speech.duration_s)
    assert back.segments == scene.segments
    # also a turned face with eyes on the camera and a neutral emotion ("calm, neutral expression")
    turned = describe_scene(speech, TEXT, emotion=emotion_for(speech, "neutral", "neutral"),
                            face=face_for(astronaut, yaw=0.5))
    assert "eyes on the camera" in turned.segments[0].attributes and "calm" in turned.segments[0].attributes
    assert all("," not in a for s in turned.segments for a in s.attributes)
    back, _ = parse_scene_text(format_scene(turned), speech.duration_s)
    assert back.segments == turned.segments


def test_template_with_the_real_face_analysis(speech, astronaut):
    from synchrorama_core.face.analysis import analyze_face
    face = analyze_face(astronaut)
    s = summarise_face(face)
    assert s.facing == "facing the camera" and s.gaze == "eyes on the camera"
    assert s.framing == "head-and-shoulders portrait" and s.expression == "slight smile"
    scene = describe_scene(speech, TEXT, emotion=emotion_for(speech), face=face)
    assert scene.to_dict()["type"] == "SR_SCENE"
    assert SceneData.from_dict(json.loads(json.dumps(scene.to_dict()))).segments == scene.segments


MOODS = ("Hello! I am so happy and delighted, this is wonderful news. "
         "But then my dog died and I feel terribly sad and lonely. Do you understand?")


def test_template_on_real_inputs_face_analysis_espeak_and_the_emotion_embedder(make_speech, astronaut):
    """Nothing made up: espeak speech, the emotion embedder's SR_EMOTION for it, the face analysis."""
    from synchrorama_core.emotion import embed_emotion
    from synchrorama_core.face.analysis import analyze_face
    sp = load_speech(make_speech(MOODS), fps=25.0)
    emo = embed_emotion(sp, MOODS)
    face = analyze_face(astronaut)
    scene = describe_scene(sp, MOODS, emotion=emo, face=face)
    assert scene.backend == "template" and scene.meta["warnings"] == []
    texts = scene.meta["segment_text"]
    assert texts == split_units(MOODS)
    happy = texts.index("I am so happy and delighted, this is wonderful news.")
    sad = texts.index("But then my dog died and I feel terribly sad and lonely.")
    for i, seg in enumerate(scene.segments):
        # each segment's emotion is the embedder's over the segment's own frames
        a, b = round(seg.start_s * emo.fps), round(seg.end_s * emo.fps)
        dom = EMOTIONS[int(np.argmax(emo.probs[a:b].mean(0)))]
        assert (dom if dom != "neutral" else "neutral expression") in seg.attributes[-1], (i, dom, seg)
        assert seg.attributes[:5] == list(summarise_face(face).attributes())
    assert EMOTIONS[int(np.argmax(emo.probs[round(scene.segments[happy].start_s * 25):
                                            round(scene.segments[happy].end_s * 25)].mean(0)))] == "happy"
    assert "smiles" in scene.segments[happy].actions and "cheerfully" in scene.segments[happy].description
    assert "looks down" in scene.segments[sad].actions and "sadly" in scene.segments[sad].description
    assert "tilts head" in scene.segments[-1].actions  # the question
    assert scene.prompt.startswith("head-and-shoulders portrait of a person talking to the camera")
    back, warnings = parse_scene_text(format_scene(scene), sp.duration_s)
    assert back.segments == scene.segments and back.prompt == scene.prompt and warnings == []


def test_the_transcript_typed_into_the_emotion_embedder_reaches_the_scene(speech, astronaut, pack):
    """Typed once: SR_EMOTION carries the Emotion Embedder's transcript; the Scene Describer uses it
    when its own box is empty (a text typed there wins), with the same result as typing it twice."""
    from synchrorama_core.emotion import embed_emotion
    emo = embed_emotion(speech, TEXT)
    assert emo.meta["transcript"] == TEXT and emo.meta["transcript_source"] == "user text"
    twice = describe_scene(speech, TEXT, emotion=emo)
    once = describe_scene(speech, "", emotion=emo)
    assert once.segments == twice.segments and once.prompt == twice.prompt
    assert once.meta["segment_text"] == split_units(TEXT)
    assert (once.meta["transcript_source"], twice.meta["transcript_source"]) == ("from SR_EMOTION", "given")
    own = describe_scene(speech, "Something else entirely.", emotion=emo)
    assert own.meta["segment_text"] == ["Something else entirely."] and own.meta["transcript_source"] == "given"
    silent = describe_scene(speech, "", emotion=embed_emotion(speech, ""))
    assert silent.meta["transcript_source"] == "none" and not any(silent.meta["segment_text"])
    # the same through the nodes, and after a Save Data / Load Data round trip of the emotion
    emo_node = pack.NODE_CLASS_MAPPINGS["SynchroRaMaEmotionEmbedder"]()
    desc = pack.NODE_CLASS_MAPPINGS["SynchroRaMaSceneDescriber"]()
    node_emo, _, _ = emo_node.embed(speech, TEXT)
    scene, prompt, _ = desc.describe(speech, "", emotion=EmotionData.from_dict(node_emo.to_dict()))
    assert scene.segments == twice.segments and prompt == twice.prompt


def test_long_sentences_are_split_into_clauses():
    long = ("When we arrived at the station, the train had already left, so we walked along the river, "
            "past the old mill, and into the village where the market was just opening.")
    units = split_units(long)
    assert len(units) >= 2 and " ".join(units) == long


def test_llm_request_carries_the_context(speech, astronaut):
    ctx = build_context(speech, TEXT, emotion_for(speech), face_for(astronaut))
    msgs = build_messages(ctx, extra="She wears a red scarf.")
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert "JSON" in msgs[0]["content"] and all(a in msgs[0]["content"] for a in ACTIONS)
    user = msgs[1]["content"]
    assert f"{speech.duration_s:.2f} s" in user and '"Shall we take a walk' in user
    assert "happy" in user and "head-and-shoulders portrait" in user and "red scarf" in user


# ------------------------------------------------------------------ errors

def test_bad_inputs_give_clear_errors(speech, tmp_path):
    with pytest.raises(InvalidDataError, match="SR_SPEECH"):
        describe_scene("not speech", TEXT)
    with pytest.raises(InvalidDataError, match="SR_EMOTION"):
        describe_scene(speech, TEXT, emotion=np.zeros(3))
    with pytest.raises(SceneConfigError, match="on_failure"):
        describe_scene(speech, TEXT, on_failure="ignore")
    with pytest.raises(SceneConfigError, match="not a scene backend"):
        describe_scene(speech, TEXT, backend=object())
    with pytest.raises(ModelNotFoundError, match=str(tmp_path / "llm" / "missing")):
        resolve_llm("missing", [str(tmp_path / "llm")])
    d = tmp_path / "llm" / "pickled"
    d.mkdir(parents=True)
    (d / "config.json").write_text("{}")
    (d / "pytorch_model.bin").write_bytes(b"\x80\x02")
    with pytest.raises(ModelNotFoundError, match="safetensors"):
        resolve_llm("pickled", [str(tmp_path / "llm")])
    # a short emotion timeline is matched by time, with a warning
    short = emotion_for(speech)
    short = EmotionData(fps=short.fps, duration_s=2.0, probs=short.probs[:n_frames(2.0, short.fps)],
                        valence=short.valence[:50], arousal=short.arousal[:50], intensity=short.intensity[:50])
    sc = describe_scene(speech, TEXT, emotion=short)
    assert any("emotion timeline lasts 2.00 s" in w for w in sc.meta["warnings"])


# ------------------------------------------------------------------ nodes

def test_scene_nodes(pack, speech, astronaut):
    nodes = pack.NODE_CLASS_MAPPINGS
    desc = nodes["SynchroRaMaSceneDescriber"]()
    scene, prompt, text = desc.describe(speech, TEXT, seed=0, emotion=emotion_for(speech), face=face_for(astronaut))
    assert isinstance(scene, SceneData) and prompt == scene.prompt and "[0.00 - " in text
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["SynchroRaMaSceneDescriber"] == "SynchroRaMa Scene Describer"
    parse = nodes["SynchroRaMaParseSceneText"]()
    edited = text.replace("| actions: smiles", "| actions: smiles, nods", 1)
    sc2, prompt2, text2 = parse.parse(edited, speech=speech)
    assert sc2.segments[0].actions[:2] == ["smiles", "nods"] and prompt2 == prompt
    assert sc2.duration_s == speech.duration_s and "nods" in text2
    sc3, _, _ = parse.parse("[0 - 1.5] She nods\n[1.5 - 3] She smiles", duration_s=0.0)
    assert sc3.duration_s == 3.0
    for key in ("SynchroRaMaSceneHTTPBackend", "SynchroRaMaSceneLocalModel"):
        assert nodes[key].RETURN_TYPES == ("SR_SCENE_BACKEND",) and nodes[key].CATEGORY == "SynchroRaMa/scene"
    with pytest.raises(SceneConfigError, match="NAME of an environment variable"):
        nodes["SynchroRaMaSceneHTTPBackend"]().make("http://127.0.0.1:9/v1", "m", api_key_env="sk-abc123-secret!")
    with pytest.raises(SceneConfigError, match="http://"):
        nodes["SynchroRaMaSceneHTTPBackend"]().make("ftp://example.org/v1", "m")


def test_local_model_node_without_models_names_the_folder(pack, comfy_dirs):
    node = pack.NODE_CLASS_MAPPINGS["SynchroRaMaSceneLocalModel"]
    choice = node.INPUT_TYPES()["required"]["model"][0][0]
    with pytest.raises(ModelNotFoundError, match=str(comfy_dirs / "models" / "synchrorama" / "llm")):
        node().load(choice)
