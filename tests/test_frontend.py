"""Integration: ComfyUI's own web frontend loads every shipped workflow the way our converter reads it.

Uses the real ComfyUI with this pack (the ``comfy_server`` fixture of ``conftest.py``), opens its page
in headless Chromium (driven by Selenium through chromedriver), and for each file in
``workflows/`` calls the frontend's ``app.loadGraphData(json)`` and ``app.graphToPrompt()``.
The frontend's API prompt (``output``) must equal what ``comfy_workflow.ui_to_api`` makes of the
same file with the server's ``/object_info``: the same node ids and class types, the same value
for every widget, the same links.  The frontend must report no missing node types, and the page
console must show no error while our workflows load.

Needs, besides ``COMFYUI_PATH`` (see ``test_host.py``):
  * Chromium and its driver:  ``apt-get install -y chromium chromium-driver``
    (or set ``CHROMIUM`` / ``CHROMEDRIVER`` to the binaries)
  * Selenium in the test venv: ``pip install -r requirements-dev.txt``
Without them the module is skipped with the reason (under ``SYNCHRORAMA_CI=1``, as in CI, it fails).
No driver is downloaded at run time.
"""
import json
import os
import shutil
import time

import pytest

from comfy_workflow import is_widget, ui_to_api, workflow_files
from conftest import need
from test_host import VIDEO_MODEL_GRAPHS


def _first_exe(env: str, names) -> str:
    if os.environ.get(env):
        return os.environ[env] if os.access(os.environ[env], os.X_OK) else ""
    return next((p for p in map(shutil.which, names) if p), "")


