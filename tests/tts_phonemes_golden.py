#!/usr/bin/env python3
"""Writes tests/tts_phonemes_golden.json: what Piper itself gives for a set of sentences.

Reference = PyPI `piper-phonemize` 1.1.0 (Piper's own phonemizer: its espeak-ng fork with
`TextToPhonemesWithTerminator`) for the phonemes, and PyPI `piper-tts`'
`piper.phoneme_ids.phonemes_to_ids` with the real voice configs' `phoneme_id_map` for the ids.
Both run on Debian's espeak-ng-data (the data our libespeak-ng 1.51 reads), so the comparison
tests the algorithm (clauses, terminators, NFD, ids), not dictionary versions: Piper's wheel
bundles newer data that reads e.g. «двадцать» as dvˈɑttsʌtʲ where Debian's says dvˈɑdtsʌtʲ.

Two sentences are left out because the fork's *library* (not the data) differs from 1.51:
"One: two; three, four." (fork: wˌʌn, 1.51: wˈʌn) and «Здравствуйте!» (fork: zdrˈɑfstvujtʲi,
1.51: zdrˈɑvstvujtʲi).

  python3 -m venv /tmp/piper-venv && /tmp/piper-venv/bin/pip install piper-phonemize piper-tts
  /tmp/piper-venv/bin/python tests/tts_phonemes_golden.py
"""
import json
import os

import piper_phonemize
from piper.phoneme_ids import phonemes_to_ids

DATA = "/usr/lib/x86_64-linux-gnu/espeak-ng-data"
FIXTURES = os.environ.get("ENCLAVE_PIPER_FIXTURES", "/work/shared/fixtures/piper")
CASES = [
    ("en_US-lessac-medium", "Hello, world! How are you today? I am fine; thanks: really."),
    ("en_US-lessac-medium", "Doctor Smith lives at two hundred twenty-one Baker Street. It costs three point five dollars."),
    ("en_US-lessac-medium", "This is a test"),
    ("en_US-lessac-medium", "Wait... what? No! Yes."),
    ("en_US-lessac-medium", "Stop!! Really?! Okay?"),
    ("en_US-lessac-medium", "The quick brown fox jumps over the lazy dog."),
    ("en_US-lessac-medium", "Your appointment is on November twenty-first, twenty twenty-six, at fourteen thirty."),
    ("en_US-lessac-medium", "Hi - there (quietly) \"quoted\" it's fine"),
    ("en_US-lessac-medium", "Façade naïve café résumé"),
    ("en_US-lessac-medium", "Hello,   world.   New  line"),
    ("en_US-lessac-medium", "Hi. \"There\" she said. (Yes) no."),
    ("en_US-lessac-medium", "It's five o'clock, isn't it?"),
    ("en_US-lessac-medium", "Wait… what? And – this — that"),
    ("en_US-lessac-medium", "fifteen dollars and ninety-nine cents or three euros"),
    ("ru_RU-denis-medium", "Привет, мир! Как дела? Всё хорошо; спасибо: правда."),
    ("ru_RU-denis-medium", "Ваша запись на двадцать первое ноября две тысячи двадцать шестого года."),
    ("ru_RU-denis-medium", "С вас одна тысяча двести пятьдесят рублей пятьдесят копеек."),
    ("ru_RU-dmitri-medium", "Звонок в четырнадцать тридцать"),
    ("ru_RU-ruslan-medium", "Съешь же ещё этих мягких французских булок, да выпей чаю."),
    ("ru_RU-denis-medium", "Это тест... Правда? Да!"),
    ("ru_RU-denis-medium", "Hello и привет"),
    ("ru_RU-denis-medium", "Алло, вы меня слышите? Да, слышу: всё отлично; спасибо."),
    ("ru_RU-denis-medium", "Ёлка, ёж, щётка и объём."),
    ("ru_RU-denis-medium", "Вас приветствует банк. Чем могу помочь?"),
]


def main():
    out = []
    for voice, text in CASES:
        with open(os.path.join(FIXTURES, voice + ".onnx.json"), encoding="utf-8") as f:
            cfg = json.load(f)
        sentences = piper_phonemize.phonemize_espeak(text, cfg["espeak"]["voice"], DATA)
        out.append({
            "voice": voice,
            "text": text,
            "phonemes": ["".join(s) for s in sentences],
            "ids": [phonemes_to_ids(s, cfg["phoneme_id_map"]) for s in sentences],
        })
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tts_phonemes_golden.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in out) + "\n]\n")
    print(f"wrote {len(out)} cases to {path}")


if __name__ == "__main__":
    main()
