# Shared paths for the scripts (sourced, not run). Everything lives under one cache dir so a
# second run is fast and nothing generated ever lands in the repository.
ENCLAVE_CACHE="${ENCLAVE_CACHE:-$HOME/.cache/enclave}"
export ENCLAVE_SYNTH_DIR="${ENCLAVE_SYNTH_DIR:-$ENCLAVE_CACHE/synthetic}"
ENCLAVE_VENV="${ENCLAVE_VENV:-$ENCLAVE_CACHE/venv}"
ENCLAVE_ORT_DIR="${ENCLAVE_ORT_DIR:-$HOME/.local/share/enclave/onnxruntime}"
ENCLAVE_ORT_VERSION=1.32.0
# The real-models kit (scripts/real-models.sh): real Whisper base, Piper joe, Gemma 3 270M, smart-turn.
export ENCLAVE_REAL_DIR="${ENCLAVE_REAL_DIR:-$ENCLAVE_CACHE/real}"
