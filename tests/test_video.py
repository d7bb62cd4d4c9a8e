"""Video output: write real frames + espeak speech, decode them back with PyAV and compare."""
from __future__ import annotations

import json
import os

import av
import numpy as np
import pytest

from synchrorama_core.audio import decode_audio
from synchrorama_core.errors import Cancelled
from synchrorama_core.timing import n_frames
from synchrorama_core.video import VideoError, VideoWriter, probe_video, write_video


def _frames(astronaut, n, size=None):
    """``n`` frames of the astronaut panning sideways (uint8-exact float values)."""
    img = astronaut if size is None else astronaut[:size[0], :size[1]]
    return np.stack([np.roll(img, 4 * i, axis=1) for i in range(n)]).astype(np.float32)


def _decode(path):
    with av.open(path) as c:
        vs = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(vs)]
        fps = float(vs.average_rate)
        c.seek(0)
        audio = [f.to_ndarray() for f in c.decode(c.streams.audio[0])] if c.streams.audio else []
        sr = c.streams.audio[0].codec_context.sample_rate if c.streams.audio else 0
        a_dur = float(c.streams.audio[0].duration * c.streams.audio[0].time_base) if c.streams.audio else 0.0
    return frames, fps, (np.concatenate(audio, axis=1) if audio else None), sr, a_dur


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-9))


def _envelope(x, sr, hop):
    x = np.asarray(x, np.float64).mean(axis=0) if x.ndim == 2 else np.asarray(x, np.float64)
    n = len(x) // hop
    return np.sqrt((x[:n * hop].reshape(n, hop) ** 2).mean(axis=1))


