#!/usr/bin/env python3
"""Synthetic Qwen2 GGUF models (random weights, real architecture, real vocabulary, real chat
template) for the dialog engine's tests and benchmarks.

Writes into --out (default ${ENCLAVE_SYNTH_DIR:-$HOME/.cache/enclave/synthetic}):
  qwen2-tiny.gguf   2 layers, hidden 64, 4 heads / 2 KV heads, ffn 128   (fast tests, ~10 MB)
  qwen2-0_5b.gguf   Qwen2-0.5B shapes: hidden 896, 24 layers, 14 heads / 2 KV heads, ffn 4864,
                    rope theta 1e6, tied embeddings, vocabulary of 151936 rows  (~530 MB)

Weights: 2-D matrices Q8_0 (gguf-py quantizes Q8_0 in numpy; it has no K-quant quantizer),
norms and biases F32. Normal(0, 0.02) with a fixed seed: deterministic output.

Vocabulary: the real GPT-2 byte-level BPE vocabulary and merges (50257 tokens) from the shared
fixture `llm/vocab/ggml-vocab-gpt-2.gguf`, padded with UNUSED tokens to Qwen2's 151936 rows, with
Qwen's special tokens at their real ids (<|im_start|> 151644, <|im_end|> 151645 = EOS,
<tool_call> 151657, </tool_call> 151658, <think> 151667, </think> 151668). NOTE: that fixture
file was damaged by a UTF-8 "replace" conversion (every byte >= 0x80 of its binary integers
became EF BF BD); this script reads it leniently and recovers the exact values.

Chat template: Qwen2.5's official template (with tools), from src/dialog/templates/qwen2_5.jinja.

Usage: python3 scripts/synth_gguf.py [--out DIR] [--which all|tiny] [--vocab PATH]
Idempotent: a model is skipped when it and its .json sidecar (generator parameters) exist.
"""
import argparse
import hashlib
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np

try:
    import gguf
except ImportError:  # pragma: no cover
    sys.exit("synth_gguf.py needs the PyPI package `gguf` (pip install gguf numpy)")

GENERATOR_VERSION = 1
REPO = Path(__file__).resolve().parent.parent
N_VOCAB = 151936
SPECIALS = {
    151644: ("<|im_start|>", gguf.TokenType.CONTROL),
    151645: ("<|im_end|>", gguf.TokenType.CONTROL),
    151657: ("<tool_call>", gguf.TokenType.USER_DEFINED),
    151658: ("</tool_call>", gguf.TokenType.USER_DEFINED),
    151667: ("<think>", gguf.TokenType.USER_DEFINED),
    151668: ("</think>", gguf.TokenType.USER_DEFINED),
}
VARIANTS = {
    "tiny": dict(hidden=64, layers=2, heads=4, kv_heads=2, ffn=128, seed=1),
    "0_5b": dict(hidden=896, layers=24, heads=14, kv_heads=2, ffn=4864, seed=2),
}
REPLACEMENT = b"\xef\xbf\xbd"


class LenientReader:
    """Reads a GGUF whose integers may contain EF BF BD in place of one byte >= 0x80."""

    def __init__(self, data: bytes):
        self.d = data

    def uint_candidates(self, pos: int, size: int):
        vals, p = [0], pos
        for i in range(size):
            if self.d[p:p + 3] == REPLACEMENT:
                choices, p = range(0x80, 0x100), p + 3
            else:
                choices, p = [self.d[p]], p + 1
            vals = [v | (c << (8 * i)) for v in vals for c in choices]
        return vals, p

    def plausible_item(self, pos: int, n: int) -> bool:
        """Whether a string of `n` bytes at `pos` decodes and is followed by another such item."""
        try:
            self.d[pos:pos + n].decode("utf-8")
        except UnicodeDecodeError:
            return False
        vals, p = self.uint_candidates(pos + n, 8)
        for v in vals:
            if v < 4096:
                try:
                    self.d[p:p + v].decode("utf-8")
                    return True
                except UnicodeDecodeError:
                    pass
        return False

    def strings_until(self, pos: int, stop_key: bytes | None, count: int | None = None):
        """Reads length-prefixed strings until `stop_key`'s length prefix, EOF, or `count`."""
        out = []
        while pos < len(self.d):
            if count is not None and len(out) == count:
                break
            if stop_key is not None and self.d[pos + 8:pos + 8 + len(stop_key)] == stop_key:
                break
            vals, p = self.uint_candidates(pos, 8)
            if len(vals) == 1:
                n = vals[0]
            else:  # pick the length after which the next item looks like an item
                n = next(v for v in vals if v < 4096 and self.plausible_item(p, v))
            out.append(self.d[p:p + n].decode("utf-8"))
            pos = p + n
        return out, pos

    def array_start(self, key: bytes) -> int:
        """Position of the first item of the array stored under `key`."""
        k = self.d.index(key)
        p = k + len(key) + 8  # value type (array) + item type
        _, p = self.uint_candidates(p, 8)  # item count (may be damaged; recounted by caller)
        return p


