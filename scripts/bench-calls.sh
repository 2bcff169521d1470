#!/usr/bin/env bash
# Whole-call benchmark on this machine: starts `agent serve` on the synthetic models with
# real shapes (Whisper base, Qwen2.5-0.5B, a medium Piper voice, the real Silero VAD), or on
# the models of a given config (e.g. the real-models kit), then `agent bench calls` at
# concurrency 1, 2 and 4.
#
#   bash scripts/bench-calls.sh [path/to/agent]     (default: target/debug/agent)
#   bash scripts/bench-calls.sh --config "$ENCLAVE_REAL_DIR/agent.toml" [path/to/agent]
#
# With --config the file's models and settings are used as they are; only what a benchmark
# needs is overridden through ENCLAVE_* variables (ports, records db, greeting, no
# re-prompt), so e.g. ENCLAVE_ASR__BEAM_SIZE=5 ENCLAVE_ASR__BEST_OF=5 compares beams.
# ENCLAVE_BENCH_CONCURRENCY (default "1 2 4"), ENCLAVE_BENCH_ROUNDS (2),
# ENCLAVE_BENCH_SPEECH_SECS (3: the first 3 s of jfk.wav, one phrase),
# ENCLAVE_BENCH_LINGER (20 s; 60 s with --config), ENCLAVE_BENCH_KEEP=1 keeps the work dir,
# ENCLAVE_BENCH_PORT (19092; metrics on the next port).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
config=""
if [ "${1:-}" = "--config" ]; then
  config="${2:?--config needs a file}"
  [ -f "$config" ] || { echo "error: config $config not found (the kit's: bash scripts/real-models.sh)" >&2; exit 2; }
  config="$(cd "$(dirname "$config")" && pwd)/$(basename "$config")"
  shift 2
fi
agent="${1:-target/debug/agent}"
fixtures="${ENCLAVE_FIXTURES_DIR:-$(cd .. && pwd)/shared/fixtures}"
work=$(mktemp -d)
# ENCLAVE_BENCH_PORT (19092): the agent listens there, its metrics one above.
port="${ENCLAVE_BENCH_PORT:-19092}"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; [ -n "${ENCLAVE_BENCH_KEEP:-}" ] || rm -rf "$work"' EXIT
echo "work dir: $work (agent.log, calls.sqlite3)"
if [ -n "$config" ]; then
  export ENCLAVE_SERVER__LISTEN=127.0.0.1:${port} ENCLAVE_SERVER__HANDLER=conversation
  export ENCLAVE_SERVER__SHUTDOWN_GRACE_SECS=1 ENCLAVE_METRICS__LISTEN=127.0.0.1:$((port + 1))
  export ENCLAVE_RECORDS__DB_PATH="$work/calls.sqlite3"
  export ENCLAVE_CONVERSATION__DISCLOSURE=- ENCLAVE_CONVERSATION__GREETING=Hello!
  export ENCLAVE_CONVERSATION__REPROMPT_AFTER_SECS=0.0
  speech_secs="${ENCLAVE_BENCH_SPEECH_SECS:-3}"
  linger="${ENCLAVE_BENCH_LINGER:-60}"
  echo "config: $config (beam ${ENCLAVE_ASR__BEAM_SIZE:-as configured})"
else
  config="$work/agent.toml"
  speech_secs="${ENCLAVE_BENCH_SPEECH_SECS:-3}"
  linger="${ENCLAVE_BENCH_LINGER:-20}"
cat > "$work/agent.toml" <<TOML
[server]
listen = "127.0.0.1:${port}"
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
listen = "127.0.0.1:$((port + 1))"
[records]
db_path = "$work/calls.sqlite3"
TOML
fi
"$agent" --config "$config" serve > "$work/agent.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  grep -q "listening for AudioSocket calls" "$work/agent.log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/agent.log"; exit 1; }
  sleep 0.2
done
for n in ${ENCLAVE_BENCH_CONCURRENCY:-1 2 4}; do
  "$agent" --config "$config" bench calls --to 127.0.0.1:${port} --pid "$pid" \
    --records "$work/calls.sqlite3" --concurrency "$n" --rounds "${ENCLAVE_BENCH_ROUNDS:-2}" \
    --wav "$fixtures/audio/jfk.wav" --max-speech-secs "$speech_secs" \
    --lead-silence 2 --linger "$linger"
done
