"""Record core ComfyUI nodes' definitions from a running server into ``core_object_info.json``.

    python workflows/build/record_core_info.py http://127.0.0.1:8188 [NodeType ...]

Keeps every node type already in the snapshot and adds the ones named.  Each entry keeps what the
workflow generator and ``ui_to_api`` read (inputs, their order, outputs, category, name); the
choices that depend on the machine are neutralised: upload combos list ``example.png`` (images)
or nothing (audio), model-file combos are emptied (which files a creator has is checked live by the
host test).  Record from a stock server with empty model folders (``comfy_host.sh prepare``).
"""
from __future__ import annotations

import json
import os
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from comfy_workflow import CORE_OBJECT_INFO, MODEL_EXTS, combo_options, is_file_combo  # noqa: E402

KEEP = ("input", "input_order", "output", "output_name", "output_node", "category", "name")


def _neutral(spec: list) -> list:
    opts = combo_options(spec)
    if opts is None:
        return spec
    if is_file_combo(spec):
        new = [] if (spec[1] or {}).get("audio_upload") else ["example.png"]
    elif any(isinstance(o, str) and o.endswith(MODEL_EXTS) for o in opts):
        new = []
    else:
        return spec
    if isinstance(spec[0], list):
        return [new] + spec[1:]
    return [spec[0], {**spec[1], "options": new}] + spec[2:]


def trim(entry: dict) -> dict:
    out = {k: entry[k] for k in KEEP if k in entry}
    out["input"] = {sect: {name: _neutral(list(spec)) if isinstance(spec, list) else spec for name, spec in specs.items()}
                    for sect, specs in entry.get("input", {}).items()}
    return out


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(__doc__)
        return 2
    url, wanted = argv[0].rstrip("/"), argv[1:]
    with urllib.request.urlopen(url + "/object_info", timeout=60) as r:
        live = json.load(r)
    with open(CORE_OBJECT_INFO, encoding="utf-8") as f:
        snap = json.load(f)
    missing = [t for t in list(snap) + wanted if t not in live]
    if missing:
        print(f"not on that server: {missing}")
        return 1
    out = {t: trim(live[t]) for t in list(snap) + [w for w in wanted if w not in snap]}
    with open(CORE_OBJECT_INFO, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{len(out)} core node types written to {CORE_OBJECT_INFO}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
