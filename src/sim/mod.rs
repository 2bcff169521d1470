//! A simulated Asterisk (`agent call`): places AudioSocket calls, records replies, reports timing.
//!
//! It behaves like Asterisk's `AudioSocket()` application: connects with a 2000 ms timeout,
//! sends `01 00 10` + uuid, streams audio in real time (one frame per 20 ms from a monotonic
//! clock), interleaves DTMF frames, and checks what the agent sends the way Asterisk does:
//! any kind other than audio or hangup, a zero-length or odd audio frame, or a payload that
//! arrives more than 5 ms after its header ends the call.

pub mod bench_calls;
pub mod echo;
pub mod echo_bench;
pub mod report;
pub mod turn_bench;

pub use echo::EchoOptions;
pub use report::{CallEndReason, CallReport, IntervalStats};

use crate::audio::{pcm, resample};
use crate::transport::frame::{AudioRate, HEADER_LEN, KIND_DTMF, KIND_HANGUP, KIND_UUID};
use bytes::{Buf, BufMut, BytesMut};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Asterisk's connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(2000);

/// Asterisk gives up on a payload this long after its header ("Poll timed out").
pub const PAYLOAD_TIMEOUT: Duration = Duration::from_millis(5);

/// A received sample above this magnitude (about -60 dBFS) counts as audible.
const AUDIBLE: i16 = 33;

/// Why a simulated call could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Connecting failed or timed out.
    #[error("cannot connect to {addr}: {message}")]
    Connect {
        /// Agent address.
        addr: SocketAddr,
        /// What happened.
        message: String,
    },
    /// The audio to send could not be prepared.
    #[error("cannot prepare the caller audio: {0}")]
    Audio(String),
    /// Options that make no sense.
    #[error("invalid call options: {0}")]
    Options(String),
}

/// What the simulated caller does.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// Agent address.
    pub addr: SocketAddr,
    /// Call uuid (random when `None`).
    pub uuid: Option<uuid::Uuid>,
    /// Caller audio (mono, any supported rate) and its rate; `None` sends no audio.
    pub audio: Option<(Vec<f32>, u32)>,
    /// Rate to send at: 8000 (kind 0x10, 320-byte frames) or 16000 (0x12, 640 bytes), etc.
    pub send_rate: AudioRate,
    /// DTMF digits and the seconds after the start of audio at which they are sent.
    pub dtmf: Vec<(char, f64)>,
    /// Hang up (close) this long after connecting.
    pub hangup_after: Option<Duration>,
    /// Keep the call open this long after the audio ends (then hang up).
    pub linger: Duration,
    /// Keep what the agent sends in [`CallReport::recorded`].
    pub record: bool,
    /// The caller's audio starts this long after connecting (silence frames before it).
    pub audio_at: Duration,
    /// The agent's own audio leaks back into the caller's audio (level, delay).
    pub echo: Option<EchoOptions>,
}

impl CallOptions {
    /// Defaults: 8 kHz, no audio, random uuid, 2 s linger, recording on.
    pub fn new(addr: SocketAddr) -> CallOptions {
        CallOptions {
            addr,
            uuid: None,
            audio: None,
            send_rate: AudioRate::Hz8000,
            dtmf: Vec::new(),
            hangup_after: None,
            linger: Duration::from_secs(2),
            record: true,
            audio_at: Duration::ZERO,
            echo: None,
        }
    }
}

/// Parses `--dtmf "1@2.5,0@4.0"` into digits and times.
pub fn parse_dtmf(spec: &str) -> Result<Vec<(char, f64)>, SimError> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (d, t) = part
            .split_once('@')
            .ok_or_else(|| SimError::Options(format!("DTMF `{part}`: expected DIGIT@SECONDS")))?;
        let mut chars = d.chars();
        let digit = match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_digit() || "*#ABCD".contains(c) => c,
            _ => {
                return Err(SimError::Options(format!(
                    "DTMF `{part}`: the digit must be one of 0-9 * # A-D"
                )))
            }
        };
        let secs: f64 = t
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| SimError::Options(format!("DTMF `{part}`: bad time `{t}`")))?;
        out.push((digit, secs));
    }
    out.sort_by(|a, b| a.1.total_cmp(&b.1));
    Ok(out)
}

