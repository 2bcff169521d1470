//! The beep detector on real recorded speech: jfk.wav (whose "so" puts 0.9 of a frame's energy
//! into one harmonic for a quarter of a second) holds no beep, at 16 kHz or through the 8 kHz
//! μ-law path; the same speech with a real beep after it holds exactly that one.

use enclave::amd::set::telephone;
use enclave::amd::tone::{sine, BeepParams, ToneDetector};

fn jfk() -> Vec<f32> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/audio/jfk.wav");
    let clip = enclave::audio::wav::read_mono(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (the shared fixtures)", path.display()));
    assert_eq!(clip.sample_rate, 16_000);
    clip.samples
}

fn beeps(audio: &[f32]) -> Vec<enclave::amd::Beep> {
    let mut d = ToneDetector::new(BeepParams::default(), 16_000);
    let mut out = Vec::new();
    for c in audio.chunks(320) {
        out.extend(d.push(c));
    }
    out.extend(d.finish());
    out
}

#[test]
fn real_speech_holds_no_beep() {
    let speech = jfk();
    assert_eq!(beeps(&speech), vec![], "16 kHz");
    assert_eq!(beeps(&telephone(&speech, 16_000).unwrap()), vec![], "μ-law");
    // Quieter and louder.
    for gain in [0.3f32, 2.0] {
        let g: Vec<f32> = speech.iter().map(|s| (s * gain).clamp(-1.0, 1.0)).collect();
        assert_eq!(
            beeps(&telephone(&g, 16_000).unwrap()),
            vec![],
            "gain {gain}"
        );
    }
}

#[test]
fn speech_then_a_beep_holds_that_beep() {
    let mut audio = jfk();
    let start = audio.len() as f64 / 16_000.0;
    audio.extend(vec![0.0; 4800]);
    audio.extend(sine(850.0, 250, 16_000, 0.25));
    audio.extend(vec![0.0; 16_000]);
    let found = beeps(&telephone(&audio, 16_000).unwrap());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!((found[0].hz - 850.0).abs() < 3.0, "{found:?}");
    let at = found[0].start.as_secs_f64();
    assert!(
        (at - (start + 0.3)).abs() < 0.03,
        "{found:?} vs {}",
        start + 0.3
    );
}
