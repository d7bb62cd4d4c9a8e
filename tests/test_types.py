"""The shared data contracts: validation and lossless round trips."""
import json

import numpy as np
import pytest

from synchrorama_core.errors import InvalidDataError
from synchrorama_core.timing import frame_bounds_s, frame_centers_s, n_frames, n_frames_for_samples, time_to_frame
from synchrorama_core.types import (EMOTIONS, EXPRESSIONS, SPEECH_FEATURES, EmotionData, EmotionPart, FaceData,
                                    MotionData, SceneData, SceneSegment, SpeechData)

rng = np.random.default_rng(0)


def _speech(seconds=1.3, fps=25.0):
    wav = rng.standard_normal(int(seconds * 16000)).astype(np.float32) * 0.1
    n = n_frames(seconds, fps)
    feats = {k: rng.random((n, 8) if k == "bands" else n).astype(np.float32) for k in SPEECH_FEATURES}
    return SpeechData(waveform=wav, fps=fps, features=feats, source="/x/y.wav", start_s=0.5,
                      embeddings=rng.random((n, 4)).astype(np.float32), embedding_model="tiny",
                      meta={"note": "t"})


def _probs(n):
    p = rng.random((n, len(EMOTIONS))).astype(np.float32)
    return p / p.sum(1, keepdims=True)


def _emotion(duration=1.0, fps=25.0):
    n = n_frames(duration, fps)
    part = EmotionPart(probs=_probs(n), valence=rng.uniform(-1, 1, n), arousal=rng.uniform(-1, 1, n),
                       confidence=rng.random(n), backend="lexicon")
    return EmotionData(fps=fps, duration_s=duration, probs=_probs(n), valence=rng.uniform(-1, 1, n),
                       arousal=rng.uniform(-1, 1, n), intensity=rng.random(n), parts={"text": part},
                       weights={"text": 1.0, "speech": 0.5})


def _scene():
    return SceneData(duration_s=4.0, segments=[
        SceneSegment(0.0, 1.5, "a woman smiles", ["smiles"], ["bright light"]),
        {"start_s": 1.5, "end_s": 4.0, "description": "she nods", "actions": ["nods"], "attributes": []}],
        prompt="portrait of a woman", backend="template", meta={"warnings": []})


def _motion(duration=0.8, fps=30.0):
    n = n_frames(duration, fps)
    return MotionData(fps=fps, duration_s=duration, rotation=rng.uniform(-10, 10, (n, 3)),
                      translation=rng.uniform(-0.1, 0.1, (n, 2)), scale=1 + rng.uniform(-0.05, 0.05, n),
                      expressions={"jaw_open": rng.random(n), "blink_l": rng.random(n)}, generator="test")


def _face():
    ims = [rng.random((40, 30, 3)).astype(np.float32), rng.random((20, 24, 3)).astype(np.float32)]
    lms = [rng.random((478, 3)).astype(np.float32) * 20 for _ in ims]
    return FaceData(images=ims, landmarks=lms, boxes=[(1, 2, 20, 30), (0, 0, 10, 10)],
                    sources=["a.png", "b.png"], detector="test")


