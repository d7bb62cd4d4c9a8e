"""Hardening (issue 12): every bad input a clear error, bounded memory, nothing read from where it
should not be.  Each test here failed before its fix; the CLI keeps its promise throughout: one
``error:`` line, exit code 2, no traceback, no partial file.

Crafted SR_* data files (item 6) are fuzzed in ``test_data_fuzz.py``.
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from synchrorama_core.audio import decode_audio, load_speech
from synchrorama_core.errors import AudioError
from synchrorama_core.pipeline import generate
from helpers.cli import env as _env, file_size_limit as _file_size_limit, one_error_line as _one_error_line
from helpers.cli import without_root_powers as _without_root_powers
from helpers.measure import run_measured
from helpers.pickles import write_pickle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = "Hello there, it is so nice to meet you."


def _cli_cmd(*args):
    return [sys.executable, "-m", "synchrorama_core", *args]


def _cli(*args, prefix=(), **kw):
    return subprocess.run([*prefix, *_cli_cmd(*args)], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=180, **kw)


@pytest.fixture(scope="module")
def speech(make_speech):
    return make_speech(TEXT)


@pytest.fixture(scope="module")
def warm(tmp_path_factory, portrait_png, speech):
    """One short in-process run first, so compiled renderer kernels are cached on disk before a child
    process runs under a file-size limit (a cold numba cache would be written under that limit)."""
    out = tmp_path_factory.mktemp("warm") / "warm.mp4"
    generate(images=[portrait_png], audio=speech, text=TEXT, out=str(out), duration_s=0.4)
    return str(out)


# ------------------------------------------------------------------ 1. output folder not writable

def test_cli_unwritable_output_folder_is_one_error_before_any_stage(tmp_path, portrait_png, speech):
    ro = tmp_path / "readonly"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        t = time.monotonic()
        p = _cli("generate", "--image", portrait_png, "--audio", speech, "--out", str(ro / "talk.mp4"),
                 prefix=_without_root_powers())
        took = time.monotonic() - t
    finally:
        ro.chmod(0o755)
    assert p.returncode == 2, p.stderr
    # one line and nothing else: no progress line, so no stage ran before the check
    line = _one_error_line(p.stderr)
    assert str(ro) in line and "Permission denied" in line and "--out" in line, line
    assert os.listdir(ro) == [] and took < 60


def test_generate_checks_the_output_before_any_stage(tmp_path, portrait_png, speech):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    stages = []
    with pytest.raises(OSError) as e:  # OutputError (an OSError and a SynchroRaMaError)
        generate(images=[portrait_png], audio=speech, text=TEXT, out=str(blocker / "talk.mp4"),
                 progress=lambda d, t, s: stages.append(s))
    assert type(e.value).__name__ == "OutputError" and "not_a_folder" in str(e.value)
    assert stages == []
    assert sorted(os.listdir(tmp_path)) == ["not_a_folder"]


# ------------------------------------------------------------------ 2. disk full while writing

@pytest.mark.parametrize("limit_kb, failing", [(64, "demo.json"), (8, "demo.mp4")])
def test_cli_disk_full_is_one_error_and_leaves_nothing(tmp_path, warm, limit_kb, failing):
    # at crf 51 the 2 s video is ~23 KB and OUT.json ~117 KB: 64 KB lets the video through and stops
    # the JSON half-way; 8 KB stops the video itself
    out = tmp_path / "out" / "demo.mp4"
    out.parent.mkdir()
    r = run_measured(_cli_cmd("demo", "--out", str(out), "--duration", "2", "--crf", "51", "-q"), env=_env(),
                     cwd=ROOT, timeout_s=180, preexec_fn=_file_size_limit(limit_kb * 1024))
    assert r["rc"] == 2, r["stderr"]
    line = _one_error_line(r["stderr"])
    assert failing in line and "File too large" in line, line
    assert os.listdir(out.parent) == []  # neither the video, nor OUT.json, nor a temporary file


def test_saving_an_sr_value_on_a_full_disk_leaves_no_partial_file(tmp_path):
    code = ("import sys; from synchrorama_core.types import MotionData; from synchrorama_core.errors import OutputError\n"
            "try:\n    MotionData.neutral(60, 25).save(sys.argv[1])\n"
            "except OutputError as e:\n    print('OutputError:', e)\n")
    for name in ("m.json", "m.safetensors"):
        r = run_measured([sys.executable, "-c", code, str(tmp_path / name)], env=_env(), cwd=ROOT,
                         preexec_fn=_file_size_limit(16 * 1024))
        assert r["rc"] == 0 and "OutputError: cannot write" in r["stdout"] and "File too large" in r["stdout"], r
        assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ 1-2 for the trainers

def _trainer(module, *args, prefix=()):
    return subprocess.run([*prefix, sys.executable, "-m", f"synchrorama_core.training.{module}", *args], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def talking_video(tmp_path_factory, astronaut, speech):
    """A training video: one second of the astronaut (a face the tracker finds) with speech."""
    from synchrorama_core.video import write_video
    folder = tmp_path_factory.mktemp("videos")
    face = (astronaut[::2, ::2] * 255 + 0.5).astype(np.uint8)
    frames = np.stack([np.roll(face, i, axis=1) for i in range(25)])
    from synchrorama_core.audio import load_speech_waveform
    write_video(str(folder / "talk.mp4"), frames, 25.0, audio=load_speech_waveform(speech)[:16000], sample_rate=16000)
    return folder


def test_a2m_trainer_unwritable_output_is_one_error_before_any_work(tmp_path, talking_video):
    """The A2M trainer writes its model after extraction and training: a folder it cannot write to is
    one error line at once, with nothing extracted or trained (nothing printed, nothing cached)."""
    ro = tmp_path / "readonly"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        t = time.monotonic()
        p = _trainer("a2m", "--videos", str(talking_video), "--out", str(ro / "run"), "--steps", "2", "--batch", "2",
                     "--window", "16", "--channels", "8", "--dilations", "1", prefix=_without_root_powers())
        took = time.monotonic() - t
    finally:
        ro.chmod(0o755)
    assert p.returncode == 2, p.stderr
    line = _one_error_line(p.stderr)
    assert str(ro / "run" / "a2m") in line and "Permission denied" in line, line
    assert p.stdout == "" and os.listdir(ro) == [] and took < 60, (p.stdout, took)


def test_a2m_trainer_unreadable_file_is_one_error_line(tmp_path, talking_video):
    """Any OSError (here a transcript beside a video that cannot be read) is one ``error:`` line naming
    the file, exit code 2, no traceback."""
    videos = tmp_path / "videos"
    shutil.copytree(talking_video, videos)
    side = videos / "talk.txt"
    side.write_text(TEXT)
    side.chmod(0o000)
    p = _trainer("a2m", "--videos", str(videos), "--out", str(tmp_path / "run"), "--steps", "2", "--batch", "2",
                 "--window", "16", "--channels", "8", "--dilations", "1", prefix=_without_root_powers())
    assert p.returncode == 2, p.stderr
    line = _one_error_line(p.stderr)
    assert line == f"error: Permission denied: {side}", line
    assert not os.path.exists(tmp_path / "run" / "a2m" / "model.safetensors")


def test_adapters_trainer_unwritable_output_is_one_error_before_any_work(tmp_path, talking_video):
    """The adapter trainer checks its ``--out`` before loading a model or a video (its training and
    the rest of the checks: ``test_diffusion.py``)."""
    ro = tmp_path / "readonly"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        p = _trainer("adapters", "--data", str(talking_video), "--checkpoint", str(tmp_path / "sd15.safetensors"),
                     "--out", str(ro / "mine.safetensors"), prefix=_without_root_powers())
    finally:
        ro.chmod(0o755)
    assert p.returncode == 2, p.stderr
    line = _one_error_line(p.stderr)
    assert str(ro / "mine.safetensors") in line and "Permission denied" in line and "--out" in line, line
    assert os.listdir(ro) == []


def _full_disk_after(nbytes):
    """A stand-in for ``safetensors.torch.save_file`` on a disk that fills up after ``nbytes``: it writes
    the real file's first ``nbytes`` and fails as a full disk does."""
    from safetensors.torch import save as serialise

    def save_file(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(serialise(tensors, metadata)[:nbytes])
        raise OSError(28, "No space left on device", str(filename))
    return save_file


def _files(folder):
    return {f: (folder / f).read_bytes() for f in sorted(os.listdir(folder))}


def test_a2m_save_that_fails_mid_write_keeps_the_earlier_model(tmp_path, monkeypatch):
    import safetensors.torch
    from synchrorama_core.errors import OutputError
    from synchrorama_core.motion.neural import NeuralA2M, default_config
    folder = tmp_path / "models" / "tiny"
    NeuralA2M(default_config(channels=8, kernel=3, dilations=(1, 2), dropout=0.0)).save(str(folder))
    before = _files(folder)
    assert sorted(before) == ["config.json", "model.safetensors"]
    bigger = NeuralA2M(default_config(channels=16, kernel=3, dilations=(1, 2, 4), dropout=0.0))
    monkeypatch.setattr(safetensors.torch, "save_file", _full_disk_after(1000))
    with pytest.raises(OutputError, match="No space left on device") as e:
        bigger.save(str(folder))
    assert str(folder / "model.safetensors") in str(e.value)
    assert _files(folder) == before              # byte for byte; no temporary file left beside them
    monkeypatch.undo()
    bigger.save(str(folder))                     # and a save that completes replaces both files
    assert NeuralA2M.load(str(folder)).config["channels"] == 16 and sorted(os.listdir(folder)) == sorted(before)


def test_adapters_save_that_fails_mid_write_keeps_the_earlier_file(tmp_path, monkeypatch):
    import safetensors.torch
    from synchrorama_core.diffusion.adapters import SRAdapters
    from synchrorama_core.errors import OutputError
    out = tmp_path / "adapters" / "mine.safetensors"
    SRAdapters({"down.attn2": (8, 8, 8)}, audio_dim=4, hidden=8).save(str(out), {"steps": 500})
    before = _files(out.parent)
    monkeypatch.setattr(safetensors.torch, "save_file", _full_disk_after(300))
    with pytest.raises(OutputError, match="No space left on device") as e:
        SRAdapters({"down.attn2": (8, 8, 8)}, audio_dim=4, hidden=16).save(str(out), {"steps": 1000})
    assert str(out) in str(e.value)
    assert _files(out.parent) == before
    monkeypatch.undo()
    assert SRAdapters.load(str(out)).config["hidden"] == 8


# ------------------------------------------------------------------ 3. huge portraits

def _big_portrait(path, astronaut, side=8000, face_scale=8, at=(1800, 1400)):
    """A ``side`` x ``side`` JPEG: the astronaut photo enlarged ``face_scale`` times on a smooth backdrop."""
    from PIL import Image
    small = np.stack(np.meshgrid(np.linspace(60, 140, 64), np.linspace(80, 180, 64)), -1)
    back = np.concatenate([small, small[..., :1] * 0.8], -1).astype(np.uint8)
    canvas = Image.fromarray(back).resize((side, side), Image.BILINEAR)
    face = Image.fromarray((astronaut * 255 + 0.5).astype(np.uint8))
    face = face.resize((512 * face_scale, 512 * face_scale), Image.BICUBIC)
    canvas.paste(face, at)
    canvas.save(path, quality=90)
    return str(path)


@pytest.mark.slow
def test_huge_portrait_bounded_memory_time_and_output_size(tmp_path, astronaut, speech):
    big = _big_portrait(tmp_path / "huge.jpg", astronaut)
    out = tmp_path / "huge.mp4"
    r = run_measured(_cli_cmd("generate", "--image", big, "--audio", speech, "--duration", "2", "--out", str(out),
                              "-q"), env=_env(), cwd=ROOT, timeout_s=240, kill_above_mb=3500)
    assert not r["killed_at_mb"], f"killed at {r['killed_at_mb']:.0f} MB resident"
    assert r["rc"] == 0, r["stderr"]
    assert r["rss_mb"] < 3000, r["rss_mb"]
    assert r["wall_s"] < 60, r["wall_s"]
    # the creator is told, once, that the photo was cropped and scaled
    warn = [ln for ln in r["stderr"].splitlines() if ln.strip()]
    assert len(warn) == 1 and warn[0].startswith("WARNING:") and "8000x8000" in warn[0], r["stderr"]
    rep = json.loads(out.with_suffix(".json").read_text())
    w, h = rep["video"]["width"], rep["video"]["height"]
    assert max(w, h) <= 1024 and min(w, h) >= 512, (w, h)
    # the face fills a good part of the video (the crop is around it), and is found in its frames
    import av
    from synchrorama_core.face import analyze_face
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    f = analyze_face(frame)
    x0, y0, x1, y1 = f.boxes[0]
    assert (x1 - x0) > 0.2 * w


def test_large_reference_is_worked_on_as_a_bounded_face_crop(tmp_path, astronaut, caplog):
    from PIL import Image
    from synchrorama_core.face import analyze_faces, find_faces
    img = np.asarray(Image.open(_big_portrait(tmp_path / "big.jpg", astronaut, side=2600, face_scale=2,
                                              at=(1300, 700))))
    with caplog.at_level(logging.WARNING):
        face = analyze_faces([img], sources=["big.jpg"])
    im = face.images[0]
    assert max(im.shape[:2]) <= 1024 and min(im.shape[:2]) >= 512
    assert any("2600x2600" in r.getMessage() and "big.jpg" in r.getMessage() for r in caplog.records)
    Image.fromarray((im * 255 + 0.5).astype(np.uint8)).save(tmp_path / "work.png")
    # the stored landmarks sit on the face of the working image: measured again there, they agree
    again = find_faces(im)[0].landmarks
    size = face.boxes[0][2] - face.boxes[0][0]
    err = np.linalg.norm(again[:468, :2] - face.landmarks[0][:468, :2], axis=1).mean()
    assert err < 0.02 * size, (err, size)
    # the crop is recorded (in the original's pixels), and maps the landmarks back onto the original
    work = face.meta["work_region"][0]
    x0, y0, x1, y1 = work["crop"]
    s = work["scale"]
    assert 0 <= x0 < 1300 + 200 and 0 <= y0 < 700 + 200 and x1 <= 2600 and y1 <= 2600
    orig = find_faces(img)[0].landmarks
    back = face.landmarks[0][:468, :2] / s + np.array([x0, y0])
    assert np.linalg.norm(back - orig[:468, :2], axis=1).mean() < 0.02 * size / s


def test_small_reference_is_untouched(astronaut, caplog):
    from synchrorama_core.face import analyze_faces
    with caplog.at_level(logging.WARNING):
        face = analyze_faces([astronaut])
    assert face.images[0].shape == (512, 512, 3)
    np.testing.assert_array_equal(face.images[0], astronaut)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_cli_image_past_pils_safety_limit_is_one_error_line(tmp_path, speech):
    # a 50-byte PNG whose header claims 20000x20000 pixels (PIL refuses to decode it: a "decompression bomb")
    import struct
    import zlib
    from PIL import Image
    Image.new("RGB", (1, 1)).save(tmp_path / "one.png")
    b = bytearray((tmp_path / "one.png").read_bytes())
    b[16:24] = struct.pack(">II", 20000, 20000)
    b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])) & 0xFFFFFFFF)
    (tmp_path / "bomb.png").write_bytes(bytes(b))
    p = _cli("generate", "--image", str(tmp_path / "bomb.png"), "--audio", speech, "--out", str(tmp_path / "x.mp4"),
             "-q")
    assert p.returncode == 2
    line = _one_error_line(p.stderr)
    assert "bomb.png" in line and "too large" in line


