#!/usr/bin/env bash
# The GPU benchmark: one script, run unchanged on the GPU box (an H200 with a CUDA 13 driver, no
# package registry, at most 64 MiB carried in). It prints
#   1. Whisper large-v3-turbo shapes: encode + decode per utterance at 1, 8, 32 concurrent;
#   2. LLM Qwen2.5-7B shapes (Q4_K): time to first token and aggregate tok/s at 1, 8, 32, 100
#      sequences (target: 32 sequences >= 10x one);
#   3. Piper medium: RTF on the GPU (ONNX Runtime CUDA EP) vs the CPU;
#   4. `agent bench calls` at 1, 10, 50, 100 simulated callers: turn latency on the wire
#      (target: 100 calls p50 <= 450 ms, p95 <= 700 ms).
#
#   bash scripts/gpu-bench.sh --pack       # on the build box: fill gpu-bench-pack/ (<= 64 MiB)
#   bash scripts/gpu-bench.sh              # on the GPU box
#   ENCLAVE_GPU_BENCH_SMALL=1 bash scripts/gpu-bench.sh   # anywhere: tiny shapes, small counts,
#                                          # CPU where there is no GPU (proves the script runs)
#
# What travels (--pack) and why:
#   agent.xz          the CUDA build (scripts/build-cuda.sh), xz -9; cudart is linked statically.
#   piper-medium-en.onnx.xz + .json   the synthetic medium voice with its weights replaced by a
#                     repeated pattern (same compute, compresses ~1000x); needs the onnx package
#                     to make, which the GPU box may lack.
#   agent-cpu.xz      a CPU build (optional), for the CPU parts where cuBLAS is missing.
#   fixtures/         jfk.wav and the Silero model (from ../shared/fixtures).
# What is made on the GPU box: the Whisper and LLM files (scripts/synth_gpu_models.py: python3
# standard library only; 4.4 GB + 1.6 GB, about a minute).
# What cannot travel: cuBLAS. PyPI ships it only as shared libraries, libcublas.so.13 (54 MB, 48 MB
# xz) and libcublasLt.so.13 (539 MB): far over 64 MiB, and ggml's CUDA backend cannot be built
# without it. The script finds them on the box (ENCLAVE_CUDA_LIBS, gpu-bench-pack/lib,
# /usr/local/cuda*/lib64, the system library path, pip's nvidia/cu13/lib of any python3) and,
# when they are not there, says so and runs the CPU parts only. Piper on the GPU likewise needs
# ONNX Runtime's GPU build (onnxruntime-gpu, with cuDNN 9): found in any python3's site-packages
# or ENCLAVE_ORT_GPU_DYLIB, else reported as not measurable.
#
# Environment: ENCLAVE_AGENT (binary), ENCLAVE_GPU_BENCH_WORK (work dir, default a temp dir with
# several GB free), OUT (if set, logs are copied there), ENCLAVE_GPU_BENCH_SKIP (words of
# "asr llm tts calls" to skip).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
pack="$repo/gpu-bench-pack"
small="${ENCLAVE_GPU_BENCH_SMALL:-}"
skip=" ${ENCLAVE_GPU_BENCH_SKIP:-} "

say() { printf '%s\n' "$*"; }
section() { printf '\n== %s\n' "$*"; }

if [ "${1:-}" = "--pack" ]; then
  set -e
  source scripts/env.sh
  mkdir -p "$pack/fixtures/audio" "$pack/fixtures/vad"
  cuda_agent="${ENCLAVE_CUDA_AGENT:-${ENCLAVE_CUDA_TARGET_DIR:-$HOME/.cache/enclave/cuda-target}/release/agent}"
  if [ -x "$cuda_agent" ]; then
    xz -9 -T1 -c "$cuda_agent" > "$pack/agent.xz"
  else
    say "warning: no CUDA agent at $cuda_agent (bash scripts/build-cuda.sh); packing none" >&2
  fi
  # A CPU build too (optional): the CPU parts still run where cuBLAS is missing.
  cpu_agent="${ENCLAVE_CPU_AGENT:-${CARGO_TARGET_DIR:-target}/release/agent}"
  [ -x "$cpu_agent" ] && xz -9 -T1 -c "$cpu_agent" > "$pack/agent-cpu.xz"
  fixtures="${ENCLAVE_FIXTURES_DIR:-$(cd .. && pwd)/shared/fixtures}"
  cp "$fixtures/audio/jfk.wav" "$pack/fixtures/audio/"
  cp "$fixtures/vad/silero_vad.onnx" "$pack/fixtures/vad/"
  py="$ENCLAVE_VENV/bin/python"
  voices=$(mktemp -d)
  "$py" scripts/synth_piper.py --out "$voices" --which all > /dev/null
  "$py" - "$voices/piper-medium-en.onnx" "$pack/piper-medium-en.onnx" <<'PY'
