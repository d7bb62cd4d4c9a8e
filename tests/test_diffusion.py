"""Diffusion video sampler: offline loading, generation, windows, cancel, adapters, training, nodes.

Every model is a tiny randomly initialised SD1.5-architecture component (tests/helpers/tiny_diffusion.py)
saved the way creators have them, under their real file names in a ComfyUI-style models tree:
an original-layout single-file checkpoint, an LDM-layout face ControlNet, an original AnimateDiff
motion module and SynchroRaMa adapters, plus diffusers folders of the same weights.
"""
from __future__ import annotations

import os
import re
import socket
import types

import numpy as np
import pytest

from conftest import import_or_skip  # noqa: E402

torch = import_or_skip("torch")

from synchrorama_core.audio import speech_from_waveform  # noqa: E402
from synchrorama_core.diffusion import (LowVRAM, SamplerSettings, SRAdapters, frame_prompts,  # noqa: E402
                                        generate_video, load_models, plan_windows)
from synchrorama_core.diffusion import checkpoint as ckpt  # noqa: E402
from synchrorama_core.diffusion.adapters import AdapterFormatError, speech_condition  # noqa: E402
from synchrorama_core.diffusion.conditioning import prompt_weights  # noqa: E402
from synchrorama_core.errors import Cancelled, InvalidDataError, ModelNotFoundError  # noqa: E402
from synchrorama_core.types import EMOTIONS, EmotionData, SceneData  # noqa: E402
from helpers.tiny_diffusion import (FOLDERS, NAMES, build_components, motion_adapter,  # noqa: E402
                            motion_to_original, unet_to_ldm, vae_to_ldm, write_diffusers_folders,
                            write_tiny_models)

SIZE = 64


# ------------------------------------------------------------------------------ fixtures

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread is fastest


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    comps = build_components(0)
    root = tmp_path_factory.mktemp("ComfyUI") / "models"
    names = write_tiny_models(str(root), comps)
    folders = write_diffusers_folders(str(root), comps)
    assert names == NAMES
    return types.SimpleNamespace(root=root, names=names, folders=folders, unet=comps.unet, vae=comps.vae,
                                 te=comps.te, cn=comps.cn, ma=comps.ma,
                                 path=lambda kind, name=None: str(root / FOLDERS[kind] / (name or names[kind])),
                                 dirs=dict(checkpoint_dirs=[str(root / "checkpoints")],
                                           controlnet_dirs=[str(root / "controlnet")],
                                           motion_dirs=[str(root / "animatediff_models")],
                                           adapter_dirs=[str(root / "synchrorama" / "adapters")]))


@pytest.fixture(scope="module")
def models(tiny):
    return load_models(NAMES["checkpoint"], controlnet=NAMES["controlnet"], motion_adapter=NAMES["motion_module"],
                       device="cpu", **tiny.dirs)


@pytest.fixture(scope="module")
def speech(speech_16k):
    """Eight frames (0.32 s at 25 fps) of real synthesised speech."""
    y = speech_16k[16000:16000 + 5120]
    return speech_from_waveform(y, 25.0, source="espeak")


def motion_frames(n, size=SIZE):
    """Face-mesh-like drawings on black: an oval face, eyes and a mouth that opens and closes."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = np.zeros((n, size, size, 3), np.float32)
    c = size / 2
    for i in range(n):
        face = np.abs(((xx - c) / (0.32 * size)) ** 2 + ((yy - c) / (0.42 * size)) ** 2 - 1) < 0.08
        eyes = (((xx - c + 0.12 * size) ** 2 + (yy - 0.42 * size) ** 2) < 4) | \
               (((xx - c - 0.12 * size) ** 2 + (yy - 0.42 * size) ** 2) < 4)
        open_ = 0.02 + 0.06 * (0.5 + 0.5 * np.sin(i))
        mouth = np.abs(((xx - c) / (0.12 * size)) ** 2 + ((yy - 0.68 * size) / (open_ * size)) ** 2 - 1) < 0.25
        out[i][face | eyes | mouth] = 1.0
    return out


@pytest.fixture(scope="module")
def settings():
    return SamplerSettings(width=SIZE, height=SIZE, steps=2, cfg=2.0, seed=7, window=8, overlap=2)


@pytest.fixture(scope="module")
def baseline(models, astronaut, speech, settings):
    return generate_video(models, astronaut, motion_frames(speech.n_frames), speech, settings=settings)


@pytest.fixture()
def no_network(monkeypatch):
    """Fail any attempt to open a network connection."""
    def refuse(*a, **k):
        raise AssertionError(f"network access attempted: {a[1:] if len(a) > 1 else a}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert set(sa) == set(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


# ------------------------------------------------------------------------------ loading

def test_bundled_tokenizer_is_the_sd15_clip_tokenizer():
    from synchrorama_core.diffusion.tokenizer import load_tokenizer
    tok = load_tokenizer()
    assert len(tok) == 49408
    ids = tok("a photo of a cat", padding="max_length", max_length=77).input_ids
    assert ids[:7] == [49406, 320, 1125, 539, 320, 2368, 49407] and len(ids) == 77


def test_single_file_and_folder_load_the_exact_weights_offline(tiny, tmp_path, no_network):
    fo = tiny.folders
    for unet, vae, te, tok, sched in (ckpt.load_sd_single_file(tiny.path("checkpoint")),
                                      ckpt.load_sd_folder(tiny.path("checkpoint", fo["checkpoint"]))):
        _same_weights(unet, tiny.unet)
        _same_weights(vae, tiny.vae)
        _same_weights(te, tiny.te)
        assert tok("hello").input_ids[0] == 49406 and sched["prediction_type"] == "epsilon"
    _same_weights(ckpt.load_controlnet(tiny.path("controlnet")), tiny.cn)
    _same_weights(ckpt.load_controlnet(tiny.path("controlnet", fo["controlnet"])), tiny.cn)
    v3 = ckpt.load_motion_adapter(tiny.path("motion_module"))
    _same_weights(v3, tiny.ma)
    assert not v3.config.use_motion_mid_block
    _same_weights(ckpt.load_motion_adapter(tiny.path("motion_module", fo["motion_module"])), tiny.ma)
    # a v2-style module (with a mid-block motion module), as mm_sd_v15_v2 has it
    from safetensors.torch import save_file
    v2 = motion_adapter(11, mid_block=True)
    save_file(motion_to_original(v2), str(tmp_path / "mm_sd15_v2.safetensors"))
    back = ckpt.load_motion_adapter(str(tmp_path / "mm_sd15_v2.safetensors"))
    _same_weights(back, v2)
    assert back.config.use_motion_mid_block
    # the whole loader, by folder names, with every part (still offline)
    m = load_models(fo["checkpoint"], controlnet=fo["controlnet"], motion_adapter=fo["motion_module"],
                    device="cpu", **tiny.dirs)
    assert m.has_motion and m.motion_max_frames == 32 and m.controlnet is not None
    _same_weights(m.controlnet, tiny.cn)


def test_diffusers_layout_files_and_folder_settings_are_used(tiny, tmp_path):
    """Promise (loading what creators have): a ControlNet or motion module saved in diffusers layout as one
    file, with its config.json beside it, loads with its exact weights; a diffusers SD folder brings its
    own tokenizer (e.g. added trigger words) and scheduler settings, which are used, not the defaults."""
    import json
    import shutil
    for part, loader, ref in (("controlnet", ckpt.load_controlnet, tiny.cn),
                              ("motion_module", ckpt.load_motion_adapter, tiny.ma)):
        src = tiny.path(part, tiny.folders[part])
        dst = tmp_path / part
        dst.mkdir()
        shutil.copy(os.path.join(src, "config.json"), dst / "config.json")
        shutil.copy(os.path.join(src, "diffusion_pytorch_model.safetensors"), dst / "weights.safetensors")
        _same_weights(loader(str(dst / "weights.safetensors")), ref)
    folder = tmp_path / "sd"
    shutil.copytree(tiny.path("checkpoint", tiny.folders["checkpoint"]), folder)
    from transformers import CLIPTokenizer
    tok = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"))
    tok.add_tokens(["<sks-person>"])
    tok.save_pretrained(str(folder / "tokenizer"))
    (folder / "scheduler").mkdir()
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(
        {"_class_name": "DDIMScheduler", "prediction_type": "v_prediction", "beta_end": 0.02}))
    _, _, _, tok2, sched = ckpt.load_sd_folder(str(folder))
    assert tok2.convert_tokens_to_ids("<sks-person>") == len(tok) - 1 != tok2.unk_token_id
    assert sched["prediction_type"] == "v_prediction" and sched["beta_end"] == 0.02


def test_real_sd15_architecture_is_inferred_and_fully_mapped():
    """Full-size SD1.5 / ControlNet / AnimateDiff shapes (on the meta device, no memory): the
    architecture read from the original layout is SD1.5's and every weight finds its place."""
    from diffusers import AutoencoderKL, ControlNetModel, MotionAdapter, UNet2DConditionModel
    from diffusers.loaders import single_file_utils as sfu
    sd15 = dict(block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=768,
                attention_head_dim=8)
    with torch.device("meta"):
        unet = UNet2DConditionModel(**sd15)
        vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                            up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4)
        cn = ControlNetModel(**sd15)
        ma = MotionAdapter()
    for model, ldm, infer, convert, keys in (
            (unet, unet_to_ldm(unet), lambda s: ckpt.infer_unet_config(s, ckpt.UNET_PREFIX),
             sfu.convert_ldm_unet_checkpoint, ("block_out_channels", "layers_per_block", "cross_attention_dim")),
            (vae, {k[len("first_stage_model."):]: v for k, v in vae_to_ldm(vae).items()}, ckpt.infer_vae_config,
             sfu.convert_ldm_vae_checkpoint, ("block_out_channels", "layers_per_block", "latent_channels")),
            (cn, unet_to_ldm(cn, prefix=""), ckpt.infer_controlnet_config, sfu.convert_controlnet_checkpoint,
             ("block_out_channels", "conditioning_embedding_out_channels", "cross_attention_dim")),
            (ma, motion_to_original(ma), ckpt.infer_motion_config, lambda s, c: sfu.convert_animatediff_checkpoint_to_diffusers(s),
             ("block_out_channels", "motion_layers_per_block", "motion_max_seq_length", "use_motion_mid_block"))):
        cfg = infer(ldm)
        for k in keys:
            want = model.config[k]
            assert (list(want) if isinstance(want, (tuple, list)) else want) == \
                (list(cfg[k]) if isinstance(cfg[k], (tuple, list)) else cfg[k]), (type(model).__name__, k)
        conv = convert(dict(ldm), cfg)
        own = model.state_dict()
        missing = [k for k in own if k not in conv and not k.endswith("pos_embed.pe")]
        assert not missing, missing[:5]
        assert all(tuple(conv[k].shape) == tuple(own[k].shape) for k in own if k in conv)
    assert ckpt.infer_unet_config(unet_to_ldm(unet), ckpt.UNET_PREFIX)["down_block_types"] == \
        ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"]


