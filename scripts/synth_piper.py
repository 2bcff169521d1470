#!/usr/bin/env python3
"""Synthetic Piper voices: ONNX graphs with Piper's exact input/output signature, random weights.

Piper (VITS) voices take `input` int64 [1, N] phoneme ids, `input_lengths` int64 [1],
`scales` f32 [3] = (noise_scale, length_scale, noise_w) and, for multi-speaker voices,
`sid` int64 [1]; they return `output` f32 [1, 1, 1, T] audio. These graphs keep that
signature and roughly the compute of a real voice:

  embedding -> conv/FFN encoder over phonemes -> per-id durations (1..4 frames,
  multiplied by length_scale, ceil) -> length regulation (repeat each phoneme's hidden
  state for its frames) -> noise * noise_scale -> HiFi-GAN-like decoder: conv-transpose
  upsampling x256 (one frame = 256 samples) with residual conv blocks -> tanh.

So output length scales with the number of phonemes and with length_scale like a real
voice (~0.06-0.1 s per phoneme, i.e. per id pair phoneme+pad, at 22 050 Hz). The weights are random: the audio is noise,
only speed and shapes are real. Each voice gets a `.onnx.json` copied from a real Piper
config (fixtures/piper) with sample_rate/quality/speakers adjusted.

Usage:
  python3 scripts/synth_piper.py --out DIR [--which tiny|all] [--fixtures DIR]
Deterministic (fixed seeds) and idempotent (a file whose bytes would not change is skipped).
"""

import argparse
import copy
import hashlib
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HOP = 256  # samples per frame, as in Piper's medium/low voices (upsample rates multiply to 256)

# name -> architecture. `ups` are (rate, kernel) pairs whose rates multiply to HOP.
VOICES = {
    "piper-test-en": dict(
        tier="tiny", base="en_US-lessac-medium", rate=22050, quality="medium",
        hidden=32, enc_layers=2, ffn=64, up0=64, ups=[(8, 16), (8, 16), (4, 8)],
        res_kernels=[3], speakers=1, seed=11),
    "piper-test-ru": dict(
        tier="tiny", base="ru_RU-denis-medium", rate=22050, quality="medium",
        hidden=32, enc_layers=2, ffn=64, up0=64, ups=[(8, 16), (8, 16), (4, 8)],
        res_kernels=[3], speakers=1, seed=12),
    "piper-test-multi": dict(
        tier="tiny", base="en_US-lessac-medium", rate=22050, quality="medium",
        hidden=32, enc_layers=2, ffn=64, up0=64, ups=[(8, 16), (8, 16), (4, 8)],
        res_kernels=[3], speakers=2, seed=13),
    "piper-medium-en": dict(
        tier="all", base="en_US-lessac-medium", rate=22050, quality="medium",
        hidden=192, enc_layers=6, ffn=1024, up0=512, ups=[(8, 16), (8, 16), (2, 4), (2, 4)],
        res_kernels=[3, 7, 11], speakers=1, seed=21),
    "piper-medium-ru": dict(
        tier="all", base="ru_RU-denis-medium", rate=22050, quality="medium",
        hidden=192, enc_layers=6, ffn=1024, up0=512, ups=[(8, 16), (8, 16), (2, 4), (2, 4)],
        res_kernels=[3, 7, 11], speakers=1, seed=22),
    "piper-low-en": dict(
        tier="all", base="en_US-lessac-medium", rate=16000, quality="low",
        hidden=192, enc_layers=6, ffn=1280, up0=384, ups=[(8, 16), (8, 16), (2, 4), (2, 4)],
        res_kernels=[3, 7, 11], speakers=1, seed=31),
}


