"""Emotion model backends through the real loading code, with tiny randomly initialised
transformers models built and saved (safetensors) by the tests, run on espeak-ng speech."""
import os

import numpy as np
import pytest

from synchrorama_core.audio import load_speech
from synchrorama_core.emotion import (LabelMappingError, embed_emotion, load_ser_model, load_text_model,
                                      load_va_model, load_whisper_model)
from synchrorama_core.emotion.audio_models import va_output_indices
from synchrorama_core.emotion.common import softmax
from synchrorama_core.emotion.whisper import chunk_bounds
from synchrorama_core.errors import BackendError, ModelNotFoundError
from synchrorama_core.types import EMOTIONS, EmotionData

from conftest import import_or_skip  # noqa: E402

torch = import_or_skip("torch")
transformers = import_or_skip("transformers")

TEXT = "I am so happy to see you. But now I feel sad and alone."
WORDS = "[PAD] [UNK] [CLS] [SEP] i am so happy to see you but now feel sad and alone not very . ,".split()
TEXT_LABELS = ["anger", "joy", "sadness", "neutral", "surprise", "fear", "disgust", "contempt"]
SER_LABELS = ["neu", "hap", "ang", "sad"]


def _word_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2),
                                                                                               ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]")


def _save_text_model(path, labels, head=True):
    from transformers import BertConfig, BertForSequenceClassification, BertModel
    cfg = BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64, num_labels=len(labels),
                     id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    torch.manual_seed(0)
    m = BertForSequenceClassification(cfg) if head else BertModel(cfg)
    if head:  # make the random classifier clearly non-uniform
        with torch.no_grad():
            m.classifier.weight.normal_(0, 2.0)
    m.save_pretrained(path, safe_serialization=True)
    _word_tokenizer().save_pretrained(path)
    return path


def _save_audio_model(path, labels, regression=False):
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification
    cfg = Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                         conv_dim=(16, 16, 16), conv_stride=(5, 4, 4), conv_kernel=(10, 8, 4),
                         num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, classifier_proj_size=8,
                         num_labels=len(labels), id2label=dict(enumerate(labels)),
                         label2id={l: i for i, l in enumerate(labels)},
                         problem_type="regression" if regression else "single_label_classification")
    torch.manual_seed(1)
    m = Wav2Vec2ForSequenceClassification(cfg)
    with torch.no_grad():
        m.classifier.weight.normal_(0, 2.0)
    m.save_pretrained(path, safe_serialization=True)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=False).save_pretrained(path)
    return path


def _save_whisper(path):
    from tokenizers import pre_tokenizers
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration,
                              WhisperProcessor, WhisperTokenizer)
    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    merges = []
    for a, b in (("h", "a"), ("p", "p"), ("Ġ", "s"), ("a", "d")):
        merges.append((a, b))
        vocab[a + b] = len(vocab)
    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|translate|>",
                "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]
    for s in specials:
        vocab[s] = len(vocab)
    tok = WhisperTokenizer(vocab=vocab, merges=merges, additional_special_tokens=specials[1:])
    ids = {s: tok.convert_tokens_to_ids(s) for s in specials}
    eot = ids["<|endoftext|>"]
    cfg = WhisperConfig(vocab_size=ids["<|notimestamps|>"] + 1 + 1501, num_mel_bins=80, encoder_layers=1,
                        decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                        decoder_ffn_dim=32, d_model=16, max_source_positions=1500, max_target_positions=24,
                        decoder_start_token_id=ids["<|startoftranscript|>"], pad_token_id=eot, bos_token_id=eot,
                        eos_token_id=eot)
    torch.manual_seed(2)
    m = WhisperForConditionalGeneration(cfg)
    m.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=eot, pad_token_id=eot, bos_token_id=eot,
        no_timestamps_token_id=ids["<|notimestamps|>"], is_multilingual=True, lang_to_id={"<|en|>": ids["<|en|>"]},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        max_initial_timestamp_index=50, begin_suppress_tokens=[eot], max_length=24)
    m.save_pretrained(path, safe_serialization=True)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tok).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def models_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("models") / "synchrorama"
    _save_text_model(str(root / "text_emotion" / "tiny"), TEXT_LABELS)
    _save_text_model(str(root / "text_emotion" / "sentiment"), ["NEGATIVE", "POSITIVE"])
    _save_text_model(str(root / "text_emotion" / "unmappable"), ["LABEL_0", "LABEL_1", "joy"])
    _save_text_model(str(root / "text_emotion" / "base"), TEXT_LABELS, head=False)
    _save_audio_model(str(root / "ser" / "tiny"), SER_LABELS)
    _save_audio_model(str(root / "va" / "tiny"), ["arousal", "dominance", "valence"], regression=True)
    _save_whisper(str(root / "whisper" / "tiny"))
    return root


