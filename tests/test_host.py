"""Integration: the pack inside a real ComfyUI, driven through its HTTP API.

Needs a ComfyUI source tree in ``COMFYUI_PATH`` (see README, "Testing inside a real ComfyUI");
``../shared/tools/comfy_host.sh`` makes its venv (first run: minutes), links this pack into
``custom_nodes`` and starts the server on loopback.  Every workflow in ``workflows/`` is
converted from the UI format to the API format with the server's own ``/object_info`` and run
through ``/prompt``; its outputs are checked.
"""
import json
import os
import socket
import subprocess
import urllib.error
import urllib.request

import numpy as np

import pytest

from comfy_workflow import set_widget, ui_to_api, workflow_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMFY = os.environ.get("COMFYUI_PATH", "")
#: graphs driving ComfyUI's own video models, checked by their own tests at the end of this file
VIDEO_MODEL_GRAPHS = {"synchrorama_wan_s2v.json": "s2v", "synchrorama_humo.json": "humo"}
HOST_SH = os.environ.get("COMFY_HOST_SH") or os.path.join(os.path.dirname(ROOT), "shared", "tools", "comfy_host.sh")

pytestmark = [
    pytest.mark.skipif(not COMFY, reason="COMFYUI_PATH is unset: the host test needs a ComfyUI source tree "
                                         "(fetch Comfy-Org/ComfyUI, unpack it, export COMFYUI_PATH=<dir>)"),
    pytest.mark.host,
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _host(*args, timeout=900):
    """Run comfy_host.sh; output goes through files, not pipes: ``start`` leaves a shell that
    keeps its stdout open for as long as the server runs, so reading a pipe to EOF would hang."""
    import tempfile
    env = dict(os.environ, PACK_DIR=ROOT, COMFYUI_PATH=COMFY)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.run(["bash", HOST_SH, *args], cwd=ROOT, env=env, stdout=out, stderr=err, timeout=timeout)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())


def _server_pids(port: int) -> list:
    """The server's process and the shell that started it (``stop`` only ends the shell)."""
    try:
        with open(os.path.join(COMFY, f"server-{port}.pid")) as f:
            shell = int(f.read().strip())
    except (OSError, ValueError):
        return []
    r = subprocess.run(["pgrep", "-P", str(shell)], capture_output=True, text=True)
    return [shell] + [int(x) for x in r.stdout.split()]


