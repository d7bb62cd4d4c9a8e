"""Load Audio and Speech Features nodes on real espeak-ng speech, called as ComfyUI calls them (no ComfyUI needed)."""
import importlib
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from synchrorama_core.audio import load_speech
from synchrorama_core.errors import AudioError
from synchrorama_core.timing import n_frames


@pytest.fixture()
def audio_nodes(pack):
    return importlib.import_module(pack.__name__ + ".nodes.audio")


@pytest.fixture()
def in_input(comfy_dirs, speech_wav):
    """The espeak speech copied into the (standalone) input folder, as an upload would put it."""
    shutil.copyfile(speech_wav, comfy_dirs / "input" / "speech.wav")
    return "speech.wav"


def test_load_audio_lists_uploads_and_gives_audio_and_speech(audio_nodes, in_input, speech_wav, comfy_dirs):
    (comfy_dirs / "input" / "notes.txt").write_text("not audio")
    spec = audio_nodes.SynchroRaMaLoadAudio.INPUT_TYPES()["required"]["audio"]
    assert spec[0] == ["speech.wav"] and spec[1]["audio_upload"]
    audio, speech = audio_nodes.SynchroRaMaLoadAudio().load(in_input, fps=30.0)
    x, sr = sf.read(speech_wav, dtype="float32", always_2d=True)
    # AUDIO keeps the file's own rate and channels, ComfyUI's [B, C, T] layout
    assert audio["sample_rate"] == sr and tuple(audio["waveform"].shape) == (1, x.shape[1], x.shape[0])
    assert np.allclose(audio["waveform"][0].numpy().T, x, atol=1e-6)
    ref = load_speech(speech_wav, fps=30.0)
    assert speech.fps == 30.0 and speech.n_frames == ref.n_frames == n_frames(x.shape[0] / sr, 30.0)
    assert np.allclose(speech.features["rms"], ref.features["rms"], atol=1e-6)


def test_load_audio_trim_matches_speech_features_on_the_same_audio(audio_nodes, in_input):
    audio, trimmed = audio_nodes.SynchroRaMaLoadAudio().load(in_input, fps=25.0, start_s=1.0, duration_s=2.0)
    assert trimmed.n_frames == 50 and trimmed.start_s == 1.0
    full, _ = audio_nodes.SynchroRaMaLoadAudio().load(in_input, fps=25.0)
    (again,) = audio_nodes.SynchroRaMaSpeechFeatures().analyze(full, fps=25.0, start_s=1.0, duration_s=2.0)
    assert again.n_frames == 50
    assert np.corrcoef(again.features["rms"], trimmed.features["rms"])[0, 1] > 0.99


@pytest.mark.parametrize("ext", ["wav", "m4a"])
def test_load_audio_trims_its_audio_output_too(audio_nodes, comfy_dirs, speech_wav, ext):
    """Promise (Load Audio): a trim applies to both outputs.  The AUDIO (what Save Video muxes) holds
    exactly the trimmed stretch at the file's own rate, as long as the SR_SPEECH frames say, for the
    libsndfile path (wav) and the PyAV path (m4a)."""
    x, sr = sf.read(speech_wav, dtype="float32", always_2d=True)
    name = f"speech.{ext}"
    if ext == "wav":
        shutil.copyfile(speech_wav, comfy_dirs / "input" / name)
    else:
        import av
        with av.open(str(comfy_dirs / "input" / name), "w", format="mp4") as out:
            st = out.add_stream("aac", rate=sr, layout="mono")
            fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(x.T), format="fltp", layout="mono")
            fr.sample_rate = sr
            for p in list(st.encode(fr)) + list(st.encode(None)):
                out.mux(p)
    full, _ = audio_nodes.SynchroRaMaLoadAudio().load(name, fps=25.0)
    audio, speech = audio_nodes.SynchroRaMaLoadAudio().load(name, fps=25.0, start_s=1.5, duration_s=2.0)
    assert audio["sample_rate"] == sr and tuple(audio["waveform"].shape) == (1, 1, 2 * sr)
    np.testing.assert_allclose(audio["waveform"][0, 0].numpy(), full["waveform"][0, 0, int(1.5 * sr):int(3.5 * sr)].numpy(),
                               atol=1e-6)
    assert speech.n_frames == 50 and speech.start_s == 1.5 and speech.source.endswith(name)
    assert audio["waveform"].shape[-1] / sr == pytest.approx(speech.n_frames / speech.fps, abs=1e-3)


def test_validate_and_is_changed(audio_nodes, in_input, comfy_dirs):
    node = audio_nodes.SynchroRaMaLoadAudio
    assert node.VALIDATE_INPUTS(in_input) is True
    assert "missing.wav" in node.VALIDATE_INPUTS("missing.wav")
    h = node.IS_CHANGED(in_input)
    assert h and h == node.IS_CHANGED(in_input)
    with open(comfy_dirs / "input" / in_input, "ab") as f:  # the creator replaces/edits the file
        f.write(b"\0" * 64)
    assert node.IS_CHANGED(in_input) != h


def test_bad_audio_gives_clear_errors(audio_nodes, comfy_dirs, in_input):
    (comfy_dirs / "input" / "fake.wav").write_text("this is a text file")
    with pytest.raises(AudioError) as e:
        audio_nodes.SynchroRaMaLoadAudio().load("fake.wav")
    assert "fake.wav" in str(e.value)
    with pytest.raises(AudioError, match="past the end"):
        audio_nodes.SynchroRaMaLoadAudio().load(in_input, start_s=600.0)
    # shorter than one video frame: stopped at the source, not several nodes later
    sr = 16000
    sf.write(comfy_dirs / "input" / "blip.wav", (0.1 * np.random.default_rng(0).standard_normal(320)).astype(np.float32), sr)
    with pytest.raises(AudioError, match="blip.wav.*shorter than one video frame"):  # the error names the file
        audio_nodes.SynchroRaMaLoadAudio().load("blip.wav", fps=25.0)
    with pytest.raises(AudioError, match="no samples"):
        audio_nodes.SynchroRaMaSpeechFeatures().analyze({"waveform": torch.zeros(1, 1, 0), "sample_rate": sr})


def test_speech_features_takes_core_loadaudio_values(audio_nodes, speech_wav):
    """What core LoadAudio gives: float [1, C, T] at the file's rate; stereo is mixed to mono."""
    x, sr = sf.read(speech_wav, dtype="float32", always_2d=True)
    stereo = torch.from_numpy(np.stack([x[:, 0], 0.5 * x[:, 0]]))[None]
    (sp,) = audio_nodes.SynchroRaMaSpeechFeatures().analyze({"waveform": stereo, "sample_rate": sr}, fps=25.0)
    ref = load_speech(speech_wav, fps=25.0)
    assert sp.n_frames == ref.n_frames
    assert np.corrcoef(sp.features["rms"], ref.features["rms"])[0, 1] > 0.99
    assert (sp.features["vad"] == ref.features["vad"]).mean() > 0.95