/// What the reader saw so far (kept outside the futures so a caller hangup keeps it).
#[derive(Default)]
struct Observed {
    agent_rate: Option<u32>,
    rate_changes: u64,
    frames: u64,
    sizes: BTreeMap<usize, u64>,
    arrivals: Vec<Instant>,
    first_audible: Option<Instant>,
    last_audible: Option<Instant>,
    /// Arrival and audibility of every agent frame (for stop-time measurements).
    audible_frames: Vec<(Instant, bool)>,
    recorded: Vec<i16>,
}

/// Places one call and reports what happened. Errors only if the call cannot start.
pub async fn place_call(opts: CallOptions) -> Result<CallReport, SimError> {
    let frames_out = prepare_audio(&opts)?;
    let uuid = opts.uuid.unwrap_or_else(uuid::Uuid::new_v4);
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(opts.addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Err(SimError::Connect {
                addr: opts.addr,
                message: e.to_string(),
            })
        }
        Err(_) => {
            return Err(SimError::Connect {
                addr: opts.addr,
                message: "timed out after 2000 ms".into(),
            })
        }
    };
    let _ = stream.set_nodelay(true);
    let start = Instant::now();
    let (mut rd, mut wr) = stream.into_split();
    let mut seen = Observed::default();
    let mut sent = (0u64, 0u64);
    let echo = opts
        .echo
        .map(|e| std::sync::Mutex::new(echo::EchoLine::new(e, opts.send_rate.hz())));
    let ended = {
        let reader = read_agent(&mut rd, &mut seen, opts.record, start, echo.as_ref());
        tokio::pin!(reader);
        tokio::select! {
            r = &mut reader => r,
            w = write_caller(&mut wr, uuid, &frames_out, &opts, start, &mut sent, echo.as_ref()) => match w {
                // A failed write usually means the agent hung up and closed: the hangup
                // frame (or EOF) is waiting in our receive buffer. Let the reader say.
                CallEndReason::IoError(e) => tokio::time::timeout(Duration::from_millis(500), reader)
                    .await
                    .unwrap_or(CallEndReason::IoError(e)),
                other => other,
            },
        }
    };
    // Hang up our side: both halves dropped = close.
    drop(wr);
    drop(rd);
    let rel = |t: Instant| (t - start).as_secs_f64() * 1000.0;
    let intervals: Vec<f64> = seen
        .arrivals
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1000.0)
        .collect();
    Ok(CallReport {
        uuid: uuid.to_string(),
        agent_rate_hz: seen.agent_rate,
        agent_rate_changes: seen.rate_changes,
        frames_received: seen.frames,
        frame_sizes: seen.sizes,
        frames_sent: sent.0,
        dtmf_sent: sent.1,
        first_audio_ms: seen.arrivals.first().map(|&t| rel(t)),
        first_non_silent_ms: seen.first_audible.map(rel),
        last_non_silent_ms: seen.last_audible.map(rel),
        intervals: IntervalStats::from_intervals(&intervals),
        intervals_ms: intervals,
        ended,
        duration_ms: rel(Instant::now()),
        audible_ms: seen
            .audible_frames
            .iter()
            .map(|&(t, a)| (rel(t), a))
            .collect(),
        recorded: seen.recorded,
    })
}

/// The caller's audio as 20 ms payloads at the send rate (the last one may be short).
fn prepare_audio(opts: &CallOptions) -> Result<Vec<Vec<i16>>, SimError> {
    let Some((samples, rate)) = &opts.audio else {
        return Ok(Vec::new());
    };
    let converted = resample::resample(samples, *rate, opts.send_rate.hz())
        .map_err(|e| SimError::Audio(e.to_string()))?;
    let pcm = pcm::f32_slice_to_i16(&converted);
    Ok(pcm
        .chunks(opts.send_rate.samples_per_20ms())
        .map(<[i16]>::to_vec)
        .collect())
}

