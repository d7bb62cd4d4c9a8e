"""Emotion stage nodes: model loaders, SynchroRaMa Emotion Embedder, SynchroRaMa Emotion Override/Blend."""
from __future__ import annotations

from synchrorama_core.emotion import (TARGETS, blend_emotion, draw_timeline, embed_emotion, load_ser_model,
                                      load_text_model, load_va_model, load_whisper_model, summarize)
from synchrorama_core.emotion.audio_models import VA_RANGES

from . import comfy_adapter as comfy
from .values import SR_EMOTION, SR_SPEECH, list_to_image

CATEGORY = "SynchroRaMa/emotion"

SR_TEXT_EMOTION_MODEL = "SR_TEXT_EMOTION_MODEL"
SR_SER_MODEL = "SR_SER_MODEL"
SR_VA_MODEL = "SR_VA_MODEL"
SR_WHISPER_MODEL = "SR_WHISPER_MODEL"


def _model_inputs(kind: str, what: str) -> dict:
    names = comfy.list_model_dirs(kind) or [""]
    folder = comfy.model_dirs(kind)[0]
    return {
        "model": (names, {"default": names[0],
                          "tooltip": f"{what} folder under {folder} (empty: none found there yet)"}),
        "path": ("STRING", {"default": "", "tooltip": "full path of a model folder; overrides 'model' when set"}),
    }


def _pick(model: str, path: str) -> str:
    return (path or "").strip() or (model or "")


class SynchroRaMaTextEmotionModelLoader:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": _model_inputs("text_emotion", "transformers text-classification model")}

    RETURN_TYPES = (SR_TEXT_EMOTION_MODEL,)
    RETURN_NAMES = ("text_model",)
    FUNCTION = "load"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Loads a transformers sequence-classification emotion or sentiment model from "
                   "models/synchrorama/text_emotion/ (local files only). Its labels (joy, anger, sadness, ..., "
                   "positive/negative) are mapped onto the 8 MEAD emotions by name.")

    def load(self, model, path=""):
        return (load_text_model(_pick(model, path), comfy.model_dirs("text_emotion"), device=comfy.torch_device()),)


class SynchroRaMaSERModelLoader:
    @classmethod
    def INPUT_TYPES(cls):
        d = _model_inputs("ser", "transformers audio-classification speech emotion model")
        d.update({
            "window_s": ("FLOAT", {"default": 2.0, "min": 0.5, "max": 30.0, "step": 0.1,
                                   "tooltip": "length of each analysed window"}),
            "hop_s": ("FLOAT", {"default": 0.5, "min": 0.05, "max": 30.0, "step": 0.05,
                                "tooltip": "step between windows (smaller = finer in time, slower)"}),
        })
        return {"required": d}

    RETURN_TYPES = (SR_SER_MODEL,)
    RETURN_NAMES = ("ser_model",)
    FUNCTION = "load"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Loads a transformers audio-classification speech emotion model (wav2vec2 / HuBERT / WavLM, "
                   "16 kHz) from models/synchrorama/ser/; run in sliding windows by the Emotion Embedder.")

    def load(self, model, path="", window_s=2.0, hop_s=0.5):
        return (load_ser_model(_pick(model, path), comfy.model_dirs("ser"), device=comfy.torch_device(),
                               window_s=window_s, hop_s=hop_s),)


class SynchroRaMaVAModelLoader:
    @classmethod
    def INPUT_TYPES(cls):
        d = _model_inputs("va", "transformers audio valence/arousal regression model")
        d.update({
            "output_range": (list(VA_RANGES), {"default": "-1..1",
                                               "tooltip": "the range the model's outputs are in (mapped to -1..1)"}),
            "window_s": ("FLOAT", {"default": 2.0, "min": 0.5, "max": 30.0, "step": 0.1}),
            "hop_s": ("FLOAT", {"default": 0.5, "min": 0.05, "max": 30.0, "step": 0.05}),
        })
        return {"required": d}

    RETURN_TYPES = (SR_VA_MODEL,)
    RETURN_NAMES = ("va_model",)
    FUNCTION = "load"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Loads a transformers audio model with a regression head whose outputs are named 'valence' and "
                   "'arousal' (id2label) from models/synchrorama/va/.")

    def load(self, model, path="", output_range="-1..1", window_s=2.0, hop_s=0.5):
        return (load_va_model(_pick(model, path), comfy.model_dirs("va"), device=comfy.torch_device(),
                              window_s=window_s, hop_s=hop_s, output_range=output_range),)


