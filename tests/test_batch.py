"""Batch rendering from a manifest: validation, mixed good and bad jobs, --keep-going, a worker killed
mid-job, a batch killed and resumed, resume of failed and cancelled jobs, cancel and Ctrl-C (in the CLI
too), and the Ray engine: the same bytes as the local pool, a killed actor, a batch stopped at once."""
import glob
import json
import os
import shutil
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


def test_keep_going_runs_the_good_lines_and_reports_the_bad_ones(inputs, tmp_path):
    m = inputs / "keep.jsonl"
    m.write_text("\n".join([json.dumps({"image": "face.png", "audio": "morning.wav", "output": "morning"}),
                            '{"image": "face.png", "audio": "hello.wav", "colour": "red"}',
                            '{"image": "missing.png", "audio": "hello.wav", "output": "x"}']) + "\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "synchrorama_core", "batch", str(m), "--out", str(out), "-q", "--workers", "1"]
    r = subprocess.run(cmd + ["--keep-going"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr              # some job failed
    assert "1 done, 2 failed of 3 jobs" in r.stdout
    assert "failed line 2" in r.stdout and "failed line 3" in r.stdout, r.stdout
    s = _summary(out)
    by = {j["line"]: j for j in s["jobs"]}
    assert s["counts"] == {"done": 1, "failed": 2}
    assert by[1]["status"] == "done" and os.path.getsize(out / "morning.mp4") > 10_000
    assert by[2]["status"] == "failed" and "unknown key(s) ['colour']" in by[2]["error"]
    assert by[3]["status"] == "failed" and "missing.png" in by[3]["error"]
    assert all(by[n]["error"].startswith("bad manifest line") and "video" not in by[n] for n in (2, 3))


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


def _writer_of(out, name):
    """PID of the process that holds job ``name``'s temporary video open (any engine), or None."""
    prefix = os.path.join(str(out), f".{name}.")
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith(prefix) and target.endswith(".part.mp4"):
                    return int(pid)
        except OSError:
            continue
    return None


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


def test_cancel_stops_running_jobs_and_resume_finishes_them(inputs, tmp_path):
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
    # resume redoes the cancelled job (and runs the one that never started)
    res = run_batch(str(m), str(out), workers=1, resume=True)
    assert res.ok and not any(j.get("resumed") for j in res.jobs)
    assert all(os.path.getsize(out / f"{n}.mp4") > 10_000 for n in ("hello", "morning"))


def test_resume_redoes_failed_jobs_and_skips_done_ones(local_run, tmp_path):
    """Resuming the mixed batch: the two done jobs are kept as they are, the three failed ones run again
    (and fail again, with the same errors: their inputs are still bad)."""
    m, out, res, _ = local_run
    again = tmp_path / "out"
    shutil.copytree(out, again)
    mtimes = {n: os.stat(again / f"{n}.mp4").st_mtime_ns for n in ("hello", "morning")}
    before = {j["name"]: j for j in res.jobs}
    r = run_batch(str(m), str(again), workers=1, resume=True)
    by = {j["name"]: j for j in r.jobs}
    assert r.counts == {"done": 2, "failed": 3}
    for n in ("hello", "morning"):
        assert by[n]["resumed"] and os.stat(again / f"{n}.mp4").st_mtime_ns == mtimes[n]
    for n in ("noface", "notaudio", "toomuch"):
        assert "resumed" not in by[n] and by[n]["attempts"] == 1
        assert by[n]["worker"] != before[n]["worker"], f"{n} was not run again"
        assert by[n]["error"] == before[n]["error"]


def test_cli_ctrl_c_exits_130_with_a_consistent_summary_and_resume_completes(inputs, tmp_path):
    """SIGINT to the batch command while it renders: exit code 130, no job left running, no partial
    file; the same command with --resume then finishes every job."""
    m = _manifest(inputs, "ctrlc.jsonl", GOOD)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "synchrorama_core", "batch", str(m), "--out", str(out), "--workers", "1", "-q"]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and _writer_of(out, "hello") is None:
        time.sleep(0.05)
    assert p.poll() is None, "the batch ended before it started writing a video"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "cancelled" in err and "--resume" in err and "Traceback" not in err, err
    s = _summary(out)
    states = {j["name"]: j["status"] for j in s["jobs"]}
    assert states == {"hello": "cancelled", "morning": "pending"}, states
    assert s.get("finished") and not _partials(str(out))
    r = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert _summary(out)["counts"] == {"done": 2} and not _partials(str(out))


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray instance with 2 CPUs for this module's Ray tests (run_batch uses it as it finds it)."""
    ray = import_or_skip("ray", "Ray is an optional extra (pip install 'ray[default]'); CI installs it")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": ROOT}})
    try:
        yield ray
    finally:
        ray.shutdown()


def _same_bytes(a_dir, b_dir, names, what):
    for name in names:
        with open(os.path.join(a_dir, f"{name}.mp4"), "rb") as a, open(os.path.join(b_dir, f"{name}.mp4"), "rb") as b:
            assert a.read() == b.read(), f"{name}: {what} wrote other bytes than the local pool"


def test_ray_engine_runs_the_same_jobs_with_the_same_bytes(local_run, ray_local, tmp_path, monkeypatch):
    """Also: without --workers the Ray engine starts one actor per CPU of the cluster (2), not per CPU
    of the machine running the batch (made to look like 7 here)."""
    m, out, res, _ = local_run
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    r = run_batch(str(m), str(tmp_path), engine="ray")
    assert r.counts == res.counts
    for j in r.jobs:
        assert j["status"] == {x["name"]: x for x in res.jobs}[j["name"]]["status"]
    _same_bytes(out, tmp_path, ("hello", "morning"), "the Ray engine")
    assert _summary(tmp_path)["workers"] == 2 and len({j["worker"] for j in r.jobs}) <= 2


def test_ray_actor_killed_mid_job_is_run_again(local_run, ray_local, inputs, tmp_path):
    """SIGKILL the actor process writing the first video: its job runs again on a fresh actor, the batch
    completes with the same bytes as the local pool, and no partial file is left."""
    _, local_out, _, _ = local_run
    m = _manifest(inputs, "raykill.jsonl", GOOD)
    out = tmp_path / "out"
    result = {}

    def run():
        try:
            result["res"] = run_batch(str(m), str(out), workers=2, engine="ray")
        except BaseException as e:  # noqa: BLE001 - reported by the test below
            result["error"] = e
    t = threading.Thread(target=run)
    t.start()
    killed = None
    deadline = time.time() + 180
    while time.time() < deadline and killed is None and t.is_alive():
        killed = _writer_of(out, "hello")
        if killed is not None:
            with open(f"/proc/{killed}/cmdline", "rb") as f:
                assert f.read().startswith(b"ray::_RayWorker"), "not a Ray actor"
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    t.join(timeout=300)
    assert killed is not None, "no actor ever wrote hello's video"
    assert "error" not in result, result.get("error")
    res = result["res"]
    by = {j["name"]: j for j in res.jobs}
    assert res.ok and by["hello"]["attempts"] == 2 and by["morning"]["attempts"] == 1
    assert str(killed) not in by["hello"]["worker"]
    assert not _partials(str(out))
    _same_bytes(local_out, out, ("hello", "morning"), "a retried Ray job")


def test_ray_batch_stopped_at_once_leaves_a_consistent_summary(ray_local, inputs, tmp_path):
    """A KeyboardInterrupt inside the Ray engine (a second Ctrl-C): the running job is recorded as
    cancelled, its partial files are removed, the summary is written, and the interrupt goes on."""
    m = _manifest(inputs, "raystop.jsonl", GOOD)
    out = tmp_path / "out"

    def cancelled():
        if _writer_of(out, "hello") is not None:
            raise KeyboardInterrupt
        return False
    with pytest.raises(KeyboardInterrupt):
        run_batch(str(m), str(out), workers=1, engine="ray", cancelled=cancelled)
    s = _summary(out)
    states = {j["name"]: j["status"] for j in s["jobs"]}
    assert states == {"hello": "cancelled", "morning": "pending"}, states
    assert s.get("finished") and not _partials(str(out)) and not os.path.exists(out / "hello.mp4")
