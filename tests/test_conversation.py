"""Conversations: two faces in one picture, two alternating espeak-ng tracks -> one mp4, measured from its pixels.

The test picture is our own: the astronaut (skimage.data.astronaut()) and Grace Hopper
(tests/data/portrait_closed_lips.jpg, public domain) side by side at 512 x 1024 (h x w).  The video
is decoded with PyAV and each face is re-detected in every frame (a FaceTracker on each half of the
frame), so lip sync, rest and presence are what a viewer sees.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from synchrorama_core.conversation import assign_speakers, generate_conversation
from synchrorama_core.errors import AudioError, FaceNotFoundError, InvalidDataError
from synchrorama_core.face import FaceTracker, analyze_cast, measure_landmarks
from synchrorama_core.types import CastData, MotionData
from helpers.measure import frame_rms, lag_corr
from helpers.pictures import two_people

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
FPS = 25
LEFT_TEXT = ["Hello there. I am really happy to see you today.", "Shall we take a walk along the river?"]
RIGHT_TEXT = "Thank you, what a wonderful morning it is."


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    """Two real faces side by side, 512 x 1024: the astronaut (left) and Grace Hopper (right)."""
    from PIL import Image
    path = tmp_path_factory.mktemp("conv") / "two_people.png"
    Image.fromarray(two_people(512)).save(path)
    return str(path)


@pytest.fixture(scope="module")
def tracks(make_speech, tmp_path_factory):
    """Two alternating tracks: left speaks, right answers, left again; the right track is shorter
    (it ends 1 s before the left one)."""
    import soundfile as sf
    a1, sr = sf.read(make_speech(LEFT_TEXT[0]), dtype="float32")
    b1, _ = sf.read(make_speech(RIGHT_TEXT, pitch=30), dtype="float32")
    a2, _ = sf.read(make_speech(LEFT_TEXT[1]), dtype="float32")
    gap = np.zeros(int(0.4 * sr), np.float32)
    left = np.concatenate([a1, gap, np.zeros_like(b1), gap, a2])
    right = np.concatenate([np.zeros_like(a1), gap, b1, gap, np.zeros_like(a2)])[:len(left) - sr]
    d = tmp_path_factory.mktemp("tracks")
    paths = [str(d / "left.wav"), str(d / "right.wav")]
    sf.write(paths[0], left, sr)
    sf.write(paths[1], right, sr)
    both = left.copy()
    both[:len(right)] += right
    sf.write(str(d / "both.wav"), both, sr)
    t1, t2 = len(a1) / sr + 0.2, (len(a1) + len(gap) + len(b1)) / sr + 0.2
    turns = f"0-{t1:.2f}:0, {t1:.2f}-{t2:.2f}:1, {t2:.2f}-end:0"
    return {"paths": paths, "sr": sr, "left": left, "right": right, "both": str(d / "both.wav"), "turns": turns}


def decode(path):
    import av
    with av.open(path) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])])
        a = c.streams.audio[0]
        c.seek(0)
        sound = np.concatenate([f.to_ndarray().reshape(-1, f.samples).mean(axis=0)
                                for f in c.decode(a)]) if a is not None else None
        rate = a.rate if a is not None else 0
    return frames, sound, rate


def per_face(frames):
    """measure_landmarks of the left and right face, each tracked in its half of every frame."""
    out = []
    for x0, x1 in ((0, 512), (512, 1024)):
        tracker = FaceTracker()
        out.append(measure_landmarks([tracker(np.ascontiguousarray(f[:, x0:x1])) for f in frames]))
    return out


def rms_on_frames(y, sr, n):
    r = frame_rms(y, sr, min(n, int(round(len(y) / sr * FPS))), FPS)
    return np.pad(r, (0, n - len(r)))


@pytest.fixture(scope="module")
def run(picture, tracks, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("out") / "conversation.mp4")
    res = generate_conversation(picture, tracks["paths"], texts=[" ".join(LEFT_TEXT), RIGHT_TEXT], fps=FPS, out=out,
                                seed=1)
    frames, sound, rate = decode(out)
    meas = per_face(frames)
    rms = [rms_on_frames(tracks[k], tracks["sr"], len(frames)) for k in ("left", "right")]
    return {"res": res, "out": out, "frames": frames, "sound": sound, "rate": rate, "meas": meas, "rms": rms}


# ------------------------------------------------------------------------------ from the pixels

def test_both_faces_found(run):
    found = [m["found"].mean() for m in run["meas"]]
    print("faces found (left, right):", found)
    assert min(found) >= 0.9, found


def _opening(m):
    o = m["mouth_opening"]
    return np.where(np.isfinite(o), o, np.nanmean(o))


def test_each_face_follows_its_own_track(run):
    for k in range(2):
        o = _opening(run["meas"][k])
        own = lag_corr(run["rms"][k], o, max_lag=2)
        other = lag_corr(run["rms"][1 - k], o, max_lag=2)
        print(f"face {k}: own track {max(own.values()):.2f} (lags {own}), other track {max(other.values()):.2f}")
        assert max(own.values()) >= 0.5, own
        assert max(other.values()) <= 0.25, other


def test_faces_rest_while_the_other_speaks(run):
    for k in range(2):
        o = _opening(run["meas"][k])
        own, other = run["rms"][k] > 0.01, run["rms"][1 - k] > 0.01
        listening = other & ~own
        speaking = own & ~other
        rest = np.median(o[~own & ~other])
        print(f"face {k}: opening while listening p50 {np.median(o[listening]):.3f} p95 "
              f"{np.percentile(o[listening], 95):.3f}; silent rest {rest:.3f}; "
              f"speaking p50 {np.median(o[speaking]):.3f}")
        assert listening.sum() > 40 and speaking.sum() > 40
        assert np.percentile(o[listening], 95) < rest + 0.03
        assert np.median(o[speaking]) > np.percentile(o[listening], 95) + 0.05


def test_clip_lasts_as_long_as_the_longest_track_and_mixes_both(run, tracks):
    n = len(run["frames"])
    assert n == round(len(tracks["left"]) / tracks["sr"] * FPS) == run["res"].n_frames
    assert run["frames"].shape[1:] == (512, 1024, 3)
    # the sound is the mix: its envelope follows the left track in the left's turns and the right one in the right's
    snd = rms_on_frames(run["sound"], run["rate"], n)
    mix = rms_on_frames(tracks["left"] + np.pad(tracks["right"], (0, len(tracks["left"]) - len(tracks["right"]))),
                        tracks["sr"], n)
    assert np.corrcoef(snd, mix)[0, 1] > 0.95
    assert snd[run["rms"][1] > 0.02].mean() > 0.3 * run["rms"][1][run["rms"][1] > 0.02].mean()
    # after the right track ends, its face rests (lips as when silent)
    end = int(len(tracks["right"]) / tracks["sr"] * FPS) + 5
    o = _opening(run["meas"][1])
    assert np.percentile(o[end:], 95) < np.median(o[run["rms"][1] <= 0.01]) + 0.03


def test_report_names_both_people_and_who_speaks_when(run):
    rep = json.load(open(run["res"].json_path))
    assert rep["kind"] == "conversation" and len(rep["speakers"]) == 2
    s = rep["summary"]
    assert [p["name"] for p in s["speakers"]] == ["the person on the left", "the person on the right"]
    assert [p["face_index"] for p in s["speakers"]] == [0, 1]
    segs = s["scene"]
    t_right = 0.5 * (np.flatnonzero(run["rms"][1] > 0.02)[[0, -1]].mean()) / FPS * 2
    at = [g for g in segs if g["start_s"] <= t_right < g["end_s"]][0]
    print("\n".join(f"{g['start_s']:.2f}-{g['end_s']:.2f} {g['description']}" for g in segs))
    assert at["description"].startswith("The person on the right") and "the person on the left listens" in \
        at["description"]
    assert segs[0]["description"].startswith("The person on the left")
    # every speaker's stage values load back
    MotionData.from_dict(rep["speakers"][0]["motion"])
    assert rep["speakers"][1]["motion"]["generator"].endswith("+listening")


# ------------------------------------------------------------------------------ listening behaviour (motion)

@pytest.fixture(scope="module")
def speeches(tracks):
    from synchrorama_core.audio import load_speech
    return [load_speech(p, fps=FPS) for p in tracks["paths"]]


def _motions(speeches, emotions=None, **kw):
    from synchrorama_core.motion import add_listening, generate_procedural, pad_motion
    own = [generate_procedural(s, None if emotions is None else emotions[k], seed=k) for k, s in enumerate(speeches)]
    dur = max(m.duration_s for m in own)
    own = [pad_motion(m, dur) for m in own]
    return own, add_listening(own, speeches, emotions, [(256, 150, 100), (770, 250, 260)], **kw)


def test_listeners_turn_toward_the_speaker_and_nod(speeches):
    from synchrorama_core.motion import who_speaks
    own, lis = _motions(speeches)
    n = own[0].n_frames
    talk = who_speaks(speeches, n, FPS)
    left_listens = talk[1] & ~talk[0]
    right_listens = talk[0] & ~talk[1]
    # the right person is to the left's image-right: yaw > 0 turns toward them (and the reverse)
    dyaw_l = lis[0].rotation[:, 0] - own[0].rotation[:, 0]
    dyaw_r = lis[1].rotation[:, 0] - own[1].rotation[:, 0]
    print("gaze while listening: left", dyaw_l[left_listens].mean(), "right", dyaw_r[right_listens].mean())
    assert dyaw_l[left_listens].mean() > 4.0 and dyaw_r[right_listens].mean() < -4.0
    assert abs(dyaw_l[talk[0] & ~talk[1]].mean()) < 0.6 * dyaw_l[left_listens].mean()   # less while speaking
    assert lis[0].meta["listening"]["nods"] >= 1 and lis[1].meta["listening"]["nods"] >= 1
    # blinks continue while listening
    assert (lis[0].expressions["blink_l"][left_listens] > 0.5).any()


def test_listeners_mirror_the_speakers_emotion_at_lower_strength(speeches):
    from synchrorama_core.emotion import embed_emotion
    from synchrorama_core.motion import who_speaks
    emos = [embed_emotion(speeches[0], "I feel sad and tired today."),
            embed_emotion(speeches[1], "I am so happy, this is wonderful, I love it!")]
    own, lis = _motions(speeches, emos)
    talk = who_speaks(speeches, own[0].n_frames, FPS)
    left_listens = talk[1] & ~talk[0]
    smile_speaker = lis[1].expressions["smile"][talk[1]].mean()
    smile_listener = lis[0].expressions["smile"][left_listens].mean()
    smile_before = own[0].expressions["smile"][left_listens].mean()
    print(f"smile: happy speaker {smile_speaker:.3f}, listener {smile_listener:.3f} (without listening "
          f"{smile_before:.3f})")
    assert smile_listener > smile_before + 0.1
    assert smile_listener < smile_speaker
    none = _motions(speeches, emos, reaction=0.0)[1]
    assert none[0].expressions["smile"][left_listens].mean() <= smile_before + 0.02


def test_crosstalk_does_not_move_a_listeners_lips(speeches, tracks):
    """A second microphone hears the other voice 20 dB down: who holds the floor is the louder track."""
    from synchrorama_core.audio import speech_from_waveform, load_speech_waveform
    from synchrorama_core.motion import generate_procedural
    y0, y1 = (load_speech_waveform(p) for p in tracks["paths"])
    y1 = np.pad(y1, (0, len(y0) - len(y1)))
    leaky = [speech_from_waveform(y0 + 0.1 * y1, FPS), speech_from_waveform(y1 + 0.1 * y0, FPS)]
    raw = generate_procedural(leaky[0])
    lis = _motions(leaky)[1]
    right_talks = rms_on_frames(tracks["right"], tracks["sr"], raw.n_frames) > 0.02
    left_quiet = rms_on_frames(tracks["left"], tracks["sr"], raw.n_frames) < 0.005
    sel = right_talks & left_quiet
    print("left jaw while the right speaks, leaky track:", raw.expressions["jaw_open"][sel].mean(), "->",
          lis[0].expressions["jaw_open"][sel].mean())
    assert raw.expressions["jaw_open"][sel].mean() > 0.02          # the leak alone would move the lips
    assert lis[0].expressions["jaw_open"][sel].max() < 0.02


# ------------------------------------------------------------------------------ one track, split by turns

def test_one_track_split_by_turns(picture, tracks, tmp_path):
    out = str(tmp_path / "turns.mp4")
    res = generate_conversation(picture, [tracks["both"]], turns=tracks["turns"], out=out, duration_s=6.0,
                                write_json=False)
    assert res.n_frames == 150 and res.cast.count == 2
    frames, _, _ = decode(out)
    meas = per_face(frames)
    rms = [rms_on_frames(tracks[k], tracks["sr"], len(frames)) for k in ("left", "right")]
    for k in range(2):
        c = lag_corr(rms[k], _opening(meas[k]), 2)
        print(f"turns, face {k}: own {max(c.values()):.2f}")
        assert max(c.values()) >= 0.5


def test_separate_portraits_are_composed_side_by_side(tracks, tmp_path):
    """Several --image with several --audio: the portraits become one picture (common height)."""
    from PIL import Image
    from skimage import data
    a, b = tmp_path / "a.png", tmp_path / "b.jpg"
    Image.fromarray(data.astronaut()).save(a)                                   # 512 x 512
    Image.open(os.path.join(DATA, "portrait_closed_lips.jpg")).save(b)          # 400 x 360
    res = generate_conversation([str(a), str(b)], tracks["paths"], out=str(tmp_path / "c.mp4"), duration_s=1.0,
                                write_json=False)
    assert res.cast.size == (512, 512 + round(360 * 512 / 400)) and res.cast.count == 2
    assert res.cast.boxes[0][2] < 512 < res.cast.boxes[1][0]
    frames, _, _ = decode(res.video_path)
    assert frames.shape == (25, 512, 974, 3)                         # 973 wide, padded to even by the encoder


def test_cancel_leaves_no_file(picture, tracks, tmp_path):
    from synchrorama_core.errors import Cancelled
    seen = {"render": 0}

    def progress(done, total, stage):
        seen["render"] += stage == "render"
    with pytest.raises(Cancelled):
        generate_conversation(picture, tracks["paths"], out=str(tmp_path / "c.mp4"), progress=progress,
                              cancelled=lambda: seen["render"] >= 5)
    assert os.listdir(tmp_path) == []


def test_turn_parsing_and_splitting():
    from synchrorama_core.audio import parse_turns, split_turns
    t = parse_turns("0-1:0; 1-2.5:1\n2.5-end:0")
    assert [(x.start_s, x.speaker) for x in t] == [(0, 0), (1, 1), (2.5, 0)] and np.isinf(t[-1].end_s)
    y = np.ones(16000 * 3, np.float32)
    a, b = split_turns(y, 16000, t)
    assert a[:15000].min() == 1 and b[:15000].max() == 0 and b[17000:39000].min() == 1 and a[41000:].min() == 1
    for bad, msg in (("0-1:0, 0.5-2:1", "overlap"), ("2-1:0", "after the start"), ("0-1", "start-end:speaker"),
                     ("", "no speaker turns")):
        with pytest.raises(InvalidDataError, match=msg):
            parse_turns(bad)
    with pytest.raises(InvalidDataError, match="names speaker 2 but there are 2 speakers"):
        split_turns(y, 16000, parse_turns("0-1:2"), 2)
    # a script: one turn per line with its words (commas inside the words are words)
    from synchrorama_core.audio import turn_texts
    script = parse_turns("0-1.5:0\tHello, how are you?\n1.5-3:1  Fine, thanks.\n3-end:0 Good.")
    assert [t.speaker for t in script] == [0, 1, 0] and turn_texts(script) == ["Hello, how are you? Good.",
                                                                              "Fine, thanks."]
    assert turn_texts(t) == ["", ""]


# ------------------------------------------------------------------------------ errors

def test_errors_name_both_counts(picture, tracks, tmp_path):
    out = str(tmp_path / "x.mp4")
    p = tracks["paths"]
    with pytest.raises(FaceNotFoundError, match=r"3 speakers .* only 2 face"):
        generate_conversation(picture, [p[0], p[1], p[0]], out=out)
    with pytest.raises(FaceNotFoundError, match=r"face index 5 does not exist.* has 2 face"):
        generate_conversation(picture, p, face_indices=[0, 5], out=out)
    with pytest.raises(FaceNotFoundError, match="same face twice"):
        generate_conversation(picture, p, face_indices=[1, 1], out=out)
    with pytest.raises(InvalidDataError, match="1 face indices for 2 speech tracks"):
        generate_conversation(picture, p, face_indices=[1], out=out)
    with pytest.raises(InvalidDataError, match="3 transcripts for 2 speakers"):
        generate_conversation(picture, p, texts=["a", "b", "c"], out=out)
    with pytest.raises(InvalidDataError, match="turns split one recording"):
        generate_conversation(picture, p, turns="0-1:0,1-2:1", out=out)
    with pytest.raises(InvalidDataError, match="unknown listening option"):
        generate_conversation(picture, p, listening_options={"stare": 1}, out=out)
    assert os.listdir(tmp_path) == []                                 # nothing written


def test_a_track_shorter_than_one_frame_is_named(picture, tracks, tmp_path):
    import soundfile as sf
    short = tmp_path / "blip.wav"
    sf.write(short, np.full(300, 0.1, np.float32), 16000)          # 19 ms < one 40 ms frame
    with pytest.raises(AudioError, match=r"speaker 1's track \(blip.wav\) holds 18.8 ms of audio, shorter than one "
                                         r"video frame \(40.0 ms at 25 fps\); use longer speech"):
        generate_conversation(picture, [tracks["paths"][0], str(short)], fps=FPS, out=str(tmp_path / "x.mp4"))
    assert os.listdir(tmp_path) == ["blip.wav"]                        # no video, no OUT.json, no temporary file


def test_cast_renderer_checks_frame_dtype_and_output_buffer(picture):
    from PIL import Image
    from synchrorama_core.render import CastRenderer
    cast = analyze_cast(np.asarray(Image.open(picture), np.float32) / 255.0)
    ren = CastRenderer(cast.with_motions([MotionData.neutral(0.12, FPS), None]))
    h, w = ren.size
    with pytest.raises(InvalidDataError, match="frames can be float32 or uint8, not float64"):
        ren.frames(dtype=np.float64)
    with pytest.raises(InvalidDataError,
                       match=rf"output buffer has shape \[2, {h}, {w}, 3\], expected \[3, {h}, {w}, 3\]"):
        ren.render(out=np.zeros((2, h, w, 3), np.float32))
    out = np.zeros((3, h, w, 3), np.float32)
    assert ren.render(out=out) is out and np.array_equal(out, np.stack(list(ren.frames())))


def test_cli_conversation_errors_and_usage(picture, tracks):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "synchrorama_core", "generate", "--image", picture, *args],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    p = tracks["paths"]
    r = cli("--audio", p[0], "--audio", p[1], "--audio", p[0], "--out", "/tmp/never.mp4", "-q")
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("error: 3 speakers"), r.stderr
    assert "only 2 face(s)" in r.stderr
    r = cli("--audio", p[0], "--face-index", "0", "--face-index", "1", "--out", "/tmp/never.mp4", "-q")
    assert r.returncode == 2 and "--face-index was given 2 times for one --audio" in r.stderr
    assert not os.path.exists("/tmp/never.mp4")


# ------------------------------------------------------------------------------ the renderer: seamless tiles

def test_face_tiles_partition_the_picture():
    from synchrorama_core.render import face_tiles
    boxes = [(700, 50, 900, 300), (60, 40, 260, 280), (380, 300, 560, 500)]
    tiles = face_tiles(boxes, (512, 1024))
    cover = np.zeros((512, 1024), int)
    for (x0, y0, x1, y1), b in zip(tiles, boxes):
        cover[y0:y1, x0:x1] += 1
        assert x0 <= b[0] and b[2] <= x1 and y0 <= b[1] and b[3] <= y1
    assert (cover == 1).all()
    with pytest.raises(InvalidDataError, match="overlap"):
        face_tiles([(0, 0, 100, 100), (50, 50, 150, 150)], (200, 200))


def test_close_faces_are_composited_without_seams(astronaut):
    """Two heads 24 px apart, both moving strongly: every warped region's edge is the picture
    exactly, and across the cut between the faces the frame is as smooth as the picture."""
    from synchrorama_core.render import CastRenderer
    from skimage import data
    head = astronaut[10:266, 120:330]                                  # 256 x 210
    pic = np.ascontiguousarray(data.coffee()[:300, :460].astype(np.float32) / 255.0)   # a textured backdrop
    pic[22:278, 8:218] = head
    pic[22:278, 242:452] = head[:, ::-1]
    cast = analyze_cast(pic)
    assert cast.count == 2
    n = 12
    t = np.linspace(0, 1, n)
    moves = []
    for sign in (1, -1):
        rot = np.stack([sign * 10 * np.sin(6 * t), 5 * np.sin(4 * t), 4 * np.cos(5 * t)], axis=1)
        moves.append(MotionData(fps=FPS, duration_s=n / FPS, rotation=rot, translation=np.zeros((n, 2)),
                                scale=np.ones(n), expressions={"jaw_open": np.full(n, 0.6)}))
    r = CastRenderer(cast.with_motions(moves))
    frames = r.render()
    cut = r.cells[1][0]
    assert 218 <= cut <= 242, r.cells
    for (x0, y0, x1, y1) in r.tiles:
        edge = np.concatenate([frames[:, y0:y1, x0].reshape(n, -1), frames[:, y0:y1, x1 - 1].reshape(n, -1)], 1)
        ref = np.concatenate([pic[y0:y1, x0].reshape(-1), pic[y0:y1, x1 - 1].reshape(-1)])
        assert np.abs(edge - ref[None]).max() < 1e-5
    moved = np.abs(frames - pic[None]).max(axis=-1)
    assert moved[:, :, 20:200].max() > 0.3 and moved[:, :, 260:440].max() > 0.3     # both faces do move
    near = moved[:, :, cut - 8:cut + 8]
    step = np.abs(frames[:, :, cut] - frames[:, :, cut - 1])
    step0 = np.abs(pic[:, cut] - pic[:, cut - 1])
    grad = np.abs(np.diff(frames[:, :, cut - 6:cut + 6], axis=2))
    grad0 = np.abs(np.diff(pic[:, cut - 6:cut + 6], axis=1))
    print(f"across the cut at x={cut}: pixels within 8 px move up to {near.max():.3f}; step at the cut differs from "
          f"the picture's by {np.abs(step - step0[None]).max():.2e}; gradients nearby: mean {grad.mean():.4f} "
          f"(picture {grad0.mean():.4f})")
    assert near.max() > 0.05                      # the warp does reach the cut ...
    assert np.abs(step - step0[None]).max() < 1e-5            # ... and meets it exactly: no seam
    assert grad.mean() < 1.3 * grad0.mean() + 0.005           # no tearing beside it


def test_a_person_without_motion_stays_as_photographed(picture, tracks):
    from PIL import Image
    from synchrorama_core.audio import load_speech
    from synchrorama_core.motion import generate_procedural
    from synchrorama_core.render import CastRenderer
    pic = np.asarray(Image.open(picture), np.float32) / 255.0
    cast = analyze_cast(pic)
    m = generate_procedural(load_speech(tracks["paths"][1], fps=FPS, start_s=3.0, duration_s=2.0), seed=0)
    frames = list(CastRenderer(cast.with_motions([None, m])).frames(dtype=np.uint8))
    u8 = (pic * 255 + 0.5).astype(np.uint8)
    x0, y0, x1, y1 = CastRenderer(cast).cells[0]
    assert all(np.array_equal(f[y0:y1, x0:x1], u8[y0:y1, x0:x1]) for f in frames[::10])
    assert max(np.abs(f.astype(int) - u8).max() for f in frames[::10]) > 30


# ------------------------------------------------------------------------------ values and face selection

def test_cast_value_round_trips_and_person_view(picture, speeches, tmp_path):
    from PIL import Image
    from synchrorama_core.motion import generate_procedural
    pic = np.asarray(Image.open(picture), np.float32) / 255.0
    cast = analyze_cast(pic, face_indices=[1, 0], names=["Grace", "Eileen"])
    assert cast.face_index == [1, 0] and cast.boxes[0][0] > 512 and cast.names == ["Grace", "Eileen"]
    face = cast.person(0)
    assert face.count == 1 and np.array_equal(face.landmarks[0], cast.landmarks[0])
    m = generate_procedural(speeches[0])
    c2 = cast.with_motions([m, None])
    for ext in ("json", "safetensors"):
        back = CastData.load(c2.save(str(tmp_path / f"cast.{ext}")))
        assert back.names == c2.names and back.motions[1] is None
        assert np.array_equal(back.motions[0].rotation, m.rotation) and np.allclose(back.image, c2.image)
    short = generate_procedural(speeches[1])
    with pytest.raises(InvalidDataError, match="share one timeline"):
        cast.with_motions([m, short])
    with pytest.raises(InvalidDataError, match="2 people but 1 motions"):
        cast.with_motions([m])


def test_a_large_picture_is_scaled_down_whole(picture, caplog):
    from PIL import Image
    big = np.asarray(Image.open(picture).resize((3072, 1536), Image.BICUBIC))
    with caplog.at_level("WARNING"):
        cast = analyze_cast(big)                                  # max_side 2048 by default
    assert cast.size == (1024, 2048) and cast.count == 2 and "scaled to 2048x1024" in caplog.text
    assert analyze_cast(big, max_side=0).size == (1536, 3072)


def test_face_selection_by_position(picture):
    from PIL import Image
    from synchrorama_core.face import analyze_faces
    pic = np.asarray(Image.open(picture), np.float32) / 255.0
    right = analyze_faces([pic], position="right").landmarks[0][:, 0].mean()
    left = analyze_faces([pic], position="leftmost").landmarks[0][:, 0].mean()
    near = analyze_faces([pic], position="0.2,0.3").landmarks[0][:, 0].mean()
    largest = analyze_faces([pic]).landmarks[0][:, 0].mean()
    assert left < 512 < right and near < 512 and largest > 512        # Hopper's face is the larger one
    with pytest.raises(ValueError, match="not understood"):
        analyze_faces([pic], position="upstairs")


def test_shorter_motion_is_padded_with_rest(picture, speeches):
    from PIL import Image
    from synchrorama_core.motion import generate_procedural
    pic = np.asarray(Image.open(picture), np.float32) / 255.0
    cast = analyze_cast(pic)
    ms = [generate_procedural(s) for s in speeches]
    assert ms[1].n_frames < ms[0].n_frames
    out, scene = assign_speakers(cast, speeches, ms)
    assert [m.n_frames for m in out.motions] == [ms[0].n_frames] * 2
    tail = out.motions[1]
    k = ms[1].n_frames + int(0.7 * FPS)
    assert np.abs(tail.expressions["jaw_open"][k:]).max() == 0 and np.abs(tail.rotation[k:, 2]).max() < 1e-6
    assert scene.duration_s == pytest.approx(speeches[0].duration_s)
    with pytest.raises(InvalidDataError, match="3 speakers but the cast holds only 2"):
        assign_speakers(cast, speeches + speeches[:1], ms + ms[:1])


# ------------------------------------------------------------------------------ nodes

def test_conversation_nodes_make_frames(pack, picture, tracks, comfy_dirs):
    """Find Faces -> (Split Speakers -> Speech Features -> A2M) x 2 -> Conversation -> Warp Renderer
    (conversation), and Mix Audio, as a graph would run them (the first 2 s)."""
    import torch
    from PIL import Image
    from synchrorama_core.audio import decode_audio
    nodes = pack.NODE_CLASS_MAPPINGS
    img = torch.from_numpy(np.asarray(Image.open(picture), np.float32)[None] / 255.0)
    cast, prev = nodes["SynchroRaMaFindFaces"]().find(img, face_indices="", speakers=2)
    assert cast.count == 2 and prev.shape == (1, 512, 1024, 3)
    wav, sr = decode_audio(tracks["both"], duration_s=2.0)
    audio = {"waveform": torch.from_numpy(wav)[None], "sample_rate": sr}
    parts = nodes["SynchroRaMaSplitSpeakers"]().split(audio, turns="0-1:0 Hello there, friend.\n1-end:1 Hi!")
    assert len(parts) == 8 and float(parts[2]["waveform"].abs().max()) == 0.0
    assert parts[4:] == ("Hello there, friend.", "Hi!", "", "")
    feats, a2m = nodes["SynchroRaMaSpeechFeatures"](), nodes["SynchroRaMaA2MMotion"]()
    sp = [feats.analyze(parts[k], fps=FPS)[0] for k in range(2)]
    mo = [a2m.generate(s)[0] for s in sp]
    face, name = nodes["SynchroRaMaCastPerson"]().pick(cast, person=1)
    assert face.count == 1 and name == "the person on the right" and face.boxes[0][0] > 512
    c2, scene, text = nodes["SynchroRaMaConversation"]().assign(cast, sp[0], mo[0], speech_2=sp[1], motion_2=mo[1])
    assert all(m is not None for m in c2.motions) and "the person on the left" in text.lower()
    with pytest.raises(ValueError, match="connect both speech_2 and motion_2"):
        nodes["SynchroRaMaConversation"]().assign(cast, sp[0], mo[0], speech_2=sp[1])
    frames, fps = nodes["SynchroRaMaCastRenderer"]().render(c2)
    assert tuple(frames.shape) == (50, 512, 1024, 3) and torch.isfinite(frames).all() and fps == FPS
    (mixed,) = nodes["SynchroRaMaMixAudio"]().mix(parts[0], audio_2=parts[1])
    assert torch.allclose(mixed["waveform"], audio["waveform"], atol=1e-4)
    # the streaming form: the same frames, through the encoder, into core's VIDEO with the mixed sound
    (video,) = nodes["SynchroRaMaCastRenderVideo"]().render(c2, audio=mixed, crf=12)
    import av
    with av.open(video.get_stream_source()) as c:         # every 5th frame (memory: the test machine is shared)
        got = np.stack([f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(video=0)) if i % 5 == 0])
        assert c.streams.audio and c.streams.video[0].frames == 50
    want = (frames[::5].numpy() * 255 + 0.5).astype(np.uint8)
    del frames
    err = np.mean((got.astype(np.float32) - want.astype(np.float32)) ** 2)
    assert got.shape == want.shape and 10 * np.log10(255.0 ** 2 / err) > 38
