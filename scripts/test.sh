#!/usr/bin/env bash
# The test command (README quick start, and what CI runs): format, lints, synthetic models,
# the real-models kit (cached: downloaded once, then only checked), then the whole test suite
# (tests/real_models.rs runs on the kit). Needs `bash scripts/setup.sh --deps` (or the full setup) first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
bash scripts/synth-models.sh --tiny
bash scripts/real-models.sh
bash scripts/tansu.sh  # the Kafka broker of tests/outbox_kafka.rs
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --no-fail-fast "$@"
