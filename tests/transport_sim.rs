//! The simulated Asterisk judges the agent like Asterisk does: a fake agent on 127.0.0.1
//! sends one bad thing each, and the simulated call must end with the matching reason.

use enclave::sim::{self, CallEndReason, CallOptions};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Runs a fake agent that reads the uuid, then writes `script` (pieces with pauses between
/// them), then waits for the caller to go away. Returns the simulated call's report.
async fn against(script: Vec<(Vec<u8>, Duration)>) -> sim::CallReport {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let agent = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut uuid = [0u8; 19];
        s.read_exact(&mut uuid).await.unwrap();
        assert_eq!(&uuid[..3], &[0x01, 0x00, 0x10], "uuid frame first");
        for (bytes, pause) in script {
            if s.write_all(&bytes).await.is_err() {
                return;
            }
            tokio::time::sleep(pause).await;
        }
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink).await;
    });
    let mut opts = CallOptions::new(addr);
    opts.linger = Duration::from_secs(3);
    let report = sim::place_call(opts).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), agent).await;
    report
}

fn audio_frame() -> Vec<u8> {
    let mut f = vec![0x10, 0x01, 0x40];
    f.extend(std::iter::repeat_n(0u8, 320));
    f
}

#[tokio::test]
async fn forbidden_kinds_end_the_call() {
    for kind in [0x01u8, 0x03, 0xff, 0x42] {
        let len: u8 = if kind == 0x01 { 16 } else { 1 };
        let mut frame = vec![kind, 0, len];
        frame.extend(std::iter::repeat_n(b'1', len as usize));
        let r = against(vec![
            (audio_frame(), Duration::ZERO),
            (frame, Duration::ZERO),
        ])
        .await;
        match &r.ended {
            CallEndReason::ProtocolViolation(d) => {
                assert!(d.contains(&format!("0x{kind:02x}")), "{d}")
            }
            other => panic!("kind 0x{kind:02x}: {other:?}"),
        }
        assert_eq!(r.frames_received, 1);
    }
}

#[tokio::test]
async fn zero_length_and_odd_audio_end_the_call() {
    let r = against(vec![(vec![0x10, 0, 0], Duration::ZERO)]).await;
    assert!(
        matches!(&r.ended, CallEndReason::ProtocolViolation(d) if d.contains("zero-length")),
        "{:?}",
        r.ended
    );
    let r = against(vec![(vec![0x10, 0, 3, 1, 2, 3], Duration::ZERO)]).await;
    assert!(
        matches!(&r.ended, CallEndReason::ProtocolViolation(d) if d.contains("odd")),
        "{:?}",
        r.ended
    );
}

#[tokio::test]
async fn a_payload_late_after_its_header_is_a_poll_timeout() {
    let frame = audio_frame();
    let r = against(vec![
        (frame[..3].to_vec(), Duration::from_millis(30)),
        (frame[3..].to_vec(), Duration::ZERO),
    ])
    .await;
    assert!(
        matches!(r.ended, CallEndReason::PollTimeout(_)),
        "{:?}",
        r.ended
    );
}

#[tokio::test]
async fn hangup_frame_and_close_are_told_apart() {
    let r = against(vec![
        (audio_frame(), Duration::ZERO),
        (vec![0, 0, 0], Duration::ZERO),
    ])
    .await;
    assert_eq!(r.ended, CallEndReason::AgentHangup);
    assert_eq!(r.frame_sizes.get(&320), Some(&1));

    // A fake agent that closes without 00 00 00.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut uuid = [0u8; 19];
        s.read_exact(&mut uuid).await.unwrap();
        s.write_all(&audio_frame()).await.unwrap();
    });
    let r = sim::place_call(CallOptions::new(addr)).await.unwrap();
    assert_eq!(r.ended, CallEndReason::AgentClosed);
}

#[tokio::test]
async fn connect_refused_is_an_error_not_a_report() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = sim::place_call(CallOptions::new(addr)).await.unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
