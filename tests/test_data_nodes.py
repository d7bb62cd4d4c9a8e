"""Save Data / Load Data nodes and the bundled samples, on real espeak-ng speech (no ComfyUI needed)."""
import importlib
import os

import numpy as np
import pytest

from synchrorama_core.audio import load_speech
from synchrorama_core.emotion import embed_emotion
from synchrorama_core.motion import generate_procedural


@pytest.fixture(scope="module")
def values(speech_wav):
    sp = load_speech(speech_wav, fps=25)
    emo = embed_emotion(sp, "Hello there. I am really happy to see you today.")
    return {"speech": sp, "emotion": emo, "motion": generate_procedural(sp, emotion=emo, seed=2)}


@pytest.fixture()
def data_io(pack):
    return importlib.import_module(pack.__name__ + ".nodes.data_io")


@pytest.mark.parametrize("fmt", ["json", "safetensors"])
def test_save_then_load_gives_equal_values(data_io, values, comfy_dirs, fmt):
    out = data_io.SynchroRaMaSaveData().save("talk/clip", fmt, **values)
    files = out["ui"]["files"]
    assert [f["subfolder"] for f in files] == ["talk"] * 3
    assert out["result"][0].count("\n") == 2 and "SR_MOTION" in out["result"][0]
    loader = data_io.SynchroRaMaLoadData()
    for f, (name, kind) in zip(files, [("speech", "SR_SPEECH"), ("emotion", "SR_EMOTION"), ("motion", "SR_MOTION")]):
        path = str(comfy_dirs / "output" / f["subfolder"] / f["filename"])
        assert path.endswith("." + fmt) and os.path.getsize(path) > 0
        got = loader.load(kind, path)
        filled = [v for v in got if v is not None]
        assert len(filled) == 1
        assert filled[0].to_dict() == values[name].to_dict()
    # a second save numbers the files on, never overwriting
    again = data_io.SynchroRaMaSaveData().save("talk/clip", fmt, motion=values["motion"])["ui"]["files"][0]
    assert again["filename"] not in [f["filename"] for f in files]


def test_load_data_notices_an_edited_file(data_io, values, comfy_dirs):
    name = "motion.json"
    path = comfy_dirs / "input" / name
    values["motion"].save(str(path))
    h1 = data_io.SynchroRaMaLoadData.IS_CHANGED("SR_MOTION", name)
    assert h1 == data_io.SynchroRaMaLoadData.IS_CHANGED("SR_MOTION", name)
    m = data_io.SynchroRaMaLoadData().load("SR_MOTION", name)[3]
    d = m.to_dict()
    d["expressions"]["smile"] = [0.5] * m.n_frames  # hand edit
    type(m).from_dict(d).save(str(path))
    assert data_io.SynchroRaMaLoadData.IS_CHANGED("SR_MOTION", name) != h1
    edited = data_io.SynchroRaMaLoadData().load("SR_MOTION", name)[3]
    assert np.allclose(edited.expressions["smile"], 0.5)


def test_bad_inputs(data_io, values, comfy_dirs):
    with pytest.raises(ValueError, match="connect at least one"):
        data_io.SynchroRaMaSaveData().save("x", "json")
    with pytest.raises(ValueError, match="unknown kind"):
        data_io.SynchroRaMaLoadData().load("SR_NOPE", "x.json")
    with pytest.raises(FileNotFoundError) as e:
        data_io.SynchroRaMaLoadData().load("SR_MOTION", "missing.json")
    assert "missing.json" in str(e.value)
    # a file of another kind is refused with a message naming both kinds
    path = comfy_dirs / "input" / "speech.json"
    values["speech"].save(str(path))
    with pytest.raises(ValueError) as e:
        data_io.SynchroRaMaLoadData().load("SR_MOTION", "speech.json")
    assert "SR_SPEECH" in str(e.value) and "SR_MOTION" in str(e.value)


def test_bundled_samples_are_installed_once(pack, tmp_path):
    adapter = importlib.import_module(pack.__name__ + ".nodes.comfy_adapter")
    copied = adapter.install_samples(str(tmp_path))
    assert sorted(os.path.basename(p) for p in copied) == sorted(adapter.SAMPLES)
    for name in adapter.SAMPLES:
        assert os.path.getsize(tmp_path / name) > 10_000
    mine = tmp_path / "synchrorama_sample_speech.flac"
    mine.write_bytes(b"the creator's own file")
    assert adapter.install_samples(str(tmp_path)) == []   # never overwrites
    assert mine.read_bytes() == b"the creator's own file"
    # the copies are the real samples the shipped workflows name: speech with voice, a portrait with a face
    from synchrorama_core.face import analyze_face
    from PIL import Image
    other = tmp_path / "again"
    adapter.install_samples(str(other))
    sp = load_speech(str(other / "synchrorama_sample_speech.flac"), fps=25)
    assert sp.duration_s > 10 and sp.features["vad"].mean() > 0.4
    img = np.asarray(Image.open(other / "synchrorama_sample_portrait.jpg").convert("RGB"), np.float32) / 255
    assert analyze_face(img).count == 1


def test_image_conversion_accepts_comfy_layouts_and_names_wrong_ones(pack):
    import torch
    values = importlib.import_module(pack.__name__ + ".nodes.values")
    rgb = torch.rand(2, 8, 6, 3)
    out = values.image_to_list(rgb)
    assert len(out) == 2 and out[0].shape == (8, 6, 3) and np.allclose(out[1], rgb[1].numpy())
    assert values.image_to_list(torch.rand(8, 6, 4))[0].shape == (8, 6, 3)       # one RGBA image
    assert values.image_to_list(torch.rand(1, 8, 6, 1))[0].shape == (8, 6, 3)    # grey
    with pytest.raises(ValueError, match="MASK"):
        values.image_to_list(torch.rand(1, 64, 64))
    back = values.list_to_image(out)
    assert back.dtype == torch.float32 and tuple(back.shape) == (2, 8, 6, 3)
