"""ComfyUI nodes of SynchroRaMa: thin adapters over ``synchrorama_core`` (no algorithms here).

Every module in this package that defines ``NODE_CLASS_MAPPINGS`` is collected automatically,
so a new stage only adds its own module.
"""
from __future__ import annotations

import importlib
import logging
import pkgutil

log = logging.getLogger("synchrorama")

NODE_CLASS_MAPPINGS = {}
NODE_DISPLAY_NAME_MAPPINGS = {}

for _m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _m.name.startswith("_"):
        continue
    _mod = importlib.import_module(f"{__name__}.{_m.name}")
    _classes = getattr(_mod, "NODE_CLASS_MAPPINGS", None)
    if not _classes:
        continue
    for _k in _classes:
        if _k in NODE_CLASS_MAPPINGS:
            raise RuntimeError(f"SynchroRaMa node {_k!r} is defined twice (second time in {_m.name})")
    NODE_CLASS_MAPPINGS.update(_classes)
    NODE_DISPLAY_NAME_MAPPINGS.update(getattr(_mod, "NODE_DISPLAY_NAME_MAPPINGS", {}))

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]

from . import comfy_adapter as _comfy  # noqa: E402

if _comfy.HAS_COMFY:
    _comfy.install_samples()
