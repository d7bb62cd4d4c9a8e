"""The bridge to ComfyUI's own audio-driven video models: SynchroRaMa's stages as their conditioning.

Wan2.2-S2V and HuMo (core ComfyUI nodes) render the video; SynchroRaMa directs them through
plain links in a graph:

* :mod:`.prompts`: ``SR_EMOTION`` + ``SR_SCENE`` -> descriptive English prompts (T5 encoders) for
  the whole clip or any window ``[start, end)``, so each window of an Extend chain gets its own
  emotion;
* :mod:`.pose`: ``SR_MOTION`` -> the pose video (Wan's DWPose-style skeleton drawing) for
  Wan2.2-S2V's ``control_video``, at the model's fps and size, anchored on the reference portrait;
* :mod:`.windows`: each model's frame rate and how its windows (``length``, 4k+1) map onto the clip.

Audio needs no bridge: our Load Audio's ``AUDIO`` goes straight into core ``AudioEncoderEncode``.
Depends only on the shared layers (types, timing, resample, geometry, vocabulary).

Public API::

    video_prompt(emotion, scene, start_s=0, end_s=None, subject="", negative_base=WAN_NEGATIVE) -> VideoPrompt
    window_prompt(emotion, scene, model, window=-1, length=77, start_s=0, end_s=0, ...) -> VideoPrompt
    pose_video(face, motion, model, width, height, window=-1, length=77, out=None) -> [n, H, W, 3]
    pose_frames(face, motion, width, height, fps, indices=None) -> iterator of uint8 [H, W, 3]
    window_frame_indices(window, length, n_clip, frames_per_window, align_to_latents=True) -> int array
    VIDEO_MODELS["wan2.2_s2v" | "humo"] -> VideoModel(fps, default_length, window_frames(), window_span())
"""
from .pose import (check_face, clip_frames, cover_crop, draw_pose, pose_frames, pose_keypoints, pose_video,
                   pose_video_indices, window_frame_indices)
from .prompts import WAN_NEGATIVE, VideoPrompt, video_prompt, window_prompt
from .windows import VIDEO_MODELS, VideoModel, latent_frames, valid_length, video_model

__all__ = ["VIDEO_MODELS", "VideoModel", "VideoPrompt", "WAN_NEGATIVE", "check_face", "clip_frames", "cover_crop",
           "draw_pose", "latent_frames", "pose_frames", "pose_keypoints", "pose_video", "pose_video_indices",
           "valid_length", "video_model", "video_prompt", "window_frame_indices", "window_prompt"]
