//! Endpointing state machine, driven by synthetic probability sequences (no model).

use enclave::vad::{Segmenter, SegmenterConfig, VadEvent};
use std::time::Duration;

const CHUNK: usize = 512; // 32 ms at 16 kHz, Silero's window

fn cfg() -> SegmenterConfig {
    SegmenterConfig {
        sample_rate: 16_000,
        threshold: 0.5,
        neg_threshold: 0.35,
        min_speech_ms: 250,
        trailing_silence_ms: 500,
        max_utterance_ms: 15_000,
        pre_roll_ms: 200,
        // The samples below are ramps (their index), not voices: levels mean nothing here.
        quiet_below_peak_db: 0.0,
    }
}

/// Feeds one chunk per probability; chunk samples carry their global index so audio
/// boundaries can be checked exactly. Returns (chunk index, event) pairs.
fn run(seg: &mut Segmenter, probs: &[f32], first_chunk: usize) -> Vec<(usize, VadEvent)> {
    let mut out = Vec::new();
    for (i, p) in probs.iter().enumerate() {
        let n = first_chunk + i;
        let chunk: Vec<f32> = (0..CHUNK).map(|k| (n * CHUNK + k) as f32).collect();
        for e in seg.push(&chunk, *p) {
            out.push((n, e));
        }
    }
    out
}

fn ends(events: &[(usize, VadEvent)]) -> Vec<(usize, Vec<f32>, Duration, Duration, bool)> {
    events
        .iter()
        .filter_map(|(i, e)| match e {
            VadEvent::EndOfUtterance {
                audio,
                start,
                end,
                forced,
            } => Some((*i, audio.clone(), *start, *end, *forced)),
            _ => None,
        })
        .collect()
}

fn starts(events: &[(usize, VadEvent)]) -> Vec<(usize, Duration)> {
    events
        .iter()
        .filter_map(|(i, e)| match e {
            VadEvent::SpeechStart { at } => Some((*i, *at)),
            _ => None,
        })
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[test]
fn speech_shorter_than_min_speech_is_ignored() {
    let mut seg = Segmenter::new(cfg());
    // 7 chunks = 224 ms of speech < 250 ms, then a second of silence.
    let mut probs = vec![0.0; 10];
    probs.extend([0.9; 7]);
    probs.extend([0.0; 40]);
    let events = run(&mut seg, &probs, 0);
    assert!(events.is_empty(), "{events:?}");
    assert!(seg.finish().is_empty());
}

#[test]
fn utterance_with_pre_roll_trailing_silence_and_timestamps() {
    let mut seg = Segmenter::new(cfg());
    let mut probs = vec![0.0; 20]; // 640 ms silence
    probs.extend([0.9; 25]); // 800 ms speech: chunks 20..45
    probs.extend([0.0; 40]);
    let events = run(&mut seg, &probs, 0);

    // Confirmed after 8 voiced chunks (256 ms >= 250 ms): at chunk 27, start includes pre-roll.
    let s = starts(&events);
    assert_eq!(s.len(), 1, "{events:?}");
    assert_eq!(s[0].0, 27);
    let pre_roll_start = 20 * CHUNK - 3200; // 200 ms = 3200 samples before chunk 20
    assert_eq!(s[0].1, Duration::from_nanos(pre_roll_start as u64 * 62_500));

    // Silence starts at chunk 45; 500 ms = 8000 samples = 15.6 chunks → ends on chunk 60.
    let e = ends(&events);
    assert_eq!(e.len(), 1, "{events:?}");
    let (at, audio, start, end, forced) = &e[0];
    assert_eq!(*at, 60);
    assert!(!forced);
    assert_eq!(
        audio[0] as usize, pre_roll_start,
        "audio starts at the pre-roll"
    );
    let speech_end = 45 * CHUNK;
    assert_eq!(
        *audio.last().unwrap() as usize,
        speech_end + 3200 - 1,
        "end padding = pre-roll"
    );
    assert!((ms(*start) - pre_roll_start as f64 / 16.0).abs() < 1e-6);
    assert!((ms(*end) - (speech_end + 3200) as f64 / 16.0).abs() < 1e-6);
    assert!((audio.len() as f64 - (ms(*end) - ms(*start)) * 16.0).abs() < 1e-6);

    // SpeechContinue follows every chunk of the confirmed utterance until the end.
    let continues = events
        .iter()
        .filter(|(_, e)| matches!(e, VadEvent::SpeechContinue { .. }))
        .count();
    assert_eq!(continues, 60 - 27 + 1);
}

#[test]
fn hysteresis_between_thresholds_keeps_speech_and_high_resets_silence() {
    let mut seg = Segmenter::new(cfg());
    let mut probs = vec![0.9; 10];
    probs.extend([0.4; 40]); // 1.28 s between neg_threshold and threshold: still speech
    probs.extend([0.1; 10]); // 320 ms of silence (< 500 ms)
    probs.extend([0.6; 2]); // speech again: resets the silence timer
    probs.extend([0.1; 10]); // 320 ms again: still under 500 ms
    let events = run(&mut seg, &probs, 0);
    assert!(ends(&events).is_empty(), "ended too early: {events:?}");
    assert_eq!(starts(&events).len(), 1);
    // More silence ends it: the silence began at chunk 62, so 8000 samples are reached on
    // chunk 77 ((77 + 1 - 62) × 512 = 8192).
    let more = run(&mut seg, &[0.1; 20], probs.len());
    let e = ends(&more);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, 77);
    // The utterance ends 200 ms after the last chunk at or above threshold (chunk 61).
    assert!((ms(e[0].3) - (62 * CHUNK + 3200) as f64 / 16.0).abs() < 1e-6);
}

