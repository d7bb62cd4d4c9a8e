"""ComfyUI workflow helpers for the workflow generator and the tests: node definitions, UI-format -> API-format, widget checks.

A node definition here has the shape of one entry of ComfyUI's ``/object_info``:
``{"input": {"required": {...}, "optional": {...}}, "output": [...], ...}``, where each input
spec is ``[TYPE_OR_COMBO_LIST, {options}]``.  :func:`pack_object_info` builds the same from this
pack's classes, so the static contract test and the live host test share one converter.
"""
from __future__ import annotations

import json
import numbers
import os
from typing import Dict, List, Optional, Tuple

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
MODEL_EXTS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf")
HERE = os.path.dirname(os.path.abspath(__file__))
#: core ComfyUI nodes' /object_info (0.3.64), so graphs can be laid out and checked offline
CORE_OBJECT_INFO = os.path.join(HERE, "core_object_info.json")


def _json_spec(spec) -> list:
    spec = list(spec) if isinstance(spec, (tuple, list)) else [spec]
    t = spec[0]
    return [list(t) if isinstance(t, (list, tuple)) else t, dict(spec[1]) if len(spec) > 1 and spec[1] else {}]


def pack_object_info(mappings: Dict[str, type]) -> Dict[str, dict]:
    out = {}
    for name, cls in mappings.items():
        it = cls.INPUT_TYPES()
        out[name] = {
            "input": {sect: {k: _json_spec(v) for k, v in it.get(sect, {}).items()} for sect in ("required", "optional")},
            "output": list(cls.RETURN_TYPES),
            "output_node": bool(getattr(cls, "OUTPUT_NODE", False)),
            "category": cls.CATEGORY,
        }
    return out


def core_object_info() -> Dict[str, dict]:
    """Definitions of the core ComfyUI nodes our workflows use, recorded from a real ComfyUI."""
    with open(CORE_OBJECT_INFO, encoding="utf-8") as f:
        return json.load(f)


def combo_options(spec) -> Optional[list]:
    t, opts = spec[0], (spec[1] if len(spec) > 1 else {}) or {}
    if isinstance(t, list):
        return t
    if t == "COMBO":
        return list(opts.get("options", []))
    return None


def is_widget(spec) -> bool:
    return combo_options(spec) is not None or spec[0] in WIDGET_TYPES


def extra_widget_values(name: str, spec) -> int:
    """Values the frontend stores after a widget for its helper widgets."""
    opts = (spec[1] if len(spec) > 1 else {}) or {}
    n = 0
    if spec[0] == "INT" and (opts.get("control_after_generate") or name in ("seed", "noise_seed")):
        n += 1
    if opts.get("image_upload"):
        n += 1
    if opts.get("audio_upload") or opts.get("video_upload"):
        n += 2
    return n


def widget_slots(info: dict) -> Tuple[Dict[str, int], int]:
    """Where the frontend stores each widget's value in ``widgets_values`` (input order, each
    followed by its helper widgets' values), and how many values the node stores in all."""
    slots, vi = {}, 0
    for sect in ("required", "optional"):
        for name, spec in info["input"].get(sect, {}).items():
            if is_widget(spec):
                slots[name] = vi
                vi += 1 + extra_widget_values(name, spec)
    return slots, vi


def is_file_combo(spec) -> bool:
    """Combos that list the user's input files (their choices depend on the machine)."""
    opts = (spec[1] if len(spec) > 1 else {}) or {}
    return any(opts.get(k) for k in ("image_upload", "audio_upload", "video_upload"))


def check_widget_value(value, spec, live_files: bool = False) -> Optional[str]:
    """``None`` if ``value`` fits the input spec, else the reason.

    File combos (upload widgets) are only checked against their choices when ``live_files``
    (a real ComfyUI whose input folder holds the files)."""
    t, opts = spec[0], (spec[1] if len(spec) > 1 else {}) or {}
    combo = combo_options(spec)
    if combo is not None and is_file_combo(spec) and not live_files:
        return None if isinstance(value, str) and value else f"{value!r} is not a file name"
    if combo is not None and not live_files and isinstance(value, str) and value.endswith(MODEL_EXTS):
        return None  # a model file: which ones a creator has is machine-dependent (checked live by the host test)
    if combo is not None:
        return None if value in combo else f"{value!r} is not one of {combo[:8]}{'...' if len(combo) > 8 else ''}"
    if t == "INT":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return f"{value!r} is not an integer"
    elif t == "FLOAT":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return f"{value!r} is not a number"
    elif t == "STRING":
        return None if isinstance(value, str) else f"{value!r} is not a string"
    elif t == "BOOLEAN":
        return None if isinstance(value, bool) else f"{value!r} is not a boolean"
    if t in ("INT", "FLOAT"):
        if "min" in opts and value < opts["min"]:
            return f"{value} is below the minimum {opts['min']}"
        if "max" in opts and value > opts["max"]:
            return f"{value} is above the maximum {opts['max']}"
    return None


