//! Budgets that fit the box: how long a stage may take before the turn is given up.
//!
//! A fixed budget is either too tight for a small busy CPU (the caller hears an apology instead
//! of an answer) or too loose for a fast one. A [`StageBudget`] learns what the stage costs
//! here — the ASR's is calibrated once at start-up, then every turn updates both — and allows a
//! margin over it, scaled with the amount of work (seconds of audio for the ASR; one reply's
//! first sentence for the LLM) and the jobs queued ahead of it; the configured budget
//! (`asr_budget_ms`, `llm_budget_ms`) is the floor.

use std::sync::Mutex;
use std::time::Duration;

/// Allowed slowdown over the learned cost before a job counts as stuck.
const MARGIN: f64 = 3.0;
/// Never wait longer than this for one job.
const CAP: Duration = Duration::from_secs(60);
/// Weight of a new observation in the running estimate.
const ALPHA: f64 = 0.3;

/// The learned cost of one job on this machine.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cost {
    /// Fixed part (Whisper's encoder runs on a whole window whatever the length), seconds.
    fixed_s: f64,
    /// Per unit of work, seconds (the decoder per second of audio; the encoder with a dynamic
    /// window).
    per_audio_s: f64,
}

/// A stage's budget for every call in the process (shared: they run on the same CPU).
#[derive(Debug)]
pub struct StageBudget {
    floor: Duration,
    adaptive: bool,
    cost: Mutex<Option<Cost>>,
}

impl StageBudget {
    /// `floor` is the configured budget; without `adaptive` it is the budget.
    pub fn new(floor: Duration, adaptive: bool) -> StageBudget {
        StageBudget {
            floor,
            adaptive,
            cost: Mutex::new(None),
        }
    }

    /// The budget for `audio_s` units of work (seconds of audio) with `ahead` jobs queued
    /// before it (each costs about as much as this one).
    pub fn budget(&self, audio_s: f64, ahead: usize) -> Duration {
        if !self.adaptive {
            return self.floor;
        }
        let Some(cost) = *self.cost.lock().expect("budget lock") else {
            return self.floor;
        };
        let one = cost.fixed_s.max(cost.per_audio_s * audio_s.max(0.0));
        let want =
            Duration::from_secs_f64((MARGIN * one * (1 + ahead) as f64).min(CAP.as_secs_f64()));
        want.max(self.floor)
    }

    /// A job of `audio_s` units took `took`, with `ahead` queued before it.
    pub fn observe(&self, audio_s: f64, took: Duration, ahead: usize) {
        if !self.adaptive || audio_s <= 0.0 {
            return;
        }
        // The time of this job alone (queued jobs ran first on the same cores).
        let solo = took.as_secs_f64() / (1 + ahead) as f64;
        let seen = Cost {
            fixed_s: solo,
            per_audio_s: solo / audio_s,
        };
        let mut cost = self.cost.lock().expect("budget lock");
        *cost = Some(match *cost {
            None => seen,
            Some(c) => Cost {
                fixed_s: c.fixed_s + ALPHA * (seen.fixed_s - c.fixed_s),
                per_audio_s: c.per_audio_s + ALPHA * (seen.per_audio_s - c.per_audio_s),
            },
        });
    }
}
