//! Silero on the shared batching worker: `Endpointer::push_async` gives exactly the segments
//! of the inline `push`, for one call and for several calls batched together, and a cancelled
//! push loses nothing.

mod speech_support;

use enclave::config::VadConfig;
use enclave::vad::{detect_segments, Endpointer, SileroModel, VadEvent, VadWorker};
use futures::FutureExt;
use speech_support::fixtures;
use std::sync::Arc;

fn jfk() -> Vec<f32> {
    let mut r = hound::WavReader::open(fixtures().join("audio/jfk.wav")).expect("jfk.wav");
    r.samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect()
}

/// whisper.cpp's VAD parameters: the pauses between phrases show as separate segments.
fn cfg() -> VadConfig {
    VadConfig {
        trailing_silence_ms: 100,
        pre_roll_ms: 30,
        ..VadConfig::default()
    }
}

fn worker() -> Arc<VadWorker> {
    VadWorker::load(&fixtures().join("vad/silero_vad.onnx"), 16).expect("load Silero worker")
}

/// (start, end, forced) of every utterance, plus every window probability, in 20 ms frames.
async fn run_async(ep: &mut Endpointer, audio: &[f32]) -> (Vec<(f64, f64, bool)>, Vec<f32>) {
    let mut segs = Vec::new();
    let mut probs = Vec::new();
    let collect = |events: Vec<VadEvent>, segs: &mut Vec<(f64, f64, bool)>| {
        for e in events {
            if let VadEvent::EndOfUtterance {
                start, end, forced, ..
            } = e
            {
                segs.push((start.as_secs_f64(), end.as_secs_f64(), forced));
            }
        }
    };
    for frame in audio.chunks(320) {
        let before = ep.windows();
        let events = ep.push_async(frame).await.unwrap();
        if ep.windows() > before {
            probs.push(ep.last_probability());
        }
        collect(events, &mut segs);
    }
    collect(ep.finish(), &mut segs);
    (segs, probs)
}