def ui_to_api(workflow: dict, object_info: Dict[str, dict], live_files: bool = False) -> Tuple[dict, List[str]]:
    """Convert a UI-format workflow to the ``/prompt`` API format; returns ``(prompt, problems)``."""
    problems: List[str] = []
    links = {l[0]: l for l in workflow.get("links", [])}
    prompt = {}
    for node in workflow["nodes"]:
        if node.get("mode", 0) in (2, 4):  # muted / bypassed nodes do not run
            continue
        t = node["type"]
        where = f"node {node['id']} ({t})"
        if t in ("Note", "MarkdownNote", "Reroute", "PrimitiveNode"):
            continue
        info = object_info.get(t)
        if info is None:
            problems.append(f"{where}: no such node type")
            continue
        linked = {i["name"]: i.get("link") for i in node.get("inputs", []) if i.get("link") is not None}
        values = list(node.get("widgets_values") or [])
        if isinstance(node.get("widgets_values"), dict):
            problems.append(f"{where}: dict widgets_values are not supported")
            continue
        inputs = {}
        slots, n_values = widget_slots(info)
        for sect in ("required", "optional"):
            for name, spec in info["input"].get(sect, {}).items():
                if is_widget(spec):
                    vi = slots[name]
                    if vi >= len(values):
                        if name not in linked and sect == "required":
                            problems.append(f"{where}: no widget value for {name!r}")
                        value = None
                    else:
                        value = values[vi]
                    if name not in linked and value is not None:
                        err = check_widget_value(value, spec, live_files)
                        if err:
                            problems.append(f"{where}: input {name!r}: {err}")
                        inputs[name] = value
                if name in linked:
                    l = links.get(linked[name])
                    if l is None:
                        problems.append(f"{where}: input {name!r} names missing link {linked[name]}")
                        continue
                    inputs[name] = [str(l[1]), l[2]]
                    src = next((n for n in workflow["nodes"] if n["id"] == l[1]), None)
                    src_info = object_info.get(src["type"]) if src else None
                    if src_info and l[2] < len(src_info["output"]) and isinstance(spec[0], str):
                        out_t = src_info["output"][l[2]]
                        if "*" not in (out_t, spec[0]) and out_t != spec[0] and not is_widget(spec):
                            problems.append(f"{where}: input {name!r} wants {spec[0]} but gets {out_t}")
                elif sect == "required" and name not in inputs:
                    problems.append(f"{where}: required input {name!r} is not connected")
        if n_values < len(values):
            problems.append(f"{where}: {len(values) - n_values} more widget values than widgets")
        prompt[str(node["id"])] = {"class_type": t, "inputs": inputs}
    # links must join existing outputs with matching types
    for l in workflow.get("links", []):
        _, src, src_slot, dst, _dst_slot, typ = l[:6]
        s = next((n for n in workflow["nodes"] if n["id"] == src), None)
        if s is None or s["type"] not in object_info:
            continue
        outs = object_info[s["type"]]["output"]
        if src_slot >= len(outs):
            problems.append(f"link {l[0]}: {s['type']} has no output {src_slot}")
        elif typ not in ("*", outs[src_slot]) and outs[src_slot] != "*":
            problems.append(f"link {l[0]}: type {typ} but {s['type']} output {src_slot} is {outs[src_slot]}")
    return prompt, problems


def set_widget(node: dict, name: str, value, object_info: Dict[str, dict]) -> None:
    """Set the widget ``name`` of a UI-format node, finding its slot in ``widgets_values`` from the definition."""
    slots, _ = widget_slots(object_info[node["type"]])
    if name not in slots:
        raise KeyError(f"{node['type']} has no widget {name!r}")
    node["widgets_values"][slots[name]] = value