def test_video_with_speech_round_trip(tmp_path, astronaut, speech_wav):
    wave, sr = decode_audio(speech_wav)                      # espeak: 22.05 kHz mono, ~8 s
    dur = wave.shape[1] / sr
    fps = 25.0
    n = n_frames(dur, fps)
    frames = _frames(astronaut, n)
    path = str(tmp_path / "talk.mp4")
    with VideoWriter(path, fps, audio=wave, sample_rate=sr, crf=18) as w:
        for f in frames:                                     # one by one, as the streaming CLI does
            w.write(f)
    info = w.info
    assert info.n_frames == n and (info.width, info.height) == (512, 512) and info.audio_sample_rate == sr
    dec, dfps, audio, asr, a_dur = _decode(path)
    assert len(dec) == n and dfps == pytest.approx(fps) and dec[0].shape == (512, 512, 3)
    # the pictures are the frames we gave (H.264 at crf 18)
    for i in (0, n // 2, n - 1):
        assert _psnr(dec[i], (frames[i] * 255 + 0.5).astype(np.uint8)) > 30
    # the audio track lasts as long as the video (within one AAC frame) and is the speech
    assert asr == sr and abs(a_dur - n / fps) < 1024 / sr + 1e-3
    hop = sr // 50
    e_in, e_out = _envelope(wave, sr, hop), _envelope(audio, asr, hop)
    k = min(len(e_in), len(e_out)) - 2
    assert np.corrcoef(e_in[:k], e_out[:k])[0, 1] > 0.95
    p = probe_video(path)
    assert p["codec"] == "h264" and p["pix_fmt"] == "yuv420p" and p["audio_codec"] == "aac"
    assert p["n_frames"] == n and p["audio_channels"] == 1


def test_odd_sizes_are_padded_to_even(tmp_path, astronaut):
    frames = _frames(astronaut, 6, size=(301, 203))
    info = write_video(str(tmp_path / "odd.mp4"), frames, 12.5)
    assert (info.width, info.height) == (204, 302) and (info.source_width, info.source_height) == (203, 301)
    dec, fps, audio, _, _ = _decode(info.path)
    assert audio is None and len(dec) == 6 and fps == pytest.approx(12.5) and dec[0].shape == (302, 204, 3)
    assert _psnr(dec[3][:301, :203], (frames[3] * 255 + 0.5).astype(np.uint8)) > 30


def test_no_audio_gray_uint8_and_torch_inputs(tmp_path, astronaut):
    import torch
    grey = (astronaut.mean(axis=2) * 255).astype(np.uint8)
    info = write_video(str(tmp_path / "g.mp4"), [grey, grey], 30)
    with av.open(info.path) as c:
        assert len(c.streams.audio) == 0 and len(c.streams.video) == 1
    t = torch.from_numpy(_frames(astronaut, 4))
    rgba = torch.cat([t, torch.ones_like(t[..., :1])], dim=-1)
    assert write_video(str(tmp_path / "t.mp4"), rgba, 24).n_frames == 4


def test_streams_from_a_generator_and_audio_policies(tmp_path, astronaut):
    made = []

    def gen():
        for i in range(40):
            made.append(i)
            yield np.roll(astronaut, i, axis=0)
    sr = 37000                                             # not an AAC rate: resampled to 48 kHz
    t = np.arange(int(3.0 * sr)) / sr
    tone = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    info = write_video(str(tmp_path / "gen.mp4"), gen(), 20, audio=np.stack([tone, -tone]), sample_rate=sr)
    assert made == list(range(40)) and info.n_frames == 40
    assert info.audio_sample_rate == 48000 and info.audio_channels == 2
    # 3 s of audio under 2 s of video: trimmed by default ...
    p = probe_video(info.path)
    assert p["sample_rate"] == 48000 and abs(p["audio_stream_duration_s"] - 2.0) < 0.03
    # ... kept whole on request; audio shorter than the video stays short
    info = write_video(str(tmp_path / "full.mp4"), _frames(astronaut, 10), 5, audio=tone, sample_rate=sr,
                       trim_audio=False)
    assert abs(probe_video(info.path)["audio_stream_duration_s"] - 3.0) < 0.03
    info = write_video(str(tmp_path / "short.mp4"), _frames(astronaut, 10), 2, audio=tone[:sr], sample_rate=sr)
    assert abs(probe_video(info.path)["audio_stream_duration_s"] - 1.0) < 0.03


def test_metadata_is_stored(tmp_path, astronaut):
    wf = {"nodes": [{"id": 1, "type": "SynchroRaMaSaveVideo"}]}
    info = write_video(str(tmp_path / "m.mp4"), _frames(astronaut, 2), 25, metadata={"workflow": wf, "note": "hi"})
    with av.open(info.path) as c:
        assert json.loads(c.metadata["workflow"]) == wf and c.metadata["note"] == "hi"


def _written_then(path, last, n=48):
    """``n`` small frames, enough that the encoder has created ``path`` (checked: x264 writes nothing for
    its first few dozen frames, so a "no file left" check before that point could not fail), then ``last``."""
    img = np.full((64, 64, 3), 0.5, np.float32)
    for _ in range(n):
        yield img
    assert os.path.exists(path) and os.path.getsize(path) > 0, "the encoder has not written the file yet"
    yield last


def test_bad_input_errors_leave_no_file(tmp_path, astronaut):
    """Promise (Save Video, write_video): a failed write leaves no file.  Each failure below happens after
    the encoder has already created the file, so each "no file" check can fail."""
    path = str(tmp_path / "x.mp4")
    with pytest.raises(VideoError, match="no frames"):
        write_video(path, np.zeros((0, 64, 64, 3), np.float32), 25)
    assert not os.path.exists(path)
    with pytest.raises(VideoError, match=r"frame 48 is 64x32 but the video is 64x64"):
        write_video(path, _written_then(path, np.zeros((32, 64, 3), np.float32)), 25)
    assert not os.path.exists(path)
    nan = np.zeros((64, 64, 3), np.float32)
    nan[3, 3, 0] = np.nan
    with pytest.raises(VideoError, match="frame 48 contains NaN"):
        write_video(path, _written_then(path, nan), 25)
    assert not os.path.exists(path)
    with pytest.raises(Cancelled):
        write_video(path, _written_then(path, nan, n=200), 25, cancelled=lambda: os.path.exists(path))
    assert not os.path.exists(path)
    # an exception inside the with-block removes the partial file too
    with pytest.raises(RuntimeError):
        with VideoWriter(path, 25) as w:
            for f in _written_then(path, astronaut[:64, :64]):
                w.write(f)
            raise RuntimeError("renderer failed")
    assert not os.path.exists(path)
    # errors found before anything is encoded
    with pytest.raises(VideoError, match="expected an image"):
        write_video(path, [np.zeros((8, 8, 2), np.float32)], 25)
    with pytest.raises(VideoError, match="crf"):
        write_video(path, [astronaut], 25, crf=60)
    with pytest.raises(VideoError, match="fps"):
        write_video(path, [astronaut], 0)
    with pytest.raises(VideoError, match="sample_rate"):
        write_video(path, [astronaut], 25, audio=np.zeros(100, np.float32))
    with pytest.raises(VideoError, match="NaN"):
        write_video(path, [astronaut], 25, audio=np.full(100, np.nan, np.float32), sample_rate=16000)
    assert os.listdir(tmp_path) == []


def test_save_video_node(pack, comfy_dirs, astronaut, speech_wav):
    import torch
    cls = pack.NODE_CLASS_MAPPINGS["SynchroRaMaSaveVideo"]
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["SynchroRaMaSaveVideo"] == "SynchroRaMa Save Video"
    assert cls.OUTPUT_NODE is True and "audio" in cls.INPUT_TYPES()["optional"]
    wave, sr = decode_audio(speech_wav, duration_s=1.0)
    audio = {"waveform": torch.from_numpy(wave)[None], "sample_rate": sr}       # core LoadAudio's AUDIO
    images = torch.from_numpy(_frames(astronaut, 25))
    out = getattr(cls(), cls.FUNCTION)(images=images, fps=25.0, filename_prefix="talks/clip", crf=23, audio=audio,
                                       prompt={"1": {"class_type": "SynchroRaMaSaveVideo"}},
                                       extra_pnginfo={"workflow": {"nodes": []}})
    (path,) = out["result"]
    prev = out["ui"]["images"][0]
    assert out["ui"]["animated"] == (True,) and prev["type"] == "output" and prev["subfolder"] == "talks"
    assert path == os.path.join(str(comfy_dirs / "output"), "talks", prev["filename"]) and path.endswith(".mp4")
    p = probe_video(path)
    assert p["n_frames"] == 25 and p["sample_rate"] == sr and abs(p["audio_stream_duration_s"] - 1.0) < 0.05
    with av.open(path) as c:
        assert json.loads(c.metadata["prompt"])["1"]["class_type"] == "SynchroRaMaSaveVideo"
        assert "workflow" in c.metadata
    # a second save gets a new number; an empty batch is a clear error
    out2 = getattr(cls(), cls.FUNCTION)(images=images[:2], fps=25.0, filename_prefix="talks/clip")
    assert out2["result"][0] != path
    with pytest.raises(VideoError, match="empty"):
        getattr(cls(), cls.FUNCTION)(images=images[:0], fps=25.0, filename_prefix="talks/clip")


# ---------------------------------------------------------------------------- streaming (encode_stream)

def test_encode_stream_writes_a_generator_with_audio_and_reports_progress(tmp_path, astronaut, speech_wav):
    import threading
    from synchrorama_core.video import encode_stream
    wave, sr = decode_audio(speech_wav, duration_s=2.0)
    src = _frames(astronaut[:256, :256], 30)
    made = []

    def gen():
        for f in src:
            made.append(threading.current_thread().name)
            yield (f * 255 + 0.5).astype(np.uint8)

    seen, timings = [], {}
    path = tmp_path / "streamed.mp4"
    info = encode_stream(str(path), gen(), 25, audio=wave, sample_rate=sr, crf=10, timings=timings,
                         progress=lambda d, t: seen.append((d, t, threading.current_thread().name)), total=30)
    assert info.path == str(path) and info.n_frames == 30 and os.listdir(tmp_path) == ["streamed.mp4"]
    frames, fps, audio, a_sr, a_dur = _decode(str(path))
    assert len(frames) == 30 and fps == 25 and a_sr == sr and abs(a_dur - 30 / 25) < 0.05
    assert min(_psnr(a, (b * 255 + 0.5).astype(np.uint8)) for a, b in zip(frames, src)) > 35
    # frames are made on the worker thread; progress comes on the caller's thread, once per frame
    assert set(made) == {"synchrorama-render"}
    assert [(d, t) for d, t, _ in seen] == [(i, 30) for i in range(1, 31)]
    assert {name for _, _, name in seen} == {threading.current_thread().name}
    assert timings["render"] >= 0 and timings["encode"] > 0


def test_encode_stream_cancel_and_errors_leave_no_file_and_keep_an_earlier_one(tmp_path, astronaut):
    from synchrorama_core.video import encode_stream
    path = tmp_path / "clip.mp4"
    n = [0]

    def gen(k=40, fail_at=None):
        for i in range(k):
            if i == fail_at:
                raise RuntimeError("renderer broke at frame %d" % i)
            n[0] += 1
            yield astronaut[:128, :128]

    with pytest.raises(Cancelled):
        encode_stream(str(path), gen(), 25, cancelled=lambda: n[0] >= 5)
    assert n[0] < 40 and os.listdir(tmp_path) == []          # stopped early; no file, no partial file
    with pytest.raises(RuntimeError, match="frame 7"):
        encode_stream(str(path), gen(fail_at=7), 25)
    assert os.listdir(tmp_path) == []
    encode_stream(str(path), gen(3), 25)
    before = path.read_bytes()
    with pytest.raises(VideoError, match="no frames"):
        encode_stream(str(path), iter(()), 25)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["clip.mp4"]


def test_temporary_names_are_private_to_each_run_and_found_for_cleanup(tmp_path):
    """Promise (nothing lost, nothing left): each stream writes under its own hidden temporary name beside
    the output (two runs writing the same output never share one, and the rename stays on one file
    system), and the temporary files a killed run left are the ones the batch cleans up."""
    from synchrorama_core.pipeline import partial_files
    from synchrorama_core.outputs import part_path
    out = tmp_path / "clip.mp4"
    a, b = part_path(str(out)), part_path(str(out))
    assert a != b
    for p in (a, b):
        assert os.path.dirname(p) == str(tmp_path) and os.path.basename(p).startswith(".clip.")
        open(p, "wb").close()
    open(tmp_path / ".clip.b.part.mp4", "wb").close()  # not this naming: never claimed
    assert partial_files(str(out)) == sorted([a, b])
