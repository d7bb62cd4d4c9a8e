"""Benchmark: the audio stage (decode + resample + frame-aligned speech features).

    python bench/bench_audio.py            # uses the bundled sample speech, repeated to length

Targets (issue "Foundation"): speech features for 60 s of audio in under 1 s on a 2-core
machine; a 10-minute file processed without memory growing past twice the decoded audio.
Memory is measured twice: Python allocations with tracemalloc (numpy buffers included) and the
process's peak RSS growth, each 10-minute run in a fresh subprocess so nothing is shared.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from synchrorama_core.audio import compute_features, load_speech, load_speech_waveform  # noqa: E402
from synchrorama_core.types import SPEECH_SAMPLE_RATE  # noqa: E402
from _common import median_s, print_table  # noqa: E402

SAMPLE = os.path.join(ROOT, "synchrorama_core", "assets", "sample_speech.flac")


def _long_flac(path: str, seconds: float, sr: int = 44100, channels: int = 2) -> None:
    """Real speech (the bundled sample) repeated to ``seconds``, written block by block."""
    import soundfile as sf
    import soxr
    x, xsr = sf.read(SAMPLE, dtype="float32")
    x = soxr.resample(x, xsr, sr).astype(np.float32)
    total = int(seconds * sr)
    with sf.SoundFile(path, "w", sr, channels, format="FLAC") as f:
        done = 0
        while done < total:
            blk = x[:total - done]
            f.write(np.repeat(blk[:, None], channels, axis=1))
            done += len(blk)


_CHILD = r"""
import json, resource, sys, time, tracemalloc
sys.path.insert(0, {root!r})
from synchrorama_core.audio import load_speech
import numpy  # imported before the baseline so its own memory is not counted
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
t = time.perf_counter()
s = load_speech({path!r}, fps=25)
dt = time.perf_counter() - t
_, peak = tracemalloc.get_traced_memory()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(seconds=dt, frames=s.n_frames, traced_peak=peak, rss_growth=(rss - base) * 1024)))
"""


def _child(path: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD.format(root=ROOT, path=path)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    rows = []
    y = load_speech_waveform(SAMPLE)
    y60 = np.resize(y, 60 * SPEECH_SAMPLE_RATE).astype(np.float32)
    compute_features(y60[:SPEECH_SAMPLE_RATE], 25.0)  # first-call set-up (filterbanks, FFT plans)
    for fps in (25.0, 30.0):
        s = median_s(lambda: compute_features(y60, fps), 5)
        rows.append((f"features, 60 s at {fps:g} fps", f"{s:.3f} s", "< 1 s",
                     "median of 5, waveform in memory"))
    with tempfile.TemporaryDirectory() as d:
        p60 = os.path.join(d, "speech60.flac")
        _long_flac(p60, 60)
        s = median_s(lambda: load_speech(p60, fps=25), 3)
        rows.append(("load_speech, 60 s 44.1 kHz stereo flac", f"{s:.3f} s", "",
                     "decode + resample + features"))
        p600 = os.path.join(d, "speech600.flac")
        _long_flac(p600, 600)
        r = _child(p600)
        decoded = 600 * SPEECH_SAMPLE_RATE * 4
        rows.append(("load_speech, 10 min 44.1 kHz stereo flac", f"{r['seconds']:.2f} s", "",
                     f"{r['frames']} frames"))
        rows.append(("  peak traced memory / decoded audio", f"{r['traced_peak'] / decoded:.2f}x", "< 2x",
                     f"{r['traced_peak'] / 1e6:.1f} MB vs {decoded / 1e6:.1f} MB decoded (16 kHz float32)"))
        rows.append(("  peak RSS growth / decoded audio", f"{r['rss_growth'] / decoded:.2f}x", "< 2x",
                     f"{r['rss_growth'] / 1e6:.1f} MB"))
    print_table(rows, ("measure", "result", "target", "notes"))


if __name__ == "__main__":
    main()
