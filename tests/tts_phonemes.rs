//! Phonemisation equals Piper's: phonemes and ids from our espeak-ng path against
//! `tests/tts_phonemes_golden.json` (made by piper-phonemize + piper-tts themselves, see
//! `tests/tts_phonemes_golden.py`), with the real voice configs' `phoneme_id_map`.

use enclave::tts::phonemize::{phonemize, PhonemeIdMap, PhonemizeError};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    std::env::var_os("ENCLAVE_PIPER_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/piper")
        })
}

fn id_map(voice: &str) -> (PhonemeIdMap, String) {
    let path = fixtures().join(format!("{voice}.onnx.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (set ENCLAVE_PIPER_FIXTURES to fixtures/piper)",
            path.display()
        )
    });
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let raw: BTreeMap<String, Vec<i64>> =
        serde_json::from_value(v["phoneme_id_map"].clone()).unwrap();
    (
        PhonemeIdMap::new(&raw).unwrap(),
        v["espeak"]["voice"].as_str().unwrap().to_string(),
    )
}

#[derive(serde::Deserialize)]
struct Case {
    voice: String,
    text: String,
    phonemes: Vec<String>,
    ids: Vec<Vec<i64>>,
}

#[test]
fn phonemes_and_ids_equal_piper_for_russian_and_english() {
    let golden: Vec<Case> = serde_json::from_str(include_str!("tts_phonemes_golden.json")).unwrap();
    assert!(golden.len() >= 20);
    let mut failures = Vec::new();
    for case in &golden {
        let (map, espeak_voice) = id_map(&case.voice);
        let sentences = phonemize(&case.text, &espeak_voice).unwrap();
        let phonemes: Vec<String> = sentences.iter().map(|s| s.iter().collect()).collect();
        let mut missing = BTreeMap::new();
        let ids: Vec<Vec<i64>> = sentences.iter().map(|s| map.ids(s, &mut missing)).collect();
        if phonemes != case.phonemes || ids != case.ids {
            failures.push(format!(
                "{} {:?}\n  piper: {:?}\n  ours:  {:?}",
                case.voice, case.text, case.phonemes, phonemes
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "differences from Piper:\n{}",
        failures.join("\n")
    );
}

#[test]
fn ids_by_hand_for_a_short_word() {
    // "Hi." in en-us: espeak says h ˈ a ɪ, Piper re-adds "."; ids from en_US-lessac-medium:
    // ^=1 _=0 h=20 ˈ=120 a=14 ɪ=74 .=10 $=2.
    let (map, voice) = id_map("en_US-lessac-medium");
    let sentences = phonemize("Hi.", &voice).unwrap();
    assert_eq!(sentences.len(), 1);
    let mut missing = BTreeMap::new();
    let ids = map.ids(&sentences[0], &mut missing);
    assert_eq!(ids, vec![1, 0, 20, 0, 120, 0, 14, 0, 74, 0, 10, 0, 2]);
    assert!(missing.is_empty());
}

#[test]
fn russian_comma_and_question_by_hand() {
    // «Да, нет?»: d ˈ ɑ , ␠ n ʲ ˈ e t ?  (ru_RU-denis-medium ids)
    let (map, voice) = id_map("ru_RU-denis-medium");
    let sentences = phonemize("Да, нет?", &voice).unwrap();
    let s: String = sentences[0].iter().collect();
    assert_eq!(s, "dˈɑ, nʲˈet?");
    let mut missing = BTreeMap::new();
    let ids = map.ids(&sentences[0], &mut missing);
    assert_eq!(&ids[..4], &[1, 0, 17, 0]); // ^ _ d _
    assert_eq!(*ids.last().unwrap(), 2);
    assert_eq!(ids.len(), 2 + 2 * sentences[0].len() + 1);
}

#[test]
fn missing_phonemes_are_skipped_and_counted() {
    let (map, _) = id_map("en_US-lessac-medium");
    let mut missing = BTreeMap::new();
    let ids = map.ids(&['h', '😀', 'ə', '😀'], &mut missing);
    assert_eq!(ids, vec![1, 0, 20, 0, 59, 0, 2]);
    assert_eq!(missing.get(&'😀'), Some(&2));
}

#[test]
fn nfd_splits_precomposed_letters_like_piper() {
    // German "ich": espeak says ɪç; Piper decomposes ç into c + U+0327 (as piper-phonemize
    // gives: ['ɪ', 'c', '̧']).
    let sentences = phonemize("ich", "de").unwrap();
    assert_eq!(sentences[0], vec!['ɪ', 'c', '\u{327}']);
}

#[test]
fn unknown_espeak_voice_is_a_clear_error() {
    let err = phonemize("hello", "xx-nonexistent").unwrap_err();
    assert!(matches!(err, PhonemizeError::UnknownVoice(_)));
    assert!(err.to_string().contains("espeak.voice"), "{err}");
}

#[test]
fn concurrent_calls_with_two_voices_do_not_mix() {
    let handles: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                for _ in 0..20 {
                    let (voice, text, want) = if i % 2 == 0 {
                        ("ru", "Да.", "dˈɑ.")
                    } else {
                        ("en-us", "Hi.", "hˈaɪ.")
                    };
                    let s: String = phonemize(text, voice).unwrap()[0].iter().collect();
                    assert_eq!(s, want);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