def test_cli_max_side_sets_the_working_size(tmp_path, astronaut, speech):
    from PIL import Image
    big = tmp_path / "big.png"
    Image.fromarray((astronaut * 255 + 0.5).astype(np.uint8)).resize((1600, 1600)).save(big)
    p = _cli("generate", "--image", str(big), "--audio", speech, "--duration", "0.4", "--max-side", "600",
             "--out", str(tmp_path / "m.mp4"), "-q")
    assert p.returncode == 0, p.stderr
    v = json.loads((tmp_path / "m.json").read_text())["video"]
    assert max(v["width"], v["height"]) <= 600 and "1600x1600" in p.stderr


# ------------------------------------------------------------------ 4. NaN / inf audio

@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_or_inf_audio_is_refused_at_load_naming_the_file(tmp_path, speech_16k, bad, caplog):
    import soundfile as sf
    y = speech_16k[: 16000 * 2].copy()
    y[8000:8040] = bad
    path = tmp_path / "broken.wav"
    sf.write(str(path), y, 16000, subtype="FLOAT")
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning on the way fails the test
        with pytest.raises(AudioError, match=r"broken\.wav") as e:
            load_speech(str(path), fps=25)
        assert "NaN or infinite" in str(e.value) and "0.500 s" in str(e.value)
        with pytest.raises(AudioError, match=r"broken\.wav"):
            decode_audio(str(path))
    assert not caplog.records  # no "no voice activity" or other misleading warning first


