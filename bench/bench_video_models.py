"""Benchmark: the video-model bridge (issue 10) on a 60 s clip.

    python bench/bench_video_models.py

Inputs are real: ~60 s of espeak-ng speech with its transcript, the emotion embedder's SR_EMOTION,
the template scene, procedural A2M motion at 25 fps, and the face analysis of
``skimage.data.astronaut()``.  Times the prompt node's work (whole clip, and all twelve 5 s windows
of a Wan2.2-S2V Extend chain) and the pose video at 832x480 and 640x640 re-timed to 16 fps (uint8
frames, and float32 as the node fills ComfyUI's IMAGE).  Prints medians; the machine may be shared.
Targets: a prompt for a 60 s clip < 50 ms; pose frames >= 100 frames/s at 832x480 on 2 cores.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from synchrorama_core.audio import load_speech  # noqa: E402
from synchrorama_core.bridge import VIDEO_MODELS, pose_video, video_prompt, window_prompt  # noqa: E402
from synchrorama_core.emotion import embed_emotion  # noqa: E402
from synchrorama_core.face.analysis import analyze_face  # noqa: E402
from synchrorama_core.motion import generate_procedural  # noqa: E402
from synchrorama_core.scene import describe_scene  # noqa: E402
from _common import median_ms, print_table, timed  # noqa: E402

TEXT = ("Hello there. I am really happy to see you today, it is a wonderful morning. "
        "Shall we take a walk along the river before lunch? But then my dog died and I feel terribly sad "
        "and lonely. Do you understand what I mean? Yes, of course you do. Let me think about what we "
        "should do next, maybe we could call a friend. ")


def main() -> None:
    from skimage import data
    exe = shutil.which("espeak-ng")
    if exe is None:
        sys.exit("espeak-ng is not installed (apt-get install espeak-ng)")
    tmp = tempfile.mkdtemp(prefix="bench_video_models_")
    text = TEXT * 4  # ~88 s of speech, cut to 60 s
    wav = os.path.join(tmp, "speech.wav")
    subprocess.run([exe, "-v", "en-us", "-s", "150", "-w", wav, text], check=True, capture_output=True)
    speech = load_speech(wav, fps=25.0, duration_s=60.0)
    emotion = embed_emotion(speech, text)
    face = analyze_face(data.astronaut().astype(np.float32) / 255.0)
    scene = describe_scene(speech, text, emotion, face)
    motion = generate_procedural(speech, emotion, scene)
    s2v = VIDEO_MODELS["wan2.2_s2v"]
    n_win = s2v.n_windows(77, speech.duration_s)
    rows = [("prompt, whole clip", f"{speech.duration_s:.1f} s clip", f"{median_ms(lambda: video_prompt(emotion, scene), 20):.2f} ms", "< 50 ms"),
            (f"prompts, all {n_win} S2V windows", "77 frames each",
             f"{median_ms(lambda: [window_prompt(emotion, scene, 'wan2.2_s2v', k, 77) for k in range(n_win)], 10):.2f} ms",
             "")]
    for (w, h) in ((832, 480), (640, 640)):
        t, v = timed(lambda: pose_video(face, motion, "wan2.2_s2v", w, h), 3)
        rows.append((f"pose video {w}x{h}, uint8", f"{len(v)} frames @16 fps", f"{len(v) / t:.0f} frames/s",
                     ">= 100 frames/s" if (w, h) == (832, 480) else ""))
        out = np.zeros((77, h, w, 3), np.float32)
        t, _ = timed(lambda: pose_video(face, motion, "wan2.2_s2v", w, h, window=3, length=77, out=out), 5)
        rows.append((f"pose window {w}x{h}, float32 (node)", "77 frames", f"{77 / t:.0f} frames/s", ""))
    print_table(rows, ("what", "size", "median", "target"))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
