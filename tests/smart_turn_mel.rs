//! Whisper log-mel features in Rust against the numpy reference (`scripts/mel_reference.py`)
//! on a real clip: the golden file holds every 100th frame of three cases.

mod speech_support;

use enclave::audio::mel::{WhisperMel, N_MELS, SMART_TURN_FRAMES};
use speech_support::fixtures;

fn jfk() -> Vec<f32> {
    let path = fixtures().join("audio/jfk.wav");
    let mut r = hound::WavReader::open(&path).expect("jfk.wav");
    r.samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect()
}

fn golden() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/smart_turn_mel_golden.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("golden file")).unwrap()
}

/// Largest |ours − reference| over the kept frames, after checking the frame count and stats.
fn compare(case: &serde_json::Value, ours: &enclave::audio::mel::LogMel) -> f64 {
    let name = case["name"].as_str().unwrap();
    assert_eq!(
        ours.frames as u64,
        case["frames"].as_u64().unwrap(),
        "{name}"
    );
    let mean = ours.data.iter().map(|&v| v as f64).sum::<f64>() / ours.data.len() as f64;
    assert!(
        (mean - case["mean"].as_f64().unwrap()).abs() < 1e-5,
        "{name}: mean {mean} vs {}",
        case["mean"]
    );
    let mut worst = 0f64;
    let kept = case["kept_frames"].as_array().unwrap();
    let values = case["values"].as_array().unwrap();
    for (t, column) in kept.iter().zip(values) {
        let t = t.as_u64().unwrap() as usize;
        let column = column.as_array().unwrap();
        assert_eq!(column.len(), N_MELS);
        for (m, v) in column.iter().enumerate() {
            let d = (ours.at(m, t) as f64 - v.as_f64().unwrap()).abs();
            worst = worst.max(d);
        }
    }
    worst
}

#[test]
fn log_mel_matches_the_numpy_reference_on_jfk() {
    let g = golden();
    let audio = jfk();
    let mel = WhisperMel::new();
    let cases = g["cases"].as_array().unwrap();
    let whole = mel.log_mel(&audio);
    let first = mel.smart_turn_features(&audio[..(7.8 * 16_000.0) as usize]);
    let last = mel.smart_turn_features(&audio);
    assert_eq!(first.frames, SMART_TURN_FRAMES);
    for (case, ours) in cases.iter().zip([&whole, &first, &last]) {
        let worst = compare(case, ours);
        eprintln!("{}: max |diff| {worst:.2e}", case["name"]);
        // The reference rounds to 6 decimals; f64 all the way makes the rest ~1e-9.
        assert!(worst < 5e-6, "{}: max |diff| {worst}", case["name"]);
    }
}

#[test]
fn features_of_a_short_clip_are_padded_at_the_start() {
    let mel = WhisperMel::new();
    let audio = jfk();
    let short = &audio[16_000..16_000 + 32_000]; // 2 s of speech
    let f = mel.smart_turn_features(short);
    // The first 6 s are padding: after normalisation a constant, so every frame whose window
    // lies in it is the same, band by band; the speech at the end is not.
    let pad_frames = 600 - 2;
    for m in 0..N_MELS {
        for t in 2..pad_frames {
            assert!((f.at(m, t) - f.at(m, 2)).abs() < 1e-5, "band {m} frame {t}");
        }
    }
    let floor = (0..N_MELS).map(|m| f.at(m, 2)).fold(f32::MIN, f32::max);
    let speech_max = (0..N_MELS)
        .flat_map(|m| (650..800).map(move |t| (m, t)))
        .map(|(m, t)| f.at(m, t))
        .fold(f32::MIN, f32::max);
    assert!(
        speech_max > floor + 1.0,
        "speech {speech_max} floor {floor}"
    );
}
