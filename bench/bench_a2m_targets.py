"""Measurement: how much of each mouth channel the A2M trainer's video fit recovers (the reason for
``--mouth-targets phones``, the default of ``python -m synchrorama_core.training.a2m``).

    python bench/bench_a2m_targets.py

The best case for the fit: the astronaut animated by the procedural generator *with* the phone
track (aligned to the transcript) at a known motion, rendered by the warp renderer, encoded as
H.264 + AAC, then decoded, face-tracked and fitted back exactly as the trainer does
(``training.a2m.pair_from_video``).  Three espeak-ng sentences rich in m/b/p, f/v and rounded
vowels, with the head still and with head motion.  Per mouth channel: the correlation of the fit
with the motion that made the video, and the fit's peak as a share of the true peak (mean over
the clips, min..max in brackets).  A channel the fit cannot see here, on the rig's own rendering,
cannot be learned from the video's fit of a real face either.
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

from synchrorama_core.audio import load_speech, load_speech_waveform  # noqa: E402
from synchrorama_core.audio.phones import speech_phones  # noqa: E402
from synchrorama_core.face import analyze_face  # noqa: E402
from synchrorama_core.motion import generate_procedural  # noqa: E402
from synchrorama_core.motion.adjust import MOUTH  # noqa: E402
from synchrorama_core.render import render_video  # noqa: E402
from synchrorama_core.training.a2m import OUTPUTS, pair_from_video  # noqa: E402
from synchrorama_core.video.writer import write_video  # noqa: E402
from _common import print_table  # noqa: E402

TEXTS = ["Maybe Bob and Mimi bump into Pam by the mop.", "Five fine vivid voices moved over the fever.",
         "Who knew two blue shoes could move you so?"]


def main() -> None:
    exe = shutil.which("espeak-ng")
    if exe is None:
        sys.exit("espeak-ng is needed: apt-get install espeak-ng")
    from skimage.data import astronaut
    face = analyze_face(astronaut().astype(np.float32) / 255.0, source="astronaut")
    stats = {k: {"r": [], "peak": []} for k in MOUTH}
    with tempfile.TemporaryDirectory() as tmp:
        for head in (0.0, 1.0):
            for i, text in enumerate(TEXTS):
                wav = os.path.join(tmp, f"s{i}.wav")
                subprocess.run([exe, "-v", "en-us", "-s", "160", "-w", wav, text], check=True, capture_output=True)
                speech = load_speech(wav, 25.0)
                truth = generate_procedural(speech, phones=speech_phones(speech, "auto", text), head_scale=head,
                                            seed=i)
                video = os.path.join(tmp, f"v{i}.mp4")
                write_video(video, render_video(face, truth), 25.0, audio=load_speech_waveform(wav),
                            sample_rate=16000)
                with open(os.path.join(tmp, f"v{i}.txt"), "w", encoding="utf-8") as f:
                    f.write(text)
                fit = pair_from_video(video, 25.0, mouth_targets="video").y
                n = truth.n_frames
                for k in MOUTH:
                    got, want = fit[:n, OUTPUTS.index(k)], truth.expressions[k]
                    if want.max() < 0.1:      # the sentence does not use this channel
                        continue
                    stats[k]["r"].append(float(np.corrcoef(got, want)[0, 1]) if got.std() > 1e-6 else 0.0)
                    stats[k]["peak"].append(float(got.max() / want.max()))

    def cell(v):
        return f"{np.mean(v):.2f} ({min(v):.2f}..{max(v):.2f})" if v else "-"
    print("video fit of the mouth channels on rendered astronaut clips (6 clips: 3 sentences x head still/moving)")
    print_table([(k, len(s["r"]), cell(s["r"]), cell(s["peak"])) for k, s in stats.items()],
                ("channel", "clips", "correlation with the truth", "fit peak / true peak"))


if __name__ == "__main__":
    main()
