//! The seam between a call's transport and the handler that converses on it, plus the echo handler.
//!
//! The call task ([`crate::transport`]) owns the socket. It hands the caller's audio to a
//! [`CallHandler`] as 16 kHz [`AudioChunk`]s stamped with media time, and plays whatever the
//! handler queues on its [`Playout`], paced at 20 ms per frame at the call's rate.

pub mod echo;
pub mod playout;

pub use echo::EchoHandler;
pub use playout::{
    CutItem, ItemProgress, ItemState, PlayId, Playout, PlayoutError, PlayoutProgress,
};

use futures::future::BoxFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Rate of the audio handed to handlers (what ASR and VAD want).
pub const HANDLER_RATE_HZ: u32 = 16_000;

/// What is known about a call when its handler starts.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// The uuid Asterisk sent (the dialplan's `AudioSocket(uuid, …)`).
    pub uuid: uuid::Uuid,
    /// Asterisk's address.
    pub peer: SocketAddr,
    /// When the connection was accepted.
    pub started: Instant,
}

/// A piece of the caller's audio, resampled to 16 kHz.
#[derive(Debug, Clone)]
pub struct AudioChunk {
    /// Mono 16 kHz samples in [-1, 1] (the caller's 16-bit audio over 32768, resampled).
    pub samples_16k: Vec<f32>,
    /// Media time of the first sample: counted from the samples received since the call
    /// started (not wall clock), so it has no network jitter in it.
    pub at: Duration,
    /// When the frame carrying this audio arrived.
    pub received: Instant,
}

impl AudioChunk {
    /// Duration of the chunk.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples_16k.len() as f64 / HANDLER_RATE_HZ as f64)
    }
}

/// Something that happened on the caller's side.
#[derive(Debug, Clone)]
pub enum CallEvent {
    /// Caller audio.
    Audio(AudioChunk),
    /// A DTMF digit ended, at this media time.
    Dtmf {
        /// The digit (`0`-`9`, `*`, `#`, `A`-`D`).
        digit: char,
        /// Media time of the caller audio received so far.
        at: Duration,
    },
    /// The caller hung up (EOF); no more events follow.
    Hangup,
    /// The connection ended without a clean EOF; no more events follow.
    Lost(LostReason),
}

/// Why a call's connection ended abnormally (see [`CallEvent::Lost`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostReason {
    /// The peer reset the socket (or another I/O error). Asterisk does this in ordinary calls
    /// when the caller hangs up, so records count it as a caller hang-up.
    Reset(String),
    /// The peer broke the AudioSocket protocol (the message says how).
    ProtocolError(String),
}

/// How a handler's conversation ended (logged by the call task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// The handler finished the conversation (and usually hung up through its [`Playout`]).
    Finished,
    /// The caller hung up first.
    CallerHungUp,
    /// The handler failed; the message says why.
    Failed(String),
}

/// Converses on one call: reads caller events, plays audio. One instance serves every call
/// (models are shared); per-call state lives in the future `run` returns.
pub trait CallHandler: Send + Sync + 'static {
    /// Runs one call until it ends. `events` closes after [`CallEvent::Hangup`] or when the
    /// call ends for another reason. When the returned future completes, the call task
    /// finishes what is queued on `out` and hangs up.
    fn run(
        &self,
        info: CallInfo,
        events: mpsc::Receiver<CallEvent>,
        out: Playout,
    ) -> BoxFuture<'static, CallOutcome>;
}

/// The echo handler as `[server]` configures it. (The conversation handler needs its
/// engines loaded first: see [`crate::conversation::Stack`].)
pub fn echo_handler(config: &crate::config::Config) -> Arc<dyn CallHandler> {
    Arc::new(EchoHandler::new(Duration::from_millis(
        config.server.echo_delay_ms,
    )))
}
