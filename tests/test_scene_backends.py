"""Scene model backends with real parts: tiny randomly initialised transformers models saved here,
loaded by the local backend, and served over a real OpenAI-compatible HTTP server on 127.0.0.1."""
import base64
import dataclasses
import functools
import io
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from synchrorama_core.audio import load_speech
from synchrorama_core.errors import Cancelled, ModelNotFoundError
from synchrorama_core.scene import (HTTPBackend, SceneBackendError, SceneConfigError, SceneReplyError,
                                    SceneTimeoutError, build_context, build_messages, describe_scene, load_local_backend)
from synchrorama_core.scene.structured import SYSTEM_PROMPT
from synchrorama_core.types import FaceData, SceneData

from test_scene import TEXT, emotion_for, face_for

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for p in m['content'] %}{% if p['type'] == 'image' %}<image>{% else %}{{ p['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|end|>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
IMAGE_SIDE, PATCH = 32, 8
IMAGE_TOKENS = (IMAGE_SIDE // PATCH) ** 2


@functools.lru_cache(maxsize=None)
def _tokenizer():
    """A small byte-level BPE tokenizer trained here on the describer's own prompt text (so the
    prompts are a few hundred tokens, not thousands) and a JSON scene reply."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, special_tokens=["<|end|>", "<|pad|>", "<image>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = ['{"summary": "a person talks", "segments": [{"start_s": 0.0, "end_s": 1.5, "description": '
              '"The person smiles", "actions": ["smiles", "nods"], "attributes": ["close-up"]}]}', TEXT,
              SYSTEM_PROMPT] * 4
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|end|>", pad_token="<|pad|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _text_config(tok, max_pos=4096):
    from transformers import LlamaConfig
    return LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=max_pos,
                       eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None)


def save_tiny_text_model(path, max_pos=4096, seed=0):
    import torch
    from transformers import LlamaForCausalLM
    tok = _tokenizer()
    torch.manual_seed(seed)
    LlamaForCausalLM(_text_config(tok, max_pos)).save_pretrained(str(path), safe_serialization=True)
    tok.save_pretrained(str(path))
    return str(path)


def save_tiny_vision_model(path, seed=0):
    import torch
    from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    try:
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil as ImageProcessor
    except ImportError:  # transformers 4.x: the PIL processor is the default one
        from transformers import CLIPImageProcessor as ImageProcessor
    tok = _tokenizer()
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                              image_size=IMAGE_SIDE, patch_size=PATCH, projection_dim=32)
    cfg = LlavaConfig(vision_config=vision, text_config=_text_config(tok),
                      image_token_index=tok.convert_tokens_to_ids("<image>"),
                      vision_feature_select_strategy="default", vision_feature_layer=-1)
    torch.manual_seed(seed)
    LlavaForConditionalGeneration(cfg).save_pretrained(str(path), safe_serialization=True)
    proc = LlavaProcessor(image_processor=ImageProcessor(size={"shortest_edge": IMAGE_SIDE},
                                                         crop_size={"height": IMAGE_SIDE, "width": IMAGE_SIDE}),
                          tokenizer=tok, patch_size=PATCH, vision_feature_select_strategy="default",
                          chat_template=CHAT_TEMPLATE, image_token="<image>", num_additional_image_tokens=1)
    proc.save_pretrained(str(path))
    return str(path)


JSON_REPLY = json.dumps({"summary": "a woman greets the camera warmly", "segments": [
    {"start_s": 0.0, "end_s": 3.1, "description": "She smiles and nods", "actions": ["smiles", "nods"],
     "attributes": ["warm light"]},
    {"start_s": 3.1, "end_s": 8.5, "description": "She tilts her head with a question", "actions": ["tilts head"],
     "attributes": ["warm light"]}]})


def save_tiny_json_model(path, messages, reply=JSON_REPLY, seed=0):
    """A tiny random Llama, then taught (about a second of Adam steps) to answer ``messages`` with
    ``reply``: a real model whose greedy reply is a JSON scene, saved like any model folder."""
    import torch
    from synchrorama_core.scene import LocalBackend
    save_tiny_text_model(path, seed=seed)
    b = LocalBackend(str(path)).load()
    prompt = b._text_inputs(messages)["input_ids"]
    answer = b.tokenizer(reply + b.tokenizer.eos_token, return_tensors="pt")["input_ids"]
    ids = torch.cat([prompt, answer], 1)
    labels = ids.clone()
    labels[:, :prompt.shape[1]] = -100  # learn the answer only
    torch.manual_seed(seed)
    opt = torch.optim.Adam(b.model.parameters(), lr=1e-2)
    b.model.train()
    for _ in range(300):
        loss = b.model(input_ids=ids, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.02:
            break
    assert loss.item() < 0.05, f"the tiny model did not learn its reply (loss {loss.item():.3f})"
    b.model.eval().save_pretrained(str(path), safe_serialization=True)
    return str(path)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread is fastest


@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("models") / "llm"
    save_tiny_text_model(d / "tiny-text")
    save_tiny_vision_model(d / "tiny-vision")
    save_tiny_text_model(d / "tiny-short", max_pos=128)
    return str(d)


@pytest.fixture(scope="module")
def text_llm(llm_dir):
    return load_local_backend("tiny-text", [llm_dir], device="cpu", max_new_tokens=24)


@pytest.fixture(scope="module")
def speech(speech_wav):
    return load_speech(speech_wav, fps=25.0)


@pytest.fixture(scope="module")
def messages(speech):
    return build_messages(build_context(speech, TEXT, emotion_for(speech)))


# ------------------------------------------------------------------ a real OpenAI-compatible server

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        app = self.server.app
        n = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with app.lock:
            app.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            index = len(app.requests) - 1
        action = app.respond(index, body)
        kind = action[0]
        if kind == "json":
            self._send(action[1], json.dumps(action[2]).encode(), "application/json", action[3] if len(action) > 3 else {})
        elif kind == "raw":
            self._send(action[1], action[2], action[3] if len(action) > 3 else "text/html")
        elif kind == "redirect":
            self.send_response(302)
            self.send_header("Location", action[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif kind == "stall":  # never answers (until the test ends)
            app.stop.wait(60)
            self.close_connection = True
        elif kind == "trickle":  # headers at once, then one byte of body every 0.1 s
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(600):
                if app.stop.wait(0.1):
                    break
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    break
            self.close_connection = True
        elif kind == "close":  # hang up without a word
            self.close_connection = True

    def _send(self, status, data, ctype, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


def completion(text, model="tiny"):
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


class Server:
    """ThreadingHTTPServer on 127.0.0.1:0; ``respond(index, body) -> action`` decides each reply."""

    def __init__(self, respond):
        self.respond = respond
        self.requests = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.app = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture()
def serve():
    servers = []

    def start(respond):
        s = Server(respond)
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.close()


def model_server(backend):
    """Serve ``backend`` (a loaded LocalBackend) the way llama.cpp or vLLM serve a model."""
    def respond(i, body):
        if not body or "messages" not in body:
            return ("json", 400, {"error": {"message": "no messages"}})
        reply = backend.complete(body["messages"], seed=int(body.get("seed", 0)))
        return ("json", 200, completion(reply.text, body.get("model", "")))
    return respond


def scripted(*actions):
    """Reply with ``actions`` in turn (the last one repeats)."""
    return lambda i, body: actions[min(i, len(actions) - 1)]


# ------------------------------------------------------------------ local transformers backend

def test_local_text_model_is_deterministic_and_falls_back_on_garbage(text_llm, speech, messages):
    assert text_llm.kind == "text" and text_llm.label == "local model 'tiny-text'"
    ticks = []
    a = text_llm.complete(messages, seed=3, progress=lambda d, t: ticks.append((d, t)))
    b = text_llm.complete(messages, seed=3)
    assert a.text == b.text and a.text  # greedy: the same reply every time
    assert 1 <= a.info["new_tokens"] <= 24 and a.info["prompt_tokens"] > 100
    assert ticks and ticks[-1][1] == 24
    scene = describe_scene(speech, TEXT, emotion=emotion_for(speech), backend=text_llm, seed=3)
    # a random model writes no JSON: the template's scene, with a warning saying what happened
    assert scene.backend == "template" and scene.meta["fallback_from"] == "local"
    w = " ".join(scene.meta["warnings"])
    assert "local model 'tiny-text'" in w and "unusable" in w and "template" in w
    assert scene.meta["reply"] == a.text
    again = describe_scene(speech, TEXT, emotion=emotion_for(speech), backend=text_llm, seed=3)
    assert again.to_dict() == scene.to_dict()
    with pytest.raises(Exception, match="unusable|JSON|empty"):
        describe_scene(speech, TEXT, backend=text_llm, on_failure="error")


def test_local_model_cancel_and_time_limit(text_llm, llm_dir, speech, messages):
    calls = []

    def cancel_after_three():
        calls.append(1)
        return len(calls) > 3
    with pytest.raises(Cancelled):
        text_llm.complete(messages, cancelled=cancel_after_three)
    calls.clear()
    with pytest.raises(Cancelled):  # a cancel is never swallowed by the fallback
        describe_scene(speech, TEXT, backend=text_llm, cancelled=cancel_after_three)
    quick = load_local_backend("tiny-text", [llm_dir], max_new_tokens=24, time_limit_s=1e-6)
    r = quick.complete(messages)
    assert r.info["new_tokens"] == 1 and "time limit" in r.info["note"]


def test_local_model_refuses_pickled_weights_without_unpickling(llm_dir, tmp_path):
    """Promise (safe loading): a local scene model loads only safetensors weights.  Its folder with the
    weights as a pickled ``pytorch_model.bin``, or a pickle renamed ``model.safetensors``, is refused
    with an error naming the folder, and the pickle is never run."""
    import shutil

    from helpers.pickles import replace_weights_with_pickle
    marker = tmp_path / "unpickled.txt"
    for name in ("pickled", "renamed"):
        dst = tmp_path / "llm" / name
        shutil.copytree(os.path.join(llm_dir, "tiny-text"), dst)
        pkl = replace_weights_with_pickle(dst, marker)
        if name == "renamed":
            os.replace(pkl, dst / "model.safetensors")
        with pytest.raises(ModelNotFoundError) as e:
            load_local_backend(name, [str(tmp_path / "llm")], device="cpu")
        assert str(dst) in str(e.value) and "safetensors" in str(e.value), str(e.value)
        assert not marker.exists(), f"the {name} weights were unpickled"


def test_local_model_with_too_short_a_context(llm_dir, speech):
    short = load_local_backend("tiny-short", [llm_dir], max_new_tokens=8)
    scene = describe_scene(speech, TEXT, backend=short)
    assert scene.backend == "template"
    assert "takes at most 128" in scene.meta["warnings"][0]
    with pytest.raises(SceneBackendError, match="takes at most 128"):
        describe_scene(speech, TEXT, backend=short, on_failure="error")


def test_local_vision_model_sees_the_portrait(llm_dir, speech, astronaut, messages):
    vlm = load_local_backend("tiny-vision", [llm_dir], max_new_tokens=12)
    assert vlm.kind == "vision" and vlm.is_vision
    with_img = vlm.complete(messages, images=[astronaut])
    vlm.send_images = False
    without = vlm.complete(messages, images=[astronaut])
    vlm.send_images = True
    assert with_img.info["images"] == 1 and without.info["images"] == 0
    assert with_img.info["prompt_tokens"] - without.info["prompt_tokens"] == IMAGE_TOKENS
    assert vlm.complete(messages, images=[astronaut]).text == with_img.text
    scene = describe_scene(speech, TEXT, face=face_for(astronaut), backend=vlm)
    assert scene.backend == "template" and "tiny-vision" in scene.meta["warnings"][0]
    with pytest.raises(SceneConfigError, match="not an image-text-to-text"):
        load_local_backend("tiny-text", [llm_dir], model_type="vision")


# ------------------------------------------------------------------ HTTP: a server in front of the tiny model

def test_http_server_in_front_of_the_tiny_model(serve, text_llm, speech, messages, monkeypatch):
    srv = serve(model_server(text_llm))
    monkeypatch.setenv("SR_SCENE_TEST_KEY", "test-key-123")
    http = HTTPBackend(base_url=srv.url, model="tiny-text", api_key_env="SR_SCENE_TEST_KEY", timeout_s=60)
    reply = http.complete(messages, seed=7)
    # the text that crossed the wire is exactly what the model generates
    assert reply.text == text_llm.complete(messages, seed=7).text
    assert reply.info["attempts"] == 1 and reply.info["status"] == 200
    req = srv.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == "Bearer test-key-123"
    body = req["body"]
    assert body["model"] == "tiny-text" and body["messages"] == messages
    assert body["temperature"] == 0 and body["seed"] == 7 and body["stream"] is False
    assert body["response_format"] == {"type": "json_object"}
    # temperature 0 + seed: the same request gives the same reply, call after call
    assert http.complete(messages, seed=7).text == reply.text
    assert srv.requests[1]["body"] == body
    scene = describe_scene(speech, TEXT, emotion=emotion_for(speech), backend=http, seed=7)
    assert scene.backend == "template" and scene.meta["reply"] == reply.text
    assert describe_scene(speech, TEXT, emotion=emotion_for(speech), backend=http, seed=7).to_dict() == \
        scene.to_dict()
    assert "unusable" in scene.meta["warnings"][0] and srv.url in scene.meta["warnings"][0]
    # the key is read from the environment at call time and is nowhere in the result
    assert "test-key-123" not in json.dumps(scene.to_dict())


def test_http_sends_images_as_data_urls(serve, speech, astronaut):
    srv = serve(scripted(("json", 200, completion('{"segments": [{"start_s": 0, "end_s": 1, "description": "x"}]}'))))
    http = HTTPBackend(base_url=srv.url, model="vlm", send_images=True, timeout_s=30)
    describe_scene(speech, TEXT, face=face_for(astronaut), backend=http)
    from PIL import Image
    parts = srv.requests[0]["body"]["messages"][-1]["content"]
    assert parts[0]["type"] == "text" and parts[1]["type"] == "image_url"
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    im = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))), np.float32) / 255
    assert im.shape == astronaut.shape and np.abs(im - astronaut).mean() < 0.03
    http.send_images = False
    describe_scene(speech, TEXT, face=face_for(astronaut), backend=http)
    assert isinstance(srv.requests[1]["body"]["messages"][-1]["content"], str)
    # two reference portraits -> two data URLs, each scaled to image_max_side
    http.send_images, http.image_max_side = True, 256
    one = face_for(astronaut)
    two = FaceData(images=[astronaut, astronaut[:, ::-1].copy()], landmarks=one.landmarks * 2, boxes=one.boxes * 2)
    describe_scene(speech, TEXT, face=two, backend=http)
    urls = [p["image_url"]["url"] for p in srv.requests[2]["body"]["messages"][-1]["content"][1:]]
    assert len(urls) == 2 and all(u.startswith("data:image/jpeg;base64,") for u in urls)
    ims = [Image.open(io.BytesIO(base64.b64decode(u.split(",", 1)[1]))) for u in urls]
    assert [im.size for im in ims] == [(256, 256)] * 2
    left = np.asarray(ims[1], np.float32)[:, :128].mean() - np.asarray(ims[0], np.float32)[:, :128].mean()
    assert abs(left) > 1  # the second is the mirrored portrait, not the first sent twice


def test_http_server_in_front_of_a_tiny_model_that_answers_in_json(serve, tmp_path, speech, messages):
    """The whole path with a model-written reply: generation -> HTTP -> repair -> SR_SCENE."""
    save_tiny_json_model(tmp_path / "llm" / "tiny-json", messages)
    model = load_local_backend("tiny-json", [str(tmp_path / "llm")], max_new_tokens=160)
    assert model.complete(messages).text == JSON_REPLY  # it learned; greedy decoding reproduces it
    srv = serve(model_server(model))
    http = HTTPBackend(base_url=srv.url, model="tiny-json", timeout_s=60, retries=0)
    scene = describe_scene(speech, TEXT, emotion=emotion_for(speech), backend=http, seed=3)
    assert scene.backend == "http:tiny-json" and "fallback_from" not in scene.meta
    assert scene.meta["reply"] == JSON_REPLY and srv.requests[0]["body"]["messages"] == messages
    assert [(s.start_s, s.end_s) for s in scene.segments] == [(0.0, 3.1), (3.1, speech.duration_s)]
    assert [s.actions for s in scene.segments] == [["smiles", "nods"], ["tilts head"]]
    assert scene.segments[1].description == "She tilts her head with a question"
    assert scene.prompt.startswith("a woman greets the camera warmly, ")
    assert any("clipped" in r for r in scene.meta["repairs"])  # 8.5 s is past the clip's end
    again = describe_scene(speech, TEXT, emotion=emotion_for(speech), backend=http, seed=3)
    assert again.segments == scene.segments and again.prompt == scene.prompt
    assert again.meta["reply"] == scene.meta["reply"]
    # the same model in-process gives the same scene
    local = describe_scene(speech, TEXT, emotion=emotion_for(speech), backend=model, seed=3)
    assert local.segments == scene.segments and local.backend == f"local:{model.path}"


# ------------------------------------------------------------------ HTTP: good, repaired and malformed replies

def test_http_reply_with_fences_and_trailing_text_is_repaired(serve, speech):
    dur = speech.duration_s
    reply = ("Here you go:\n```json\n" + json.dumps({"summary": "A woman talks warmly in a sunny kitchen", "segments": [
        {"start_s": 0, "end_s": 3.1, "description": "She smiles at the camera", "actions": ["smiles"],
         "attributes": ["sunny kitchen"]},
        {"start_s": 2.9, "end_s": dur + 4, "description": "She nods and glances to her left",
         "actions": ["nodding", "looks to the left"], "attributes": ["sunny kitchen"]}]}) + "\n```\nEnjoy!")
    srv = serve(scripted(("json", 200, completion(reply))))
    http = HTTPBackend(base_url=srv.url, model="scripted", timeout_s=30)
    scene = describe_scene(speech, TEXT, emotion=emotion_for(speech, "happy", "happy"), backend=http, seed=1)
    assert scene.backend == "http:scripted" and "fallback_from" not in scene.meta
    assert [(s.start_s, s.end_s) for s in scene.segments] == [(0.0, 3.1), (3.1, dur)]
    assert scene.segments[1].actions == ["nods", "looks left"]
    assert scene.prompt.startswith("A woman talks warmly in a sunny kitchen") and "happy expression" in scene.prompt
    rep = scene.meta["warnings"][0]
    assert rep.startswith("the model's reply was repaired") and "code fence" in rep and "overlap" in rep
    assert scene.meta["call"]["attempts"] == 1
    assert scene.meta["segment_text"][0].startswith("Hello there.")
    # content given as a list of parts (some servers) works too
    parts = completion("")
    parts["choices"][0]["message"]["content"] = [{"type": "text", "text": reply}]
    srv2 = serve(scripted(("json", 200, parts)))
    sc2 = describe_scene(speech, TEXT, backend=HTTPBackend(base_url=srv2.url, model="scripted", timeout_s=30))
    assert sc2.segments == scene.segments


@pytest.mark.parametrize("action,reason", [
    (("json", 200, completion("I'd rather describe it in words: she smiles.")), "no JSON object"),
    (("json", 200, completion("")), "empty"),
    (("json", 200, completion('{"segments": [{"start_s": 0, "end_s": 1, "description"')), "no usable"),
    (("json", 200, completion('```json\n{"answer": 42}\n```')), "no 'segments'"),
    (("raw", 200, b"<html>Welcome to nginx</html>"), "not with JSON"),
    (("json", 200, {"object": "error"}), "without choices"),
    (("close",), "closed the connection"),
])
def test_http_malformed_replies_fall_back_with_a_warning(serve, speech, action, reason):
    srv = serve(scripted(action))
    http = HTTPBackend(base_url=srv.url, model="m", timeout_s=20, retries=0)
    scene = describe_scene(speech, TEXT, backend=http)
    assert scene.backend == "template" and scene.meta["fallback_from"] == "http"
    assert reason in scene.meta["warnings"][0] and "template scene was used" in scene.meta["warnings"][0]
    assert len(scene.segments) == 3
    with pytest.raises((SceneBackendError, ValueError), match=reason):
        describe_scene(speech, TEXT, backend=http, on_failure="error")


# ------------------------------------------------------------------ HTTP: errors, retries, time-outs

def test_http_retries_server_errors_then_succeeds(serve, speech):
    good = ("json", 200, completion('{"segments": [{"start_s": 0, "end_s": 2, "description": "She nods"}]}'))
    srv = serve(scripted(("json", 500, {"error": {"message": "overloaded"}}),
                         ("json", 503, {"error": {"message": "loading model"}}), good))
    scene = describe_scene(speech, TEXT, backend=HTTPBackend(base_url=srv.url, model="m", retries=2, timeout_s=30))
    assert scene.backend == "http:m" and scene.meta["call"]["attempts"] == 3 and len(srv.requests) == 3
    assert scene.segments[0].actions == ["nods"]
    srv2 = serve(scripted(("json", 500, {"error": {"message": "overloaded"}})))
    scene = describe_scene(speech, TEXT, backend=HTTPBackend(base_url=srv2.url, model="m", retries=1, timeout_s=30))
    assert scene.backend == "template" and "HTTP 500: overloaded" in scene.meta["warnings"][0]
    assert len(srv2.requests) == 2
    srv3 = serve(scripted(("json", 429, {"error": "slow down"}, {"Retry-After": "0"}), good))
    scene = describe_scene(speech, TEXT, backend=HTTPBackend(base_url=srv3.url, model="m", retries=1, timeout_s=30))
    assert scene.backend == "http:m" and len(srv3.requests) == 2


@pytest.mark.parametrize("status,msg", [(404, "wrong base URL"), (401, "API key"), (400, "HTTP 400")])
def test_http_client_errors_are_not_retried(serve, speech, status, msg):
    srv = serve(scripted(("json", status, {"error": {"message": "nope"}})))
    http = HTTPBackend(base_url=srv.url, model="m", retries=3, timeout_s=30, response_format="none")
    with pytest.raises(SceneBackendError, match=msg) as e:
        http.complete([{"role": "user", "content": "hi"}])
    assert e.value.status == status and len(srv.requests) == 1


def test_http_server_rejecting_response_format_is_asked_again(serve, speech):
    ok = completion('{"segments": [{"start_s": 0, "end_s": 1, "description": "She smiles"}]}')
    srv = serve(lambda i, body: ("json", 400, {"error": {"message": "response_format.type: unknown variant"}})
                if "response_format" in body else ("json", 200, ok))
    http = HTTPBackend(base_url=srv.url, model="m", retries=0, timeout_s=30, response_format="json_schema")
    scene = describe_scene(speech, TEXT, backend=http)
    assert scene.backend == "http:m" and "response_format" in scene.meta["call"]["note"]
    first, second = srv.requests[0]["body"], srv.requests[1]["body"]
    assert first["response_format"]["type"] == "json_schema" and "response_format" not in second


TIMEOUT_S = 1.0
SLACK_S = 1.0  # thread wake-up and the template's few ms, on a loaded 2-core machine


@pytest.mark.parametrize("mode", ["stall", "trickle"])
def test_http_timeout_bounds_the_call_and_falls_back(serve, speech, mode):
    """A server that accepts the request and then never answers (stall), or sends headers and
    then one byte every 0.1 s (trickle, defeating per-read socket time-outs): the call returns
    after the configured time-out, not after the server's 60 s."""
    srv = serve(scripted((mode,)))
    http = HTTPBackend(base_url=srv.url, model="m", timeout_s=TIMEOUT_S, retries=3)
    t0 = time.monotonic()
    with pytest.raises(SceneTimeoutError, match="time-out of 1 s"):
        http.complete([{"role": "user", "content": "hi"}])
    elapsed = time.monotonic() - t0
    assert TIMEOUT_S - 0.05 <= elapsed < TIMEOUT_S + SLACK_S, elapsed
    assert len(srv.requests) == 1  # the stalled attempt used the whole budget: no retry was sent
    t0 = time.monotonic()
    scene = describe_scene(speech, TEXT, backend=http)
    elapsed = time.monotonic() - t0
    assert TIMEOUT_S - 0.05 <= elapsed < TIMEOUT_S + SLACK_S, elapsed
    assert scene.backend == "template" and "time-out" in scene.meta["warnings"][0]
    assert scene.meta["backend_error"]["kind"] == "timeout"
    with pytest.raises(SceneTimeoutError):
        describe_scene(speech, TEXT, backend=http, on_failure="error")


def test_http_timeout_covers_retries_and_back_off(serve, speech):
    # a quick 503, then a stall: both attempts together stay inside the one time-out
    srv = serve(scripted(("json", 503, {"error": {"message": "loading"}}, {"Retry-After": "0"}), ("stall",)))
    http = HTTPBackend(base_url=srv.url, model="m", timeout_s=TIMEOUT_S, retries=5)
    t0 = time.monotonic()
    with pytest.raises(SceneTimeoutError, match="earlier: .*HTTP 503: loading"):
        http.complete([{"role": "user", "content": "hi"}])
    assert time.monotonic() - t0 < TIMEOUT_S + SLACK_S and len(srv.requests) == 2
    # a Retry-After longer than the time left: no pointless sleep, the call ends at once
    srv2 = serve(scripted(("json", 503, {"error": {"message": "busy"}}, {"Retry-After": "30"})))
    http2 = HTTPBackend(base_url=srv2.url, model="m", timeout_s=5.0, retries=5)
    t0 = time.monotonic()
    scene = describe_scene(speech, TEXT, backend=http2)
    assert time.monotonic() - t0 < SLACK_S and len(srv2.requests) == 1
    assert "left no time to retry" in scene.meta["warnings"][0] and "HTTP 503: busy" in scene.meta["warnings"][0]


def test_http_cancel_while_waiting(serve, speech):
    srv = serve(scripted(("stall",)))
    http = HTTPBackend(base_url=srv.url, model="m", timeout_s=30, retries=0)
    t0 = time.monotonic()
    with pytest.raises(Cancelled):  # a cancel is never turned into a fallback
        describe_scene(speech, TEXT, backend=http, cancelled=lambda: time.monotonic() - t0 > 0.3)
    assert 0.3 <= time.monotonic() - t0 < 0.3 + SLACK_S


def test_http_endpoint_down(speech):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    http = HTTPBackend(base_url=f"http://127.0.0.1:{port}/v1", model="m", retries=2, timeout_s=20)
    scene = describe_scene(speech, TEXT, backend=http)
    w = scene.meta["warnings"][0]
    assert scene.backend == "template" and "connection refused" in w and "3 attempt(s)" in w
    assert scene.meta["backend_error"]["kind"] == "connection"


def test_http_goes_nowhere_but_the_configured_url(serve, speech, monkeypatch):
    other = serve(scripted(("json", 200, completion('{"segments": []}'))))
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(var, other.url.rsplit("/", 1)[0])
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    redirecting = serve(scripted(("redirect", other.url + "/chat/completions")))
    http = HTTPBackend(base_url=redirecting.url, model="m", retries=2, timeout_s=20)
    with pytest.raises(SceneBackendError, match="redirects are not followed"):
        http.complete([{"role": "user", "content": "hi"}])
    scene = describe_scene(speech, TEXT, backend=http)
    assert "HTTP 302" in scene.meta["warnings"][0]
    assert len(redirecting.requests) == 2 and other.requests == []  # no proxy, no redirect followed


def test_api_key_is_read_from_the_named_variable_and_never_output(pack, serve, speech, monkeypatch):
    key = "sk-test-0123456789-SECRET"
    monkeypatch.setenv("SR_SCENE_TEST_KEY", key)
    ok = completion(json.dumps({"segments": [{"start_s": 0, "end_s": 2, "description": "She nods",
                                              "actions": ["nods"]}]}))
    srv = serve(scripted(("json", 401, {"error": {"message": "invalid api key"}}), ("json", 200, ok)))
    node = pack.NODE_CLASS_MAPPINGS["SynchroRaMaSceneHTTPBackend"]
    # the node has no input for the key itself: a workflow stores only the variable's name
    assert [k for k in node.INPUT_TYPES()["required"] if "key" in k] == ["api_key_env"]
    widgets = dict(base_url=srv.url, model="m", api_key_env="SR_SCENE_TEST_KEY", timeout_s=10.0, retries=2)
    (http,) = node().make(**widgets)
    assert key not in json.dumps(widgets) + repr(http) + json.dumps(dataclasses.asdict(http))
    describer = pack.NODE_CLASS_MAPPINGS["SynchroRaMaSceneDescriber"]()
    outputs = []
    for _ in range(2):  # 401 (not retried: falls back), then 200
        scene, prompt, text = describer.describe(speech, TEXT, backend=http)
        outputs.append(json.dumps(scene.to_dict()) + prompt + text)
    assert scene.backend == "http:m" and "fallback_from" not in scene.meta
    assert "check the API key in $SR_SCENE_TEST_KEY" in outputs[0] and "HTTP 401" in outputs[0]
    assert all(key not in o for o in outputs)
    assert [r["headers"]["Authorization"] for r in srv.requests] == [f"Bearer {key}"] * 2
    # read at call time: a changed variable is used by the next call, an unset one is an error
    monkeypatch.setenv("SR_SCENE_TEST_KEY", "rotated")
    describer.describe(speech, TEXT, backend=http)
    assert srv.requests[-1]["headers"]["Authorization"] == "Bearer rotated"
    monkeypatch.delenv("SR_SCENE_TEST_KEY")
    with pytest.raises(SceneConfigError, match="SR_SCENE_TEST_KEY"):
        describer.describe(speech, TEXT, backend=http)
    assert len(srv.requests) == 3
    # without a variable no Authorization header is sent at all
    (anon,) = node().make(srv.url, "m", api_key_env="", timeout_s=10.0)
    describer.describe(speech, TEXT, backend=anon)
    assert "Authorization" not in srv.requests[-1]["headers"]


def test_http_configuration_errors(speech, monkeypatch):
    monkeypatch.delenv("SR_SCENE_UNSET_KEY", raising=False)
    http = HTTPBackend(base_url="http://127.0.0.1:9/v1", model="m", api_key_env="SR_SCENE_UNSET_KEY")
    # a configuration mistake is an error, not a silent fallback
    with pytest.raises(SceneConfigError, match="SR_SCENE_UNSET_KEY"):
        describe_scene(speech, TEXT, backend=http)
    for kw, msg in [({"base_url": ""}, "base URL"), ({"base_url": "localhost:11434"}, "http://"),
                    ({"base_url": "http://user:pw@host/v1"}, "credentials"), ({"model": ""}, "model name"),
                    ({"timeout_s": 0}, "timeout_s"), ({"retries": 50}, "retries"),
                    ({"response_format": "xml"}, "response_format"), ({"api_key_env": "sk-live key"}, "NAME")]:
        args = {"base_url": "http://127.0.0.1:9/v1", "model": "m", **kw}
        with pytest.raises(SceneConfigError, match=msg):
            HTTPBackend(**args)
    assert HTTPBackend(base_url="http://h:1/v1/", model="m").url == "http://h:1/v1/chat/completions"
    assert HTTPBackend(base_url="https://h/api/v1/chat/completions", model="m").url == \
        "https://h/api/v1/chat/completions"


# ------------------------------------------------------------------ nodes with real backends

def test_backend_nodes_drive_the_describer(pack, comfy_dirs, serve, speech, astronaut):
    nodes = pack.NODE_CLASS_MAPPINGS
    models = comfy_dirs / "models" / "synchrorama" / "llm"
    save_tiny_text_model(models / "my-llm")
    loader = nodes["SynchroRaMaSceneLocalModel"]
    assert "my-llm" in loader.INPUT_TYPES()["required"]["model"][0]
    (local,) = loader().load("my-llm", max_new_tokens=8)
    assert local.kind == "text" and local.path == str(models / "my-llm")
    describer = nodes["SynchroRaMaSceneDescriber"]()
    scene, prompt, text = describer.describe(speech, TEXT, backend=local, face=face_for(astronaut))
    assert scene.backend == "template" and "# warning: local model 'my-llm'" in text
    with pytest.raises(SceneReplyError, match="JSON|empty"):  # a random model's reply is not JSON
        describer.describe(speech, TEXT, on_failure="raise an error", backend=local)
    ok = completion(json.dumps({"summary": "a smiling astronaut", "segments": [
        {"start_s": 0, "end_s": speech.duration_s, "description": "She smiles and nods", "actions": ["smiles", "nods"],
         "attributes": ["NASA portrait"]}]}))
    srv = serve(scripted(("json", 200, ok)))
    (http,) = nodes["SynchroRaMaSceneHTTPBackend"]().make(srv.url, "served", timeout_s=10.0, retries=0)
    scene, prompt, text = describer.describe(speech, TEXT, backend=http, seed=5, notes="She is an astronaut.")
    assert scene.backend == "http:served" and prompt.startswith("a smiling astronaut")
    assert "[0.00 - " in text and "| actions: smiles, nods | attributes: NASA portrait" in text
    body = srv.requests[0]["body"]
    assert body["seed"] == 5 and "She is an astronaut." in body["messages"][1]["content"]
    assert isinstance(scene, SceneData)
    # the readable text round-trips through Parse Scene Text, and an edit comes back in
    parse = nodes["SynchroRaMaParseSceneText"]()
    back, prompt2, text2 = parse.parse(text, speech=speech)
    assert back.segments == scene.segments and prompt2 == prompt
    lines = [[ln for ln in t.splitlines() if not ln.startswith("#")] for t in (text, text2)]
    assert lines[0] == lines[1]
    edited = text.replace("She smiles and nods", "She laughs and shakes her head").replace(
        "actions: smiles, nods", "actions: shakes head")
    back, prompt3, _ = parse.parse(edited, speech=speech)
    assert back.segments[0].description == "She laughs and shakes her head"
    assert back.segments[0].actions == ["shakes head"] and prompt3 == prompt
