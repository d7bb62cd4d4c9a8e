"""SynchroRaMa for ComfyUI: emotion-aware talking-face video from portraits and speech.

ComfyUI loads this folder as a package from ``custom_nodes/``; the core library
``synchrorama_core`` sits beside it and is made importable here.
"""
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
if _here not in sys.path:
    sys.path.insert(0, _here)

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS  # noqa: E402

WEB_DIRECTORY = None

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
