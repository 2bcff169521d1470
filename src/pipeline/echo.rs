//! [`EchoHandler`]: plays back what the caller says after a fixed delay (tests the transport).

use super::{CallEvent, CallHandler, CallInfo, CallOutcome, Playout, HANDLER_RATE_HZ};
use crate::audio::resample::StreamResampler;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::time::Duration;
use tokio::sync::mpsc;

/// Echoes the caller's audio back, `delay` later.
///
/// The delay is queued once, as silence, when the caller's first audio arrives; every chunk
/// is then queued at once behind it. Caller and pacer both run at real time, so the queue
/// holds the delay constant without timers of its own, and the echo has no gaps. The 16 kHz
/// chunks are resampled back to the call's rate by one streaming resampler, so chunk edges
/// join without clicks (resampling each 20 ms item on its own would not).
#[derive(Debug, Clone)]
pub struct EchoHandler {
    delay: Duration,
}

impl EchoHandler {
    /// An echo handler with this delay.
    pub fn new(delay: Duration) -> EchoHandler {
        EchoHandler { delay }
    }
}

impl CallHandler for EchoHandler {
    fn run(
        &self,
        info: CallInfo,
        mut events: mpsc::Receiver<CallEvent>,
        out: Playout,
    ) -> BoxFuture<'static, CallOutcome> {
        let delay = self.delay;
        async move {
            let mut back: Option<StreamResampler> = None;
            let mut buf = Vec::new();
            while let Some(event) = events.recv().await {
                match event {
                    CallEvent::Audio(chunk) => {
                        let rate = out.call_rate();
                        if back.as_ref().map(|r| r.to_hz()) != Some(rate) {
                            match StreamResampler::new(HANDLER_RATE_HZ, rate) {
                                Ok(r) => back = Some(r),
                                Err(e) => return CallOutcome::Failed(e.to_string()),
                            }
                            let pad = (delay.as_secs_f64() * rate as f64).round() as usize;
                            if pad > 0 && out.play(vec![0.0; pad], rate).is_err() {
                                return CallOutcome::Finished;
                            }
                        }
                        buf.clear();
                        if let Some(r) = back.as_mut() {
                            r.process(&chunk.samples_16k, &mut buf);
                        }
                        if !buf.is_empty() && out.play(std::mem::take(&mut buf), rate).is_err() {
                            return CallOutcome::Finished;
                        }
                    }
                    CallEvent::Dtmf { digit, at } => {
                        tracing::info!(call = %info.uuid, %digit, at_ms = at.as_millis() as u64, "DTMF");
                    }
                    CallEvent::Hangup | CallEvent::Lost(_) => return CallOutcome::CallerHungUp,
                }
            }
            CallOutcome::CallerHungUp
        }
        .boxed()
    }
}
