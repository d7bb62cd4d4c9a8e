"""Emotion stage with the zero-download defaults, on real speech synthesised by espeak-ng."""
import numpy as np
import pytest

from synchrorama_core.audio import load_speech
from synchrorama_core.emotion import (LabelMappingError, LexiconTextEmotion, blend_emotion, build_label_map,
                                      draw_timeline, embed_emotion, fuse, summarize)
from synchrorama_core.emotion.common import NEUTRAL, probs_from_va
from synchrorama_core.errors import Cancelled, InvalidDataError, ModelNotFoundError
from synchrorama_core.transcript import split_sentences, spread_over_voiced
from synchrorama_core.types import EMOTIONS, EmotionData, EmotionPart

HAPPY = "This is wonderful news! I am so happy and excited, what a great day!"
SAD = "I feel so sad and lonely. I miss her terribly and I cry every night."
NEUTRAL_SENT = "I went to the market this morning and bought some bread and apples for the week."
FPS = 25.0


@pytest.fixture(scope="module")
def speech(make_speech):
    """SR_SPEECH of real espeak-ng speech, cached per (text, voice options)."""
    cache = {}

    def get(text, **kw):
        key = (text, tuple(sorted(kw.items())))
        if key not in cache:
            cache[key] = load_speech(make_speech(text, **kw), FPS)
        return cache[key]
    return get


def _mean_where_confident(part, what):
    m = part.confidence > 0.3
    assert m.any()
    return float(getattr(part, what)[m].mean())


# ----------------------------------------------------------------------------- text


def test_happy_and_sad_sentences_get_text_valence_of_opposite_sign(speech):
    happy = embed_emotion(speech(HAPPY), HAPPY)
    sad = embed_emotion(speech(SAD), SAD)
    vh = _mean_where_confident(happy.parts["text"], "valence")
    vs = _mean_where_confident(sad.parts["text"], "valence")
    assert vh > 0.3 and vs < -0.3, (vh, vs)
    # the categories follow, and the fused result keeps the sign
    assert happy.parts["text"].probs[:, EMOTIONS.index("happy")].mean() > 0.5
    assert sad.parts["text"].probs[:, EMOTIONS.index("sad")].mean() > 0.4
    assert happy.valence.mean() > 0 > sad.valence.mean()
    assert happy.meta["transcript_source"] == "user text"
    assert [s["text"] for s in happy.meta["segments"]] == split_sentences(HAPPY)


def test_negation_flips_valence_and_emotion(speech):
    pos = embed_emotion(speech("I am happy."), "I am happy.")
    neg = embed_emotion(speech("I am not happy."), "I am not happy.")
    assert _mean_where_confident(pos.parts["text"], "valence") > 0.3
    assert _mean_where_confident(neg.parts["text"], "valence") < -0.2
    hi = EMOTIONS.index("happy")
    assert pos.parts["text"].probs[:, hi].mean() > 0.5 > neg.parts["text"].probs[:, hi].mean()
    lex = LexiconTextEmotion()
    assert lex.analyze_one("I am not sad at all.").valence > 0 > lex.analyze_one("I am sad.").valence
    assert lex.analyze_one("I don't feel happy today").probs[EMOTIONS.index("sad")] > \
        lex.analyze_one("I feel happy today").probs[EMOTIONS.index("sad")]
    # intensifiers raise the score and the arousal; downtoners lower it
    very = lex.analyze_one("I am extremely happy!")
    bit = lex.analyze_one("I am slightly happy.")
    assert very.probs[hi] > bit.probs[hi] and very.arousal > bit.arousal


def test_intensifiers_strengthen_and_downtoners_weaken_on_speech(speech):
    hi = EMOTIONS.index("happy")
    res = {}
    for text in ("I am slightly happy.", "I am happy.", "I am extremely happy!"):
        part = embed_emotion(speech(text), text).parts["text"]
        m = part.confidence > 0
        res[text] = (part.probs[m, hi].mean(), part.valence[m].mean(), part.arousal[m].mean())
    bit, plain, very = res.values()
    assert bit[0] < plain[0] < very[0] and bit[1] < plain[1] < very[1], res
    assert very[2] > plain[2] + 0.1, res


