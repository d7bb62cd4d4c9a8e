"""Video output: H.264 (yuv420p) + AAC mp4 with PyAV, frame by frame (see ``docs/video.md``)."""
from .writer import VideoError, VideoInfo, VideoWriter, frame_to_uint8, probe_video, write_video

__all__ = ["VideoError", "VideoInfo", "VideoWriter", "frame_to_uint8", "probe_video", "write_video"]