/// Sends uuid, audio and DTMF in real time, then lingers; returns when the caller hangs up.
/// With an echo or a delayed start the line carries audio frames all along (silence, the
/// caller's speech from `audio_at`, plus the echo), as a real phone line does.
async fn write_caller(
    wr: &mut OwnedWriteHalf,
    uuid: uuid::Uuid,
    frames: &[Vec<i16>],
    opts: &CallOptions,
    start: Instant,
    sent: &mut (u64, u64),
    echo: Option<&std::sync::Mutex<echo::EchoLine>>,
) -> CallEndReason {
    let mut buf = BytesMut::with_capacity(HEADER_LEN + 7680);
    buf.put_u8(KIND_UUID);
    buf.put_u16(16);
    buf.put_slice(uuid.as_bytes());
    if let Err(e) = wr.write_all(&buf).await {
        return CallEndReason::IoError(e.to_string());
    }
    let hangup_at = opts.hangup_after.map(|d| start + d);
    let frame = Duration::from_millis(20);
    let mut dtmf = opts.dtmf.iter().peekable();
    let per_frame = opts.send_rate.samples_per_20ms();
    // Frames of silence before the caller's audio.
    let lead = (opts.audio_at.as_secs_f64() * 50.0).round() as u32;
    let continuous = echo.is_some() || lead > 0;
    let audio_end = start + frame * (lead + frames.len() as u32);
    let linger_end = audio_end + opts.linger;
    let total = if continuous {
        lead + frames.len() as u32 + (opts.linger.as_secs_f64() * 50.0).floor() as u32
    } else {
        frames.len() as u32
    };
    let mut mixed = vec![0f32; per_frame];
    let mut k: u32 = 0;
    loop {
        let next_audio = (k < total).then(|| start + frame * k);
        let next_dtmf = dtmf
            .peek()
            .map(|(_, s)| start + Duration::from_secs_f64(*s));
        let mut wake = linger_end;
        for t in [next_audio, next_dtmf, hangup_at].into_iter().flatten() {
            wake = wake.min(t);
        }
        tokio::time::sleep_until(wake).await;
        let now = Instant::now();
        if hangup_at.is_some_and(|h| now >= h) || (next_audio.is_none() && now >= linger_end) {
            return CallEndReason::CallerHangup;
        }
        buf.clear();
        while let Some((digit, _)) =
            dtmf.next_if(|(_, s)| start + Duration::from_secs_f64(*s) <= now)
        {
            buf.put_u8(KIND_DTMF);
            buf.put_u16(1);
            buf.put_u8(*digit as u8);
            sent.1 += 1;
        }
        if let Some(due) = next_audio {
            if due <= now {
                let own = k
                    .checked_sub(lead)
                    .and_then(|i| frames.get(i as usize))
                    .map_or(&[][..], |f| &f[..]);
                if continuous {
                    mixed.iter_mut().for_each(|s| *s = 0.0);
                    for (m, s) in mixed.iter_mut().zip(own) {
                        *m = *s as f32 / 32768.0;
                    }
                    if let Some(line) = echo {
                        line.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .mix_into(k as u64 * per_frame as u64, &mut mixed);
                    }
                    buf.put_u8(opts.send_rate.kind());
                    buf.put_u16((per_frame * 2) as u16);
                    for s in &mixed {
                        buf.put_i16_le(pcm::f32_to_i16(*s));
                    }
                } else {
                    buf.put_u8(opts.send_rate.kind());
                    buf.put_u16((own.len() * 2) as u16);
                    for s in own {
                        buf.put_i16_le(*s);
                    }
                }
                k += 1;
                sent.0 += 1;
            }
        }
        if !buf.is_empty() {
            if let Err(e) = wr.write_all(&buf).await {
                return CallEndReason::IoError(e.to_string());
            }
        }
    }
}