def test_sentences_are_spread_over_voiced_time_and_land_on_their_speech(speech):
    text = "I am so happy and delighted today. I feel terribly sad and miserable now."
    sp = speech(text)
    segs = spread_over_voiced(split_sentences(text), sp.features["vad"], sp.fps)
    assert len(segs) == 2
    vad = sp.features["vad"] > 0.5
    on = np.flatnonzero(vad)
    assert segs[0].start_s == pytest.approx(on[0] / sp.fps)
    assert segs[1].end_s == pytest.approx((on[-1] + 1) / sp.fps)
    assert segs[0].end_s <= segs[1].start_s
    # the boundary snapped into the pause between the sentences: no voice activity there
    gap = slice(int(round(segs[0].end_s * sp.fps)), int(round(segs[1].start_s * sp.fps)))
    assert gap.stop > gap.start and not vad[gap].any()
    emo = embed_emotion(sp, text)
    t = emo.parts["text"]
    first = slice(int(segs[0].start_s * sp.fps), int(segs[0].end_s * sp.fps))
    second = slice(int(np.ceil(segs[1].start_s * sp.fps)), int(segs[1].end_s * sp.fps))
    assert t.valence[first].min() > 0.3 and t.valence[second].max() < -0.3
    assert emo.valence[first].mean() > 0 > emo.valence[second].mean()


@pytest.mark.parametrize("sentences,speed", [
    # commas pause too: the sentence end is the longer pause, though a comma pause is nearer the estimate
    (["Great, great, great.", "That is a terrible, horrible, awful idea, you fool."], 120),
    # numbers are read out: "1999" is long though it has no vowel letters
    (["We met in 1999, 2004, 2011 and 2017.", "I am so sad and lonely now."], 160),
    # three boundaries chosen together: two one-word sentences, then a long one full of commas
    (["No.", "No.", "I said no, and I mean it, absolutely not, never."], 160),
])
def test_sentence_boundaries_land_in_the_sentence_end_pauses(speech, sentences, speed):
    sp = speech(" ".join(sentences), speed=speed)
    segs = spread_over_voiced(sentences, sp.features["vad"], sp.fps)
    for k in range(1, len(sentences)):
        # truth: where the voice of the first k sentences, spoken alone, ends
        alone = speech(" ".join(sentences[:k]), speed=speed).features["vad"]
        end = (np.flatnonzero(alone > 0.5)[-1] + 1) / sp.fps
        assert segs[k - 1].end_s == pytest.approx(end, abs=0.1), (k, segs[k - 1], end)
        assert segs[k].start_s > segs[k - 1].end_s  # the pause between them belongs to neither


def test_longer_pause_wins_over_a_nearer_shorter_one():
    fps = 25.0
    vad = np.ones(200)
    vad[45:48] = 0    # a comma-like pause (3 frames) exactly at the proportional estimate
    vad[60:70] = 0    # a sentence-end pause (10 frames), 12 voiced frames later
    sentences = ["ha " * 45, "ho " * 142]   # 45 : 142 syllables = the voiced frames before : after frame 45
    segs = spread_over_voiced(sentences, vad, fps)
    assert (segs[0].end_s, segs[1].start_s) == (60 / fps, 70 / fps)
    # the preference for longer pauses is what moves it: without it the nearer pause wins
    segs0 = spread_over_voiced(sentences, vad, fps, pause_bonus=0.0, no_pause_cost=0.0)
    assert (segs0[0].end_s, segs0[1].start_s) == (45 / fps, 48 / fps)


def test_no_transcript_leaves_text_silent_and_no_voice_spreads_over_clip(speech):
    sp = speech(NEUTRAL_SENT)
    emo = embed_emotion(sp, "")
    assert np.all(emo.parts["text"].confidence == 0)
    assert "no transcript" in emo.parts["text"].backend
    segs = spread_over_voiced(["One.", "Two, three."], np.zeros(50), 25.0)
    assert segs[0].start_s == 0 and segs[-1].end_s == pytest.approx(2.0)
    assert segs[0].end_s == segs[1].start_s


# ----------------------------------------------------------------------------- prosody


