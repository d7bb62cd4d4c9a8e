"""Conversations: several faces in one picture, each with its own speech track (plain Python, the CLI).

::

    from synchrorama_core.conversation import generate_conversation
    res = generate_conversation("two_people.jpg", ["left.wav", "right.wav"],
                                texts=["Hello! How are you?", "Fine, thank you."], out="talk.mp4")
    # one recording of both voices, split by time ranges (speakers numbered from 0, left to right):
    res = generate_conversation("two_people.jpg", ["both.wav"], turns="0-2.4:0, 2.4-5:1, 5-end:0", out="talk.mp4")

Speaker ``k`` is the ``k``-th face from the left, or face ``face_indices[k]`` when given.  The
picture may also be a list of portraits, composed side by side (:func:`~.image.side_by_side`).

Stages (each through its public API; the single-speaker :func:`~.pipeline.generate` is unchanged)::

    picture -> analyze_cast (every face, left to right) -> speakers assigned to faces
    tracks (files, or one file split by turns) -> SR_SPEECH per speaker
    per speaker: emotion (own track + own transcript) -> scene (own face) -> A2M motion
    assign_speakers: shorter motions padded with rest, add_listening (gaze, nods, reactions, lips at
    rest), conversation scene (who speaks when)
    CastRenderer (one seamless frame) + the mix of the tracks -> mp4, OUT.json

Errors that name both counts: more tracks than faces, a face index that does not exist, a
number of ``face_indices`` or transcripts that is not one per track.  Tracks of different
lengths make a clip as long as the longest; the shorter speakers rest (and listen) after theirs ends.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from . import __version__
from .errors import AudioError, InvalidDataError
from .face import MAX_CAST_SIDE
from .image import load_image, side_by_side, to_rgb_float
from .outputs import commit, discard, reserve
from .pipeline import (EMOTION_OPTIONS, MOTION_OPTIONS, SCENE_OPTIONS, VIDEO_OPTIONS, ProgressCb, _check_audio_path,
                       _option_value, _output_path, _pick, _render_options, _Run, _write_json, emotion_summary,
                       encode_to_file, json_path_for, motion_generator, output_files, speech_dict)
from .timing import check_fps
from .types import CastData, EmotionData, MotionData, SceneData, SpeechData

#: Options of the listening behaviour (:class:`~.motion.listening.ListeningConfig`).
LISTENING_OPTIONS = ("gaze_deg", "speaking_gaze", "nod_deg", "reaction", "calm")
#: At most this many speakers (the ComfyUI node has as many slots).
MAX_SPEAKERS = 4


@dataclass
class ConversationResult:
    """What :func:`generate_conversation` made: the files, every speaker's values and the timings."""

    video_path: str
    json_path: str
    n_frames: int
    fps: float
    duration_s: float
    timings: Dict[str, float]
    cast: CastData                      # the people, with their final motions (listening included)
    speeches: List[SpeechData]
    emotions: List[EmotionData]
    scenes: List[SceneData]             # each speaker's own scene (drives their gestures)
    scene: SceneData                    # the conversation: who speaks when
    motions: List[MotionData]
    video: Dict[str, Any] = field(default_factory=dict)
    report: Dict[str, Any] = field(default_factory=dict)


def _picture(image):
    """``(picture [H, W, 3], source name)``: one image, or several portraits composed side by side."""
    items = image if isinstance(image, (list, tuple)) else [image]
    if not items:
        raise InvalidDataError("no picture given; pass the picture with every speaker's face (--image IMG)")
    vals, names = [], []
    for i, im in enumerate(items):
        if isinstance(im, (str, os.PathLike)):
            vals.append(load_image(im, i, len(items)))
            names.append(os.fspath(im))
        else:
            vals.append(im)
            names.append(getattr(im, "filename", "") or f"image {i}")
    pic = to_rgb_float(vals[0], "the picture") if len(vals) == 1 else side_by_side(vals)
    return pic, names[0] if len(vals) == 1 else " | ".join(names)


def _per_speaker(values, n: int, what: str, flag: str) -> List[str]:
    if values is None:
        return [""] * n
    if isinstance(values, str):
        values = [values]
    values = [(v or "").strip() for v in values]
    if len(values) == 0:
        return [""] * n
    if len(values) != n:
        raise InvalidDataError(f"{len(values)} {what} for {n} speakers; give {flag} once per speech track, in the "
                               f"same order (an empty one for a speaker without), or not at all")
    return values


