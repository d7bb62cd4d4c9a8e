"""Every registered node honours ComfyUI's classic node contract; every shipped workflow fits the nodes."""
import inspect
import json
import os

import pytest

from comfy_workflow import check_widget_value, core_object_info, is_widget, pack_object_info, ui_to_api, workflow_files

KNOWN_TYPES = {"IMAGE", "MASK", "AUDIO", "VIDEO", "STRING", "INT", "FLOAT", "BOOLEAN", "LATENT", "CONDITIONING", "MODEL",
               "CLIP", "VAE", "*"}


def _nodes(pack):
    return sorted(pack.NODE_CLASS_MAPPINGS.items())


def test_pack_registers_nodes(pack):
    assert len(pack.NODE_CLASS_MAPPINGS) >= 2
    assert set(pack.NODE_DISPLAY_NAME_MAPPINGS) == set(pack.NODE_CLASS_MAPPINGS)
    assert {"SynchroRaMaLoadAudio", "SynchroRaMaSpeechFeatures"} <= set(pack.NODE_CLASS_MAPPINGS)


def test_every_node_contract(pack):
    problems = []
    for key, cls in _nodes(pack):
        where = key
        if not key.startswith("SynchroRaMa"):
            problems.append(f"{where}: class key must start with SynchroRaMa")
        if not pack.NODE_DISPLAY_NAME_MAPPINGS.get(key, "").startswith("SynchroRaMa "):
            problems.append(f"{where}: display name must start with 'SynchroRaMa '")
        if not str(getattr(cls, "CATEGORY", "")).startswith("SynchroRaMa/"):
            problems.append(f"{where}: CATEGORY {getattr(cls, 'CATEGORY', None)!r} not under SynchroRaMa/")
        it = cls.INPUT_TYPES()
        if not isinstance(it, dict) or not isinstance(it.get("required", {}), dict):
            problems.append(f"{where}: INPUT_TYPES must return a dict with a 'required' dict")
            continue
        if set(it) - {"required", "optional", "hidden"}:
            problems.append(f"{where}: unknown INPUT_TYPES sections {set(it) - {'required', 'optional', 'hidden'}}")
        names = []
        for sect in ("required", "optional"):
            for name, spec in it.get(sect, {}).items():
                names.append((name, sect))
                if not isinstance(spec, tuple) or not spec or len(spec) > 2:
                    problems.append(f"{where}.{name}: spec must be a tuple (TYPE,) or (TYPE, options)")
                    continue
                t = spec[0]
                opts = spec[1] if len(spec) > 1 else {}
                if not isinstance(opts, dict):
                    problems.append(f"{where}.{name}: options must be a dict")
                if isinstance(t, list):
                    if "default" in opts and opts["default"] not in t:
                        problems.append(f"{where}.{name}: default not among the choices")
                elif not isinstance(t, str) or not (t in KNOWN_TYPES or t.startswith("SR_")):
                    problems.append(f"{where}.{name}: unknown type {t!r}")
                if is_widget(list(spec) + ([{}] if len(spec) == 1 else [])) and "default" in opts:
                    err = check_widget_value(opts["default"], [t, opts])
                    if err:
                        problems.append(f"{where}.{name}: default {err}")
        for name, _ in it.get("hidden", {}).items():
            names.append((name, "hidden"))
        rt = getattr(cls, "RETURN_TYPES", None)
        if not isinstance(rt, tuple) or not all(isinstance(r, str) for r in rt):
            problems.append(f"{where}: RETURN_TYPES must be a tuple of strings")
        else:
            for r in rt:
                if not (r in KNOWN_TYPES or r.startswith("SR_")):
                    problems.append(f"{where}: unknown return type {r!r}")
            rn = getattr(cls, "RETURN_NAMES", None)
            if rn is not None and len(rn) != len(rt):
                problems.append(f"{where}: RETURN_NAMES and RETURN_TYPES differ in length")
            oil = getattr(cls, "OUTPUT_IS_LIST", None)
            if oil is not None and len(oil) != len(rt):
                problems.append(f"{where}: OUTPUT_IS_LIST and RETURN_TYPES differ in length")
        if not rt and not getattr(cls, "OUTPUT_NODE", False):
            problems.append(f"{where}: a node without outputs must be an OUTPUT_NODE")
        fn = getattr(cls, getattr(cls, "FUNCTION", ""), None)
        if not callable(fn):
            problems.append(f"{where}: FUNCTION {getattr(cls, 'FUNCTION', None)!r} is not a method")
            continue
        sig = inspect.signature(fn)
        params = sig.parameters
        has_kwargs = any(p.kind == p.VAR_KEYWORD for p in params.values())
        for name, sect in names:
            if name not in params and not has_kwargs:
                problems.append(f"{where}: {fn.__name__}() does not accept input {name!r}")
            elif sect != "required" and name in params and params[name].default is inspect._empty:
                problems.append(f"{where}: {sect} input {name!r} needs a default in {fn.__name__}()")
        declared = {n for n, _ in names}
        for p in list(params.values())[1:]:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is inspect._empty and p.name not in declared:
                problems.append(f"{where}: {fn.__name__}() requires {p.name!r}, which is no input")
    assert not problems, "\n".join(problems)