def _equal(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if hasattr(a, "__dataclass_fields__"):
        return type(a) is type(b) and all(_equal(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return a == b


MAKERS = [_speech, _emotion, _scene, _motion, _face]


@pytest.mark.parametrize("make", MAKERS, ids=lambda f: f.__name__)
def test_round_trip_dict_json_and_files(make, tmp_path):
    v = make()
    d = v.to_dict()
    text = json.dumps(d, allow_nan=False)  # JSON-safe
    back = type(v).from_dict(json.loads(text))
    assert _equal(v, back)
    for ext in ("json", "safetensors"):
        p = v.save(str(tmp_path / f"v.{ext}"))
        assert _equal(v, type(v).load(p))


def test_from_dict_rejects_other_type():
    with pytest.raises(InvalidDataError, match="SR_SCENE"):
        MotionData.from_dict(_scene().to_dict())


def test_frame_count_rule():
    assert n_frames(2.0, 25) == 50
    assert n_frames(1.0 / 3, 30) == 10
    assert n_frames_for_samples(16000 * 3 + 320, 16000, 25) == round((16000 * 3 + 320) / 16000 * 25)
    b = frame_bounds_s(3, 25)
    assert np.allclose(b[1], [0.04, 0.08])
    assert time_to_frame(0.04, 25) == 1 and time_to_frame(0.0399, 25) == 0
    with pytest.raises(InvalidDataError):
        n_frames(-1, 25)
    with pytest.raises(InvalidDataError):
        n_frames(1, 0)


def test_a_pickle_named_like_a_data_file_is_refused_without_unpickling(tmp_path):
    """Promise (safe loading): SR_* data files are JSON or safetensors, read without pickles.  A pickle
    saved as ``x.safetensors`` (e.g. a shared "motion" file) is refused naming the file, and never run."""
    from helpers.pickles import write_pickle
    marker = tmp_path / "unpickled.txt"
    for cls in (MotionData, SpeechData, EmotionData):
        path = write_pickle(tmp_path / f"{cls.TYPE}.safetensors", marker)
        with pytest.raises(InvalidDataError, match="safetensors") as e:
            cls.load(path)
        assert path in str(e.value)
    assert not marker.exists()


def test_frame_count_rule_rounds_to_the_nearest_frame(speech_16k):
    """Promise (DESIGN frame count rule): ``n_frames = round(duration * fps)`` in every stage, not ceil or
    floor.  1.01 s at 25 fps is 25.25 frames (round 25, ceil 26), 1.03 s is 25.75 (round 26, floor 25);
    the speech features and the procedural motion of such clips have exactly those counts."""
    from synchrorama_core.audio import speech_from_waveform
    from synchrorama_core.motion import generate_procedural
    assert n_frames(1.01, 25) == 25 and n_frames(1.03, 25) == 26 and n_frames(0.0, 25) == 0
    assert n_frames(0.49, 30) == 15 and n_frames(0.51, 30) == 15  # 14.7 and 15.3
    assert n_frames_for_samples(16160, 16000, 25) == 25 and n_frames_for_samples(16480, 16000, 25) == 26
    for samples, want in ((16160, 25), (16480, 26)):
        sp = speech_from_waveform(speech_16k[16000:16000 + samples], 25.0)
        assert sp.n_frames == want and all(len(v) == want for v in sp.features.values())
        assert generate_procedural(sp).n_frames == want
    # frame i covers [i/fps, (i+1)/fps): a time belongs to the frame it falls in (floor, not round)
    assert time_to_frame(0.079, 25) == 1 and time_to_frame(0.08, 25) == 2 and time_to_frame(1.999, 1) == 1
    assert np.allclose(frame_centers_s(3, 25), [0.02, 0.06, 0.10])


def test_speech_validation():
    s = _speech()
    feats = dict(s.features)
    feats["rms"] = feats["rms"][:-1]
    with pytest.raises(InvalidDataError, match="rms.*frames"):
        SpeechData(waveform=s.waveform, fps=s.fps, features=feats)
    feats = dict(s.features)
    del feats["f0_hz"]
    with pytest.raises(InvalidDataError, match="f0_hz"):
        SpeechData(waveform=s.waveform, fps=s.fps, features=feats)
    with pytest.raises(InvalidDataError, match="16000"):
        SpeechData(waveform=s.waveform, fps=s.fps, features=s.features, sample_rate=44100)
    w = s.waveform.copy()
    w[3] = np.nan
    with pytest.raises(InvalidDataError, match="NaN"):
        SpeechData(waveform=w, fps=s.fps, features=s.features)


def test_emotion_validation():
    e = _emotion()
    bad = e.probs.copy()
    bad[0] *= 2
    with pytest.raises(InvalidDataError, match="sum to 1"):
        EmotionData(fps=e.fps, duration_s=e.duration_s, probs=bad, valence=e.valence, arousal=e.arousal,
                    intensity=e.intensity)
    with pytest.raises(InvalidDataError, match="valence"):
        EmotionData(fps=e.fps, duration_s=e.duration_s, probs=e.probs, valence=e.valence * 3,
                    arousal=e.arousal, intensity=e.intensity)
    with pytest.raises(InvalidDataError, match="frames"):  # wrong length for the duration
        EmotionData(fps=e.fps, duration_s=e.duration_s + 1, probs=e.probs, valence=e.valence,
                    arousal=e.arousal, intensity=e.intensity)
    assert e.dominant()[0] in EMOTIONS


def test_scene_validation():
    with pytest.raises(InvalidDataError, match="overlap"):
        SceneData(duration_s=3, segments=[SceneSegment(0, 2, "a"), SceneSegment(1, 3, "b")])
    with pytest.raises(InvalidDataError, match="after start"):
        SceneData(duration_s=3, segments=[SceneSegment(2, 1, "a")])
    with pytest.raises(InvalidDataError, match="outside"):
        SceneData(duration_s=3, segments=[SceneSegment(0, 5, "a")])
    s = _scene()
    assert s.segment_at(2.0).actions == ["nods"] and s.segment_at(9) is None


def test_motion_validation_and_defaults():
    m = _motion()
    assert set(m.expressions) == set(EXPRESSIONS)
    assert np.all(m.expressions["smile"] == 0)
    assert m.expression_matrix().shape == (m.n_frames, len(EXPRESSIONS))
    with pytest.raises(InvalidDataError, match="unknown"):
        MotionData(fps=25, duration_s=0.2, rotation=np.zeros((5, 3)), translation=np.zeros((5, 2)),
                   scale=np.ones(5), expressions={"grin": np.zeros(5)})
    with pytest.raises(InvalidDataError, match=r"\[0.0, 1.0\]"):
        MotionData(fps=25, duration_s=0.2, rotation=np.zeros((5, 3)), translation=np.zeros((5, 2)),
                   scale=np.ones(5), expressions={"smile": np.full(5, 1.5)})
    n = MotionData.neutral(1.0, 25)
    assert n.n_frames == 25 and np.all(n.scale == 1)


def test_face_validation():
    f = _face()
    with pytest.raises(InvalidDataError, match="478"):
        FaceData(images=f.images[:1], landmarks=[np.zeros((468, 3))], boxes=f.boxes[:1])
    with pytest.raises(InvalidDataError, match="at least one"):
        FaceData(images=[], landmarks=[], boxes=[])
    with pytest.raises(InvalidDataError, match="2 images but 1"):
        FaceData(images=f.images, landmarks=f.landmarks[:1], boxes=f.boxes)
