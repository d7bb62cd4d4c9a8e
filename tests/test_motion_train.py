"""Training-target extraction and the training script, end to end on real videos made in the test:
the astronaut animated by known procedural motion (warp renderer) with espeak speech, encoded as
H.264 + AAC mp4, then decoded, face-tracked, converted back to motion and trained on."""
import os
import shutil

import numpy as np
import pytest

from synchrorama_core.audio import load_speech, load_speech_waveform
from synchrorama_core.audio.phones import speech_phones
from synchrorama_core.errors import InvalidDataError
from synchrorama_core.face import analyze_face
from synchrorama_core.geometry import apply_motion
from synchrorama_core.motion import generate_procedural
from synchrorama_core.motion.extract import motion_from_landmarks
from synchrorama_core.motion.neural import ROT_UNIT, NeuralA2M
from synchrorama_core.training.a2m import (OUTPUTS, collect_pairs, emotion_label, evaluate, main, pair_from_video,
                                           rule_mouth, train_a2m)
from synchrorama_core.types import EMOTIONS, EXPRESSIONS

#: rich in bilabials, f/v and rounded vowels, so the viseme channels have something to learn
TEXTS = ["Good morning, maybe Bob and Mimi will bump into Pam by the mop.",
         "Five fine vivid voices moved over the fever; who knew two blue shoes could move you so?"]


@pytest.fixture(scope="module")
def face(astronaut):
    return analyze_face(astronaut, source="astronaut")


@pytest.fixture(scope="module")
def videos(tmp_path_factory, make_speech, face):
    from synchrorama_core.render import render_video
    from synchrorama_core.video.writer import write_video
    root = tmp_path_factory.mktemp("talking")
    d = root / "happy"          # an emotion word in the path labels the clips
    d.mkdir()
    truth = []
    for k, text in enumerate(TEXTS):
        wav = make_speech(text)
        speech = load_speech(wav, 25.0)
        motion = generate_procedural(speech, seed=k, head_scale=2.0)
        frames = render_video(face, motion)
        write_video(str(d / f"clip{k}.mp4"), frames, 25.0, audio=load_speech_waveform(wav), sample_rate=16000)
        (d / f"clip{k}.txt").write_text(text)     # the transcript: the phone track is aligned to it
        truth.append(motion)
    (root / "notes.txt").write_text("not a video")
    return root, truth


def test_extraction_inverts_apply_motion(face):
    """Landmarks made by apply_motion come back as the motion that made them."""
    ref = face.landmarks[0]
    rng = np.random.default_rng(0)
    n = 40
    t = np.arange(n)
    from synchrorama_core.types import MotionData
    m = MotionData.neutral(n / 25.0, 25.0)
    m.rotation[:] = np.stack([12 * np.sin(t / 6), 8 * np.sin(t / 9 + 1), 6 * np.sin(t / 5 + 2)], 1)
    m.translation[:] = 0.05 * np.stack([np.sin(t / 7), np.cos(t / 8)], 1)
    m.scale[:] = 1 + 0.05 * np.sin(t / 10)
    for k in EXPRESSIONS:
        m.expressions[k][:] = np.clip(0.5 + 0.5 * np.sin(t / rng.uniform(3, 9) + rng.uniform(0, 6)), 0, 1)
    lm = apply_motion(ref, m)
    got, valid = motion_from_landmarks(lm, 25.0, reference=ref)
    assert valid.all()
    assert np.abs(got.rotation - m.rotation).max() < 0.5
    assert np.abs(got.translation - m.translation).max() < 0.005
    assert np.abs(got.scale - m.scale).max() < 0.005
    err = np.abs(got.expression_matrix() - m.expression_matrix()).max(axis=0)
    assert err.max() < 0.1, dict(zip(EXPRESSIONS, err.round(3)))
    # frames without a face are interpolated and flagged
    track = [None if i in (3, 4, 20) else lm[i] for i in range(n)]
    got2, valid2 = motion_from_landmarks(track, 25.0, reference=ref)
    assert valid2.sum() == n - 3 and not valid2[3] and got2.n_frames == n
    assert np.abs(got2.rotation[4] - m.rotation[4]).max() < 2.0
    with pytest.raises(InvalidDataError, match="face visible"):
        motion_from_landmarks([None] * 10, 25.0)


def test_targets_from_a_rendered_video(videos):
    root, truth = videos
    p = pair_from_video(str(root / "happy" / "clip0.mp4"), 25.0)
    m = truth[0]
    n = m.n_frames
    assert len(p.y) >= n and p.mask[:n].mean() > 0.95
    rot = p.y[:n, 0:3] * ROT_UNIT
    for j, name in enumerate(("yaw", "pitch", "roll")):
        c = np.corrcoef(rot[:, j], m.rotation[:, j])[0, 1]
        assert c > 0.8, (name, c)
    jaw = p.y[:n, 6 + EXPRESSIONS.index("jaw_open")]
    assert np.corrcoef(jaw, m.expressions["jaw_open"])[0, 1] > 0.6
    # the folder name 'happy' became the emotion input
    probs = p.x[:, 20:28]
    assert np.all(probs[:, EMOTIONS.index("happy")] == 1.0)


