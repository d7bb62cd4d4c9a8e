"""Benchmark: A2M motion for 60 s of espeak-ng speech, motion frames, neural inference, curves.

    python bench/bench_motion.py

Prints a table (median of several runs; the machine may be shared, so compare with care).
Targets (issue 5): procedural motion for 60 s at 25 fps < 0.5 s (without phone timing);
motion frames at 512x512 >= 100 frames/s.  Issue 17: with phone timing (pocketsphinx aligned to
the transcript) and visemes < 3 s (``bench/bench_phones.py`` has the phone backends in detail).
The neural A2M rows use the default architecture with random weights (the speed does not depend
on what the weights learned) and the phone track made once (its cost is the row above).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from synchrorama_core.audio import load_speech_waveform, speech_from_waveform  # noqa: E402
from synchrorama_core.face import analyze_face  # noqa: E402
from synchrorama_core.motion import (STYLES, adjust_motion, blend_motion, draw_motion_curves,  # noqa: E402
                                     generate_procedural, motion_frames)
from synchrorama_core.motion.neural import NeuralA2M, default_config, n_parameters  # noqa: E402
from synchrorama_core.types import MotionData  # noqa: E402
from _common import median_s, print_table  # noqa: E402

FPS = 25.0
TEXT = ("Hello there. I am really happy to see you today, it is a wonderful morning. "
        "Shall we take a walk along the river before lunch?")


def _minute_of_speech(tmp: str):
    """60 s of the sentence repeated with pauses, and its transcript (the words of the whole copies)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        sys.exit("espeak-ng is needed: apt-get install espeak-ng")
    wav = os.path.join(tmp, "s.wav")
    subprocess.run([exe, "-v", "en-us", "-w", wav, TEXT], check=True, capture_output=True)
    y = load_speech_waveform(wav)
    rng = np.random.default_rng(0)
    parts, total = [], 0
    whole = 0
    while total < 60 * 16000:
        gap = (rng.standard_normal(int(rng.uniform(0.3, 1.2) * 16000)) * 1e-3).astype(np.float32)
        parts += [y, gap]
        total += len(y) + len(gap)
        whole += total - len(gap) <= 60 * 16000
    return np.concatenate(parts)[: 60 * 16000], " ".join([TEXT] * whole)


def main() -> None:
    import torch
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        wav, text = _minute_of_speech(tmp)
    t = time.perf_counter()
    speech = speech_from_waveform(wav, FPS)
    rows.append(("speech features, 60 s (audio stage, for reference)", f"{time.perf_counter() - t:.2f} s", ""))

    generate_procedural(speech)
    s = median_s(lambda: generate_procedural(speech, seed=1), 7)
    rows.append((f"procedural motion without phone timing, 60 s @ {FPS:g} fps ({speech.n_frames} frames)",
                 f"{1000 * s:.0f} ms", f"target < 500 ms: {'ok' if s < 0.5 else 'MISSED'}"))
    from synchrorama_core.audio.phones import phone_track
    track = phone_track(speech, text)
    s = median_s(lambda: generate_procedural(speech, seed=1, phones=track), 7)
    rows.append(("  with visemes from a ready phone track", f"{1000 * s:.0f} ms", f"{track.note}"))
    runs = []
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        motion = generate_procedural(speech, seed=1, phones=phone_track(speech, text))
        runs.append((time.perf_counter() - t, time.process_time() - c))
    s, cpu = np.median(runs, axis=0)
    rows.append(("  with phone timing (aligned) + visemes", f"{s:.2f} s",
                 f"target < 3 s (issue 17): {'ok' if s < 3 else 'MISSED'}; median of 3, CPU {cpu:.2f} s "
                 f"(one thread); load {os.getloadavg()[0]:.1f}"))

    from skimage import data
    face = analyze_face(data.astronaut().astype(np.float32) / 255.0)
    n = 200
    first = MotionData(fps=FPS, duration_s=n / FPS, rotation=motion.rotation[:n], translation=motion.translation[:n],
                       scale=motion.scale[:n], expressions={k: v[:n] for k, v in motion.expressions.items()})
    out = np.empty((n, 512, 512, 3), np.float32)
    for style in STYLES:
        motion_frames(face, first, style, 512, 512)  # warm-up (rig, style chains)
        s = median_s(lambda: motion_frames(face, first, style, 512, 512), 3)
        s32 = median_s(lambda: motion_frames(face, first, style, 512, 512, out=out), 3)
        rows.append((f"motion frames 512x512, {style} (uint8 / float32 IMAGE)",
                     f"{n / s:.0f} / {n / s32:.0f} frames/s",
                     f"target >= 100: {'ok' if min(n / s, n / s32) >= 100 else 'MISSED'}"))

    for name, cfg in (("default", default_config()), ("small", default_config(channels=64))):
        torch.manual_seed(0)
        model = NeuralA2M(cfg)
        model.generate(speech, phones=track)
        s = median_s(lambda: model.generate(speech, seed=1, phones=track), 5)
        rows.append((f"neural A2M inference, 60 s, {name} ({n_parameters(model) / 1e6:.2f} M params, CPU)",
                     f"{1000 * s:.0f} ms", f"{speech.duration_s / s:.0f}x real time (phone track ready)"))

    s = median_s(lambda: draw_motion_curves(motion), 5)
    rows.append(("curves plot, 60 s motion (1024 px wide)", f"{1000 * s:.0f} ms", ""))
    other = generate_procedural(speech, seed=2)
    s = median_s(lambda: adjust_motion(blend_motion(motion, other, 0.5), head_scale=0.5, lip_scale=1.2), 5)
    rows.append(("blend + adjust, 60 s motion", f"{1000 * s:.1f} ms", ""))

    print(f"SynchroRaMa motion benchmark ({os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads)")
    print_table(rows, ("what", "time", "note"), "<>")


if __name__ == "__main__":
    main()
