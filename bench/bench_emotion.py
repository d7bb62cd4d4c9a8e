"""Benchmark: the emotion embedder with its zero-download defaults on 60 s of real speech.

    python bench/bench_emotion.py [--seconds 60] [--repeat 5]

The speech is synthesised by espeak-ng (the sentences of a paragraph with happy, sad and
neutral sentences, cycled to the length asked for; the transcript is what is heard) and analysed once by the audio stage (SR_SPEECH is the
embedder's input, so its cost is shown separately).  Prints a table of median times; the
machine may be shared, so compare with care.  Target: whole embedder < 2 s for 60 s.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from synchrorama_core.audio import load_speech_waveform, speech_from_waveform  # noqa: E402
from synchrorama_core.emotion import draw_timeline, embed_emotion, fuse, summarize  # noqa: E402
from synchrorama_core.emotion import prosody  # noqa: E402
from synchrorama_core.emotion.embed import DEFAULT_WEIGHTS, default_text_analyzer, timed_transcript  # noqa: E402
from synchrorama_core.emotion.text import analyze_texts, text_part  # noqa: E402
from synchrorama_core.transcript import split_sentences  # noqa: E402
from _common import print_table, timed  # noqa: E402

PARAGRAPH = ("Good morning everyone, and thank you for coming. I am so happy to see all of you here today! "
             "This has been a wonderful year for our little team. But I also have some sad news to share. "
             "Our dear friend Anna is leaving us, and I will miss her terribly. "
             "I was shocked when I heard it, I could not believe it. "
             "Still, we should not be afraid of change. The meeting continues at three o'clock in room twelve. "
             "Please bring your notes and a pen. Thank you, and have a great afternoon!")


def _speech(seconds: float):
    """``seconds`` of audio: the paragraph's sentences spoken one after another (cycled) as long as
    they fit, then silence; the transcript is exactly the sentences heard, with their true starts."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        sys.exit("espeak-ng is needed for the benchmark speech (apt-get install espeak-ng)")
    sentences = split_sentences(PARAGRAPH)
    waves = []
    with tempfile.TemporaryDirectory() as d:
        for i, sent in enumerate(sentences):
            path = os.path.join(d, f"s{i}.wav")
            subprocess.run([exe, "-v", "en-us", "-s", "160", "-w", path, sent], check=True, capture_output=True)
            waves.append(load_speech_waveform(path))
    need = int(round(seconds * 16000))
    ys, said, starts, total, i = [], [], [], 0, 0
    while total + len(waves[i % len(waves)]) <= need:
        ys.append(waves[i % len(waves)])
        said.append(sentences[i % len(sentences)])
        starts.append(total / 16000.0)
        total += len(ys[-1])
        i += 1
    ys.append(np.zeros(need - total, np.float32))  # the rest (less than a sentence): silence
    return np.concatenate(ys), " ".join(said), np.array(starts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fps", type=float, default=25.0)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()

    y, text, true_starts = _speech(a.seconds)
    t_feat, speech = timed(lambda: speech_from_waveform(y, a.fps), 1)
    embed_emotion(speech, text)  # warm-up (loads VADER's lexicon once)
    rows = []
    t_def, emo = timed(lambda: embed_emotion(speech, text), a.repeat)
    rows.append(("embed_emotion, defaults + transcript", t_def))
    t_nt, _ = timed(lambda: embed_emotion(speech, ""), a.repeat)
    rows.append(("embed_emotion, defaults, no transcript", t_nt))
    # per modality (the same calls embed_emotion makes)
    lex = default_text_analyzer()
    t_seg, segs = timed(lambda: timed_transcript(speech, text), a.repeat)
    rows.append(("  text: sentences timed over the voice (DP)", t_seg))
    t_lex, semo = timed(lambda: analyze_texts(lex, [s.text for s in segs]), a.repeat)
    rows.append((f"  text: lexicon on {len(segs)} sentences", t_lex))
    t_tp, tpart = timed(lambda: text_part(segs, semo, speech.n_frames, speech.fps, lex.name), a.repeat)
    rows.append(("  text: per-frame part", t_tp))
    t_z, z = timed(lambda: prosody.cue_zscores(speech), a.repeat)
    rows.append(("  speech + va: prosodic cues (shared)", t_z))
    t_sp, spart = timed(lambda: prosody.speech_part(speech, z), a.repeat)
    rows.append(("  speech: prosodic SER part", t_sp))
    t_va, vpart = timed(lambda: prosody.va_part(speech, z), a.repeat)
    rows.append(("  va: prosodic valence/arousal part", t_va))
    parts = {"text": tpart, "speech": spart, "va": vpart}
    t_fu, _ = timed(lambda: fuse(parts, DEFAULT_WEIGHTS, speech.fps, speech.duration_s), a.repeat)
    rows.append(("  fusion (confidence x weight, smoothing)", t_fu))
    t_plot, _ = timed(lambda: draw_timeline(emo), a.repeat)
    rows.append(("timeline picture (1024 px)", t_plot))
    t_sum, _ = timed(lambda: summarize(emo), a.repeat)
    rows.append(("summary line", t_sum))

    def node():
        from nodes.emotion import SynchroRaMaEmotionEmbedder
        return SynchroRaMaEmotionEmbedder().embed(speech, text, 1.0, 1.0, 1.0, 0.3, 1.0, "none", 0.0)
    node()
    t_node, _ = timed(node, a.repeat)
    rows.append(("Emotion Embedder node (all outputs)", t_node))

    print(f"emotion embedder on {speech.duration_s:.1f} s of espeak-ng speech, {speech.n_frames} frames at "
          f"{a.fps:g} fps, {len(emo.meta['segments'])} sentences; median of {a.repeat} runs "
          f"(SR_SPEECH features, not part of the embedder: {t_feat:.2f} s)")
    print_table([(name, f"{1000 * t:.2f}", f"{speech.duration_s / max(t, 1e-9):.0f}") for name, t in rows],
                ("step", "ms", "x real time"), "<>>")
    ok = t_node < 2.0 * a.seconds / 60.0
    print(f"target: whole embedder < 2 s per 60 s of speech -> {'met' if ok else 'NOT met'} ({t_node:.3f} s)")
    # how well the transcript timing (no Whisper) matches where each sentence really is
    got = np.array([sg.start_s for sg in segs])
    on = np.flatnonzero(speech.features["vad"] > 0.5) / speech.fps
    truth = np.array([on[np.searchsorted(on, t0 - 1e-9)] for t0 in true_starts])  # first voiced frame
    err = np.abs(got - truth)
    print(f"sentence timing vs truth ({len(err)} sentences): median {np.median(err):.2f} s, "
          f"max {err.max():.2f} s, within 0.25 s: {np.mean(err <= 0.25) * 100:.0f}%")
    print(summarize(emo))
    print(f"(load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores; "
          f"other processes share this machine)")


if __name__ == "__main__":
    main()
