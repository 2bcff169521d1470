//! One call: the task that owns an accepted AudioSocket connection from first byte to close.
//!
//! It starts the pacer at once (silence from connect), waits for the uuid (first frame,
//! within `uuid_timeout_ms`), starts the handler, turns caller audio into 16 kHz chunks, and
//! ends the call on EOF, on the handler's hangup, on a protocol error, or on shutdown. Both
//! halves of the socket are always dropped before it returns: no CLOSE-WAIT.

use crate::audio::pcm;
use crate::audio::resample::StreamResampler;
use crate::pipeline::{
    AudioChunk, CallEvent, CallHandler, CallInfo, CallOutcome, LostReason, Playout, HANDLER_RATE_HZ,
};
use crate::transport::codec::AudioSocketCodec;
use crate::transport::codec::CodecError;
use crate::transport::frame::{expect_uuid, AudioRate, Frame};
use crate::transport::pacer::{self, PacerEnd};
use crate::transport::server::ServerStats;
use futures::StreamExt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

/// Caller events buffered for a slow handler (5 s of 20 ms frames) before audio is dropped.
const EVENT_QUEUE: usize = 256;

/// After the call ends, how long the handler may take to return before it is aborted.
const HANDLER_GRACE: Duration = Duration::from_secs(2);

/// Settings a call needs (from `[server]`).
#[derive(Debug, Clone)]
pub struct CallSettings {
    /// Time allowed for the uuid frame.
    pub uuid_timeout: Duration,
    /// Outbound lead over real time.
    pub playout_lead: Duration,
    /// How far caller audio may run ahead of real time before the excess is dropped.
    pub inbound_burst: Duration,
    /// No caller frame for this long ends the call (`None`: never).
    pub inbound_timeout: Option<Duration>,
    /// Unacknowledged outbound audio (or a blocked write) that ends the call.
    pub write_stall: Duration,
    /// Most audio queued for playing.
    pub playout_max_queued: Duration,
    /// `SO_SNDBUF` for the call socket (`None`: kernel auto-tuning).
    pub send_buffer: Option<usize>,
    /// Where the bounds hit are counted (the server's live counters).
    pub stats: Arc<ServerStats>,
}

impl CallSettings {
    /// The `[server]` settings of a call, counting into `stats`.
    pub fn from_config(config: &crate::config::ServerConfig, stats: Arc<ServerStats>) -> Self {
        CallSettings {
            uuid_timeout: Duration::from_millis(config.uuid_timeout_ms),
            playout_lead: Duration::from_millis(config.playout_lead_ms),
            inbound_burst: Duration::from_millis(config.inbound_burst_ms),
            inbound_timeout: (config.inbound_timeout_secs > 0)
                .then(|| Duration::from_secs(config.inbound_timeout_secs)),
            write_stall: Duration::from_millis(config.write_stall_ms),
            playout_max_queued: Duration::from_secs(config.playout_max_queued_secs),
            send_buffer: (config.send_buffer_bytes > 0).then_some(config.send_buffer_bytes),
            stats,
        }
    }
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEnd {
    /// EOF from Asterisk: the caller hung up (or was redirected).
    CallerHungUp,
    /// We sent `00 00 00` and closed (handler hangup).
    AgentHungUp,
    /// No uuid frame within the timeout: hung up.
    UuidTimeout,
    /// The peer broke the protocol (garbage, audio before uuid): hung up.
    ProtocolError(String),
    /// Server shutdown: hung up.
    Shutdown,
    /// The socket failed (reset, or the peer stopped reading: see the message).
    IoError(String),
    /// No caller audio for `inbound_timeout`: hung up.
    InboundTimeout(Duration),
}

impl std::fmt::Display for CallEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallEnd::CallerHungUp => write!(f, "caller hung up"),
            CallEnd::AgentHungUp => write!(f, "agent hung up"),
            CallEnd::UuidTimeout => write!(f, "no uuid frame in time"),
            CallEnd::ProtocolError(e) => write!(f, "protocol error: {e}"),
            CallEnd::Shutdown => write!(f, "server shutdown"),
            CallEnd::IoError(e) => write!(f, "socket error: {e}"),
            CallEnd::InboundTimeout(d) => {
                write!(f, "no caller audio for {} s", d.as_secs_f64())
            }
        }
    }
}

