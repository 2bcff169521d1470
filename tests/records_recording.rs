//! Per-call stereo WAV recordings: channel layout, media-time alignment, gaps, late frames, drop.

use enclave::records::CallRecorder;
use std::time::{Duration, Instant};

const RATE: u32 = 8000;
const FRAME: usize = 160; // 20 ms at 8 kHz

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn read_stereo(path: &std::path::Path) -> (hound::WavSpec, Vec<i16>, Vec<i16>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let all: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
    let left = all.iter().step_by(2).copied().collect();
    let right = all.iter().skip(1).step_by(2).copied().collect();
    (spec, left, right)
}

#[tokio::test]
async fn caller_left_agent_right_aligned_by_media_time() {
    let dir = tempfile::tempdir().unwrap();
    let rec =
        CallRecorder::create(dir.path(), "3f1c1f5e-5c2b-4f7e-9a51-8a1b2f0c9d11", RATE).unwrap();
    // Caller speaks 0–1 s; agent answers 0.5–1.5 s. Frames of the two sides interleave in
    // arrival order with the agent slightly ahead, as on a real call.
    for i in 0..75u64 {
        let t = i * 20;
        if t < 1000 {
            rec.caller(ms(t), &[1000; FRAME]);
        }
        if (500..1500).contains(&t) {
            rec.agent(ms(t), &[-2000; FRAME]);
        }
    }
    let path = rec.path().to_path_buf();
    let stats = rec.close().await.unwrap();
    assert_eq!(stats.frames, 12_000);
    assert_eq!(stats.late_samples, 0);
    let (spec, left, right) = read_stereo(&path);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, RATE, 16)
    );
    assert_eq!(left.len(), 12_000);
    assert!(
        left[..8000].iter().all(|&s| s == 1000),
        "caller on the left for 0–1 s"
    );
    assert!(
        left[8000..].iter().all(|&s| s == 0),
        "caller silent after 1 s"
    );
    assert!(
        right[..4000].iter().all(|&s| s == 0),
        "agent silent before 0.5 s"
    );
    assert!(
        right[4000..].iter().all(|&s| s == -2000),
        "agent on the right from 0.5 s"
    );
}

#[tokio::test]
async fn gaps_become_silence_and_late_frames_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let rec = CallRecorder::create(dir.path(), "late-test", RATE).unwrap();
    // Agent plays 0–3 s continuously; the caller sends one frame at 2.0 s only (a Local
    // channel sends nothing in silence), then a stale frame for 0.1 s arrives.
    for i in 0..150u64 {
        rec.agent(ms(i * 20), &[7; FRAME]);
    }
    rec.caller(ms(2000), &[500; FRAME]);
    rec.caller(ms(100), &[900; FRAME]);
    let path = rec.path().to_path_buf();
    let stats = rec.close().await.unwrap();
    assert_eq!(stats.frames, 24_000);
    assert_eq!(
        stats.late_samples, FRAME as u64,
        "the 0.1 s frame came after 0.1 s was written"
    );
    let (_, left, right) = read_stereo(&path);
    assert!(right.iter().all(|&s| s == 7));
    assert!(left[..16_000].iter().all(|&s| s == 0));
    assert!(left[16_000..16_000 + FRAME].iter().all(|&s| s == 500));
    assert!(left[16_000 + FRAME..].iter().all(|&s| s == 0));
}

#[tokio::test]
async fn sixteen_khz_recordings_and_partial_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let rec = CallRecorder::create(dir.path(), "wide", 16_000).unwrap();
    rec.caller(ms(0), &[1; 320]);
    rec.caller(ms(10), &[2; 320]); // overlaps the second half of the first frame: overwrites it
    let path = rec.path().to_path_buf();
    let stats = rec.close().await.unwrap();
    assert_eq!(stats.frames, 480);
    let (spec, left, _) = read_stereo(&path);
    assert_eq!(spec.sample_rate, 16_000);
    assert!(left[..160].iter().all(|&s| s == 1));
    assert!(left[160..].iter().all(|&s| s == 2));
}

#[test]
fn dropping_the_recorder_finalises_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let rec = CallRecorder::create(dir.path(), "dropped", RATE).unwrap();
    let path = rec.path().to_path_buf();
    for i in 0..10u64 {
        rec.caller(ms(i * 20), &[3; FRAME]);
    }
    drop(rec);
    // The thread finalises in the background; wait (bounded) until the header says 1600 frames.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let frames = hound::WavReader::open(&path)
            .map(|r| r.duration())
            .unwrap_or(0);
        if frames == 1600 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "header never finalised: {frames} frames"
        );
        std::thread::yield_now();
    }
    let (_, left, _) = read_stereo(&path);
    assert!(left.iter().all(|&s| s == 3));
}
