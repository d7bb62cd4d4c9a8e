"""Audio stage: decoding, trimming, features, bad input, long files — on real espeak-ng speech."""
import logging
import os
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from synchrorama_core.audio import (compute_features, decode_audio, load_speech, load_speech_waveform,
                                    to_speech_waveform)
from synchrorama_core.audio import features as feat_mod
from synchrorama_core.errors import AudioError, AudioFileNotFoundError, Cancelled
from synchrorama_core.timing import n_frames
from synchrorama_core.types import SPEECH_FEATURES


def _encode_pyav(src_wav, dst, codec, fmt=None):
    import av
    x, sr = sf.read(src_wav, dtype="float32", always_2d=True)
    with av.open(dst, "w", format=fmt) as out:
        st = out.add_stream(codec, rate=sr, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x.T), format="fltp", layout="mono")
        frame.sample_rate = sr
        for p in st.encode(frame):
            out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return dst


@pytest.fixture(scope="module")
def formats(speech_wav, tmp_path_factory):
    d = tmp_path_factory.mktemp("formats")
    x, sr = sf.read(speech_wav, dtype="float32")
    stereo44 = np.stack([x, 0.5 * x], axis=1)
    import soxr
    stereo44 = soxr.resample(stereo44, sr, 44100)
    files = {"wav": speech_wav}
    sf.write(d / "s.flac", stereo44, 44100)
    files["flac"] = str(d / "s.flac")
    sf.write(d / "s.ogg", x, sr, format="OGG", subtype="VORBIS")
    files["ogg"] = str(d / "s.ogg")
    sf.write(d / "s.mp3", x, sr, format="MP3")
    files["mp3"] = str(d / "s.mp3")
    files["m4a"] = _encode_pyav(speech_wav, str(d / "s.m4a"), "aac", "mp4")
    files["aac"] = _encode_pyav(speech_wav, str(d / "s.aac"), "aac", "adts")
    return files


def _best_corr(a, b, max_lag=800):
    n = min(len(a), len(b)) - max_lag
    best = 0
    for lag in range(0, max_lag, 8):
        for x, y in ((a[lag:lag + n], b[:n]), (a[:n], b[lag:lag + n])):
            best = max(best, np.corrcoef(np.abs(x), np.abs(y))[0, 1])
    return best


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3", "m4a", "aac"])
def test_every_format_decodes_to_16k_mono(formats, speech_16k, fmt):
    y = load_speech_waveform(formats[fmt])
    assert y.ndim == 1 and y.dtype == np.float32
    # same speech: duration within codec padding, envelope strongly correlated with the wav
    assert abs(len(y) - len(speech_16k)) / 16000 < 0.15
    env = lambda v: np.convolve(np.abs(v), np.ones(400) / 400, mode="same")[::80]  # noqa: E731
    assert _best_corr(env(y), env(speech_16k), max_lag=20) > 0.9


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3", "m4a", "aac"])
def test_trim_gives_that_stretch_of_the_file_in_every_format(formats, fmt):
    """Promise (Load Audio trim, every format): ``start_s``/``duration_s`` give exactly that stretch of
    the file.  m4a/aac go through the PyAV decoder, the others through libsndfile; both must skip the
    start (not only cut the length) and stop after the duration."""
    full, sr = decode_audio(formats[fmt])
    part, sr2 = decode_audio(formats[fmt], start_s=1.0, duration_s=2.0)
    assert sr2 == sr and part.shape == (full.shape[0], 2 * sr)
    want = full[:, sr:3 * sr]
    assert np.corrcoef(part[0], want[0])[0, 1] > 0.999  # the same samples (mp3 seeks within a frame)
    assert np.corrcoef(part[0], full[0, :2 * sr])[0, 1] < 0.5  # not the first two seconds
    # a start at the very end (or past it) is an error naming the file, in every format
    for start in (full.shape[1] / sr, full.shape[1] / sr + 1.0):
        with pytest.raises(AudioError, match="past the end") as e:
            decode_audio(formats[fmt], start_s=start)
        assert os.path.basename(formats[fmt]) in str(e.value)


def test_native_decode_keeps_rate_and_channels(formats):
    x, sr = decode_audio(formats["flac"])
    assert sr == 44100 and x.shape[0] == 2
    assert np.allclose(x[1], 0.5 * x[0], atol=1e-3)


def test_trim_file_and_errors(speech_wav, caplog):
    full = load_speech_waveform(speech_wav)
    part = load_speech_waveform(speech_wav, start_s=1.0, duration_s=2.0)
    assert abs(len(part) - 32000) <= 2
    # the trimmed audio is the same audio as the full one from 1 s on
    assert np.corrcoef(part[1000:30000], full[17000:46000])[0, 1] > 0.99
    total = len(full) / 16000
    with pytest.raises(AudioError, match="past the end"):
        load_speech_waveform(speech_wav, start_s=total + 1)
    with caplog.at_level(logging.WARNING, logger="synchrorama.audio"):
        tail = load_speech_waveform(speech_wav, start_s=total - 1.0, duration_s=5.0)
    assert abs(len(tail) / 16000 - 1.0) < 0.01
    assert "past the end" in caplog.text
    with pytest.raises(AudioError, match=">= 0"):
        load_speech_waveform(speech_wav, start_s=-1)


