//! `agent transcribe` and `agent vad` through the real binary.

mod speech_support;

use speech_support::{fixtures, synthetic};
use std::process::Command;

fn agent() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agent"));
    c.env_remove("ENCLAVE_CONFIG").env("ENCLAVE_LOG", "error");
    c
}

#[test]
fn vad_prints_jfk_segments_as_json() {
    let out = agent()
        .args(["vad", "--json", "--model"])
        .arg(fixtures().join("vad/silero_vad.onnx"))
        .arg(fixtures().join("audio/jfk.wav"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let segs = v["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 4, "{v}");
    assert!(segs[0]["start"].as_f64().unwrap() < 0.5);
    assert!(v["rtf"].as_f64().unwrap() > 0.0);
}

#[test]
fn transcribe_8khz_wav_with_synthetic_model() {
    // A telephone-rate file: the CLI resamples it to 16 kHz.
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("jfk-8k.wav");
    let clip = enclave::audio::wav::read_mono(&fixtures().join("audio/jfk.wav")).unwrap();
    let narrow = enclave::audio::resample(&clip.samples, 16_000, 8_000).unwrap();
    enclave::audio::wav::write_mono_f32(&wav, &narrow, 8_000).unwrap();
    let out = agent()
        .args([
            "transcribe",
            "--json",
            "--language",
            "en",
            "--beam",
            "1",
            "--max-tokens",
            "8",
        ])
        .arg("--model")
        .arg(synthetic("whisper-test.bin"))
        .arg("--vad-model")
        .arg(fixtures().join("vad/silero_vad.onnx"))
        .arg(&wav)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["input_rate"], 8000);
    let t = &v["transcript"];
    assert_eq!(t["language"], "en");
    assert!((t["audio_seconds"].as_f64().unwrap() - 11.0).abs() < 0.1);
    assert!(t["timings"]["engine_ms"].as_f64().unwrap() > 0.0);
    assert!(v["rtf"].as_f64().unwrap() > 0.0);
}

#[test]
fn transcribe_rejects_weightless_model_with_a_clear_error() {
    let out = agent()
        .args(["transcribe", "--no-vad-trim", "--model"])
        .arg(fixtures().join("whisper/for-tests-ggml-tiny.bin"))
        .arg(fixtures().join("audio/jfk.wav"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no weights"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