def test_training_script_end_to_end(videos, tmp_path, capsys):
    root, _ = videos
    out = tmp_path / "run"
    args = ["--videos", str(root), "--out", str(out), "--name", "tiny", "--steps", "12", "--batch", "4",
            "--window", "32", "--channels", "16", "--kernel", "3", "--dilations", "1,2", "--lr", "3e-3"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "clip0.mp4" in text and "clip1.mp4" in text and "saved" in text
    folder = out / "tiny"
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert len(os.listdir(out / "cache")) == 2
    model = NeuralA2M.load(str(folder))
    assert model.config["training"]["clips"] == 2
    assert model.config["training"]["mouth_targets"] == "phones"   # the default: the viseme rules' mouth
    speech = load_speech(str(root / "happy" / "clip1.mp4"), 25.0)
    assert model.uses_phones                                    # --phones auto (the default)
    assert model.generate(speech, phones=speech_phones(speech)).n_frames == speech.n_frames
    # a second run reuses the extracted targets
    assert main(args + ["--name", "tiny2", "--steps", "2"]) == 0
    assert "(cached)" in capsys.readouterr().out
    # a cache file that cannot be read (cut short) is extracted again and rewritten, not an error
    broken = sorted((out / "cache").iterdir())[0]
    broken.write_bytes(broken.read_bytes()[:100])
    assert main(args + ["--name", "tiny3", "--steps", "2"]) == 0
    text = capsys.readouterr().out
    assert text.count("(cached)") == 1 and "face in" in text
    assert len(os.listdir(out / "cache")) == 2 and broken.stat().st_size > 1000


def test_training_script_errors(tmp_path, capsys, videos):
    (tmp_path / "none").mkdir()
    assert main(["--videos", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "no videos" in capsys.readouterr().err
    assert main(["--videos", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["--videos", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--phones", "off",
                 "--mouth-targets", "blend"]) == 2
    assert "--mouth-targets blend comes from the phone track" in capsys.readouterr().err
    # a video without an audio track is skipped with its reason; none left -> a clear error
    root, _ = videos
    silent = tmp_path / "silent"
    silent.mkdir()
    import av
    with av.open(str(silent / "mute.mp4"), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for i in range(10):
            fr = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 20, np.uint8), format="rgb24")
            for pkt in s.encode(fr):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    with pytest.raises(InvalidDataError, match="mute.mp4: no usable audio"):
        collect_pairs(str(silent), say=lambda m: None)
    shutil.copy(root / "happy" / "clip0.mp4", silent / "talk.mp4")
    msgs = []
    pairs = collect_pairs(str(silent), say=msgs.append)
    assert len(pairs) == 1 and any("skipped mute.mp4" in m for m in msgs)


def test_phone_targets_teach_a_model_the_viseme_rules(videos, tmp_path_factory, make_speech, one_torch_thread):
    """``--mouth-targets phones``: the mouth channels' targets are the procedural viseme rules on the
    phone track, the rest the video's fit.  Trained briefly on the two rendered clips, a tiny model
    reproduces the rules' lip press, lip tuck and rounding on a held-out sentence far better than
    the same model untrained (and than one trained on the video fit's mouth, which loses them)."""
    import torch
    from synchrorama_core.motion.adjust import MOUTH
    root, _ = videos
    cache = str(tmp_path_factory.mktemp("cache"))
    phones = collect_pairs(str(root), cache_dir=cache, say=lambda m: None, mouth_targets="phones")
    video = collect_pairs(str(root), cache_dir=cache, say=lambda m: None, mouth_targets="video")   # same cache
    mouth = [OUTPUTS.index(k) for k in MOUTH]
    pose = [i for i in range(len(OUTPUTS)) if i not in mouth]
    for p, v in zip(phones, video):
        assert p.mouth_targets == "phones" and v.mouth_targets == "video"
        np.testing.assert_array_equal(p.y[:, pose], v.y[:, pose])               # head, blinks, brows: the video's
        np.testing.assert_array_equal(p.y[:, mouth], p.rules)
        assert np.abs(p.y[:, mouth] - v.y[:, mouth]).max() > 0.2
    text = "Move the five blue boxes past my window, Bob, before the phone rings."
    held = load_speech(make_speech(text), 25.0)
    track = speech_phones(held, "auto", text)
    happy = emotion_label(str(root / "happy" / "clip0.mp4"), held)               # the clips' folder label
    rules = dict(zip(MOUTH, rule_mouth(held, track, happy).T))
    channels = ("mouth_press", "lip_tuck", "mouth_pucker")
    assert all(rules[k].max() > 0.3 for k in channels)                            # the sentence has them

    def corr(model):
        y = model.predict(held, happy, phones=track)
        return {k: float(np.corrcoef(y[:, model.outputs.index(k)], rules[k])[0, 1]) for k in channels}
    kw = dict(steps=200, batch=8, window=48, lr=5e-3, channels=32, kernel=3, dilations=(1, 2), dropout=0.0,
              seed=0, say=lambda m: None)
    res = train_a2m(phones, None, **kw)
    torch.manual_seed(0)
    untrained = NeuralA2M({**res["model"].config})                                # same inputs, random weights
    r = {"trained": corr(res["model"]), "untrained": corr(untrained),
         "video targets": corr(train_a2m(video, None, **kw)["model"])}
    print("correlation with the rules on held-out speech", r)
    assert res["model"].config["training"]["mouth_targets"] == "phones"
    assert res["val_after"] < res["val_before"] and evaluate(res["model"], phones) < evaluate(untrained, phones)
    for k in channels:
        assert r["trained"][k] >= 0.6 and r["trained"][k] >= r["untrained"][k] + 0.4, (k, r)
    for k in ("mouth_press", "lip_tuck"):       # the video fit hardly sees them (docs/motion.md)
        assert r["trained"][k] >= r["video targets"][k] + 0.3, (k, r)
