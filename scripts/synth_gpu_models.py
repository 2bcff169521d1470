#!/usr/bin/env python3
"""Production-shaped synthetic models for scripts/gpu-bench.sh, with the Python standard library
only (the GPU box has python3 but no package registry, and maybe no numpy).

  gguf     Qwen2.5-7B-Instruct shapes (hidden 3584, 28 layers, 28 heads / 4 KV heads, ffn 18944,
           vocabulary 152064, untied output), every matrix Q4_K (~4.5 bits/weight, 4.4 GB). Real
           Q4_K_M keeps attn_v, half of ffn_down and the output in Q6_K (~4.9 bits/weight): decode,
           which is bandwidth-bound, reads ~8 % fewer bytes here than with the real file.
  whisper  Whisper large-v3-turbo shapes (1280 state, 20 heads, 32 encoder + 4 decoder layers,
           128 mels, n_vocab 51866), f16 matrices as whisper.cpp's converter writes them.

Weights are a short random pattern repeated (speed does not depend on the values; numerically
tame so nothing becomes NaN). Output is garbage by design: these files measure speed only.
Tokenizer: byte-level BPE over the 256 GPT-2 byte symbols, no merges (one token per byte), with
Qwen's special tokens at their real ids and Qwen2.5's chat template from the repository.

Usage: python3 scripts/synth_gpu_models.py gguf|whisper --out FILE [--shape NAME]
  --shape for gguf: qwen2.5-7b (default), qwen2-0.5b, tiny; for whisper: large-v3-turbo
  (default), base, tiny.
"""

import argparse
import os
import random
import struct
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------- GGUF (llama.cpp) -----------
GGUF_SHAPES = {
    "qwen2.5-7b": dict(hidden=3584, layers=28, heads=28, kv=4, ffn=18944, vocab=152064, tied=False),
    "qwen2-0.5b": dict(hidden=896, layers=24, heads=14, kv=2, ffn=4864, vocab=151936, tied=True),
    "tiny": dict(hidden=256, layers=2, heads=4, kv=2, ffn=512, vocab=151936, tied=True),
}
SPECIALS = {151643: "<|endoftext|>", 151644: "<|im_start|>", 151645: "<|im_end|>",
            151657: "<tool_call>", 151658: "</tool_call>"}
T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY, T_UINT64 = 4, 5, 6, 7, 8, 9, 10
GGML_F32, GGML_Q4_K = 0, 12
Q4K_BLOCK, Q4K_BYTES = 256, 144


def gs(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, value):
    out = gs(key) + struct.pack("<I", vtype)
    if vtype == T_STRING:
        return out + gs(value)
    if vtype == T_UINT32:
        return out + struct.pack("<I", value)
    if vtype == T_FLOAT32:
        return out + struct.pack("<f", value)
    if vtype == T_BOOL:
        return out + struct.pack("<?", value)
    raise ValueError(vtype)


def kv_array(key, etype, values):
    out = gs(key) + struct.pack("<IIQ", T_ARRAY, etype, len(values))
    if etype == T_STRING:
        return out + b"".join(gs(v) for v in values)
    if etype == T_INT32:
        return out + struct.pack(f"<{len(values)}i", *values)
    raise ValueError(etype)


