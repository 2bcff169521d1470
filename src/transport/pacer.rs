//! Outbound playout: one 20 ms frame per 20 ms, paced from a monotonic clock.
//!
//! Frame `n` is due at `start + n·20 ms` and is written `lead` ahead of that (Asterisk plays
//! what it gets at once and drops bursts, so the lead stays small: ≤ 60 ms). Deadlines are
//! computed from the start, never by sleeping 20 ms after each write, so timer lateness does
//! not accumulate into drift. Each frame (header + payload) is built in one buffer and
//! written with one call. Silence fills every frame the handler has nothing for.

use crate::pipeline::playout::HangupRequest;
use crate::pipeline::Playout;
use crate::transport::frame::{encode_audio, AudioRate, HANGUP_BYTES};
use bytes::{BufMut, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Length of one frame.
pub const FRAME: Duration = Duration::from_millis(20);

/// If the pacer wakes up this late (process stalled), it re-bases its clock instead of
/// bursting the missed frames, which Asterisk would drop.
const RESYNC_AFTER: Duration = Duration::from_millis(100);

/// Default of [`PacerLimits::write_stall`].
pub const DEFAULT_WRITE_STALL: Duration = Duration::from_secs(2);

/// How the pacer notices a peer that stopped taking our audio.
///
/// The kernel accepts writes long after the peer stopped acknowledging (our send buffer,
/// which Linux auto-tunes up to megabytes: minutes of audio), so a timeout on `write` alone
/// fires far too late. After each write the pacer also asks the kernel how many written
/// bytes the peer has not acknowledged yet (`SIOCOUTQ`); once that backlog is worth more than
/// `write_stall` of audio, or one write blocks for `write_stall`, the call ends. A peer that
/// reads normally keeps the backlog at about one round trip of audio.
///
/// What TCP cannot show: a peer whose kernel keeps acknowledging while its application is
/// stuck (Linux 6.x grows the receive buffer up to `net.ipv4.tcp_rmem` max, 32 MiB by
/// default). Asterisk's AudioSocket thread both reads from us and sends to us, so such a
/// peer also stops sending: the call task's inbound timeout ends it.
#[derive(Debug, Clone, Copy)]
pub struct PacerLimits {
    /// Unacknowledged audio (or one blocked write) that ends the call.
    pub write_stall: Duration,
    /// The socket to ask for its backlog (`None`: only the blocked-write timeout applies).
    pub backlog_fd: Option<std::os::fd::RawFd>,
}

impl Default for PacerLimits {
    fn default() -> Self {
        PacerLimits {
            write_stall: DEFAULT_WRITE_STALL,
            backlog_fd: None,
        }
    }
}

/// Bytes written to `fd` that the peer has not acknowledged (`SIOCOUTQ`), if the kernel says.
pub fn unacked_bytes(fd: std::os::fd::RawFd) -> Option<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (= SIOCOUTQ) writes one int; `fd` is a socket we own for the call.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) };
    (rc == 0 && n >= 0).then_some(n as usize)
}

/// Why the pacer stopped.
#[derive(Debug)]
pub enum PacerEnd {
    /// It sent `00 00 00` after the queue drained (`hangup_after_drain`).
    HungUpAfterDrain,
    /// It sent `00 00 00` at once (`hangup_now`, shutdown, protocol error).
    HungUpNow,
    /// Told to stop without a hangup frame (the caller already hung up).
    Stopped,
    /// Writing failed (peer gone) or blocked too long.
    WriteFailed(std::io::Error),
}

/// Counters of one pacer run.
#[derive(Debug, Default, Clone, Copy)]
pub struct PacerStats {
    /// Frames written (audio and silence).
    pub frames: u64,
    /// Times the clock was re-based after a stall.
    pub resyncs: u64,
    /// Largest unacknowledged backlog seen (bytes), when the socket reports it.
    pub max_backlog_bytes: usize,
}

/// Writes frames to `writer` until a hangup or `stop`. The call's rate (and so the frame
/// kind and size) is read from `playout` for every frame.
pub async fn run<W: AsyncWrite + Unpin>(
    writer: &mut W,
    playout: Playout,
    lead: Duration,
    stop: CancellationToken,
) -> (PacerEnd, PacerStats) {
    run_limited(writer, playout, lead, stop, PacerLimits::default()).await
}

