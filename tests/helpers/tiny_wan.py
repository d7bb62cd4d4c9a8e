"""Write randomly initialised Wan-family model files for executing the video-model graphs on a CPU.

Run with the *host ComfyUI's* python (it builds each model with ComfyUI's own classes, then saves
their seeded random weights as safetensors under the file names of core's templates):

    $COMFYUI_PATH/.venv/bin/python tests/helpers/tiny_wan.py $COMFYUI_PATH SUBDIR

into ``models/<kind>/SUBDIR/``; prints a JSON map ``{widget name: "SUBDIR/<file>"}``.  Existing
files are kept (the weights are seeded, so they would be the same).

What can be tiny and what cannot, in ComfyUI 0.3.64:

* the diffusion models: ComfyUI reads a Wan model's size from its weight shapes
  (``model_detection``: dim, ffn_dim, layers, S2V / HuMo by their extra modules), so Wan2.2-S2V and
  HuMo are written with dim 128 (one attention head), one block and ffn 256;
* the Wan 2.1 VAE, wav2vec2-large and Whisper large v3 have fixed configurations in ComfyUI
  (``sd.py``; ``audio_encoders.py`` picks wav2vec2 base/large by width, the S2V model needs
  large's 1024-wide features; Whisper's is hard-coded), so they are written at full size with
  random weights (127 M, 315 M and 635 M parameters, fp16);
* the LoRAs: a file with one key that matches nothing (ComfyUI loads it, applies nothing);
* the umt5-xxl text encoder: not written.  ComfyUI builds it from ``umt5_config_xxl.json``
  (24 layers, d_model 4096, 256k vocabulary: 5.7 B parameters), and Wan's ``text_dim`` is fixed at
  4096, so no small file can stand in for it; the host test replaces its two nodes with
  ``comfy_test_nodes``' stand-in.
"""
from __future__ import annotations

import json
import os
import sys


def _fill(module, seed: int) -> dict:
    import torch
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in module.state_dict().items():
        if not v.is_floating_point():
            sd[k] = v.clone()
            continue
        if k.endswith("bias"):
            t = torch.zeros(v.shape)
        elif v.ndim == 1 and ("norm" in k or k.endswith("weight") or k.endswith("gamma")):
            t = torch.ones(v.shape)
        else:
            t = torch.randn(v.shape, generator=g) * 0.02
        sd[k] = t.to(torch.float16).contiguous()
    return sd


def main(comfy_root: str, subdir: str) -> dict:
    sys.path.insert(0, comfy_root)
    os.chdir(comfy_root)
    sys.argv = [sys.argv[0], "--cpu"]   # ComfyUI's device set-up reads its command line
    import comfy.options
    comfy.options.enable_args_parsing()
    import torch
    from safetensors.torch import save_file
    import comfy.ops as ops
    from comfy.ldm.wan.model import HumoWanModel, WanModel_S2V
    from comfy.ldm.wan.vae import WanVAE
    from comfy.audio_encoders.wav2vec2 import Wav2Vec2Model
    from comfy.audio_encoders.whisper import WhisperLargeV3

    small = dict(dim=128, ffn_dim=256, num_heads=1, num_layers=1, in_dim=16, out_dim=16,
                 operations=ops.disable_weight_init)
    files = {
        "s2v": ("diffusion_models", "wan2.2_s2v_14B_fp8_scaled.safetensors",
                lambda: _fill(WanModel_S2V(**small), 1)),
        "humo": ("diffusion_models", "humo_17B_fp8_e4m3fn.safetensors", lambda: _fill(HumoWanModel(**small), 2)),
        "vae": ("vae", "wan_2.1_vae.safetensors",
                lambda: _fill(WanVAE(dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                                     temperal_downsample=[False, True, True], dropout=0.0), 3)),
        "wav2vec2": ("audio_encoders", "wav2vec2_large_english_fp16.safetensors",
                     lambda: _fill(Wav2Vec2Model(embed_dim=1024, num_heads=16, num_layers=24, conv_norm=True,
                                                 conv_bias=True, do_normalize=True, do_stable_layer_norm=True,
                                                 dtype=torch.float32, device="cpu", operations=ops.manual_cast), 4)),
        "whisper": ("audio_encoders", "whisper_large_v3_fp16.safetensors",
                    lambda: {"model." + k: v for k, v in _fill(WhisperLargeV3(dtype=torch.float32, device="cpu",
                                                                              operations=ops.manual_cast), 5).items()
                             if not k.startswith("feature_extractor.")}),
        "s2v_lora": ("loras", "wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors",
                     lambda: {"synchrorama_test.unused.lora_down.weight": torch.zeros(1, 1)}),
        "humo_lora": ("loras", "lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors",
                      lambda: {"synchrorama_test.unused.lora_down.weight": torch.zeros(1, 1)}),
    }
    out = {}
    for key, (kind, name, make) in files.items():
        d = os.path.join(comfy_root, "models", kind, subdir)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name)
        if not os.path.exists(path):
            with torch.no_grad():
                sd = make()
            save_file(sd, path + ".part")
            os.replace(path + ".part", path)
        out[key] = f"{subdir}/{name}"
    return out


if __name__ == "__main__":
    print(json.dumps(main(os.path.abspath(sys.argv[1]), sys.argv[2])))
