//! A cancel flag shared by the call loop and the engine jobs it starts (LLM generation,
//! Whisper decoding, Piper synthesis): set once, polled by the job at its next step.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Stops a job (barge-in, hang-up, budget). Cheap to clone; cancelling twice is harmless.
#[derive(Debug, Clone, Default)]
pub struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
    /// A fresh, un-cancelled handle.
    pub fn new() -> Self {
        Self::default()
    }
    /// Requests the stop; the job ends at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    /// Whether cancel was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// The flag itself, for engines that poll an `AtomicBool` (whisper's abort callback).
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}
