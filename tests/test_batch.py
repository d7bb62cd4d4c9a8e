"""Batch rendering from a manifest: validation, mixed good and bad jobs, a worker killed mid-job, a batch
killed and resumed, cancel, and the Ray engine giving the same bytes as the local pool."""
import glob
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from conftest import import_or_skip
from synchrorama_core.batch import SUMMARY_NAME, ManifestError, read_manifest, run_batch
from synchrorama_core.errors import Cancelled

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELLO = "Hello there, nice to see you."


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, make_speech, astronaut):
    from PIL import Image
    d = tmp_path_factory.mktemp("batch_inputs")
    Image.fromarray((astronaut * 255).astype(np.uint8)).save(d / "face.png")
    Image.fromarray(np.full((200, 200, 3), 120, np.uint8)).save(d / "blank.png")
    (d / "notaudio.wav").write_text("this is not audio")
    import shutil
    shutil.copy(make_speech(HELLO), d / "hello.wav")
    shutil.copy(make_speech("Good morning."), d / "morning.wav")
    return d


def _manifest(d, name, jobs):
    p = d / name
    p.write_text("\n".join(json.dumps(j) for j in jobs) + "\n")
    return p


def _summary(out):
    with open(os.path.join(out, SUMMARY_NAME)) as f:
        return json.load(f)


def _partials(out):
    return glob.glob(os.path.join(out, ".*.part.mp4")) + glob.glob(os.path.join(out, ".*.part.json")) + \
        glob.glob(os.path.join(out, "*.part"))


GOOD = [{"image": "face.png", "audio": "hello.wav", "text": HELLO, "output": "hello", "seed": 3},
        {"image": "face.png", "audio": "morning.wav", "output": "morning", "head_scale": 0.5}]


