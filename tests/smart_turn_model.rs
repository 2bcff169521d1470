//! smart-turn v3.2 (the real Pipecat model) through ONNX Runtime on its batching worker:
//! jfk.wav cut in a mid-sentence pause vs at its true end, batching, and load errors.

mod speech_support;

use enclave::vad::{EndOfTurnModel, SmartTurn, SmartTurnError, SmartTurnOptions};
use speech_support::fixtures;
use std::path::PathBuf;
use std::sync::Arc;

/// `ENCLAVE_SMART_TURN_MODEL`, else `$ENCLAVE_REAL_DIR/turn/smart-turn-v3.2-cpu.onnx`; a
/// missing file fails with the command that installs it.
fn model_path() -> PathBuf {
    let path = std::env::var_os("ENCLAVE_SMART_TURN_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("ENCLAVE_REAL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/enclave/real")
                })
                .join("turn/smart-turn-v3.2-cpu.onnx")
        });
    assert!(
        path.is_file(),
        "smart-turn model {} missing: run `bash scripts/real-models.sh` (or set \
         ENCLAVE_SMART_TURN_MODEL to smart-turn-v3.2-cpu.onnx unzipped from the pipecat-ai wheel)",
        path.display()
    );
    path
}

fn load() -> Arc<SmartTurn> {
    SmartTurn::load(&model_path(), &SmartTurnOptions::default()).expect("load smart-turn")
}

fn jfk() -> Vec<f32> {
    let mut r = hound::WavReader::open(fixtures().join("audio/jfk.wav")).expect("jfk.wav");
    r.samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect()
}

/// The first `secs` of jfk.wav.
fn cut(audio: &[f32], secs: f32) -> Vec<f32> {
    audio[..(secs * 16_000.0) as usize].to_vec()
}

#[test]
fn a_mid_sentence_pause_scores_lower_than_the_true_end() {
    let model = load();
    let audio = jfk();
    // "… ask not what your country can do for you," — Silero hears a pause from 7.6 s; the
    // sentence goes on. The speech ends at ~10.5 s; 11.0 s is the end of the clip.
    let mid = model.predict_blocking(cut(&audio, 7.8)).unwrap();
    let end = model.predict_blocking(audio.clone()).unwrap();
    eprintln!("smart-turn: mid-sentence pause {mid:.3}, true end {end:.3}");
    assert!(
        mid < model.threshold() && end >= model.threshold(),
        "{mid} {end}"
    );
    assert!(end - mid > 0.5, "margin too small: mid {mid}, end {end}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_get_the_same_answers_as_single_ones() {
    let model = load();
    let audio = jfk();
    let cuts = [3.0f32, 4.5, 7.8, 9.0, 11.0];
    let mut single = Vec::new();
    for &c in &cuts {
        single.push(model.finished_probability(cut(&audio, c)).await.unwrap());
    }
    let futures: Vec<_> = cuts
        .iter()
        .map(|&c| model.finished_probability(cut(&audio, c)))
        .collect();
    let together = futures::future::try_join_all(futures).await.unwrap();
    for ((c, a), b) in cuts.iter().zip(&single).zip(&together) {
        assert!((a - b).abs() < 1e-4, "cut {c}: alone {a}, batched {b}");
    }
    let stats = model.stats();
    assert_eq!(stats.requests_total.get(), 2 * cuts.len() as u64);
    // All five were queued before the worker could answer the first: fewer steps than requests.
    assert!(
        stats.steps_total.get() < stats.requests_total.get(),
        "{} steps for {} requests",
        stats.steps_total.get(),
        stats.requests_total.get()
    );
    assert!(stats
        .render()
        .contains("enclave_turn_model_step_seconds_count"));
}

#[test]
fn a_missing_model_names_the_path_and_the_fix() {
    let err = SmartTurn::load(
        std::path::Path::new("/nonexistent/smart-turn-v3.2-cpu.onnx"),
        &SmartTurnOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, SmartTurnError::ModelMissing { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/smart-turn-v3.2-cpu.onnx"),
        "{msg}"
    );
    assert!(msg.contains("scripts/real-models.sh"), "{msg}");
}

#[test]
fn a_corrupt_or_wrong_model_is_a_load_error() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("smart-turn-v3.2-cpu.onnx");
    // A truncated copy of the real file: the ONNX protobuf no longer parses.
    let bytes = std::fs::read(model_path()).unwrap();
    std::fs::write(&junk, &bytes[..bytes.len() / 3]).unwrap();
    let err = SmartTurn::load(&junk, &SmartTurnOptions::default()).unwrap_err();
    assert!(matches!(err, SmartTurnError::ModelLoad { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&junk.display().to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("sha256"), "{err}");

    // A valid ONNX file that is not smart-turn (Silero VAD).
    let silero = fixtures().join("vad/silero_vad.onnx");
    let err = SmartTurn::load(&silero, &SmartTurnOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("not a smart-turn v3 model"),
        "{err}"
    );
}
