"""A pickle that tells whether it was unpickled, for the "weights load only from safetensors" tests.

``write_pickle(path, marker)`` writes a file that ``pickle.load`` / ``torch.load`` would happily read
(a dict of weights, as a ``.ckpt``/``.pt``/``.bin`` holds), but whose unpickling creates ``marker``:
what a malicious model file does, minus the harm.  A loader that refuses it must raise *and* leave
``marker`` uncreated.
"""
from __future__ import annotations

import os
import pickle


class Payload:
    """Unpickling this creates a marker file: proof that a loader unpickled the file."""

    def __init__(self, marker):
        self.marker = os.fspath(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_pickle(path, marker) -> str:
    """Write the marker-creating pickle to ``path`` (any name: ``.ckpt``, ``.bin``, even ``.safetensors``)."""
    with open(path, "wb") as f:
        pickle.dump({"state_dict": {"model.diffusion_model.input_blocks.0.0.weight": Payload(marker)}}, f)
    return os.fspath(path)


def replace_weights_with_pickle(folder, marker, name: str = "pytorch_model.bin") -> str:
    """A model folder whose ``*.safetensors`` weights are gone and a pickle ``name`` holds them instead
    (as a folder from an older save_pretrained does).  Returns the pickle's path."""
    for base, _, files in os.walk(folder):
        for f in files:
            if f.endswith(".safetensors"):
                os.remove(os.path.join(base, f))
    return write_pickle(os.path.join(folder, name), marker)