def test_cli_nan_audio_one_error_line(tmp_path, speech_16k, portrait_png):
    import soundfile as sf
    y = speech_16k[: 16000].copy()
    y[100] = math.nan
    path = tmp_path / "nan_speech.wav"
    sf.write(str(path), y, 16000, subtype="FLOAT")
    p = _cli("generate", "--image", portrait_png, "--audio", str(path), "--out", str(tmp_path / "x.mp4"), "-q")
    assert p.returncode == 2
    line = _one_error_line(p.stderr)
    assert "nan_speech.wav" in line and "NaN" in line
    assert sorted(os.listdir(tmp_path)) == ["nan_speech.wav"]


# ------------------------------------------------------------------ 5. nodes read only ComfyUI's folders

@pytest.fixture()
def folders(comfy_dirs, speech, values_for_files):
    """input/ with ok.wav, ok_motion.json and a sub-folder; output/ with made.wav; secrets beside them."""
    inp, outp = comfy_dirs / "input", comfy_dirs / "output"
    (inp / "sub").mkdir()
    for d, name in ((inp, "ok.wav"), (inp / "sub", "deep.wav"), (outp, "made.wav"), (comfy_dirs, "secret.wav")):
        shutil.copy(speech, d / name)
    motion = values_for_files
    for d, name in ((inp, "ok_motion.json"), (outp, "saved_motion.json"), (comfy_dirs, "secret_motion.json")):
        motion.save(str(d / name))
    return comfy_dirs


