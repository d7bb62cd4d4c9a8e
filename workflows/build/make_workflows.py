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


def _front_half(w: UIWorkflow, y0: int = 0, motion: bool = True, **audio):
    """Portrait -> Face Analysis; speech -> emotion -> scene (-> A2M motion). Returns the nodes."""
    img = w.add("LoadImage", (0, y0), image=PORTRAIT)
    face = w.add("SynchroRaMaFaceAnalysis", (340, y0))
    w.link(img, 0, face, "image")
    aud = w.add("SynchroRaMaLoadAudio", (0, y0 + 380), audio=SPEECH, **{"fps": 25.0, **audio})
    emo = w.add("SynchroRaMaEmotionEmbedder", (340, y0 + 380), transcript=TRANSCRIPT)
    w.link(aud, 1, emo, "speech")
    emo_plot = w.add("PreviewImage", (700, y0 + 760), title="Emotion timeline")
    w.link(emo, 2, emo_plot, "images")
    # the transcript is typed once, into the Emotion Embedder; SR_EMOTION carries it on to the Scene Describer
    scene = w.add("SynchroRaMaSceneDescriber", (700, y0 + 380))
    w.link(aud, 1, scene, "speech")
    w.link(emo, 0, scene, "emotion")
    w.link(face, 0, scene, "face")
    if not motion:
        return dict(img=img, face=face, aud=aud, emo=emo, scene=scene)
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


#: Core ComfyUI's Wan2.2-S2V and HuMo templates' model files (comfyui-workflow-templates-json:
#: video_wan2_2_14B_s2v.json, video_humo.json), so creators' downloads fit as they are (docs/video_models.md).
WAN_TEXT_ENCODER = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
WAN_VAE = "wan_2.1_vae.safetensors"
S2V_MODEL = "wan2.2_s2v_14B_fp8_scaled.safetensors"
S2V_LORA = "wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors"
S2V_AUDIO_ENCODER = "wav2vec2_large_english_fp16.safetensors"
HUMO_MODEL = "humo_17B_fp8_e4m3fn.safetensors"
HUMO_LORA = "lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors"
HUMO_AUDIO_ENCODER = "whisper_large_v3_fp16.safetensors"
#: Windows of the shipped S2V chain: 3 x 80 frames at 16 fps = 15 s, enough for the 11.3 s sample speech.
S2V_WINDOWS = 3
S2V_LENGTH = 77
HUMO_LENGTH = 97


def _wan_loaders(w: UIWorkflow, x: int, y: int, unet: str, lora: str, audio_encoder: str, aud: dict) -> dict:
    """Core loaders as core's templates wire them: UNET -> LoRA -> ModelSamplingSD3, umt5, VAE, audio encoder."""
    unet_n = w.add("UNETLoader", (x, y), unet_name=unet, weight_dtype="default")
    lora_n = w.add("LoraLoaderModelOnly", (x, y + 140), lora_name=lora, strength_model=1.0)
    w.link(unet_n, 0, lora_n, "model")
    ms = w.add("ModelSamplingSD3", (x, y + 280), shift=8.0)
    w.link(lora_n, 0, ms, "model")
    clip = w.add("CLIPLoader", (x, y + 400), clip_name=WAN_TEXT_ENCODER, type="wan")
    vae = w.add("VAELoader", (x, y + 540), vae_name=WAN_VAE)
    ae = w.add("AudioEncoderLoader", (x, y + 640), audio_encoder_name=audio_encoder)
    enc = w.add("AudioEncoderEncode", (x, y + 740))
    w.link(ae, 0, enc, "audio_encoder")
    w.link(aud, 0, enc, "audio")          # our Load Audio's AUDIO, as core's LoadAudio gives it
    return dict(model=ms, clip=clip, vae=vae, audio=enc)


def _texts(w: UIWorkflow, n: dict, clip: dict, pos, title: str, **prompt) -> tuple:
    """Prompt node -> two CLIPTextEncode (positive, negative)."""
    p = w.add("SynchroRaMaVideoModelPrompt", pos, title=title, **prompt)
    w.link(n["emo"], 0, p, "emotion")
    w.link(n["scene"], 0, p, "scene")
    te = []
    for k, label in ((0, "positive"), (1, "negative")):
        t = w.add("CLIPTextEncode", (pos[0] + 360, pos[1] + k * 150), title=f"{title}: {label}")
        w.link(clip, 0, t, "clip")
        w.link(p, k, t, "text")
        te.append(t)
    return p, te[0], te[1]


