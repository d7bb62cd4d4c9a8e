"""Neural A2M: a tiny model trained in the test lowers its loss, saves as safetensors + config.json,
reloads through the model folders with identical output, and refuses bad folders clearly."""
import json
import os

import numpy as np
import pytest

from synchrorama_core.audio import load_speech
from synchrorama_core.audio.phones import speech_phones
from synchrorama_core.errors import InvalidDataError, ModelNotFoundError
from synchrorama_core.models import default_dirs
from synchrorama_core.motion import generate_procedural
from synchrorama_core.motion.neural import (A2MModelError, NeuralA2M, default_config, list_a2m_models, load_a2m,
                                            receptive_field)
from synchrorama_core.training.a2m import evaluate, pair_from_motion, train_a2m
from synchrorama_core.types import EMOTIONS, EXPRESSIONS, EmotionData

TINY = dict(channels=16, kernel=3, dilations=(1, 2, 4), dropout=0.0)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _emotion(speech, name):
    n = speech.n_frames
    p = np.zeros((n, len(EMOTIONS)), np.float32)
    p[:, EMOTIONS.index(name)] = 1.0
    return EmotionData(fps=speech.fps, duration_s=speech.duration_s, probs=p, valence=np.zeros(n),
                       arousal=np.zeros(n), intensity=np.full(n, 0.8, np.float32))


@pytest.fixture(scope="module")
def speeches(make_speech):
    texts = ["Good morning, it is lovely to see you again.",
             "Please bring the blue box over here before noon.",
             "Why would anyone leave a window open in winter?"]
    return [load_speech(make_speech(t), 25.0) for t in texts]


@pytest.fixture(scope="module")
def tracks(speeches):
    """The speeches' phone tracks (free phone recognition: no transcript)."""
    return [speech_phones(s) for s in speeches]


@pytest.fixture(scope="module")
def pairs(speeches, tracks):
    """Training pairs: speech features and phones -> the procedural generator's motion (a learnable target)."""
    out = []
    for i, (s, tr) in enumerate(zip(speeches, tracks)):
        emo = _emotion(s, ["happy", "neutral", "sad"][i])
        out.append(pair_from_motion(s, generate_procedural(s, emo, seed=i, phones=tr), emo, phones=tr))
    return out


@pytest.fixture(scope="module")
def trained(pairs):
    return train_a2m(pairs, None, steps=150, batch=4, window=48, lr=5e-3, seed=0, say=lambda m: None, **TINY)


def test_a_few_steps_lower_the_loss(pairs, trained):
    import torch
    torch.manual_seed(0)
    cfg = trained["model"].config
    fresh = NeuralA2M({**cfg})  # same normalisation, random weights
    before = evaluate(fresh, pairs)
    after = evaluate(trained["model"], pairs)
    assert after < 0.7 * before, (before, after)
    assert trained["train_loss_last"] < trained["train_loss_first"]
    assert trained["val_after"] < trained["val_before"]


def test_save_reload_identical(tmp_path, monkeypatch, trained, speeches, tracks):
    model = trained["model"]
    root = tmp_path / "models" / "synchrorama"
    monkeypatch.setenv("SYNCHRORAMA_MODELS", str(root))
    folder = model.save(os.path.join(default_dirs("a2m")[0], "tiny"))
    assert sorted(os.listdir(folder)) == ["config.json", "model.safetensors"]
    cfg = json.load(open(os.path.join(folder, "config.json")))
    assert cfg["kind"] == "a2m" and cfg["arch"] == "tcn" and cfg["training"]["steps"] == 150
    assert list_a2m_models() == ["tiny"]
    again = load_a2m("tiny")                  # by name, through $SYNCHRORAMA_MODELS/a2m
    by_path = NeuralA2M.load(folder)          # by path
    s = speeches[0]
    a = model.predict(s, phones=tracks[0])
    np.testing.assert_array_equal(again.predict(s, phones=tracks[0]), a)
    np.testing.assert_array_equal(by_path.predict(s, phones=tracks[0]), a)
    m1 = again.generate(s, seed=3, phones=tracks[0])
    m2 = by_path.generate(s, seed=3, phones=tracks[0])
    assert m1.to_dict() == m2.to_dict()
    assert m1.generator == "neural:tiny"


