#!/usr/bin/env bash
# Whole-call benchmark on this machine: starts `agent serve` on the synthetic models with
# real shapes (Whisper base, Qwen2.5-0.5B, a medium Piper voice, the real Silero VAD), then
# `agent bench calls` at concurrency 1, 2 and 4.
#
#   bash scripts/bench-calls.sh [path/to/agent]     (default: target/debug/agent)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
agent="${1:-target/debug/agent}"
fixtures="${ENCLAVE_FIXTURES_DIR:-$(cd .. && pwd)/shared/fixtures}"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; [ -n "${ENCLAVE_BENCH_KEEP:-}" ] || rm -rf "$work"' EXIT
echo "work dir: $work (agent.log, calls.sqlite3)"
cat > "$work/agent.toml" <<TOML
[server]
listen = "127.0.0.1:19092"
handler = "conversation"
shutdown_grace_secs = 1
[asr]
model = "$ENCLAVE_SYNTH_DIR/whisper-base.bin"
language = "en"
beam_size = 1
best_of = 1
max_tokens = 24
drop_no_speech_prob = 1.0
drop_avg_logprob = -100.0
no_speech_threshold = 1.0
logprob_threshold = -100.0
quiet_dbfs = -100.0
temperature_inc = 0.0
[vad]
silero_model = "$fixtures/vad/silero_vad.onnx"
[tts]
voice_en = "$ENCLAVE_SYNTH_DIR/piper-medium-en.onnx"
[llm]
model = "$ENCLAVE_SYNTH_DIR/qwen2-0_5b.gguf"
max_tokens = 40
temperature = 0.8
context_per_call = 2048
max_parallel = 4
[conversation]
language = "en"
disclosure = "-"
greeting = "Hello!"
reprompt_after_secs = 0.0
asr_budget_ms = 30000
llm_budget_ms = 30000
tts_budget_ms = 30000
[metrics]
listen = "127.0.0.1:19093"
[records]
db_path = "$work/calls.sqlite3"
TOML
"$agent" --config "$work/agent.toml" serve > "$work/agent.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  grep -q "listening for AudioSocket calls" "$work/agent.log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/agent.log"; exit 1; }
  sleep 0.2
done
for n in ${ENCLAVE_BENCH_CONCURRENCY:-1 2 4}; do
  "$agent" --config "$work/agent.toml" bench calls --to 127.0.0.1:19092 --pid "$pid" \
    --concurrency "$n" --rounds 2 --wav "$fixtures/audio/jfk.wav" --max-speech-secs 3 \
    --lead-silence 2 --linger "${ENCLAVE_BENCH_LINGER:-20}"
done
