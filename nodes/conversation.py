"""Conversation nodes: SynchroRaMa Conversation (speech and motion per face), Split Speakers, Mix Audio."""
from __future__ import annotations

import numpy as np

from synchrorama_core.audio import mix_tracks, parse_turns, split_turns, turn_speakers, turn_texts
from synchrorama_core.conversation import MAX_SPEAKERS, assign_speakers
from synchrorama_core.motion.listening import ListeningConfig
from synchrorama_core.scene import format_scene

from .values import SR_CAST, SR_EMOTION, SR_MOTION, SR_SCENE, SR_SPEECH, audio_parts, audio_value

CATEGORY = "SynchroRaMa/conversation"
SLOTS = range(1, MAX_SPEAKERS + 1)


def _lim(name, default, step, tip):
    lo, hi = ListeningConfig.LIMITS[name]
    return ("FLOAT", {"default": default, "min": lo, "max": hi, "step": step, "tooltip": tip})


class SynchroRaMaConversation:
    """Give each person of a cast their speech and motion; add how they listen while another speaks."""

    @classmethod
    def INPUT_TYPES(cls):
        d = ListeningConfig()
        optional = {}
        for k in SLOTS:
            if k > 1:
                optional[f"speech_{k}"] = (SR_SPEECH, {"tooltip": f"speaker {k}'s speech (person {k - 1} of the cast)"})
                optional[f"motion_{k}"] = (SR_MOTION, {"tooltip": f"speaker {k}'s A2M motion, from speech_{k}"})
            optional[f"emotion_{k}"] = (SR_EMOTION, {"tooltip": f"speaker {k}'s emotion: listeners react to it"})
            optional[f"scene_{k}"] = (SR_SCENE, {"tooltip": f"speaker {k}'s own scene: says how they speak in the "
                                                            f"conversation scene"})
        return {
            "required": {
                "cast": (SR_CAST, {"tooltip": "the people of the picture (SynchroRaMa Find Faces); speaker k is "
                                              "person k-1 (left to right unless face_indices reorder them)"}),
                "speech_1": (SR_SPEECH, {"tooltip": "speaker 1's speech (person 0 of the cast)"}),
                "motion_1": (SR_MOTION, {"tooltip": "speaker 1's A2M motion, from speech_1"}),
                "gaze_deg": _lim("gaze_deg", d.gaze_deg, 0.5, "listeners turn their head this far toward the "
                                                                "speaker (degrees)"),
                "speaking_gaze": _lim("speaking_gaze", d.speaking_gaze, 0.05,
                                      "share of that turn a speaker gives the listener"),
                "nod_deg": _lim("nod_deg", d.nod_deg, 0.25, "listeners' nods at the speaker's phrase ends (degrees)"),
                "reaction": _lim("reaction", d.reaction, 0.05, "how much of the speaker's emotion shows on a "
                                                               "listener (0 = none)"),
                "calm": _lim("calm", d.calm, 0.05, "how much a listener's own idle head motion is reduced"),
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "tooltip": "nod timing"}),
            },
            "optional": optional,
        }

    RETURN_TYPES = (SR_CAST, SR_SCENE, "STRING")
    RETURN_NAMES = ("cast", "scene", "turns")
    FUNCTION = "assign"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Speaker k's speech and motion go to person k-1 of the cast. Tracks of different lengths: the "
                   "clip lasts as long as the longest, the shorter speakers rest. Listeners keep their lips at "
                   "rest, blink, nod at the speaker's phrase ends, turn toward the speaker and mirror their emotion "
                   "at lower strength. 'scene' says who speaks when (and how, from each speaker's scene); feed "
                   "'cast' to SynchroRaMa Warp Renderer (conversation).")

    def assign(self, cast, speech_1, motion_1, gaze_deg=7.0, speaking_gaze=0.35, nod_deg=2.0, reaction=0.5,
               calm=0.4, seed=0, **slots):
        slots.update(speech_1=speech_1, motion_1=motion_1)
        speeches, motions, emotions, scenes = [], [], [], []
        for k in SLOTS:
            sp, mo = slots.get(f"speech_{k}"), slots.get(f"motion_{k}")
            if sp is None and mo is None:
                if any(slots.get(f"speech_{j}") is not None for j in SLOTS if j > k):
                    raise ValueError(f"speech_{k} is not connected but a later speaker is; connect speakers in "
                                     f"order 1, 2, ...")
                continue
            if sp is None or mo is None:
                raise ValueError(f"speaker {k}: connect both speech_{k} and motion_{k}")
            speeches.append(sp)
            motions.append(mo)
            emotions.append(slots.get(f"emotion_{k}"))
            scenes.append(slots.get(f"scene_{k}"))
        cast, scene = assign_speakers(cast, speeches, motions, emotions, scenes, gaze_deg=gaze_deg,
                                      speaking_gaze=speaking_gaze, nod_deg=nod_deg, reaction=reaction, calm=calm,
                                      seed=seed)
        return cast, scene, format_scene(scene)


