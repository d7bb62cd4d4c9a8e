"""Face analysis (``SR_FACE``): detection, MediaPipe 478-point face-mesh landmarks, tracking.

Zero-download default: MediaPipe 0.10.21's Apache-2.0 TFLite models (shipped in ``assets/``)
run by ``ai-edge-litert``; see ``docs/face.md``.

Public API::

    analyze_faces(images, face_index=-1, sources=None, model="", search_dirs=None,
                  progress=None, cancelled=None) -> FaceData
    analyze_face(image, face_index=-1, source="", **kw) -> FaceData
    find_faces(image, model="", search_dirs=None) -> list[FaceResult]      # every face, left to right
    detect_faces(image, model="", search_dirs=None, threshold=0.5) -> list[Detection]
    FaceTracker(model="", search_dirs=None)(frame) -> [478, 3] array | None
    track_landmarks(frames, model="", search_dirs=None, progress=None, cancelled=None) -> list[array | None]
    measure_landmarks(list_of_landmarks_or_None) -> dict of per-frame arrays (NaN where no face)
    draw_face_preview(image, landmarks, box=None) -> float32 [H, W, 3] (a preview)
    load_face_models(model="", search_dirs=None) -> FaceModels
    (the landmark topology and measurements: synchrorama_core.geometry.topology)
"""
from .analysis import (DETECTOR_NAME, Detection, FaceImageError, FaceResult, FaceTracker, analyze_face,
                       analyze_faces, detect_faces, find_faces, measure_landmarks,
                       track_landmarks)
from .draw import draw_face_preview
from .models import FaceModels, clear_model_cache, load_face_models

__all__ = ["DETECTOR_NAME", "Detection", "FaceImageError", "FaceResult", "FaceTracker", "analyze_face",
           "analyze_faces", "detect_faces", "find_faces", "track_landmarks", "measure_landmarks", "FaceModels",
           "clear_model_cache", "load_face_models", "draw_face_preview"]
