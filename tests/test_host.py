"""Integration: the pack inside a real ComfyUI, driven through its HTTP API and websocket.

Needs a ComfyUI source tree in ``COMFYUI_PATH`` (see README, "Testing inside a real ComfyUI"); its
venv is made by ``../shared/tools/comfy_host.sh setup`` on first use.  The server runs in folders
of its own (``tests/helpers/comfy_server.py``; the ``comfy_server`` fixture in conftest.py).  Every
workflow in ``workflows/`` is converted from the UI format to the API format with the server's own
``/object_info``, run through ``/prompt`` and its outputs are checked; the streaming renderer's
progress and cancel are checked over the websocket the editor listens to.  Skipped without
``COMFYUI_PATH``; under ``SYNCHRORAMA_CI=1`` (CI) a missing prerequisite fails instead.
"""
import json
import os
import subprocess
import threading
import time
import uuid

import av
import numpy as np
import pytest

from comfy_workflow import UIWorkflow, set_widget, ui_to_api, workflow_files
from conftest import COMFY, ROOT

pytestmark = [pytest.mark.host]

SAMPLE_SPEECH_S = 11.2   # synchrorama_core/assets/sample_speech.flac, roughly
#: graphs driving ComfyUI's own video models, checked by their own tests at the end of this file
VIDEO_MODEL_GRAPHS = {"synchrorama_wan_s2v.json": "s2v", "synchrorama_humo.json": "humo"}


def _check_outputs(server, entry) -> list:
    """Every file an output node reports exists in the server's folders and is not empty."""
    seen = []
    for node_id, out in entry.get("outputs", {}).items():
        for key in ("images", "gifs", "videos", "files", "audio"):
            for f in out.get(key, []) or []:
                if not isinstance(f, dict) or "filename" not in f:
                    continue
                path = server.result_path(f)
                assert os.path.isfile(path) and os.path.getsize(path) > 0, f"node {node_id}: {path} missing or empty"
                seen.append(path)
    return seen


def _check_mp4(path, n=None, size=None):
    """Frames decoded = round(duration x fps) (or ``n``), an audio stream, and the size."""
    with av.open(path) as c:
        v = c.streams.video[0]
        frames = sum(1 for _ in c.decode(video=0))
        fps = float(v.average_rate)
        assert frames > 0 and c.streams.audio, f"{path}: no frames or no audio"
        if n is not None:
            assert frames == n, (path, frames, n)
        else:
            assert abs(frames - round(float(c.duration / 1e6) * fps)) <= 1, (path, frames, c.duration, fps)
        if size is not None:
            assert (v.width, v.height) == size, (v.width, v.height)
    return frames


def test_object_info_lists_every_node(comfy_server, pack):
    info = comfy_server.get("/object_info")
    ours = {k: v for k, v in info.items() if k.startswith("SynchroRaMa")}
    missing = set(pack.NODE_CLASS_MAPPINGS) - set(ours)
    assert not missing, f"not registered in ComfyUI: {sorted(missing)}"
    for key, entry in ours.items():
        assert entry["display_name"] == pack.NODE_DISPLAY_NAME_MAPPINGS[key]
        assert entry["category"].startswith("SynchroRaMa/")
    assert info["SynchroRaMaWarpRenderVideo"]["output"] == ["VIDEO"] and "VIDEO" in \
        info["SaveVideo"]["input"]["required"]["video"][0]
    print(f"\n/object_info lists all {len(ours)} SynchroRaMa nodes")


def test_workflows_are_offered_as_templates(comfy_server):
    templates = comfy_server.get("/workflow_templates")
    ours = [v for k, v in templates.items()
            if os.path.samefile(comfy_server.folder("custom_nodes", k), ROOT)] if templates else []
    names = {os.path.splitext(os.path.basename(p))[0] for p in workflow_files()}
    assert ours and names <= set(ours[0]), f"templates offered: {templates}"


def _shrink_diffusion(wf: dict, info: dict) -> None:
    """Run the shipped diffusion graph on a CPU: 64x64, 2 steps, the first second of the sample speech.
    Its model widgets already name the tiny models the fixture put in the server's models folder."""
    for node in wf["nodes"]:
        if node["type"] == "SynchroRaMaVideoSampler":
            for widget, value in (("width", 64), ("height", 64), ("steps", 2)):
                set_widget(node, widget, value, info)
        elif node["type"] == "SynchroRaMaLoadAudio":
            set_widget(node, "duration_s", 1.0, info)


@pytest.mark.parametrize("path", [p for p in workflow_files() if os.path.basename(p) not in VIDEO_MODEL_GRAPHS],
                         ids=os.path.basename)