def wan_s2v(info) -> dict:
    """Wan2.2-S2V directed by SynchroRaMa: per-window emotion/scene prompts, A2M pose control, our audio."""
    w = UIWorkflow(info)
    n = _front_half(w)
    L = _wan_loaders(w, 1420, 0, S2V_MODEL, S2V_LORA, S2V_AUDIO_ENCODER, n["aud"])
    length = w.add("PrimitiveInt", (1420, 900), title="Chunk length (frames per window, 4k+1)", value=S2V_LENGTH)
    width = w.add("PrimitiveInt", (1420, 1020), title="Width", value=640)
    height = w.add("PrimitiveInt", (1420, 1140), title="Height", value=640)
    steps = w.add("PrimitiveInt", (1420, 1260), title="Steps", value=4)
    cfg = w.add("PrimitiveFloat", (1420, 1380), title="CFG", value=1.0)
    latent = pose0 = None
    for k in range(S2V_WINDOWS):
        x, y = 1800 + 1100 * k, 0
        prm, pos, neg = _texts(w, n, L["clip"], (x, y), f"Window {k}", model="wan2.2_s2v", window=k,
                               length=S2V_LENGTH)
        w.link(length, 0, prm, "length")
        pose = w.add("SynchroRaMaPoseVideo", (x, y + 340), title=f"Window {k}: pose video", model="wan2.2_s2v",
                     window=k, length=S2V_LENGTH, width=640, height=640)
        w.link(n["a2m"], 0, pose, "motion")
        w.link(n["face"], 0, pose, "face")
        for prim, name in ((width, "width"), (height, "height"), (length, "length")):
            w.link(prim, 0, pose, name)
        if k == 0:
            pose0 = pose
            cond = w.add("WanSoundImageToVideo", (x + 720, y), width=640, height=640, length=S2V_LENGTH, batch_size=1)
            w.link(width, 0, cond, "width")
            w.link(height, 0, cond, "height")
            w.link(n["img"], 0, cond, "ref_image")
        else:
            cond = w.add("WanSoundImageToVideoExtend", (x + 720, y), length=S2V_LENGTH)
            w.link(latent, 0, cond, "video_latent")
            w.link(n["img"], 0, cond, "ref_image")
        w.link(length, 0, cond, "length")
        w.link(pos, 0, cond, "positive")
        w.link(neg, 0, cond, "negative")
        w.link(L["vae"], 0, cond, "vae")
        w.link(L["audio"], 0, cond, "audio_encoder_output")
        w.link(pose, 0, cond, "control_video")
        ks = w.add("KSampler", (x + 720, y + 340), seed=k, steps=4, cfg=1.0, sampler_name="uni_pc", scheduler="simple",
                   denoise=1.0)
        w.link(L["model"], 0, ks, "model")
        for i, name in enumerate(("positive", "negative", "latent_image")):
            w.link(cond, i, ks, name)
        w.link(steps, 0, ks, "steps")
        w.link(cfg, 0, ks, "cfg")
        if latent is None:
            latent = ks
        else:
            cat = w.add("LatentConcat", (x + 720, y + 680), dim="t")
            w.link(latent, 0, cat, "samples1")
            w.link(ks, 0, cat, "samples2")
            latent = cat
    # core's template decodes with the first latent frame doubled and drops the first image, so
    # every latent frame gives 4 images; the rest is trimmed to the clip's exact frame count
    x = 1800 + 1100 * S2V_WINDOWS
    cut = w.add("LatentCut", (x, 0), dim="t", index=0, amount=1)
    w.link(latent, 0, cut, "samples")
    cat = w.add("LatentConcat", (x, 160), dim="t")
    w.link(cut, 0, cat, "samples1")
    w.link(latent, 0, cat, "samples2")
    dec = w.add("VAEDecode", (x, 320))
    w.link(cat, 0, dec, "samples")
    w.link(L["vae"], 0, dec, "vae")
    trim = w.add("ImageFromBatch", (x, 440), title="Drop the doubled first frame; clip length", batch_index=1,
                 length=4096)
    w.link(dec, 0, trim, "image")
    w.link(pose0, 1, trim, "length")
    vid = w.add("CreateVideo", (x, 600), fps=16.0)
    w.link(trim, 0, vid, "images")
    w.link(pose0, 2, vid, "fps")          # the model's frame rate, as Pose Video drew the control video
    w.link(n["aud"], 0, vid, "audio")
    save = w.add("SaveVideo", (x, 760), filename_prefix="SynchroRaMa/wan_s2v")
    w.link(vid, 0, save, "video")
    w.note("## SynchroRaMa directs Wan2.2-S2V (GPU)\n\n"
           "SynchroRaMa analyses the portrait and the speech; ComfyUI's own Wan2.2-S2V renders. Per window of "
           f"{S2V_LENGTH} frames (5 s at the model's 16 fps) **Video Model Prompt** writes the prompt from that "
           "window's emotion and scene, and **Pose Video** draws the A2M head motion as the pose skeleton "
           "(control_video). Our Load Audio's AUDIO goes into core Audio Encoder Encode.\n\n"
           "**Files** (names as in core's S2V template; docs/video_models.md):\n"
           f"- `models/diffusion_models/{S2V_MODEL}` (15.3 GB; or the bf16 file, 30.4 GB)\n"
           f"- `models/loras/{S2V_LORA}` (4-step LoRA: steps 4, CFG 1; without it: bypass the LoRA node, steps 20, CFG 6)\n"
           f"- `models/text_encoders/{WAN_TEXT_ENCODER}` (6.3 GB)\n"
           f"- `models/vae/{WAN_VAE}` (0.24 GB)\n"
           f"- `models/audio_encoders/{S2V_AUDIO_ENCODER}` (0.6 GB)\n\n"
           "**VRAM**: the fp8 diffusion model alone is 15.3 GB; plan on a 24 GB GPU at 640x640 (ComfyUI offloads "
           "the text and audio encoders). Not measured by this pack.\n\n"
           f"**Longer clips**: {S2V_WINDOWS} windows cover 15 s. For more, copy the last window's prompt, pose, "
           "Extend, KSampler and LatentConcat nodes, set the new window number, and chain the latent on.",
           (0, 820), (660, 420))
    return w.to_dict()


