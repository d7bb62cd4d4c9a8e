"""SynchroRaMa core library: emotion-aware talking-face generation, importable without ComfyUI."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import (AudioError, AudioFileNotFoundError, BackendError, Cancelled, FaceNotFoundError,  # noqa: F401
                     InvalidDataError, ModelNotFoundError, SynchroRaMaError)
from .timing import n_frames  # noqa: F401
from .types import (EMOTIONS, EXPRESSIONS, SPEECH_FEATURES, EmotionData, EmotionPart, FaceData,  # noqa: F401
                    MotionData, SceneData, SceneSegment, SpeechData)