def test_fast_high_loud_speech_gets_higher_arousal_than_slow_low_quiet(speech):
    fast = embed_emotion(speech(NEUTRAL_SENT, speed=230, pitch=80, amplitude=180), NEUTRAL_SENT)
    slow = embed_emotion(speech(NEUTRAL_SENT, speed=100, pitch=15, amplitude=35), NEUTRAL_SENT)
    for part in ("va", "speech"):
        af = _mean_where_confident(fast.parts[part], "arousal")
        as_ = _mean_where_confident(slow.parts[part], "arousal")
        assert af > as_ + 0.3, (part, af, as_)
    assert fast.arousal.mean() > slow.arousal.mean() + 0.2
    # the slow, low, quiet version reads as sad far more than the fast one
    si = EMOTIONS.index("sad")
    assert slow.parts["speech"].probs[:, si].mean() > fast.parts["speech"].probs[:, si].mean() + 0.2


def test_silence_has_no_speech_confidence(speech):
    sp = speech(NEUTRAL_SENT)
    emo = embed_emotion(sp, "")
    vad = sp.features["vad"]
    lead = np.flatnonzero(vad > 0.5)[0]
    assert emo.parts["va"].confidence[lead:].max() > 0.3
    # a window far from any speech has zero activity (prepend 3 s of silence)
    from synchrorama_core.audio import speech_from_waveform
    y = np.concatenate([np.zeros(48000, np.float32), sp.waveform])
    sp2 = speech_from_waveform(y, FPS)
    e2 = embed_emotion(sp2, "")
    assert np.all(e2.parts["speech"].confidence[:40] == 0) and np.all(e2.parts["va"].confidence[:40] == 0)
    # ... and the fused result there falls back toward neutral, from the nearby speech
    assert np.all(np.isfinite(e2.probs))


# ----------------------------------------------------------------------------- fusion


def test_weight_zero_removes_a_modality_exactly(speech):
    sp = speech(NEUTRAL_SENT)
    a = embed_emotion(sp, HAPPY, weights={"text": 0.0})
    b = embed_emotion(sp, SAD, weights={"text": 0.0})
    c = embed_emotion(sp, SAD, weights={"text": 1.0})
    for k in ("probs", "valence", "arousal", "intensity"):
        assert np.array_equal(getattr(a, k), getattr(b, k)), k
    assert not np.array_equal(a.valence, c.valence)  # the text does count when weighted
    assert a.weights["text"] == 0.0 and a.parts["text"].confidence.max() > 0  # the part is kept for inspection
    # identical to fusing without that part at all
    ref = fuse({k: v for k, v in a.parts.items() if k != "text"}, {"speech": 1.0, "va": 1.0}, sp.fps, sp.duration_s)
    for k in ("probs", "valence", "arousal", "intensity"):
        assert np.array_equal(getattr(a, k), getattr(ref, k)), k
    # the same for the audio modalities
    d = embed_emotion(sp, HAPPY, weights={"speech": 0.0, "va": 0.0})
    ref = fuse({"text": d.parts["text"]}, {"text": 1.0}, sp.fps, sp.duration_s)
    assert np.array_equal(d.probs, ref.probs) and np.array_equal(d.arousal, ref.arousal)


def _part(n, emotion, conf, v=None, a=None):
    p = np.zeros((n, 8), np.float32)
    p[:, EMOTIONS.index(emotion)] = 1
    from synchrorama_core.vocabulary.emotions import EMOTION_VA
    v0, a0 = EMOTION_VA[emotion]
    return EmotionPart(probs=p, valence=np.full(n, v0 if v is None else v, np.float32),
                       arousal=np.full(n, a0 if a is None else a, np.float32),
                       confidence=np.asarray(np.broadcast_to(conf, (n,)), np.float32), backend="test")