import sys, numpy as np, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
rng = np.random.default_rng(7)
for init in m.graph.initializer:
    a = numpy_helper.to_array(init)
    if a.dtype == np.float32 and a.size >= 4096:
        pat = (rng.standard_normal(4093).astype(np.float32) * float(a.std() or 0.02))
        a = np.resize(pat, a.shape).astype(np.float32)
        init.CopyFrom(numpy_helper.from_array(a, init.name))
onnx.save(m, sys.argv[2])
PY
  cp "$voices/piper-medium-en.onnx.json" "$pack/"
  xz -9 -f "$pack/piper-medium-en.onnx"
  rm -rf "$voices"
  du -ab "$pack" | sort -n | tail -8
  total=$(du -sb "$pack" | cut -f1)
  say "pack: $total bytes ($(( total / 1048576 )) MiB of 64 MiB)"
  [ "$total" -le $((64 * 1048576)) ] || { say "error: over 64 MiB" >&2; exit 1; }
  exit 0
fi

work="${ENCLAVE_GPU_BENCH_WORK:-$(mktemp -d)}"
mkdir -p "$work/models"
log="$work/gpu-bench.log"
finish() { [ -n "${OUT:-}" ] && cp -r "$work"/*.log "$work"/*.txt "$OUT"/ 2>/dev/null; true; }
trap finish EXIT
say "gpu-bench: work dir $work (logs: *.log there${OUT:+, copied to \$OUT})"

# ---- the binary ---------------------------------------------------------------------------
agent="${ENCLAVE_AGENT:-}"
if [ -z "$agent" ] && [ -f "$pack/agent.xz" ]; then
  xz -dc "$pack/agent.xz" > "$work/agent" && chmod +x "$work/agent" && agent="$work/agent"
fi
for c in target/release/agent target/debug/agent; do [ -z "$agent" ] && [ -x "$c" ] && agent="$c"; done
[ -n "$agent" ] || { say "error: no agent binary (ENCLAVE_AGENT, gpu-bench-pack/agent.xz, target/)"; exit 2; }

# ---- the CUDA libraries the binary needs --------------------------------------------------
section "environment"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/gpu: /'
say "cpu: $(nproc) cores; python3: $(python3 --version 2>&1 || echo none)"
libdirs=("${ENCLAVE_CUDA_LIBS:-}" "$pack/lib" /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/lib/x86_64-linux-gnu)
if command -v python3 >/dev/null; then
  while read -r d; do libdirs+=("$d/nvidia/cu13/lib" "$d/nvidia/cublas/lib" "$d/nvidia/cuda_runtime/lib"); done \
    < <(python3 -c 'import site,sys; print("\n".join(site.getsitepackages()+[site.getusersitepackages()]))' 2>/dev/null)
fi
for d in "${libdirs[@]}"; do
  [ -n "$d" ] && [ -f "$d/libcublasLt.so.13" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" && say "cuBLAS: $d" && break
done
missing=$(ldd "$agent" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' ')
if [ -n "$missing" ]; then
  say "NOT RUNNABLE: $agent needs $missing— not on this box and too big to carry (see the header)."
  say "Put libcublas.so.13 and libcublasLt.so.13 (PyPI nvidia-cublas 13.0) in ENCLAVE_CUDA_LIBS and rerun."
  cuda_build=""
else
  cuda_build=1
fi
if [ -z "$cuda_build" ]; then
  say "falling back to a CPU build for the CPU parts"; agent=""
  if [ -f "$pack/agent-cpu.xz" ]; then
    xz -dc "$pack/agent-cpu.xz" > "$work/agent-cpu" && chmod +x "$work/agent-cpu" && agent="$work/agent-cpu"
  fi
fi
for c in target/release/agent target/debug/agent; do [ -z "$agent" ] && [ -x "$c" ] && agent="$c"; done
[ -n "$agent" ] || exit 2
say "agent: $agent"

# ---- is there a usable GPU? (the agent's own probe and policy) ----------------------------
printf '[asr]\nuse_gpu = true\n[llm]\nn_gpu_layers = 999\n[gpu]\nmode = "required"\n' > "$work/probe.toml"
if "$agent" --config "$work/probe.toml" config check > "$work/probe.txt" 2>&1; then
  gpu=1; say "$(grep '^# gpu:' "$work/probe.txt" | head -1)"
else
  gpu=""; say "no GPU for ggml: $(tail -1 "$work/probe.txt")"
fi
if [ -n "$gpu" ]; then
  export ENCLAVE_GPU__MODE=required ENCLAVE_ASR__USE_GPU=true ENCLAVE_ASR__FLASH_ATTN=true
  layers=999
else
  layers=0
  [ -n "$small" ] || say "WARNING: measuring on the CPU; these are not GPU figures"
fi

fixtures="$pack/fixtures"
[ -f "$fixtures/audio/jfk.wav" ] || fixtures="${ENCLAVE_FIXTURES_DIR:-$(cd .. && pwd)/shared/fixtures}"
wav="$fixtures/audio/jfk.wav"

# ---- models --------------------------------------------------------------------------------
section "models"
command -v python3 >/dev/null || { say "error: python3 is needed to make the models here (standard library only)"; exit 2; }
if [ -n "$small" ]; then wshape=tiny; lshape=tiny; else wshape=large-v3-turbo; lshape=qwen2.5-7b; fi
whisper="$work/models/whisper-$wshape.bin"; gguf="$work/models/qwen-$lshape.gguf"
[ -f "$whisper" ] || python3 scripts/synth_gpu_models.py whisper --shape "$wshape" --out "$whisper" || exit 2
[ -f "$gguf" ] || python3 scripts/synth_gpu_models.py gguf --shape "$lshape" --out "$gguf" || exit 2
piper="$work/models/piper-medium-en.onnx"
if [ ! -f "$piper" ] && [ -f "$pack/piper-medium-en.onnx.xz" ]; then
  xz -dc "$pack/piper-medium-en.onnx.xz" > "$piper"; cp "$pack/piper-medium-en.onnx.json" "$piper.json"
fi
if [ ! -f "$piper" ]; then
  synth="${ENCLAVE_SYNTH_DIR:-$HOME/.cache/enclave/synthetic}"
  for v in piper-medium-en piper-test-en; do
    [ -f "$synth/$v.onnx" ] && cp "$synth/$v.onnx" "$piper" && cp "$synth/$v.onnx.json" "$piper.json" && break
  done
fi

# ---- 1. Whisper ---------------------------------------------------------------------------
if [[ "$skip" != *" asr "* ]]; then
  section "1. Whisper $wshape shapes: encode + decode per utterance (jfk.wav, 11 s, 32 tokens)"
  if [ -n "$small" ]; then levels="1 2"; runs=1; else levels="1 8 32"; runs=3; fi
  for c in $levels; do
    ENCLAVE_ASR__MAX_CONCURRENT=$c "$agent" bench asr --audio "$wav" --model "$whisper" --runs "$runs" \
      --max-tokens 32 --dynamic-audio-ctx --concurrent "$c" > "$work/asr-$c.log" 2>&1 \
      || { say "asr at $c failed: $(tail -2 "$work/asr-$c.log")"; continue; }
    say "-- $c concurrent:"
    grep -E '^\s+(encode|decode|pipeline \(transcribe\))|at once' "$work/asr-$c.log"
  done
fi

# ---- 2. LLM -------------------------------------------------------------------------------
if [[ "$skip" != *" llm "* ]]; then
  section "2. LLM $lshape shapes, Q4_K: TTFT (500-token prompt) and aggregate tok/s"
  if [ -n "$small" ]; then par="1,2"; ptok=64; gen=8; reps=1; else par="1,8,32,100"; ptok=500; gen=64; reps=2; fi
  if "$agent" bench llm --model "$gguf" --parallel "$par" --prompt-tokens "$ptok" --gen-tokens "$gen" \
      --reps "$reps" --n-gpu-layers "$layers" > "$work/llm.log" 2>&1; then
    grep -E '^(time to first token|decode,|turn 2)' "$work/llm.log"
    one=$(grep -E '^decode, 1 sequence' "$work/llm.log" | sed -E 's/.*aggregate ([0-9.]+) tokens.*/\1/')
    at32=$(grep -E '^decode, 32 sequence' "$work/llm.log" | sed -E 's/.*aggregate ([0-9.]+) tokens.*/\1/')
    [ -n "$one" ] && [ -n "$at32" ] && awk -v a="$at32" -v b="$one" \
      'BEGIN { r = a / b; printf "32 sequences / 1: %.1fx (target >= 10x): %s\n", r, (r >= 10 ? "MET" : "NOT MET") }'
  else
    say "llm failed: $(tail -3 "$work/llm.log")"
  fi
fi

# ---- 3. Piper -----------------------------------------------------------------------------
if [[ "$skip" != *" tts "* ]]; then
  section "3. Piper medium: RTF, CPU vs GPU (ONNX Runtime CUDA execution provider)"
  if [ ! -f "$piper" ]; then
    say "no Piper voice (gpu-bench-pack/piper-medium-en.onnx.xz: run --pack on the build box)"
  else
    iters=$([ -n "$small" ] && echo 2 || echo 10)
    ENCLAVE_GPU__MODE=off "$agent" bench tts --voices "$piper" --iterations "$iters" --no-piper --concurrent 0 \
      > "$work/tts-cpu.log" 2>&1 && say "cpu: $(grep -E 'piper-medium|medium' "$work/tts-cpu.log" | tail -1)" \
      || say "tts cpu failed: $(tail -2 "$work/tts-cpu.log")"
    ort_gpu="${ENCLAVE_ORT_GPU_DYLIB:-}"
    if [ -z "$ort_gpu" ] && command -v python3 >/dev/null; then
      ort_gpu=$(python3 - <<'PY' 2>/dev/null
import glob, os, site
for d in site.getsitepackages() + [site.getusersitepackages()]:
    capi = os.path.join(d, "onnxruntime", "capi")
    if glob.glob(os.path.join(capi, "libonnxruntime_providers_cuda.so")):
        libs = sorted(glob.glob(os.path.join(capi, "libonnxruntime.so*")))
        if libs:
            print(libs[-1]); break
PY
)
    fi
    if [ -z "$ort_gpu" ]; then
      say "gpu: not measurable here: no ONNX Runtime GPU build (pip's onnxruntime-gpu, with cuDNN 9) on this box"
    elif ORT_DYLIB_PATH="$ort_gpu" ENCLAVE_TTS__USE_GPU=true ENCLAVE_GPU__MODE=required \
        "$agent" bench tts --voices "$piper" --iterations "$iters" --no-piper --concurrent 0 > "$work/tts-gpu.log" 2>&1; then
      say "gpu: $(grep -E 'medium' "$work/tts-gpu.log" | tail -1)"
    else
      say "gpu: failed: $(tail -2 "$work/tts-gpu.log")"
    fi
  fi
fi

# ---- 4. whole calls -----------------------------------------------------------------------
if [[ "$skip" != *" calls "* ]]; then
  section "4. agent bench calls: turn latency on the wire (end of caller speech -> first answer audio)"
  calls_voice="$piper"
  if [ -n "$small" ]; then
    levels="1 2"; maxp=4
    # The tiny test voice: the medium one runs slower than real time on a busy 2-core box.
    t="${ENCLAVE_SYNTH_DIR:-$HOME/.cache/enclave/synthetic}/piper-test-en.onnx"
    [ -f "$t" ] && calls_voice="$t"
  else
    levels="1 10 50 100"; maxp=100
  fi
  cat > "$work/agent.toml" <<TOML
[server]
max_calls = $((maxp + 20))
[asr]
model = "$whisper"
language = "en"
max_tokens = 24
drop_no_speech_prob = 1.0
drop_avg_logprob = -100.0
no_speech_threshold = 1.0
logprob_threshold = -100.0
quiet_dbfs = -100.0
temperature_inc = 0.0
max_concurrent = $([ -n "$gpu" ] && echo 32 || echo 0)
[vad]
silero_model = "$fixtures/vad/silero_vad.onnx"
[tts]
voice_en = "$calls_voice"
sessions = $([ -n "$small" ] && echo 1 || echo 8)
[llm]
model = "$gguf"
n_gpu_layers = $layers
max_tokens = 40
temperature = 0.8
context_per_call = 2048
max_parallel = $maxp
[conversation]
language = "en"
asr_budget_ms = 30000
llm_budget_ms = 30000
tts_budget_ms = 30000
TOML
  ENCLAVE_FIXTURES_DIR="$fixtures" ENCLAVE_BENCH_CONCURRENCY="$levels" ENCLAVE_BENCH_ROUNDS=1 \
    ENCLAVE_BENCH_LINGER="${ENCLAVE_BENCH_LINGER:-30}" \
    bash scripts/bench-calls.sh --config "$work/agent.toml" "$agent" > "$work/calls.log" 2>&1 \
    || say "bench calls failed: $(tail -5 "$work/calls.log")"
  grep -E '^concurrency|^  ' "$work/calls.log" | head -60
  top=${levels##* }
  awk -v top="$top" '
    $1 == "concurrency" { cur = $2; sub(":", "", cur) }
    cur == top && /turn latency on the wire/ {
      for (i = 1; i <= NF; i++) { if ($i == "p50") p50 = $(i + 1); if ($i == "p95") p95 = $(i + 1) }
      ok = (p50 + 0 <= 450 && p95 + 0 <= 700 && p50 + 0 > 0)
      printf "%s calls: p50 %s ms, p95 %s ms (target p50 <= 450, p95 <= 700): %s\n", top, p50, p95, ok ? "MET" : "NOT MET"
    }' "$work/calls.log"
fi
say ""
say "done; full logs in $work"