def test_workflow_runs(comfy_server, path):
    info = comfy_server.get("/object_info")
    with open(path, encoding="utf-8") as f:
        wf = json.load(f)
    if any(n["type"] == "SynchroRaMaLoadDiffusionModels" for n in wf["nodes"]):
        _shrink_diffusion(wf, info)
    prompt, problems = ui_to_api(wf, info, live_files=True)
    assert not problems, "\n".join(problems)
    t0 = time.time()
    entry = comfy_server.run(prompt)
    files = _check_outputs(comfy_server, entry)
    assert files, f"{os.path.basename(path)} produced no output files: {entry.get('outputs')}"
    for p in files:
        if p.endswith(".mp4"):
            _check_mp4(p)
    print(f"\n{os.path.basename(path)}: success in {time.time() - t0:.1f} s; outputs: "
          + ", ".join(os.path.relpath(p, comfy_server.base) for p in files))


def test_shipped_talking_portrait_streams_into_core_save_video(comfy_server):
    """The shipped graph's video goes Warp Render Video -> core Save Video: the full sample speech,
    every frame, with its audio, and a preview entry the editor plays."""
    path = next(p for p in workflow_files() if p.endswith("synchrorama_talking_portrait.json"))
    info = comfy_server.get("/object_info")
    with open(path, encoding="utf-8") as f:
        prompt, problems = ui_to_api(json.load(f), info, live_files=True)
    assert not problems
    save_id = next(k for k, v in prompt.items() if v["class_type"] == "SaveVideo")
    prompt[save_id]["inputs"]["filename_prefix"] = "synchrorama_host_test/streamed"
    entry = comfy_server.run(prompt)
    out = entry["outputs"][save_id]
    assert out.get("animated") == [True] and out["images"][0]["type"] == "output", out
    mp4 = comfy_server.result_path(out["images"][0])
    n = _check_mp4(mp4, size=(512, 512))
    assert abs(n / 25 - SAMPLE_SPEECH_S) < 0.5, n
    with av.open(mp4) as c:
        assert "prompt" in c.metadata, "core Save Video stores the prompt in the file"
    print(f"\nshipped talking portrait: {n} frames streamed into {os.path.relpath(mp4, comfy_server.base)}")


def _render_graph(info, prefix: str, duration_s: float) -> tuple:
    """Portrait + sample speech -> A2M -> Warp Render Video -> core Save Video; (prompt, render node id)."""
    w = UIWorkflow(info)
    img = w.add("LoadImage", image="synchrorama_sample_portrait.jpg")
    face = w.add("SynchroRaMaFaceAnalysis")
    w.link(img, 0, face, "image")
    aud = w.add("SynchroRaMaLoadAudio", audio="synchrorama_sample_speech.flac", duration_s=duration_s)
    a2m = w.add("SynchroRaMaA2MMotion")
    w.link(aud, 1, a2m, "speech")
    ren = w.add("SynchroRaMaWarpRenderVideo")
    w.link(face, 0, ren, "face")
    w.link(a2m, 0, ren, "motion")
    w.link(aud, 0, ren, "audio")
    save = w.add("SaveVideo", filename_prefix=prefix)
    w.link(ren, 0, save, "video")
    prompt, problems = ui_to_api(w.to_dict(), info, live_files=True)
    assert not problems, "\n".join(problems)
    return prompt, str(ren["id"])


class _Events:
    """The server's websocket messages for one client id, collected on a thread."""

    def __init__(self, server):
        import websocket  # websocket-client (requirements-dev.txt)
        self.client_id = str(uuid.uuid4())
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws?clientId={self.client_id}",
                                              timeout=600)
        self.messages, self.done = [], threading.Event()
        self.on_message = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while not self.done.is_set():
                raw = self.ws.recv()
                if isinstance(raw, bytes):  # binary preview frames
                    continue
                m = json.loads(raw)
                self.messages.append(m)
                if self.on_message is not None:
                    self.on_message(m)
                if m["type"] in ("execution_success", "execution_error", "execution_interrupted"):
                    self.done.set()
        except Exception:
            self.done.set()

    def progress(self, node: str) -> list:
        return [(m["data"]["value"], m["data"]["max"]) for m in self.messages
                if m["type"] == "progress" and str(m["data"].get("node")) == node]

    def close(self):
        self.done.set()
        self.ws.close()


def _temp_videos(server) -> set:
    d = server.folder("temp")
    return {f for f in os.listdir(d) if f.endswith(".mp4")} if os.path.isdir(d) else set()


