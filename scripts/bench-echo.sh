#!/usr/bin/env bash
# Barge-in on real audio: false barge-ins from the agent's own echo, and real interruptions.
# Starts `agent serve` on the real-models kit (real joe voice, real Silero), with a long
# greeting and a re-prompt every 1.5 s so a silent caller hears many agent utterances, then
# places simulated calls whose line carries the agent's audio back at each echo level/delay
# (`agent call --calls N --echo-db --echo-delay-ms`), and one set where the caller (jfk.wav)
# speaks over the greeting. Prints one table row per cell, the echo gate on, then off.
#
#   bash scripts/bench-echo.sh [path/to/agent]          (default: target/debug/agent)
# ENCLAVE_BENCH_CALLS (6 calls per cell), ENCLAVE_BENCH_SECS (16 s per call),
# ENCLAVE_BENCH_GATES ("true false"), ENCLAVE_BENCH_CELLS ("-20:40 -20:120 -20:200 -10:40 -10:120 -10:200"),
# ENCLAVE_BENCH_INTERRUPT_DB (-20: the echo level under the real interruption; -60 ≈ none).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
agent="${1:-target/debug/agent}"
real="${ENCLAVE_REAL_DIR:-$HOME/.cache/enclave/real}"
config="$real/agent.toml"
[ -f "$config" ] || { echo "error: $config not found: run bash scripts/real-models.sh" >&2; exit 2; }
fixtures="${ENCLAVE_FIXTURES_DIR:-$(cd .. && pwd)/shared/fixtures}"
calls="${ENCLAVE_BENCH_CALLS:-6}"
secs="${ENCLAVE_BENCH_SECS:-16}"
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
export ENCLAVE_SERVER__LISTEN=127.0.0.1:19192 ENCLAVE_SERVER__HANDLER=conversation
export ENCLAVE_SERVER__SHUTDOWN_GRACE_SECS=1 ENCLAVE_METRICS__LISTEN=127.0.0.1:19193
export ENCLAVE_RECORDS__DB_PATH="$work/calls.sqlite3"
export ENCLAVE_CONVERSATION__DISCLOSURE=-
export ENCLAVE_CONVERSATION__GREETING="Hello, thank you for calling the dental clinic. How can I help you today?"
export ENCLAVE_CONVERSATION__REPROMPT="Are you still there? I am listening."
export ENCLAVE_CONVERSATION__REPROMPT_AFTER_SECS=1.5 ENCLAVE_CONVERSATION__HANGUP_AFTER_REPROMPTS=0
printf '%-5s %-7s %-6s %6s %10s %9s %8s %9s %9s\n' gate echo_dB delay calls utterances barge_ins interr stop_p50 stop_p95
for gate in ${ENCLAVE_BENCH_GATES:-true false}; do
  export ENCLAVE_CONVERSATION__ECHO_GATE=$gate
  "$agent" --config "$config" serve > "$work/agent-$gate.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    grep -q "listening for AudioSocket calls" "$work/agent-$gate.log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/agent-$gate.log"; exit 1; }
    sleep 0.2
  done
  row() { # label db delay extra-args...
    local db=$1 delay=$2; shift 2
    "$agent" --config "$config" call --to 127.0.0.1:19192 --calls "$calls" --parallel 3 \
      --echo-db "$db" --echo-delay-ms "$delay" --metrics http://127.0.0.1:19193/metrics \
      --hangup-after "$secs" --linger "$secs" --json "$@" > "$work/r.json"
    python3 - "$gate" "$db" "$delay" "$work/r.json" <<'PY'
import json, sys
g, db, d, path = sys.argv[1:]
r = json.load(open(path))
s = r["stop_ms"]
print(f"{g:<5} {db:<7} {d:<6} {r['calls']:>6} {r['agent_utterances']:>10} {str(r['barge_ins']):>9} "
      f"{r['stopped']}/{r['interruptions']:<6} {s['p50']:>9.0f} {s['p95']:>9.0f}")
PY
  }
  for cell in ${ENCLAVE_BENCH_CELLS:--20:40 -20:120 -20:200 -10:40 -10:120 -10:200}; do
    row "${cell%%:*}" "${cell##*:}"
  done
  # A real interruption: the caller starts jfk.wav 1.5 s into the greeting, echo at −20 dB.
  row "${ENCLAVE_BENCH_INTERRUPT_DB:--20}" 120 --wav "$fixtures/audio/jfk.wav" --wav-at 1.5
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done