@pytest.fixture(scope="module")
def dirs(models_root):
    return lambda kind: [str(models_root / kind)]


@pytest.fixture(scope="module")
def text_model(dirs):
    return load_text_model("tiny", dirs("text_emotion"))


@pytest.fixture(scope="module")
def ser_model(dirs):
    return load_ser_model("tiny", dirs("ser"), window_s=1.0, hop_s=0.5)


@pytest.fixture(scope="module")
def va_model(dirs):
    return load_va_model("tiny", dirs("va"), window_s=1.0, hop_s=0.5, output_range="0..1")


@pytest.fixture(scope="module")
def whisper_model(dirs):
    return load_whisper_model("tiny", dirs("whisper"))


@pytest.fixture(scope="module")
def speech(make_speech):
    return load_speech(make_speech(TEXT), 25.0)


def test_text_model_runs_and_maps_its_labels(text_model, speech):
    assert text_model.device.type == "cpu" and "transformers" in text_model.name
    # our mapped output equals the model's own softmax grouped by label name
    enc = text_model.tokenizer(["I am so happy to see you."], return_tensors="pt")
    with torch.no_grad():
        p = softmax(text_model.model(**enc).logits.numpy(), axis=1)[0]
    seg = text_model.analyze(["I am so happy to see you."])[0]
    expect = np.zeros(8)
    for lab, q in zip(TEXT_LABELS, p):
        expect[{"anger": 0, "contempt": 1, "disgust": 2, "fear": 3, "joy": 4, "neutral": 5, "sadness": 6,
                "surprise": 7}[lab]] += q
    assert np.allclose(seg.probs, expect, atol=1e-6)
    assert seg.detail["label"] == TEXT_LABELS[int(p.argmax())]
    emo = embed_emotion(speech, TEXT, text_model=text_model)
    assert emo.parts["text"].backend == text_model.name
    segs = text_model.analyze([s["text"] for s in emo.meta["segments"]])
    mid = int((emo.meta["segments"][1]["start_s"] + emo.meta["segments"][1]["end_s"]) / 2 * speech.fps)
    assert np.allclose(emo.parts["text"].probs[mid], segs[1].probs, atol=1e-6)


def test_sentiment_model_labels_become_valence(dirs):
    m = load_text_model("sentiment", dirs("text_emotion"))
    for seg in m.analyze(["I am happy", "I am sad", "you"]):
        pos = seg.detail["score"] if seg.detail["label"] == "POSITIVE" else 1 - seg.detail["score"]
        assert seg.valence == pytest.approx(0.8 * pos - 0.8 * (1 - pos), abs=2e-4)  # score is rounded


def test_text_model_errors(dirs):
    with pytest.raises(LabelMappingError) as ei:
        load_text_model("unmappable", dirs("text_emotion"))
    assert "LABEL_0" in str(ei.value) and "LABEL_1" in str(ei.value) and "config.json" in str(ei.value)
    with pytest.raises(BackendError, match="classification head"):
        load_text_model("base", dirs("text_emotion"))


@pytest.mark.parametrize("loader,kind", [(load_text_model, "text_emotion"), (load_ser_model, "ser"),
                                         (load_va_model, "va"), (load_whisper_model, "whisper")])