def test_manifest_is_checked_before_any_work(inputs, tmp_path):
    """Unknown keys, missing files, wrong types, bad JSON and duplicate output names: one error per bad line,
    and nothing runs (no summary, no output) unless keep_going."""
    lines = [json.dumps(GOOD[0]),
             '{"image": "face.png", "audio": "hello.wav", "colour": "red"}',
             '{"image": "missing.png", "audio": "hello.wav", "output": "x"}',
             '{"image": "face.png", "audio": "hello.wav", "output": "y", "fps": "fast"}',
             '{"image": "face.png", "audio": "hello.wav" ',
             '{"image": "face.png", "audio": "morning.wav", "output": "HELLO"}',
             '{"image": "face.png", "audio": "hello.wav", "output": "../escape"}',
             '{"image": "face.png", "audio": "hello.wav", "output": "w", "emotion_weights": "text:1"}']
    m = inputs / "bad.jsonl"
    m.write_text("\n".join(lines) + "\n")
    jobs, errors = read_manifest(str(m))
    assert [j.name for j in jobs] == ["hello"]
    msgs = dict(errors)
    assert sorted(msgs) == [2, 3, 4, 5, 6, 7, 8]
    assert "unknown key(s) ['colour']" in msgs[2]
    assert "image file not found" in msgs[3] and "missing.png" in msgs[3]
    assert "'fps' must be a number" in msgs[4]
    assert "not valid JSON" in msgs[5]
    assert "already used on line 1" in msgs[6]
    assert "plain name inside the output folder" in msgs[7]
    assert "has no '='" in msgs[8]
    out = tmp_path / "out"
    with pytest.raises(ManifestError) as e:
        run_batch(str(m), str(out), workers=1)
    assert len(e.value.errors) == 7 and not out.exists()
    # the CLI: one error line per bad line, exit code 2, no traceback, nothing written
    r = subprocess.run([sys.executable, "-m", "synchrorama_core", "batch", str(m), "--out", str(out), "-q"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 7 and all(x.startswith("error: ") for x in err), r.stderr
    assert "Traceback" not in r.stderr and not out.exists()
    # CSV manifests: the same keys in a header, several images separated by ';'
    c = inputs / "jobs.csv"
    c.write_text("image,audio,output,seed\nface.png;face.png,hello.wav,two_refs,4\n")
    jobs, errors = read_manifest(str(c))
    assert not errors and jobs[0].images == [str(inputs / "face.png")] * 2 and jobs[0].options == {"seed": 4}


@pytest.fixture(scope="module")
def local_run(inputs, tmp_path_factory):
    """Two good jobs and three bad ones (no face, not audio, an option out of range) on a pool of 2."""
    jobs = GOOD + [{"image": "blank.png", "audio": "hello.wav", "output": "noface"},
                   {"image": "face.png", "audio": "notaudio.wav", "output": "notaudio"},
                   {"image": "face.png", "audio": "hello.wav", "output": "toomuch", "head_scale": 99}]
    m = _manifest(inputs, "mixed.jsonl", jobs)
    out = tmp_path_factory.mktemp("local_out")
    seen = []
    res = run_batch(str(m), str(out), workers=2, progress=lambda d, t, s: seen.append((d, t, s)))
    return m, out, res, seen


def test_one_bad_job_does_not_stop_the_others(local_run):
    m, out, res, seen = local_run
    by = {j["name"]: j for j in res.jobs}
    assert res.counts == {"done": 2, "failed": 3} and not res.ok
    for name in ("hello", "morning"):
        assert by[name]["status"] == "done" and os.path.getsize(by[name]["video"]) > 10_000
        with open(by[name]["json"]) as f:
            assert json.load(f)["inputs"]["audio"].endswith(f"{name}.wav")
    assert "no face found" in by["noface"]["error"]
    assert "notaudio.wav" in by["notaudio"]["error"]
    assert "head_scale" in by["toomuch"]["error"]
    assert all("video" not in by[n] for n in ("noface", "notaudio", "toomuch"))
    assert not os.path.exists(os.path.join(out, "noface.mp4")) and not _partials(out)
    # the summary on disk is the result, and progress counted the jobs to the end
    assert _summary(out)["jobs"] == res.jobs and _summary(out)["counts"] == res.counts
    assert seen[-1][:2] == (5, 5) and seen[-1][2].startswith("2 done, 3 failed")
    # each worker loaded its models once: two processes served five jobs
    assert len({j["worker"] for j in res.jobs}) <= 2


def test_same_job_and_seed_give_identical_bytes(local_run, tmp_path):
    m, out, res, _ = local_run
    again = run_batch(str(_manifest(m.parent, "again.jsonl", GOOD[:1])), str(tmp_path), workers=1)
    assert again.ok
    with open(os.path.join(out, "hello.mp4"), "rb") as a, open(tmp_path / "hello.mp4", "rb") as b:
        assert a.read() == b.read()


def _pool_children():
    """PIDs of this process's multiprocessing pool workers."""
    me = str(os.getpid())
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = f.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if ppid == me and b"spawn_main" in cmd:
            out.append(int(pid))
    return out


def test_a_worker_killed_mid_job_is_run_again(inputs, tmp_path):
    """SIGKILL the worker while it writes the first video: the job is interrupted, runs again in a new
    worker and the batch completes; no partial file is left."""
    m = _manifest(inputs, "kill.jsonl", GOOD)
    out = tmp_path / "out"
    result = {}
    t = threading.Thread(target=lambda: result.update(res=run_batch(str(m), str(out), workers=1)))
    t.start()
    killed = None
    deadline = time.time() + 120
    while time.time() < deadline and killed is None:
        if _partials(str(out)) and _pool_children():    # the worker is rendering into its temporary file
            killed = _pool_children()[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    t.join(timeout=300)
    assert killed is not None, "the worker never started writing"
    res = result["res"]
    by = {j["name"]: j for j in res.jobs}
    assert res.ok and by["hello"]["attempts"] == 2 and by["morning"]["attempts"] == 1
    assert not _partials(str(out))


def test_a_killed_batch_resumes_without_redoing_finished_jobs(inputs, tmp_path):
    m = _manifest(inputs, "resume.jsonl", GOOD)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "synchrorama_core", "batch", str(m), "--out", str(out), "--workers", "1", "-q"]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            s = _summary(out)
        except (OSError, ValueError):
            s = None
        if s and any(j["status"] == "done" for j in s["jobs"]) and any(j["status"] == "running" for j in s["jobs"]):
            break
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)                # the batch and its worker, at once
    p.wait(timeout=30)
    s = _summary(out)                               # still valid JSON: rewritten atomically
    states = {j["name"]: j["status"] for j in s["jobs"]}
    assert states == {"hello": "done", "morning": "running"}, states
    first = os.stat(out / "hello.mp4").st_mtime_ns
    r = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    s = _summary(out)
    by = {j["name"]: j for j in s["jobs"]}
    assert by["hello"]["resumed"] and os.stat(out / "hello.mp4").st_mtime_ns == first
    assert by["morning"]["status"] == "done" and os.path.getsize(out / "morning.mp4") > 10_000
    assert not _partials(str(out))


def test_cancel_stops_running_jobs_and_leaves_no_partial_file(inputs, tmp_path):
    m = _manifest(inputs, "cancel.jsonl", GOOD)
    out = tmp_path / "out"
    flag = threading.Event()

    def cancelled():
        if _partials(str(out)):          # as soon as a video is being written
            flag.set()
        return flag.is_set()
    with pytest.raises(Cancelled, match="rerun with --resume"):
        run_batch(str(m), str(out), workers=1, cancelled=cancelled)
    states = {j["name"]: j["status"] for j in _summary(out)["jobs"]}
    assert states == {"hello": "cancelled", "morning": "pending"}
    assert not _partials(str(out)) and not os.path.exists(out / "hello.mp4")


def test_ray_engine_runs_the_same_jobs_with_the_same_bytes(local_run, tmp_path):
    ray = import_or_skip("ray", "Ray is an optional extra (pip install ray); CI installs it")
    m, out, res, _ = local_run
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": ROOT}})
        r = run_batch(str(m), str(tmp_path), workers=2, engine="ray")
    finally:
        ray.shutdown()
    assert r.counts == res.counts
    for j in r.jobs:
        assert j["status"] == {x["name"]: x for x in res.jobs}[j["name"]]["status"]
    for name in ("hello", "morning"):
        with open(os.path.join(out, f"{name}.mp4"), "rb") as a, open(tmp_path / f"{name}.mp4", "rb") as b:
            assert a.read() == b.read(), f"{name}: the Ray engine wrote other bytes than the local pool"
