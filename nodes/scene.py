"""Scene stage nodes: backends (HTTP server, local model), the Scene Describer, Parse Scene Text."""
from __future__ import annotations

import logging

from synchrorama_core.scene import (DTYPES, MODEL_TYPES, RESPONSE_FORMATS, HTTPBackend, describe_scene, format_scene,
                                    load_local_backend, parse_scene_text)
from synchrorama_core.vocabulary.actions import ACTIONS

from . import comfy_adapter as comfy
from .values import SR_EMOTION, SR_FACE, SR_SCENE, SR_SPEECH

log = logging.getLogger("synchrorama")

CATEGORY = "SynchroRaMa/scene"
SR_SCENE_BACKEND = "SR_SCENE_BACKEND"
NO_MODEL = "(no model in models/synchrorama/llm)"
ON_FAILURE = {"fallback to template": "fallback", "raise an error": "error"}


class SynchroRaMaSceneHTTPBackend:
    """An OpenAI-compatible chat-completions server as the scene describer's language model."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "base_url": ("STRING", {"default": "http://127.0.0.1:11434/v1",
                                        "tooltip": "server address up to /v1: Ollama http://127.0.0.1:11434/v1, "
                                                   "llama.cpp http://127.0.0.1:8080/v1, LM Studio "
                                                   "http://127.0.0.1:1234/v1, vLLM http://127.0.0.1:8000/v1. "
                                                   "Requests go to <base_url>/chat/completions and nowhere else"}),
                "model": ("STRING", {"default": "llama3.2", "tooltip": "model name as the server knows it"}),
                "api_key_env": ("STRING", {"default": "",
                                           "tooltip": "NAME of the environment variable holding the API key (e.g. "
                                                      "OPENAI_API_KEY); empty for local servers. The key itself is "
                                                      "never stored in the workflow"}),
                "timeout_s": ("FLOAT", {"default": 60.0, "min": 1.0, "max": 3600.0, "step": 1.0,
                                        "tooltip": "hard limit for the whole call, retries included; on time-out "
                                                   "the describer falls back to the template"}),
                "retries": ("INT", {"default": 1, "min": 0, "max": 10,
                                    "tooltip": "extra attempts after connection errors, HTTP 429 and 5xx"}),
                "send_images": ("BOOLEAN", {"default": False,
                                            "tooltip": "send the reference portrait(s) as data URLs (vision models "
                                                       "only, e.g. llava, qwen2.5vl, gpt-4o)"}),
                "response_format": (list(RESPONSE_FORMATS), {"default": "json_object",
                                                             "tooltip": "ask the server for JSON; a server that "
                                                                        "rejects it is asked again without"}),
                "max_tokens": ("INT", {"default": 1024, "min": 16, "max": 32768}),
            },
        }

    RETURN_TYPES = (SR_SCENE_BACKEND,)
    RETURN_NAMES = ("backend",)
    FUNCTION = "make"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Scene describer backend: an OpenAI-compatible /v1/chat/completions server (Ollama, llama.cpp, "
                   "vLLM, LM Studio, hosted APIs). Temperature 0 with the describer's seed. Nothing is sent until "
                   "the describer runs.")

    def make(self, base_url, model, api_key_env="", timeout_s=60.0, retries=1, send_images=False,
             response_format="json_object", max_tokens=1024):
        return (HTTPBackend(base_url=base_url, model=model, api_key_env=api_key_env, timeout_s=timeout_s,
                            retries=retries, send_images=send_images, response_format=response_format,
                            max_tokens=max_tokens),)


class SynchroRaMaSceneLocalModel:
    """A transformers chat model (text or image-text-to-text) from models/synchrorama/llm/."""

    @classmethod
    def INPUT_TYPES(cls):
        names = comfy.list_model_dirs("llm") or [NO_MODEL]
        return {
            "required": {
                "model": (names, {"tooltip": "a transformers model folder in models/synchrorama/llm/ "
                                             "(config.json, tokenizer, *.safetensors)"}),
                "model_type": (list(MODEL_TYPES), {"default": "auto",
                                                   "tooltip": "auto: image-text-to-text models with a processor "
                                                              "see the portrait; others are text-only"}),
                "dtype": (list(DTYPES), {"default": "auto", "tooltip": "auto: bf16/fp16 on GPU, fp32 on CPU"}),
                "max_new_tokens": ("INT", {"default": 1024, "min": 16, "max": 16384}),
                "send_images": ("BOOLEAN", {"default": True, "tooltip": "vision models: show them the portrait(s)"}),
                "time_limit_s": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 3600.0, "step": 1.0,
                                           "tooltip": "stop generating after this long (0 = no limit); a cut "
                                                      "reply is repaired or replaced by the template"}),
            },
            "optional": {
                "model_path": ("STRING", {"default": "", "tooltip": "a model folder anywhere (overrides 'model')"}),
            },
        }

    RETURN_TYPES = (SR_SCENE_BACKEND,)
    RETURN_NAMES = ("backend",)
    FUNCTION = "load"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Scene describer backend: a local transformers model (causal LM or image-text-to-text) on "
                   "ComfyUI's device, greedy decoding. Only safetensors weights; nothing is downloaded.")

    def load(self, model, model_type="auto", dtype="auto", max_new_tokens=1024, send_images=True,
             time_limit_s=0.0, model_path=""):
        name = (model_path or "").strip() or ("" if model == NO_MODEL else model)
        device = comfy.torch_device()
        if getattr(device, "type", "cpu") == "cuda":
            comfy.free_memory()
        return (load_local_backend(name, comfy.model_dirs("llm"), device=device, dtype=dtype, model_type=model_type,
                                   max_new_tokens=max_new_tokens, send_images=send_images,
                                   time_limit_s=time_limit_s),)


class SynchroRaMaSceneDescriber:
    """Timed scene descriptions (actions, attributes) and a sampler prompt for the clip."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "speech": (SR_SPEECH, {"tooltip": "the clip's speech (duration and phrase timing)"}),
                "transcript": ("STRING", {"default": "", "multiline": True,
                                          "tooltip": "what is said; sentences become segments. Leave empty to use "
                                                     "the transcript the connected emotion carries (typed into the "
                                                     "Emotion Embedder, or Whisper's)"}),
                "on_failure": (list(ON_FAILURE), {"default": "fallback to template",
                                                  "tooltip": "server down, time-out, HTTP error or unusable reply: "
                                                             "use the template (with a warning) or stop"}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 2 ** 31 - 1,
                                 "tooltip": "sent to the model with temperature 0 for repeatable replies"}),
            },
            "optional": {
                "backend": (SR_SCENE_BACKEND, {"tooltip": "a Scene Backend node; none = template (no model)"}),
                "emotion": (SR_EMOTION, {"tooltip": "emotion per segment; also gives the transcript when the "
                                                    "transcript box is empty"}),
                "face": (SR_FACE, {"tooltip": "analysed portrait(s): framing, head direction, light; vision "
                                              "models also see the images"}),
                "notes": ("STRING", {"default": "", "multiline": True,
                                     "tooltip": "extra instructions for the model (e.g. 'she wears a red scarf')"}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = (SR_SCENE, "STRING", "STRING")
    RETURN_NAMES = ("scene", "prompt", "segments")
    FUNCTION = "describe"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Writes timed scene segments {start, end, description, actions, attributes} covering the audio, "
                   "and a prompt (scene + emotion phrase) for CLIPTextEncode. Actions use the gesture vocabulary: "
                   + ", ".join(ACTIONS) + ". The 'segments' text can be edited and fed to Parse Scene Text.")

    def describe(self, speech, transcript="", on_failure="fallback to template", seed=0, backend=None, emotion=None,
                 face=None, notes="", unique_id=None):
        with comfy.Progress(100, unique_id) as p:
            scene = describe_scene(speech, transcript, emotion=emotion, face=face, backend=backend,
                                   extra_instructions=notes, on_failure=ON_FAILURE.get(on_failure, on_failure),
                                   seed=seed, progress=p.update, cancelled=p.cancelled)
        return scene, scene.prompt, format_scene(scene)


class SynchroRaMaParseSceneText:
    """Reads an (edited) readable segment list back into SR_SCENE."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "text": ("STRING", {"default": "[0.00 - 2.00] The person smiles at the camera. | actions: smiles",
                                    "multiline": True,
                                    "tooltip": "one segment per line: [start - end] description | actions: a, b | "
                                               "attributes: c, d ; optional 'prompt: ...' line; '#' comments"}),
            },
            "optional": {
                "speech": (SR_SPEECH, {"tooltip": "gives the clip duration (segments are fitted to it)"}),
                "emotion": (SR_EMOTION, {"tooltip": "adds the emotion phrase when the text has no prompt line"}),
                "duration_s": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1e6, "step": 0.01,
                                         "tooltip": "clip length when no speech is connected; 0 = last segment end"}),
            },
        }

    RETURN_TYPES = (SR_SCENE, "STRING", "STRING")
    RETURN_NAMES = ("scene", "prompt", "segments")
    FUNCTION = "parse"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Parses the Scene Describer's readable segment list after you edit it. Small timing slips "
                   "(overlaps, gaps, times past the end) are repaired and listed as warnings; unreadable lines "
                   "are reported with their line number.")

    def parse(self, text, speech=None, emotion=None, duration_s=0.0):
        dur = speech.duration_s if speech is not None else (duration_s or None)
        scene, warnings = parse_scene_text(text, dur, emotion=emotion)
        for w in warnings:
            log.warning("SynchroRaMa Parse Scene Text: %s", w)
        return scene, scene.prompt, format_scene(scene)


NODE_CLASS_MAPPINGS = {
    "SynchroRaMaSceneHTTPBackend": SynchroRaMaSceneHTTPBackend,
    "SynchroRaMaSceneLocalModel": SynchroRaMaSceneLocalModel,
    "SynchroRaMaSceneDescriber": SynchroRaMaSceneDescriber,
    "SynchroRaMaParseSceneText": SynchroRaMaParseSceneText,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "SynchroRaMaSceneHTTPBackend": "SynchroRaMa Scene Backend (OpenAI-compatible HTTP)",
    "SynchroRaMaSceneLocalModel": "SynchroRaMa Scene Backend (local transformers model)",
    "SynchroRaMaSceneDescriber": "SynchroRaMa Scene Describer",
    "SynchroRaMaParseSceneText": "SynchroRaMa Parse Scene Text",
}
