"""Make the bundled conversation sample (synchrorama_core/assets/sample_conversation.*), reproducibly.

    python docs/tools/make_conversation_sample.py

* ``sample_conversation.jpg``: two public-domain portraits side by side, 512 x 1024 (h x w): the
  astronaut Eileen Collins (NASA, ``skimage.data.astronaut()``, as ``sample_portrait.jpg``) on the
  left, Rear Admiral Grace Hopper (US Navy, ``tests/data/portrait_closed_lips.jpg``) on the right;
* ``sample_conversation.flac``: one 16 kHz track with both voices (espeak-ng, en-us, two female
  variants), three turns with short pauses;
* ``sample_conversation.txt``: one line per turn, ``start-end:speaker<TAB>what is said`` (speakers
  numbered from 0, left to right), as the Split Speakers node and ``--turns`` read it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.path.join(ROOT, "synchrorama_core", "assets")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))  # the tests' own two-person picture (helpers/pictures.py)

TURNS = [(0, "en-us+f3", "Hello! It is so good to see you again. How was your trip?"),
         (1, "en-us+f2", "Thank you, it was wonderful. The mountains were beautiful, but I missed home."),
         (0, "en-us+f3", "I am so glad you are back. Shall we have some tea?")]
GAP_S, EDGE_S, SR = 0.45, 0.25, 16000


def picture(path: str) -> None:
    from PIL import Image
    from helpers.pictures import two_people
    Image.fromarray(two_people(512)).save(path, quality=90)


def speech(flac: str, txt: str) -> None:
    import soundfile as sf
    from synchrorama_core.audio import load_speech_waveform
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")
    parts, lines, t = [np.zeros(int(EDGE_S * SR), np.float32)], [], EDGE_S
    with tempfile.TemporaryDirectory() as d:
        for i, (who, voice, text) in enumerate(TURNS):
            wav = os.path.join(d, f"{i}.wav")
            subprocess.run([exe, "-v", voice, "-s", "150", "-w", wav, text], check=True, capture_output=True)
            y = load_speech_waveform(wav)                  # 16 kHz mono
            nz = np.flatnonzero(np.abs(y) > 1e-3)
            y = y[nz[0]:nz[-1] + 1]                       # espeak's own leading/trailing silence off
            lines.append(f"{t:.2f}-{t + len(y) / SR:.2f}:{who}\t{text}")
            parts += [y, np.zeros(int(GAP_S * SR), np.float32)]
            t += len(y) / SR + GAP_S
    parts[-1] = np.zeros(int(EDGE_S * SR), np.float32)
    sf.write(flac, np.concatenate(parts), SR, format="FLAC")
    with open(txt, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    picture(os.path.join(ASSETS, "sample_conversation.jpg"))
    speech(os.path.join(ASSETS, "sample_conversation.flac"), os.path.join(ASSETS, "sample_conversation.txt"))
    print("wrote", ", ".join(f"sample_conversation.{e}" for e in ("jpg", "flac", "txt")), "in", ASSETS)