class Graph:
    """Small helper that accumulates nodes and initializers with unique names."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []
        self.n = 0
        self.params = 0

    def name(self, prefix):
        self.n += 1
        return f"{prefix}_{self.n}"

    def const(self, value, prefix="c"):
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(self, shape, fan_in, prefix="w"):
        w = (self.rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
        self.params += w.size
        return self.const(w, prefix)

    def op(self, op_type, inputs, prefix=None, **attrs):
        out = self.name(prefix or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv(self, x, cin, cout, k, dilation=1):
        w = self.weight((cout, cin, k), cin * k)
        b = self.const(np.zeros(cout, np.float32), "b")
        pad = dilation * (k - 1) // 2
        return self.op("Conv", [x, w, b], pads=[pad, pad], dilations=[dilation],
                       kernel_shape=[k])

    def conv_t(self, x, cin, cout, k, stride):
        w = self.weight((cin, cout, k), cin * k // stride)
        b = self.const(np.zeros(cout, np.float32), "b")
        pad = (k - stride) // 2
        return self.op("ConvTranspose", [x, w, b], strides=[stride], kernel_shape=[k],
                       pads=[pad, pad])


def build(name, a):
    g = Graph(a["seed"])
    num_symbols = 256
    c = a["hidden"]
    inputs = [
        helper.make_tensor_value_info("input", TensorProto.INT64, [1, "phonemes"]),
        helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
        helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
    ]
    if a["speakers"] > 1:
        inputs.append(helper.make_tensor_value_info("sid", TensorProto.INT64, [1]))
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 1, "time"])]

    # Scales: noise_scale, length_scale (noise_w is accepted and unused, as Piper's export
    # only feeds it to the stochastic duration predictor).
    noise_scale = g.op("Gather", ["scales", g.const(np.array(0, np.int64))], axis=0)
    length_scale = g.op("Gather", ["scales", g.const(np.array(1, np.int64))], axis=0)

    # Embedding [1, N, C] -> [1, C, N]
    emb = g.weight((num_symbols, c), 1)
    h = g.op("Gather", [emb, "input"], axis=0)
    if a["speakers"] > 1:
        spk = g.weight((a["speakers"], c), 1)
        s = g.op("Gather", [spk, "sid"], axis=0)  # [1, C]
        h = g.op("Add", [h, g.op("Unsqueeze", [s, g.const(np.array([1], np.int64))])])
    h = g.op("Transpose", [h], perm=[0, 2, 1])

    # Encoder: residual conv + FFN blocks (the compute of VITS' text encoder, minus attention).
    for _ in range(a["enc_layers"]):
        y = g.op("Relu", [g.conv(h, c, c, 5)])
        h = g.op("Add", [h, y])
        y = g.op("Relu", [g.conv(h, c, a["ffn"], 3)])
        y = g.conv(y, a["ffn"], c, 3)
        h = g.op("Add", [h, y])
        h = g.op("Tanh", [h])  # keep random activations bounded

    # Durations per id: 1 + 3*sigmoid(proj) frames (~35 ms; a phoneme is two ids, itself and a
    # pad, so ~80 ms per phoneme as in real speech), * length_scale, ceil; masked by length.
    proj = g.conv(h, c, 1, 1)  # [1, 1, N]
    dur = g.op("Add", [g.const(np.array(1.0, np.float32)),
                       g.op("Mul", [g.const(np.array(3.0, np.float32)), g.op("Sigmoid", [proj])])])
    dur = g.op("Ceil", [g.op("Mul", [dur, length_scale])])
    dur = g.op("Max", [dur, g.const(np.array(1.0, np.float32))])
    dur = g.op("Cast", [g.op("Reshape", [dur, g.const(np.array([-1], np.int64))])],
               to=TensorProto.INT64)  # [N]
    n = g.op("Gather", [g.op("Shape", ["input"]), g.const(np.array(1, np.int64))], axis=0)
    pos = g.op("Range", [g.const(np.array(0, np.int64)), n, g.const(np.array(1, np.int64))])
    valid = g.op("Cast", [g.op("Less", [pos, "input_lengths"])], to=TensorProto.INT64)
    dur = g.op("Mul", [dur, valid])
    cum = g.op("CumSum", [dur, g.const(np.array(0, np.int64))])  # [N]
    total = g.op("ReduceSum", [dur], keepdims=0)
    frames = g.op("Range", [g.const(np.array(0, np.int64)), total,
                            g.const(np.array(1, np.int64))])  # [T]
    ge = g.op("GreaterOrEqual", [g.op("Unsqueeze", [frames, g.const(np.array([1], np.int64))]),
                                 g.op("Unsqueeze", [cum, g.const(np.array([0], np.int64))])])
    idx = g.op("ReduceSum", [g.op("Cast", [ge], to=TensorProto.INT64),
                             g.const(np.array([1], np.int64))], keepdims=0)  # [T]
    hf = g.op("Gather", [h, idx], axis=2)  # [1, C, T]

    # Prior noise scaled by noise_scale, as VITS samples z = m + eps * exp(logs) * noise_scale.
    eps = g.op("RandomNormalLike", [hf], dtype=TensorProto.FLOAT)
    hf = g.op("Add", [hf, g.op("Mul", [eps, g.op("Mul", [noise_scale,
                                                         g.const(np.array(0.3, np.float32))])])])

    # Decoder (HiFi-GAN-like).
    ch = a["up0"]
    x = g.conv(hf, c, ch, 7)
    for rate, k in a["ups"]:
        x = g.op("LeakyRelu", [x], alpha=0.1)
        x = g.conv_t(x, ch, ch // 2, k, rate)
        ch //= 2
        acc = None
        for rk in a["res_kernels"]:
            y = x
            for dil in (1, 3):
                r = g.conv(g.op("LeakyRelu", [y], alpha=0.1), ch, ch, rk, dil)
                y = g.op("Add", [y, r])
            acc = y if acc is None else g.op("Add", [acc, y])
        x = g.op("Mul", [acc, g.const(np.array(1.0 / len(a["res_kernels"]), np.float32))])
    x = g.op("LeakyRelu", [x], alpha=0.01)
    x = g.op("Tanh", [g.conv(x, ch, 1, 7)])  # [1, 1, T*HOP]
    g.nodes.append(helper.make_node("Unsqueeze", [x, g.const(np.array([1], np.int64))],
                                    ["output"]))

    graph = helper.make_graph(g.nodes, name, inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="enclave-synth-piper")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, g.params


def config_for(name, a, fixtures):
    with open(os.path.join(fixtures, a["base"] + ".onnx.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    cfg = copy.deepcopy(cfg)
    cfg["audio"]["sample_rate"] = a["rate"]
    cfg["audio"]["quality"] = a["quality"]
    cfg["num_speakers"] = a["speakers"]
    cfg["speaker_id_map"] = ({f"speaker_{i}": i for i in range(a["speakers"])}
                             if a["speakers"] > 1 else {})
    cfg["dataset"] = name
    return cfg


def write_if_changed(path, data):
    if os.path.exists(path):
        with open(path, "rb") as f:
            if hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest():
                return False
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return True


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.environ.get("ENCLAVE_SYNTH_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "enclave", "synthetic")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=default_out)
    p.add_argument("--which", choices=["tiny", "all"], default="all")
    p.add_argument("--fixtures", default=os.environ.get(
        "ENCLAVE_PIPER_FIXTURES", os.path.join(here, "..", "..", "shared", "fixtures", "piper")))
    args = p.parse_args()
    if not os.path.isdir(args.fixtures):
        for cand in ("/work/shared/fixtures/piper",):
            if os.path.isdir(cand):
                args.fixtures = cand
    os.makedirs(args.out, exist_ok=True)
    for name, a in VOICES.items():
        if args.which == "tiny" and a["tier"] != "tiny":
            continue
        model, params = build(name, a)
        onnx_path = os.path.join(args.out, name + ".onnx")
        wrote = write_if_changed(onnx_path, model.SerializeToString())
        cfg = json.dumps(config_for(name, a, args.fixtures), ensure_ascii=False, indent=2)
        wrote |= write_if_changed(onnx_path + ".json", cfg.encode("utf-8"))
        state = "wrote" if wrote else "up to date"
        print(f"{name}: {params / 1e6:.2f} M parameters, {a['rate']} Hz -> {onnx_path} ({state})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