def test_generate_frame_count_controls_and_fps(trained, speeches, tracks):
    model = trained["model"]
    s = speeches[1]
    m = model.generate(s, phones=tracks[1])
    assert m.n_frames == s.n_frames and set(m.expressions) == set(EXPRESSIONS)
    still = model.generate(s, head_scale=0.0, lip_scale=0.0, blink_rate=0.0, phones=tracks[1])
    assert np.abs(still.rotation).max() == 0 and still.expressions["jaw_open"].max() == 0
    assert still.expressions["blink_l"].max() == 0
    # speech at another fps is resampled to the model's 25 fps and back
    s30 = load_speech(s.source, 30.0)
    m30 = model.generate(s30, phones=speech_phones(s30))
    assert m30.n_frames == s30.n_frames and m30.fps == 30.0
    # the learnt jaw follows the procedural jaw it was trained on, at least loosely, after 150 steps
    target = generate_procedural(s, seed=1, phones=tracks[1]).expressions["jaw_open"]
    c = np.corrcoef(m.expressions["jaw_open"], target)[0, 1]
    assert c > 0.4, c


def test_windowed_inference_equals_one_pass(trained, speeches, tracks):
    model = trained["model"]
    x = model.inputs(speeches[2], phones=tracks[2])
    assert receptive_field(model.config) < len(x)
    full = model.run(x, window=100000)
    for w in (7, 31, 64):
        np.testing.assert_allclose(model.run(x, window=w), full, atol=1e-5)


def test_embeddings_model(speeches, tracks):
    """A model trained with audio-encoder embeddings takes them, and says so when they are missing."""
    rng = np.random.default_rng(0)
    s = speeches[0]
    import dataclasses
    se = dataclasses.replace(s, embeddings=rng.standard_normal((s.n_frames, 6)).astype(np.float32),
                             embedding_model="toy-encoder")
    p = pair_from_motion(se, generate_procedural(se, phones=tracks[0]), use_embeddings=True, phones=tracks[0])
    res = train_a2m([p], None, steps=3, batch=2, window=32, say=lambda m: None, **TINY)
    model = res["model"]
    assert model.config["embedding_dim"] == 6
    assert model.generate(se, phones=tracks[0]).n_frames == s.n_frames
    with pytest.raises(InvalidDataError, match="6-dim audio-encoder embeddings"):
        model.generate(s, phones=tracks[0])
    with pytest.raises(InvalidDataError, match="takes the speech's phone track"):
        model.generate(se)