def test_streaming_render_progress_and_cancel(comfy_server):
    """Over the editor's websocket: the Warp Render Video node reports one progress step per frame up
    to the frame count; an interrupt (the editor's Cancel) during the stream stops it within a few
    frames and leaves no video, partial or whole, in the temp or output folder."""
    info = comfy_server.get("/object_info")
    prompt, ren = _render_graph(info, "synchrorama_host_test/progress", 2.0)
    ev = _Events(comfy_server)
    try:
        comfy_server.wait(comfy_server.queue(prompt, ev.client_id), 600)
        ev.done.wait(30)
        steps = ev.progress(ren)
        assert steps and steps[-1] == (50, 50) and [v for v, _ in steps] == sorted(v for v, _ in steps), steps
        assert len(steps) >= 40, f"progress should move per frame, got {len(steps)} updates"
    finally:
        ev.close()

    before_temp = _temp_videos(comfy_server)
    out_dir = comfy_server.folder("output", "synchrorama_host_test")
    prompt, ren = _render_graph(info, "synchrorama_host_test/cancelled", 0.0)  # the whole 11 s: 280 frames
    ev = _Events(comfy_server)
    interrupted_at = []

    def on_message(m):
        if m["type"] == "progress" and str(m["data"].get("node")) == ren and m["data"]["value"] >= 40 \
                and not interrupted_at:
            interrupted_at.append(m["data"]["value"])
            comfy_server.post("/interrupt")
    ev.on_message = on_message
    try:
        entry = comfy_server.wait(comfy_server.queue(prompt, ev.client_id), 600)
        ev.done.wait(30)
    finally:
        ev.close()
    status = entry["status"]
    kinds = [m[0] for m in status["messages"]]
    assert interrupted_at, "no progress from the render node arrived to interrupt"
    assert status["status_str"] == "error" and "execution_interrupted" in kinds, status
    last = max(v for v, _ in ev.progress(ren))
    assert last < 280 and last - interrupted_at[0] < 60, (interrupted_at, last)
    assert _temp_videos(comfy_server) == before_temp, "a cancelled stream left a file in temp/"
    assert not any(f.startswith("cancelled") for f in (os.listdir(out_dir) if os.path.isdir(out_dir) else [])), \
        "a cancelled run wrote an output"
    assert not any(f.endswith(".part.mp4") for f in os.listdir(comfy_server.folder("temp")))
    print(f"\nstreaming render: progress 1..50 of 50; interrupted at frame {interrupted_at[0]}, stopped at {last}, "
          "no file left")


def test_core_video_nodes_take_our_frames_and_audio(comfy_server):
    """Interop: the Warp Renderer's IMAGE and fps and Load Audio's AUDIO go into core CreateVideo -> SaveVideo."""
    info = comfy_server.get("/object_info")
    w = UIWorkflow(info)
    img = w.add("LoadImage", image="synchrorama_sample_portrait.jpg")
    face = w.add("SynchroRaMaFaceAnalysis")
    w.link(img, 0, face, "image")
    aud = w.add("SynchroRaMaLoadAudio", audio="synchrorama_sample_speech.flac", duration_s=2.0, fps=20.0)
    a2m = w.add("SynchroRaMaA2MMotion")
    w.link(aud, 1, a2m, "speech")
    ren = w.add("SynchroRaMaWarpRenderer")
    w.link(face, 0, ren, "face")
    w.link(a2m, 0, ren, "motion")
    vid = w.add("CreateVideo", fps=30.0)          # the typed 30 is overridden by the linked fps
    w.link(ren, 0, vid, "images")
    w.link(ren, 1, vid, "fps")
    w.link(aud, 0, vid, "audio")
    save = w.add("SaveVideo", filename_prefix="synchrorama_host_test/core_video")
    w.link(vid, 0, save, "video")
    prompt, problems = ui_to_api(w.to_dict(), info, live_files=True)
    assert not problems, "\n".join(problems)
    files = [p for p in _check_outputs(comfy_server, comfy_server.run(prompt)) if p.endswith(".mp4")]
    assert files, "core SaveVideo wrote no mp4"
    n = _check_mp4(files[0], n=40, size=(512, 512))
    with av.open(files[0]) as c:
        assert float(c.streams.video[0].average_rate) == 20.0
    print(f"\ncore CreateVideo + SaveVideo: {os.path.relpath(files[0], comfy_server.base)}: {n} frames at 20 fps "
          "with audio")