def workflow_files() -> List[str]:
    d = os.path.dirname(HERE)  # the shipped graphs: workflows/*.json
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".json")) if os.path.isdir(d) else []


class UIWorkflow:
    """Build a UI-format workflow from node definitions, giving widget values by input name.

    Widget values are laid out exactly as ComfyUI's frontend stores them (input order, with the
    extra values of seed controls and upload widgets), so the result loads in the editor.
    """

    def __init__(self, object_info: Dict[str, dict]):
        self.info = object_info
        self.nodes: List[dict] = []
        self.links: List[list] = []

    def add(self, type_: str, pos=(0, 0), title: Optional[str] = None, **widgets) -> dict:
        info = self.info[type_]
        values, inputs = [], []
        for sect in ("required", "optional"):
            for name, spec in info["input"].get(sect, {}).items():
                if is_widget(spec):
                    opts = (spec[1] if len(spec) > 1 else {}) or {}
                    if name in widgets:
                        v = widgets.pop(name)
                    elif "default" in opts:
                        v = opts["default"]
                    elif combo_options(spec):
                        v = combo_options(spec)[0]
                    else:
                        v = {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(spec[0])
                    values.append(v)
                    extra = extra_widget_values(name, spec)
                    if extra and spec[0] == "INT":
                        values.append("fixed")
                    else:
                        values.extend([None] * extra if not opts.get("image_upload") else ["image"])
                else:
                    inputs.append({"name": name, "type": spec[0], "link": None})
        if widgets:
            raise KeyError(f"{type_} has no widget inputs {sorted(widgets)}")
        node = {"id": len(self.nodes) + 1, "type": type_, "pos": list(pos), "size": [320, 120], "flags": {},
                "order": len(self.nodes), "mode": 0, "inputs": inputs,
                "outputs": [{"name": (info.get("output_name") or info["output"])[i] if info.get("output_name") else t,
                             "type": t, "links": [], "slot_index": i} for i, t in enumerate(info["output"])],
                "properties": {"Node name for S&R": type_}, "widgets_values": values}
        if title:
            node["title"] = title
        self.nodes.append(node)
        return node

    def note(self, text: str, pos=(0, 0), size=(420, 200)) -> dict:
        """A Markdown note (frontend-only: not part of the API prompt)."""
        node = {"id": len(self.nodes) + 1, "type": "MarkdownNote", "pos": list(pos), "size": list(size), "flags": {},
                "order": len(self.nodes), "mode": 0, "inputs": [], "outputs": [], "properties": {},
                "widgets_values": [text], "color": "#432", "bgcolor": "#653"}
        self.nodes.append(node)
        return node

    def link(self, src: dict, src_slot: int, dst: dict, dst_input: str) -> None:
        """Connect an output to a socket input, or to a widget (the frontend's widget input: the
        node lists it among its inputs with ``widget: {name}`` and keeps the widget's value)."""
        lid = len(self.links) + 1
        typ = src["outputs"][src_slot]["type"]
        names = [i["name"] for i in dst["inputs"]]
        if dst_input not in names:
            info = self.info[dst["type"]]["input"]
            spec = info.get("required", {}).get(dst_input) or info.get("optional", {}).get(dst_input)
            if spec is None or not is_widget(spec):
                raise KeyError(f"{dst['type']} has no input {dst_input!r}")
            wtype = "COMBO" if combo_options(spec) is not None else spec[0]
            dst["inputs"].append({"name": dst_input, "type": wtype, "widget": {"name": dst_input}, "link": None})
            names.append(dst_input)
        dst_slot = names.index(dst_input)
        dst["inputs"][dst_slot]["link"] = lid
        src["outputs"][src_slot]["links"].append(lid)
        self.links.append([lid, src["id"], src_slot, dst["id"], dst_slot, typ])

    def to_dict(self) -> dict:
        return {"last_node_id": len(self.nodes), "last_link_id": len(self.links), "nodes": self.nodes,
                "links": self.links, "groups": [], "config": {}, "extra": {"ds": {"scale": 0.8, "offset": [0, 0]}},
                "version": 0.4}
