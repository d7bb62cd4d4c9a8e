"""Audio stage nodes: SynchroRaMa Load Audio, SynchroRaMa Speech Features."""
from __future__ import annotations


from synchrorama_core.audio import (AUDIO_EXTENSIONS, decode_audio, speech_from_waveform, to_speech_waveform,
                                    trim_waveform)

from synchrorama_core.errors import AudioError

from . import comfy_adapter as comfy
from .values import SR_SPEECH, audio_parts, audio_value

CATEGORY = "SynchroRaMa/audio"

_FPS = ("FLOAT", {"default": 25.0, "min": 1.0, "max": 120.0, "step": 0.01,
                  "tooltip": "video frame rate the features are aligned to (every stage must use the same)"})
_START = ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1e6, "step": 0.01, "tooltip": "skip this many seconds"})
_DUR = ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1e6, "step": 0.01,
                  "tooltip": "seconds to keep from the start; 0 keeps everything to the end"})


def _speech(waveform, sample_rate, fps, start_s, source, node_id=None):
    """SR_SPEECH of an already trimmed waveform ``[C, T]`` that starts ``start_s`` into its source."""
    y = to_speech_waveform(waveform, sample_rate)
    with comfy.Progress(100, node_id) as p:
        sp = speech_from_waveform(y, fps, source=source, start_s=start_s, progress=p.update, cancelled=p.cancelled)
    if sp.n_frames == 0:  # stop here, not several nodes later with an empty video
        raise AudioError(f"{source}: the audio is {sp.duration_s:.3f} s long, shorter than one video frame at "
                         f"{fps:g} fps ({1 / fps:.3f} s); use a longer clip")
    return sp


class SynchroRaMaLoadAudio:
    """Load a speech file from ComfyUI's input folder (upload supported) as AUDIO and SR_SPEECH."""

    @classmethod
    def INPUT_TYPES(cls):
        files = comfy.input_files(AUDIO_EXTENSIONS)
        return {
            # the file combo comes last: its upload button and player add widget values after it
            "required": {
                "fps": _FPS,
                "start_s": _START,
                "duration_s": _DUR,
                "audio": (files, {"audio_upload": True,
                                  "tooltip": "speech file in ComfyUI's input folder ('name [output]' for one in the "
                                             "output folder)"}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = ("AUDIO", SR_SPEECH)
    RETURN_NAMES = ("audio", "speech")
    FUNCTION = "load"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Loads wav, flac, ogg, mp3 or m4a speech. AUDIO keeps the file's own rate and channels "
                   "(for muxing); SR_SPEECH is mono 16 kHz with features aligned to the video frames.")

    def load(self, audio, fps=25.0, start_s=0.0, duration_s=0.0, unique_id=None):
        path = comfy.input_path(audio)
        wav, sr = decode_audio(path, start_s=start_s, duration_s=duration_s or None)
        return audio_value(wav, sr), _speech(wav, sr, fps, start_s, path, unique_id)

    @classmethod
    def IS_CHANGED(cls, audio, **kwargs):
        return comfy.input_file_hash(audio)

    @classmethod
    def VALIDATE_INPUTS(cls, audio, **kwargs):
        # ComfyUI skips its own "value in the list" check for an input named here: resolve and refuse
        # anything outside its folders ourselves (see comfy_adapter.input_path)
        return comfy.check_input(audio, "audio file")


class SynchroRaMaSpeechFeatures:
    """Frame-aligned speech features (SR_SPEECH) from any AUDIO value."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"audio": ("AUDIO",), "fps": _FPS},
            "optional": {"start_s": _START, "duration_s": _DUR},
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = (SR_SPEECH,)
    RETURN_NAMES = ("speech",)
    FUNCTION = "analyze"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Energy, voice activity, pitch, spectral bands, formant proxies and speaking rate per video "
                   "frame, from any AUDIO (first item of a batch; channels mixed to mono; resampled to 16 kHz).")

    def analyze(self, audio, fps=25.0, start_s=0.0, duration_s=0.0, unique_id=None):
        waveform, sr = audio_parts(audio)
        if hasattr(waveform, "detach"):
            waveform = waveform.detach().cpu().float().numpy()
        if waveform.ndim == 3:
            waveform = waveform[0]
        if waveform.shape[-1] == 0:
            raise AudioError("the AUDIO input has no samples (0 s long); check the node that makes it")
        x = trim_waveform(waveform, sr, start_s, duration_s or None, what="the AUDIO input")
        return (_speech(x, sr, fps, start_s, "AUDIO input", unique_id),)


NODE_CLASS_MAPPINGS = {
    "SynchroRaMaLoadAudio": SynchroRaMaLoadAudio,
    "SynchroRaMaSpeechFeatures": SynchroRaMaSpeechFeatures,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "SynchroRaMaLoadAudio": "SynchroRaMa Load Audio",
    "SynchroRaMaSpeechFeatures": "SynchroRaMa Speech Features",
}
