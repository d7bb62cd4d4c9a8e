"""Benchmark: phone timing (``synchrorama_core.audio.phones.phone_track``) and the visemes the A2M
makes of it (``synchrorama_core.motion.visemes``, inside ``generate_procedural``).

    python bench/bench_phones.py

Target (issue "Visemes that read"): phone timing + visemes for 60 s of speech in under 3 s on a
2-core machine, for every backend.  The speech is the bundled sample (espeak-ng, 11.3 s, with its
transcript) repeated to 67.6 s; times are also given scaled to 60 s.  The speech features
(``SR_SPEECH``) are computed once before timing: the audio stage has its own bench.  Memory of
a 10-minute alignment is measured as peak RSS growth in a fresh subprocess (pocketsphinx
allocates in C, which tracemalloc does not see).  Everything runs on one thread, so the process's
CPU time is printed beside the wall time: on a machine shared with other work the wall time
grows, the CPU time much less (the load average is printed too).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from synchrorama_core.audio import load_speech_waveform, speech_from_waveform  # noqa: E402
from synchrorama_core.audio.phones import phone_track  # noqa: E402
from _common import print_table  # noqa: E402

ASSETS = os.path.join(ROOT, "synchrorama_core", "assets")
SAMPLE = os.path.join(ASSETS, "sample_speech.flac")
TEXT = open(os.path.join(ASSETS, "sample_speech.txt"), encoding="utf-8").read().strip()

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import numpy as np
from synchrorama_core.audio import load_speech_waveform, speech_from_waveform
from synchrorama_core.audio.phones import phone_track
y = load_speech_waveform({sample!r})
k = {repeats}
speech = speech_from_waveform(np.tile(y, k), 25.0)
text = " ".join([{text!r}] * k)
phone_track(speech.__class__(waveform=speech.waveform[:16000 * 5], fps=25.0,
            features={{n: v[:125] for n, v in speech.features.items()}}), "hello")  # set-up
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t, c = time.perf_counter(), time.process_time()
tr = phone_track(speech, text)
dt, dc = time.perf_counter() - t, time.process_time() - c
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(seconds=dt, cpu=dc, duration=speech.duration_s, rss_growth=(rss - base) * 1024,
                      backend=tr.backend, note=tr.note, pieces=tr.meta.get("pieces"))))
"""


def main() -> None:
    load_start = os.getloadavg()
    y = load_speech_waveform(SAMPLE)
    reps = 6
    speech = speech_from_waveform(np.tile(y, reps), 25.0)
    text = " ".join([TEXT] * reps)
    dur = speech.duration_s
    rows = []
    t = time.perf_counter()
    phone_track(speech_from_waveform(y[:16000 * 3], 25.0), "hello", backend="pocketsphinx")
    rows.append(("first call, 3 s clip", f"{time.perf_counter() - t:.2f} s", "",
                 "imports pocketsphinx, maps its model (once per process)"))
    phone_track(speech_from_waveform(y[:16000 * 3], 25.0), "")  # the phone recogniser's set-up too
    for label, kw in (("pocketsphinx, aligned to transcript", dict(transcript=text)),
                      ("pocketsphinx, free phone recognition", dict(transcript="")),
                      ("acoustic cues", dict(transcript=text, backend="acoustic"))):
        runs = []
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            tr = phone_track(speech, **kw)
            runs.append((time.perf_counter() - t, time.process_time() - c))
        s, cpu = np.median(runs, axis=0)
        rows.append((f"{label}, {dur:.1f} s at 25 fps", f"{s:.2f} s", "",
                     f"median of 3, CPU {cpu:.2f} s; {tr.backend}: {tr.note}"))
        rows.append(("  scaled to 60 s", f"{s * 60 / dur:.2f} s", "< 3 s",
                     f"CPU {cpu * 60 / dur:.2f} s; {dur / s:.0f}x real time"))
    # the A2M's part: visemes from a ready track, and the whole procedural A2M with phone timing
    from synchrorama_core.motion import generate_procedural
    from synchrorama_core.motion.procedural import mouth_tracks
    tr = phone_track(speech, text)
    for label, fn in (("visemes from a ready track (A2M mouth channels)",
                       lambda: mouth_tracks(speech.features, speech.fps, 1.0, 1.0, tr)),
                      ("procedural A2M, no phone track (energy-driven lips)",
                       lambda: generate_procedural(speech)),
                      ("procedural A2M, phone timing (aligned) + visemes",
                       lambda: generate_procedural(speech, phones=phone_track(speech, text)))):
        runs = []
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            fn()
            runs.append((time.perf_counter() - t, time.process_time() - c))
        s, cpu = np.median(runs, axis=0)
        rows.append((f"{label}, {dur:.1f} s", f"{s:.2f} s", "", f"median of 3, CPU {cpu:.2f} s"))
        rows.append(("  scaled to 60 s", f"{s * 60 / dur:.2f} s", "< 3 s" if "phone timing" in label else "",
                     f"CPU {cpu * 60 / dur:.2f} s"))
    r = json.loads(subprocess.run([sys.executable, "-c", _CHILD.format(root=ROOT, sample=SAMPLE, repeats=53,
                                                                     text=TEXT)],
                                  capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    rows.append((f"pocketsphinx aligned, {r['duration'] / 60:.1f} min", f"{r['seconds']:.1f} s", "",
                 f"CPU {r['cpu']:.1f} s; {r['pieces']} pieces; {r['note']}"))
    rows.append(("  peak RSS growth", f"{r['rss_growth'] / 1e6:.0f} MB", "",
                 f"decoded audio: {r['duration'] * 16000 * 4 / 1e6:.0f} MB (16 kHz float32)"))
    print_table(rows, ("measure", "result", "target", "notes"))
    print("load average (1, 5, 15 min): at the start " + ", ".join(f"{v:.1f}" for v in load_start)
          + "; at the end " + ", ".join(f"{v:.1f}" for v in os.getloadavg()) + f"; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