/// [`run`] with explicit [`PacerLimits`] (the call task passes the socket for its backlog).
pub async fn run_limited<W: AsyncWrite + Unpin>(
    writer: &mut W,
    playout: Playout,
    lead: Duration,
    stop: CancellationToken,
    limits: PacerLimits,
) -> (PacerEnd, PacerStats) {
    let write_timeout = limits.write_stall;
    let mut stats = PacerStats::default();
    let mut start = Instant::now();
    let mut n: u64 = 0;
    let mut pcm: Vec<i16> = Vec::with_capacity(3840);
    let mut buf = BytesMut::with_capacity(3 + 7680);
    // Due time of the frame after the last one that carried audio, once the queue drained
    // under `hangup_after_drain`: the hangup goes out when real time gets there, so the
    // caller hears the whole last sentence.
    let mut hangup_due: Option<Instant> = None;
    let shared = playout.shared().clone();
    loop {
        let due = start + FRAME * n as u32;
        let send_at = hangup_due.unwrap_or_else(|| due.checked_sub(lead).unwrap_or(due));
        tokio::select! {
            biased;
            _ = stop.cancelled() => return (PacerEnd::Stopped, stats),
            _ = shared.wake.notified() => {
                if playout.hangup_request() == HangupRequest::Now {
                    return (hangup(writer, write_timeout).await.unwrap_or_else(PacerEnd::WriteFailed), stats);
                }
                continue;
            }
            _ = tokio::time::sleep_until(send_at) => {}
        }
        match playout.hangup_request() {
            HangupRequest::Now => {
                return (
                    hangup(writer, write_timeout)
                        .await
                        .unwrap_or_else(PacerEnd::WriteFailed),
                    stats,
                )
            }
            HangupRequest::AfterDrain if hangup_due.is_some() => {
                let end = match hangup(writer, write_timeout).await {
                    Ok(_) => PacerEnd::HungUpAfterDrain,
                    Err(e) => PacerEnd::WriteFailed(e),
                };
                return (end, stats);
            }
            HangupRequest::AfterDrain if playout.is_drained() => {
                // Everything queued has been written, up to `lead` early: wait for real
                // time to reach the end of the last frame, sending silence meanwhile.
                hangup_due = Some(due);
                continue;
            }
            _ => {}
        }
        let now = Instant::now();
        if now > due + RESYNC_AFTER {
            // Stalled: pretend this frame is due now rather than bursting the backlog.
            start += now - due;
            stats.resyncs += 1;
            tracing::debug!(late_ms = (now - due).as_millis() as u64, "pacer resync");
        }
        let (rate_hz, had_audio) = playout.take_frame(&mut pcm, now.into_std());
        let rate = AudioRate::from_hz(rate_hz).unwrap_or(AudioRate::Hz8000);
        buf.clear();
        if had_audio {
            encode_audio(rate, &pcm, &mut buf);
        } else {
            // Silence, the common case on an idle call: no per-sample work.
            buf.put_u8(rate.kind());
            buf.put_u16(rate.bytes_per_20ms() as u16);
            buf.put_bytes(0, rate.bytes_per_20ms());
        }
        match tokio::time::timeout(write_timeout, writer.write_all(&buf)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return (PacerEnd::WriteFailed(e), stats),
            Err(_) => {
                let e = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "peer did not read a frame for {} ms",
                        write_timeout.as_millis()
                    ),
                );
                crate::metrics::limits::hit(crate::metrics::limits::Limit::WriteStall);
                return (PacerEnd::WriteFailed(e), stats);
            }
        }
        if let Some(backlog) = limits.backlog_fd.and_then(unacked_bytes) {
            stats.max_backlog_bytes = stats.max_backlog_bytes.max(backlog);
            // Bytes per second of what we send: the frame just built, 50 frames a second.
            let per_sec = buf.len() as u128 * 50;
            let stall_bytes = per_sec * write_timeout.as_millis() / 1000;
            if backlog as u128 > stall_bytes.max(buf.len() as u128 * 4) {
                let e = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "peer stopped reading: {backlog} bytes (over {} ms of audio) not acknowledged",
                        write_timeout.as_millis()
                    ),
                );
                crate::metrics::limits::hit(crate::metrics::limits::Limit::WriteStall);
                return (PacerEnd::WriteFailed(e), stats);
            }
        }
        stats.frames += 1;
        n += 1;
    }
}

/// Writes `00 00 00` (bounded in time) and flushes.
async fn hangup<W: AsyncWrite + Unpin>(
    writer: &mut W,
    timeout: Duration,
) -> std::io::Result<PacerEnd> {
    match tokio::time::timeout(timeout, async {
        writer.write_all(&HANGUP_BYTES).await?;
        writer.flush().await
    })
    .await
    {
        Ok(Ok(())) => Ok(PacerEnd::HungUpNow),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "peer did not read the hangup frame in time",
        )),
    }
}
