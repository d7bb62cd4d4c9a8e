"""Test-only ComfyUI node, linked into the host ComfyUI's custom_nodes by tests/test_host.py; never shipped.

``SRTestUMT5StandIn`` stands in for the one part of the Wan2.2-S2V / HuMo graphs that cannot run
with small weights: core's umt5-xxl text encoder (``CLIPLoader`` type ``wan`` + ``CLIPTextEncode``).
ComfyUI builds that encoder from a fixed configuration (5.7 B parameters) and the Wan models take
4096-wide text features, so the host test swaps each ``CLIPTextEncode`` for this node, fed by the
same link from SynchroRaMa Video Model Prompt.  It returns CONDITIONING of the shape ComfyUI's
umt5-xxl gives (``[1, 512, 4096]``: one seeded vector per word, zero padding to 512 tokens), so
everything downstream (the Wan nodes, KSampler, the Extend chain, VAE decode, video) runs unchanged.
"""
import hashlib


class SRTestUMT5StandIn:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"multiline": True})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"
    CATEGORY = "testing"

    def encode(self, text):
        import torch
        words = str(text).split()
        if not words:
            raise ValueError("SRTestUMT5StandIn: empty prompt text")
        cond = torch.zeros(1, 512, 4096)
        for i, w in enumerate(words[:512]):
            seed = int(hashlib.sha1(w.lower().encode()).hexdigest()[:8], 16)
            cond[0, i] = torch.randn(4096, generator=torch.Generator().manual_seed(seed)) * 0.1
        return ([[cond, {}]],)


NODE_CLASS_MAPPINGS = {"SRTestUMT5StandIn": SRTestUMT5StandIn}
NODE_DISPLAY_NAME_MAPPINGS = {"SRTestUMT5StandIn": "Test: umt5-xxl stand-in (not shipped)"}
