//! Tests of the streaming resampler: exact lengths, alignment, chunking, clicks, drift.

use super::*;
use rand::{Rng, SeedableRng};

const RATES: [u32; 6] = [8000, 16000, 22050, 24000, 44100, 48000];

fn sine(freq: f64, rate: u32, len: usize, amp: f64) -> Vec<f32> {
    (0..len)
        .map(|i| (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin()) as f32)
        .collect()
}

fn chunked(r: &mut StreamResampler, input: &[f32], seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut i = 0;
    while i < input.len() {
        let n = rng.gen_range(0..=700).min(input.len() - i);
        r.process(&input[i..i + n], &mut out);
        i += n;
    }
    r.flush(&mut out);
    out
}

#[test]
fn output_length_is_exactly_rounded_ratio_for_every_pair() {
    for &from in &RATES {
        for &to in &RATES {
            for len in [0usize, 1, 7, 159, 160, 1000, 12345] {
                let input = sine(300.0, from, len, 0.5);
                let out = resample(&input, from, to).unwrap();
                let expected = ((len as u64 * to as u64 + from as u64 / 2) / from as u64) as usize;
                assert_eq!(out.len(), expected, "{from}->{to} len {len}");
            }
        }
    }
}

#[test]
fn identity_when_rates_are_equal() {
    let input = sine(440.0, 16000, 1234, 0.5);
    assert_eq!(resample(&input, 16000, 16000).unwrap(), input);
}

#[test]
fn unsupported_rate_is_a_clear_error() {
    let err = StreamResampler::new(8000, 44101).unwrap_err().to_string();
    assert!(err.contains("44101") && err.contains("supported"), "{err}");
    assert!(StreamResampler::new(0, 8000).is_err());
}

#[test]
fn offline_output_is_delay_compensated_and_accurate() {
    // A 440 Hz sine resampled must match the same sine computed at the new rate, sample for
    // sample: a one-sample misalignment at 8 kHz would give errors of ~0.17 here.
    for &from in &SUPPORTED_RATES {
        for &to in &SUPPORTED_RATES {
            let secs = 0.5;
            let input = sine(440.0, from, (from as f64 * secs) as usize, 0.5);
            let out = resample(&input, from, to).unwrap();
            let reference = sine(440.0, to, out.len(), 0.5);
            // Skip the edges, where the abrupt start/end of the clip rings.
            let edge = (to / 20) as usize;
            let max_err = out[edge..out.len() - edge]
                .iter()
                .zip(&reference[edge..out.len() - edge])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(max_err < 0.01, "{from}->{to}: max error {max_err}");
        }
    }
}

#[test]
fn chunked_streaming_equals_one_shot() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for &from in &RATES {
        for &to in &RATES {
            let input: Vec<f32> = (0..from as usize / 2)
                .map(|_| rng.gen_range(-0.5..0.5))
                .collect();
            let one_shot = resample(&input, from, to).unwrap();
            let mut r = StreamResampler::new(from, to).unwrap();
            let streamed = chunked(&mut r, &input, from as u64 * 31 + to as u64);
            assert_eq!(streamed.len(), one_shot.len(), "{from}->{to}");
            let max_diff = streamed
                .iter()
                .zip(&one_shot)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(max_diff < 1e-5, "{from}->{to}: max diff {max_diff}");
            // The resampler is reusable after a flush.
            let again = chunked(&mut r, &input, 99);
            assert_eq!(again.len(), one_shot.len());
        }
    }
}

#[test]
fn no_clicks_at_chunk_edges() {
    // The largest sample-to-sample step of a sine of amplitude A at f Hz sampled at fs is
    // at most 2·A·sin(π·f/fs). A discontinuity at a chunk edge would exceed it.
    let amp = 0.8;
    let freq = 1000.0;
    for &(from, to) in &[
        (8000, 16000),
        (16000, 8000),
        (22050, 8000),
        (24000, 16000),
        (44100, 48000),
        (48000, 8000),
    ] {
        let input = sine(freq, from, from as usize, amp);
        let mut r = StreamResampler::new(from, to).unwrap();
        let out = chunked(&mut r, &input, 3);
        let bound = 2.0 * amp * (std::f64::consts::PI * freq / to as f64).sin();
        let edge = (to / 20) as usize;
        let steady = &out[edge..out.len() - edge];
        let max_step = steady
            .windows(2)
            .map(|w| (w[1] - w[0]).abs() as f64)
            .fold(0.0, f64::max);
        assert!(
            max_step <= bound * 1.02 + 1e-3,
            "{from}->{to}: step {max_step} > bound {bound}"
        );
    }
}

#[test]
fn sixteen_to_eight_khz_gives_160_samples_per_20ms_without_drift() {
    // 10 s of 20 ms frames at 16 kHz: the output must keep up exactly (80000 samples in
    // all) and lag behind the input by a constant, bounded amount: never a frame short.
    let mut r = StreamResampler::new(16000, 8000).unwrap();
    let input = sine(300.0, 16000, 160_000, 0.5);
    let mut out = Vec::new();
    let mut lags = Vec::new();
    for (k, frame) in input.chunks(320).enumerate() {
        r.process(frame, &mut out);
        let due = (k + 1) * 160;
        assert!(out.len() <= due, "frame {k}: output ahead of input");
        lags.push(due - out.len());
    }
    let max_lag = *lags.iter().max().unwrap();
    assert!(
        max_lag <= 160,
        "lag up to {max_lag} samples (> one 20 ms frame)"
    );
    assert_eq!(lags[10], lags[lags.len() - 1], "lag drifts");
    r.flush(&mut out);
    assert_eq!(out.len(), 80_000);
    assert_eq!(
        out.len() % 160,
        0,
        "output must cut into exact 160-sample frames"
    );
}