def byte_symbols():
    """GPT-2's bytes_to_unicode: the 256 byte-level symbols."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def q4k_pattern(rng, n_blocks=64):
    """n distinct valid Q4_K blocks: d ~ 2e-3, dmin 1e-3, random 6-bit scales and nibbles."""
    out = bytearray()
    for _ in range(n_blocks):
        out += struct.pack("<ee", 2e-3, 1e-3)
        out += bytes(rng.getrandbits(8) for _ in range(12))
        out += bytes(rng.getrandbits(8) for _ in range(128))
    return bytes(out)


def write_gguf(path, shape):
    s = GGUF_SHAPES[shape]
    h, layers, heads, kvh, ffn, vocab = (s[k] for k in ("hidden", "layers", "heads", "kv", "ffn", "vocab"))
    kvd = kvh * (h // heads)
    tensors = [("token_embd.weight", (h, vocab), GGML_Q4_K), ("output_norm.weight", (h,), GGML_F32)]
    if not s["tied"]:
        tensors.append(("output.weight", (h, vocab), GGML_Q4_K))
    for i in range(layers):
        b = f"blk.{i}"
        tensors += [
            (f"{b}.attn_norm.weight", (h,), GGML_F32),
            (f"{b}.attn_q.weight", (h, h), GGML_Q4_K), (f"{b}.attn_q.bias", (h,), GGML_F32),
            (f"{b}.attn_k.weight", (h, kvd), GGML_Q4_K), (f"{b}.attn_k.bias", (kvd,), GGML_F32),
            (f"{b}.attn_v.weight", (h, kvd), GGML_Q4_K), (f"{b}.attn_v.bias", (kvd,), GGML_F32),
            (f"{b}.attn_output.weight", (h, h), GGML_Q4_K),
            (f"{b}.ffn_norm.weight", (h,), GGML_F32),
            (f"{b}.ffn_gate.weight", (h, ffn), GGML_Q4_K), (f"{b}.ffn_up.weight", (h, ffn), GGML_Q4_K),
            (f"{b}.ffn_down.weight", (ffn, h), GGML_Q4_K),
        ]
    for name, ne, t in tensors:
        if t == GGML_Q4_K and ne[0] % Q4K_BLOCK:
            sys.exit(f"{name}: row {ne[0]} is not a multiple of 256 (Q4_K)")
    syms = byte_symbols()
    tokens, types = [], []
    for i in range(vocab):
        if i < 256:
            tokens.append(syms[i]); types.append(1)  # NORMAL
        elif i in SPECIALS:
            tokens.append(SPECIALS[i]); types.append(3)  # CONTROL
        else:
            tokens.append(f"<|unused_{i}|>"); types.append(5)  # UNUSED
    with open(os.path.join(REPO, "src/dialog/templates/qwen2_5.jinja"), encoding="utf-8") as f:
        template = f.read()
    meta = [
        kv("general.architecture", T_STRING, "qwen2"),
        kv("general.name", T_STRING, f"enclave-synthetic-{shape}-q4_k"),
        kv("general.alignment", T_UINT32, 32),
        kv("qwen2.context_length", T_UINT32, 32768),
        kv("qwen2.embedding_length", T_UINT32, h),
        kv("qwen2.block_count", T_UINT32, layers),
        kv("qwen2.feed_forward_length", T_UINT32, ffn),
        kv("qwen2.attention.head_count", T_UINT32, heads),
        kv("qwen2.attention.head_count_kv", T_UINT32, kvh),
        kv("qwen2.rope.freq_base", T_FLOAT32, 1_000_000.0),
        kv("qwen2.attention.layer_norm_rms_epsilon", T_FLOAT32, 1e-6),
        kv("general.file_type", T_UINT32, 15),  # MOSTLY_Q4_K_M
        kv("tokenizer.ggml.model", T_STRING, "gpt2"),
        kv("tokenizer.ggml.pre", T_STRING, "qwen2"),
        kv_array("tokenizer.ggml.tokens", T_STRING, tokens),
        kv_array("tokenizer.ggml.token_type", T_INT32, types),
        kv_array("tokenizer.ggml.merges", T_STRING, []),
        kv("tokenizer.ggml.eos_token_id", T_UINT32, 151645),
        kv("tokenizer.ggml.padding_token_id", T_UINT32, 151643),
        kv("tokenizer.ggml.bos_token_id", T_UINT32, 151643),
        kv("tokenizer.ggml.add_bos_token", T_BOOL, False),
        kv("tokenizer.chat_template", T_STRING, template),
    ]
    infos, offset, sizes = [], 0, []
    for name, ne, t in tensors:
        n = 1
        for d in ne:
            n *= d
        size = n * 4 if t == GGML_F32 else n // Q4K_BLOCK * Q4K_BYTES
        infos.append(gs(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
                     + struct.pack("<IQ", t, offset))
        sizes.append(size)
        offset += (size + 31) // 32 * 32
    rng = random.Random(20261202)
    pattern = q4k_pattern(rng)
    ones = struct.pack("<f", 1.0) * 4096
    smalls = b"".join(struct.pack("<f", rng.gauss(0, 0.02)) for _ in range(4096))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)))
        for m in meta:
            f.write(m)
        for i in infos:
            f.write(i)
        f.write(b"\0" * ((-f.tell()) % 32))
        for (name, ne, t), size in zip(tensors, sizes):
            src = pattern if t == GGML_Q4_K else (ones if name.endswith("norm.weight") else smalls)
            left = size
            while left:
                chunk = src * max(1, (1 << 24) // len(src))
                part = chunk[:left]
                f.write(part)
                left -= len(part)
            f.write(b"\0" * ((-size) % 32))
    os.replace(tmp, path)
    print(f"{path}: {shape}, {os.path.getsize(path) / 1e9:.2f} GB")


# ---------------------------------------------------------------- whisper.cpp ggml -----------
WHISPER_SHAPES = {  # state, heads, encoder layers, decoder layers, mels, n_vocab
    "large-v3-turbo": (1280, 20, 32, 4, 128, 51866),
    "base": (512, 8, 6, 6, 80, 51865),
    "tiny": (384, 6, 4, 4, 80, 51865),
}
N_AUDIO_CTX, N_TEXT_CTX, F32, F16 = 1500, 448, 0, 1


def whisper_tensors(state, n_enc, n_dec, n_mels, n_vocab):
    out = [
        ("encoder.positional_embedding", (state, N_AUDIO_CTX), F32),
        ("encoder.conv1.weight", (3, n_mels, state), F16),
        ("encoder.conv1.bias", (1, state), F32),
        ("encoder.conv2.weight", (3, state, state), F16),
        ("encoder.conv2.bias", (1, state), F32),
        ("encoder.ln_post.weight", (state,), F32),
        ("encoder.ln_post.bias", (state,), F32),
    ]

    def block(prefix, cross):
        t = [(f"{prefix}.mlp_ln.weight", (state,), F32), (f"{prefix}.mlp_ln.bias", (state,), F32),
             (f"{prefix}.mlp.0.weight", (state, 4 * state), F16), (f"{prefix}.mlp.0.bias", (4 * state,), F32),
             (f"{prefix}.mlp.2.weight", (4 * state, state), F16), (f"{prefix}.mlp.2.bias", (state,), F32)]
        for attn in ["attn"] + (["cross_attn"] if cross else []):
            t += [(f"{prefix}.{attn}_ln.weight", (state,), F32), (f"{prefix}.{attn}_ln.bias", (state,), F32),
                  (f"{prefix}.{attn}.query.weight", (state, state), F16),
                  (f"{prefix}.{attn}.query.bias", (state,), F32),
                  (f"{prefix}.{attn}.key.weight", (state, state), F16),
                  (f"{prefix}.{attn}.value.weight", (state, state), F16),
                  (f"{prefix}.{attn}.value.bias", (state,), F32),
                  (f"{prefix}.{attn}.out.weight", (state, state), F16),
                  (f"{prefix}.{attn}.out.bias", (state,), F32)]
        return t

    for i in range(n_enc):
        out += block(f"encoder.blocks.{i}", False)
    out += [("decoder.positional_embedding", (state, N_TEXT_CTX), F32),
            ("decoder.token_embedding.weight", (state, n_vocab), F16),
            ("decoder.ln.weight", (state,), F32), ("decoder.ln.bias", (state,), F32)]
    for i in range(n_dec):
        out += block(f"decoder.blocks.{i}", True)
    return out


def write_whisper(path, shape):
    state, heads, n_enc, n_dec, n_mels, n_vocab = WHISPER_SHAPES[shape]
    rng = random.Random(20261203)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<I11i", 0x67676D6C, n_vocab, N_AUDIO_CTX, state, heads, n_enc,
                            N_TEXT_CTX, state, heads, n_dec, n_mels, 1))
        n_fft = 201
        f.write(struct.pack("<2i", n_mels, n_fft))
        f.write(struct.pack("<f", 0.01) * (n_mels * n_fft))
        # The 50257 text tokens as whisper's converter stores them (raw bytes): the 256 single
        # bytes, " -" and " '" (whisper.cpp looks both up by text), then placeholders; whisper.cpp
        # adds the special tokens (language, task, timestamps) itself from n_vocab.
        toks = [bytes([i]) for i in range(256)] + [b" -", b" '"]
        toks += [f" w{i}".encode() for i in range(len(toks), 50257)]
        f.write(struct.pack("<i", len(toks)))
        for t in toks:
            f.write(struct.pack("<I", len(t)) + t)
        for name, ne, t in whisper_tensors(state, n_enc, n_dec, n_mels, n_vocab):
            enc = name.encode()
            f.write(struct.pack(f"<3i{len(ne)}i", len(ne), len(enc), t, *ne) + enc)
            n = 1
            for d in ne:
                n *= d
            if name.endswith("ln.weight") or name.endswith("_ln.weight") or name.endswith("ln_post.weight"):
                unit = struct.pack("<f", 1.0)
                data_unit, count = unit * 1024, n
            elif name.endswith(".bias"):
                data_unit, count = (struct.pack("<f", 0.0) if t == F32 else b"\0\0") * 1024, n
            else:
                std = 0.02 if "embedding" in name else 1.0 / (ne[0] ** 0.5)
                fmt = "<e" if t == F16 else "<f"
                data_unit = b"".join(struct.pack(fmt, rng.gauss(0, std)) for _ in range(4093))
                count = n
            width = 2 if t == F16 else 4
            left = count * width
            big = data_unit * max(1, (1 << 24) // len(data_unit))
            while left:
                part = big[:left]
                f.write(part)
                left -= len(part)
    os.replace(tmp, path)
    print(f"{path}: whisper {shape}, {os.path.getsize(path) / 1e9:.2f} GB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=["gguf", "whisper"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--shape")
    a = ap.parse_args()
    if a.kind == "gguf":
        write_gguf(a.out, a.shape or "qwen2.5-7b")
    else:
        write_whisper(a.out, a.shape or "large-v3-turbo")


if __name__ == "__main__":
    main()