@pytest.fixture(scope="module")
def values_for_files():
    from synchrorama_core.types import MotionData
    return MotionData.neutral(1.0, 25.0)


OUTSIDE_AUDIO = ["../secret.wav", "sub/../../secret.wav", "../secret.wav [input]", "../secret.wav [output]",
                 "/etc/passwd", "{root}/secret.wav", "~/secret.wav"]


def test_load_audio_reads_only_inside_comfyui_folders(pack, folders):
    node = pack.NODE_CLASS_MAPPINGS["SynchroRaMaLoadAudio"]
    for ok in ("ok.wav", "sub/deep.wav", "ok.wav [input]", "made.wav [output]",
               str(folders / "input" / "ok.wav"), str(folders / "output" / "made.wav")):
        assert node.VALIDATE_INPUTS(audio=ok) is True, ok
        audio, speech = node().load(ok, fps=25.0)
        assert speech.n_frames > 10
        assert node.IS_CHANGED(audio=ok) != ""
    for bad in OUTSIDE_AUDIO:
        bad = bad.format(root=folders)
        msg = node.VALIDATE_INPUTS(audio=bad)
        assert isinstance(msg, str) and "outside" in msg and "input" in msg, (bad, msg)
        with pytest.raises(ValueError, match="outside"):
            node().load(bad, fps=25.0)
        assert node.IS_CHANGED(audio=bad) == ""  # not hashed (read) either