def test_missing_models_name_the_expected_path(tiny):
    d = tiny.dirs["checkpoint_dirs"][0]
    with pytest.raises(ModelNotFoundError) as e:
        load_models("dreamshaper_8.safetensors", **tiny.dirs)
    assert os.path.join(d, "dreamshaper_8.safetensors") in str(e.value) and "never downloaded" in str(e.value)
    with pytest.raises(ModelNotFoundError) as e:
        load_models(NAMES["checkpoint"], controlnet="control_sd15_face_missing.safetensors", **tiny.dirs)
    assert os.path.join(tiny.dirs["controlnet_dirs"][0], "control_sd15_face_missing.safetensors") in str(e.value)
    with pytest.raises(ModelNotFoundError) as e:
        load_models(NAMES["checkpoint"], motion_adapter="mm_sd_v15_v2.ckpt", **tiny.dirs)
    assert os.path.join(tiny.dirs["motion_dirs"][0], "mm_sd_v15_v2.ckpt") in str(e.value)
    with pytest.raises(ModelNotFoundError) as e:
        load_models(NAMES["checkpoint"], adapters="mine.safetensors", **tiny.dirs)
    assert os.path.join(tiny.dirs["adapter_dirs"][0], "mine.safetensors") in str(e.value)


def test_wrong_files_are_refused_clearly(tiny, tmp_path):
    from safetensors.torch import save_file
    sdxl = tmp_path / "sdxl.safetensors"
    save_file({"conditioner.embedders.1.model.ln_final.weight": torch.zeros(4),
               "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 4, 3, 3)}, str(sdxl))
    with pytest.raises(ckpt.CheckpointFormatError, match="SDXL"):
        load_models(str(sdxl))
    with pytest.raises(ckpt.CheckpointFormatError, match="not a ControlNet"):
        ckpt.load_controlnet(tiny.path("motion_module"))
    with pytest.raises(ckpt.CheckpointFormatError, match="motion module"):
        ckpt.load_motion_adapter(tiny.path("controlnet"))
    bad = tmp_path / "junk.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ckpt.CheckpointFormatError, match="not a readable"):
        load_models(str(bad))


@pytest.mark.parametrize("part", ["checkpoint", "controlnet", "motion_module", "adapters"])
def test_every_diffusion_loader_refuses_a_pickle(tiny, tmp_path, part):
    """Promise (safe loading): weights load only from safetensors.  A pickle-based file, in every form a
    creator could pick for each part of the sampler (a .ckpt/.pt/.pth/.bin file by name, a diffusers
    folder whose weights are a pickled .bin, a pickle renamed .safetensors, file or folder), is refused
    by ``load_models`` with an error naming it, and is never unpickled."""
    import pickle
    import shutil

    from helpers.pickles import replace_weights_with_pickle, write_pickle
    marker = tmp_path / "unpickled.txt"
    control = write_pickle(tmp_path / "control.pkl", tmp_path / "control.txt")
    with open(control, "rb") as f:
        pickle.load(f)
    assert (tmp_path / "control.txt").exists()  # the payload works: a loader that unpickled would be caught

    root = tmp_path / "models"
    kw = {"checkpoint_dirs": [str(root / "checkpoints")], "controlnet_dirs": [str(root / "controlnet")],
          "motion_dirs": [str(root / "animatediff_models")], "adapter_dirs": [str(root / "adapters")]}
    for d in kw.values():
        os.makedirs(d[0])
    arg = {"checkpoint": "checkpoint", "controlnet": "controlnet", "motion_module": "motion_adapter",
           "adapters": "adapters"}[part]
    folder = {"checkpoint": "checkpoints", "controlnet": "controlnet", "motion_module": "animatediff_models",
              "adapters": "adapters"}[part]
    names = [write_pickle(root / folder / f"evil{ext}", marker) for ext in (".ckpt", ".pt", ".pth", ".bin")]
    names.append(write_pickle(root / folder / "renamed.safetensors", marker))
    for how in ("pickled", "renamed") if part in tiny.folders else ():  # diffusers folders of this part
        dst = root / folder / f"{how}_diffusers"
        shutil.copytree(tiny.path(part, tiny.folders[part]), dst)
        for sub in ("unet", "vae", "text_encoder") if part == "checkpoint" else ("",):
            stem = "pytorch_model" if sub == "text_encoder" else "diffusion_pytorch_model"
            pkl = replace_weights_with_pickle(dst / sub, marker, stem + ".bin")
            if how == "renamed":  # a pickle under the safetensors name
                os.replace(pkl, dst / sub / (stem + ".safetensors"))
        names.append(str(dst))
    # load_models loads the checkpoint first; the other parts' own loaders are what it calls for them
    direct = {"checkpoint": None, "controlnet": ckpt.load_controlnet, "motion_module": ckpt.load_motion_adapter,
              "adapters": SRAdapters.load}[part]
    refused = 0
    for i, name in enumerate(names):
        with pytest.raises((InvalidDataError, ModelNotFoundError, AdapterFormatError)) as e:
            if direct is None or i == 0:
                base = {} if part == "checkpoint" else {"checkpoint": tiny.path("checkpoint")}
                load_models(**{**base, arg: os.path.basename(name)}, device="cpu", **kw)
            else:
                direct(name)
        assert os.path.basename(name) in str(e.value), str(e.value)
        assert not marker.exists(), f"{name} was unpickled"
        refused += 1
    assert refused == len(names) == (7 if part in tiny.folders else 5)


# ------------------------------------------------------------------------------ generation

def test_generation_shapes_range_and_determinism(models, astronaut, speech, settings, baseline):
    n = speech.n_frames
    assert n == 8 and baseline.shape == (n, SIZE, SIZE, 3) and baseline.dtype == np.float32
    assert np.isfinite(baseline).all() and baseline.min() >= 0 and baseline.max() <= 1
    assert baseline.std() > 0.01
    again = generate_video(models, astronaut, motion_frames(n), speech, settings=settings)
    np.testing.assert_array_equal(again, baseline)
    other = generate_video(models, astronaut, motion_frames(n), speech,
                           settings=SamplerSettings(**{**settings.__dict__, "seed": 8}))
    assert np.abs(other - baseline).mean() > 1e-3


def test_controls_change_the_frames(models, astronaut, speech, settings, baseline):
    n = speech.n_frames
    mf = motion_frames(n)

    def run(refs=astronaut, frames=mf, **kw):
        return generate_video(models, refs, frames, speech, settings=SamplerSettings(**{**settings.__dict__, **kw}))
    diff = lambda a: float(np.abs(a - baseline).mean())  # noqa: E731
    assert diff(run(reference_strength=0.0)) > 1e-4          # reference attention acts
    assert diff(run(refs=astronaut[::-1, ::-1].copy())) > 1e-4  # ... and follows the reference image
    assert diff(run(control_strength=0.0)) > 1e-4            # the ControlNet acts
    assert diff(run(frames=mf[:, ::-1].copy())) > 1e-4        # ... and follows the motion frames
    assert diff(run(prompt="an old man shouting")) > 1e-4    # the text condition acts


def test_windows_cover_every_frame_exactly(models, astronaut, speech_16k):
    # the last window is moved back to full length (a short window gives the motion module fewer frames)
    assert plan_windows(11, 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10), (7, 11)]
    assert plan_windows(16, 16, 4) == [(0, 16)] and plan_windows(3, 8, 4) == [(0, 3)]
    for n, w, o in ((1, 4, 1), (17, 5, 0), (40, 16, 4), (33, 8, 7), (22, 8, 4)):
        win = plan_windows(n, w, o)
        assert win[0][0] == 0 and win[-1][1] == n and all(b - a == min(w, n) for a, b in win)
        assert all(win[i + 1][0] == win[i][1] - o for i in range(len(win) - 2))
        assert len(win) == 1 or win[-2][1] - o >= win[-1][0] > win[-2][0]
    sp = speech_from_waveform(speech_16k[8000:8000 + 7040], 25.0)  # 0.44 s -> 11 frames
    assert sp.n_frames == 11
    s = SamplerSettings(width=SIZE, height=SIZE, steps=2, cfg=1.0, window=4, overlap=2, seed=3)
    seen = []
    out = generate_video(models, astronaut, motion_frames(11), sp, settings=s, progress=lambda d, t: seen.append((d, t)))
    assert out.shape == (11, SIZE, SIZE, 3) and np.isfinite(out).all()
    assert seen[-1][0] == seen[-1][1] == 5 * 2 + 2  # 5 windows x 2 steps + 2 decoded batches of 8
    # the windows' predictions are fused per frame with pyramid (default) or uniform weights
    from synchrorama_core.diffusion.sampler import fuse_weights
    assert fuse_weights(4).tolist() == [1, 2, 2, 1] and fuse_weights(5).tolist() == [1, 2, 3, 2, 1]
    assert fuse_weights(4, "uniform").tolist() == [1, 1, 1, 1]
    uniform = generate_video(models, astronaut, motion_frames(11), sp,
                             settings=SamplerSettings(**{**s.__dict__, "context_fuse": "uniform"}))
    assert not np.array_equal(out, uniform)
    with pytest.raises(InvalidDataError, match="context_fuse"):
        generate_video(models, astronaut, motion_frames(11), sp,
                       settings=SamplerSettings(**{**s.__dict__, "context_fuse": "mean"}))


def test_window_seams_are_blended(models, astronaut, speech_16k, monkeypatch):
    """Long audio: where the set of windows a frame belongs to changes there is no visible jump.

    Measured as the mean absolute difference between consecutive frames: the jumps where the
    set of windows a frame comes from changes ("boundary") against the median of the others.
    Tiny random models cannot denoise, so with the usual independent noise per frame every
    frame is a different noise image (consecutive frames differ by ~0.26, as much as frames
    far apart) and no seam is measurable.  The test therefore gives all frames the same initial
    noise (as the sampler does without a motion module); the motion module still denoises each
    window together, and a frame's prediction depends on its window (temporal attention over the
    window's frames and positions), so a change of windows is a real seam unless it is blended.
    """
    sp = speech_from_waveform(speech_16k[16000:16000 + 22 * 640], 25.0)  # 22 frames: the last window moves back
    assert sp.n_frames == 22
    blended = _seam_ratio(models, astronaut, sp, monkeypatch, overlap=4)                         # pyramid fuse
    uniform = _seam_ratio(models, astronaut, sp, monkeypatch, overlap=4, context_fuse="uniform")
    hard = _seam_ratio(models, astronaut, sp, monkeypatch, overlap=0)  # no overlap: windows cut against each other
    # measured (2 steps): pyramid 1.14, uniform 2.46 (a frame's mix jumps from one window to an even
    # split where the next window starts; reported, not asserted), hard cuts 3.09.  The sequential
    # windows this replaced measured 1.12 with their pixel cross-fade alone and 2.39 with their
    # default latent carry (0.8); 3.91 under dpmpp_2m/unipc
    assert blended < 1.6, f"window boundaries jump {blended:.2f}x the inside-window median despite fusing"
    assert np.isfinite(uniform)
    assert hard > 2.0 and hard > 1.5 * blended, "the measurement no longer sees hard window cuts"


def test_cancel_stops_within_one_step(models, astronaut, speech, settings):
    calls = []
    h = models.unet.register_forward_hook(lambda *a: calls.append(1))
    ticks = []
    try:
        with pytest.raises(Cancelled):
            generate_video(models, astronaut, motion_frames(speech.n_frames), speech,
                           settings=SamplerSettings(**{**settings.__dict__, "steps": 10}),
                           progress=lambda d, t: ticks.append(d), cancelled=lambda: len(ticks) >= 1)
    finally:
        h.remove()
    # one denoising step = one reference pass + one (guided) frame pass
    assert ticks == [1] and len(calls) == 2
    assert models.state.mode == "off" and not models.state.bank


def test_bad_inputs_are_reported(models, astronaut, speech, settings):
    n = speech.n_frames
    with pytest.raises(InvalidDataError, match="motion frames"):
        generate_video(models, astronaut, motion_frames(n - 1), speech, settings=settings)
    with pytest.raises(InvalidDataError, match="reference"):
        generate_video(models, None, motion_frames(n), speech, settings=settings)
    with pytest.raises(InvalidDataError, match="multiples of"):
        generate_video(models, astronaut, motion_frames(n), speech,
                       settings=SamplerSettings(**{**settings.__dict__, "width": 72}))
    with pytest.raises(InvalidDataError, match="motion module"):
        generate_video(models, astronaut, motion_frames(n), speech,
                       settings=SamplerSettings(**{**settings.__dict__, "window": 40}))
    with pytest.raises(InvalidDataError, match="no motion frames"):
        generate_video(models, astronaut, None, speech, settings=settings)


def test_text_follows_scene_segments_and_emotion():
    fps, n = 25.0, 100
    scene = SceneData(duration_s=4.0, prompt="studio portrait", segments=[
        {"start_s": 0.0, "end_s": 2.0, "description": "greets the viewer", "actions": ["waves"]},
        {"start_s": 2.0, "end_s": 4.0, "description": "tells a sad story"}])
    probs = np.zeros((n, len(EMOTIONS)), np.float32)
    probs[:50, EMOTIONS.index("happy")] = 1
    probs[50:, EMOTIONS.index("sad")] = 1
    probs[20, :] = 0
    probs[20, EMOTIONS.index("angry")] = 1  # a one-frame blip must not change the prompt
    em = EmotionData(fps=fps, duration_s=4.0, probs=probs, valence=np.zeros(n), arousal=np.zeros(n),
                     intensity=np.full(n, 0.9, np.float32))
    prompts, idx = frame_prompts(n, fps, "", scene, em)
    assert len(prompts) == 2 and idx[0] == 0 and idx[-1] == 1 and idx[49] == 0 and idx[50] == 1
    assert "greets the viewer" in prompts[0] and "waves" in prompts[0] and "very happy" in prompts[0]
    assert "sad story" in prompts[1] and "sad expression" in prompts[1] and "studio portrait" in prompts[1]
    w = prompt_weights(idx, 2, 6)
    np.testing.assert_allclose(w.sum(1), 1, atol=1e-6)
    assert w[0, 0] == 1 and 0 < w[50, 1] < 1 and w[-1, 1] == 1


def test_low_vram_options_give_the_same_frames(tiny, astronaut, speech, settings, baseline):
    m = load_models(NAMES["checkpoint"], controlnet=NAMES["controlnet"], motion_adapter=NAMES["motion_module"],
                    device="cpu", low_vram=LowVRAM(vae_slicing=True, vae_tiling=True, cpu_offload=True,
                                                   attention_slice=3), **tiny.dirs)
    out = generate_video(m, astronaut, motion_frames(speech.n_frames), speech, settings=settings)
    np.testing.assert_allclose(out, baseline, atol=2e-3)


def test_without_motion_module_frames_share_the_noise(tiny, astronaut, speech):
    m = load_models(NAMES["checkpoint"], device="cpu", **tiny.dirs)
    s = SamplerSettings(width=SIZE, height=SIZE, steps=2, cfg=1.0, window=4, overlap=0, reference_strength=0.0)
    out = generate_video(m, astronaut, None, speech, settings=s)
    assert out.shape == (speech.n_frames, SIZE, SIZE, 3) and not m.has_motion
    # same noise, same text, no ControlNet: every frame is the same image
    np.testing.assert_allclose(out[0], out[-1], atol=1e-5)


# ------------------------------------------------------------------------------ adapters and training

def test_adapters_zero_init_is_identity_trained_changes_output(tiny, models, astronaut, speech, settings, baseline):
    cond, source = speech_condition(speech)
    assert cond.shape == (speech.n_frames, 19) and source == "features:v1" and np.isfinite(cond).all()
    adir = tiny.dirs["adapter_dirs"][0]
    zero = SRAdapters.for_unet(models.unet, cond.shape[1], source)
    zero.save(os.path.join(adir, "zero.safetensors"))
    kw = dict(controlnet=NAMES["controlnet"], motion_adapter=NAMES["motion_module"], device="cpu", **tiny.dirs)
    m0 = load_models(NAMES["checkpoint"], adapters="zero.safetensors", **kw)
    assert m0.adapters is not None
    out0 = generate_video(m0, astronaut, motion_frames(speech.n_frames), speech, settings=settings)
    np.testing.assert_array_equal(out0, baseline)
    # the adapter file in the models tree (non-zero output projections, as after training)
    m1 = load_models(NAMES["checkpoint"], adapters=NAMES["adapters"], **kw)
    assert any(float(p.abs().max()) > 0 for n_, p in m1.adapters.named_parameters() if "to_out" in n_)
    out1 = generate_video(m1, astronaut, motion_frames(speech.n_frames), speech, settings=settings)
    assert np.abs(out1 - baseline).mean() > 1e-4
    off = generate_video(m1, astronaut, motion_frames(speech.n_frames), speech,
                         settings=SamplerSettings(**{**settings.__dict__, "audio_strength": 0.0, "emotion_strength": 0.0}))
    np.testing.assert_allclose(off, baseline, atol=1e-6)
    # an adapter made for another audio condition is refused with the reason
    m1.adapters.config["audio_dim"] = 768
    with pytest.raises(AdapterFormatError, match="768"):
        generate_video(m1, astronaut, motion_frames(speech.n_frames), speech, settings=settings)


def test_one_training_step_lowers_the_loss(models, astronaut, speech):
    from synchrorama_core.diffusion.adapters import audio_windows, emotion_condition
    from synchrorama_core.diffusion.conditioning import fit_images
    from synchrorama_core.diffusion.sampler import encode_prompts
    from synchrorama_core.training.adapters import adapter_loss, train_step
    n = 4
    frames = np.stack([np.roll(astronaut, 6 * i, axis=1) for i in range(n)])
    with torch.no_grad():
        px = fit_images(frames, SIZE, SIZE) * 2 - 1
        lat = models.vae.encode(px).latent_dist.mean * models.vae.config.scaling_factor
    cond, source = speech_condition(speech)
    ad = SRAdapters.for_unet(models.unet, cond.shape[1], source).requires_grad_(True)
    batch = {"latents": lat, "ref_latents": lat[:1], "text_emb": encode_prompts(models, ["a person talking"]).expand(n, -1, -1),
             "audio": torch.from_numpy(audio_windows(cond, 2)[:n]), "emotion": torch.from_numpy(emotion_condition(None, n)),
             "control": fit_images(motion_frames(n), SIZE, SIZE)}
    noise = torch.randn(lat.shape, generator=torch.Generator().manual_seed(1))
    ref_noise = torch.randn(lat[:1].shape, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([500])
    with torch.no_grad():
        before = float(adapter_loss(models, ad, lat, lat[:1], batch["text_emb"], batch["audio"], batch["emotion"],
                                    noise, t, batch["control"], ref_noise=ref_noise))
    opt = torch.optim.Adam(ad.parameters(), lr=1e-3)
    reported = train_step(models, ad, opt, batch, noise=noise, t=t, ref_noise=ref_noise)
    with torch.no_grad():
        after = float(adapter_loss(models, ad, lat, lat[:1], batch["text_emb"], batch["audio"], batch["emotion"],
                                   noise, t, batch["control"], ref_noise=ref_noise))
    assert reported == pytest.approx(before, rel=1e-5)
    assert after < before
    assert all(not p.requires_grad for p in models.unet.parameters())


def test_training_script_on_a_video_folder(tiny, tmp_path, make_speech, astronaut):
    from synchrorama_core.audio import load_speech_waveform
    from synchrorama_core.training.adapters import main
    from synchrorama_core.video import write_video
    data = tmp_path / "videos" / "happy" / "level_3"
    data.mkdir(parents=True)
    wav = load_speech_waveform(make_speech("Good morning."))[:16000]
    frames = np.stack([np.roll(astronaut[::8, ::8], i, axis=0) for i in range(25)])
    write_video(str(data / "clip.mp4"), frames, 25.0, audio=wav, sample_rate=16000)
    out = tmp_path / "adapters" / "trained.safetensors"
    rc = main(["--data", str(tmp_path / "videos"), "--checkpoint", tiny.path("checkpoint"),
               "--motion-adapter", tiny.path("motion_module"),
               "--out", str(out), "--size", "64", "--frames", "4", "--steps", "2", "--lr", "1e-3", "--device", "cpu"])
    assert rc == 0 and out.is_file()
    ad = SRAdapters.load(str(out))
    assert ad.config["audio_source"] == "features:v1" and ad.config["audio_dim"] == 19
    assert any(float(p.abs().max()) > 0 for n_, p in ad.named_parameters() if "to_out" in n_)  # it learned
    from synchrorama_core.training.adapters import emotion_for
    v = emotion_for(str(data / "clip.mp4"), 3, 25.0)
    assert v[0, EMOTIONS.index("happy")] == 1 and v[0, -1] == pytest.approx(1.0)


def test_training_script_checks_its_output_before_any_work(tiny, tmp_path, make_speech, astronaut, capsys):
    """An ``--out`` that cannot be written (here: under a file) is one ``error:`` line and exit code 2
    before the models are loaded or a step is trained; so is an ``--out`` that is not ``.safetensors``
    (the adapters load only from those)."""
    from synchrorama_core.audio import load_speech_waveform
    from synchrorama_core.training.adapters import main
    from synchrorama_core.video import write_video
    data = tmp_path / "videos"
    data.mkdir()
    wav = load_speech_waveform(make_speech("Good morning."))[:16000]
    write_video(str(data / "clip.mp4"), np.stack([np.roll(astronaut[::8, ::8], i, axis=0) for i in range(25)]), 25.0,
                audio=wav, sample_rate=16000)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    common = ["--data", str(data), "--checkpoint", tiny.path("checkpoint"), "--size", "64", "--frames", "4",
              "--steps", "2", "--device", "cpu"]
    for out, needle in ((blocker / "trained.safetensors", "not_a_folder"), (tmp_path / "trained.pt", ".safetensors")):
        capsys.readouterr()
        assert main(common + ["--out", str(out)]) == 2
        got = capsys.readouterr()
        lines = [ln for ln in got.err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], got.err
        assert "step" not in got.out and "frames" not in got.out, got.out    # no clip prepared, no step trained
    assert sorted(os.listdir(tmp_path)) == ["not_a_folder", "videos"]


# ------------------------------------------------------------------------------ nodes

def test_nodes_load_and_sample(pack, tiny, monkeypatch, astronaut, speech_16k):
    """Load Diffusion Models -> Video Sampler as a workflow runs them, standalone (no ComfyUI): the
    ComfyUI models tree is found through COMFYUI_MODELS, the adapters through SYNCHRORAMA_MODELS."""
    monkeypatch.setenv("COMFYUI_MODELS", str(tiny.root))
    monkeypatch.setenv("SYNCHRORAMA_MODELS", str(tiny.root / "synchrorama"))
    maps = pack.NODE_CLASS_MAPPINGS
    loader, sampler = maps["SynchroRaMaLoadDiffusionModels"], maps["SynchroRaMaVideoSampler"]
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["SynchroRaMaVideoSampler"] == "SynchroRaMa Video Sampler"
    assert loader.CATEGORY == sampler.CATEGORY == "SynchroRaMa/diffusion"
    req = loader.INPUT_TYPES()["required"]
    assert {NAMES["checkpoint"], tiny.folders["checkpoint"]} <= set(req["checkpoint"][0])
    assert {"none", NAMES["controlnet"], tiny.folders["controlnet"]} <= set(req["controlnet"][0])
    assert {"none", NAMES["motion_module"], tiny.folders["motion_module"]} <= set(req["motion_module"][0])
    assert {"none", NAMES["adapters"]} <= set(req["adapters"][0])
    widgets = dict(checkpoint=NAMES["checkpoint"], controlnet=NAMES["controlnet"], motion_module=NAMES["motion_module"],
                   adapters=NAMES["adapters"], dtype="auto")
    (m,) = loader().load(**widgets)
    assert (m,) == loader().load(**widgets)  # cached
    assert m.has_motion and m.controlnet is not None and m.adapters is not None
    # 4 frames of real speech through the audio stage's node
    audio = {"waveform": torch.from_numpy(speech_16k[16000:16000 + 2560].copy())[None, None], "sample_rate": 16000}
    (speech,) = maps["SynchroRaMaSpeechFeatures"]().analyze(audio, fps=25.0)
    assert speech.n_frames == 4
    ref = torch.from_numpy(astronaut)[None]
    mf = torch.from_numpy(motion_frames(4))
    img, fps = sampler().sample(m, speech, width=SIZE, height=SIZE, steps=2, cfg=2.0, seed=1, scheduler="ddim",
                                window=16, overlap=4, reference=ref, motion_frames=mf)
    assert tuple(img.shape) == (4, SIZE, SIZE, 3) and img.dtype == torch.float32
    assert fps == 25.0      # the speech's fps, for Save Video
    assert torch.isfinite(img).all() and 0 <= float(img.min()) and float(img.max()) <= 1
    assert float(img.std()) > 0.01
    # workflows saved before the context windows still run: carry_strength keeps its widget slot
    # (widget values are stored by position) and is ignored; context_fuse comes after it
    opt = list(sampler.INPUT_TYPES()["optional"])
    assert opt.index("carry_strength") < opt.index("emotion_phrase") < opt.index("context_fuse") == len(opt) - 1
    old, _ = sampler().sample(m, speech, width=SIZE, height=SIZE, steps=2, cfg=2.0, seed=1, scheduler="ddim",
                              window=16, overlap=4, reference=ref, motion_frames=mf, carry_strength=0.8)
    torch.testing.assert_close(old, img)
    # a model the tree does not have: the error names the path the node looked at
    with pytest.raises(ModelNotFoundError, match=re.escape(str(tiny.root / "controlnet" / "control_missing.safetensors"))):
        loader().load(**{**widgets, "controlnet": "control_missing.safetensors"})


def test_every_scheduler_runs_context_windows(models, astronaut, speech):
    """Promise (scheduler choice): every scheduler samples the context windows to valid frames, and the
    choice is used: from the same seed each gives its own frames (a sampler that ignored the choice
    would give one result five times)."""
    import itertools

    from synchrorama_core.diffusion.sampler import SCHEDULERS
    # uint8 inputs (as the drawing and image loaders give them) are accepted too
    mf = (motion_frames(speech.n_frames) * 255).astype(np.uint8)
    outs = {}
    for scheduler in SCHEDULERS:
        s = SamplerSettings(width=SIZE, height=SIZE, steps=3, cfg=1.5, seed=2, window=4, overlap=2,
                            scheduler=scheduler)
        outs[scheduler] = generate_video(models, (astronaut * 255).astype(np.uint8), mf, speech, settings=s)
        assert outs[scheduler].shape == (speech.n_frames, SIZE, SIZE, 3) and np.isfinite(outs[scheduler]).all()
    ref = generate_video(models, astronaut, motion_frames(speech.n_frames), speech, settings=s)
    np.testing.assert_allclose(outs[SCHEDULERS[-1]], ref, atol=0.02)
    diff = {(a, b): float(np.abs(outs[a] - outs[b]).mean()) for a, b in itertools.combinations(SCHEDULERS, 2)}
    assert min(diff.values()) > 1e-3, diff  # measured: >= 0.002 (dpmpp_2m vs unipc), the others >= 0.008


# ------------------------------------------------------------------------------ what real weights would meet

def _spy_cross_attention(monkeypatch, record):
    """Record ``(processor state, hidden rows, context)`` of every SynchroRaMa cross-attention call."""
    from synchrorama_core.diffusion import attention
    call = attention.ConditionCrossAttnProcessor.__call__

    def spy(self, attn, hidden_states, encoder_hidden_states=None, *a, **k):
        st = self.state
        record.append(dict(rows=hidden_states.shape[0], ctx=None if encoder_hidden_states is None else
                           encoder_hidden_states.detach().clone(), mode=st.mode,
                           audio=None if st.audio_tokens is None else st.audio_tokens.detach().clone(),
                           emotion=None if st.emotion_tokens is None else st.emotion_tokens.detach().clone()))
        return call(self, attn, hidden_states, encoder_hidden_states, *a, **k)
    monkeypatch.setattr(attention.ConditionCrossAttnProcessor, "__call__", spy)


def test_cross_attention_refuses_a_context_of_another_batch():
    """diffusers 0.30's motion UNet repeats the (already per-frame) text per frame; slicing that
    context by hidden rows silently gave every row the negative prompt.  The processor must refuse."""
    from diffusers.models.attention_processor import Attention
    from synchrorama_core.diffusion.attention import AttentionState, ConditionCrossAttnProcessor
    attn = Attention(query_dim=32, cross_attention_dim=32, heads=2, dim_head=16)
    attn.set_processor(ConditionCrossAttnProcessor(AttentionState(), "x"))
    x = torch.randn(4, 10, 32)
    assert attn(x, encoder_hidden_states=torch.randn(4, 77, 32)).shape == x.shape
    with pytest.raises(InvalidDataError, match="16 rows.*4 hidden"):
        attn(x, encoder_hidden_states=torch.randn(16, 77, 32))


def test_every_frame_row_attends_to_its_own_text(models, astronaut, speech, settings, monkeypatch):
    from synchrorama_core.diffusion.conditioning import DEFAULT_NEGATIVE
    from synchrorama_core.diffusion.sampler import encode_prompts
    seen = []
    _spy_cross_attention(monkeypatch, seen)
    n = speech.n_frames
    generate_video(models, astronaut, motion_frames(n), speech, settings=SamplerSettings(**{**settings.__dict__,
                                                                                              "steps": 1}))
    prompts, _ = frame_prompts(n, speech.fps, settings.prompt)
    cond, neg = encode_prompts(models, prompts)[0], encode_prompts(models, [DEFAULT_NEGATIVE])[0]
    guided = [r for r in seen if r["mode"] == "read"]
    assert guided
    for r in guided:
        assert r["ctx"].shape[0] == r["rows"] == 2 * n, "each UNet row needs exactly one context row"
        torch.testing.assert_close(r["ctx"][n:], cond.expand(n, -1, -1))
        torch.testing.assert_close(r["ctx"][:n], neg.expand(n, -1, -1))


def test_old_diffusers_is_refused_with_a_motion_module(tiny, monkeypatch):
    import diffusers
    for f in ("requirements.txt", "pyproject.toml"):
        text = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), f), encoding="utf-8").read()
        assert re.search(r'diffusers>=0\.3[1-9]', text), f"{f} must require diffusers>=0.31"
    monkeypatch.setattr(diffusers, "__version__", "0.30.3")
    with pytest.raises(InvalidDataError, match=r"diffusers 0\.30\.3.*0\.31"):
        load_models(NAMES["checkpoint"], motion_adapter=NAMES["motion_module"], device="cpu", **tiny.dirs)
    load_models(NAMES["checkpoint"], device="cpu", **tiny.dirs)  # without a motion module 0.30 is fine


