//! Per-call bounds over real TCP on 127.0.0.1: a caller that floods (audio faster than real
//! time), a peer that stops reading, and a caller that goes quiet. Each bound ends or trims
//! only the abusive call, is counted, and a healthy call on the same server keeps its 20 ms
//! cadence meanwhile.

mod transport_support;

use enclave::config::ServerConfig;
use enclave::metrics::limits::{self, Limit};
use enclave::pipeline::{CallEvent, CallHandler, CallInfo, CallOutcome, Playout};
use enclave::sim::{self, CallOptions};
use enclave::transport::frame::{self, AudioRate};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use transport_support::*;

/// Echoes caller audio at once (so a flood would also flood the playback queue) and counts
/// the caller audio it was given, in microseconds.
struct CountingEcho {
    received_us: Arc<AtomicU64>,
}

impl CallHandler for CountingEcho {
    fn run(
        &self,
        _info: CallInfo,
        mut events: mpsc::Receiver<CallEvent>,
        out: Playout,
    ) -> BoxFuture<'static, CallOutcome> {
        let received = Arc::clone(&self.received_us);
        async move {
            while let Some(ev) = events.recv().await {
                match ev {
                    CallEvent::Audio(chunk) => {
                        received.fetch_add(chunk.duration().as_micros() as u64, Ordering::SeqCst);
                        let _ = out.play(chunk.samples_16k, 16_000);
                    }
                    CallEvent::Hangup | CallEvent::Lost(_) => return CallOutcome::CallerHungUp,
                    CallEvent::Dtmf { .. } => {}
                }
            }
            CallOutcome::CallerHungUp
        }
        .boxed()
    }
}

fn config() -> ServerConfig {
    ServerConfig {
        uuid_timeout_ms: 1000,
        inbound_burst_ms: 300,
        inbound_timeout_secs: 0,
        write_stall_ms: 500,
        ..ServerConfig::default()
    }
}

fn tone(secs: f64, rate: u32) -> Vec<f32> {
    (0..(secs * rate as f64) as usize)
        .map(|i| 0.3 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin())
        .collect()
}

/// A healthy caller: 3 s of tone at real time, then the report.
fn healthy_call(addr: std::net::SocketAddr) -> tokio::task::JoinHandle<sim::CallReport> {
    let mut opts = CallOptions::new(addr);
    opts.audio = Some((tone(3.0, 8000), 8000));
    opts.linger = Duration::from_millis(500);
    opts.record = false;
    tokio::spawn(async move { sim::place_call(opts).await.expect("healthy call") })
}

/// The healthy call kept one frame per 20 ms: as many frames as its wall time allows, and
/// the median spacing 20 ms (relative bounds; a loaded box delays single frames, not the
/// pacer's clock).
fn assert_cadence(report: &sim::CallReport) {
    let expected = report.duration_ms / 20.0;
    let got = report.frames_received as f64;
    assert!(
        got > expected * 0.9 && got < expected * 1.1 + 5.0,
        "healthy call got {got} frames in {:.0} ms (expected ~{expected:.0})",
        report.duration_ms
    );
    assert!(
        (report.intervals.p50_ms - 20.0).abs() < 2.0,
        "healthy call median frame spacing {:.1} ms",
        report.intervals.p50_ms
    );
}

async fn send_uuid(stream: &mut TcpStream) {
    let mut buf = bytes::BytesMut::new();
    frame::encode(
        &frame::Frame::Uuid(*uuid::Uuid::new_v4().as_bytes()),
        &mut buf,
    );
    stream.write_all(&buf).await.unwrap();
}