def _each(run: _Run, name: str, fns: Sequence[Callable]):
    """Run ``fns[k](progress, cancelled)`` for every speaker as one stage ``name`` (timed, one progress share)."""
    def all_of(progress=None, cancelled=None):
        out = []
        for k, fn in enumerate(fns):
            sub = (lambda d, t, k=k: progress(k * max(t, 1) + d, len(fns) * max(t, 1))) if progress else None
            out.append(fn(sub, cancelled))
        return out
    return run.stage(name, all_of)


def assign_speakers(cast: CastData, speeches: Sequence[SpeechData], motions: Sequence[MotionData],
                    emotions: Optional[Sequence[Optional[EmotionData]]] = None,
                    scenes: Optional[Sequence[Optional[SceneData]]] = None, **listening) -> tuple:
    """Give speaker ``k``'s motion to person ``k`` of ``cast``: ``(cast with motions, conversation scene)``.

    Motions of different lengths are padded with rest to the longest
    (:func:`~.motion.adjust.pad_motion`: the shorter speaker rests); then every speaker's listening
    behaviour is added from everyone's speech and emotion and the faces' places
    (:func:`~.motion.listening.add_listening`, options ``listening``: keys of
    :data:`LISTENING_OPTIONS` and ``seed``), and the conversation scene says who speaks when
    (:func:`~.scene.conversation_scene`; each speaker's own scene, when given, says how).  People of
    the cast beyond the speakers stay as photographed.  More speakers than people is an error
    naming both counts."""
    from .motion import add_listening, pad_motion
    from .scene import conversation_scene
    if not isinstance(cast, CastData):
        raise InvalidDataError(f"expected an SR_CAST value (SynchroRaMa Find Faces), got {type(cast).__name__}")
    speeches, motions = list(speeches), list(motions)
    k = len(speeches)
    if k == 0:
        raise InvalidDataError("no speaker given; connect speech_1 and motion_1 at least")
    if len(motions) != k:
        raise InvalidDataError(f"{k} speech values but {len(motions)} motions; each speaker needs both")
    if k > cast.count:
        raise InvalidDataError(f"{k} speakers but the cast holds only {cast.count} face(s); give at most "
                               f"{cast.count} speakers, or find more faces (a picture with a face for every speaker)")
    for name, vals in (("emotion", emotions), ("scene", scenes)):
        if vals is not None and len(vals) != k:
            raise InvalidDataError(f"{len(vals)} {name} values for {k} speakers; give one per speaker (None for none)")
    bad = [i for i in range(1, k) if abs(motions[i].fps - motions[0].fps) > 1e-9]
    if bad:
        raise InvalidDataError(f"motion {bad[0]} runs at {motions[bad[0]].fps:g} fps but motion 0 at "
                               f"{motions[0].fps:g} fps; make every speaker's speech features at one fps")
    dur = max(m.duration_s for m in motions)
    padded = [pad_motion(m, dur) for m in motions]
    places = [((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0, b[2] - b[0]) for b in cast.boxes[:k]]
    final = add_listening(padded, speeches, emotions, places, **listening)
    scene = conversation_scene(scenes, speeches, cast.names[:k])
    return cast.with_motions(final + [None] * (cast.count - k)), scene


def speaker_tracks(audios: Sequence, turns, n_speakers: Optional[int], fps: float, start_s: float,
                   duration_s: Optional[float]):
    """The speakers' 16 kHz tracks and the video's sound ``(waveform, rate)``, their sources and the turns.

    ``audios``: one path per speaker (tracks keep their own lengths: a shorter speaker's motion is
    later padded with rest, not analysed over silence), or (with ``turns``) one path holding every
    voice (every track then has the recording's length)."""
    from .audio import decode_audio, load_speech_waveform, mix_tracks, parse_turns, split_turns, turn_speakers
    paths = [_check_audio_path(a) for a in audios]
    if turns:
        if len(paths) != 1:
            raise InvalidDataError(f"speaker turns split one recording, but {len(paths)} audio files were given; give "
                                   f"one file with every voice, or one file per speaker without turns")
        tl = parse_turns(turns)
        n = n_speakers if n_speakers is not None else turn_speakers(tl)
        y = load_speech_waveform(paths[0], start_s=start_s, duration_s=duration_s)
        tracks = split_turns(y, 16000, tl, n, start_s=start_s or 0.0)
        sound = decode_audio(paths[0], start_s=start_s or 0.0, duration_s=duration_s)
        sources = [f"{paths[0]} (speaker {k} turns)" for k in range(n)]
        listed = [{"start_s": t.start_s, "end_s": None if np.isinf(t.end_s) else t.end_s, "speaker": t.speaker,
                   "text": t.text} for t in tl]
        return tracks, sound, sources, listed
    tracks = [load_speech_waveform(p, start_s=start_s, duration_s=duration_s) for p in paths]
    sound = mix_tracks([decode_audio(p, start_s=start_s or 0.0, duration_s=duration_s) for p in paths])
    return tracks, sound, paths, None


def generate_conversation(image, audios, texts=None, fps: float = 25.0, out: str = "conversation.mp4",
                          seed: int = 0, *, face_indices: Optional[Sequence[int]] = None, turns=None,
                          names: Optional[Sequence[str]] = None, start_s: float = 0.0,
                          duration_s: Optional[float] = None, emotion_options: Optional[dict] = None,
                          scene_backend: Any = None, scene_options: Optional[dict] = None, motion_model: Any = None,
                          motion_options: Optional[dict] = None, listening_options: Optional[dict] = None,
                          render_options: Any = None, video_options: Optional[dict] = None, write_json: bool = True,
                          max_side: int = MAX_CAST_SIDE, progress: Optional[ProgressCb] = None,
                          cancelled: Optional[Callable[[], bool]] = None) -> ConversationResult:
    """Make a conversation video ``out`` (H.264/AAC mp4, the tracks mixed) and ``OUT.json`` beside it.

    ``image``: the picture with every speaker's face (path, array or PIL image), or a list of
    portraits to compose side by side.  ``audios``: one speech file per speaker, or one file with
    ``turns`` (``"start-end:speaker, ..."``, a script of ``start-end:speaker words`` lines, or
    ``(start_s, end_s, speaker)`` items).  ``texts``: one transcript per speaker (optional; a script's
    words are used when not given).  ``face_indices``: which face each speaker is (faces counted
    from 0 on the left; default: speakers left to right).  ``names``: how the scene text names them
    (default by place).  ``listening_options``: keys of :data:`LISTENING_OPTIONS`.  ``max_side``: a
    picture whose longest side is larger is scaled down to it, whole (every face must stay; a warning
    says so; 0 = never).  The other options are those of :func:`~.pipeline.generate`, applied to every
    speaker (speaker ``k``'s motion seed is ``seed + k``).  Output files appear only when complete:
    an error or a cancel leaves neither the video nor ``OUT.json``.
    """
    from .audio import parse_turns, turn_speakers, turn_texts
    from .face import analyze_cast
    from .render import CastRenderer

    t_all = time.perf_counter()
    out = _output_path(out)
    emotion_options = _pick(emotion_options, EMOTION_OPTIONS, "emotion")
    scene_options = _pick(scene_options, SCENE_OPTIONS, "scene")
    motion_options = _pick(motion_options, MOTION_OPTIONS, "motion")
    listening_options = _pick(listening_options, LISTENING_OPTIONS, "listening")
    video_options = _pick(video_options, VIDEO_OPTIONS, "video")
    render_options = _render_options(render_options)
    fps = check_fps(fps)
    audios = [audios] if isinstance(audios, (str, os.PathLike)) else list(audios or [])
    if not audios:
        raise InvalidDataError("no speech given; pass one audio file per speaker (--audio, repeated)")
    has_turns = bool(turns.strip()) if isinstance(turns, str) else bool(turns)
    if face_indices is not None and len(face_indices) == 0:
        face_indices = None
    if has_turns:
        n_named = turn_speakers(parse_turns(turns))
        n = len(face_indices) if face_indices is not None else n_named
        if n_named > n:
            raise InvalidDataError(f"the speaker turns name speaker {n_named - 1} but {n} face indices were given "
                                   f"(speakers 0..{n - 1})")
    else:
        n = len(audios)
        if face_indices is not None and len(face_indices) != n:
            raise InvalidDataError(f"{len(face_indices)} face indices for {n} speech tracks; give --face-index once "
                                   f"per --audio (in the same order), or not at all (speakers are then the faces "
                                   f"from the left)")
    if n > MAX_SPEAKERS:
        raise InvalidDataError(f"{n} speakers; at most {MAX_SPEAKERS} are supported")
    if has_turns and not texts:
        texts = turn_texts(parse_turns(turns), n)          # a script with words gives each speaker's transcript
    texts = _per_speaker(texts, n, "transcripts", "--text")
    picture, source = _picture(image)
    temps = reserve(output_files(out, write_json))
    try:
        run = _Run(progress, cancelled)
        cast = run.stage("face", analyze_cast, picture, face_indices=face_indices, count=n, names=names,
                         source=source, max_side=max_side)
        del picture
        tracks, (sound, rate), sources, turn_list = speaker_tracks(audios, turns if has_turns else None,
                                                                   n if has_turns else None, fps, start_s, duration_s)
        speeches, emotions, scenes, own = _speaker_stages(run, cast, tracks, sources, texts, fps, seed, start_s,
                                                          emotion_options, scene_backend, scene_options,
                                                          motion_model, motion_options)
        del tracks
        t = time.perf_counter()
        cast, scene = assign_speakers(cast, speeches, own, emotions, scenes, seed=int(seed), **listening_options)
        motions = cast.motions
        run.timings["listening_and_scene"] = time.perf_counter() - t

        run.check()
        t = time.perf_counter()
        renderer = CastRenderer(cast, render_options)
        run.timings["render_setup"] = time.perf_counter() - t
        frames = renderer.frames(progress=run.prog.stage("render"), cancelled=run.stop_check, dtype=np.uint8)
        info = encode_to_file(run, frames, fps, motions[0].n_frames, sound, rate, out, temps[0], video_options)
        del sound
        run.timings["total"] = time.perf_counter() - t_all

        jpath = json_path_for(out)
        report = build_conversation_report(
            info=info, source=source, audios=[os.fspath(a) for a in audios], texts=texts, turns=turn_list,
            face_indices=face_indices, fps=fps, seed=seed, start_s=start_s, duration_s=duration_s,
            options={"emotion": {k: _option_value(v) for k, v in emotion_options.items()},
                     "scene_backend": "template" if scene_backend is None else _option_value(scene_backend),
                     "scene": scene_options, "motion_model": own[0].generator, "motion": motion_options,
                     "listening": listening_options,
                     "render": {k: getattr(render_options, k) for k in render_options.__dataclass_fields__},
                     "video": video_options, "max_side": int(max_side)},
            timings=run.timings, cast=cast, speeches=speeches, emotions=emotions, scenes=scenes, scene=scene,
            tiles=renderer.tiles)
        if write_json:
            _write_json(temps[1], report, jpath)
        commit(list(zip(temps, [out, jpath])))
    except BaseException:
        discard(temps)
        raise
    run.prog.finish()
    return ConversationResult(video_path=out, json_path=jpath if write_json else "", n_frames=motions[0].n_frames,
                              fps=fps, duration_s=max(sp.duration_s for sp in speeches), timings=dict(run.timings),
                              cast=cast, speeches=speeches, emotions=emotions, scenes=scenes, scene=scene,
                              motions=motions, video=info.to_dict(), report=report)


def _speaker_stages(run: _Run, cast: CastData, tracks, sources, texts, fps: float, seed: int, start_s: float,
                    emotion_options: dict, scene_backend: Any, scene_options: dict, motion_model: Any,
                    motion_options: dict) -> tuple:
    """Each speaker's own speech features, emotion, scene (with their face) and A2M motion, one stage
    at a time for everyone.  Returns ``(speeches, emotions, scenes, motions)``."""
    from .audio import speech_from_waveform
    from .emotion import embed_emotion
    from .scene import describe_scene
    n = len(tracks)
    speeches = _each(run, "speech", [
        (lambda p, c, y=y, src=src: speech_from_waveform(y, fps, source=src, start_s=float(start_s or 0.0),
                                                         progress=p, cancelled=c)) for y, src in zip(tracks, sources)])
    for k, sp in enumerate(speeches):
        if sp.n_frames < 1:
            raise AudioError(f"speaker {k}'s track ({os.path.basename(sources[k])}) holds "
                             f"{sp.duration_s * 1000:.1f} ms of audio, shorter than one video frame "
                             f"({1000 / fps:.1f} ms at {fps:g} fps); use longer speech")
    emotions = _each(run, "emotion", [
        (lambda p, c, k=k: embed_emotion(speeches[k], texts[k], progress=p, cancelled=c, **emotion_options))
        for k in range(n)])
    scenes = _each(run, "scene", [
        (lambda p, c, k=k: describe_scene(speeches[k], texts[k], emotions[k], cast.person(k), backend=scene_backend,
                                          seed=int(seed) + k, progress=p, cancelled=c, **scene_options))
        for k in range(n)])
    a2m = motion_generator(motion_model, motion_options)
    motions = _each(run, "motion", [
        (lambda p, c, k=k: a2m(speeches[k], emotions[k], scenes[k], texts[k], seed=int(seed) + k, progress=p,
                               cancelled=c)) for k in range(n)])
    return speeches, emotions, scenes, motions

def bundled_conversation() -> Dict[str, Any]:
    """The bundled conversation sample: ``image`` (two public-domain portraits side by side, 512x1024),
    ``audio`` (one track, both voices), ``script`` (one ``start-end:speaker<TAB>words`` line per turn),
    ``turns`` (the same without the words) and ``texts`` (what each speaker says, joined over their
    turns); see ``assets/README.md``."""
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
    paths = {"image": os.path.join(d, "sample_conversation.jpg"), "audio": os.path.join(d, "sample_conversation.flac"),
             "text_file": os.path.join(d, "sample_conversation.txt")}
    for k, p in paths.items():
        if not os.path.isfile(p):
            raise FileNotFoundError(f"the bundled conversation sample {k} is missing: {p}; reinstall the node pack")
    from .audio import parse_turns, turn_texts
    with open(paths["text_file"], "r", encoding="utf-8") as f:
        script = f.read()
    turns = parse_turns(script)
    return {"image": paths["image"], "audio": paths["audio"], "script": script,
            "turns": ", ".join(f"{t.start_s:g}-{t.end_s:g}:{t.speaker}" for t in turns), "texts": turn_texts(turns)}


def demo_conversation(out: str = "synchrorama_conversation.mp4", duration_s: Optional[float] = None,
                      **kw) -> ConversationResult:
    """:func:`generate_conversation` on the bundled two-person sample (optionally only its first seconds)."""
    s = bundled_conversation()
    return generate_conversation(s["image"], [s["audio"]], turns=s["script"], out=out, duration_s=duration_s, **kw)


def cast_dict(cast: CastData) -> dict:
    """``cast.to_dict()`` without the picture's pixels (replaced by its size) and without the motions
    (each speaker's motion is in the report's ``speakers`` list)."""
    d = cast.to_dict()
    d.pop("image", None)
    d.pop("motions", None)
    d["image_summary"] = {"omitted": "the picture's pixels are the input image; not repeated here",
                          "size_hw": list(cast.size)}
    return d


def build_conversation_report(*, info, source: str, audios: List[str], texts: List[str], turns, face_indices,
                              fps: float, seed: int, start_s: float, duration_s: Optional[float], options: dict,
                              timings: Dict[str, float], cast: CastData, speeches: List[SpeechData],
                              emotions: List[EmotionData], scenes: List[SceneData], scene: SceneData,
                              tiles) -> dict:
    """``OUT.json`` of a conversation: video, inputs, options, timings, a summary per speaker, the
    cast (without pixels), the conversation scene and every speaker's stage values."""
    speakers = []
    for k in range(cast.count):
        m = cast.motions[k]
        lis = m.meta.get("listening", {})
        speakers.append({"name": cast.names[k], "face_index": cast.face_index[k],
                         "box": [round(float(v), 2) for v in cast.boxes[k]], "tile": list(tiles[k]),
                         "track": speeches[k].source, "text": texts[k],
                         "speaking_s": lis.get("speaking_s"), "listening_s": lis.get("listening_s"),
                         "nods_while_listening": lis.get("nods"), "emotion": emotion_summary(emotions[k])["fused"]})
    return {
        "synchrorama": __version__,
        "kind": "conversation",
        "video": info.to_dict(),
        "inputs": {"image": source, "audios": audios, "texts": texts, "turns": turns,
                   "face_indices": None if face_indices is None else [int(i) for i in face_indices],
                   "fps": fps, "seed": int(seed), "start_s": float(start_s or 0.0),
                   "duration_s": None if duration_s is None else float(duration_s)},
        "options": options,
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        "summary": {"duration_s": round(max(sp.duration_s for sp in speeches), 4),
                    "n_frames": cast.motions[0].n_frames, "fps": fps,
                    "speakers": speakers,
                    "scene": [{"start_s": s.start_s, "end_s": s.end_s, "description": s.description,
                               "actions": list(s.actions)} for s in scene.segments]},
        "cast": cast_dict(cast),
        "scene": scene.to_dict(),
        "speakers": [{"speech": speech_dict(speeches[k]), "emotion": emotions[k].to_dict(),
                      "scene": scenes[k].to_dict(), "motion": cast.motions[k].to_dict()} for k in range(cast.count)],
    }


__all__ = ["ConversationResult", "LISTENING_OPTIONS", "MAX_SPEAKERS", "assign_speakers",
           "build_conversation_report", "bundled_conversation", "cast_dict", "demo_conversation",
           "generate_conversation", "speaker_tracks"]