def _training_batch(models, astronaut, speech, n=4):
    from synchrorama_core.diffusion.adapters import audio_windows, emotion_condition
    from synchrorama_core.diffusion.conditioning import fit_images
    from synchrorama_core.diffusion.sampler import encode_prompts
    frames = np.stack([np.roll(astronaut, 6 * i, axis=1) for i in range(n)])
    with torch.no_grad():
        px = (fit_images(frames, SIZE, SIZE) * 2 - 1).to(models.vae_dtype)
        lat = (models.vae.encode(px).latent_dist.mean * models.vae.config.scaling_factor).float()
    cond, _ = speech_condition(speech)
    return {"latents": lat, "ref_latents": lat[:1], "text_emb": encode_prompts(models, ["a person talking"]).expand(n, -1, -1),
            "audio": torch.from_numpy(audio_windows(cond, 2)[:n]), "emotion": torch.from_numpy(emotion_condition(None, n)),
            "control": fit_images(motion_frames(n), SIZE, SIZE)}


def test_training_with_half_precision_frozen_models(tiny, astronaut, speech):
    """On a GPU the frozen models load in fp16 while the adapters train in fp32 (bf16 on CPU stands in)."""
    from synchrorama_core.training.adapters import train_step
    m = load_models(NAMES["checkpoint"], controlnet=NAMES["controlnet"], motion_adapter=NAMES["motion_module"],
                    device="cpu", dtype="bf16", **tiny.dirs)
    assert m.dtype == torch.bfloat16
    cond, source = speech_condition(speech)
    ad = SRAdapters.for_unet(m.unet, cond.shape[1], source).to(torch.float32).requires_grad_(True)
    m.state.adapters = ad
    batch = _training_batch(m, astronaut, speech)
    before = {k: v.detach().clone() for k, v in ad.state_dict().items()}
    opt = torch.optim.Adam(ad.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    losses = [train_step(m, ad, opt, batch, generator=g) for _ in range(2)]
    assert all(np.isfinite(losses))
    assert all(p.dtype == torch.float32 for p in ad.parameters())
    assert any(not torch.equal(before[k], v) for k, v in ad.state_dict().items() if "to_out" in k)


def test_training_step_with_a_loss_scaler(models, astronaut, speech):
    """fp16 backward needs a loss scaler; the step unscales before clipping and skips on overflow."""
    from synchrorama_core.training.adapters import adapter_loss, train_step
    batch = _training_batch(models, astronaut, speech)
    cond, source = speech_condition(speech)
    ad = SRAdapters.for_unet(models.unet, cond.shape[1], source).requires_grad_(True)
    noise = torch.randn(batch["latents"].shape, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([500])
    ref_noise = torch.randn(batch["ref_latents"].shape, generator=torch.Generator().manual_seed(2))
    args = (batch["latents"], batch["ref_latents"], batch["text_emb"], batch["audio"], batch["emotion"], noise, t,
            batch["control"])
    with torch.no_grad():
        before = float(adapter_loss(models, ad, *args, ref_noise=ref_noise))
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    opt = torch.optim.Adam(ad.parameters(), lr=1e-3)
    train_step(models, ad, opt, batch, noise=noise, t=t, ref_noise=ref_noise, scaler=scaler)
    with torch.no_grad():
        after = float(adapter_loss(models, ad, *args, ref_noise=ref_noise))
    assert after < before and scaler.get_scale() == 2.0 ** 10


def test_training_draws_the_style_the_workflow_feeds_the_controlnet():
    import json
    from synchrorama_core.training.adapters import build_parser
    args = build_parser().parse_args(["--data", "d", "--checkpoint", "c", "--out", "o.safetensors"])
    wf = json.load(open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "workflows",
                                     "synchrorama_diffusion_sampler.json"), encoding="utf-8"))
    (node,) = [n for n in wf["nodes"] if n["type"] == "SynchroRaMaMotionFrames"]
    assert node["widgets_values"][0] == "laion_face"
    assert args.style == node["widgets_values"][0]