fn audio_frame(rate: AudioRate, samples: &[i16]) -> bytes::BytesMut {
    let mut buf = bytes::BytesMut::new();
    frame::encode_audio(rate, samples, &mut buf);
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_faster_than_real_time_is_trimmed_to_real_time() {
    let received = Arc::new(AtomicU64::new(0));
    let handler = Arc::new(CountingEcho {
        received_us: Arc::clone(&received),
    });
    let server = start_server(config(), handler).await;
    let healthy = healthy_call(server.addr);
    let hits_before = limits::hits(Limit::InboundFasterThanRealTime);

    // 20 s of audio as fast as the socket takes it, while reading whatever comes back.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    send_uuid(&mut stream).await;
    let (mut rd, mut wr) = stream.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while rd.read(&mut buf).await.unwrap_or(0) > 0 {}
    });
    let frame = audio_frame(AudioRate::Hz8000, &[1000i16; 160]);
    let flood_start = Instant::now();
    for _ in 0..1000 {
        wr.write_all(&frame).await.unwrap();
    }
    // Keep the call open a little, then hang up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let wall = flood_start.elapsed();
    drop(wr);
    let report = healthy.await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;

    let got = Duration::from_micros(received.load(Ordering::SeqCst));
    let sent = Duration::from_millis(20 * 1000);
    // What the flood got through: real time plus the allowance (plus the healthy call's 3 s,
    // counted by the same handler) — nowhere near the 20 s sent.
    let bound =
        wall + Duration::from_millis(300) + Duration::from_secs(3) + Duration::from_millis(200);
    assert!(
        got <= bound,
        "handler got {got:?} of caller audio in {wall:?} (sent {sent:?}); bound {bound:?}"
    );
    assert!(
        server.stats.inbound_dropped_frames() >= 500,
        "dropped {} frames",
        server.stats.inbound_dropped_frames()
    );
    assert!(limits::hits(Limit::InboundFasterThanRealTime) > hits_before);
    assert_cadence(&report);
    server.shutdown.cancel();
    let _ = server.task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_is_dropped_after_the_stall_limit() {
    let handler = Arc::new(CountingEcho {
        received_us: Arc::new(AtomicU64::new(0)),
    });
    let cfg = config();
    let stall = Duration::from_millis(cfg.write_stall_ms);
    let server = start_server(cfg, handler).await;
    let healthy = healthy_call(server.addr);

    // A small receive buffer, as a peer whose kernel stops accepting: what remains is our
    // side's detection.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    send_uuid(&mut stream).await;
    let started = Instant::now();
    // Send real-time audio (so only the write side is at fault), never read.
    let frame = audio_frame(AudioRate::Hz8000, &[0i16; 160]);
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    let ended_after = loop {
        ticker.tick().await;
        if server.stats.write_stalls() > 0 {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(30) {
            panic!("the agent kept writing to a peer that does not read for 30 s");
        }
        if stream.write_all(&frame).await.is_err() {
            break started.elapsed();
        }
    };
    eprintln!("peer that stops reading (4 KiB receive buffer) dropped after {ended_after:?}");
    assert_eq!(server.stats.write_stalls(), 1, "ended by the stall limit");
    // Stall limit plus what a 4 KiB window and our send buffer absorb (< 2 s of audio),
    // generously bounded for a loaded box.
    assert!(
        ended_after < stall + Duration::from_secs(5),
        "dropped after {ended_after:?}; stall limit {stall:?}"
    );
    assert_cadence(&healthy.await.unwrap());
    server.shutdown.cancel();
    let _ = server.task.await;
}

/// A stuck Asterisk (its AudioSocket thread both reads from us and writes to us) stops
/// reading and sending at once. Its kernel keeps acknowledging into a receive buffer that
/// Linux 6.x grows up to `tcp_rmem` max (32 MiB here: half an hour of 8 kHz audio), so TCP
/// alone cannot tell; the inbound timeout does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_peer_with_a_default_socket_is_dropped_in_seconds_not_minutes() {
    let handler = Arc::new(CountingEcho {
        received_us: Arc::new(AtomicU64::new(0)),
    });
    let cfg = ServerConfig {
        inbound_timeout_secs: 2,
        ..config()
    };
    let server = start_server(cfg, handler).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    send_uuid(&mut stream).await;
    // A second of normal audio, then nothing either way.
    let frame = audio_frame(AudioRate::Hz8000, &[0i16; 160]);
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..50 {
        ticker.tick().await;
        stream.write_all(&frame).await.unwrap();
    }
    let stuck_at = Instant::now();
    tokio::time::timeout(Duration::from_secs(20), server.stats.wait_until_idle())
        .await
        .expect("a stuck peer was still connected after 20 s");
    let ended_after = stuck_at.elapsed();
    eprintln!("stuck peer (default socket) dropped after {ended_after:?}");
    assert_eq!(server.stats.inbound_timeouts(), 1);
    assert!(
        ended_after >= Duration::from_millis(1900) && ended_after < Duration::from_secs(8),
        "{ended_after:?} with a 2 s inbound timeout"
    );
    drop(stream);
    server.shutdown.cancel();
    let _ = server.task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_sends_nothing_is_hung_up_after_the_inbound_timeout() {
    let handler = Arc::new(CountingEcho {
        received_us: Arc::new(AtomicU64::new(0)),
    });
    let cfg = ServerConfig {
        inbound_timeout_secs: 1,
        ..config()
    };
    let server = start_server(cfg, handler).await;
    let healthy = healthy_call(server.addr);
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    send_uuid(&mut stream).await;
    let started = Instant::now();
    // Read (the agent's silence, then its hangup) until EOF.
    let mut buf = bytes::BytesMut::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while stream.read_buf(&mut buf).await.unwrap_or(0) > 0 {}
    })
    .await
    .expect("the silent call was not ended within 10 s");
    let ended_after = started.elapsed();
    let mut last = None;
    while let Some(f) = frame::decode(&mut buf).expect("valid frames") {
        last = Some(f);
    }
    assert_eq!(last, Some(frame::Frame::Hangup), "ended with 00 00 00");
    assert!(
        ended_after >= Duration::from_millis(950) && ended_after < Duration::from_secs(4),
        "ended after {ended_after:?}, timeout 1 s"
    );
    assert_eq!(server.stats.inbound_timeouts(), 1);
    // The healthy call sends audio every 20 ms and was not touched.
    assert_cadence(&healthy.await.unwrap());
    server.shutdown.cancel();
    let _ = server.task.await;
}

