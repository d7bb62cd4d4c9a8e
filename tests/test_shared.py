"""Shared concepts have one home, and the stages that use them agree.

Where two stages used to keep their own copy with different numbers, these tests pin the value
that was kept: the transcript timer (emotion and scene place a sentence at the same time), the
emotion valence/arousal table and path labels (both trainers), the emotion phrase thresholds
(scene text and diffusion prompts), and what a model picker lists.
"""
import os

import numpy as np
import pytest

from synchrorama_core.audio import load_speech
from synchrorama_core.emotion import embed_emotion
from synchrorama_core.models import list_models, resolve_model
from synchrorama_core.scene import build_context
from synchrorama_core.types import EMOTIONS, EmotionData
from synchrorama_core.vocabulary.emotions import EMOTION_VA, EmotionSummary, emotion_from_path, emotion_phrase

THREE = ("The weather was lovely this morning. We walked along the river for an hour. "
         "Then it started to rain and we ran home.")


def test_emotion_and_scene_place_each_sentence_at_the_same_time(make_speech):
    """One transcript timer: each scene unit boundary lies in the pause between the emotion stage's
    timed sentences (the scene used to snap its own estimate to the nearest pause)."""
    speech = load_speech(make_speech(THREE, speed=150), fps=25.0)
    segs = embed_emotion(speech, THREE).meta["segments"]
    units = build_context(speech, THREE).units
    assert [u.text for u in units] == [s["text"] for s in segs] and len(units) == 3
    for k in range(2):
        end_k, start_next = segs[k]["end_s"], segs[k + 1]["start_s"]
        assert start_next - end_k > 0.1, "espeak leaves a pause between sentences"
        assert end_k - 1e-6 <= units[k].end_s <= start_next + 1e-6
        assert units[k].end_s == pytest.approx((end_k + start_next) / 2, abs=1e-3)
        # the voiced span of each unit is the sentence's span
        assert units[k].speech_end_s == pytest.approx(end_k, abs=0.05)
        assert units[k + 1].speech_start_s == pytest.approx(start_next, abs=0.05)


def test_both_trainers_label_a_path_with_the_shared_emotion_values():
    """The A2M trainer used happy = (0.8, 0.5), the adapter trainer (0.7, 0.5) x max(level/3, 0.3);
    both now take the emotion stage's table scaled by MEAD's level (1: 0.35, 2: 0.65, 3: 1.0),
    0.7 without a level."""
    from synchrorama_core.training.a2m import emotion_label
    from synchrorama_core.training.adapters import emotion_for
    from synchrorama_core.types import SpeechData
    from synchrorama_core.audio import speech_from_waveform

    assert emotion_from_path("/data/MEAD/M003/video/front/happy/level_3/001.mp4") == ("happy", 1.0)
    assert emotion_from_path("/data/clips/anger_take2.mov") == ("angry", None)
    assert emotion_from_path("/data/clips/interview.mp4") is None
    fps, n = 25.0, 10
    speech: SpeechData = speech_from_waveform(np.zeros(int(16000 * n / fps), np.float32), fps)
    for path, k in (("/d/happy/level_3/001.mp4", 1.0), ("/d/happy/level_1/001.mp4", 0.35), ("/d/happy/x.mp4", 0.7)):
        v, a = EMOTION_VA["happy"]
        a2m = emotion_label(path, speech)
        assert isinstance(a2m, EmotionData) and a2m.dominant()[0] == "happy"
        assert a2m.valence[0] == pytest.approx(v * k) and a2m.arousal[0] == pytest.approx(a * k)
        vec = emotion_for(path, n, fps)
        assert vec.shape == (n, len(EMOTIONS) + 3)
        assert vec[0, EMOTIONS.index("happy")] == 1.0
        np.testing.assert_allclose(vec[0, len(EMOTIONS):], [v * k, a * k, k], atol=1e-6)
    neutral = emotion_for("/d/neutral/001.mp4", n, fps)
    np.testing.assert_allclose(neutral[0, len(EMOTIONS):], [0.0, 0.0, 0.0])


def test_emotion_phrase_thresholds_are_shared_by_scene_and_diffusion_prompts():
    """Scene text used 0.35/0.7, diffusion prompts 0.33/0.66; both now use 0.35/0.7."""
    from synchrorama_core.diffusion.conditioning import frame_prompts

    def summary(i):
        return EmotionSummary.of_frame(np.eye(len(EMOTIONS))[EMOTIONS.index("happy")], i)
    assert emotion_phrase(summary(0.34)) == "slightly happy expression"
    assert emotion_phrase(summary(0.35)) == "happy expression"
    assert emotion_phrase(summary(0.69)) == "happy expression"
    assert emotion_phrase(summary(0.70), cues=True) == "very happy expression, smiling"
    n, fps = 25, 25.0
    for inten, want in ((0.34, "slightly happy expression, smiling"), (0.5, "happy expression, smiling"),
                        (0.67, "happy expression, smiling"), (0.72, "very happy expression, smiling")):
        p = np.zeros((n, len(EMOTIONS)), np.float32)
        p[:, EMOTIONS.index("happy")] = 1.0
        em = EmotionData(fps=fps, duration_s=n / fps, probs=p, valence=np.full(n, 0.5, np.float32),
                         arousal=np.zeros(n, np.float32), intensity=np.full(n, inten, np.float32))
        prompts, _ = frame_prompts(n, fps, "a person", emotion=em)
        assert prompts == [f"a person, {want}"]


def test_model_pickers_list_model_folders_and_weight_files(tmp_path):
    """One listing for every picker: files by extension (in sub-folders too) and folders that hold a
    model (config.json or a diffusers layout) - not every folder (the emotion and scene pickers used to
    list any sub-folder, including ones that could never load)."""
    root = tmp_path / "models"
    (root / "good").mkdir(parents=True)
    (root / "good" / "config.json").write_text("{}")
    (root / "good" / "model.safetensors").write_bytes(b"")
    (root / "empty").mkdir()
    (root / "diffusers" / "unet").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "sub" / "b.safetensors").write_bytes(b"")
    (root / "a.safetensors").write_bytes(b"")
    (root / "notes.txt").write_text("x")
    assert list_models([str(root)]) == ["diffusers", "good"]
    assert list_models([str(root)], exts=(".safetensors",)) == ["a.safetensors", "diffusers", "good", "sub/b.safetensors"]
    assert list_models([str(root)], exts=(".safetensors",), folder_markers=()) == [
        "a.safetensors", "good/model.safetensors", "sub/b.safetensors"]
    # ComfyUI's own kinds and ours resolve the same way and name the path expected
    assert resolve_model("checkpoints", "a.safetensors", [str(root)]) == os.path.join(str(root), "a.safetensors")
    with pytest.raises(FileNotFoundError, match=r"checkpoint 'missing.safetensors' not found\. Expected it at "
                                                + str(root / "missing.safetensors")):
        resolve_model("checkpoints", "missing.safetensors", [str(root)])
    with pytest.raises(FileNotFoundError, match="llm model folder .*empty is incomplete: missing config.json"):
        resolve_model("llm", "empty", [str(root)], must_contain=("config.json",))
