//! Silero VAD (real model, ONNX Runtime) and webrtc-vad on real speech, silence and noise.

mod speech_support;

use enclave::config::VadConfig;
use enclave::vad::{
    detect_segments, silero, Endpointer, SileroModel, VadBackend, VadError, VadEvent,
};
use rand::{Rng, SeedableRng};
use speech_support::fixtures;
use std::path::Path;
use std::sync::Arc;

fn jfk() -> Vec<f32> {
    let path = fixtures().join("audio/jfk.wav");
    let mut r = hound::WavReader::open(&path).expect("jfk.wav");
    assert_eq!(r.spec().sample_rate, 16_000);
    r.samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect()
}

fn model() -> Arc<SileroModel> {
    SileroModel::load(&fixtures().join("vad/silero_vad.onnx"), 2).expect("load Silero")
}

fn white_noise(seconds: f32, amplitude: f32, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..(seconds * 16_000.0) as usize)
        .map(|_| rng.gen_range(-amplitude..amplitude))
        .collect()
}

#[test]
fn jfk_speech_segments_where_the_speech_is() {
    let m = model();
    let audio = jfk();
    let cfg = VadConfig::default();
    let segs = detect_segments(&cfg, Some(&m), &audio).unwrap();
    eprintln!("silero, 500 ms trailing silence: {segs:?}");
    assert!(!segs.is_empty());
    let total = audio.len() as f64 / 16_000.0;
    let speech: f64 = segs.iter().map(|s| s.end - s.start).sum();
    // JFK speaks for most of the 11 s clip, starting within the first second.
    assert!(segs[0].start < 1.0, "{segs:?}");
    assert!(
        speech > 0.6 * total && speech <= total,
        "{speech} of {total}"
    );
    for s in &segs {
        assert!(s.start < s.end && s.end <= total + 1e-9, "{s:?}");
    }

    // With whisper.cpp's VAD parameters (100 ms min silence, 30 ms padding) the pauses between
    // phrases show: whisper.cpp's own test expects 4 segments from the same Silero v6.2 model.
    let fine = VadConfig {
        trailing_silence_ms: 100,
        pre_roll_ms: 30,
        ..VadConfig::default()
    };
    let fine_segs = detect_segments(&fine, Some(&m), &audio).unwrap();
    eprintln!("silero, whisper.cpp-like parameters: {fine_segs:?}");
    assert!(
        (3..=6).contains(&fine_segs.len()),
        "expected about 4 phrases, got {fine_segs:?}"
    );
}

#[test]
fn matches_whisper_cpp_builtin_vad_on_jfk() {
    use whisper_rs::{WhisperVadContext, WhisperVadContextParams, WhisperVadParams};
    let audio = jfk();
    let ggml = fixtures().join("vad/silero-v6.2.0-ggml.bin");
    let mut ctx =
        WhisperVadContext::new(ggml.to_str().unwrap(), WhisperVadContextParams::new()).unwrap();
    let theirs = ctx
        .segments_from_samples(WhisperVadParams::new(), &audio)
        .unwrap();
    let theirs: Vec<(f64, f64)> = (0..theirs.num_segments())
        .map(|i| {
            (
                theirs.get_segment_start_timestamp(i).unwrap() as f64 / 100.0,
                theirs.get_segment_end_timestamp(i).unwrap() as f64 / 100.0,
            )
        })
        .collect();
    eprintln!("whisper.cpp built-in VAD: {theirs:?}");
    assert_eq!(theirs.len(), 4, "whisper.cpp's own expectation");

    // Same model through ONNX Runtime: window probabilities agree with the ggml port's.
    let ours = silero::probabilities(&model(), &audio).unwrap();
    ctx.detect_speech(&audio).unwrap();
    let ggml = ctx.probabilities().to_vec();
    let n = ours.len().min(ggml.len());
    let mean_abs: f32 = ours[..n]
        .iter()
        .zip(&ggml[..n])
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / n as f32;
    let agree = ours[..n]
        .iter()
        .zip(&ggml[..n])
        .filter(|(a, b)| (**a >= 0.5) == (**b >= 0.5))
        .count();
    eprintln!("onnx vs ggml probabilities: {n} windows, mean |diff| {mean_abs:.4}, same decision {agree}/{n}");
    // Measured: mean |diff| 0.010, 341/343 same decisions (the 64-sample context matters).
    assert!(n >= 340 && mean_abs < 0.03, "mean |diff| {mean_abs}");
    assert!(agree * 100 >= n * 97, "{agree}/{n}");
    let fine = VadConfig {
        trailing_silence_ms: 100,
        pre_roll_ms: 30,
        ..VadConfig::default()
    };
    let segs = detect_segments(&fine, Some(&model()), &audio).unwrap();
    // Every whisper.cpp segment overlaps one of ours, with the production defaults too
    // (500 ms trailing silence gives the same 4 phrases).
    let defaults = detect_segments(&VadConfig::default(), Some(&model()), &audio).unwrap();
    assert_eq!(defaults.len(), 4, "{defaults:?}");
    for ((s, e), o) in theirs.iter().zip(&defaults) {
        assert!(o.start < *e && o.end > *s, "{s}..{e} vs {o:?}");
        assert!(
            (o.start - s).abs() < 0.3,
            "start {} vs whisper.cpp {s}",
            o.start
        );
    }
    for (s, e) in &theirs {
        assert!(
            segs.iter().any(|o| o.start < *e && o.end > *s),
            "whisper.cpp segment {s}..{e} not found in {segs:?}"
        );
    }
    assert_eq!(ours.len(), audio.len() / 512);
}

