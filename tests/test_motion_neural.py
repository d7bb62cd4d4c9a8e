"""Neural A2M: a tiny model trained in the test lowers its loss, saves as safetensors + config.json,
reloads through the model folders with identical output, and refuses bad folders clearly."""
import json
import os

import numpy as np
import pytest

from synchrorama_core.audio import load_speech
from synchrorama_core.errors import InvalidDataError, ModelNotFoundError
from synchrorama_core.models import default_dirs
from synchrorama_core.motion import generate_procedural
from synchrorama_core.motion.neural import (A2MModelError, NeuralA2M, default_config, list_a2m_models, load_a2m,
                                            receptive_field)
from synchrorama_core.training.a2m import evaluate, pair_from_motion, train_a2m
from synchrorama_core.types import EMOTIONS, EXPRESSIONS, EmotionData

TINY = dict(channels=16, kernel=3, dilations=(1, 2, 4), dropout=0.0)


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
def pairs(speeches):
    """Training pairs: speech features -> the procedural generator's motion (a learnable target)."""
    out = []
    for i, s in enumerate(speeches):
        emo = _emotion(s, ["happy", "neutral", "sad"][i])
        out.append(pair_from_motion(s, generate_procedural(s, emo, seed=i), emo))
    return out


@pytest.fixture(scope="module")
def trained(pairs):
    return train_a2m(pairs, None, steps=40, batch=4, window=48, lr=5e-3, seed=0, say=lambda m: None, **TINY)


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


def test_save_reload_identical(tmp_path, monkeypatch, trained, speeches):
    model = trained["model"]
    root = tmp_path / "models" / "synchrorama"
    monkeypatch.setenv("SYNCHRORAMA_MODELS", str(root))
    folder = model.save(os.path.join(default_dirs("a2m")[0], "tiny"))
    assert sorted(os.listdir(folder)) == ["config.json", "model.safetensors"]
    cfg = json.load(open(os.path.join(folder, "config.json")))
    assert cfg["kind"] == "a2m" and cfg["arch"] == "tcn" and cfg["training"]["steps"] == 40
    assert list_a2m_models() == ["tiny"]
    again = load_a2m("tiny")                  # by name, through $SYNCHRORAMA_MODELS/a2m
    by_path = NeuralA2M.load(folder)          # by path
    s = speeches[0]
    a = model.predict(s)
    np.testing.assert_array_equal(again.predict(s), a)
    np.testing.assert_array_equal(by_path.predict(s), a)
    m1 = again.generate(s, seed=3)
    m2 = by_path.generate(s, seed=3)
    assert m1.to_dict() == m2.to_dict()
    assert m1.generator == "neural:tiny"


def test_generate_frame_count_controls_and_fps(trained, speeches):
    model = trained["model"]
    s = speeches[1]
    m = model.generate(s)
    assert m.n_frames == s.n_frames and set(m.expressions) == set(EXPRESSIONS)
    still = model.generate(s, head_scale=0.0, lip_scale=0.0, blink_rate=0.0)
    assert np.abs(still.rotation).max() == 0 and still.expressions["jaw_open"].max() == 0
    assert still.expressions["blink_l"].max() == 0
    # speech at another fps is resampled to the model's 25 fps and back
    s30 = load_speech(s.source, 30.0)
    m30 = model.generate(s30)
    assert m30.n_frames == s30.n_frames and m30.fps == 30.0
    # the learnt jaw follows the speech energy at least loosely after 40 steps
    c = np.corrcoef(m.expressions["jaw_open"], s.features["rms"])[0, 1]
    assert c > 0.3, c


def test_windowed_inference_equals_one_pass(trained, speeches):
    model = trained["model"]
    x = model.inputs(speeches[2])
    assert receptive_field(model.config) < len(x)
    full = model.run(x, window=100000)
    for w in (7, 31, 64):
        np.testing.assert_allclose(model.run(x, window=w), full, atol=1e-5)


def test_embeddings_model(speeches):
    """A model trained with audio-encoder embeddings takes them, and says so when they are missing."""
    rng = np.random.default_rng(0)
    s = speeches[0]
    import dataclasses
    se = dataclasses.replace(s, embeddings=rng.standard_normal((s.n_frames, 6)).astype(np.float32),
                             embedding_model="toy-encoder")
    p = pair_from_motion(se, generate_procedural(se), use_embeddings=True)
    res = train_a2m([p], None, steps=3, batch=2, window=32, say=lambda m: None, **TINY)
    model = res["model"]
    assert model.config["embedding_dim"] == 6
    assert model.generate(se).n_frames == s.n_frames
    with pytest.raises(InvalidDataError, match="6-dim audio-encoder embeddings"):
        model.generate(s)


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