#[test]
fn dips_below_neg_threshold_shorter_than_trailing_silence_do_not_split() {
    let mut seg = Segmenter::new(cfg());
    let mut probs = Vec::new();
    for _ in 0..5 {
        probs.extend([0.9; 10]);
        probs.extend([0.0; 12]); // 384 ms pause
    }
    probs.extend([0.0; 20]);
    let events = run(&mut seg, &probs, 0);
    assert_eq!(ends(&events).len(), 1, "{events:?}");
}

#[test]
fn max_length_cuts_and_continues() {
    let mut c = cfg();
    c.max_utterance_ms = 2_000;
    let mut seg = Segmenter::new(c);
    let events = run(&mut seg, &[0.9; 100], 0); // 3.2 s of continuous speech
    let e = ends(&events);
    assert_eq!(e.len(), 1, "{events:?}");
    let (at, audio, start, end, forced) = &e[0];
    assert!(*forced);
    assert_eq!(*start, Duration::ZERO);
    // 2 s = 62.5 chunks → cut after chunk 62 (63 chunks = 2.016 s).
    assert_eq!(*at, 62);
    assert_eq!(audio.len(), 63 * CHUNK);
    assert!((ms(*end) - 2016.0).abs() < 1e-6);
    // A new utterance starts where the cut was, and finish() closes it.
    let s = starts(&events);
    assert_eq!(s.len(), 2);
    assert_eq!(s[1].1, *end);
    let tail = seg.finish();
    let tail: Vec<_> = tail.into_iter().map(|e| (0usize, e)).collect();
    let e2 = ends(&tail);
    assert_eq!(e2.len(), 1);
    assert!(!e2[0].4);
    assert_eq!(
        e2[0].1[0] as usize,
        63 * CHUNK,
        "second part continues seamlessly"
    );
    assert_eq!(e2[0].2, *end);
}

#[test]
fn works_with_20ms_frames_and_media_time_advances() {
    let mut seg = Segmenter::new(cfg());
    let frame = vec![0.0f32; 320];
    for _ in 0..50 {
        assert!(seg.push(&frame, 0.0).is_empty());
    }
    assert_eq!(seg.now(), Duration::from_secs(1));
    let mut got_start = false;
    for _ in 0..20 {
        got_start |= seg
            .push(&frame, 0.95)
            .iter()
            .any(|e| matches!(e, VadEvent::SpeechStart { .. }));
    }
    assert!(got_start);
    assert!(seg.in_speech());
    let mut end = None;
    for _ in 0..30 {
        for e in seg.push(&frame, 0.0) {
            if let VadEvent::EndOfUtterance {
                start, end: e_end, ..
            } = e
            {
                end = Some((start, e_end));
            }
        }
    }
    let (start, e_end) = end.expect("utterance ended");
    assert!((ms(start) - 800.0).abs() < 1e-6, "{start:?}");
    assert!((ms(e_end) - 1600.0).abs() < 1e-6, "{e_end:?}");
}