def test_pickled_weights_are_refused_and_never_unpickled(models_root, loader, kind, tmp_path):
    """Promise (safe loading): transformers model folders load only safetensors weights.  A folder whose
    weights are a pickled ``pytorch_model.bin`` (an older save_pretrained), or a pickle renamed
    ``model.safetensors``, is refused with an error naming the folder, and the pickle is never run."""
    import shutil

    from helpers.pickles import replace_weights_with_pickle, write_pickle
    marker = tmp_path / "unpickled.txt"
    src = models_root / kind / "tiny"
    for name in ("pickled", "renamed"):
        dst = tmp_path / kind / name
        shutil.copytree(src, dst)
        pkl = replace_weights_with_pickle(dst, marker)
        if name == "renamed":
            os.replace(pkl, dst / "model.safetensors")
        with pytest.raises((ModelNotFoundError, BackendError)) as e:
            loader(name, [str(tmp_path / kind)])
        assert str(dst) in str(e.value), str(e.value)
        assert not marker.exists(), f"the {name} weights were unpickled"


@pytest.mark.parametrize("loader,kind", [(load_text_model, "text_emotion"), (load_ser_model, "ser"),
                                         (load_va_model, "va"), (load_whisper_model, "whisper")])
def test_missing_model_folder_names_the_expected_path(loader, kind, tmp_path):
    d = str(tmp_path / kind)
    with pytest.raises(ModelNotFoundError) as ei:
        loader("missing_model", [d])
    assert os.path.join(d, "missing_model") in str(ei.value)
    assert "never downloaded" in str(ei.value)
    os.makedirs(os.path.join(d, "empty"))
    with pytest.raises(ModelNotFoundError, match="config.json"):
        loader("empty", [d])