fn sync_segments(audio: &[f32]) -> Vec<(f64, f64, bool)> {
    let model = SileroModel::load(&fixtures().join("vad/silero_vad.onnx"), 1).unwrap();
    detect_segments(&cfg(), Some(&model), audio)
        .unwrap()
        .into_iter()
        .map(|s| (s.start, s.end, false))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_async_gives_the_segments_of_push() {
    let audio = jfk();
    let expected = sync_segments(&audio);
    eprintln!("sync: {expected:?}");
    assert!(
        expected.len() >= 4,
        "jfk has four natural pauses: {expected:?}"
    );
    let w = worker();
    let mut ep = Endpointer::with_worker(&cfg(), &w);
    let (segs, _) = run_async(&mut ep, &audio).await;
    assert_eq!(segs, expected);
    // The blocking `push` on a worker-backed endpointer (CLI use) agrees too.
    let mut ep = Endpointer::with_worker(&cfg(), &w);
    let mut blocking = Vec::new();
    let mut events: Vec<VadEvent> = Vec::new();
    for f in audio.chunks(320) {
        events.extend(ep.push(f).unwrap());
    }
    events.extend(ep.finish());
    for e in events {
        if let VadEvent::EndOfUtterance { start, end, .. } = e {
            blocking.push((start.as_secs_f64(), end.as_secs_f64(), false));
        }
    }
    assert_eq!(blocking, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_calls_share_one_worker_and_get_their_own_answers() {
    let audio = Arc::new(jfk());
    let expected = sync_segments(&audio);
    // A quieter copy: different probabilities, so a mixed-up state would show.
    let quiet: Arc<Vec<f32>> = Arc::new(audio.iter().map(|s| s * 0.3).collect());
    let expected_quiet = sync_segments(&quiet);
    let w = worker();
    let mut tasks = Vec::new();
    for i in 0..4 {
        let w = Arc::clone(&w);
        let clip = if i % 2 == 0 {
            Arc::clone(&audio)
        } else {
            Arc::clone(&quiet)
        };
        tasks.push(tokio::spawn(async move {
            let mut ep = Endpointer::with_worker(&cfg(), &w);
            run_async(&mut ep, &clip).await
        }));
    }
    let mut probs = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let (segs, p) = t.await.unwrap();
        assert_eq!(
            &segs,
            if i % 2 == 0 {
                &expected
            } else {
                &expected_quiet
            },
            "call {i}"
        );
        probs.push(p);
    }
    assert_eq!(
        probs[0], probs[2],
        "same audio, same probabilities, bit for bit"
    );
    assert_ne!(probs[0], probs[1]);
    let stats = w.stats();
    let windows = (audio.len() / 512) as u64 * 4;
    assert_eq!(stats.requests_total.get(), windows);
    eprintln!(
        "{} windows in {} steps (mean batch {:.2})",
        windows,
        stats.steps_total.get(),
        stats.mean_batch()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_push_loses_no_audio_and_no_event() {
    let audio = jfk();
    let expected = sync_segments(&audio);
    let w = worker();
    let mut ep = Endpointer::with_worker(&cfg(), &w);
    let mut segs = Vec::new();
    for (i, frame) in audio.chunks(320).enumerate() {
        // Every third frame the push is polled once and dropped (a `select!` branch losing);
        // its samples stay queued and go in with the next frame.
        let events = if i % 3 == 0 {
            match ep.push_async(frame).now_or_never() {
                Some(r) => r.unwrap(),
                None => Vec::new(),
            }
        } else {
            ep.push_async(frame).await.unwrap()
        };
        for e in events {
            if let VadEvent::EndOfUtterance { start, end, .. } = e {
                segs.push((start.as_secs_f64(), end.as_secs_f64(), false));
            }
        }
    }
    // Whatever the last cancelled push left queued goes in now.
    let rest = ep.push_async(&[]).await.unwrap();
    for e in rest.into_iter().chain(ep.finish()) {
        if let VadEvent::EndOfUtterance { start, end, .. } = e {
            segs.push((start.as_secs_f64(), end.as_secs_f64(), false));
        }
    }
    assert_eq!(segs, expected);
}

/// Utterances heard when the agent plays `agent` while the caller's line carries `inbound`
/// (both 16 kHz, frame-aligned), with or without the echo gate.
fn utterances_with_playout(agent: &[f32], inbound: &[f32], gate: bool) -> usize {
    let model = SileroModel::load(&fixtures().join("vad/silero_vad.onnx"), 1).unwrap();
    let mut ep = Endpointer::new(&VadConfig::default(), Some(&model)).unwrap();
    if gate {
        ep.enable_echo_gate(enclave::vad::EchoGateConfig::default());
    }
    let mut n = 0;
    for (k, frame) in inbound.chunks(320).enumerate() {
        if let Some(out) = agent.get(k * 320..(k + 1) * 320) {
            ep.played(out);
        }
        n += ep
            .push(frame)
            .unwrap()
            .into_iter()
            .filter(|e| matches!(e, VadEvent::EndOfUtterance { .. }))
            .count();
    }
    n + ep
        .finish()
        .into_iter()
        .filter(|e| matches!(e, VadEvent::EndOfUtterance { .. }))
        .count()
}

#[test]
fn the_echo_gate_keeps_the_agents_own_echo_out_and_lets_the_caller_in() {
    let agent = jfk();
    for (db, delay_ms) in [(-20.0f32, 40usize), (-20.0, 200), (-10.0, 120)] {
        let gain = 10f32.powf(db / 20.0);
        let delay = delay_ms * 16;
        let mut echo = vec![0f32; delay];
        echo.extend(agent.iter().map(|s| s * gain));
        echo.truncate(agent.len());
        // Silero hears the echo as speech: without the gate it opens utterances...
        assert!(
            utterances_with_playout(&agent, &echo, false) > 0,
            "{db} dB {delay_ms} ms"
        );
        // ...with it, none.
        assert_eq!(
            utterances_with_playout(&agent, &echo, true),
            0,
            "{db} dB {delay_ms} ms"
        );
    }
    // The caller talking over the agent at a normal level still gets through: the agent
    // plays jfk reversed at half level, the caller says jfk at full level plus the echo.
    let reversed: Vec<f32> = agent.iter().rev().map(|s| s * 0.5).collect();
    let mut line = vec![0f32; 120 * 16];
    line.extend(reversed.iter().map(|s| s * 0.1));
    line.truncate(agent.len());
    let caller: Vec<f32> = line.iter().zip(&agent).map(|(e, c)| e + c).collect();
    assert!(utterances_with_playout(&reversed, &caller, true) > 0);
}