def test_fusion_is_confidence_and_weight_weighted():
    n, fps = 50, 25.0
    conf = np.zeros(n, np.float32)
    conf[:25] = 1.0
    parts = {"text": _part(n, "happy", 0.5), "speech": _part(n, "sad", conf), "va": _part(n, "neutral", 0.0)}
    e = fuse(parts, {"text": 1, "speech": 1, "va": 1}, fps, 2.0, smoothing_s=0.0)
    hi, si = EMOTIONS.index("happy"), EMOTIONS.index("sad")
    # first half: sad (conf 1) outweighs happy (conf .5) 2:1; second half: only happy speaks
    assert e.probs[5, si] == pytest.approx(2 / 3, abs=1e-3) and e.probs[5, hi] == pytest.approx(1 / 3, abs=1e-3)
    assert e.probs[40, hi] > 0.99
    e3 = fuse(parts, {"text": 4, "speech": 1, "va": 1}, fps, 2.0, smoothing_s=0.0)
    assert e3.probs[5, hi] == pytest.approx(2 / 3, abs=1e-3)
    # smoothing spreads the change over time; nothing confident anywhere -> neutral
    es = fuse(parts, {"text": 1, "speech": 1, "va": 1}, fps, 2.0, smoothing_s=0.3)
    assert 0.34 < es.probs[22, hi] < es.probs[28, hi] < 0.99
    none = fuse({"va": _part(n, "angry", 0.0)}, {"va": 1}, fps, 2.0)
    assert np.allclose(none.probs[:, NEUTRAL], 1) and np.allclose(none.valence, 0)


