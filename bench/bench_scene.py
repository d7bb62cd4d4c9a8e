"""Benchmark: the scene describer's template backend, the HTTP backend against a loopback
OpenAI-compatible server, and how closely a stalling server is cut off at the time-out.

    python bench/bench_scene.py

Inputs are real: espeak-ng speech, the emotion embedder's SR_EMOTION for it and the face
analysis of ``skimage.data.astronaut()``.  The loopback server and the tiny random transformers
model are the ones the tests use (tests/test_scene_backends.py).  Prints a table of medians; the
machine may be shared, so compare with care.  Targets (issue 4): template < 50 ms; an HTTP call
bounded by its time-out.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from synchrorama_core.audio import load_speech  # noqa: E402
from synchrorama_core.emotion import embed_emotion  # noqa: E402
from synchrorama_core.face.analysis import analyze_face  # noqa: E402
from synchrorama_core.scene import (HTTPBackend, SceneTimeoutError, build_context, build_messages,  # noqa: E402
                                    describe_scene, load_local_backend)
from test_scene_backends import (Server, completion, model_server, save_tiny_json_model,  # noqa: E402
                                 save_tiny_text_model, scripted)
from _common import median_ms, print_table  # noqa: E402

SHORT = ("Hello there. I am really happy to see you today, it is a wonderful morning. "
         "Shall we take a walk along the river before lunch?")
LONG = " ".join([SHORT, "But then my dog died and I feel terribly sad and lonely.",
                 "Do you understand what I mean? Yes, of course you do.",
                 "Let me think about what we should do next, maybe we could call a friend."] * 3)


def _espeak(path: str, text: str) -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        sys.exit("espeak-ng is not installed (apt-get install espeak-ng)")
    subprocess.run([exe, "-v", "en-us", "-s", "160", "-w", path, text], check=True, capture_output=True)
    return path


def main() -> None:
    from skimage import data
    logging.getLogger("synchrorama.scene").setLevel(logging.ERROR)  # the expected fallbacks' warnings
    rows = []
    tmp = tempfile.mkdtemp(prefix="bench_scene_")
    astronaut = data.astronaut().astype(np.float32) / 255.0
    face = analyze_face(astronaut)
    clips = {}
    for name, text in (("short", SHORT), ("long", LONG)):
        sp = load_speech(_espeak(os.path.join(tmp, f"{name}.wav"), text), fps=25.0)
        clips[name] = (sp, text, embed_emotion(sp, text))

    # ---------------------------------------------------------------- template
    for name, (sp, text, emo) in clips.items():
        describe_scene(sp, text, emotion=emo, face=face)
        ms = median_ms(lambda: describe_scene(sp, text, emotion=emo, face=face), 20)
        n = len(describe_scene(sp, text, emotion=emo, face=face).segments)
        rows.append((f"template, {sp.duration_s:.1f} s clip, emotion + face", f"{ms:.1f} ms",
                     f"{n} segments; target < 50 ms: {'ok' if ms < 50 else 'MISSED'}"))
    sp, text, emo = clips["short"]
    ms = median_ms(lambda: describe_scene(sp, text), 20)
    rows.append((f"template, {sp.duration_s:.1f} s clip, speech + text only", f"{ms:.1f} ms", ""))

    # ---------------------------------------------------------------- HTTP against a loopback server
    reply = json.dumps({"summary": "a smiling astronaut talks", "segments": [
        {"start_s": 0, "end_s": 3.0, "description": "She smiles at the camera", "actions": ["smiles"],
         "attributes": ["NASA portrait"]},
        {"start_s": 3.0, "end_s": sp.duration_s, "description": "She nods and tilts her head",
         "actions": ["nods", "tilts head"], "attributes": ["NASA portrait"]}]})
    srv = Server(scripted(("json", 200, completion(reply))))
    try:
        http = HTTPBackend(base_url=srv.url, model="bench", timeout_s=10, retries=0)
        describe_scene(sp, text, emotion=emo, face=face, backend=http)
        ms = median_ms(lambda: describe_scene(sp, text, emotion=emo, face=face, backend=http), 20)
        rows.append(("HTTP, loopback server, canned JSON reply", f"{ms:.1f} ms",
                     "whole describer call: prompt, POST, parse, repair"))
        http_img = HTTPBackend(base_url=srv.url, model="bench", timeout_s=10, retries=0, send_images=True)
        ms = median_ms(lambda: describe_scene(sp, text, emotion=emo, face=face, backend=http_img), 10)
        size = len(json.dumps(srv.requests[-1]["body"]))
        rows.append(("HTTP, + portrait as a data URL (512x512)", f"{ms:.1f} ms", f"request body {size / 1024:.0f} KiB"))
    finally:
        srv.close()

    save_tiny_text_model(os.path.join(tmp, "llm", "tiny"))
    local = load_local_backend("tiny", [os.path.join(tmp, "llm")], max_new_tokens=32)
    msgs = build_messages(build_context(sp, text, emo, face))
    local.complete(msgs)
    runs = [local.complete(msgs).info for _ in range(3)]
    import torch
    threads = torch.get_num_threads()
    rows.append((f"local transformers, tiny random Llama (2x32), {runs[0]['new_tokens']} tokens",
                 f"{1000 * statistics.median(r['elapsed_s'] for r in runs):.0f} ms",
                 f"prompt {runs[0]['prompt_tokens']} tokens, CPU, {threads} torch threads"))
    torch.set_num_threads(1)
    runs = [local.complete(msgs).info for _ in range(3)]
    rows.append(("  same, 1 torch thread", f"{1000 * statistics.median(r['elapsed_s'] for r in runs):.0f} ms",
                 "contended cores: OpenMP waits dominate with more threads"))
    torch.set_num_threads(threads)
    torch.set_num_threads(1)
    save_tiny_json_model(os.path.join(tmp, "llm", "tiny-json"), msgs)
    taught = load_local_backend("tiny-json", [os.path.join(tmp, "llm")], max_new_tokens=200)
    srv = Server(model_server(taught))
    try:
        http = HTTPBackend(base_url=srv.url, model="tiny-json", timeout_s=60, retries=0)
        scene = describe_scene(sp, text, emotion=emo, face=face, backend=http)
        ms = median_ms(lambda: describe_scene(sp, text, emotion=emo, face=face, backend=http), 5)
        rows.append(("HTTP, loopback server in front of a tiny JSON-answering model", f"{ms:.0f} ms",
                     f"backend {scene.backend}, {len(scene.segments)} segments, 1 torch thread"))
    finally:
        srv.close()
    torch.set_num_threads(threads)

    # ---------------------------------------------------------------- time-out adherence
    worst = 0.0
    for mode in ("stall", "trickle"):
        srv = Server(scripted((mode,)))
        try:
            for timeout in (0.5, 1.0, 2.0):
                http = HTTPBackend(base_url=srv.url, model="m", timeout_s=timeout, retries=3)
                over = []
                for _ in range(3):
                    t = time.perf_counter()
                    try:
                        http.complete([{"role": "user", "content": "hi"}])
                        raise SystemExit("the stalling server answered?")
                    except SceneTimeoutError:
                        pass
                    over.append(time.perf_counter() - t - timeout)
                worst = max(worst, max(over))
                rows.append((f"time-out {timeout:.1f} s, server {'stalls' if mode == 'stall' else 'trickles bytes'}",
                             f"+{1000 * statistics.median(over):.0f} ms",
                             f"overshoot past the time-out (max +{1000 * max(over):.0f} ms of 3)"))
        finally:
            srv.close()
    sp, text, emo = clips["short"]
    srv = Server(scripted(("stall",)))
    try:
        http = HTTPBackend(base_url=srv.url, model="m", timeout_s=1.0, retries=2)
        t = time.perf_counter()
        scene = describe_scene(sp, text, emotion=emo, face=face, backend=http)
        el = time.perf_counter() - t
        rows.append(("describer fallback after a 1.0 s time-out", f"{1000 * el:.0f} ms",
                     f"backend {scene.backend}: {scene.meta['backend_error']['kind']}"))
    finally:
        srv.close()
    shutil.rmtree(tmp, ignore_errors=True)

    print_table(rows, ("measure", "value", "note"), "<>")
    print(f"\nCPU threads: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f} (shared machine: numbers are "
          f"pessimistic when others run). Worst time-out overshoot: +{1000 * worst:.0f} ms.")


if __name__ == "__main__":
    main()