/// Keeps caller audio to real time: audio that would put the accepted media time more than
/// `burst` ahead of the wall time since the connection was accepted is dropped. Counting
/// from the connection (not the first frame) matters: when this process reads late (a busy
/// box), the frames waiting in the socket are genuine and must not look like a flood. Late
/// frames that arrive in a bunch only catch up and are never dropped.
struct InboundLimiter {
    burst: Duration,
    origin: Instant,
    accepted: Duration,
    dropped_frames: u64,
    dropped: Duration,
}

impl InboundLimiter {
    fn new(burst: Duration, origin: Instant) -> InboundLimiter {
        InboundLimiter {
            burst,
            origin,
            accepted: Duration::ZERO,
            dropped_frames: 0,
            dropped: Duration::ZERO,
        }
    }

    /// Whether a frame of `len` received at `now` is within real time + burst.
    fn admit(&mut self, len: Duration, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.origin);
        if self.accepted + len > elapsed + self.burst {
            self.dropped_frames += 1;
            self.dropped += len;
            return false;
        }
        self.accepted += len;
        true
    }
}

/// Turns caller audio at the call's rate into 16 kHz chunks stamped with media time.
struct Inbound {
    rate: Option<AudioRate>,
    resampler: Option<StreamResampler>,
    /// 16 kHz samples emitted so far: the media clock.
    samples_out: u64,
    f32_in: Vec<f32>,
    f32_out: Vec<f32>,
}

impl Inbound {
    fn new() -> Inbound {
        Inbound {
            rate: None,
            resampler: None,
            samples_out: 0,
            f32_in: Vec::new(),
            f32_out: Vec::new(),
        }
    }

    fn media_time(&self) -> Duration {
        Duration::from_secs_f64(self.samples_out as f64 / HANDLER_RATE_HZ as f64)
    }

    /// Converts one payload; `None` while the resampler is still filling its first block.
    fn push(&mut self, rate: AudioRate, payload: &[u8], received: Instant) -> Option<AudioChunk> {
        if self.rate != Some(rate) {
            self.rate = Some(rate);
            self.resampler = StreamResampler::new(rate.hz(), HANDLER_RATE_HZ).ok();
        }
        self.f32_in.clear();
        pcm::le_bytes_to_f32(payload, &mut self.f32_in);
        self.f32_out.clear();
        self.resampler
            .as_mut()?
            .process(&self.f32_in, &mut self.f32_out);
        if self.f32_out.is_empty() {
            return None;
        }
        let at = self.media_time();
        self.samples_out += self.f32_out.len() as u64;
        // Resampler overshoot past full scale is clipped here, as the 16-bit wire would.
        for s in &mut self.f32_out {
            *s = s.clamp(-1.0, 1.0);
        }
        Some(AudioChunk {
            samples_16k: std::mem::take(&mut self.f32_out),
            at,
            received,
        })
    }
}