class SynchroRaMaSplitSpeakers:
    """One recording of several voices -> one AUDIO per speaker, by time ranges."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "audio": ("AUDIO", {"tooltip": "one recording holding every voice"}),
                "turns": ("STRING", {"default": "0-2.5:0, 2.5-end:1", "multiline": True,
                                     "tooltip": "who speaks when: 'start-end:speaker' in seconds, separated by commas "
                                                "or lines; speakers numbered from 0 (speaker 0 -> audio_1 -> "
                                                "person 0 of the cast); 'end' = to the end. Or a script, one turn "
                                                "per line followed by its words ('0-2.5:0 Hello there!'): "
                                                "text_k is then speaker k's transcript"}),
            },
        }

    RETURN_TYPES = ("AUDIO",) * MAX_SPEAKERS + ("STRING",) * MAX_SPEAKERS
    RETURN_NAMES = tuple(f"audio_{k}" for k in SLOTS) + tuple(f"text_{k}" for k in SLOTS)
    FUNCTION = "split"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Splits one recording of several voices into one track per speaker: each keeps its own turns "
                   "and is silent elsewhere (time in no turn is silent in every track). Unused outputs are silent. "
                   "With a script (words after each turn), text_k is speaker k's transcript, for their Emotion "
                   "Embedder: the whole dialogue is typed once.")

    def split(self, audio, turns):
        waveform, sr = audio_parts(audio)
        w = waveform.detach().cpu().float().numpy() if hasattr(waveform, "detach") else np.asarray(waveform, np.float32)
        w = w[0] if w.ndim == 3 else w
        tl = parse_turns(turns)
        if turn_speakers(tl) > MAX_SPEAKERS:
            raise ValueError(f"the turns name {turn_speakers(tl)} speakers; this node has {MAX_SPEAKERS} outputs")
        tracks = split_turns(w, sr, tl, MAX_SPEAKERS)
        return tuple(audio_value(t, sr) for t in tracks) + tuple(turn_texts(tl, MAX_SPEAKERS))


class SynchroRaMaMixAudio:
    """Several speakers' AUDIO mixed into one (the conversation's sound)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"audio_1": ("AUDIO",)},
                "optional": {f"audio_{k}": ("AUDIO",) for k in SLOTS if k > 1}}

    RETURN_TYPES = ("AUDIO",)
    RETURN_NAMES = ("audio",)
    FUNCTION = "mix"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Mixes the connected tracks: the highest sample rate, stereo when any is stereo, as long as the "
                   "longest; scaled down only if the sum would clip.")

    def mix(self, audio_1, **more):
        tracks = []
        for a in [audio_1] + [more[f"audio_{k}"] for k in SLOTS if more.get(f"audio_{k}") is not None]:
            w, sr = audio_parts(a)
            w = w.detach().cpu().float().numpy() if hasattr(w, "detach") else np.asarray(w, np.float32)
            tracks.append((w[0] if w.ndim == 3 else w, sr))
        mixed, rate = mix_tracks(tracks)
        return (audio_value(mixed, rate),)


NODE_CLASS_MAPPINGS = {"SynchroRaMaConversation": SynchroRaMaConversation,
                       "SynchroRaMaSplitSpeakers": SynchroRaMaSplitSpeakers,
                       "SynchroRaMaMixAudio": SynchroRaMaMixAudio}
NODE_DISPLAY_NAME_MAPPINGS = {"SynchroRaMaConversation": "SynchroRaMa Conversation",
                              "SynchroRaMaSplitSpeakers": "SynchroRaMa Split Speakers",
                              "SynchroRaMaMixAudio": "SynchroRaMa Mix Audio"}
