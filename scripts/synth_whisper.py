#!/usr/bin/env python3
"""Writes synthetic whisper.cpp ggml models: real architecture and vocabulary, random weights.

Four variants land in ${ENCLAVE_SYNTH_DIR:-$HOME/.cache/enclave/synthetic}:
  whisper-test.bin  2+3 layers, 64-wide state: fast unit tests (same vocabulary and mel filters)
  whisper-test-q8_0.bin  the same shapes with 2-D matrices quantised to Q8_0, as whisper.cpp's
                    `quantize` does (conv kernels stay f16; biases, norms, embeddings f32)
  whisper-tiny.bin  real tiny shapes (384 state, 6 heads, 4+4 layers, f16 matrices): benchmarks
  whisper-base.bin  real base shapes (512 state, 8 heads, 6+6 layers, f16 matrices): benchmarks

The header's mel filters and the multilingual vocabulary (n_vocab 51865) are copied byte for byte
from whisper.cpp's weight-less test file `for-tests-ggml-tiny.bin`. Tensor names, shapes and types
follow whisper.cpp's `whisper_model_load` (vendor/whisper-rs-sys/whisper.cpp/src/whisper.cpp) and
the layout of its converter: 2-D matrices and conv kernels in f16, biases, norms and positional
embeddings in f32. Weights are random with a fixed seed, so the output is deterministic; a file
that already holds exactly the bytes this script would write is left untouched.

Usage: python3 scripts/synth_whisper.py [--source PATH] [--out-dir DIR] [--only test,tiny,base]
Speech recognised by these models is garbage by design; they exist to measure speed and to test
loading and the decoding pipeline, never accuracy.
"""

import argparse
import hashlib
import os
import struct
import sys

import numpy as np

GGML_MAGIC = 0x67676D6C
SEED = 20261121
F32, F16, Q8_0 = 0, 1, 8  # ggml_type ids
FTYPE_F16, FTYPE_Q8_0 = 1, 7  # ggml_ftype ids stored in the header

# name: (n_audio_state, n_audio_head, n_audio_layer, n_text_layer, ftype)
VARIANTS = {
    # 3 decoder layers, not 2: whisper.cpp takes a 2-layer decoder for a distilled model and
    # forces no_timestamps, which would leave timestamp decoding untested.
    "test": (64, 2, 2, 3, FTYPE_F16),
    "test-q8_0": (64, 2, 2, 3, FTYPE_Q8_0),
    "tiny": (384, 6, 4, 4, FTYPE_F16),
    "base": (512, 8, 6, 6, FTYPE_F16),
}
N_AUDIO_CTX, N_TEXT_CTX, N_MELS = 1500, 448, 80


def read_source(path):
    """Returns (n_vocab from hparams, mel+vocab bytes) of a whisper ggml file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 48 or struct.unpack_from("<I", data, 0)[0] != GGML_MAGIC:
        sys.exit(f"error: {path}: not a whisper ggml file (bad magic)")
    hparams = struct.unpack_from("<11i", data, 4)
    if hparams[9] != N_MELS:
        sys.exit(f"error: {path}: n_mels is {hparams[9]}, expected {N_MELS}")
    off = 48
    n_mel, n_fft = struct.unpack_from("<2i", data, off)
    off += 8 + 4 * n_mel * n_fft
    (n_tokens,) = struct.unpack_from("<i", data, off)
    off += 4
    for _ in range(n_tokens):
        (length,) = struct.unpack_from("<I", data, off)
        off += 4 + length
    if off > len(data):
        sys.exit(f"error: {path}: truncated vocabulary")
    return hparams[0], data[48:off]


def tensor_list(state, n_audio_layer, n_text_layer, n_vocab):
    """(name, ne (ggml order), type) for every tensor whisper_model_load creates."""
    out = [
        ("encoder.positional_embedding", (state, N_AUDIO_CTX), F32),
        ("encoder.conv1.weight", (3, N_MELS, state), F16),
        ("encoder.conv1.bias", (1, state), F32),
        ("encoder.conv2.weight", (3, state, state), F16),
        ("encoder.conv2.bias", (1, state), F32),
        ("encoder.ln_post.weight", (state,), F32),
        ("encoder.ln_post.bias", (state,), F32),
    ]

    def block(prefix, cross):
        t = [
            (f"{prefix}.mlp_ln.weight", (state,), F32),
            (f"{prefix}.mlp_ln.bias", (state,), F32),
            (f"{prefix}.mlp.0.weight", (state, 4 * state), F16),
            (f"{prefix}.mlp.0.bias", (4 * state,), F32),
            (f"{prefix}.mlp.2.weight", (4 * state, state), F16),
            (f"{prefix}.mlp.2.bias", (state,), F32),
        ]
        for attn in ["attn"] + (["cross_attn"] if cross else []):
            t += [
                (f"{prefix}.{attn}_ln.weight", (state,), F32),
                (f"{prefix}.{attn}_ln.bias", (state,), F32),
                (f"{prefix}.{attn}.query.weight", (state, state), F16),
                (f"{prefix}.{attn}.query.bias", (state,), F32),
                (f"{prefix}.{attn}.key.weight", (state, state), F16),
                (f"{prefix}.{attn}.value.weight", (state, state), F16),
                (f"{prefix}.{attn}.value.bias", (state,), F32),
                (f"{prefix}.{attn}.out.weight", (state, state), F16),
                (f"{prefix}.{attn}.out.bias", (state,), F32),
            ]
        return t

    for i in range(n_audio_layer):
        out += block(f"encoder.blocks.{i}", False)
    out += [
        ("decoder.positional_embedding", (state, N_TEXT_CTX), F32),
        ("decoder.token_embedding.weight", (state, n_vocab), F16),
        ("decoder.ln.weight", (state,), F32),
        ("decoder.ln.bias", (state,), F32),
    ]
    for i in range(n_text_layer):
        out += block(f"decoder.blocks.{i}", True)
    return out


def quantize_q8_0(values):
    """ggml's block_q8_0: per 32 values an f16 scale d = max|x| / 127 and 32 int8 q = round(x / d)."""
    blocks = values.reshape(-1, 32)
    d = np.abs(blocks).max(axis=1) / 127.0
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1.0), 0.0)
    q = np.clip(np.round(blocks * inv[:, None]), -127, 127).astype(np.int8)
    out = np.empty(len(blocks), dtype=[("d", "<f2"), ("qs", "i1", (32,))])
    out["d"] = d.astype(np.float16)
    out["qs"] = q
    return out.tobytes()