/// Runs one call on `stream` until it ends; returns why. `shutdown` hangs the call up.
pub async fn run_call(
    stream: TcpStream,
    peer: SocketAddr,
    settings: CallSettings,
    handler: Arc<dyn CallHandler>,
    shutdown: CancellationToken,
) -> CallEnd {
    let started = Instant::now();
    if let Some(bytes) = settings.send_buffer {
        if let Err(e) = socket2::SockRef::from(&stream).set_send_buffer_size(bytes) {
            tracing::debug!(%peer, error = %e, "SO_SNDBUF failed");
        }
    }
    let limits = pacer::PacerLimits {
        write_stall: settings.write_stall,
        backlog_fd: Some(std::os::fd::AsRawFd::as_raw_fd(&stream)),
    };
    let (read_half, mut write_half) = stream.into_split();
    let mut frames = FramedRead::new(read_half, AudioSocketCodec);
    let playout = Playout::new(AudioRate::Hz8000.hz());
    playout.set_max_queued(settings.playout_max_queued);
    let stop_pacer = CancellationToken::new();

    // The pacer runs from connect: silence until the handler has something to say.
    let pacer = {
        let playout = playout.clone();
        let stop = stop_pacer.clone();
        let lead = settings.playout_lead;
        tokio::spawn(async move {
            // `write_half` keeps the socket (and so `backlog_fd`) open while this runs.
            let end = pacer::run_limited(&mut write_half, playout, lead, stop, limits).await;
            // Dropping the write half here shuts down our sending side.
            drop(write_half);
            end
        })
    };
    let mut pacer = pacer;

    let end = call_body(
        &mut frames,
        peer,
        started,
        &settings,
        &handler,
        &playout,
        &stop_pacer,
        &mut pacer,
        &shutdown,
    )
    .await;

    // Make sure the pacer is finished (it is, unless we ended from the read side).
    stop_pacer.cancel();
    if !pacer.is_finished() {
        let _ = (&mut pacer).await;
    }
    playout.mark_ended();
    drop(frames); // the read half: the socket is now fully closed.
    end
}

