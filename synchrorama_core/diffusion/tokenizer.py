"""The CLIP text tokenizer of Stable Diffusion 1.x, built offline from the bundled BPE merges.

Single-file checkpoints (what ComfyUI users have in ``models/checkpoints``) hold the text
encoder's weights but not its tokenizer.  ``data/bpe_simple_vocab_16e6.txt.gz`` (MIT, OpenAI
CLIP via open_clip) holds CLIP's 48,894 byte-pair merges; the vocabulary is derived from them
exactly as CLIP does (256 byte symbols, the same with ``</w>``, one token per merge, then
``<|startoftext|>`` and ``<|endoftext|>``: 49,408 tokens).  The result is token-for-token the
tokenizer of ``openai/clip-vit-large-patch14``.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from typing import Dict, List, Optional, Tuple

from ..errors import ModelNotFoundError

_HERE = os.path.dirname(os.path.abspath(__file__))
BPE_PATH = os.path.join(_HERE, "data", "bpe_simple_vocab_16e6.txt.gz")
MAX_LENGTH = 77
_CACHE: Dict[str, object] = {}


def _bytes_to_unicode() -> Dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + \
        list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def clip_vocab_and_merges(bpe_path: str = BPE_PATH) -> Tuple[Dict[str, int], List[str]]:
    """CLIP's ``vocab.json`` mapping and ``merges.txt`` lines (without the header)."""
    if not os.path.isfile(bpe_path):
        raise ModelNotFoundError(f"the bundled CLIP tokenizer file is missing: {bpe_path}; reinstall the node pack")
    with gzip.open(bpe_path, "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
    symbols = list(_bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(vocab)}, [" ".join(m) for m in merges]


def _write_tokenizer_dir(out_dir: str) -> str:
    vocab, merges = clip_vocab_and_merges()
    os.makedirs(out_dir, exist_ok=True)
    tmp = out_dir + f".tmp{os.getpid()}"
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(tmp, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(tmp, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    cfg = {"tokenizer_class": "CLIPTokenizer", "model_max_length": MAX_LENGTH, "do_lower_case": True,
           "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
           "pad_token": "<|endoftext|>"}
    with open(os.path.join(tmp, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        os.replace(os.path.join(tmp, name), os.path.join(out_dir, name))
    os.rmdir(tmp)
    return out_dir


def bundled_tokenizer_dir() -> str:
    """A folder with the SD1.x CLIP tokenizer files, written once to the temp folder."""
    with open(BPE_PATH, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    d = os.path.join(tempfile.gettempdir(), f"synchrorama_clip_tokenizer_{digest}")
    if not all(os.path.isfile(os.path.join(d, n)) for n in ("vocab.json", "merges.txt", "tokenizer_config.json")):
        _write_tokenizer_dir(d)
    return d


def load_tokenizer(path: Optional[str] = None):
    """``CLIPTokenizer`` from ``path`` (a tokenizer folder) or, by default, the bundled one."""
    from transformers import CLIPTokenizer
    key = path or "<bundled>"
    if key not in _CACHE:
        folder = path or bundled_tokenizer_dir()
        if not os.path.isdir(folder):
            raise ModelNotFoundError(f"tokenizer folder not found: {folder}; it should hold vocab.json and "
                                     f"merges.txt (leave it empty to use the bundled SD1.x CLIP tokenizer)")
        tok = CLIPTokenizer.from_pretrained(folder, local_files_only=True)
        tok.model_max_length = MAX_LENGTH
        _CACHE[key] = tok
    return _CACHE[key]