#[test]
fn reset_drops_the_open_utterance_but_keeps_media_time() {
    let mut seg = Segmenter::new(cfg());
    let events = run(&mut seg, &[0.9; 20], 0);
    assert_eq!(starts(&events).len(), 1);
    seg.reset();
    assert!(!seg.in_speech());
    assert!(seg.finish().is_empty(), "nothing left to emit after reset");
    assert_eq!(seg.now(), Duration::from_nanos(20 * 512 * 62_500));
    // A new utterance after the reset starts at the current media time (no stale pre-roll).
    let events = run(&mut seg, &[0.9; 10], 20);
    assert_eq!(
        starts(&events)[0].1,
        Duration::from_nanos(20 * 512 * 62_500)
    );
}

/// Chunks of a steady tone at `amplitude`, one per probability, and the events they cause.
fn run_level(seg: &mut Segmenter, chunks: &[(f32, f32)]) -> Vec<(usize, VadEvent)> {
    let mut out = Vec::new();
    for (n, &(amplitude, p)) in chunks.iter().enumerate() {
        let chunk: Vec<f32> = (0..CHUNK)
            .map(|k| amplitude * (k as f32 * 0.2).sin())
            .collect();
        for e in seg.push(&chunk, p) {
            out.push((n, e));
        }
    }
    out
}

#[test]
fn a_quiet_tail_starts_the_silence_while_the_probability_lags() {
    // 1 s of speech at -13 dBFS, then line noise at -43 dBFS (30 dB down) that Silero still
    // calls speech for 4 chunks (its lag), then clearly not.
    let mut chunks = vec![(0.3f32, 0.95f32); 31];
    chunks.extend([(0.01, 0.99), (0.01, 0.9), (0.01, 0.7), (0.01, 0.5)]);
    chunks.extend(vec![(0.01, 0.05); 30]);
    let with = |db: f32| {
        let mut seg = Segmenter::new(SegmenterConfig {
            quiet_below_peak_db: db,
            ..cfg()
        });
        let events = run_level(&mut seg, &chunks);
        let (i, _, _, end, _) = ends(&events).into_iter().next().expect("utterance ended");
        (i, ms(end))
    };
    // Trailing silence 500 ms = 15.6 chunks: from chunk 31 (the first quiet one) it ends at
    // chunk 46; Silero alone starts it at chunk 35 and ends at chunk 50.
    let (quiet_i, quiet_end) = with(25.0);
    let (prob_i, prob_end) = with(0.0);
    assert_eq!(quiet_i, 46, "quiet rule");
    assert_eq!(prob_i, 50, "probability alone");
    // The utterance audio ends the pre-roll after the last loud chunk (31 · 32 ms + 200 ms),
    // not after the probability's lag (35 · 32 ms + 200 ms).
    assert!(
        (quiet_end - (31.0 * 32.0 + 200.0)).abs() < 1e-6,
        "{quiet_end}"
    );
    assert!(
        (prob_end - (35.0 * 32.0 + 200.0)).abs() < 1e-6,
        "{prob_end}"
    );
}

#[test]
fn soft_speech_within_the_range_and_a_loud_return_keep_the_utterance_open() {
    let mut seg = Segmenter::new(SegmenterConfig {
        quiet_below_peak_db: 25.0,
        ..cfg()
    });
    // Loud, then 10 chunks 20 dB down (soft words, not quiet), then quiet for 10 chunks
    // (320 ms < 500 ms), then loud again: one utterance, not ended anywhere inside.
    let mut chunks = vec![(0.3f32, 0.95f32); 20];
    chunks.extend(vec![(0.03, 0.9); 10]);
    chunks.extend(vec![(0.003, 0.9); 10]);
    chunks.extend(vec![(0.3, 0.95); 20]);
    let events = run_level(&mut seg, &chunks);
    assert!(ends(&events).is_empty(), "{:?}", ends(&events));
    // Quiet audio never opens an utterance by itself: the rule only ends speech.
    let mut quiet_only = Segmenter::new(SegmenterConfig {
        quiet_below_peak_db: 25.0,
        ..cfg()
    });
    let events = run_level(&mut quiet_only, &vec![(0.001, 0.2); 40]);
    assert!(starts(&events).is_empty());
}
