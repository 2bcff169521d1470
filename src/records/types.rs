//! What a call record holds: the call, its turns, their latencies and tool calls.

use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// How a call ended (`calls.outcome`, and the `outcome` label of `enclave_calls_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// The conversation finished normally and the agent hung up after its goodbye.
    Completed,
    /// The call was handed over (AGENT_ACTION / Redirect).
    Transferred,
    /// The caller hung up (EOF on the AudioSocket).
    CallerHangup,
    /// The agent hung up for another reason (policy, max duration reached by design).
    AgentHangup,
    /// The call failed (see `calls.error`).
    Error,
    /// The caller stayed silent or a stage took too long.
    Timeout,
    /// The agent was shut down while the call ran.
    Shutdown,
    /// The peer broke the AudioSocket protocol (see `calls.error`).
    ProtocolError,
}

impl CallOutcome {
    /// Every outcome, in a fixed order.
    pub const ALL: [CallOutcome; 8] = [
        CallOutcome::Completed,
        CallOutcome::Transferred,
        CallOutcome::CallerHangup,
        CallOutcome::AgentHangup,
        CallOutcome::Error,
        CallOutcome::Timeout,
        CallOutcome::Shutdown,
        CallOutcome::ProtocolError,
    ];

    /// The stored text and label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Completed => "completed",
            CallOutcome::Transferred => "transferred",
            CallOutcome::CallerHangup => "caller_hangup",
            CallOutcome::AgentHangup => "agent_hangup",
            CallOutcome::Error => "error",
            CallOutcome::Timeout => "timeout",
            CallOutcome::Shutdown => "shutdown",
            CallOutcome::ProtocolError => "protocol_error",
        }
    }

    /// Parses the stored text.
    pub fn parse(s: &str) -> Option<CallOutcome> {
        CallOutcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Position in [`CallOutcome::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Who spoke a turn (`turns.role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The caller (transcribed speech).
    Caller,
    /// The agent (what it said, or started to say if interrupted).
    Agent,
    /// A tool call made by the agent outside of speech.
    Tool,
}

impl Role {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Caller => "caller",
            Role::Agent => "agent",
            Role::Tool => "tool",
        }
    }

    /// Parses the stored text.
    pub fn parse(s: &str) -> Option<Role> {
        [Role::Caller, Role::Agent, Role::Tool]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// Which models served the call (`calls.models`, JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelsUsed {
    /// ASR model name or file.
    pub asr: Option<String>,
    /// LLM model name or file.
    pub llm: Option<String>,
    /// TTS voice name or file.
    pub tts: Option<String>,
    /// VAD model name.
    pub vad: Option<String>,
}

/// A call began.
#[derive(Debug, Clone, PartialEq)]
pub struct CallStart {
    /// AudioSocket uuid of the call.
    pub uuid: Uuid,
    /// Caller id, if Asterisk passed one.
    pub caller_id: Option<String>,
    /// When the call began.
    pub started_at: SystemTime,
    /// Conversation language (`ru`, `en`), if known at the start.
    pub language: Option<String>,
    /// Models serving the call.
    pub models: ModelsUsed,
    /// The agent profile answering it (`None` outside a profile, e.g. a bare handler).
    pub profile: Option<String>,
}

/// A call ended.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEnd {
    /// AudioSocket uuid of the call.
    pub uuid: Uuid,
    /// When the call ended.
    pub ended_at: SystemTime,
    /// How it ended.
    pub outcome: CallOutcome,
    /// Where it was handed over (`AGENT_TARGET`), when transferred.
    pub transfer_target: Option<String>,
    /// Language finally used, if it was detected during the call (overrides the start value).
    pub language: Option<String>,
    /// What went wrong, for `error`/`timeout` outcomes.
    pub error: Option<String>,
}

/// Latencies of one turn in milliseconds; `None` where the stage did not run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnLatencies {
    /// End of caller speech → endpoint decided.
    pub endpointing_ms: Option<u32>,
    /// Endpoint → final transcript.
    pub asr_ms: Option<u32>,
    /// Transcript → first LLM token.
    pub llm_ttft_ms: Option<u32>,
    /// Transcript → first complete sentence.
    pub llm_first_sentence_ms: Option<u32>,
    /// First sentence → first TTS audio.
    pub tts_first_audio_ms: Option<u32>,
    /// End of caller speech → first agent audio frame sent.
    pub turn_latency_ms: Option<u32>,
}

/// One tool call made during a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRecord {
    /// Tool name.
    pub name: String,
    /// Arguments as the LLM produced them.
    pub arguments: serde_json::Value,
    /// What the tool returned (or the error text).
    pub result: serde_json::Value,
    /// How long the tool ran (ms).
    pub duration_ms: u64,
}

/// One completed turn.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnRecord {
    /// Call the turn belongs to.
    pub call_uuid: Uuid,
    /// Order within the call, from 0.
    pub seq: u32,
    /// Who spoke.
    pub role: Role,
    /// What was said (redacted on write if configured).
    pub text: String,
    /// Turn start.
    pub started_at: SystemTime,
    /// Turn end.
    pub ended_at: SystemTime,
    /// Stage latencies.
    pub latencies: TurnLatencies,
    /// Whether the caller barged in over this (agent) turn.
    pub interrupted: bool,
    /// Tool calls made in this turn.
    pub tool_calls: Vec<ToolCallRecord>,
}

/// A call as stored, read back by [`super::RecordStore::load_call`].
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCall {
    /// Call uuid.
    pub uuid: Uuid,
    /// Caller id.
    pub caller_id: Option<String>,
    /// Start, unix ms.
    pub started_at_ms: i64,
    /// End, unix ms (unset while the call runs, or if the end was never written).
    pub ended_at_ms: Option<i64>,
    /// Duration (ms).
    pub duration_ms: Option<i64>,
    /// Outcome (unset while the call runs).
    pub outcome: Option<CallOutcome>,
    /// Transfer target.
    pub transfer_target: Option<String>,
    /// Language.
    pub language: Option<String>,
    /// Models.
    pub models: ModelsUsed,
    /// Error text.
    pub error: Option<String>,
    /// Turns in `seq` order.
    pub turns: Vec<StoredTurn>,
}

/// A turn as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTurn {
    /// Order within the call.
    pub seq: u32,
    /// Who spoke.
    pub role: Role,
    /// Stored (possibly redacted) text.
    pub text: String,
    /// Start, unix ms.
    pub started_at_ms: i64,
    /// End, unix ms.
    pub ended_at_ms: i64,
    /// Latencies.
    pub latencies: TurnLatencies,
    /// Barged in over.
    pub interrupted: bool,
    /// Tool calls.
    pub tool_calls: Vec<ToolCallRecord>,
}

/// Unix time in milliseconds (times before 1970 clamp to 0).
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}