def test_nodes_import_without_comfyui(pack):
    import importlib
    adapter = importlib.import_module(f"{pack.__name__}.nodes.comfy_adapter")
    assert adapter.HAS_COMFY is False
    assert adapter.Progress.cancelled() is False


WORKFLOWS = workflow_files()


def test_workflows_exist():
    assert WORKFLOWS, "workflows/ must ship at least one example graph"


@pytest.mark.parametrize("path", WORKFLOWS, ids=os.path.basename)
def test_workflow_fits_the_nodes(pack, path):
    with open(path, encoding="utf-8") as f:
        wf = json.load(f)
    assert "nodes" in wf and "links" in wf, "workflows are stored in ComfyUI's UI format"
    info = {**core_object_info(), **pack_object_info(pack.NODE_CLASS_MAPPINGS)}
    prompt, problems = ui_to_api(wf, info)
    assert not problems, "\n".join(problems)
    assert any(v["class_type"].startswith("SynchroRaMa") for v in prompt.values())


def test_shipped_workflows_are_current(pack):
    """workflows/ is what workflows/build/make_workflows.py writes from the nodes as they are now."""
    import make_workflows
    assert make_workflows.main(["--check"]) == 0, "run: python workflows/build/make_workflows.py"


@pytest.mark.parametrize("path", WORKFLOWS, ids=os.path.basename)
def test_workflows_type_the_transcript_and_the_fps_once(pack, path):
    """A creator types the transcript in one box and our frame rate in one box (Load Audio); the other
    nodes get them through links (SR_EMOTION carries the transcript; the renderer's, sampler's or pose
    video's fps output).  A video model's own fixed rate (HuMo's 25 fps into Create Video, for frames
    the model made) is that model's, not a second copy of ours."""
    with open(path, encoding="utf-8") as f:
        wf = json.load(f)
    prompt, _ = ui_to_api(wf, {**core_object_info(), **pack_object_info(pack.NODE_CLASS_MAPPINGS)})
    typed = lambda name, nodes: [f"{n['class_type']}.{name}" for n in nodes  # noqa: E731
                                 if isinstance(n["inputs"].get(name), (str, int, float))
                                 and str(n["inputs"][name]).strip()]
    ours = [n for n in prompt.values() if n["class_type"].startswith("SynchroRaMa")]
    assert len(typed("transcript", prompt.values())) <= 1, typed("transcript", prompt.values())
    assert len(typed("fps", ours)) <= 1, typed("fps", ours)
    for nid, n in prompt.items():
        src = n["inputs"].get("images")
        if n["class_type"] in ("SynchroRaMaSaveVideo", "CreateVideo") and isinstance(src, list) \
                and prompt[src[0]]["class_type"].startswith("SynchroRaMa"):
            assert isinstance(n["inputs"]["fps"], list), f"node {nid} ({n['class_type']}): the fps of our frames " \
                                                         f"should come by link from the node that made them"


def test_talking_portrait_streams_into_core_video():
    """The shipped zero-download graph renders through the streaming node into core Save Video."""
    path = next(p for p in WORKFLOWS if p.endswith("synchrorama_talking_portrait.json"))
    with open(path, encoding="utf-8") as f:
        wf = json.load(f)
    types = {n["id"]: n["type"] for n in wf["nodes"]}
    assert "SynchroRaMaWarpRenderer" not in types.values()
    assert any(types[l[1]] == "SynchroRaMaWarpRenderVideo" and types[l[3]] == "SaveVideo" and l[5] == "VIDEO"
               for l in wf["links"])
