//! The call's wall-clock rules as a pure decider: maximum call length, the LLM budget, and
//! silence re-prompts (then giving up). The call loop ticks it with what it sees and applies
//! the [`TimerAction`].

use std::time::Duration;

/// Limits from `[conversation]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimersConfig {
    /// Longest call; `None` = no limit.
    pub max_call: Option<Duration>,
    /// Caller silence before a re-prompt; `None` = never.
    pub reprompt_after: Option<Duration>,
    /// Give up after this many unanswered re-prompts in a row (0 = never).
    pub hangup_after_reprompts: u32,
}

impl TimersConfig {
    /// From `[conversation]`.
    pub fn from_conversation(cfg: &crate::config::ConversationConfig) -> TimersConfig {
        TimersConfig {
            max_call: (cfg.max_call_secs > 0).then(|| Duration::from_secs(cfg.max_call_secs)),
            reprompt_after: (cfg.reprompt_after_secs > 0.0)
                .then(|| Duration::from_secs_f64(cfg.reprompt_after_secs)),
            hangup_after_reprompts: cfg.hangup_after_reprompts,
        }
    }
}

/// What the call looks like at a tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TickState {
    /// Time since the call started.
    pub elapsed: Duration,
    /// The LLM has been waited on this long for the reply's first sentence (None: not waiting).
    pub llm_waiting: Option<Duration>,
    /// How long it may be waited on (transcript → first reply sentence), fitted to the box.
    pub llm_budget: Duration,
    /// Nobody talks and nothing is being worked on.
    pub quiet: bool,
    /// Time since the agent or the caller was last active.
    pub idle: Duration,
}

/// What to do at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerAction {
    /// Nothing.
    None,
    /// The maximum call length was reached: goodbye and hang up.
    MaxLength,
    /// No reply sentence within the LLM budget: fail the turn.
    LlmOverBudget,
    /// The caller is silent: say the re-prompt.
    Reprompt,
    /// The caller stayed silent after the re-prompts: goodbye and hang up.
    GiveUp,
}

/// The wall-clock rules of one call.
#[derive(Debug)]
pub struct Timers {
    cfg: TimersConfig,
    reprompts: u32,
}

impl Timers {
    /// No re-prompt said yet.
    pub fn new(cfg: TimersConfig) -> Timers {
        Timers { cfg, reprompts: 0 }
    }

    /// The caller spoke: the re-prompt count starts again.
    pub fn caller_spoke(&mut self) {
        self.reprompts = 0;
    }

    /// Re-prompts said in a row.
    pub fn reprompts(&self) -> u32 {
        self.reprompts
    }

    /// One tick (the caller then applies the action; a `Reprompt` counts as said).
    pub fn on_tick(&mut self, s: TickState) -> TimerAction {
        if self.cfg.max_call.is_some_and(|m| s.elapsed >= m) {
            return TimerAction::MaxLength;
        }
        if s.llm_waiting.is_some_and(|w| w >= s.llm_budget) {
            return TimerAction::LlmOverBudget;
        }
        match self.cfg.reprompt_after {
            Some(after) if s.quiet && s.idle >= after => {
                let limit = self.cfg.hangup_after_reprompts;
                if limit > 0 && self.reprompts >= limit {
                    TimerAction::GiveUp
                } else {
                    self.reprompts += 1;
                    TimerAction::Reprompt
                }
            }
            _ => TimerAction::None,
        }
    }
}