def tensor_data(rng, name, ne, ttype):
    """Random but numerically tame values: norms at 1, biases at 0, matrices ~ N(0, 1/fan_in)."""
    count = int(np.prod(ne))
    if name.endswith("ln.weight") or name.endswith("_ln.weight") or name.endswith("ln_post.weight"):
        values = np.ones(count, dtype=np.float32)
    elif name.endswith(".bias"):
        values = np.zeros(count, dtype=np.float32)
    else:
        fan_in = ne[0] * (ne[1] if name.endswith("conv1.weight") or name.endswith("conv2.weight") else 1)
        std = 0.02 if "embedding" in name else 1.0 / np.sqrt(fan_in)
        values = (rng.standard_normal(count, dtype=np.float32) * np.float32(std)).astype(np.float32)
    if ttype == Q8_0:
        return quantize_q8_0(values)
    return values.astype(np.float16 if ttype == F16 else np.float32).tobytes()


def chunks(variant, n_vocab, header_tail):
    """Yields the file's bytes in order."""
    state, heads, n_audio_layer, n_text_layer, ftype = VARIANTS[variant]
    hparams = (n_vocab, N_AUDIO_CTX, state, heads, n_audio_layer,
               N_TEXT_CTX, state, heads, n_text_layer, N_MELS, ftype)
    yield struct.pack("<I11i", GGML_MAGIC, *hparams)
    yield header_tail
    rng = np.random.default_rng(SEED + sum(map(ord, variant.split("-")[0])))
    for name, ne, ttype in tensor_list(state, n_audio_layer, n_text_layer, n_vocab):
        if ftype == FTYPE_Q8_0 and ttype == F16 and len(ne) == 2:
            ttype = Q8_0  # whisper.cpp's quantize: 2-D matrices only
        encoded = name.encode()
        yield struct.pack(f"<3i{len(ne)}i", len(ne), len(encoded), ttype, *ne) + encoded
        yield tensor_data(rng, name, ne, ttype)


def sha256_of_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_variant(variant, out_dir, n_vocab, header_tail):
    path = os.path.join(out_dir, f"whisper-{variant}.bin")
    h = hashlib.sha256()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for chunk in chunks(variant, n_vocab, header_tail):
            h.update(chunk)
            f.write(chunk)
    if os.path.exists(path) and sha256_of_file(path) == h.hexdigest():
        os.remove(tmp)
        print(f"{path}: up to date ({h.hexdigest()[:16]})")
        return
    os.replace(tmp, path)
    print(f"{path}: written, {os.path.getsize(path)} bytes, sha256 {h.hexdigest()[:16]}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_source = os.path.normpath(
        os.path.join(here, "..", "..", "shared", "fixtures", "whisper", "for-tests-ggml-tiny.bin"))
    default_out = os.environ.get("ENCLAVE_SYNTH_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "enclave", "synthetic")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=os.environ.get("ENCLAVE_WHISPER_VOCAB_SOURCE", default_source),
                    help="weight-less whisper.cpp file whose mel filters and vocabulary are reused")
    ap.add_argument("--out-dir", default=default_out)
    ap.add_argument("--only", default=",".join(VARIANTS), help="comma-separated variants")
    args = ap.parse_args()
    if not os.path.isfile(args.source):
        sys.exit(f"error: {args.source} not found; pass --source /path/to/for-tests-ggml-tiny.bin")
    n_vocab, header_tail = read_source(args.source)
    os.makedirs(args.out_dir, exist_ok=True)
    for variant in args.only.split(","):
        if variant not in VARIANTS:
            sys.exit(f"error: unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
        write_variant(variant, args.out_dir, n_vocab, header_tail)


if __name__ == "__main__":
    main()