def test_load_data_and_load_motion_read_only_inside_comfyui_folders(pack, folders):
    data = pack.NODE_CLASS_MAPPINGS["SynchroRaMaLoadData"]()
    motion = pack.NODE_CLASS_MAPPINGS["SynchroRaMaLoadMotion"]()
    for ok in ("ok_motion.json", "saved_motion.json [output]", str(folders / "output" / "saved_motion.json")):
        assert data.load("SR_MOTION", ok)[3].n_frames == 25
        assert motion.load(path=ok)[0].n_frames == 25
    assert motion.load(motion_file="ok_motion.json")[0].n_frames == 25
    for bad in ("../secret_motion.json", "{root}/secret_motion.json", "sub/../../secret_motion.json",
                "../secret_motion.json [output]"):
        bad = bad.format(root=folders)
        with pytest.raises(ValueError, match="outside"):
            data.load("SR_MOTION", bad)
        with pytest.raises(ValueError, match="outside"):
            motion.load(path=bad)
        with pytest.raises(ValueError, match="outside"):
            motion.load(motion_file=bad)
        assert type(data).IS_CHANGED("SR_MOTION", bad) in ("", "SR_MOTION:")
        assert type(motion).IS_CHANGED(path=bad) == ""


def test_save_nodes_write_only_inside_the_output_folder(pack, folders, values_for_files):
    save = pack.NODE_CLASS_MAPPINGS["SynchroRaMaSaveData"]()
    for bad in ("../escaped", "../../escaped/data", "/tmp/escaped_abs"):
        with pytest.raises(ValueError, match="outside"):
            save.save(bad, "json", motion=values_for_files)
    assert not any("escaped" in n for n in os.listdir(folders)) and not os.path.exists("/tmp/escaped_abs_motion")
    ok = save.save("talk/clip", "json", motion=values_for_files)["ui"]["files"][0]
    assert (folders / "output" / "talk" / ok["filename"]).is_file()