def test_ser_model_in_sliding_windows(ser_model, speech):
    part = ser_model.part(speech)
    n = speech.n_frames
    assert part.probs.shape == (n, 8) and np.allclose(part.probs.sum(1), 1, atol=1e-5)
    # only the mapped emotions get probability
    used = {EMOTIONS.index(e) for e in ("neutral", "happy", "angry", "sad")}
    assert part.probs[:, [i for i in range(8) if i not in used]].max() < 1e-6
    # the window outputs are the model's own, and frames near a window centre carry that window
    logits, centres, act = ser_model.window_outputs(speech)
    assert len(centres) == len(np.arange(0, len(speech.waveform) - 16000 + 1, 8000)) + 1
    x = ser_model.extractor([speech.waveform[:16000]], sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        direct = ser_model.model(**x).logits.numpy()[0]
    assert np.allclose(logits[0], direct, atol=1e-4)
    k = 3
    f = int(centres[k] * speech.fps)
    p = softmax(logits, axis=1)
    mapped = ser_model.label_map.apply(p)[0]
    assert np.allclose(part.probs[f], mapped[k], atol=0.05)
    assert np.all(part.confidence <= 1) and part.confidence.max() > 0
    # windows without voice activity have no confidence
    assert np.all(act >= 0) and np.all(act <= 1)


def test_va_model_outputs_by_name_and_range(va_model, speech):
    assert (va_model.iv, va_model.ia) == (2, 0)  # labels: arousal, dominance, valence
    out, centres, act = va_model.window_outputs(speech)
    part = va_model.part(speech)
    expect_v = np.clip(2 * out[:, 2] - 1, -1, 1)  # output_range 0..1 -> -1..1
    f = int(centres[2] * speech.fps)
    assert part.valence[f] == pytest.approx(expect_v[2], abs=0.05)
    assert part.valence.min() >= -1 and part.arousal.max() <= 1
    assert va_output_indices(["LABEL_0", "LABEL_1"]) == (0, 1)
    assert va_output_indices(["Arousal", "Valence"]) == (1, 0)
    with pytest.raises(LabelMappingError, match="valence"):
        va_output_indices(["happy", "sad"])


def test_whisper_transcribes_with_timestamps_into_the_text_part(whisper_model, speech):
    segs = whisper_model.transcribe(speech)
    assert segs  # the random tiny model still emits timestamped (nonsense) text
    for s in segs:
        assert 0 <= s.start_s < s.end_s <= speech.duration_s + 1e-6 and s.timing == "whisper" and s.text
    emo = embed_emotion(speech, "", whisper_model=whisper_model)
    assert emo.meta["transcript_source"] == "whisper"
    assert [m["text"] for m in emo.meta["segments"]] == [s.text for s in segs]
    assert [(m["start_s"], m["end_s"]) for m in emo.meta["segments"]] == \
        [(round(s.start_s, 3), round(s.end_s, 3)) for s in segs]
    inside = int((segs[0].start_s + segs[0].end_s) / 2 * speech.fps)
    assert emo.parts["text"].confidence[inside] > 0
    # Whisper's transcript travels on in SR_EMOTION: the Scene Describer uses it when given none
    assert emo.meta["transcript"] == " ".join(s.text for s in segs)
    from synchrorama_core.scene import describe_scene
    scene = describe_scene(speech, "", emotion=emo)
    assert scene.meta["transcript_source"] == "from SR_EMOTION"
    assert " ".join(scene.meta["segment_text"]).split() == emo.meta["transcript"].split()
    typed = embed_emotion(speech, TEXT, whisper_model=whisper_model)
    assert typed.meta["transcript_source"] == "user text" and "Whisper was not run" in typed.meta["note"]


def test_whisper_chunks_cut_long_audio_in_pauses():
    fps = 25.0
    vad = np.ones(int(75 * fps))
    vad[int(24 * fps):int(25 * fps)] = 0     # a pause at 24-25 s
    pieces = chunk_bounds(vad, fps, 75.0)
    assert pieces[0] == (0.0, pytest.approx(24.5, abs=0.05))
    assert all(b - a <= 30.0 + 1e-9 for a, b in pieces) and pieces[-1][1] == 75.0
    assert all(pieces[i][1] == pieces[i + 1][0] for i in range(len(pieces) - 1))
    assert chunk_bounds(np.ones(100), fps, 4.0) == [(0.0, 4.0)]


def test_all_backends_together_and_weight_zero_skips_them(text_model, ser_model, va_model, speech):
    emo = embed_emotion(speech, TEXT, text_model=text_model, ser_model=ser_model, va_model=va_model)
    assert isinstance(emo, EmotionData) and emo.n_frames == speech.n_frames
    assert {p.backend for p in emo.parts.values()} == {text_model.name, ser_model.name, va_model.name}
    off = embed_emotion(speech, TEXT, text_model=text_model, ser_model=ser_model, va_model=va_model,
                        weights={"speech": 0.0})
    assert "not run" in off.parts["speech"].backend
    from synchrorama_core.emotion import fuse
    ref = fuse({"text": emo.parts["text"], "va": emo.parts["va"]}, {"text": 1.0, "va": 1.0}, speech.fps,
               speech.duration_s)
    assert np.array_equal(off.probs, ref.probs) and np.array_equal(off.valence, ref.valence)


def test_loader_nodes_load_from_the_model_folders(pack, models_root, speech, monkeypatch):
    monkeypatch.setenv("SYNCHRORAMA_MODELS", str(models_root))
    nodes = pack.NODE_CLASS_MAPPINGS
    assert "tiny" in nodes["SynchroRaMaSERModelLoader"].INPUT_TYPES()["required"]["model"][0]
    (tm,) = nodes["SynchroRaMaTextEmotionModelLoader"]().load("tiny")
    (sm,) = nodes["SynchroRaMaSERModelLoader"]().load("tiny", "", 1.0, 0.5)
    (vm,) = nodes["SynchroRaMaVAModelLoader"]().load("", str(models_root / "va" / "tiny"), "0..1", 1.0, 0.5)
    (wm,) = nodes["SynchroRaMaWhisperModelLoader"]().load("tiny", "", "en")
    emo, summary, img = nodes["SynchroRaMaEmotionEmbedder"]().embed(
        speech, "", 1.0, 1.0, 1.0, 0.3, 1.0, "none", 0.0, text_model=tm, ser_model=sm, va_model=vm, whisper_model=wm)
    assert emo.meta["transcript_source"] == "whisper" and sm.name in summary and img.shape[0] == 1
