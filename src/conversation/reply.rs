//! The agent's reply in progress and the caller's turn it answers, until both are recorded.

use super::turn_taking::UtteranceId;
use crate::pipeline::PlayId;
use crate::records::{ToolCallRecord, TurnLatencies};
use std::time::{Instant, SystemTime};

/// The agent's reply in progress: what was queued, and its timing.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The caller's utterance it answers (None for fixed phrases).
    pub(crate) utterance: Option<UtteranceId>,
    /// Played items of the reply with their text, in order.
    pub(crate) sentences: Vec<(PlayId, String)>,
    /// When the caller stopped speaking (wall clock, estimated from media time).
    pub(crate) end_of_speech: Instant,
    /// The caller's transcript, recorded when the turn goes on to the LLM.
    pub(crate) caller_text: Option<String>,
    /// When the LLM was given the transcript.
    pub(crate) llm_started: Option<Instant>,
    pub(crate) latencies: TurnLatencies,
    pub(crate) started_at: SystemTime,
    pub(crate) tools: Vec<ToolCallRecord>,
    /// No more sentences will come (the turn task finished, or a fixed phrase).
    pub(crate) generated: bool,
    /// A reply to the caller's speech, whose latency is measured (not a fixed phrase).
    pub(crate) measure_latency: bool,
}

impl Reply {
    /// A reply made only of fixed phrases (greeting, re-prompt, apology).
    pub(crate) fn phrase() -> Reply {
        Reply {
            utterance: None,
            sentences: Vec::new(),
            end_of_speech: Instant::now(),
            caller_text: None,
            llm_started: None,
            latencies: TurnLatencies::default(),
            started_at: SystemTime::now(),
            tools: Vec::new(),
            generated: true,
            measure_latency: false,
        }
    }

    /// A reply to the caller's utterance `id`, which stopped `behind` ago.
    pub(crate) fn answer(id: UtteranceId, end_of_speech: Instant, endpointing_ms: u32) -> Reply {
        Reply {
            utterance: Some(id),
            end_of_speech,
            latencies: TurnLatencies {
                endpointing_ms: Some(endpointing_ms),
                ..Default::default()
            },
            generated: false,
            measure_latency: true,
            ..Reply::phrase()
        }
    }

    /// What the agent said (or queued) in this reply.
    pub(crate) fn text(&self) -> String {
        let parts: Vec<&str> = self.sentences.iter().map(|(_, s)| s.as_str()).collect();
        parts.join(" ")
    }
}

/// The caller's answered turn, written to the record once the answer can no longer be
/// retracted (its first audio was heard, or the turn ended).
#[derive(Debug)]
pub(crate) struct CallerTurn {
    pub(crate) utterance: UtteranceId,
    pub(crate) text: String,
    pub(crate) started_at: SystemTime,
    pub(crate) latencies: TurnLatencies,
}
