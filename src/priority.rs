//! CPU priority between the engines on a small box: work a caller is waiting on right now (a
//! finished turn's transcription, the first audio of a reply) goes before work whose result
//! is needed only later (the LLM's next sentences while the first one plays).
//!
//! Why: on two cores the LLM decoding a reply's second sentence and Piper synthesising its
//! first share the CPU, and both engines' worker threads spin while they wait — the first
//! audio took 216 ms in a call against 72 ms alone. A generation marked [`Deferral`] waits
//! (at the LLM scheduler's next step) while any [`ForegroundJob`] runs, as long as its own
//! caller has audio coming; the caller who has nothing to hear yet is never made to wait.

use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// Counts the foreground jobs running in the process (one CPU, so one count).
#[derive(Debug, Default)]
pub struct CpuPriority {
    running: Mutex<usize>,
    idle: Condvar,
}

impl CpuPriority {
    /// A new, independent count (tests); the agent uses [`CpuPriority::process`].
    pub fn new() -> Arc<CpuPriority> {
        Arc::new(CpuPriority::default())
    }

    /// The process's count: every call and engine shares the same cores.
    pub fn process() -> Arc<CpuPriority> {
        static PROCESS: OnceLock<Arc<CpuPriority>> = OnceLock::new();
        Arc::clone(PROCESS.get_or_init(CpuPriority::new))
    }

    /// Marks a job a caller is waiting on until the guard is dropped.
    pub fn foreground(self: &Arc<Self>) -> ForegroundJob {
        *self.lock() += 1;
        ForegroundJob {
            priority: Arc::clone(self),
        }
    }

    /// Whether a foreground job is running.
    pub fn is_busy(&self) -> bool {
        *self.lock() > 0
    }

    /// Waits until no foreground job runs, at most `timeout`; returns whether it is idle.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let guard = self.lock();
        let (guard, _) = self
            .idle
            .wait_timeout_while(guard, timeout, |running| *running > 0)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        // The count stays right even if a holder panicked: guards only add and subtract.
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running foreground job (see [`CpuPriority::foreground`]); dropping it ends the job.
#[derive(Debug)]
pub struct ForegroundJob {
    priority: Arc<CpuPriority>,
}

impl Drop for ForegroundJob {
    fn drop(&mut self) {
        let mut running = self.priority.lock();
        *running = running.saturating_sub(1);
        if *running == 0 {
            self.priority.idle.notify_all();
        }
    }
}

/// Lets a call's LLM generation wait for foreground work while its caller has audio coming.
#[derive(Clone)]
pub struct Deferral {
    priority: Arc<CpuPriority>,
    has_audio_ahead: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl std::fmt::Debug for Deferral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferral")
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}

impl Deferral {
    /// Generation may wait for `priority`'s foreground jobs while `has_audio_ahead` says the
    /// caller has enough of this reply queued or being synthesised not to hear a gap.
    pub fn new(
        priority: Arc<CpuPriority>,
        has_audio_ahead: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Deferral {
        Deferral {
            priority,
            has_audio_ahead: Arc::new(has_audio_ahead),
        }
    }

    /// Whether the generation should skip this step: foreground work runs and the caller
    /// has audio ahead.
    pub fn should_wait(&self) -> bool {
        self.priority.is_busy() && (self.has_audio_ahead)()
    }

    /// Waits until the foreground work ends, at most `timeout`.
    pub fn wait(&self, timeout: Duration) {
        self.priority.wait_idle(timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn a_generation_waits_only_while_foreground_work_runs_and_its_caller_has_audio_ahead() {
        let priority = CpuPriority::new();
        let ahead = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&ahead);
        let deferral = Deferral::new(Arc::clone(&priority), move || flag.load(Ordering::SeqCst));
        assert!(!deferral.should_wait(), "nothing in the foreground");
        let job = priority.foreground();
        let second = priority.foreground();
        assert!(deferral.should_wait());
        ahead.store(false, Ordering::SeqCst);
        assert!(!deferral.should_wait(), "the caller would hear a gap");
        ahead.store(true, Ordering::SeqCst);
        drop(job);
        assert!(deferral.should_wait(), "one foreground job still runs");
        drop(second);
        assert!(!deferral.should_wait());
        assert!(priority.wait_idle(Duration::ZERO));
    }

    #[test]
    fn wait_idle_wakes_when_the_last_foreground_job_ends() {
        let priority = CpuPriority::new();
        let job = priority.foreground();
        assert!(!priority.wait_idle(Duration::from_millis(5)), "still busy");
        let waiter = {
            let priority = Arc::clone(&priority);
            std::thread::spawn(move || {
                let t0 = std::time::Instant::now();
                (priority.wait_idle(Duration::from_secs(30)), t0.elapsed())
            })
        };
        drop(job);
        let (idle, waited) = waiter.join().unwrap();
        assert!(idle);
        assert!(
            waited < Duration::from_secs(10),
            "woken by the job's end, not the 30 s timeout: {waited:?}"
        );
    }
}
