#!/usr/bin/env python3
"""Quantise a whisper.cpp ggml model (f16) to q8_0 or q5_1, like whisper.cpp's `quantize` tool.

    python3 scripts/quantize_whisper.py IN.bin OUT.bin q8_0|q5_1

Only numpy. The file format (whisper.cpp's legacy ggml): magic, 11 int32 hyper-parameters
(the last is `ftype`, stored as ftype + 1000 * GGML_QNT_VERSION for quantised files), mel
filters, vocabulary, then tensors: n_dims, name length, type, dims, name, raw data.
Which tensors are quantised follows whisper.cpp's `ggml_common_quantize_0`: every 2-D weight
except the positional embeddings (the conv kernels are 3-D and stay f16; biases and layer norms
are 1-D and stay f32). Block formats (32 values per block, along each row) are ggml's reference
quantisers `quantize_row_q8_0_ref` and `quantize_row_q5_1_ref`:
  q8_0: f16 d = max|x| / 127, 32 x int8 round(x / d)                        (34 bytes)
  q5_1: f16 d = (max - min) / 31, f16 m = min, u32 high bits, 16 bytes of
        low nibbles (value j in the low nibble of byte j, value j + 16 in the high nibble)   (24 bytes)
"""
import struct
import sys

import numpy as np

GGML_MAGIC = 0x67676D6C
QNT_VERSION = 2
QNT_FACTOR = 1000
F32, F16, Q5_1, Q8_0 = 0, 1, 7, 8
TYPES = {"q8_0": (Q8_0, 7), "q5_1": (Q5_1, 9)}  # ggml_type, ggml_ftype (MOSTLY_Q8_0, MOSTLY_Q5_1)
SIZES = {F32: (4, 1), F16: (2, 1), Q5_1: (24, 32), Q8_0: (34, 32)}
SKIP = {"encoder.positional_embedding", "decoder.positional_embedding",
        "encoder.conv1.bias", "encoder.conv2.bias"}


def round_away(x):
    """C's roundf: halves away from zero (numpy's round goes to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize_q8_0(x):
    blocks = x.reshape(-1, 32)
    amax = np.abs(blocks).max(axis=1)
    d = amax / 127.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = round_away(blocks * inv[:, None]).astype(np.int8)
    out = np.empty((blocks.shape[0], 34), dtype=np.uint8)
    out[:, 0:2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def quantize_q5_1(x):
    blocks = x.reshape(-1, 32)
    mn = blocks.min(axis=1)
    mx = blocks.max(axis=1)
    d = (mx - mn) / 31.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    # (uint8_t)(x + 0.5f): truncation of a non-negative value.
    q = np.floor((blocks - mn[:, None]) * inv[:, None] + 0.5).astype(np.uint32)
    q = np.clip(q, 0, 31)
    lo, hi = q[:, :16], q[:, 16:]
    qs = ((lo & 0x0F) | ((hi & 0x0F) << 4)).astype(np.uint8)
    bits = np.arange(16, dtype=np.uint32)
    qh = (((lo >> 4) & 1) << bits).sum(axis=1) + (((hi >> 4) & 1) << (bits + 16)).sum(axis=1)
    out = np.empty((blocks.shape[0], 24), dtype=np.uint8)
    out[:, 0:2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:4] = mn.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 4:8] = qh.astype("<u4").view(np.uint8).reshape(-1, 4)
    out[:, 8:] = qs
    return out.tobytes()


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in TYPES:
        sys.exit(__doc__)
    src, dst, kind = sys.argv[1:]
    qtype, ftype = TYPES[kind]
    quantize = quantize_q8_0 if qtype == Q8_0 else quantize_q5_1
    data = open(src, "rb").read()
    pos = 0

    def take(n):
        nonlocal pos
        b = data[pos:pos + n]
        if len(b) != n:
            sys.exit(f"{src}: truncated at byte {pos}")
        pos += n
        return b

    out = bytearray()
    (magic,) = struct.unpack("<I", take(4))
    if magic != GGML_MAGIC:
        sys.exit(f"{src}: not a whisper.cpp ggml file (magic {magic:#x})")
    hp = list(struct.unpack("<11i", take(44)))
    if hp[10] % QNT_FACTOR not in (0, 1):
        sys.exit(f"{src}: already quantised (ftype {hp[10]}); start from the f16 file")
    hp[10] = ftype + QNT_VERSION * QNT_FACTOR
    out += struct.pack("<I", magic) + struct.pack("<11i", *hp)
    n_mel, n_fft = struct.unpack("<2i", take(8))
    out += struct.pack("<2i", n_mel, n_fft) + take(4 * n_mel * n_fft)
    (n_vocab,) = struct.unpack("<i", take(4))
    out += struct.pack("<i", n_vocab)
    for _ in range(n_vocab):
        (n,) = struct.unpack("<I", take(4))
        out += struct.pack("<I", n) + take(n)
    before = after = 0
    n_quant = n_tensors = 0
    while pos < len(data):
        n_dims, name_len, ttype = struct.unpack("<3i", take(12))
        dims = struct.unpack(f"<{n_dims}i", take(4 * n_dims))
        name = take(name_len)
        count = int(np.prod(dims))
        size, block = SIZES.get(ttype, (None, None))
        if size is None:
            sys.exit(f"{src}: tensor {name.decode()} has type {ttype}; expected f32 or f16")
        raw = take(count // block * size)
        n_tensors += 1
        before += len(raw)
        if n_dims == 2 and ttype in (F32, F16) and name.decode() not in SKIP:
            if dims[0] % 32:
                sys.exit(f"{name.decode()}: row length {dims[0]} is not a multiple of 32")
            x = np.frombuffer(raw, dtype=np.float16 if ttype == F16 else np.float32)
            raw = quantize(x.astype(np.float32))
            ttype = qtype
            n_quant += 1
        after += len(raw)
        out += struct.pack("<3i", n_dims, name_len, ttype) + struct.pack(f"<{n_dims}i", *dims)
        out += name + raw
    with open(dst, "wb") as f:
        f.write(out)
    print(f"{dst}: {kind}, {n_quant} of {n_tensors} tensors quantised, "
          f"tensor data {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
