#!/usr/bin/env bash
# Builds `agent --features cuda` (ggml's CUDA backend, one ggml shared by whisper.cpp and
# llama.cpp) with a CUDA 13 toolkit that comes only from PyPI wheels: no NVIDIA installer, no
# download site other than PyPI.
#
#   bash scripts/build-cuda.sh                     # sm_80 + sm_89 + sm_90 (A100, L4/L40/4090, H100/H200)
#   ENCLAVE_CUDA_ARCHS="90-real" bash scripts/build-cuda.sh    # one architecture (faster)
#   bash scripts/build-cuda.sh --toolkit-only      # only lay out the toolkit, print its root
#
# Environment:
#   ENCLAVE_CUDA_TARGET_DIR  default ~/.cache/enclave/cuda-target (apart from the CPU build: the
#                        C++ is configured differently and would otherwise rebuild every time)
#   CARGO_TARGET_DIR     the CPU build's target dir, whose build_one_ggml test checks this build
#   ENCLAVE_CUDA_ARCHS   CMAKE_CUDA_ARCHITECTURES, default "80-real;89-real;90-real"
#   ENCLAVE_CUDA_JOBS    parallel jobs for cargo and for CMake (nvcc), default 1 (nice -n 19)
#
# Why 13.0: the toolkit's minor-version compatibility lets a 13.0 build run on every CUDA 13 driver
# (>= 580), while a 13.5 build may need a newer driver than the box has. "-real" architectures
# carry SASS only (no PTX to JIT), which is what that compatibility covers.
#
# Why cuBLAS is linked dynamically: llama-cpp-sys-2 links cublas_static/cublasLt_static/culibos on
# Linux, which PyPI does not ship (only libcublas.so.13 / libcublasLt.so.13). The toolkit root
# below gets empty stand-ins for those three archives and build.rs links the shared cuBLAS
# instead (ENCLAVE_CUBLAS_DYNAMIC=1). The CUDA runtime (cudart_static) is linked statically, and the
# `cuda-no-vmm` feature keeps libcuda.so out of the link: the binary starts on a box without a
# driver and `agent` can say why there is no GPU instead of the loader failing first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

CUDA_VERSION_PINS=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-cccl==13.0.85
  nvidia-cublas==13.0.2.14
)
WHEELS="${ENCLAVE_CACHE}/pypi/cuda13"
CUDA_ROOT="${ENCLAVE_CUDA_ROOT:-$ENCLAVE_CACHE/cuda-13.0}"
ARCHS="${ENCLAVE_CUDA_ARCHS:-80-real;89-real;90-real}"
JOBS="${ENCLAVE_CUDA_JOBS:-1}"
PY="${ENCLAVE_VENV}/bin/python"
[ -x "$PY" ] || PY=python3

mode=build
case "${1:-}" in
  --toolkit-only) mode=toolkit ;;
  "") ;;
  *) echo "usage: $0 [--toolkit-only]" >&2; exit 2 ;;
esac

# 1. The wheels (cached; a second run is offline).
mkdir -p "$WHEELS"
need=()
for pin in "${CUDA_VERSION_PINS[@]}"; do
  name="${pin%%==*}"; ver="${pin##*==}"
  ls "$WHEELS/${name//-/_}-${ver}-"*.whl >/dev/null 2>&1 || need+=("$pin")
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "==> downloading CUDA 13.0 toolkit wheels from PyPI: ${need[*]}"
  "$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux2010_x86_64 \
      --python-version 3.11 -d "$WHEELS" "${need[@]}"
fi

# 2. A CUDA root that CMake's FindCUDAToolkit and nvcc understand: bin/nvcc, nvvm/, include/,
#    lib64/ with the .so symlinks. The wheels all unpack to nvidia/cu13/{bin,include,lib,nvvm}.
stamp="$CUDA_ROOT/.enclave-toolkit"
want="$(printf '%s\n' "${CUDA_VERSION_PINS[@]}")"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> laying out the CUDA toolkit in $CUDA_ROOT"
  rm -rf "$CUDA_ROOT"; mkdir -p "$CUDA_ROOT"
  "$PY" - "$WHEELS" "$CUDA_ROOT" "${CUDA_VERSION_PINS[@]}" <<'PY'