def load_gpt2_vocab(path: Path):
    r = LenientReader(path.read_bytes())
    tokens, _ = r.strings_until(r.array_start(b"tokenizer.ggml.tokens"), b"tokenizer.ggml.token_type")
    p = r.array_start(b"tokenizer.ggml.token_type")
    types = list(struct.unpack_from(f"<{len(tokens)}i", r.d, p))
    merges, _ = r.strings_until(r.array_start(b"tokenizer.ggml.merges"), b"tokenizer.ggml.bos_token_id")
    if len(tokens) != 50257 or len(merges) != 50000 or tokens[50256] != "<|endoftext|>":
        sys.exit(f"unexpected GPT-2 vocabulary in {path}: {len(tokens)} tokens, {len(merges)} merges")
    return tokens, types, merges


def qwen_vocab(gpt2_tokens, gpt2_types):
    tokens = list(gpt2_tokens)
    types = list(gpt2_types)
    for i in range(len(tokens), N_VOCAB):
        if i in SPECIALS:
            text, t = SPECIALS[i]
        else:
            text, t = f"<|unused_{i}|>", gguf.TokenType.UNUSED
        tokens.append(text)
        types.append(int(t))
    return tokens, types


def write_model(path: Path, shape: dict, tokens, types, merges, template: str):
    rng = np.random.default_rng(shape["seed"])
    h, layers, heads, kv, ffn = (shape[k] for k in ("hidden", "layers", "heads", "kv_heads", "ffn"))
    head_dim = h // heads
    tmp = path.with_suffix(".gguf.tmp")
    w = gguf.GGUFWriter(str(tmp), "qwen2")
    w.add_name(f"enclave-synthetic-qwen2-{path.stem}")
    w.add_context_length(32768)
    w.add_embedding_length(h)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_freq_base(1_000_000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(50256)
    w.add_eos_token_id(151645)
    w.add_pad_token_id(50256)
    w.add_add_bos_token(False)
    w.add_chat_template(template)

    def q8(name, rows, cols):
        x = (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float32)
        w.add_tensor(name, gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q8_0),
                     raw_dtype=gguf.GGMLQuantizationType.Q8_0)

    def f32(name, n, value=None):
        x = np.full(n, value, dtype=np.float32) if value is not None else \
            (rng.standard_normal(n, dtype=np.float32) * 0.02).astype(np.float32)
        w.add_tensor(name, x)

    q8("token_embd.weight", N_VOCAB, h)  # tied: also the output layer
    f32("output_norm.weight", h, 1.0)
    for i in range(layers):
        b = f"blk.{i}"
        f32(f"{b}.attn_norm.weight", h, 1.0)
        q8(f"{b}.attn_q.weight", h, h)
        f32(f"{b}.attn_q.bias", h)
        q8(f"{b}.attn_k.weight", kv * head_dim, h)
        f32(f"{b}.attn_k.bias", kv * head_dim)
        q8(f"{b}.attn_v.weight", kv * head_dim, h)
        f32(f"{b}.attn_v.bias", kv * head_dim)
        q8(f"{b}.attn_output.weight", h, h)
        f32(f"{b}.ffn_norm.weight", h, 1.0)
        q8(f"{b}.ffn_gate.weight", ffn, h)
        q8(f"{b}.ffn_up.weight", ffn, h)
        q8(f"{b}.ffn_down.weight", h, ffn)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.replace(path)


def main():
    default_out = os.environ.get("ENCLAVE_SYNTH_DIR") or str(Path.home() / ".cache/enclave/synthetic")
    default_vocab = Path(os.environ.get("ENCLAVE_FIXTURES", REPO.parent / "shared/fixtures")) / \
        "llm/vocab/ggml-vocab-gpt-2.gguf"
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=default_out)
    ap.add_argument("--which", choices=["all", "tiny"], default="all")
    ap.add_argument("--vocab", default=str(default_vocab))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    template = (REPO / "src/dialog/templates/qwen2_5.jinja").read_text().rstrip("\n")
    names = ["tiny"] if args.which == "tiny" else ["tiny", "0_5b"]
    vocab = None
    for name in names:
        path = out / f"qwen2-{name}.gguf"
        params = dict(VARIANTS[name], version=GENERATOR_VERSION, n_vocab=N_VOCAB,
                      template_sha=hashlib.sha256(template.encode()).hexdigest())
        sidecar = path.with_suffix(".json")
        if path.exists() and sidecar.exists() and json.loads(sidecar.read_text()) == params:
            print(f"{path}: up to date")
            continue
        if vocab is None:
            gpt2_tokens, gpt2_types, merges = load_gpt2_vocab(Path(args.vocab))
            tokens, types = qwen_vocab(gpt2_tokens, gpt2_types)
            vocab = (tokens, types, merges)
        print(f"{path}: writing ({VARIANTS[name]})", flush=True)
        write_model(path, VARIANTS[name], *vocab, template)
        sidecar.write_text(json.dumps(params, indent=1))
        print(f"{path}: {path.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