def _seam_ratio(models, astronaut, sp, monkeypatch, **kw):
    """Largest jump at a window boundary over the median jump inside windows (see the seam test)."""
    import synchrorama_core.diffusion.sampler as sampler
    frame_noise = sampler._frame_noise
    monkeypatch.setattr(sampler, "_frame_noise", lambda seed, idx, shape, shared: frame_noise(seed, idx, shape, True))
    n = sp.n_frames
    base = motion_frames(1)[0]
    mf = np.stack([np.roll(base, i // 2, axis=1) for i in range(n)])  # a face moving slowly sideways
    s = SamplerSettings(**{**dict(width=SIZE, height=SIZE, steps=2, cfg=1.0, seed=3, window=8), **kw})
    out = generate_video(models, astronaut, mf, sp, settings=s)
    assert out.shape == (n, SIZE, SIZE, 3)
    jump = np.abs(np.diff(out, axis=0)).mean(axis=(1, 2, 3))  # jump[k - 1]: frame k-1 -> k
    win = plan_windows(n, s.window, s.overlap)
    bounds = sorted({a for a, _ in win[1:]} | {b for _, b in win[:-1]})
    inside = np.delete(jump, [k - 1 for k in bounds])
    ratio = float(jump[[k - 1 for k in bounds]].max() / np.median(inside))
    print(f"{kw}: boundary jumps {[f'{j:.5f}' for j in jump[[k - 1 for k in bounds]]]} at frames {bounds}, "
          f"median inside {np.median(inside):.5f}, max boundary/median inside {ratio:.2f}")
    return ratio


@pytest.mark.parametrize("scheduler", ["dpmpp_2m", "unipc"])
def test_seams_are_blended_under_every_scheduler(models, astronaut, speech_16k, monkeypatch, scheduler):
    """The old hand-over (an edit of the latents after ``step()``) was mostly lost under UniPC and
    DPM++, whose multistep state rebuilds the sample; fused predictions go through ``step()``."""
    sp = speech_from_waveform(speech_16k[16000:16000 + 22 * 640], 25.0)
    assert _seam_ratio(models, astronaut, sp, monkeypatch, overlap=4, scheduler=scheduler) < 1.6


def test_noise_streams_are_independent(models, astronaut, speech_16k, monkeypatch):
    """Initial noise per frame, reference noise and ancestral step noise, for two neighbouring seeds:
    no two draws may be the same noise (the reference noise of seed 0 was frame 16's)."""
    sp = speech_from_waveform(speech_16k[16000:16000 + 22 * 640], 25.0)
    draws = []
    randn = torch.randn

    def rec(*a, **k):
        out = randn(*a, **k)
        draws.append(out.detach().float().reshape(-1, 4 * 8 * 8).clone())
        return out
    monkeypatch.setattr(torch, "randn", rec)
    for seed in (0, 1):
        generate_video(models, astronaut, motion_frames(22), sp, settings=SamplerSettings(
            width=SIZE, height=SIZE, steps=2, cfg=1.0, seed=seed, window=8, overlap=4, scheduler="euler_ancestral"))
    x = torch.cat(draws)
    x = (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True)
    c = (x @ x.T / x.shape[1]).abs().fill_diagonal_(0)
    print(f"{x.shape[0]} noise draws, largest |correlation| between two of them {float(c.max()):.3f}")
    assert x.shape[0] > 100 and float(c.max()) < 0.5, f"two noise draws are {float(c.max()):.2f} correlated"


def test_exact_denoiser_keeps_every_frame_at_the_noise_level(models, astronaut, speech_16k, monkeypatch):
    """With a denoiser that knows the clean latent, an ancestral sampler keeps every frame's
    latent at exactly the scheduler's noise level at every step; a window hand-over that
    under-noises shared frames (the old partial pull: about 0.82 sigma) makes them softer."""
    import synchrorama_core.diffusion.sampler as sampler
    from diffusers import DDPMScheduler
    ac = DDPMScheduler.from_config(models.scheduler_config).alphas_cumprod.double()
    sig_tab = ((1 - ac) / ac).sqrt().numpy()
    x0 = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0)) * 0.5
    levels = []

    def oracle(models_, x, t, ehs, down=None, mid=None, frames=1):
        sig = float(np.interp(float(t), np.arange(len(sig_tab)), sig_tab))
        a = 1.0 / (1.0 + sig ** 2)
        eps = (x.float() - a ** 0.5 * x0) / (1 - a) ** 0.5  # model input = VP latent
        if frames > 1:
            levels.append((float(t), eps.flatten(1).std(1)))
        return eps.to(x.dtype)
    monkeypatch.setattr(sampler, "predict_noise", oracle)
    sp = speech_from_waveform(speech_16k[16000:16000 + 22 * 640], 25.0)
    generate_video(models, astronaut, motion_frames(22, 128), sp, settings=SamplerSettings(
        width=128, height=128, steps=6, cfg=1.0, seed=3, window=8, overlap=4, scheduler="euler_ancestral"))
    late = sorted({t for t, _ in levels})[:3]
    lv = torch.cat([v for t, v in levels if t in late])
    print(f"noise level of every frame over the last 3 steps: {float(lv.min()):.3f}..{float(lv.max()):.3f} sigma")
    assert 0.88 < float(lv.min()) and float(lv.max()) < 1.12, f"noise level {float(lv.min()):.2f}..{float(lv.max()):.2f} sigma"


def test_reference_features_come_from_the_2d_unet(tiny, models, astronaut, speech, settings):
    """The reference pass bypasses the temporal layers (AnimateAnyone/AniPortrait's reference net
    is the 2D UNet): its bank equals the same checkpoint's 2D UNet's on the same input."""
    st, got = models.state, {}

    def pre(mod, args, kwargs):
        if st.mode == "write" and "x" not in got:
            got.update(x=args[0].clone(), t=args[1], ctx=kwargs["encoder_hidden_states"].clone())

    def post(mod, args, kwargs, out):
        if st.mode == "write" and "bank" not in got:
            got["bank"] = {k: v.clone() for k, v in st.bank.items()}
    hooks = [models.unet.register_forward_pre_hook(pre, with_kwargs=True),
             models.unet.register_forward_hook(post, with_kwargs=True)]
    try:
        generate_video(models, astronaut, motion_frames(speech.n_frames), speech,
                       settings=SamplerSettings(**{**settings.__dict__, "steps": 1}))
    finally:
        for h in hooks:
            h.remove()
    m2d = load_models(NAMES["checkpoint"], device="cpu", **tiny.dirs)
    x = got["x"][:, :, 0] if got["x"].ndim == 5 else got["x"]
    m2d.state.mode = "write"
    with torch.no_grad():
        m2d.unet(x, got["t"], encoder_hidden_states=got["ctx"])
    assert set(m2d.state.bank) == set(got["bank"])
    for k, v in m2d.state.bank.items():
        torch.testing.assert_close(got["bank"][k].reshape(v.shape), v, atol=1e-5, rtol=1e-5, msg=k)
    m2d.state.clear()


def test_guidance_gives_the_adapters_their_trained_unconditional_state(tiny, astronaut, speech, settings, monkeypatch):
    """The unconditional half must not get a state the adapters never saw (zero tokens -> bias only,
    multiplied by cfg): adapters trained with condition dropout get their null condition there,
    others the same tokens in both halves."""
    from synchrorama_core.diffusion.adapters import audio_windows, null_condition
    m = load_models(NAMES["checkpoint"], controlnet=NAMES["controlnet"], motion_adapter=NAMES["motion_module"],
                    adapters=NAMES["adapters"], device="cpu", **tiny.dirs)
    n = speech.n_frames
    seen = []
    _spy_cross_attention(monkeypatch, seen)
    run = lambda: generate_video(m, astronaut, motion_frames(n), speech,  # noqa: E731
                                 settings=SamplerSettings(**{**settings.__dict__, "steps": 1}))
    run()
    r = next(r for r in seen if r["mode"] == "read" and r["audio"] is not None)
    assert r["audio"].shape[0] == 2 * n
    torch.testing.assert_close(r["audio"][:n], r["audio"][n:])
    torch.testing.assert_close(r["emotion"][:n], r["emotion"][n:])
    m.adapters.config["cond_dropout"] = 0.1  # as the trainer records it
    seen.clear()
    run()
    r = next(r for r in seen if r["mode"] == "read" and r["audio"] is not None)
    cond, _ = speech_condition(speech)
    na, ne = null_condition(m.adapters, 1)
    with torch.no_grad():
        null_a = m.adapters.audio_tokens(torch.from_numpy(na)).to(r["audio"].dtype)
        null_e = m.adapters.emotion_tokens(torch.from_numpy(ne)).to(r["emotion"].dtype)
        cond_a = m.adapters.audio_tokens(torch.from_numpy(audio_windows(cond, 2))).to(r["audio"].dtype)
    torch.testing.assert_close(r["audio"][:n], null_a.expand(n, -1, -1))
    torch.testing.assert_close(r["emotion"][:n], null_e.expand(n, -1, -1))
    torch.testing.assert_close(r["audio"][n:], cond_a)


def test_training_drops_the_condition_to_the_null_state(models, astronaut, speech, monkeypatch):
    from synchrorama_core.diffusion.adapters import null_condition
    from synchrorama_core.training.adapters import adapter_loss, build_parser
    assert build_parser().parse_args(["--data", "d", "--checkpoint", "c", "--out", "o"]).cond_dropout == 0.1
    batch = _training_batch(models, astronaut, speech)
    cond, source = speech_condition(speech)
    ad = SRAdapters.for_unet(models.unet, cond.shape[1], source, cond_dropout=0.1)
    assert ad.config["cond_dropout"] == 0.1
    seen = []
    _spy_cross_attention(monkeypatch, seen)
    noise = torch.randn(batch["latents"].shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        adapter_loss(models, ad, batch["latents"], batch["ref_latents"], batch["text_emb"], batch["audio"],
                     batch["emotion"], noise, torch.tensor([500]), batch["control"], drop_condition=True)
        na, ne = null_condition(ad, 4)
        null_a = ad.audio_tokens(torch.from_numpy(na))
    r = next(r for r in seen if r["mode"] == "read" and r["audio"] is not None)
    torch.testing.assert_close(r["audio"], null_a)


def test_training_matches_inference(models, astronaut, speech):
    """Same resolution and window as the sampler's defaults, and a reference noised with its own
    noise (at inference the portrait's noise has nothing to do with any frame's)."""
    from synchrorama_core.training.adapters import build_parser, train_step
    args = build_parser().parse_args(["--data", "d", "--checkpoint", "c", "--out", "o"])
    d = SamplerSettings()
    assert (args.size, args.frames) == (d.width, d.window) == (512, 16)
    batch = _training_batch(models, astronaut, speech)
    cond, source = speech_condition(speech)
    ad = SRAdapters.for_unet(models.unet, cond.shape[1], source).requires_grad_(True)
    models.state.adapters = ad
    st, got = models.state, {}

    def pre(mod, a, kw):
        if st.mode == "write":
            got["ref_in"] = a[0].clone()
    h = models.unet.register_forward_pre_hook(pre, with_kwargs=True)
    noise = torch.randn(batch["latents"].shape, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([700])
    try:
        train_step(models, ad, torch.optim.SGD(ad.parameters(), lr=0.0), batch, noise=noise, t=t,
                   generator=torch.Generator().manual_seed(2))
    finally:
        h.remove()
        models.state.adapters = None
    from diffusers import DDPMScheduler
    same = DDPMScheduler.from_config(models.scheduler_config).add_noise(batch["ref_latents"], noise[:1], t)
    ref_in = got["ref_in"].reshape(same.shape)
    assert float((ref_in - same).abs().mean()) > 0.1, "the reference was noised with the target's own noise"


def test_long_prompts_keep_the_emotion_phrase(models, astronaut, speech, settings):
    from synchrorama_core.diffusion.sampler import encode_prompts
    long = ", ".join(["a person in a grey suit standing in a bright studio with large windows"] * 6)
    assert len(models.tokenizer(long, verbose=False).input_ids) > 77
    a, b = encode_prompts(models, [long + ", very happy expression", long + ", sad expression"])
    assert a.shape == b.shape and float((a - b).abs().max()) > 1e-3
    n = speech.n_frames
    scene = SceneData(duration_s=n / speech.fps, prompt="", segments=[
        {"start_s": 0.0, "end_s": 0.16, "description": long},
        {"start_s": 0.16, "end_s": n / speech.fps, "description": "smiles"}])
    out = generate_video(models, astronaut, motion_frames(n), speech, scene=scene,
                         settings=SamplerSettings(**{**settings.__dict__, "steps": 1}))
    assert out.shape == (n, SIZE, SIZE, 3) and np.isfinite(out).all()


def test_windows_longer_than_the_motion_training_warn(models, astronaut, speech_16k, caplog, pack):
    sp = speech_from_waveform(speech_16k[16000:16000 + 20 * 640], 25.0)
    with caplog.at_level("WARNING", logger="synchrorama"):
        generate_video(models, astronaut, motion_frames(20), sp, settings=SamplerSettings(
            width=SIZE, height=SIZE, steps=1, cfg=1.0, window=24, overlap=4))
    assert any("16 frames" in r.getMessage() and "20" in r.getMessage() for r in caplog.records)
    # the node offers no window that warns (the log is not where a creator looks), and says why
    req = pack.NODE_CLASS_MAPPINGS["SynchroRaMaVideoSampler"].INPUT_TYPES()["required"]
    win, overlap = req["window"][1], req["overlap"][1]
    assert win["max"] == win["default"] == 16 and overlap["max"] == win["max"] - 1
    assert "trained on 16-frame clips" in win["tooltip"] and "lose temporal consistency" in win["tooltip"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="synchrorama"):
        generate_video(models, astronaut, motion_frames(20), sp, settings=SamplerSettings(
            width=SIZE, height=SIZE, steps=1, cfg=1.0, window=win["max"], overlap=4))
    assert not [r for r in caplog.records if "context window" in r.getMessage()]


@pytest.mark.parametrize("scheduler", ["ddim", "euler", "euler_ancestral", "dpmpp_2m", "unipc"])
def test_sampling_starts_from_pure_noise(models, astronaut, speech, settings, monkeypatch, scheduler):
    import synchrorama_core.diffusion.sampler as sampler
    ts = []
    pn = sampler.predict_noise
    monkeypatch.setattr(sampler, "predict_noise", lambda *a, **k: (ts.append(float(a[2])), pn(*a, **k))[1])
    generate_video(models, astronaut, motion_frames(speech.n_frames), speech,
                   settings=SamplerSettings(**{**settings.__dict__, "steps": 3, "scheduler": scheduler}))
    assert ts[0] == pytest.approx(999, abs=0.5), f"the first step is at t={ts[0]}, not at the last training step"


def test_late_conditions_reach_earlier_frames(models, astronaut, speech_16k):
    """One latent, every window at every step: information flows both ways through the overlaps,
    one window further each step (sequential windows only passed it forward: frames 0-13 came out
    bit-identical).  The tiny motion module mixes frames only weakly, so the change is small."""
    sp = speech_from_waveform(speech_16k[16000:16000 + 22 * 640], 25.0)
    s = SamplerSettings(width=SIZE, height=SIZE, steps=3, cfg=1.0, seed=3, window=8, overlap=4)
    assert plan_windows(22, 8, 4) == [(0, 8), (4, 12), (8, 16), (12, 20), (14, 22)]
    mf = motion_frames(22)
    a = generate_video(models, astronaut, mf, sp, settings=s)
    mf2 = mf.copy()
    mf2[20:] = 1.0  # only the last window sees frames 20, 21
    b = generate_video(models, astronaut, mf2, sp, settings=s)
    diff = np.abs(a - b).max(axis=(1, 2, 3))
    print("largest change per frame:", np.array2string(diff, precision=7))
    assert diff[8:14].min() > 0 and diff[20:].min() > 100 * diff[8:14].max()
    assert np.array_equal(a[:4], b[:4])  # step 1 reaches frames 14+, step 2 frames 8+, step 3 frames 4+
