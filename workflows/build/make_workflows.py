"""Write the example graphs in ``workflows/`` (ComfyUI's UI format) from the pack's node definitions.

    python workflows/build/make_workflows.py          # rewrites workflows/*.json
    python workflows/build/make_workflows.py --check  # exit 1 if a shipped workflow differs from what this writes

Widget values are laid out from the nodes' own INPUT_TYPES (comfy_workflow.UIWorkflow, beside this script), so a
changed node is picked up by re-running this script; tests/test_nodes_contract.py checks that the
shipped files are current.  The graphs use the bundled sample portrait and speech, which the pack
copies into ComfyUI's input folder when it loads (nodes/comfy_adapter.install_samples).
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

from comfy_workflow import UIWorkflow, core_object_info, pack_object_info  # noqa: E402

PORTRAIT = "synchrorama_sample_portrait.jpg"
SPEECH = "synchrorama_sample_speech.flac"
with open(os.path.join(ROOT, "synchrorama_core", "assets", "sample_speech.txt"), encoding="utf-8") as _f:
    TRANSCRIPT = _f.read().strip()

#: Model files the diffusion graph names: the common file names of the public releases (see docs/diffusion.md).
CHECKPOINT = "v1-5-pruned-emaonly.safetensors"
CONTROLNET = "control_v2p_sd15_mediapipe_face.safetensors"
MOTION_MODULE = "mm_sd15_v3.safetensors"


def _pack_mappings():
    name = "synchrorama_pack_for_workflows"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "__init__.py"),
                                                      submodule_search_locations=[ROOT])
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name].NODE_CLASS_MAPPINGS


def _info():
    return {**core_object_info(), **pack_object_info(_pack_mappings())}


def _front_half(w: UIWorkflow, y0: int = 0):
    """Portrait -> Face Analysis; speech -> emotion -> scene -> A2M motion. Returns the nodes."""
    img = w.add("LoadImage", (0, y0), image=PORTRAIT)
    face = w.add("SynchroRaMaFaceAnalysis", (340, y0))
    w.link(img, 0, face, "image")
    aud = w.add("SynchroRaMaLoadAudio", (0, y0 + 380), audio=SPEECH, fps=25.0)
    emo = w.add("SynchroRaMaEmotionEmbedder", (340, y0 + 380), transcript=TRANSCRIPT)
    w.link(aud, 1, emo, "speech")
    emo_plot = w.add("PreviewImage", (700, y0 + 760), title="Emotion timeline")
    w.link(emo, 2, emo_plot, "images")
    # the transcript is typed once, into the Emotion Embedder; SR_EMOTION carries it on to the Scene Describer
    scene = w.add("SynchroRaMaSceneDescriber", (700, y0 + 380))
    w.link(aud, 1, scene, "speech")
    w.link(emo, 0, scene, "emotion")
    w.link(face, 0, scene, "face")
    a2m = w.add("SynchroRaMaA2MMotion", (1060, y0 + 380))
    w.link(aud, 1, a2m, "speech")
    w.link(emo, 0, a2m, "emotion")
    w.link(scene, 0, a2m, "scene")
    curves = w.add("PreviewImage", (1060, y0 + 760), title="Motion curves")
    w.link(a2m, 1, curves, "images")
    return dict(img=img, face=face, aud=aud, emo=emo, scene=scene, a2m=a2m)


def talking_portrait(info) -> dict:
    """The zero-download graph: every stage on its default, rendered by the warp renderer."""
    w = UIWorkflow(info)
    n = _front_half(w)
    w.note("## SynchroRaMa: talking portrait (no downloads, CPU real time)\n\n"
           "Load a portrait and a speech file (the bundled samples are preselected). Paste the transcript into "
           "**Emotion Embedder** (optional: without it, emotion comes from the voice only and the scene from the "
           "face and timing); the **Scene Describer** uses the same transcript through the emotion link unless "
           "you type another one there. The frame rate is set once, in **Load Audio**.\n\n"
           "Every stage runs on its zero-download default: lexicon + prosody emotion, template scene text, "
           "procedural A2M, the landmark warp renderer. **Warp Render Video** streams each frame into the mp4, "
           "so long clips need no more memory than short ones; use **Warp Renderer** (IMAGE frames) instead when "
           "you want to post-process the frames. Swap in model backends with the loader nodes of each stage.",
           (0, 820), (660, 300))
    ren = w.add("SynchroRaMaWarpRenderVideo", (1420, 0))
    w.link(n["face"], 0, ren, "face")
    w.link(n["a2m"], 0, ren, "motion")
    w.link(n["aud"], 0, ren, "audio")
    save = w.add("SaveVideo", (1780, 0), filename_prefix="SynchroRaMa/talking_portrait")
    w.link(ren, 0, save, "video")
    return w.to_dict()


def speech_analysis(info) -> dict:
    """Audio only: speech features, emotion timeline and motion curves, saved as JSON for inspection."""
    w = UIWorkflow(info)
    aud = w.add("SynchroRaMaLoadAudio", (0, 0), audio=SPEECH, fps=25.0)
    emo = w.add("SynchroRaMaEmotionEmbedder", (340, 0), transcript=TRANSCRIPT)
    w.link(aud, 1, emo, "speech")
    plot = w.add("PreviewImage", (700, 0), title="Emotion timeline")
    w.link(emo, 2, plot, "images")
    summary = w.add("PreviewAny", (700, 420), title="Emotion summary")
    w.link(emo, 1, summary, "source")
    a2m = w.add("SynchroRaMaA2MMotion", (340, 520))
    w.link(aud, 1, a2m, "speech")
    w.link(emo, 0, a2m, "emotion")
    curves = w.add("PreviewImage", (700, 620), title="Motion curves")
    w.link(a2m, 1, curves, "images")
    save = w.add("SynchroRaMaSaveData", (1060, 0), filename_prefix="SynchroRaMa/speech_analysis")
    w.link(aud, 1, save, "speech")
    w.link(emo, 0, save, "emotion")
    w.link(a2m, 0, save, "motion")
    w.note("## SynchroRaMa: speech analysis\n\nFrame-aligned speech features, the fused emotion timeline and "
           "the A2M motion curves for a speech file, saved as JSON (SR_SPEECH, SR_EMOTION, SR_MOTION) "
           "to share, inspect or load back with **Load Data**.", (0, 380), (320, 200))
    return w.to_dict()


def diffusion_sampler(info) -> dict:
    """The diffusion video sampler conditioned on everything upstream (needs SD1.5-family models)."""
    w = UIWorkflow(info)
    n = _front_half(w)
    frames = w.add("SynchroRaMaMotionFrames", (1420, 380), style="laion_face")  # what the MediaPipe-face ControlNet learnt
    w.link(n["a2m"], 0, frames, "motion")
    w.link(n["face"], 0, frames, "face")
    prev = w.add("PreviewImage", (1420, 760), title="Motion frames")
    w.link(frames, 0, prev, "images")
    models = w.add("SynchroRaMaLoadDiffusionModels", (1420, 0), checkpoint=CHECKPOINT, controlnet=CONTROLNET,
                   motion_module=MOTION_MODULE)
    smp = w.add("SynchroRaMaVideoSampler", (1780, 0), steps=20, cfg=6.0, seed=0)
    w.link(models, 0, smp, "diffusion_models")
    w.link(n["aud"], 1, smp, "speech")
    w.link(n["img"], 0, smp, "reference")
    w.link(n["face"], 0, smp, "face")
    w.link(frames, 0, smp, "motion_frames")
    w.link(n["emo"], 0, smp, "emotion")
    w.link(n["scene"], 0, smp, "scene")
    save = w.add("SynchroRaMaSaveVideo", (2140, 0), filename_prefix="SynchroRaMa/diffusion")
    w.link(smp, 0, save, "images")
    w.link(smp, 1, save, "fps")  # the frames' own fps (the speech's), not typed again
    w.link(n["aud"], 0, save, "audio")
    w.note("## SynchroRaMa: diffusion video sampler (GPU)\n\n"
           f"Needs an SD1.5-family checkpoint in `models/checkpoints` (e.g. `{CHECKPOINT}`), a face-landmark "
           f"ControlNet in `models/controlnet` (e.g. `{CONTROLNET}`) and an AnimateDiff motion module in "
           f"`models/animatediff_models` (e.g. `{MOTION_MODULE}`): pick yours in **Load Diffusion Models**. "
           "Where to get them: docs/diffusion.md. The motion frames from A2M drive the ControlNet; the scene "
           "text + emotion phrase is the prompt; the reference portrait gives identity.", (0, 820), (660, 260))
    return w.to_dict()


WORKFLOWS = {
    "synchrorama_talking_portrait.json": talking_portrait,
    "synchrorama_speech_analysis.json": speech_analysis,
    "synchrorama_diffusion_sampler.json": diffusion_sampler,
}


def render_all() -> dict:
    info = _info()
    return {name: json.dumps(fn(info), indent=1) + "\n" for name, fn in WORKFLOWS.items()}


def main(argv=None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    out_dir = os.path.join(ROOT, "workflows")
    stale = []
    for name, text in render_all().items():
        path = os.path.join(out_dir, name)
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if old != text:
            stale.append(name)
            if not check:
                os.makedirs(out_dir, exist_ok=True)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
    if check and stale:
        print("out of date (run python workflows/build/make_workflows.py):", ", ".join(stale))
        return 1
    print(("stale: " if check else "written: ") + (", ".join(stale) or "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