/// Reads the agent's frames like Asterisk does, until the call ends; each frame is also
/// "played" into the echo line, if any.
async fn read_agent(
    rd: &mut OwnedReadHalf,
    seen: &mut Observed,
    record: bool,
    start: Instant,
    echo: Option<&std::sync::Mutex<echo::EchoLine>>,
) -> CallEndReason {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    // When the header of the frame at the front of `buf` arrived (if it has).
    let mut header_at: Option<Instant> = None;
    loop {
        // Parse every complete frame.
        loop {
            if buf.len() < HEADER_LEN {
                break;
            }
            let kind = buf[0];
            let len = u16::from_be_bytes([buf[1], buf[2]]) as usize;
            let header_time = *header_at.get_or_insert_with(Instant::now);
            if kind == KIND_HANGUP {
                return CallEndReason::AgentHangup;
            }
            let Some(rate) = AudioRate::from_kind(kind) else {
                return CallEndReason::ProtocolViolation(format!(
                    "agent sent frame kind 0x{kind:02x} (length {len}); only audio and hangup are allowed"
                ));
            };
            if len == 0 {
                return CallEndReason::ProtocolViolation(format!(
                    "agent sent a zero-length audio frame (kind 0x{kind:02x})"
                ));
            }
            if len % 2 == 1 {
                return CallEndReason::ProtocolViolation(format!(
                    "agent sent an odd-length audio frame ({len} bytes)"
                ));
            }
            if buf.len() < HEADER_LEN + len {
                break;
            }
            let now = Instant::now();
            if now - header_time > PAYLOAD_TIMEOUT {
                return CallEndReason::PollTimeout(format!(
                    "payload of {len} bytes arrived {:.1} ms after its header",
                    (now - header_time).as_secs_f64() * 1000.0
                ));
            }
            buf.advance(HEADER_LEN);
            let payload = buf.split_to(len);
            header_at = None;
            if seen.agent_rate != Some(rate.hz()) {
                // The agent answers at the caller's rate once it has heard the caller; the
                // frames before that are at 8 kHz. Keep the recording at the latest rate.
                if let Some(old) = seen.agent_rate {
                    seen.rate_changes += 1;
                    if record {
                        let f = pcm::i16_slice_to_f32(&seen.recorded);
                        if let Ok(r) = resample::resample(&f, old, rate.hz()) {
                            seen.recorded = pcm::f32_slice_to_i16(&r);
                        }
                    }
                }
                seen.agent_rate = Some(rate.hz());
            }
            seen.frames += 1;
            *seen.sizes.entry(len).or_default() += 1;
            seen.arrivals.push(header_time);
            let mut audible = false;
            let samples: Vec<i16> = payload
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            for &s in &samples {
                audible |= s.unsigned_abs() > AUDIBLE as u16;
            }
            if record {
                seen.recorded.extend_from_slice(&samples);
            }
            if let Some(line) = echo {
                line.lock().unwrap_or_else(|p| p.into_inner()).played(
                    header_time.saturating_duration_since(start),
                    &samples,
                    rate.hz(),
                );
            }
            seen.audible_frames.push((header_time, audible));
            if audible {
                seen.first_audible.get_or_insert(header_time);
                seen.last_audible = Some(header_time);
            }
        }
        // Wait for more, no longer than Asterisk would for a pending payload.
        let read = match header_at {
            Some(h) if buf.len() >= HEADER_LEN => {
                let deadline = h + PAYLOAD_TIMEOUT;
                match tokio::time::timeout_at(deadline, rd.read_buf(&mut buf)).await {
                    Ok(r) => r,
                    Err(_) => {
                        return CallEndReason::PollTimeout(format!(
                            "payload did not arrive within 5 ms of its header ({} of {} bytes)",
                            buf.len() - HEADER_LEN,
                            u16::from_be_bytes([buf[1], buf[2]])
                        ))
                    }
                }
            }
            _ => rd.read_buf(&mut buf).await,
        };
        match read {
            Ok(0) => return CallEndReason::AgentClosed,
            Ok(_) => {
                if header_at.is_none() && buf.len() >= HEADER_LEN {
                    header_at = Some(Instant::now());
                }
            }
            Err(e) => return CallEndReason::IoError(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_spec_parses_and_rejects_garbage() {
        assert_eq!(
            parse_dtmf("1@2.5, #@0.5").unwrap(),
            vec![('#', 0.5), ('1', 2.5)]
        );
        assert!(parse_dtmf("12@1").is_err());
        assert!(parse_dtmf("x@1").is_err());
        assert!(parse_dtmf("1@-2").is_err());
        assert!(parse_dtmf("1").is_err());
        assert!(parse_dtmf("").unwrap().is_empty());
    }
}
