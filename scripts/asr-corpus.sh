#!/usr/bin/env bash
# Real human speech with reference transcripts for `agent bench quality-asr`, taken from what
# package registries ship: the PocketSphinx source distribution (PyPI `pocketsphinx` 5.1.1)
# carries its decoder test recordings (five LibriVox read-speech clips of "Sense and
# Sensibility", "go forward ten meters", five short card-game commands) with their transcripts.
# jfk.wav comes from ../shared/fixtures. Idempotent; offline after the first run.
#   bash scripts/asr-corpus.sh            # -> ${ENCLAVE_CORPUS_DIR:-~/.cache/enclave/corpus/asr}
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${ENCLAVE_CORPUS_DIR:-$HOME/.cache/enclave/corpus/asr}"
py="${ENCLAVE_VENV:-$HOME/.cache/enclave/venv}/bin/python"
[ -x "$py" ] || py=python3
if [ -f "$out/corpus.tsv" ]; then echo "ASR corpus ready: $out/corpus.tsv"; exit 0; fi
mkdir -p "$out"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
"$py" -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" pocketsphinx==5.1.1
echo "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355  $tmp/pocketsphinx-5.1.1.tar.gz" | sha256sum -c --quiet
tar -xzf "$tmp"/pocketsphinx-5.1.1.tar.gz -C "$tmp" pocketsphinx-5.1.1/test/data
d="$tmp/pocketsphinx-5.1.1/test/data"
"$py" - "$d" "$out" "$here" <<'PY'
import re, shutil, struct, sys, wave, pathlib
d, out, here = map(pathlib.Path, sys.argv[1:4])
rows = []
def add(name, src_wav, ref):
    dst = out / f"{name}.wav"
    shutil.copyfile(src_wav, dst)
    rows.append((dst.name, ref.strip()))
def parse(path):
    refs = {}
    for line in path.read_text().splitlines():
        m = re.match(r"\s*<s>(.*)</s>\s*\((\S+)\)", line)
        if m: refs[m.group(2)] = " ".join(m.group(1).split())
    return refs
for fid, ref in parse(d / "librivox/transcription").items():
    add(f"librivox-{fid[-4:]}", d / f"librivox/{fid}.wav", ref)
for fid, ref in parse(d / "cards/cards.transcription").items():
    add(f"cards-{fid}", d / f"cards/{fid}.wav", ref)
# goforward.raw: 16 kHz mono s16le without a header.
raw = (d / "goforward.raw").read_bytes()
with wave.open(str(out / "goforward.wav"), "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000); w.writeframes(raw)
rows.append(("goforward.wav", "go forward ten meters"))
jfk = here.parent / "shared/fixtures/audio/jfk.wav"
if not jfk.is_file(): jfk = here / "../shared/fixtures/audio/jfk.wav"
shutil.copyfile(jfk, out / "jfk.wav")
rows.insert(0, ("jfk.wav", "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."))
with open(out / "corpus.tsv", "w") as f:
    f.write("# file\treference (real human speech; sources: whisper.cpp samples, PyPI pocketsphinx 5.1.1 test data)\n")
    for name, ref in rows: f.write(f"{name}\t{ref}\n")
print(f"ASR corpus: {len(rows)} clips in {out}")
PY