def test_missing_and_broken_models(tmp_path, trained):
    with pytest.raises(ModelNotFoundError, match="a2m"):
        load_a2m("nothing-here", search_dirs=[str(tmp_path)])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError, match="missing config.json"):
        load_a2m("empty", search_dirs=[str(tmp_path)])
    folder = trained["model"].save(str(tmp_path / "good"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"kind": "llm"}))
    (bad / "model.safetensors").write_bytes(open(os.path.join(folder, "model.safetensors"), "rb").read())
    with pytest.raises(A2MModelError, match="not a SynchroRaMa A2M config"):
        load_a2m(str(bad))
    cfg = json.load(open(os.path.join(folder, "config.json")))
    cfg["channels"] = 8  # weights no longer fit
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(A2MModelError, match="do not fit"):
        load_a2m(str(bad))
    (bad / "config.json").write_text(json.dumps(default_config(**TINY)))
    (bad / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(A2MModelError, match="safetensors"):
        load_a2m(str(bad))


def test_a2m_refuses_pickled_weights_without_unpickling(tmp_path, trained):
    """Promise (safe loading): an A2M model loads only safetensors weights.  A pickle renamed
    ``model.safetensors``, or a folder holding a pickled ``model.bin`` / ``model.pt`` instead, is refused
    with an error naming the file or folder, and the pickle is never run."""
    from helpers.pickles import write_pickle
    marker = tmp_path / "unpickled.txt"
    folder = trained["model"].save(str(tmp_path / "renamed"))
    write_pickle(os.path.join(folder, "model.safetensors"), marker)
    with pytest.raises(A2MModelError, match="safetensors") as e:
        load_a2m(folder)
    assert os.path.join(folder, "model.safetensors") in str(e.value)
    for ext in (".bin", ".pt"):
        other = trained["model"].save(str(tmp_path / ext[1:]))
        os.remove(os.path.join(other, "model.safetensors"))
        write_pickle(os.path.join(other, "model" + ext), marker)
        with pytest.raises(ModelNotFoundError, match="model.safetensors") as e:
            load_a2m(other)
        assert other in str(e.value)
    assert not marker.exists()


def test_phone_inputs_let_a_model_learn_the_closures(make_speech):
    """Trained on the procedural visemes (espeak sentences, transcripts aligned), a tiny model with the
    phone track as input keeps the lips nearly shut on the m/b/p of a held-out sentence and open on its
    t/d/n; the same model without phone inputs cannot tell them apart nearly as well (the audio
    features give an m and an n much the same energy dip).  Measured: jaw at m/b/p / at t/d/n 0.28 with
    phone inputs, 0.91 without (the procedural target: 0, the lips shut)."""
    from synchrorama_core.types import VISEMES
    texts = ["Maybe Bob and Mimi bump into Pam by the mop.", "Nadia and Todd need ten tiny notes on the desk.",
             "Big bubbles pop among the lumber, ample and humble.", "Tender doodles tint the window and the dune.",
             "My mom made maple muffins, and Dan dined at noon."]
    held = "A lemon, a melon, a tenant, a timber; the number and the tender letter."
    speeches = [load_speech(make_speech(t), 25.0) for t in texts]
    test = load_speech(make_speech(held), 25.0)
    aligned = [speech_phones(s, "auto", t) for s, t in zip(speeches, texts)]
    # targets without the visual lead, so a closure falls on the frames the track calls bilabial
    targets = [generate_procedural(s, seed=i, phones=tr, lead_frames=0.0)
               for i, (s, tr) in enumerate(zip(speeches, aligned))]
    held_track = speech_phones(test, "auto", held)
    vis = held_track.viseme
    lab, den = vis == list(VISEMES).index("bilabial"), vis == list(VISEMES).index("dental")
    ratio = {}
    for phones in ("auto", "off"):
        pairs = [pair_from_motion(s, m, phones=tr if phones == "auto" else "off")
                 for s, m, tr in zip(speeches, targets, aligned)]
        assert pairs[0].phone_dim == (15 if phones == "auto" else 0)
        res = train_a2m(pairs, None, steps=200, batch=8, window=64, lr=5e-3, seed=0, val_fraction=0.0,
                        say=lambda m: None, **TINY)
        model = res["model"]
        assert model.uses_phones == (phones == "auto")
        m = model.generate(test, phones=held_track, lead_frames=0.0)
        jaw = m.expressions["jaw_open"]
        ratio[phones] = float(jaw[lab].mean() / jaw[den].mean())
        if phones == "auto":
            assert m.meta["phones"]["backend"] == "pocketsphinx-align"
            assert "lip_tuck" in model.outputs and model.config["format"] == 2
    print("jaw at m/b/p over jaw at t/d/n", ratio)
    assert ratio["auto"] <= 0.45 and ratio["off"] >= ratio["auto"] + 0.3, ratio


def test_format_1_models_still_load_and_run(tmp_path, speeches):
    """A model saved before the visemes (no phone inputs, 13 expressions without lip_tuck) loads, runs
    without computing a phone track, and gives lip_tuck 0."""
    import torch
    from safetensors.torch import save_file
    from synchrorama_core.motion.neural import EMOTION_INPUTS, SPEECH_INPUTS, build_net
    cfg = default_config(phone_inputs=False, **TINY)
    cfg["format"] = 1
    del cfg["phone_inputs"]
    cfg["outputs"] = [k for k in cfg["outputs"] if k != "lip_tuck"]
    assert cfg["in_dim"] == len(SPEECH_INPUTS) + len(EMOTION_INPUTS) == 31 and len(cfg["outputs"]) == 19
    torch.manual_seed(0)
    net = build_net(cfg)
    folder = tmp_path / "old"
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(cfg))
    model = load_a2m(str(folder))
    assert not model.uses_phones and len(model.outputs) == 19
    m = model.generate(speeches[0])          # no phone track needed
    assert m.expressions["lip_tuck"].max() == 0 and m.expressions["jaw_open"].max() > 0
    assert "does not take the phone track" in m.meta["phones"]["note"]
    # fine-tuning it keeps its layout (the targets' lip_tuck column is left out)
    pair = pair_from_motion(speeches[0], generate_procedural(speeches[0]), phones="off")
    res = train_a2m([pair], None, steps=2, batch=2, window=32, say=lambda m: None, init=model, **TINY)
    assert res["model"].outputs == model.outputs
    # a model with a phone layout this version does not know is refused clearly
    bad = dict(cfg, phone_inputs=["something"], format=2)
    (folder / "config.json").write_text(json.dumps(bad))
    with pytest.raises(A2MModelError, match="phone_inputs"):
        load_a2m(str(folder))