# ------------------------------------------------------------------ 7. neural A2M config

@pytest.fixture(scope="module")
def a2m_folder(tmp_path_factory):
    from synchrorama_core.motion.neural import NeuralA2M, default_config
    return NeuralA2M(default_config(channels=8, kernel=3, dilations=(1, 2), dropout=0.0)).save(
        str(tmp_path_factory.mktemp("a2m") / "tiny"))


def _edited_a2m(tmp_path, src, **changes):
    dst = tmp_path / "edited"
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    cfg.update(changes)
    (dst / "config.json").write_text(json.dumps(cfg))
    return str(dst)


@pytest.mark.parametrize("changes, field", [
    ({"fps": 0}, "fps"), ({"fps": -25}, "fps"), ({"fps": 1e9}, "fps"),
    ({"channels": 200000}, "channels"), ({"channels": 0}, "channels"), ({"channels": "8"}, "channels"),
    ({"kernel": 4}, "kernel"), ({"kernel": 10001}, "kernel"), ({"dilations": []}, "dilations"),
    ({"dilations": [1, -2]}, "dilations"), ({"dilations": [1] * 1000}, "dilations"),
    ({"dropout": 1.5}, "dropout"), ({"embedding_dim": -1}, "embedding_dim"),
    ({"input_std": [-1.0] * 46}, "input_std"), ({"input_mean": ["x"] * 46}, "input_mean"),   # 20 + 11 + 15 phone
])
def test_a2m_config_ranges_are_checked_before_building(tmp_path, a2m_folder, changes, field):
    from synchrorama_core.motion.neural import A2MModelError, load_a2m
    t = time.monotonic()
    with pytest.raises(A2MModelError, match=field) as e:
        load_a2m(_edited_a2m(tmp_path, a2m_folder, **changes))
    assert "config.json" in str(e.value) and time.monotonic() - t < 5