#[allow(clippy::too_many_arguments)]
async fn call_body(
    frames: &mut FramedRead<tokio::net::tcp::OwnedReadHalf, AudioSocketCodec>,
    peer: SocketAddr,
    started: Instant,
    settings: &CallSettings,
    handler: &Arc<dyn CallHandler>,
    playout: &Playout,
    stop_pacer: &CancellationToken,
    pacer: &mut tokio::task::JoinHandle<(PacerEnd, pacer::PacerStats)>,
    shutdown: &CancellationToken,
) -> CallEnd {
    // 1. The uuid, first, in time.
    let first = tokio::select! {
        biased;
        _ = shutdown.cancelled() => {
            return hang_up(playout, pacer, CallEnd::Shutdown).await;
        }
        r = tokio::time::timeout(settings.uuid_timeout, frames.next()) => r,
    };
    let uuid = match first {
        Err(_) => {
            tracing::warn!(%peer, timeout_ms = settings.uuid_timeout.as_millis() as u64,
                "no uuid frame in time; hanging up");
            return hang_up(playout, pacer, CallEnd::UuidTimeout).await;
        }
        Ok(None) => {
            tracing::info!(%peer, "connection closed before the uuid frame");
            stop_pacer.cancel();
            return CallEnd::CallerHungUp;
        }
        Ok(Some(Err(e))) => return protocol_error(peer, None, e, playout, pacer).await,
        Ok(Some(Ok(frame))) => match expect_uuid(&frame) {
            Ok(bytes) => uuid::Uuid::from_bytes(bytes),
            Err(e) => return protocol_error(peer, None, e.into(), playout, pacer).await,
        },
    };
    tracing::info!(call = %uuid, %peer, "call started");

    // 2. The handler.
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
    let info = CallInfo {
        uuid,
        peer,
        started,
    };
    let mut handler_task = tokio::spawn(handler.run(info, events_rx, playout.clone()));
    let mut handler_done: Option<CallOutcome> = None;
    let mut events_tx = Some(events_tx);
    let mut inbound = Inbound::new();
    let mut limiter = InboundLimiter::new(settings.inbound_burst, started);
    let mut dropped_audio = 0u64;
    // Far future when there is no inbound timeout: the branch never fires.
    let inbound_timeout = settings
        .inbound_timeout
        .unwrap_or(Duration::from_secs(100 * 365 * 86_400));
    let silence_deadline = tokio::time::sleep(inbound_timeout);
    tokio::pin!(silence_deadline);

    // 3. Caller frames until the call ends.
    let end = loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                break hang_up(playout, pacer, CallEnd::Shutdown).await;
            }
            _ = &mut silence_deadline => {
                tracing::warn!(call = %uuid, secs = inbound_timeout.as_secs(),
                    "no audio from the caller for server.inbound_timeout_secs; hanging up");
                crate::metrics::limits::hit(crate::metrics::limits::Limit::InboundSilence);
                settings.stats.inbound_timeouts.fetch_add(1, Ordering::Relaxed);
                break hang_up(playout, pacer, CallEnd::InboundTimeout(inbound_timeout)).await;
            }
            r = &mut *pacer => {
                break match r {
                    Ok((PacerEnd::WriteFailed(e), _)) => {
                        if e.kind() == std::io::ErrorKind::TimedOut {
                            tracing::warn!(call = %uuid, error = %e, "peer stopped reading; ending the call");
                            settings.stats.write_stalls.fetch_add(1, Ordering::Relaxed);
                            CallEnd::IoError(e.to_string())
                        } else {
                            // A reset (or our write drew the RST of a peer that had just
                            // closed: the same race Asterisk shows when callers hang up).
                            CallEnd::IoError(e.to_string())
                        }
                    }
                    Ok(_) => CallEnd::AgentHungUp,
                    Err(e) => CallEnd::IoError(format!("pacer task failed: {e}")),
                };
            }
            outcome = &mut handler_task, if handler_done.is_none() => {
                let outcome = outcome.unwrap_or_else(|e| CallOutcome::Failed(format!("handler task: {e}")));
                tracing::debug!(call = %uuid, ?outcome, "handler returned; hanging up after the queue drains");
                handler_done = Some(outcome);
                events_tx = None;
                playout.hangup_after_drain();
            }
            frame = frames.next() => match frame {
                None => {
                    stop_pacer.cancel();
                    if let Some(tx) = &events_tx {
                        let _ = tx.try_send(CallEvent::Hangup);
                    }
                    break CallEnd::CallerHungUp;
                }
                Some(Err(e)) => break protocol_error(peer, Some(uuid), e, playout, pacer).await,
                Some(Ok(frame)) => {
                    let received = Instant::now();
                    silence_deadline
                        .as_mut()
                        .reset(tokio::time::Instant::from_std(received) + inbound_timeout);
                    match frame {
                        Frame::Audio { rate, payload } => {
                            let len = Duration::from_secs_f64(
                                payload.len() as f64 / 2.0 / rate.hz() as f64,
                            );
                            if !limiter.admit(len, received) {
                                if limiter.dropped_frames == 1 {
                                    tracing::warn!(call = %uuid, burst_ms = settings.inbound_burst.as_millis() as u64,
                                        "caller audio arrives faster than real time; the excess is dropped");
                                    crate::metrics::limits::hit(
                                        crate::metrics::limits::Limit::InboundFasterThanRealTime,
                                    );
                                }
                                crate::metrics::limits::dropped_caller_audio(len.as_secs_f64());
                                crate::metrics::engines::caller_audio_frame_dropped(
                                    crate::metrics::engines::AudioDrop::FasterThanRealTime);
                                settings.stats.inbound_dropped_frames.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            if playout.call_rate() != rate.hz() {
                                if inbound.rate.is_some() {
                                    tracing::warn!(call = %uuid, from = playout.call_rate(), to = rate.hz(),
                                        "caller audio rate changed mid-call");
                                }
                                playout.set_call_rate(rate.hz());
                            }
                            if let Some(chunk) = inbound.push(rate, &payload, received) {
                                if let Some(tx) = &events_tx {
                                    if tx.try_send(CallEvent::Audio(chunk)).is_err() {
                                        dropped_audio += 1;
                                        crate::metrics::engines::caller_audio_frame_dropped(
                                            crate::metrics::engines::AudioDrop::HandlerBehind);
                                        if dropped_audio == 1 || dropped_audio.is_power_of_two() {
                                            tracing::warn!(call = %uuid, dropped_audio,
                                                "handler is not keeping up; caller audio dropped");
                                        }
                                    }
                                }
                            }
                        }
                        Frame::Dtmf(byte) => {
                            let digit = byte as char;
                            tracing::debug!(call = %uuid, %digit, "DTMF");
                            if let Some(tx) = &events_tx {
                                let _ = tx.try_send(CallEvent::Dtmf { digit, at: inbound.media_time() });
                            }
                        }
                        Frame::Uuid(_) => {
                            tracing::warn!(call = %uuid, "second uuid frame ignored");
                        }
                        Frame::Error(payload) => {
                            tracing::warn!(call = %uuid, payload = ?&payload[..], "error frame from Asterisk");
                        }
                        Frame::Hangup => {
                            // Asterisk never sends this; treat it as the caller hanging up.
                            stop_pacer.cancel();
                            if let Some(tx) = &events_tx {
                                let _ = tx.try_send(CallEvent::Hangup);
                            }
                            break CallEnd::CallerHungUp;
                        }
                    }
                }
            }
        }
    };
    // Tell the handler why the connection went away, when it was not a clean hang-up.
    if let Some(tx) = &events_tx {
        let lost = match &end {
            CallEnd::IoError(e) => Some(LostReason::Reset(e.clone())),
            CallEnd::InboundTimeout(_) => Some(LostReason::Reset(end.to_string())),
            CallEnd::ProtocolError(e) => Some(LostReason::ProtocolError(e.clone())),
            _ => None,
        };
        if let Some(reason) = lost {
            // Waits (briefly) for room: behind a full queue it would be lost, and with it the
            // call's honest outcome.
            let _ =
                tokio::time::timeout(Duration::from_millis(500), tx.send(CallEvent::Lost(reason)))
                    .await;
        }
    }
    if limiter.dropped_frames > 0 {
        tracing::info!(call = %uuid, frames = limiter.dropped_frames,
            secs = format_args!("{:.2}", limiter.dropped.as_secs_f64()),
            "caller audio dropped as faster than real time");
    }
    drop(events_tx);
    if handler_done.is_none() {
        // The handler sees its events end; give it a moment to finish its record.
        if tokio::time::timeout(HANDLER_GRACE, &mut handler_task)
            .await
            .is_err()
        {
            tracing::warn!(call = %uuid, "handler did not return after the call ended; aborted");
            handler_task.abort();
        }
    }
    tracing::info!(call = %uuid, %peer, reason = %end,
        secs = format_args!("{:.1}", started.elapsed().as_secs_f64()), "call ended");
    end
}