class SynchroRaMaWhisperModelLoader:
    @classmethod
    def INPUT_TYPES(cls):
        d = _model_inputs("whisper", "Whisper model (transformers format)")
        d["language"] = ("STRING", {"default": "", "tooltip": "e.g. 'en' or 'german'; empty = detect "
                                                              "(multilingual models only)"})
        return {"required": d}

    RETURN_TYPES = (SR_WHISPER_MODEL,)
    RETURN_NAMES = ("whisper_model",)
    FUNCTION = "load"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Loads a Whisper model from models/synchrorama/whisper/. Connected to the Emotion Embedder with an "
                   "empty transcript, it transcribes the speech with timestamps so text emotion lands on time.")

    def load(self, model, path="", language=""):
        return (load_whisper_model(_pick(model, path), comfy.model_dirs("whisper"), device=comfy.torch_device(),
                                   language=language),)


_W = {"default": 1.0, "min": 0.0, "max": 5.0, "step": 0.05}


class SynchroRaMaEmotionEmbedder:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "speech": (SR_SPEECH,),
                "transcript": ("STRING", {"multiline": True, "default": "",
                                          "tooltip": "what is said; its sentences are spread over the voiced time. "
                                                     "Leave empty to transcribe with a connected Whisper model"}),
                "text_weight": ("FLOAT", dict(_W, tooltip="weight of the text emotion (0 removes it)")),
                "speech_weight": ("FLOAT", dict(_W, tooltip="weight of speech emotion recognition (0 removes it)")),
                "va_weight": ("FLOAT", dict(_W, tooltip="weight of audio valence/arousal (0 removes it)")),
                "smoothing_s": ("FLOAT", {"default": 0.3, "min": 0.0, "max": 5.0, "step": 0.05,
                                          "tooltip": "temporal smoothing (Gaussian sigma, seconds)"}),
                "intensity": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0, "step": 0.05,
                                        "tooltip": "global emotion intensity: 0 neutral, 1 as detected, 2 doubled"}),
                "target_emotion": (list(TARGETS), {"default": "none",
                                                   "tooltip": "an emotion to blend in ('make it happier')"}),
                "target_strength": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.05,
                                              "tooltip": "how much of the target emotion (1 = only the target)"}),
            },
            "optional": {
                "text_model": (SR_TEXT_EMOTION_MODEL, {"tooltip": "default: VADER + word lists"}),
                "ser_model": (SR_SER_MODEL, {"tooltip": "default: prosody"}),
                "va_model": (SR_VA_MODEL, {"tooltip": "default: prosody"}),
                "whisper_model": (SR_WHISPER_MODEL, {"tooltip": "used when the transcript is empty"}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = (SR_EMOTION, "STRING", "IMAGE")
    RETURN_NAMES = ("emotion", "summary", "timeline")
    FUNCTION = "embed"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Reads emotion from what is said (text) and how it is said (speech emotion + valence/arousal), "
                   "and fuses them per video frame (confidence x weight, smoothing, intensity, optional target "
                   "emotion). Without model inputs the zero-download defaults run. Outputs SR_EMOTION, a one-line "
                   "summary and a timeline picture per modality and fused.")

    def embed(self, speech, transcript="", text_weight=1.0, speech_weight=1.0, va_weight=1.0, smoothing_s=0.3,
              intensity=1.0, target_emotion="none", target_strength=0.0, text_model=None, ser_model=None,
              va_model=None, whisper_model=None, unique_id=None):
        with comfy.Progress(1000, unique_id) as p:
            emo = embed_emotion(speech, transcript, text_model=text_model, ser_model=ser_model, va_model=va_model,
                                whisper_model=whisper_model,
                                weights={"text": text_weight, "speech": speech_weight, "va": va_weight},
                                smoothing_s=smoothing_s, intensity=intensity, target=target_emotion,
                                target_strength=target_strength, progress=p.update, cancelled=p.cancelled)
        img = draw_timeline(emo)
        return emo, summarize(emo), list_to_image(img[None])


class SynchroRaMaEmotionOverride:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "emotion": (SR_EMOTION,),
                "target_emotion": (list(TARGETS), {"default": "happy",
                                                   "tooltip": "emotion to blend toward (ignored when emotion_b is "
                                                              "connected; 'none' = only shifts and intensity)"}),
                "strength": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.05,
                                       "tooltip": "0 keeps the input, 1 overrides it"}),
                "start_s": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1e6, "step": 0.05}),
                "end_s": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1e6, "step": 0.05,
                                    "tooltip": "end of the edited range; 0 = to the end"}),
                "fade_s": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 60.0, "step": 0.05,
                                     "tooltip": "ramp in/out around the range"}),
                "intensity": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0, "step": 0.05,
                                        "tooltip": "scales the emotional content inside the range"}),
                "valence_shift": ("FLOAT", {"default": 0.0, "min": -2.0, "max": 2.0, "step": 0.05}),
                "arousal_shift": ("FLOAT", {"default": 0.0, "min": -2.0, "max": 2.0, "step": 0.05}),
            },
            "optional": {"emotion_b": (SR_EMOTION, {"tooltip": "blend toward this SR_EMOTION (same audio) instead"})},
        }

    RETURN_TYPES = (SR_EMOTION, "STRING", "IMAGE")
    RETURN_NAMES = ("emotion", "summary", "timeline")
    FUNCTION = "apply"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Edits an SR_EMOTION in a time range: blends toward a chosen emotion or a second SR_EMOTION "
                   "(strength 1 overrides), shifts valence/arousal, scales intensity. Frames outside the range are "
                   "untouched.")

    def apply(self, emotion, target_emotion="happy", strength=0.5, start_s=0.0, end_s=0.0, fade_s=0.0,
              intensity=1.0, valence_shift=0.0, arousal_shift=0.0, emotion_b=None):
        out = blend_emotion(emotion, target=target_emotion, strength=strength, start_s=start_s, end_s=end_s,
                            fade_s=fade_s, intensity=intensity, valence_shift=valence_shift,
                            arousal_shift=arousal_shift, other=emotion_b)
        return out, summarize(out), list_to_image(draw_timeline(out)[None])


NODE_CLASS_MAPPINGS = {
    "SynchroRaMaTextEmotionModelLoader": SynchroRaMaTextEmotionModelLoader,
    "SynchroRaMaSERModelLoader": SynchroRaMaSERModelLoader,
    "SynchroRaMaVAModelLoader": SynchroRaMaVAModelLoader,
    "SynchroRaMaWhisperModelLoader": SynchroRaMaWhisperModelLoader,
    "SynchroRaMaEmotionEmbedder": SynchroRaMaEmotionEmbedder,
    "SynchroRaMaEmotionOverride": SynchroRaMaEmotionOverride,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "SynchroRaMaTextEmotionModelLoader": "SynchroRaMa Load Text Emotion Model",
    "SynchroRaMaSERModelLoader": "SynchroRaMa Load Speech Emotion Model",
    "SynchroRaMaVAModelLoader": "SynchroRaMa Load Valence/Arousal Model",
    "SynchroRaMaWhisperModelLoader": "SynchroRaMa Load Whisper Model",
    "SynchroRaMaEmotionEmbedder": "SynchroRaMa Emotion Embedder",
    "SynchroRaMaEmotionOverride": "SynchroRaMa Emotion Override/Blend",
}