def test_a2m_weights_that_do_not_fit_name_every_mismatch(tmp_path, a2m_folder):
    from synchrorama_core.motion.neural import A2MModelError, load_a2m
    with pytest.raises(A2MModelError) as e:
        load_a2m(_edited_a2m(tmp_path, a2m_folder, channels=16))
    msg = str(e.value)
    assert "inp.weight" in msg and "[8, 46, 1]" in msg and "[16, 46, 1]" in msg, msg
    assert "blocks.1.conv.weight" in msg, msg
    with pytest.raises(A2MModelError) as e:
        load_a2m(_edited_a2m(tmp_path / "b", a2m_folder, dilations=[1, 2, 4]))
    assert "missing" in str(e.value) and "blocks.2." in str(e.value)


def _adapter_file(tmp_path, name, **edit):
    """A tiny SynchroRaMa adapters file, its configuration edited by ``edit`` (``raw`` replaces it)."""
    import torch
    from safetensors.torch import load_file, save_file
    from synchrorama_core.diffusion.adapters import FORMAT, SRAdapters
    src = str(tmp_path / "tiny_adapters.safetensors")
    if not os.path.exists(src):
        SRAdapters({"down.attn2": (8, 8, 8)}, audio_dim=4, hidden=8).save(src)
    from safetensors import safe_open
    with safe_open(src, "pt") as f:
        cfg = json.loads(f.metadata()[FORMAT])
    cfg.update({k: v for k, v in edit.items() if k != "raw"})
    out = str(tmp_path / name)
    save_file({k: v.contiguous() for k, v in load_file(src).items()}, out,
              metadata={FORMAT: edit.get("raw", json.dumps(cfg))})
    return out


@pytest.mark.parametrize("edit, needle", [({"hidden": 10 ** 7}, "hidden"), ({"audio_dim": 0}, "audio_dim"),
                                          ({"layers": {"down.attn2": [8, -8, 8]}}, "widths"),
                                          ({"layers": {}}, "layers"), ({"emotion_tokens": "2"}, "emotion_tokens"),
                                          ({"raw": "{not json"}, "not valid JSON"), ({"hidden": 16}, "audio_proj.0.weight")])
def test_adapter_files_are_checked_like_a2m_configs(tmp_path, edit, needle):
    from synchrorama_core.diffusion.adapters import AdapterFormatError, SRAdapters
    path = _adapter_file(tmp_path, "edited.safetensors", **edit)
    t = time.monotonic()
    with pytest.raises(AdapterFormatError, match=needle) as e:
        SRAdapters.load(path)
    assert "edited.safetensors" in str(e.value) and time.monotonic() - t < 5
    assert SRAdapters.load(_adapter_file(tmp_path, "same.safetensors")).config["hidden"] == 8


# ------------------------------------------------------------------ 8. server text: keys redacted, replies bounded

KEY = "sk-live-0123456789abcdefABCDEF"


def _speech_value(path):
    return load_speech(path, fps=25)


def test_api_key_echoed_by_a_server_is_redacted_everywhere(tmp_path, serve_http, portrait_png, speech, caplog,
                                                           monkeypatch):
    from synchrorama_core.scene import HTTPBackend, describe_scene
    monkeypatch.setenv("SR_HARDEN_KEY", KEY)

    def echo(i, headers, body):
        auth = headers.get("Authorization", "")
        if i == 0:  # a 401 whose body repeats the header it got, and another token
            return 401, {"error": {"message": f"invalid header Authorization: {auth}; also tried Bearer abc.DEF-123"}}
        text = json.dumps({"segments": [{"start_s": 0, "end_s": 1, "description": f"key {KEY} and {auth}",
                                         "actions": ["nods"], "attributes": [auth]}], "summary": auth})
        return 200, {"choices": [{"message": {"content": text}, "finish_reason": "stop"}], "model": f"m {auth}",
                     "usage": {"total_tokens": 3, "note": auth}}
    url = serve_http(echo)
    http = HTTPBackend(base_url=url, model="m", api_key_env="SR_HARDEN_KEY", retries=0, timeout_s=10)
    sp = _speech_value(speech)
    with caplog.at_level(logging.DEBUG):
        failed = describe_scene(sp, TEXT, backend=http)
        ok = describe_scene(sp, TEXT, backend=http)
    dumped = json.dumps(failed.to_dict()) + json.dumps(ok.to_dict()) + caplog.text
    assert "HTTP 401" in dumped and "[redacted]" in dumped
    assert KEY not in dumped and KEY[:12] not in dumped and "abc.DEF-123" not in dumped
    # and OUT.json of a whole run
    res = generate(images=[portrait_png], audio=speech, text=TEXT, out=str(tmp_path / "k.mp4"), duration_s=0.5,
                   scene_backend=http)
    report = open(res.json_path, encoding="utf-8").read()
    assert KEY not in report and KEY[:12] not in report