def test_bad_files(tmp_path):
    with pytest.raises(AudioFileNotFoundError, match="nope.wav"):
        load_speech(str(tmp_path / "nope.wav"))
    txt = tmp_path / "notes.wav"
    txt.write_text("this is not audio at all\n" * 20)
    with pytest.raises(AudioError, match="not an audio file"):
        load_speech(str(txt))
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty file"):
        load_speech(str(empty))
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="no audio samples"):
        load_speech(str(zero))
    png = tmp_path / "face.png"
    from PIL import Image
    Image.new("RGB", (32, 32)).save(png)
    with pytest.raises(AudioError):
        load_speech(str(png))


def test_silent_audio_is_a_valid_silent_clip(tmp_path, caplog):
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(16000 * 2, np.float32), 16000)
    with caplog.at_level(logging.WARNING, logger="synchrorama.audio"):
        s = load_speech(str(p), fps=25)
    assert s.n_frames == 50
    assert s.features["vad"].sum() == 0 and s.features["voiced"].sum() == 0
    assert np.all(s.features["f0_hz"] == 0) and np.all(s.features["loudness"] == 0)
    assert "no voice activity" in caplog.text


@pytest.mark.parametrize("fps", [24.0, 25.0, 29.97, 30.0, 60.0, 144.0])
def test_features_have_exactly_n_frames(speech_16k, fps):
    f = compute_features(speech_16k, fps)
    n = n_frames(len(speech_16k) / 16000, fps)
    assert set(f) == set(SPEECH_FEATURES)
    for k, v in f.items():
        assert v.shape[0] == n, k
        assert np.isfinite(v).all(), k
    assert f["bands"].shape == (n, 8)


def test_features_follow_real_speech(make_speech, tmp_path):
    # speech padded with one second of silence on both sides
    y = load_speech_waveform(make_speech("The quick brown fox jumps over the lazy dog."))
    pad = np.zeros(16000, np.float32)
    s = compute_features(np.concatenate([pad, y, pad]), 25)
    vad, voiced = s["vad"], s["voiced"]
    assert vad[:20].sum() == 0 and vad[-20:].sum() == 0       # silence
    mid = slice(28, 25 + int(len(y) / 16000 * 25) - 3)
    assert vad[mid].mean() > 0.8 and voiced[mid].mean() > 0.4  # speech
    f0 = s["f0_hz"][voiced > 0]
    assert 70 < np.median(f0) < 250                           # a male-ish espeak voice
    assert s["rate"][mid].mean() > 1.5                         # syllables per second while talking
    assert s["loudness"][mid].mean() > s["loudness"][:20].mean() + 0.3


def test_prosody_features_separate_speaking_styles(make_speech):
    text = "I cannot believe we finally won the championship tonight."
    hi = load_speech(make_speech(text, speed=230, pitch=85, amplitude=180)).features
    lo = load_speech(make_speech(text, speed=110, pitch=15, amplitude=40)).features
    f0 = lambda f: np.median(f["f0_hz"][f["voiced"] > 0])  # noqa: E731
    assert f0(hi) > 1.2 * f0(lo)
    act = lambda f, k: f[k][f["vad"] > 0].mean()  # noqa: E731
    assert act(hi, "loudness") > act(lo, "loudness") + 0.1
    assert act(hi, "rate") > act(lo, "rate")


def test_windowed_analysis_has_no_seams(speech_16k, monkeypatch):
    whole = compute_features(speech_16k, 25)
    monkeypatch.setattr(feat_mod, "WINDOW_S", 0.7)  # many windows, seams everywhere
    windowed = compute_features(speech_16k, 25)
    for k in whole:
        np.testing.assert_allclose(windowed[k], whole[k], rtol=1e-3, atol=1e-3, err_msg=k)


def test_progress_and_cancel(speech_16k):
    calls = []
    compute_features(speech_16k, 25, progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1][0] == calls[-1][1]
    with pytest.raises(Cancelled):
        compute_features(speech_16k, 25, cancelled=lambda: True)


def test_comfy_audio_values_are_accepted(speech_wav):
    import torch
    x, sr = sf.read(speech_wav, dtype="float32")
    batch = torch.from_numpy(np.stack([x, x]))[None]  # [1, 2, T] stereo
    y = to_speech_waveform(batch, sr)
    assert abs(len(y) - len(x) * 16000 / sr) <= 2
    with pytest.raises(AudioError, match="no samples"):
        to_speech_waveform(torch.zeros(1, 1, 0), 16000)
    with pytest.raises(AudioError, match="NaN"):
        to_speech_waveform(np.full(100, np.nan), 16000)


def test_ten_minute_file_memory_is_bounded(speech_wav, tmp_path):
    """10 minutes of 44.1 kHz stereo: decoded + analysed in windows; peak memory < 2x the decoded audio."""
    x, sr = sf.read(speech_wav, dtype="float32")
    import soxr
    x = soxr.resample(x, sr, 44100)
    path = tmp_path / "long.flac"
    total = 600 * 44100
    with sf.SoundFile(path, "w", 44100, 2, format="FLAC") as f:
        written = 0
        while written < total:
            blk = x[:total - written]
            f.write(np.stack([blk, blk], axis=1))
            written += len(blk)
    decoded_bytes = 600 * 16000 * 4
    tracemalloc.start()
    try:
        s = load_speech(str(path), fps=25)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert s.n_frames == 15000
    assert peak < 2 * decoded_bytes, f"peak {peak / 1e6:.1f} MB vs decoded {decoded_bytes / 1e6:.1f} MB"
    assert s.features["vad"].mean() > 0.5