#[test]
fn no_segments_on_silence_or_low_noise() {
    let m = model();
    let cfg = VadConfig::default();
    let silence = vec![0.0f32; 16_000 * 5];
    assert!(detect_segments(&cfg, Some(&m), &silence)
        .unwrap()
        .is_empty());
    for (amp, seed) in [(0.003f32, 1u64), (0.01, 2), (0.03, 3)] {
        let noise = white_noise(5.0, amp, seed);
        let segs = detect_segments(&cfg, Some(&m), &noise).unwrap();
        assert!(segs.is_empty(), "white noise ±{amp}: {segs:?}");
        let p = silero::probabilities(&m, &noise).unwrap();
        let max = p.iter().cloned().fold(0.0f32, f32::max);
        assert!(max < 0.5, "noise ±{amp} max probability {max}");
    }
    let webrtc = VadConfig {
        backend: VadBackend::Webrtc,
        ..VadConfig::default()
    };
    assert!(detect_segments(&webrtc, None, &silence).unwrap().is_empty());
}

#[test]
fn webrtc_backend_finds_jfk_speech() {
    let cfg = VadConfig {
        backend: VadBackend::Webrtc,
        ..VadConfig::default()
    };
    let segs = detect_segments(&cfg, None, &jfk()).unwrap();
    eprintln!("webrtc: {segs:?}");
    assert!(!segs.is_empty());
    assert!(segs[0].start < 1.0);
}

#[test]
fn state_is_per_stream_while_sessions_are_shared() {
    let m = model();
    let audio = jfk();
    let sequential = silero::probabilities(&m, &audio).unwrap();
    // Four streams at once over two shared sessions: each must see only its own history.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let m = Arc::clone(&m);
            let audio = audio.clone();
            std::thread::spawn(move || silero::probabilities(&m, &audio).unwrap())
        })
        .collect();
    for h in handles {
        let p = h.join().unwrap();
        assert_eq!(p.len(), sequential.len());
        for (a, b) in p.iter().zip(&sequential) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}

#[test]
fn endpointer_streams_20ms_frames_with_prefilter() {
    let m = model();
    let cfg = VadConfig {
        webrtc_prefilter: true,
        ..VadConfig::default()
    };
    let mut ep = Endpointer::new(&cfg, Some(&m)).unwrap();
    let mut audio = vec![0.0f32; 16_000];
    audio.extend(jfk());
    let mut starts = 0;
    let mut ends = Vec::new();
    for frame in audio.chunks(320) {
        for e in ep.push(frame).unwrap() {
            match e {
                VadEvent::SpeechStart { .. } => starts += 1,
                VadEvent::EndOfUtterance {
                    start, end, audio, ..
                } => {
                    assert_eq!(
                        audio.len() as f64,
                        ((end - start).as_secs_f64() * 16_000.0).round()
                    );
                    ends.push((start.as_secs_f64(), end.as_secs_f64()));
                }
                VadEvent::SpeechContinue { .. } => {}
            }
        }
    }
    ends.extend(ep.finish().into_iter().filter_map(|e| match e {
        VadEvent::EndOfUtterance { start, end, .. } => {
            Some((start.as_secs_f64(), end.as_secs_f64()))
        }
        _ => None,
    }));
    assert!(!ends.is_empty());
    assert!(starts >= ends.len());
    // The leading second of silence shifts everything: nothing starts before it.
    assert!(ends[0].0 > 0.7, "{ends:?}");
}

#[test]
fn clear_errors_for_bad_models() {
    let missing = SileroModel::load(Path::new("/nonexistent/silero.onnx"), 1).unwrap_err();
    assert!(
        matches!(missing, VadError::ModelMissing { .. }),
        "{missing}"
    );
    assert!(missing.to_string().contains("silero_model"), "{missing}");
    let not_onnx = SileroModel::load(&fixtures().join("audio/jfk.wav"), 1).unwrap_err();
    assert!(matches!(not_onnx, VadError::ModelLoad { .. }), "{not_onnx}");
    let mut stream = model().stream();
    assert!(matches!(
        stream.process_window(&[0.0; 100]),
        Err(VadError::BadWindow { len: 100 })
    ));
}