def test_a_huge_reply_is_bounded(serve_http, speech, caplog):
    from synchrorama_core.scene import HTTPBackend, describe_scene
    segs = [{"start_s": i * 0.001, "end_s": (i + 1) * 0.001, "description": f"segment {i} " + "words " * 40,
             "actions": ["nods", "dance wildly"], "attributes": ["a" * 300, f"attr {i}"]} for i in range(3000)]
    text = json.dumps({"segments": segs, "summary": "s" * 100000})

    def reply(i, headers, body):
        return 200, {"choices": [{"message": {"content": text}, "finish_reason": "stop"}], "model": "m"}
    url = serve_http(reply)
    sp = _speech_value(speech)
    with caplog.at_level(logging.INFO):
        scene = describe_scene(sp, TEXT, backend=HTTPBackend(base_url=url, model="m", timeout_s=20))
    n_max = max(1, math.ceil(sp.duration_s / 0.5))
    assert 1 <= len(scene.segments) <= n_max, len(scene.segments)
    assert all(len(s.description) <= 500 and all(len(a) <= 100 for a in s.attributes) and len(s.attributes) <= 8
               for s in scene.segments)
    assert len(json.dumps(scene.to_dict())) < 20000
    assert max(len(r.getMessage()) for r in caplog.records) < 2000


@pytest.fixture()
def serve_http():
    """A real HTTP server on 127.0.0.1: ``respond(index, headers, body) -> (status, json)``."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading
    servers = []

    def start(respond):
        count = [0]

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
                status, obj = respond(count[0], dict(self.headers), body)
                count[0] += 1
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


# ------------------------------------------------------------------ 9. pickles

@pytest.mark.parametrize("ext", [".ckpt", ".pt", ".pth", ".bin"])
def test_pickled_weights_are_refused_with_a_conversion_hint(tmp_path, ext):
    import torch
    from synchrorama_core.diffusion import checkpoint as ckpt
    plain = tmp_path / f"plain{ext}"
    torch.save({"state_dict": {"w": torch.zeros(2, 2)}}, plain)  # tensors only: torch.load(weights_only) reads it
    with pytest.raises(ckpt.CheckpointFormatError) as e:
        ckpt.read_state_dict(str(plain))
    msg = str(e.value)
    assert "pickle" in msg and ".safetensors" in msg and "convert" in msg.lower() and str(plain) in msg
    marker = tmp_path / "unpickled.txt"
    evil = write_pickle(tmp_path / f"evil{ext}", marker)
    with pytest.raises(ckpt.CheckpointFormatError):
        ckpt.read_state_dict(evil)
    assert not marker.exists()


# ------------------------------------------------------------------ 10. noise

def test_cli_quiet_run_prints_only_its_result(tmp_path):
    p = _cli("demo", "--out", str(tmp_path / "q.mp4"), "--duration", "0.4", "-q")
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip() == "", p.stderr  # no "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
    assert p.stdout.startswith("wrote ")


def test_no_shipped_file_points_to_a_design_md_that_is_not_there():
    missing = []
    for base, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") or d == ".ci"]
        dirs[:] = [d for d in dirs if d not in ("tests", "node_modules", "__pycache__")]
        for f in files:
            p = os.path.join(base, f)
            try:
                text = open(p, encoding="utf-8").read()
            except (UnicodeDecodeError, OSError):
                continue
            if "DESIGN.md" in text and not os.path.exists(os.path.join(ROOT, "DESIGN.md")):
                missing.append(os.path.relpath(p, ROOT))
    assert missing == []
