#!/usr/bin/env bash
# Generates the synthetic model files (random weights, real formats and shapes) that tests and
# benchmarks use, into $ENCLAVE_SYNTH_DIR (default ~/.cache/enclave/synthetic). Never into the
# repository. Each generator is deterministic and skips files that are already there.
#
#   bash scripts/synth-models.sh          # tiny test models + real-shape benchmark models
#   bash scripts/synth-models.sh --tiny   # only what the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
py="$ENCLAVE_VENV/bin/python"
if [ ! -x "$py" ]; then py=python3; fi
mkdir -p "$ENCLAVE_SYNTH_DIR"
which=all
[ "${1:-}" = "--tiny" ] && which=tiny
# Whisper: every variant, even for --tiny (the test suite also needs the base shape, to
# overrun an ASR budget for real; numpy writes it in seconds).
"$py" scripts/synth_whisper.py --out-dir "$ENCLAVE_SYNTH_DIR"
"$py" scripts/synth_piper.py --out "$ENCLAVE_SYNTH_DIR" --which "$which"
"$py" scripts/synth_gguf.py --out "$ENCLAVE_SYNTH_DIR" --which "$which"