@pytest.fixture(scope="module")
def server():
    if not os.path.isfile(HOST_SH):
        pytest.skip(f"comfy_host.sh not found at {HOST_SH} (set COMFY_HOST_SH)")
    venv_py = os.path.join(COMFY, ".venv", "bin", "python")
    if not os.path.exists(venv_py):
        r = _host("setup", COMFY, timeout=1800)
        assert r.returncode == 0, r.stdout + r.stderr
    else:  # keep the host venv in step with this pack's requirements
        r = subprocess.run([venv_py, "-m", "pip", "install", "-q", "-r", os.path.join(ROOT, "requirements.txt"),
                            "-c", os.path.join(COMFY, ".venv", "constraints.txt")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
    _link_test_nodes()
    port = _free_port()
    r = _host("start", COMFY, str(port), timeout=300)
    assert r.returncode == 0, f"ComfyUI did not start with the pack:\n{r.stdout}\n{r.stderr}"
    pids = _server_pids(port)
    try:
        yield port
    finally:
        _host("stop", str(port), timeout=60)
        import signal
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def _get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as r:
        return json.load(r)


def test_object_info_lists_every_node(server, pack):
    info = _get(server, "/object_info")
    ours = {k: v for k, v in info.items() if k.startswith("SynchroRaMa")}
    missing = set(pack.NODE_CLASS_MAPPINGS) - set(ours)
    assert not missing, f"not registered in ComfyUI: {sorted(missing)}"
    for key, entry in ours.items():
        assert entry["display_name"] == pack.NODE_DISPLAY_NAME_MAPPINGS[key]
        assert entry["category"].startswith("SynchroRaMa/")
    print(f"\n/object_info lists all {len(ours)} SynchroRaMa nodes")


def test_workflows_are_offered_as_templates(server):
    templates = _get(server, "/workflow_templates")
    ours = [v for k, v in templates.items() if os.path.samefile(os.path.join(COMFY, "custom_nodes", k), ROOT)] \
        if templates else []
    names = {os.path.splitext(os.path.basename(p))[0] for p in workflow_files()}
    assert ours and names <= set(ours[0]), f"templates offered: {templates}"


def _check_outputs(entry) -> list:
    """Every file an output node reports exists in ComfyUI's output folder and is not empty."""
    seen = []
    for node_id, out in entry.get("outputs", {}).items():
        for key in ("images", "gifs", "videos", "files", "audio"):
            for f in out.get(key, []) or []:
                if not isinstance(f, dict) or "filename" not in f:
                    continue
                folder = {"output": "output", "temp": "temp", "input": "input"}[f.get("type", "output")]
                path = os.path.join(COMFY, folder, f.get("subfolder", ""), f["filename"])
                assert os.path.isfile(path) and os.path.getsize(path) > 0, f"node {node_id}: {path} missing or empty"
                seen.append(path)
    return seen


TINY_SUBDIR = "synchrorama_host_test"


def _install_tiny_diffusion_models() -> dict:
    """Tiny random SD1.5-layout models (tests/helpers/tiny_diffusion.py) under the real ComfyUI's model
    folders, in a sub-folder of their own so no creator's file is touched; widget -> combo value."""
    import shutil
    import tempfile
    from helpers.tiny_diffusion import write_tiny_models
    kinds = {"checkpoint": "checkpoints", "controlnet": "controlnet", "motion_module": "animatediff_models",
             "adapters": os.path.join("synchrorama", "adapters")}
    out = {}
    with tempfile.TemporaryDirectory() as d:
        names = write_tiny_models(d)
        for widget, name in names.items():
            src = os.path.join(d, kinds[widget], name)
            dst_dir = os.path.join(COMFY, "models", kinds[widget], TINY_SUBDIR)
            os.makedirs(dst_dir, exist_ok=True)
            shutil.copyfile(src, os.path.join(dst_dir, name))
            out[widget] = f"{TINY_SUBDIR}/{name}"
    return out


def _use_tiny_diffusion(wf: dict, tiny: dict, info: dict) -> None:
    """Point the shipped diffusion graph at the tiny models and shrink it to run on a CPU: 64x64,
    2 steps, the first second of the sample speech. Everything else runs as shipped."""
    for node in wf["nodes"]:
        if node["type"] == "SynchroRaMaLoadDiffusionModels":
            for widget, value in tiny.items():
                set_widget(node, widget, value, info)
        elif node["type"] == "SynchroRaMaVideoSampler":
            for widget, value in (("width", 64), ("height", 64), ("steps", 2)):
                set_widget(node, widget, value, info)
        elif node["type"] == "SynchroRaMaLoadAudio":
            set_widget(node, "duration_s", 1.0, info)


@pytest.mark.parametrize("path", [p for p in workflow_files() if os.path.basename(p) not in VIDEO_MODEL_GRAPHS],
                         ids=os.path.basename)
def test_workflow_runs(server, path, tmp_path):
    info = _get(server, "/object_info")
    with open(path, encoding="utf-8") as f:
        wf = json.load(f)
    tiny = {}
    if any(n["type"] == "SynchroRaMaLoadDiffusionModels" for n in wf["nodes"]):
        tiny = _install_tiny_diffusion_models()
        info = _get(server, "/object_info")  # the loader's combos now list them
        _use_tiny_diffusion(wf, tiny, info)
    prompt, problems = ui_to_api(wf, info, live_files=True)
    assert not problems, "\n".join(problems)
    api = tmp_path / "prompt.json"
    api.write_text(json.dumps(prompt))
    r = _host("run", str(api), str(server), timeout=1800)
    assert r.returncode == 0, f"{os.path.basename(path)} failed:\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    entry = json.loads(r.stdout[r.stdout.index("{"):])
    files = _check_outputs(entry)
    assert files, f"{os.path.basename(path)} produced no output files: {entry.get('outputs')}"
    for p in files:
        if p.endswith(".mp4"):
            import av
            with av.open(p) as c:
                v = c.streams.video[0]
                assert v.frames > 0 and c.streams.audio, f"{p}: no frames or no audio"
                dur = float(c.duration / 1e6)
                fps = float(v.average_rate)
                assert abs(v.frames - round(dur * fps)) <= 1
    print(f"\n{os.path.basename(path)}: {r.stderr.strip().splitlines()[-1]}; outputs: "
          + ", ".join(os.path.relpath(p, COMFY) for p in files))


def test_core_video_nodes_take_our_frames_and_audio(server, tmp_path):
    """Interop: the Warp Renderer's IMAGE and Load Audio's AUDIO go into core CreateVideo -> SaveVideo."""
    from comfy_workflow import UIWorkflow
    info = _get(server, "/object_info")
    w = UIWorkflow(info)
    img = w.add("LoadImage", image="synchrorama_sample_portrait.jpg")
    face = w.add("SynchroRaMaFaceAnalysis")
    w.link(img, 0, face, "image")
    aud = w.add("SynchroRaMaLoadAudio", audio="synchrorama_sample_speech.flac", duration_s=2.0)
    a2m = w.add("SynchroRaMaA2MMotion")
    w.link(aud, 1, a2m, "speech")
    ren = w.add("SynchroRaMaWarpRenderer")
    w.link(face, 0, ren, "face")
    w.link(a2m, 0, ren, "motion")
    vid = w.add("CreateVideo", fps=25.0)
    w.link(ren, 0, vid, "images")
    w.link(aud, 0, vid, "audio")
    save = w.add("SaveVideo", filename_prefix="synchrorama_host_test/core_video")
    w.link(vid, 0, save, "video")
    prompt, problems = ui_to_api(w.to_dict(), info, live_files=True)
    assert not problems, "\n".join(problems)
    api = tmp_path / "prompt.json"
    api.write_text(json.dumps(prompt))
    r = _host("run", str(api), str(server), timeout=900)
    assert r.returncode == 0, f"core video graph failed:\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    files = [p for p in _check_outputs(json.loads(r.stdout[r.stdout.index("{"):])) if p.endswith(".mp4")]
    assert files, "core SaveVideo wrote no mp4"
    import av
    with av.open(files[0]) as c:
        v = c.streams.video[0]
        n = sum(1 for _ in c.decode(video=0))
        assert n == 50 and (v.width, v.height) == (512, 512), (n, v.width, v.height)
        assert c.streams.audio, "core SaveVideo lost our AUDIO"
    print(f"\ncore CreateVideo + SaveVideo: {os.path.relpath(files[0], COMFY)}: {n} frames with audio")


# ------------------------------------------------------------------ ComfyUI's own video models (issue 10)
# synchrorama_wan_s2v / synchrorama_humo name model files a CPU host does not have: the server's own
# validation must accept every node but those files; then the graphs run end to end on tiny random
# weights (tests/helpers/tiny_wan.py) with only the umt5-xxl text encoder stood in (see there).

MODEL_FILE_INPUTS = {"unet_name", "clip_name", "vae_name", "lora_name", "audio_encoder_name"}
TEST_NODES = os.path.join(ROOT, "tests", "helpers", "comfy_test_nodes")


def _link_test_nodes() -> None:
    """The test-only stand-in node pack (tests/helpers/comfy_test_nodes) into the host's custom_nodes."""
    link = os.path.join(COMFY, "custom_nodes", "synchrorama_test_nodes")
    if os.path.islink(link):
        os.unlink(link)
    os.symlink(TEST_NODES, link)


def _video_graph(name: str) -> dict:
    with open(os.path.join(ROOT, "workflows", name), encoding="utf-8") as f:
        return json.load(f)


def _post(port: int, prompt: dict) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/prompt", data=json.dumps({"prompt": prompt}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)


def test_load_audio_outside_the_input_folder_is_refused_by_the_server(server):
    """ComfyUI skips its own "value in the list" check for an input that VALIDATE_INPUTS names (core
    LoadAudio then reads ``../x`` as well), so our node's own check is what refuses it: the server
    answers the prompt with a node error and runs nothing."""
    import shutil
    import synchrorama_core
    secret = os.path.join(COMFY, "sr_outside_input.flac")  # beside input/, not in it
    shutil.copyfile(os.path.join(os.path.dirname(synchrorama_core.__file__), "assets", "sample_speech.flac"), secret)
    try:
        for bad in ("../sr_outside_input.flac", secret, "../sr_outside_input.flac [output]"):
            prompt = {"1": {"class_type": "SynchroRaMaLoadAudio",
                            "inputs": {"audio": bad, "fps": 25.0, "start_s": 0.0, "duration_s": 0.0}},
                      "2": {"class_type": "SynchroRaMaSaveData",
                            "inputs": {"filename_prefix": "sr_host_outside", "format": "json", "speech": ["1", 1]}}}
            r = _post(server, prompt)
            errors = json.dumps((r.get("node_errors") or {}).get("1", {}))
            assert "outside ComfyUI's input folder" in errors, (bad, r)
            assert "prompt_id" not in r
        ok = dict(prompt, **{"1": dict(prompt["1"], inputs=dict(prompt["1"]["inputs"],
                                                                 audio="synchrorama_sample_speech.flac"))})
        r = _post(server, ok)
        assert "prompt_id" in r and not r.get("node_errors"), r
    finally:
        os.remove(secret)


@pytest.mark.parametrize("name", sorted(VIDEO_MODEL_GRAPHS))
def test_video_model_graph_validates_but_for_model_files(server, name):
    """The server's own validation accepts every node except the model files that are not here."""
    info = _get(server, "/object_info")
    prompt, problems = ui_to_api(_video_graph(name), info, live_files=True)
    assert all("is not one of" in p for p in problems), problems   # only model-file combos differ
    r = _post(server, prompt)
    errors = {nid: e for nid, e in (r.get("node_errors") or {}).items()}
    assert errors, f"{name}: the model files cannot all be present here, yet nothing was reported: {r}"
    bad = [(nid, e["class_type"], x["type"], x.get("extra_info", {}).get("input_name"))
           for nid, e in errors.items() for x in e["errors"]
           if x["type"] != "value_not_in_list" or x.get("extra_info", {}).get("input_name") not in MODEL_FILE_INPUTS]
    assert not bad, f"{name}: validation errors other than absent model files: {bad}"
    print(f"\n{name}: {len(prompt)} nodes; only absent model files reported: "
          + ", ".join(sorted(f"{e['class_type']}" for e in errors.values())))


def _tiny_video_graph(name: str, info: dict, files: dict) -> dict:
    """The shipped graph on tiny weights, shrunk for a CPU (64x64, 1 step, length 5, 1 s of speech;
    HuMo 5 frames), with each umt5-xxl CLIPTextEncode replaced by the test-only stand-in."""
    wf = _video_graph(name)
    model = VIDEO_MODEL_GRAPHS[name]
    names = {"UNETLoader": ("unet_name", files[model]), "VAELoader": ("vae_name", files["vae"]),
             "LoraLoaderModelOnly": ("lora_name", files[f"{model}_lora"]),
             "AudioEncoderLoader": ("audio_encoder_name", files["wav2vec2" if model == "s2v" else "whisper"])}
    for node in wf["nodes"]:
        t, title = node["type"], node.get("title", "")
        if t in names:
            set_widget(node, *names[t], info)
        elif t == "SynchroRaMaLoadAudio":
            set_widget(node, "duration_s", 1.0 if model == "s2v" else 0.2, info)
        elif t == "PrimitiveInt":
            value = {"Chunk": 5, "Width": 64, "Height": 64, "Steps": 1}[title.split()[0]]
            set_widget(node, "value", value, info)
        elif t in ("WanHuMoImageToVideo", "WanSoundImageToVideo", "SynchroRaMaPoseVideo"):
            for widget, value in (("width", 64), ("height", 64), ("length", 5)):
                set_widget(node, widget, value, info)
        elif t == "SynchroRaMaVideoModelPrompt":
            set_widget(node, "length", 5, info)
        elif t == "KSampler":
            set_widget(node, "steps", 1, info)
    prompt, problems = ui_to_api(wf, info, live_files=True)
    problems = [p for p in problems if "(CLIPLoader)" not in p]   # the stood-in encoder's file
    assert not problems, "\n".join(problems)
    for nid, n in list(prompt.items()):
        if n["class_type"] == "CLIPLoader":
            del prompt[nid]
        elif n["class_type"] == "CLIPTextEncode":
            prompt[nid] = {"class_type": "SRTestUMT5StandIn", "inputs": {"text": n["inputs"]["text"]}}
    return prompt


@pytest.mark.parametrize("name", sorted(VIDEO_MODEL_GRAPHS))
def test_video_model_graph_runs_on_tiny_weights(server, name, tmp_path):
    host_py = os.path.join(COMFY, ".venv", "bin", "python")
    r = subprocess.run([host_py, os.path.join(ROOT, "tests", "helpers", "tiny_wan.py"), COMFY, TINY_SUBDIR],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    files = json.loads(r.stdout.strip().splitlines()[-1])
    info = _get(server, "/object_info")
    prompt = _tiny_video_graph(name, info, files)
    api = tmp_path / "prompt.json"
    api.write_text(json.dumps(prompt))
    r = _host("run", str(api), str(server), timeout=1800)
    assert r.returncode == 0, f"{name} failed:\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    videos = [p for p in _check_outputs(json.loads(r.stdout[r.stdout.index("{"):])) if p.endswith(".mp4")]
    assert len(videos) == 1, videos
    import av
    with av.open(videos[0]) as c:
        v = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert c.streams.audio, "the video lost our AUDIO"
    # S2V: 3 windows x 8 frames decoded, trimmed to the clip's round(1.0 s x 16 fps) = 16 frames by the
    # Pose Video node's clip_frames; HuMo: length 5 at 25 fps
    want = 16 if VIDEO_MODEL_GRAPHS[name] == "s2v" else 5
    assert len(frames) == want and (v.width, v.height) == (64, 64), (len(frames), v.width, v.height)
    assert all(np.isfinite(f).all() for f in frames)
    print(f"\n{name} on tiny weights: {len(frames)} frames 64x64 with audio -> {os.path.relpath(videos[0], COMFY)}; "
          f"{r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''}")