def test_temporal_smoothing_on_speech(speech):
    text = "I am so happy and delighted today! I feel terribly sad and miserable now."
    sp = speech(text)
    runs = {s: embed_emotion(sp, text, smoothing_s=s) for s in (0.0, 0.3, 1.0)}
    jumps = {s: float(np.abs(np.diff(e.valence)).max()) for s, e in runs.items()}
    tv = {s: float(np.abs(np.diff(e.probs, axis=0)).sum()) for s, e in runs.items()}
    assert jumps[0.0] > jumps[0.3] > jumps[1.0] and jumps[0.0] > 3 * jumps[1.0], jumps
    assert tv[0.0] > tv[0.3] > tv[1.0], tv
    # smoothing blurs the change from happy to sad in time but does not move it or swap the sign
    for e in runs.values():
        assert e.valence[: sp.n_frames // 4].mean() > 0 > e.valence[-sp.n_frames // 4:].mean()
    # smoothing 0 is the plain confidence-weighted average of the parts, frame by frame
    e0 = runs[0.0]
    num = sum(e0.weights[k] * p.confidence.astype(np.float64) * p.valence for k, p in e0.parts.items())
    den = sum(e0.weights[k] * p.confidence.astype(np.float64) for k, p in e0.parts.items())
    assert np.allclose(e0.valence, num / (den + 1e-3), atol=1e-5)
    with pytest.raises(InvalidDataError, match="smoothing"):
        embed_emotion(sp, text, smoothing_s=-1.0)


def test_target_emotion_and_global_intensity(speech):
    sp = speech(NEUTRAL_SENT)
    base = embed_emotion(sp, NEUTRAL_SENT)
    happier = embed_emotion(sp, NEUTRAL_SENT, target="happy", target_strength=0.6)
    hi = EMOTIONS.index("happy")
    assert happier.probs[:, hi].mean() > base.probs[:, hi].mean() + 0.4
    assert happier.valence.mean() > base.valence.mean() + 0.3
    only = embed_emotion(sp, NEUTRAL_SENT, target="angry", target_strength=1.0)
    assert set(only.dominant()) == {"angry"}
    calm = embed_emotion(sp, SAD, intensity=0.0)
    assert np.allclose(calm.probs[:, NEUTRAL], 1) and np.all(calm.valence == 0) and np.all(calm.intensity == 0)
    strong = embed_emotion(sp, SAD, intensity=2.0)
    normal = embed_emotion(sp, SAD)
    assert strong.intensity.mean() > normal.intensity.mean()
    assert (1 - strong.probs[:, NEUTRAL]).mean() > (1 - normal.probs[:, NEUTRAL]).mean()
    assert strong.valence.mean() < normal.valence.mean() < 0


# ----------------------------------------------------------------------------- blend / override


def test_override_blend_edits_only_its_range(speech):
    sp = speech(SAD)
    emo = embed_emotion(sp, SAD)
    out = blend_emotion(emo, target="happy", strength=1.0, start_s=1.0, end_s=2.0)
    f = np.arange(emo.n_frames)
    inside = (f + 0.5) / emo.fps
    inside = (inside >= 1.0) & (inside < 2.0)
    assert set(np.array(out.dominant())[inside]) == {"happy"}
    for k in ("probs", "valence", "arousal", "intensity"):
        assert np.array_equal(getattr(out, k)[~inside], getattr(emo, k)[~inside]), k
    assert out.parts.keys() == emo.parts.keys() and out.meta["edits"][-1]["target"] == "happy"
    # a fade ramps in and out; strength 0.5 blends halfway
    faded = blend_emotion(emo, target="happy", strength=0.5, start_s=1.0, end_s=2.0, fade_s=0.5)
    hi = EMOTIONS.index("happy")
    d = faded.probs[:, hi] - emo.probs[:, hi]
    assert d[int(1.5 * FPS)] > d[int(0.8 * FPS)] > 0 and abs(d[int(0.3 * FPS)]) == 0
    # blending toward another SR_EMOTION of the same audio
    other = embed_emotion(sp, HAPPY)
    mix = blend_emotion(emo, strength=1.0, other=other)
    assert np.allclose(mix.probs, other.probs, atol=1e-5) and np.allclose(mix.valence, other.valence, atol=1e-5)
    shifted = blend_emotion(emo, target="none", valence_shift=0.5, arousal_shift=-0.2)
    assert np.allclose(shifted.valence, np.clip(emo.valence + 0.5, -1, 1), atol=1e-6)
    with pytest.raises(InvalidDataError, match="after its start"):
        blend_emotion(emo, start_s=3.0, end_s=2.0)
    with pytest.raises(InvalidDataError, match="choose one of"):
        blend_emotion(emo, target="ecstatic")
    with pytest.raises(InvalidDataError, match="same audio"):
        blend_emotion(emo, other=embed_emotion(speech(NEUTRAL_SENT, speed=100), ""))


# ----------------------------------------------------------------------------- errors, contract, progress


def test_bad_inputs_give_clear_errors(speech):
    sp = speech(NEUTRAL_SENT)
    with pytest.raises(InvalidDataError, match="SR_SPEECH"):
        embed_emotion({"waveform": []}, "hi")
    with pytest.raises(InvalidDataError, match="unknown modality"):
        embed_emotion(sp, "", weights={"txt": 1.0})
    with pytest.raises(InvalidDataError, match=">= 0"):
        embed_emotion(sp, "", weights={"text": -1.0})
    with pytest.raises(InvalidDataError, match="choose one of"):
        embed_emotion(sp, "", target="joyful", target_strength=0.5)
    with pytest.raises(InvalidDataError, match=r"\[0, 1\]"):
        embed_emotion(sp, "", target="happy", target_strength=1.5)


def test_label_mapping_by_name_and_unmappable_labels():
    m = build_label_map(["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"])
    probs, v, a = m.apply(np.eye(7))
    assert [EMOTIONS[i] for i in probs.argmax(1)] == ["angry", "disgusted", "fear", "happy", "neutral", "sad",
                                                      "surprised"]
    assert v[3] > 0 > v[5]
    s = build_label_map(["NEGATIVE", "POSITIVE"])
    probs, v, a = s.apply(np.array([[0.9, 0.1], [0.1, 0.9]]))
    assert v[0] < 0 < v[1] and probs[1].argmax() == EMOTIONS.index("happy")
    stars = build_label_map(["1 star", "2 stars", "3 stars", "4 stars", "5 stars"])
    assert list(stars.valence) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    ser = build_label_map(["neu", "hap", "ang", "sad", "calm", "fearful", "sur", "Contempt"])
    assert [EMOTIONS[i] for i in ser.matrix.argmax(1)] == ["neutral", "happy", "angry", "sad", "neutral", "fear",
                                                          "surprised", "contempt"]
    with pytest.raises(LabelMappingError) as ei:
        build_label_map(["joy", "LABEL_1", "banana"], where="model X")
    msg = str(ei.value)
    assert "LABEL_1" in msg and "banana" in msg and "'joy'" not in msg.split("labels")[1].split("Known")[0]
    assert "id2label" in msg


def test_emotion_value_roundtrips_with_its_parts(speech, tmp_path):
    emo = embed_emotion(speech(HAPPY), HAPPY)
    for path in (tmp_path / "e.json", tmp_path / "e.safetensors"):
        emo.save(str(path))
        back = EmotionData.load(str(path))
        assert np.array_equal(back.probs, emo.probs) and back.parts.keys() == emo.parts.keys()
        assert np.array_equal(back.parts["text"].confidence, emo.parts["text"].confidence)
        assert back.weights == emo.weights and back.meta["segments"] == emo.meta["segments"]


def test_progress_and_cancel(speech):
    sp = speech(HAPPY)
    seen = []
    embed_emotion(sp, HAPPY, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 1000) and seen[-1] == (1000, 1000)
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 1
    with pytest.raises(Cancelled):
        embed_emotion(sp, HAPPY, cancelled=cancel)


def test_va_kernel_probabilities():
    p = probs_from_va(np.array([0.75, -0.7, 0.0], np.float32), np.array([0.45, -0.45, -0.1], np.float32))
    assert [EMOTIONS[i] for i in p.argmax(1)] == ["happy", "sad", "neutral"]
    assert np.allclose(p.sum(1), 1)


def test_timeline_picture_and_summary(speech):
    emo = embed_emotion(speech(HAPPY), HAPPY)
    img = draw_timeline(emo, width=800)
    assert img.dtype == np.uint8 and img.shape[1] == 800 and img.shape[2] == 3 and img.shape[0] > 300
    # the happy colour fills much of the text row and the fused row
    from synchrorama_core.emotion.plot import COLORS
    yellow = np.all(img == np.array(COLORS["happy"], np.uint8), axis=2)
    assert yellow.sum() > 800 * 20
    s = summarize(emo)
    assert "\n" not in s and "happy" in s and "text=" in s and "valence +" in s


# ----------------------------------------------------------------------------- nodes


def test_embedder_and_override_nodes(pack, speech, comfy_dirs):
    import torch
    nodes = pack.NODE_CLASS_MAPPINGS
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["SynchroRaMaEmotionEmbedder"] == "SynchroRaMa Emotion Embedder"
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["SynchroRaMaEmotionOverride"] == "SynchroRaMa Emotion Override/Blend"
    for k in ("SynchroRaMaEmotionEmbedder", "SynchroRaMaEmotionOverride", "SynchroRaMaTextEmotionModelLoader",
              "SynchroRaMaSERModelLoader", "SynchroRaMaVAModelLoader", "SynchroRaMaWhisperModelLoader"):
        assert nodes[k].CATEGORY == "SynchroRaMa/emotion"
    sp = speech(SAD)
    node = nodes["SynchroRaMaEmotionEmbedder"]()
    emo, summary, img = node.embed(sp, SAD, 1.0, 1.0, 1.0, 0.3, 1.0, "none", 0.0)
    assert isinstance(emo, EmotionData) and emo.n_frames == sp.n_frames and emo.fps == sp.fps
    assert "sad" in summary
    assert isinstance(img, torch.Tensor) and img.ndim == 4 and img.shape[0] == 1 and img.shape[3] == 3
    assert img.dtype == torch.float32 and 0 <= float(img.min()) and float(img.max()) <= 1
    assert "\n" not in summary and summary == summarize(emo)
    out, s2, img2 = nodes["SynchroRaMaEmotionOverride"]().apply(emo, "happy", 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    assert set(out.dominant()) == {"happy"} and img2.shape[0] == 1 and "happy" in s2
    # with emotion_b connected the node blends toward it (the target emotion is ignored)
    emo_b, _, _ = node.embed(sp, HAPPY, 1.0, 1.0, 1.0, 0.3, 1.0, "none", 0.0)
    mix, _, _ = nodes["SynchroRaMaEmotionOverride"]().apply(emo, "angry", 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0,
                                                            emotion_b=emo_b)
    assert np.allclose(mix.probs, emo_b.probs, atol=1e-5) and mix.meta["edits"][-1]["target"] == "other SR_EMOTION"
    # loaders: nothing installed -> an error naming the folder where the model is expected
    for key, kind in (("SynchroRaMaTextEmotionModelLoader", "text_emotion"), ("SynchroRaMaSERModelLoader", "ser"),
                      ("SynchroRaMaVAModelLoader", "va"), ("SynchroRaMaWhisperModelLoader", "whisper")):
        it = nodes[key].INPUT_TYPES()["required"]
        assert it["model"][0] == [""]
        with pytest.raises(ModelNotFoundError) as ei:
            nodes[key]().load("my_model")
        assert str(comfy_dirs / "models" / "synchrorama" / kind / "my_model") in str(ei.value)