CHROMIUM = _first_exe("CHROMIUM", ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"))
CHROMEDRIVER = _first_exe("CHROMEDRIVER", ("chromedriver",))
try:
    import selenium  # noqa: F401
    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False


def _missing_tools() -> str:
    missing = []
    if not CHROMIUM:
        missing.append("headless Chromium (apt-get install -y chromium, or set CHROMIUM=<binary>)")
    if not CHROMEDRIVER:
        missing.append("chromedriver (apt-get install -y chromium-driver, or set CHROMEDRIVER=<binary>)")
    if not HAVE_SELENIUM:
        missing.append("the selenium package (pip install -r requirements-dev.txt)")
    return "; ".join(missing)


pytestmark = [pytest.mark.host]

READY_S = 120  # the frontend bundle is ~11 MB of JS; on a shared 2-core machine it takes a while

# True once the app is set up (GraphView sets window.app after app.setup()), it has put its
# start-up graph on the canvas (the default or restored workflow: a later load would replace
# ours), its node definitions are registered in LiteGraph, and the pack's nodes are among them.
_READY_JS = """
const app = window.app;
return !!(app && app.graph && app.vueAppReady && app.graph.nodes.length > 0 && window.LiteGraph
          && window.LiteGraph.registered_node_types
          && arguments[0].every(t => t in window.LiteGraph.registered_node_types));
"""

# Load one UI-format workflow with the frontend's own loader and convert it with its own
# graphToPrompt.  A throw-away extension records what the loader reports as missing node types
# (the list that feeds the "missing nodes" dialog, passed to afterConfigureGraph).
_LOAD_JS = """
const [wf, name, done] = arguments;
(async () => {
  const app = window.app;
  if (!window.__srMissing) {
    window.__srMissing = {last: null};
    app.registerExtension({name: "SynchroRaMa.frontendTest",
                           afterConfigureGraph(missing) { window.__srMissing.last = missing; }});
  }
  window.__srMissing.last = null;
  await app.loadGraphData(wf, true, true, name, {showMissingNodesDialog: true, showMissingModelsDialog: false});
  const p = await app.graphToPrompt();
  const widgets = {};
  for (const n of app.graph.nodes) widgets[String(n.id)] = (n.widgets || []).map(w => w.name);
  return {output: p.output, workflow: p.workflow, missing: window.__srMissing.last, widgets,
          version: (p.workflow.extra || {}).frontendVersion || null};
})().then(r => done({ok: r}), e => done({error: String((e && e.stack) || e)}));
"""


@pytest.fixture(scope="module")
def browser(request):
    need(not _missing_tools(), f"the frontend test needs {_missing_tools()}")
    comfy_server = request.getfixturevalue("comfy_server")  # started only once the tools are known to be there
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1600,1000", "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    try:
        drv.set_script_timeout(120)
        drv.get(comfy_server.url + "/")
        ours = sorted(k for k in comfy_server.get("/object_info") if k.startswith("SynchroRaMa"))
        t0 = time.time()
        while not drv.execute_script(_READY_JS, ours):
            if time.time() - t0 > READY_S:
                logs = "\n".join(e["message"] for e in drv.get_log("browser"))[-4000:]
                pytest.fail(f"ComfyUI's frontend was not ready after {READY_S} s (window.app, LiteGraph and "
                            f"the pack's node types); page console:\n{logs}")
            time.sleep(0.5)
        drv.startup_log = drv.get_log("browser")
        drv.ready_s = time.time() - t0
        yield drv
    finally:
        drv.quit()


def _errors(entries) -> list:
    return [e["message"] for e in entries if e.get("level") == "SEVERE"]


# Create one node of a type the way the node menu does (LiteGraph.createNode returns null and
# logs the error when the node's constructor, i.e. its widget set-up, throws).
_CREATE_JS = """
const out = {};
for (const t of arguments[0]) {
  try {
    const n = window.LiteGraph.createNode(t);
    out[t] = n ? {comfyClass: n.comfyClass, widgets: (n.widgets || []).map(w => w.name)} : null;
  } catch (e) { out[t] = {error: String(e)}; }
}
return out;
"""


def test_every_node_type_is_created_by_the_frontend(browser, comfy_server):
    """Each of our node types can be added to a graph (as from the node menu) without an error,
    and has a widget for every widget input of its definition."""
    info = comfy_server.get("/object_info")
    ours = sorted(k for k in info if k.startswith("SynchroRaMa"))
    fails = []
    for t in ours:  # one at a time, so a console error is tied to its node type
        browser.get_log("browser")
        made = browser.execute_script(_CREATE_JS, [t])[t]
        console = _errors(browser.get_log("browser"))
        if made is None or "error" in made:
            fails.append(f"{t}: the frontend cannot create it ({(made or {}).get('error') or 'createNode returned null'})"
                         + "".join(f"\n    {m.splitlines()[0]}" for m in console))
            continue
        want = [n for sect in ("required", "optional") for n, spec in info[t]["input"].get(sect, {}).items()
                if is_widget(spec)]
        lacking = [n for n in want if n not in made["widgets"]]
        if made["comfyClass"] != t or lacking or console:
            fails.append(f"{t}: comfyClass {made['comfyClass']!r}, widgets {made['widgets']}, lacking {lacking}, "
                         f"console errors {console}")
    assert not fails, "\n".join(fails)
    print(f"\nthe frontend creates all {len(ours)} SynchroRaMa node types with their widgets")


def test_page_loads_without_errors_for_our_nodes(browser, pack):
    """Registering the pack's node definitions in the frontend logs no error that names them."""
    names = list(pack.NODE_CLASS_MAPPINGS) + ["synchrorama"]
    bad = [m for m in _errors(browser.startup_log) if any(n.lower() in m.lower() for n in names)]
    assert not bad, "page console errors for our nodes:\n" + "\n".join(bad)
    others = _errors(browser.startup_log)
    print(f"\nfrontend ready in {browser.ready_s:.1f} s; "
          f"{len(others)} unrelated console errors at start-up" + "".join(f"\n  {m[:200]}" for m in others))


def _diff(ours: dict, theirs: dict, widgets: dict, info: dict) -> tuple:
    """(mismatches, frontend-only inputs).  A frontend extension may add a display widget that
    the node's definition does not declare, and the server ignores (PreviewAny's ``preview``,
    LoadAudio's ``audioUI``); those are listed, not failed.  Every declared input must match."""
    out, extra = [], []
    for nid in sorted(set(ours) | set(theirs), key=lambda s: int(s) if s.isdigit() else 0):
        if nid not in theirs:
            out.append(f"node {nid} ({ours[nid]['class_type']}): in ui_to_api's prompt, not in the frontend's")
            continue
        if nid not in ours:
            out.append(f"node {nid} ({theirs[nid]['class_type']}): in the frontend's prompt, not in ui_to_api's")
            continue
        a, b = ours[nid], theirs[nid]
        where = f"node {nid} ({a['class_type']})"
        if b["class_type"] is None:
            out.append(f"{where}: the frontend could not create this node and shows an empty placeholder "
                       f"(none of its {len(a['inputs'])} inputs reach the prompt; see the console errors)")
            continue
        if a["class_type"] != b["class_type"]:
            out.append(f"{where}: frontend class_type {b['class_type']!r}")
        for name in sorted(set(a["inputs"]) | set(b["inputs"])):
            va, vb = a["inputs"].get(name, "<absent>"), b["inputs"].get(name, "<absent>")
            declared = {k for sect in ("required", "optional", "hidden")
                        for k in info.get(a["class_type"], {}).get("input", {}).get(sect, {})}
            if va == "<absent>" and name not in declared and a["class_type"] == b["class_type"]:
                extra.append(f"{where}.{name}={vb!r}")
            elif va != vb:
                out.append(f"{where}: input {name!r}: ui_to_api {va!r}, frontend {vb!r} "
                           f"(frontend widgets in order: {widgets.get(nid)})")
    return out, extra


@pytest.mark.parametrize("path", workflow_files(), ids=os.path.basename)
def test_frontend_reads_workflow_like_ui_to_api(browser, comfy_server, path):
    # the diffusion graph's model names are those of the tiny models in the server's models folder
    with open(path, encoding="utf-8") as f:
        wf = json.load(f)
    info = comfy_server.get("/object_info")
    absent_files_ok = os.path.basename(path) in VIDEO_MODEL_GRAPHS  # Wan/HuMo files are not here (test_host)

    def convert(workflow):
        prompt, problems = ui_to_api(workflow, info, live_files=True)
        return prompt, [p for p in problems if not (absent_files_ok and "is not one of" in p)]

    ours, problems = convert(wf)
    assert not problems, "\n".join(problems)

    browser.get_log("browser")  # drop what came before this workflow
    r = browser.execute_async_script(_LOAD_JS, wf, os.path.basename(path))
    assert "error" not in r, f"the frontend failed to load {os.path.basename(path)}:\n{r.get('error')}"
    r = r["ok"]
    console = _errors(browser.get_log("browser"))

    theirs = {nid: {"class_type": n["class_type"], "inputs": n["inputs"]} for nid, n in r["output"].items()}
    diff, extra = _diff(ours, theirs, r["widgets"], info)
    # what the frontend would save (its own serialisation) must read the same with our converter
    resaved, problems = convert(r["workflow"])
    fails = ["the frontend's re-saved workflow reads differently with ui_to_api:\n  " + "\n  ".join(
        _diff(ours, resaved, r["widgets"], info)[0] + problems)] if (resaved != ours or problems) else []
    if r["missing"] != []:
        fails.append(f"the frontend reports missing node types: {r['missing']}")
    if diff:
        fails.append("the frontend reads it differently from ui_to_api:\n  " + "\n  ".join(diff))
    if console:
        fails.append("page console errors while loading it:\n  " + "\n  ".join(console))
    assert not fails, f"{os.path.basename(path)}:\n" + "\n".join(fails)
    n_links = sum(isinstance(v, list) for n in ours.values() for v in n["inputs"].values())
    n_widgets = sum(not isinstance(v, list) for n in ours.values() for v in n["inputs"].values())
    print(f"\n{os.path.basename(path)}: frontend prompt == ui_to_api prompt "
          f"({len(ours)} nodes, {n_widgets} widget values, {n_links} links; frontend {r['version']})"
          + (f"; frontend-only display inputs ignored: {', '.join(extra)}" if extra else ""))


# Load a workflow and queue it from the editor, as the Run button does.
_QUEUE_JS = """
const [wf, name, done] = arguments;
(async () => {
  await app.loadGraphData(wf, true, true, name);
  await app.queuePrompt(0, 1);
})().then(() => done({ok: true}), e => done({error: String((e && e.stack) || e)}));
"""

_VIDEOS_JS = """
return Array.from(document.querySelectorAll('video')).map(v => ({
  src: v.currentSrc || v.src, ready: v.readyState, duration: v.duration, width: v.videoWidth,
  height: v.videoHeight, error: v.error ? v.error.code : null}));
"""

# Play the preview (muted, as a page may autoplay), then seek to ``t`` and copy the frame shown
# into a canvas: what the creator sees, as PNG.
_PLAY_AND_GRAB_JS = """
const [src, t, done] = arguments;
(async () => {
  const v = Array.from(document.querySelectorAll('video')).find(x => (x.currentSrc || x.src) === src);
  v.muted = true;
  await v.play();
  const t0 = v.currentTime;
  await new Promise(r => setTimeout(r, 1500));
  const advanced = v.currentTime - t0;
  v.pause();
  await new Promise(r => { v.addEventListener('seeked', r, {once: true}); v.currentTime = t; });
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext('2d').drawImage(v, 0, 0);
  return {advanced, png: c.toDataURL('image/png')};
})().then(r => done({ok: r}), e => done({error: String((e && e.stack) || e)}));
"""


def test_shipped_talking_portrait_runs_from_the_editor_and_its_preview_plays(browser, comfy_server, tmp_path):
    """Run the shipped graph from the editor (Warp Render Video -> core Save Video): the Save Video
    node shows the mp4, Chromium plays it (time advances) and the frame it shows is the file's."""
    import base64
    import io
    from urllib.parse import parse_qs, urlparse

    import av
    import numpy as np
    from PIL import Image
    path = next(p for p in workflow_files() if p.endswith("synchrorama_talking_portrait.json"))
    with open(path, encoding="utf-8") as f:
        wf = json.load(f)
    browser.get_log("browser")
    r = browser.execute_async_script(_QUEUE_JS, wf, os.path.basename(path))
    assert "error" not in r, r.get("error")
    t0, videos = time.time(), []
    while time.time() - t0 < 600:
        videos = [v for v in browser.execute_script(_VIDEOS_JS) if "talking_portrait" in v["src"]]
        if videos and videos[0]["ready"] >= 2:
            break
        time.sleep(1)
    assert videos and videos[0]["ready"] >= 2 and videos[0]["error"] is None, \
        f"no playable video preview after {time.time() - t0:.0f} s: {videos}"
    v = videos[0]
    assert (v["width"], v["height"]) == (512, 512) and 10.5 < v["duration"] < 12, v
    r = browser.execute_async_script(_PLAY_AND_GRAB_JS, v["src"], 2.0)
    assert "error" not in r, r.get("error")
    assert r["ok"]["advanced"] > 0.3, f"the preview did not play: time advanced {r['ok']['advanced']:.2f} s"
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(r["ok"]["png"].split(",", 1)[1]))).convert("RGB"))
    Image.fromarray(shown).save(tmp_path / "preview_at_2s.png")
    q = {k: v[0] for k, v in parse_qs(urlparse(v["src"]).query).items()}
    mp4 = comfy_server.result_path({"filename": q["filename"], "subfolder": q.get("subfolder", ""),
                                    "type": q.get("type", "output")})
    with av.open(mp4) as c:
        frames = [f.to_ndarray(format="rgb24") for i, f in zip(range(52), c.decode(video=0)) if i >= 48]
    psnr = max(10 * np.log10(255.0 ** 2 / max(np.mean((shown.astype(float) - f.astype(float)) ** 2), 1e-9))
               for f in frames)
    assert psnr > 30, f"the frame the editor shows at 2 s is not the file's (best PSNR {psnr:.1f} dB)"
    print(f"\neditor: {q['filename']} previewed ({v['duration']:.2f} s, 512x512), played {r['ok']['advanced']:.2f} s "
          f"in 1.5 s, frame at 2 s = file's frame (PSNR {psnr:.1f} dB)")