def test_two_servers_run_side_by_side_without_sharing_folders(comfy_server):
    """A second server from the same ComfyUI tree: its own port and folders; starting it does not
    empty the first one's temp folder (ComfyUI empties its temp folder at start); the same graph
    run on both at once writes each server's files into its own folders."""
    from helpers.comfy_server import ComfyServer
    marker = os.path.join(comfy_server.folder("temp"), "synchrorama_marker.txt")
    with open(marker, "w") as f:
        f.write("first server's temp file")
    with ComfyServer(COMFY, ROOT) as second:
        assert second.port != comfy_server.port and second.base != comfy_server.base
        assert os.path.exists(marker), "starting a second server emptied the first server's temp folder"
        info = comfy_server.get("/object_info")
        prompt, _ = _render_graph(info, "synchrorama_host_test/side_by_side", 1.0)
        ids = {s: s.queue(prompt) for s in (comfy_server, second)}
        results = {s: s.wait(pid, 600) for s, pid in ids.items()}
        for s, entry in results.items():
            assert entry["status"]["status_str"] == "success", entry["status"]
            files = _check_outputs(s, entry)
            assert files and all(p.startswith(s.base + os.sep) for p in files), files
            _check_mp4(files[0], n=25)
    os.remove(marker)


# ------------------------------------------------------------------ ComfyUI's own video models (issue 10)
# synchrorama_wan_s2v / synchrorama_humo name model files a CPU host does not have: the server's own
# validation must accept every node but those files; then the graphs run end to end on tiny random
# weights (tests/helpers/tiny_wan.py) with only the umt5-xxl text encoder stood in (see there; the
# stand-in node pack tests/helpers/comfy_test_nodes is in the server's custom_nodes, see conftest.py).

MODEL_FILE_INPUTS = {"unet_name", "clip_name", "vae_name", "lora_name", "audio_encoder_name"}
TINY_SUBDIR = "synchrorama_host_test"


def _video_graph(name: str) -> dict:
    with open(os.path.join(ROOT, "workflows", name), encoding="utf-8") as f:
        return json.load(f)


def _post(server, prompt: dict) -> dict:
    import urllib.error
    try:
        return server.post("/prompt", {"prompt": prompt})
    except urllib.error.HTTPError as e:
        return json.load(e)


def test_load_audio_outside_the_input_folder_is_refused_by_the_server(comfy_server):
    """ComfyUI skips its own "value in the list" check for an input that VALIDATE_INPUTS names (core
    LoadAudio then reads ``../x`` as well), so our node's own check is what refuses it: the server
    answers the prompt with a node error and runs nothing."""
    import shutil
    import synchrorama_core
    server = comfy_server
    secret = os.path.join(server.base, "sr_outside_input.flac")  # beside input/, not in it
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
def test_video_model_graph_validates_but_for_model_files(comfy_server, name):
    """The server's own validation accepts every node except the model files that are not here."""
    info = comfy_server.get("/object_info")
    prompt, problems = ui_to_api(_video_graph(name), info, live_files=True)
    assert all("is not one of" in p for p in problems), problems   # only model-file combos differ
    r = _post(comfy_server, prompt)
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


def _tiny_wan_models(server) -> dict:
    """The tiny Wan-family files (tests/helpers/tiny_wan.py, ~2.5 GB, written once per ComfyUI tree
    into its models/<kind>/synchrorama_host_test/ and kept), linked read-only into this server's
    own models folder; ``{widget: "synchrorama_host_test/<file>"}``."""
    r = subprocess.run([server.python, os.path.join(ROOT, "tests", "helpers", "tiny_wan.py"), COMFY, TINY_SUBDIR],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    files = json.loads(r.stdout.strip().splitlines()[-1])
    for kind in ("diffusion_models", "vae", "audio_encoders", "loras"):
        link = server.folder("models", kind, TINY_SUBDIR)
        if not os.path.islink(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(os.path.join(COMFY, "models", kind, TINY_SUBDIR), link)
    return files


@pytest.mark.parametrize("name", sorted(VIDEO_MODEL_GRAPHS))
def test_video_model_graph_runs_on_tiny_weights(comfy_server, name):
    files = _tiny_wan_models(comfy_server)
    info = comfy_server.get("/object_info")
    prompt = _tiny_video_graph(name, info, files)
    t0 = time.time()
    entry = comfy_server.run(prompt)
    videos = [p for p in _check_outputs(comfy_server, entry) if p.endswith(".mp4")]
    assert len(videos) == 1, videos
    with av.open(videos[0]) as c:
        v = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert c.streams.audio, "the video lost our AUDIO"
    # S2V: 3 windows x 8 frames decoded, trimmed to the clip's round(1.0 s x 16 fps) = 16 frames by the
    # Pose Video node's clip_frames; HuMo: length 5 at 25 fps
    want = 16 if VIDEO_MODEL_GRAPHS[name] == "s2v" else 5
    assert len(frames) == want and (v.width, v.height) == (64, 64), (len(frames), v.width, v.height)
    assert all(np.isfinite(f).all() for f in frames)
    print(f"\n{name} on tiny weights: {len(frames)} frames 64x64 with audio -> "
          f"{os.path.relpath(videos[0], comfy_server.base)} in {time.time() - t0:.1f} s")
