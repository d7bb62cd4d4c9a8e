"""SynchroRaMa for ComfyUI: emotion-aware talking-face video from portraits and speech.

ComfyUI loads this folder as a package from ``custom_nodes/``; the core library
``synchrorama_core`` sits beside it and is made importable here.
"""
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
if _here not in sys.path:
    sys.path.insert(0, _here)

if __package__:  # ComfyUI (and the tests' `pack` fixture) import this folder as a package
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS  # noqa: E402
else:
    # Imported as a lone file: pytest does this with the checkout's own __init__.py when the folder's
    # name is not a Python identifier (e.g. `comfyui-synchrorama`, as the README clones it); there is
    # no package for the relative import then, and nothing to register.
    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = {}, {}

#: Front-end glue (the audio player that Load Audio's upload button needs): nodes/web/*.js
WEB_DIRECTORY = "./nodes/web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
