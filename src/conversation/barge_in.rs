//! May the caller interrupt the agent now? A pure state machine over caller audio (voiced or
//! not, with its media time) and the agent's playout (talking or not): it says when to cut.
//!
//! The rule: caller speech of at least `min_speech` in a row, while the agent is talking and
//! has been for longer than `protect` (the first syllables of each reply are protected from
//! its own echo and line clicks).

use std::time::Duration;

/// Barge-in settings (from `[conversation]`).
#[derive(Debug, Clone, PartialEq)]
pub struct BargeInConfig {
    /// Interruptions allowed at all.
    pub enabled: bool,
    /// Voiced caller audio in a row that interrupts.
    pub min_speech: Duration,
    /// At the start of each stretch of agent speech, this long cannot be interrupted.
    pub protect: Duration,
}

impl BargeInConfig {
    /// From `[conversation]`.
    pub fn from_conversation(cfg: &crate::config::ConversationConfig) -> BargeInConfig {
        BargeInConfig {
            enabled: cfg.barge_in,
            min_speech: Duration::from_millis(cfg.barge_in_min_speech_ms as u64),
            protect: Duration::from_millis(cfg.barge_in_protect_ms as u64),
        }
    }
}

/// What [`BargeIn`] tells the call loop after a piece of caller audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BargeInAction {
    /// Nothing to do.
    None,
    /// Caller speech during the protected start of the agent's speech: not an interruption.
    Protected,
    /// Stop the agent's playout now and cancel its reply.
    Cut,
}

/// The barge-in state of one call.
#[derive(Debug)]
pub struct BargeIn {
    cfg: BargeInConfig,
    /// Voiced caller audio in a row.
    speech_run: Duration,
    /// Media time at which the agent started talking after being silent.
    talking_since: Option<Duration>,
}

impl BargeIn {
    /// A machine with the agent silent.
    pub fn new(cfg: BargeInConfig) -> BargeIn {
        BargeIn {
            cfg,
            speech_run: Duration::ZERO,
            talking_since: None,
        }
    }

    /// The agent queued speech at media time `now` (only the first of a stretch counts).
    pub fn agent_started(&mut self, now: Duration) {
        self.talking_since.get_or_insert(now);
    }

    /// The agent's playout is empty again (played out or cut).
    pub fn agent_stopped(&mut self) {
        self.talking_since = None;
    }

    /// Whether a stretch of agent speech is in progress.
    pub fn agent_talking(&self) -> bool {
        self.talking_since.is_some()
    }

    /// Voiced caller audio in a row, so far.
    pub fn speech_run(&self) -> Duration {
        self.speech_run
    }

    /// A piece of caller audio of length `len` ending at media time `now`; `voiced` at the
    /// VAD's threshold; `agent_audible` while the playout still has agent audio queued.
    pub fn on_caller_audio(
        &mut self,
        now: Duration,
        len: Duration,
        voiced: bool,
        agent_audible: bool,
    ) -> BargeInAction {
        if voiced {
            self.speech_run += len;
        } else {
            self.speech_run = Duration::ZERO;
        }
        if !agent_audible {
            self.talking_since = None;
        }
        let Some(since) = self.talking_since else {
            return BargeInAction::None;
        };
        if !self.cfg.enabled || self.speech_run < self.cfg.min_speech {
            return BargeInAction::None;
        }
        if now.saturating_sub(since) < self.cfg.protect {
            return BargeInAction::Protected;
        }
        self.talking_since = None;
        BargeInAction::Cut
    }
}
