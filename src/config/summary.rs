//! `[summary]`: the post-call summary and outcome, and the hand-over summary.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// Settings of `[summary]`: a short summary and a structured outcome of every call, written to
/// `calls.summary` / `calls.disposition` and published as a `call.completed` event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SummaryConfig {
    /// Summarise every ended call (needs `[records] enabled`).
    pub enabled: bool,
    /// Ask the dialog LLM; `false` writes the extractive summary (the caller's first
    /// substantive turn) without touching the model.
    pub use_llm: bool,
    /// Most tokens of the summary sentence(s) the LLM may write.
    pub max_tokens: u32,
    /// Post-call summaries use the LLM only while fewer calls than this are active (1 = only
    /// when the agent is idle; 0 = `llm.max_parallel`); one runs at a time, and it is cancelled
    /// as soon as the load reaches this, so it never delays a live call's turn.
    pub max_active_calls: u32,
    /// How long a summary may wait for the load to drop (s) before the extractive summary is written instead.
    pub defer_secs: u64,
    /// Time the LLM gets for the hand-over summary before the operator gets the extractive one (ms).
    pub handover_budget_ms: u64,
    /// At start, summarise calls that ended up to this many hours ago without a summary (a crash
    /// or restart between the end of a call and its summary); 0 = none.
    pub catch_up_hours: u32,
}

impl Default for SummaryConfig {
    fn default() -> Self {
        SummaryConfig {
            enabled: true,
            use_llm: true,
            max_tokens: 60,
            max_active_calls: 1,
            defer_secs: 300,
            handover_budget_ms: 800,
            catch_up_hours: 24,
        }
    }
}

impl SummaryConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(8..=512).contains(&self.max_tokens) {
            return Err(ConfigError::invalid(
                "summary.max_tokens",
                "allowed 8..=512",
            ));
        }
        if self.defer_secs > 86_400 {
            return Err(ConfigError::invalid(
                "summary.defer_secs",
                "allowed 0..=86400",
            ));
        }
        if self.handover_budget_ms > 10_000 {
            return Err(ConfigError::invalid(
                "summary.handover_budget_ms",
                "allowed 0..=10000 (the caller waits for the hand-over meanwhile)",
            ));
        }
        if self.catch_up_hours > 24 * 365 {
            return Err(ConfigError::invalid(
                "summary.catch_up_hours",
                "allowed 0..=8760",
            ));
        }
        Ok(())
    }
}
