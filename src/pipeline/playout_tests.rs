//! Playout queue tests: exact frame sizes, progress accounting, barge-in, rate changes.

use super::*;

fn tone(len: usize) -> Vec<f32> {
    (0..len).map(|i| 0.3 * ((i as f32) * 0.05).sin()).collect()
}

#[test]
fn frames_are_exactly_20ms_at_the_call_rate_and_progress_is_exact() {
    let p = Playout::new(8000);
    let mut rx = p.progress();
    // 1 s at 16 kHz = 50 frames of 160 samples at 8 kHz.
    let id = p.play(tone(16000), 16000).unwrap();
    let mut frame = Vec::new();
    let mut audio_frames = 0;
    for _ in 0..60 {
        let (rate, had) = p.take_frame(&mut frame, Instant::now());
        assert_eq!(rate, 8000);
        assert_eq!(frame.len(), 160, "every frame is exactly 320 bytes");
        audio_frames += had as usize;
    }
    assert_eq!(audio_frames, 50);
    assert!(rx.has_changed().unwrap());
    let prog = rx.borrow_and_update().clone();
    let item = &prog.items[&id];
    assert_eq!(item.state, ItemState::Done);
    assert_eq!(item.sent_samples, 16000);
    assert!(item.first_frame_at.is_some() && item.first_audible_at.is_some());
    assert_eq!(prog.frames_sent, 60);
    assert!(p.is_drained());
}

#[test]
fn items_join_without_gaps_and_silence_pads_the_last_frame() {
    let p = Playout::new(8000);
    p.play(vec![0.5; 100], 8000).unwrap();
    p.play(vec![-0.5; 100], 8000).unwrap();
    let mut frame = Vec::new();
    p.take_frame(&mut frame, Instant::now());
    assert!(frame[..100].iter().all(|&s| s == 16384));
    assert!(frame[100..].iter().all(|&s| s == -16384));
    p.take_frame(&mut frame, Instant::now());
    assert!(frame[..40].iter().all(|&s| s == -16384));
    assert!(frame[40..].iter().all(|&s| s == 0));
}

#[test]
fn clear_reports_how_much_of_each_item_went_out() {
    let p = Playout::new(8000);
    let a = p.play(vec![0.2; 8000], 8000).unwrap();
    let b = p.play(vec![0.2; 8000], 8000).unwrap();
    let mut frame = Vec::new();
    for _ in 0..10 {
        p.take_frame(&mut frame, Instant::now());
    }
    let cut = p.clear();
    assert_eq!(
        cut,
        vec![
            CutItem {
                id: a,
                sent_samples: 1600,
                total_samples: 8000
            },
            CutItem {
                id: b,
                sent_samples: 0,
                total_samples: 8000
            },
        ]
    );
    let (_, had) = p.take_frame(&mut frame, Instant::now());
    assert!(
        !had && frame.iter().all(|&s| s == 0),
        "speech stops at the next frame"
    );
    let prog = p.progress().borrow().clone();
    assert_eq!(prog.items[&a].state, ItemState::Cut);
    assert_eq!(prog.items[&a].sent_samples, 1600);
    assert_eq!(prog.items[&b].first_frame_at, None);
}

#[test]
fn a_rate_change_mid_item_keeps_exact_frames_and_accounting() {
    let p = Playout::new(8000);
    let id = p.play(tone(16000), 16000).unwrap();
    let mut frame = Vec::new();
    for _ in 0..10 {
        p.take_frame(&mut frame, Instant::now());
    }
    p.set_call_rate(16000);
    let mut frames = 0;
    while !p.is_drained() {
        p.take_frame(&mut frame, Instant::now());
        assert_eq!(frame.len(), 320);
        frames += 1;
    }
    assert_eq!(frames, 40, "the remaining 0.8 s at 16 kHz");
    let prog = p.progress().borrow().clone();
    assert_eq!(prog.items[&id].sent_samples, 16000);
}

#[test]
fn bad_rates_and_plays_after_hangup_are_errors() {
    let p = Playout::new(8000);
    assert!(matches!(
        p.play(vec![0.0; 10], 12345),
        Err(PlayoutError::Rate(_))
    ));
    p.hangup_after_drain();
    assert!(matches!(
        p.play(vec![0.0; 10], 8000),
        Err(PlayoutError::CallEnded)
    ));
    assert_eq!(p.hangup_request(), HangupRequest::AfterDrain);
    p.hangup_now();
    assert_eq!(p.hangup_request(), HangupRequest::Now);
    p.mark_ended();
    assert!(p.is_ended());
    assert!(p.progress().borrow().ended);
}

#[test]
fn finished_items_are_pruned() {
    let p = Playout::new(8000);
    let mut frame = Vec::new();
    for _ in 0..(KEEP_FINISHED + 500) {
        p.play(vec![0.1; 160], 8000).unwrap();
        p.take_frame(&mut frame, Instant::now());
    }
    let kept = p.progress().borrow().items.len();
    assert!(
        (KEEP_FINISHED..=KEEP_FINISHED + 64).contains(&kept),
        "{kept}"
    );
}

#[test]
fn the_queue_refuses_audio_beyond_its_limit_and_takes_more_once_played() {
    let p = Playout::new(8000);
    p.set_max_queued(std::time::Duration::from_secs(2));
    let before = crate::metrics::limits::hits(crate::metrics::limits::Limit::PlayoutQueueFull);
    // 1.5 s fits; another 1 s does not (2.5 s > 2 s), whatever its own rate.
    p.play(vec![0.1; 12_000], 8000).unwrap();
    let err = p.play(vec![0.1; 16_000], 16_000).unwrap_err();
    assert!(matches!(err, PlayoutError::QueueFull { .. }), "{err}");
    assert!(
        err.to_string().contains("server.playout_max_queued_secs"),
        "{err}"
    );
    assert!(crate::metrics::limits::hits(crate::metrics::limits::Limit::PlayoutQueueFull) > before);
    assert_eq!(
        p.queued_samples(),
        12_000,
        "the refused item queued nothing"
    );
    // Play 1 s (50 frames): now 0.5 s is queued and 1 s more fits.
    let mut frame = Vec::new();
    for _ in 0..50 {
        p.take_frame(&mut frame, Instant::now());
    }
    p.play(vec![0.1; 16_000], 16_000).unwrap();
    assert_eq!(p.queued_samples(), 4_000 + 8_000);
}
