"""Video output: H.264 (yuv420p) + AAC mp4 with PyAV, frame by frame (see ``docs/video.md``)."""
from .stream import QUEUE_FRAMES, encode_stream, stream_frames
from .writer import VideoError, VideoInfo, VideoWriter, frame_to_uint8, probe_video, write_video

__all__ = ["QUEUE_FRAMES", "VideoError", "VideoInfo", "VideoWriter", "encode_stream", "frame_to_uint8", "probe_video",
           "stream_frames", "write_video"]
