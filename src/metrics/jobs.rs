//! Blocking engine jobs in flight (Whisper decodes, Piper syntheses, Silero and turn-model
//! inferences, LLM steps), counted per engine so tests and `/metrics`
//! (`enclave_engine_jobs_active{engine}`) can prove that cancelled work really stops.

use std::sync::atomic::{AtomicI64, Ordering};

/// The engines whose blocking jobs are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Whisper speech recognition.
    Asr,
    /// Piper synthesis.
    Tts,
    /// Silero voice activity detection.
    Vad,
    /// The end-of-turn model (smart-turn).
    Turn,
    /// llama.cpp decoding.
    Llm,
}

impl Engine {
    /// Every engine, in a fixed order.
    pub const ALL: [Engine; 5] = [
        Engine::Asr,
        Engine::Tts,
        Engine::Vad,
        Engine::Turn,
        Engine::Llm,
    ];

    /// The `engine` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Asr => "asr",
            Engine::Tts => "tts",
            Engine::Vad => "vad",
            Engine::Turn => "turn",
            Engine::Llm => "llm",
        }
    }

    fn slot(self) -> &'static AtomicI64 {
        &ACTIVE[self as usize]
    }
}

static ACTIVE: [AtomicI64; 5] = [
    AtomicI64::new(0),
    AtomicI64::new(0),
    AtomicI64::new(0),
    AtomicI64::new(0),
    AtomicI64::new(0),
];

/// Counts one job as running until dropped (hold it inside the blocking closure, so it is
/// released when the work itself ends, not when its awaiting task gives up).
#[derive(Debug)]
#[must_use = "the job counts as running only while the guard lives"]
pub struct JobGuard(Engine);

/// Starts counting a job of `engine`.
pub fn job(engine: Engine) -> JobGuard {
    engine.slot().fetch_add(1, Ordering::SeqCst);
    JobGuard(engine)
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        self.0.slot().fetch_sub(1, Ordering::SeqCst);
    }
}

static QUEUED: [AtomicI64; 5] = [
    AtomicI64::new(0),
    AtomicI64::new(0),
    AtomicI64::new(0),
    AtomicI64::new(0),
    AtomicI64::new(0),
];

/// Counts one job as waiting for its engine (a worker slot, a session) until dropped:
/// `enclave_engine_jobs_queued{engine}`.
#[derive(Debug)]
#[must_use = "the job counts as queued only while the guard lives"]
pub struct QueuedGuard(Engine);

/// Starts counting a job of `engine` as queued (drop the guard once it starts running).
pub fn queued(engine: Engine) -> QueuedGuard {
    QUEUED[engine as usize].fetch_add(1, Ordering::SeqCst);
    QueuedGuard(engine)
}

impl Drop for QueuedGuard {
    fn drop(&mut self) {
        QUEUED[self.0 as usize].fetch_sub(1, Ordering::SeqCst);
    }
}

/// Jobs of `engine` waiting now, in this process.
pub fn queued_now(engine: Engine) -> i64 {
    QUEUED[engine as usize].load(Ordering::SeqCst)
}

/// Jobs of `engine` running now, in this process.
pub fn active(engine: Engine) -> i64 {
    engine.slot().load(Ordering::SeqCst)
}

/// Jobs of every engine running now, in this process.
pub fn active_total() -> i64 {
    Engine::ALL.iter().map(|e| active(*e)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_counts_while_alive() {
        let before = active(Engine::Turn);
        let g = job(Engine::Turn);
        assert_eq!(active(Engine::Turn), before + 1);
        drop(g);
        assert_eq!(active(Engine::Turn), before);
    }
}
