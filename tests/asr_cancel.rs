//! A cancelled Whisper transcription stops inside whisper.cpp (abort callback), returns
//! `Cancelled` promptly, and releases its engine job. One test in this binary: the job gauge
//! is process-wide.

mod speech_support;

use enclave::asr::{AsrEngine, AsrError};
use enclave::cancel::CancelHandle;
use enclave::config::AsrConfig;
use enclave::metrics::jobs::{active, Engine};
use speech_support::{fixtures, synthetic};
use std::time::{Duration, Instant};

/// jfk.wav looped to `seconds` (several 30 s windows: a long decode to interrupt).
fn long_speech(seconds: usize) -> Vec<f32> {
    let mut r = hound::WavReader::open(fixtures().join("audio/jfk.wav")).unwrap();
    let jfk: Vec<f32> = r
        .samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect();
    jfk.iter().copied().cycle().take(seconds * 16_000).collect()
}

#[test]
fn cancelled_long_transcription_returns_promptly_and_frees_its_job() {
    let cfg = AsrConfig {
        // Real tiny shapes (random weights): every window costs a real encoder pass.
        model: synthetic("whisper-tiny.bin"),
        language: "en".into(),
        threads_per_job: 1,
        max_concurrent: 1,
        beam_size: 1,
        best_of: 1,
        temperature_inc: 0.0,
        max_tokens: 32,
        vad_trim: false,
        ..AsrConfig::default()
    };
    let engine = AsrEngine::load(&cfg, None).unwrap();
    let audio = long_speech(90);
    let opts = engine.default_options();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // Baseline: the whole decode, uncancelled, through the same entry point.
    let t = Instant::now();
    let full = rt
        .block_on(engine.transcribe_cancellable(audio.clone(), opts.clone(), CancelHandle::new()))
        .unwrap();
    let full_time = t.elapsed();
    assert!(!full.segments.is_empty() || !full.dropped.is_empty());
    assert_eq!(
        active(Engine::Asr),
        0,
        "a finished job must not stay counted"
    );

    // Cancelled once the job is running inside the blocking closure.
    let cancel = CancelHandle::new();
    let task = {
        let engine = engine.clone();
        let (audio, opts, cancel) = (audio.clone(), opts.clone(), cancel.clone());
        rt.spawn(async move { engine.transcribe_cancellable(audio, opts, cancel).await })
    };
    let wait_start = Instant::now();
    while active(Engine::Asr) == 0 {
        assert!(
            wait_start.elapsed() < full_time * 4 + Duration::from_secs(10),
            "the transcription never started"
        );
        std::thread::yield_now();
    }
    let cancelled_at = Instant::now();
    cancel.cancel();
    let result = rt.block_on(task).unwrap();
    let stop_time = cancelled_at.elapsed();
    assert!(
        matches!(result, Err(AsrError::Cancelled)),
        "expected Cancelled, got {result:?}"
    );
    assert!(
        stop_time * 4 < full_time,
        "cancel took {stop_time:?}; the whole decode takes {full_time:?}"
    );
    assert_eq!(active(Engine::Asr), 0, "the cancelled job must be released");
    eprintln!("whole decode {full_time:?}; stopped {stop_time:?} after cancel");

    // Cancelled before it starts: no engine work at all.
    let pre = CancelHandle::new();
    pre.cancel();
    let r =
        rt.block_on(engine.transcribe_cancellable(audio[..16_000 * 5].to_vec(), opts.clone(), pre));
    assert!(matches!(r, Err(AsrError::Cancelled)), "{r:?}");
    assert_eq!(active(Engine::Asr), 0);

    // The engine still works after an aborted decode (the aborted state was not pooled).
    let again = engine
        .transcribe_blocking(&audio[..16_000 * 11], &opts)
        .unwrap();
    assert!(again.audio_seconds > 10.0);
    assert_eq!(active(Engine::Asr), 0);
}