def humo(info) -> dict:
    """HuMo directed by SynchroRaMa: the emotion and scene prompt, the portrait, our audio."""
    w = UIWorkflow(info)
    dur = HUMO_LENGTH / 25.0   # one HuMo window: 97 frames at 25 fps
    n = _front_half(w, motion=False, duration_s=dur)
    L = _wan_loaders(w, 1060, 0, HUMO_MODEL, HUMO_LORA, HUMO_AUDIO_ENCODER, n["aud"])
    _, pos, neg = _texts(w, n, L["clip"], (1420, 0), "HuMo prompt", model="humo", window=-1, length=HUMO_LENGTH)
    cond = w.add("WanHuMoImageToVideo", (2140, 0), width=640, height=640, length=HUMO_LENGTH, batch_size=1)
    w.link(pos, 0, cond, "positive")
    w.link(neg, 0, cond, "negative")
    w.link(L["vae"], 0, cond, "vae")
    w.link(L["audio"], 0, cond, "audio_encoder_output")
    w.link(n["img"], 0, cond, "ref_image")
    ks = w.add("KSampler", (2140, 340), seed=0, steps=6, cfg=1.0, sampler_name="uni_pc", scheduler="simple",
               denoise=1.0)
    w.link(L["model"], 0, ks, "model")
    for i, name in enumerate(("positive", "negative", "latent_image")):
        w.link(cond, i, ks, name)
    dec = w.add("VAEDecode", (2500, 0))
    w.link(ks, 0, dec, "samples")
    w.link(L["vae"], 0, dec, "vae")
    vid = w.add("CreateVideo", (2500, 160), fps=25.0)
    w.link(dec, 0, vid, "images")
    w.link(n["aud"], 0, vid, "audio")
    save = w.add("SaveVideo", (2500, 320), filename_prefix="SynchroRaMa/humo")
    w.link(vid, 0, save, "video")
    w.note("## SynchroRaMa directs HuMo (GPU)\n\n"
           "SynchroRaMa turns the speech's emotion and the scene into HuMo's prompt; ComfyUI's own HuMo renders the "
           f"portrait speaking. HuMo makes one window of {HUMO_LENGTH} frames at 25 fps ({dur:.2f} s), so Load Audio "
           "takes that much of the speech.\n\n"
           "**Files** (names as in core's HuMo template; docs/video_models.md):\n"
           f"- `models/diffusion_models/{HUMO_MODEL}` (15.9 GB)\n"
           f"- `models/loras/{HUMO_LORA}` (step-distill LoRA: steps 6, CFG 1)\n"
           f"- `models/text_encoders/{WAN_TEXT_ENCODER}` (6.3 GB)\n"
           f"- `models/vae/{WAN_VAE}` (0.24 GB)\n"
           f"- `models/audio_encoders/{HUMO_AUDIO_ENCODER}` (2.9 GB)\n\n"
           "**VRAM**: the fp8 17B model alone is 15.9 GB; plan on a 24 GB GPU at 640x640. Not measured by this pack.",
           (0, 820), (660, 380))
    return w.to_dict()


WORKFLOWS = {
    "synchrorama_talking_portrait.json": talking_portrait,
    "synchrorama_speech_analysis.json": speech_analysis,
    "synchrorama_diffusion_sampler.json": diffusion_sampler,
    "synchrorama_wan_s2v.json": wan_s2v,
    "synchrorama_humo.json": humo,
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