/// Records how each call's event stream ended.
struct LastEvent {
    ends: mpsc::UnboundedSender<String>,
}

impl CallHandler for LastEvent {
    fn run(
        &self,
        _info: CallInfo,
        mut events: mpsc::Receiver<CallEvent>,
        _out: Playout,
    ) -> BoxFuture<'static, CallOutcome> {
        let tx = self.ends.clone();
        async move {
            let mut last = "closed".to_string();
            while let Some(ev) = events.recv().await {
                match ev {
                    CallEvent::Hangup => last = "hangup".into(),
                    CallEvent::Lost(enclave::pipeline::LostReason::Reset(_)) => {
                        last = "reset".into()
                    }
                    CallEvent::Lost(enclave::pipeline::LostReason::ProtocolError(_)) => {
                        last = "protocol_error".into()
                    }
                    _ => {}
                }
            }
            let _ = tx.send(last);
            CallOutcome::CallerHungUp
        }
        .boxed()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_and_protocol_errors_reach_the_handler_as_lost_not_as_nothing() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = start_server(config(), Arc::new(LastEvent { ends: tx })).await;
    let frame = audio_frame(AudioRate::Hz8000, &[0i16; 160]);

    // A reset: some audio, then RST (SO_LINGER 0).
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    send_uuid(&mut s).await;
    for _ in 0..5 {
        s.write_all(&frame).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some("reset"));

    // A protocol error: a frame kind AudioSocket does not have.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    send_uuid(&mut s).await;
    s.write_all(&frame).await.unwrap();
    s.write_all(&[0x42, 0x00, 0x02, 1, 2]).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some("protocol_error"));

    // A close (FIN) is a hang-up — or a reset when the agent's next frame reached the
    // closed socket first and drew its RST (the race behind the resets Asterisk shows when
    // callers hang up; records count both as caller_hangup). Never a protocol error.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    send_uuid(&mut s).await;
    s.write_all(&frame).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(s);
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap();
    assert!(
        matches!(got.as_deref(), Some("hangup") | Some("reset")),
        "{got:?}"
    );
    server.shutdown.cancel();
    let _ = server.task.await;
}
