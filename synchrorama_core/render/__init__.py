"""The zero-download video sampler: a landmark-driven mesh warp renderer (CPU, real time).

Public API::

    WarpRenderer(face: FaceData, options: RenderOptions = None)
        .frames(motion, progress=None, cancelled=None, dtype=np.float32) -> iterator of [H, W, 3] frames
        .render(motion, progress=None, cancelled=None, out=None) -> [N, H, W, 3] float32
        .render_landmarks(target, neutral=None, weights=None) -> one frame
        .target_landmarks(motion, start, stop) -> (targets, neutral) [n, 478, 3]
        .portrait_expression -> PortraitExpression (what the neutral rest face took back)
    render_video(face, motion, options=None, progress=None, cancelled=None) -> [N, H, W, 3] float32
    iter_frames(face, motion, options=None, progress=None, cancelled=None, dtype=np.float32) -> generator
    ReferenceWarper(image, landmarks, options: WarpOptions = None).render(target, neutral=None) -> frame
    RenderOptions / WarpOptions, expression_features(landmarks), build_mesh(landmarks, (H, W))

See ``docs/render.md``.
"""
from .mesh import ControlMesh, build_mesh
from .renderer import RenderOptions, WarpRenderer, expression_features, iter_frames, render_video
from .warp import ReferenceWarper, WarpOptions, similarity

__all__ = ["ControlMesh", "build_mesh", "RenderOptions", "WarpRenderer", "expression_features", "iter_frames",
           "render_video", "ReferenceWarper", "WarpOptions", "similarity"]