/// Asks the pacer for `00 00 00` now and waits for it to be written.
async fn hang_up(
    playout: &Playout,
    pacer: &mut tokio::task::JoinHandle<(PacerEnd, pacer::PacerStats)>,
    end: CallEnd,
) -> CallEnd {
    playout.hangup_now();
    if !pacer.is_finished() {
        let _ = pacer.await;
    }
    end
}

/// Logs a bad frame (or a read error) and hangs up.
async fn protocol_error(
    peer: SocketAddr,
    uuid: Option<uuid::Uuid>,
    e: CodecError,
    playout: &Playout,
    pacer: &mut tokio::task::JoinHandle<(PacerEnd, pacer::PacerStats)>,
) -> CallEnd {
    if let CodecError::Io(e) = &e {
        tracing::info!(?uuid, %peer, error = %e, "socket read failed; closing");
        let end = CallEnd::IoError(e.to_string());
        return hang_up(playout, pacer, end).await;
    }
    match uuid {
        Some(uuid) => tracing::warn!(call = %uuid, %peer, error = %e, "protocol error; hanging up"),
        None => {
            tracing::warn!(%peer, error = %e, "protocol error before the call started; hanging up")
        }
    }
    hang_up(playout, pacer, CallEnd::ProtocolError(e.to_string())).await
}