import glob, os, stat, sys, zipfile
wheels, root, pins = sys.argv[1], sys.argv[2], sys.argv[3:]
for pin in pins:
    name, ver = pin.split("==")
    whl = glob.glob(os.path.join(wheels, f"{name.replace('-', '_')}-{ver}-*.whl"))[0]
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            n = info.filename
            if not n.startswith("nvidia/cu13/") or n.endswith("/") or "/.metadata/" in n:
                continue
            rel = n[len("nvidia/cu13/"):]
            if rel.startswith("lib/"):
                rel = "lib64/" + rel[4:]
            dst = os.path.join(root, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with z.open(info) as f, open(dst, "wb") as out:
                out.write(f.read())
            mode = (info.external_attr >> 16) & 0o777
            if mode & 0o111 or rel.startswith(("bin/", "nvvm/bin/")):
                os.chmod(dst, 0o755)
PY
  ( cd "$CUDA_ROOT/lib64"
    for so in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnvblas.so.13; do
      [ -f "$so" ] && ln -sf "$so" "${so%.13}"
    done
    # nvcc's profile looks for lib64/stubs; libcuda itself comes from the driver at run time.
    mkdir -p stubs
    # Stand-ins for the static archives PyPI does not ship (see the header): empty, valid `ar`
    # archives, so llama-cpp-sys-2's `static=` link lines resolve and add nothing.
    for a in libcublas_static.a libcublasLt_static.a libculibos.a; do
      rm -f "$a"; ar rc "$a"
    done )
  ln -sfn lib64 "$CUDA_ROOT/lib"
  printf '%s\n' "${CUDA_VERSION_PINS[@]}" > "$stamp"
fi
"$CUDA_ROOT/bin/nvcc" --version | tail -2
if [ "$mode" = toolkit ]; then echo "$CUDA_ROOT"; exit 0; fi

# 3. The build.
export CUDA_PATH="$CUDA_ROOT" CUDAToolkit_ROOT="$CUDA_ROOT" CUDACXX="$CUDA_ROOT/bin/nvcc"
# llama-cpp-sys-2 finds the CUDA libraries for the link (cudart_static) through find_cuda_helper,
# which on Linux reads CUDA_LIBRARY_PATH (not CUDA_PATH) and then /usr/local/cuda: without it the
# kernels compile and the link of llama-cpp-sys-2 fails with "could not find native static library
# `cudart_static`" (seen on the first full build here).
export CUDA_LIBRARY_PATH="$CUDA_ROOT"
export PATH="$CUDA_ROOT/bin:$PATH"
export LD_LIBRARY_PATH="$CUDA_ROOT/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CMAKE_CUDA_ARCHITECTURES="$ARCHS"
export CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" CARGO_BUILD_JOBS="$JOBS"
export ENCLAVE_CUBLAS_DYNAMIC=1
CPU_TARGET_DIR="${ENCLAVE_CPU_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}}"
export CARGO_TARGET_DIR="${ENCLAVE_CUDA_TARGET_DIR:-$ENCLAVE_CACHE/cuda-target}"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
echo "==> cargo build --release --features cuda --bin agent (archs $ARCHS, $JOBS job(s), target $CARGO_TARGET_DIR)"
start=$(date +%s)
nice -n 19 cargo build --release --features cuda --bin agent
secs=$(( $(date +%s) - start ))
bin="$CARGO_TARGET_DIR/release/agent"
echo "==> built $bin in ${secs}s, $(stat -c %s "$bin") bytes"
echo "    needs at run time: $(ldd "$bin" | awk '/cublas|cudart|libcuda/ {print $1}' | tr '\n' ' ')"
echo "    (from $CUDA_ROOT/lib64 or the nvidia-cublas wheel; libcuda.so.1 from the NVIDIA driver)"
# The one-ggml guard, on this build's link inputs: the CPU build's test binary reads the CUDA
# build's build-script outputs (ENCLAVE_GGML_CHECK_DIR) and `nm`s the static libraries it linked.
echo "==> one ggml in the CUDA build: tests/build_one_ggml.rs on $CARGO_TARGET_DIR/release"
ENCLAVE_GGML_CHECK_DIR="$CARGO_TARGET_DIR/release" CARGO_TARGET_DIR="$CPU_TARGET_DIR" \
  nice -n 19 cargo test -q --test build_one_ggml
