#!/usr/bin/env bash
# The test command (README quick start, and what CI runs): format, lints, synthetic models,
# then the whole test suite. Needs `bash scripts/setup.sh --deps` (or the full setup) first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
bash scripts/synth-models.sh --tiny
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --no-fail-fast "$@"
