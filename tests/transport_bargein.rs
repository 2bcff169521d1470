//! How much agent audio the caller still hears after a barge-in clears the queue. The pacer
//! writes each frame `playout_lead_ms` ahead of its due time and Asterisk plays what it gets
//! at once, so up to the lead (plus the frame being written) is already on its way when
//! `Playout::clear` runs. The caller side plays frame k at `first arrival + k·20 ms` (what
//! Asterisk and a phone do); measured over real TCP for several leads, the last audible frame
//! ends at most lead + two frames after the clear.

mod transport_support;

use enclave::config::ServerConfig;
use enclave::pipeline::{CallEvent, CallHandler, CallInfo, CallOutcome, Playout};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use transport_support::*;

/// Plays 3 s of tone and clears it once 0.5 s of caller audio arrived, noting when.
struct ClearAt {
    cleared: Arc<Mutex<Option<Instant>>>,
}

impl CallHandler for ClearAt {
    fn run(
        &self,
        _info: CallInfo,
        mut events: mpsc::Receiver<CallEvent>,
        out: Playout,
    ) -> BoxFuture<'static, CallOutcome> {
        let cleared = Arc::clone(&self.cleared);
        async move {
            let tone: Vec<f32> = (0..24_000).map(|i| 0.3 * (i as f32 * 0.2).sin()).collect();
            out.play(tone, 8000).unwrap();
            while let Some(ev) = events.recv().await {
                if let CallEvent::Audio(chunk) = ev {
                    if chunk.at >= Duration::from_millis(500) {
                        out.clear();
                        *cleared.lock().unwrap() = Some(Instant::now());
                        break;
                    }
                }
            }
            while events.recv().await.is_some() {}
            CallOutcome::CallerHungUp
        }
        .boxed()
    }
}

/// Time from `clear()` to the end of the last audible frame in the caller's playback, for
/// one call at `lead_ms`.
async fn audio_after_clear(lead_ms: u64) -> Duration {
    let cleared = Arc::new(Mutex::new(None));
    let cfg = ServerConfig {
        playout_lead_ms: lead_ms,
        ..ServerConfig::default()
    };
    let server = start_server(
        cfg,
        Arc::new(ClearAt {
            cleared: Arc::clone(&cleared),
        }),
    )
    .await;
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let mut hello = vec![1u8, 0, 16];
    hello.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    wr.write_all(&hello).await.unwrap();
    let writer = tokio::spawn(async move {
        let mut frame = vec![0x10u8, 0x01, 0x40];
        frame.extend_from_slice(&[0u8; 320]);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for _ in 0..75 {
            tick.tick().await;
            wr.write_all(&frame).await.unwrap();
        }
        wr
    });
    let mut first_arrival = None;
    let mut index = 0u32;
    let mut last_audible = None;
    let mut buf = bytes::BytesMut::new();
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        match tokio::time::timeout(Duration::from_millis(100), rd.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => {}
            Err(_) => continue,
        }
        let now = Instant::now();
        while let Some(f) = enclave::transport::frame::decode(&mut buf).unwrap() {
            if let enclave::transport::Frame::Audio { payload, .. } = f {
                let t0 = *first_arrival.get_or_insert(now);
                index += 1;
                if payload.iter().any(|&b| b != 0) {
                    // This frame plays from t0 + (index-1)·20 ms to t0 + index·20 ms.
                    last_audible = Some(t0 + Duration::from_millis(20) * index);
                }
            }
        }
    }
    drop(writer.await.unwrap());
    drop(rd);
    let cleared = cleared.lock().unwrap().expect("the handler cleared");
    server.shutdown.cancel();
    let _ = server.task.await;
    last_audible
        .expect("audio was heard before the clear")
        .saturating_duration_since(cleared)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_after_a_barge_in_is_bounded_by_the_lead() {
    for lead in [40u64, 20, 0] {
        // Median of three calls: one late wake-up on a busy box is not the pacer's lead.
        let mut runs = Vec::new();
        for _ in 0..3 {
            runs.push(audio_after_clear(lead).await);
        }
        runs.sort();
        let median = runs[1];
        println!(
            "playout_lead_ms = {lead}: last audible frame {:.1} ms after clear (runs {:?})",
            median.as_secs_f64() * 1000.0,
            runs
        );
        assert!(
            median <= Duration::from_millis(lead + 40),
            // (One frame in flight plus one of timer slack.)
            "lead {lead} ms: audio kept coming {median:?} after the clear"
        );
    }
}
