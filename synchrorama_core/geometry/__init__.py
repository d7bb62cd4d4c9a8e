"""Face geometry shared by the stages: the landmark vocabulary and the face rig.

* :mod:`.topology`: MediaPipe's 478-point face-mesh topology (index groups, contours, triangles,
  key points) and measurements on landmarks (mouth opening, eye openness, face size);
* :mod:`.rig`: the face rig that turns ``SR_MOTION`` (head pose + expression coefficients) into
  landmarks of a reference face (:func:`apply_motion`).  The A2M stage (motion frames, training
  targets), the warp renderer and the control drawings all drive faces through it, so they agree;
* :mod:`.rest`: the portrait's own expression (lip gap, smile, brows, eyes) measured from its
  landmarks, and the neutral rest face the warp renderer animates (``rest_landmarks``).

Public API::

    topology                     # index groups, TRIANGLES, key points, mouth_opening, eye_openness, ...
    apply_motion(ref_landmarks [478, 3], motion, frames=None, *, head_scale=1.0,
                 expression_scale=1.0, rig=None) -> float32 [n, 478, 3]
    face_rig(ref_landmarks) -> FaceRig        # precomputed frame, pivot and expression basis (cached)
    landmarks_for(ref, rotation, translation, scale, expressions) -> [n, 478, 3]
    euler_matrices(rotation_deg) / matrix_to_euler(matrices)
"""
from . import topology
from .rig import FaceRig, apply_motion, euler_matrices, face_rig, landmarks_for, matrix_to_euler

__all__ = ["topology", "FaceRig", "apply_motion", "euler_matrices", "face_rig", "landmarks_for", "matrix_to_euler"]
