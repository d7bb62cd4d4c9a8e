"""Shared test fixtures: real speech from espeak-ng, the astronaut portrait, the node pack."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: the workflow generator and its UI-format helpers (comfy_workflow, make_workflows)
WORKFLOW_BUILD = os.path.join(ROOT, "workflows", "build")
for _p in (ROOT, WORKFLOW_BUILD):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from synchrorama_core.audio import load_speech_waveform  # noqa: E402


def espeak(path: str, text: str, speed: int = 160, pitch: int = 50, amplitude: int = 100,
           voice: str = "en-us") -> str:
    """Synthesise ``text`` with espeak-ng into the wav ``path`` (speed wpm, pitch 0-99, amplitude 0-200)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.fail("espeak-ng is not installed: `apt-get install espeak-ng` (.ci/setup does it)")
    subprocess.run([exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(amplitude),
                    "-w", path, text], check=True, capture_output=True)
    return path


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def make_speech(speech_dir):
    """``make_speech(text, **espeak_opts) -> wav path`` (cached per session)."""
    cache = {}

    def make(text: str, **kw) -> str:
        key = (text, tuple(sorted(kw.items())))
        if key not in cache:
            cache[key] = espeak(str(speech_dir / f"s{len(cache)}.wav"), text, **kw)
        return cache[key]
    return make


SENTENCE = ("Hello there. I am really happy to see you today, it is a wonderful morning. "
            "Shall we take a walk along the river before lunch?")


@pytest.fixture(scope="session")
def speech_wav(make_speech):
    """About 8 s of real synthesised English speech with pauses (wav, 22.05 kHz mono)."""
    return make_speech(SENTENCE)


@pytest.fixture(scope="session")
def speech_16k(speech_wav):
    return load_speech_waveform(speech_wav)


@pytest.fixture(scope="session")
def astronaut():
    """``skimage.data.astronaut()`` as float32 [512, 512, 3] in 0..1: a real frontal face photo."""
    from skimage import data
    return data.astronaut().astype(np.float32) / 255.0


@pytest.fixture(scope="session")
def portrait_png(tmp_path_factory, astronaut):
    """The astronaut portrait as a PNG file (for the pipeline and the command line)."""
    from PIL import Image
    p = tmp_path_factory.mktemp("portrait") / "astronaut.png"
    Image.fromarray((astronaut * 255 + 0.5).astype(np.uint8)).save(p)
    return str(p)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tiny torch models on one thread (``pytestmark = pytest.mark.usefixtures(...)``):
    their matrices are a few KB, and on a shared 2-core machine intra-op thread synchronisation
    (OpenMP waits) costs 10-100x the arithmetic.  The previous setting is restored afterwards."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def pack():
    """The node pack imported the way ComfyUI imports a custom node folder (as a package)."""
    name = "synchrorama_pack_under_test"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "__init__.py"),
                                                  submodule_search_locations=[ROOT])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture()
def comfy_dirs(tmp_path, monkeypatch):
    """Standalone input/output/temp/model folders for node tests."""
    for k, v in {"SYNCHRORAMA_INPUT": "input", "SYNCHRORAMA_OUTPUT": "output", "SYNCHRORAMA_TEMP": "temp",
                 "SYNCHRORAMA_MODELS": "models/synchrorama"}.items():
        p = tmp_path / v
        p.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(k, str(p))
    return tmp_path


# ------------------------------------------------------------------ the real ComfyUI (host and frontend tests)

#: In CI (``SYNCHRORAMA_CI=1``, set by .ci/run) a host or frontend test whose prerequisites are
#: missing fails instead of being skipped, so CI cannot pass without having run them.
IN_CI = os.environ.get("SYNCHRORAMA_CI", "") not in ("", "0")
COMFY = os.environ.get("COMFYUI_PATH", "")
HOST_SH = os.environ.get("COMFY_HOST_SH") or os.path.join(os.path.dirname(ROOT), "shared", "tools", "comfy_host.sh")


def need(ok, reason: str) -> None:
    """Skip the test (fail it under ``SYNCHRORAMA_CI=1``) unless ``ok``.  Also at module level, where
    the skip covers the whole module and the failure is a collection error (pytest exits non-zero)."""
    if not ok:
        if IN_CI:
            pytest.fail(f"{reason} -- SYNCHRORAMA_CI is set, so this fails instead of skipping", pytrace=False)
        pytest.skip(reason, allow_module_level=True)


def import_or_skip(name: str, why: str = ""):
    """``pytest.importorskip(name)`` for a package CI installs (torch, transformers, ray): locally a
    missing one skips the tests that need it; under ``SYNCHRORAMA_CI=1`` it fails them, so a broken
    install step cannot hide them behind a skip."""
    try:
        return importlib.import_module(name)
    except ImportError as e:  # a broken install (torchvision beside CPU torch...) raises other ImportErrors too
        need(False, f"cannot import {name} ({type(e).__name__}: {e}){'; ' + why if why else ''}")


@pytest.fixture(scope="session")
def comfy_server():
    """One real ComfyUI 0.3.64+ with this pack, isolated in its own folders (tests/helpers/comfy_server.py),
    shared by the host and frontend tests; the tiny diffusion test models are in its models folder
    under the file names the shipped diffusion graph uses."""
    need(COMFY, "COMFYUI_PATH is unset: the host tests need a ComfyUI source tree "
                "(e.g. ../shared/tools/comfy_host.sh prepare DEST; export COMFYUI_PATH=DEST)")
    need(os.path.isfile(os.path.join(COMFY, "main.py")), f"COMFYUI_PATH={COMFY} holds no ComfyUI (main.py)")
    from helpers.comfy_server import ComfyServer, ensure_venv
    from helpers.tiny_diffusion import write_tiny_models
    ensure_venv(COMFY, ROOT, HOST_SH)
    # a returning creator's editor: with the tutorial done it opens the default graph (a first-time
    # user gets the template browser over an empty canvas instead)
    # with the test-only stand-in nodes for the video-model graphs (tests/helpers/comfy_test_nodes)
    server = ComfyServer(COMFY, ROOT, settings={"Comfy.TutorialCompleted": True},
                         extra_nodes=[os.path.join(ROOT, "tests", "helpers", "comfy_test_nodes")])
    try:
        server.tiny_models = write_tiny_models(server.folder("models"))
        server.start()
        yield server
    finally:
        server.close()
