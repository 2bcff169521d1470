//! Asterisk Manager Interface client: login, action/response correlation, events, reconnect.
//!
//! [`AmiClient::start`] connects in the background and keeps reconnecting (capped, jittered
//! exponential backoff, fresh login each time). Every action carries an `ActionID`; one reader
//! task routes `Response` messages to the waiting caller by that id (responses may come out of
//! order and interleaved with events) and `Event` messages to a broadcast channel and the
//! uuid → channel map ([`ChannelMap`]). The hand-over design (dialplan `Set(AS_UUID=…)`,
//! `VarSet` events, three `Setvar`s) is described in `channels.rs` and `handover.rs`.
//!
//! The AMI user needs `read = call,dialplan` (Hangup is a `call` event, VarSet a `dialplan`
//! one) and `write = call` (Setvar, Getvar, Redirect) in `manager.conf`.

mod channels;
mod client;
mod handover;
mod message;
mod originate;

pub use channels::{ChannelMap, ENTRY_TTL, MAX_ENTRIES, UUID_VARIABLE};
pub use client::{AmiClient, AmiSettings, BANNER_PREFIX};
pub use handover::{check_name, sanitize_summary, NAME_MAX_BYTES, SUMMARY_MAX_BYTES};
pub use message::{encode_action, LineCodec, Message, MAX_LINE_BYTES};
pub use originate::{
    describe_reason, HangupInfo, OriginateRequest, OriginateResult, PendingOriginate,
    REASON_ANSWERED, REASON_BUSY, REASON_CONGESTION, REASON_FAILED, REASON_HANGUP, REASON_RINGING,
};

use std::time::Duration;

/// What went wrong talking to Asterisk.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AmiError {
    /// `[ami]` is unusable (e.g. the secret file cannot be read).
    #[error("AMI configuration: {0}")]
    Config(String),
    /// The TCP connection could not be made.
    #[error("cannot connect to AMI at {addr}: {message} (is Asterisk running and [ami] host/port right?)")]
    Connect {
        /// `host:port`.
        addr: String,
        /// OS error.
        message: String,
    },
    /// Asterisk refused the login.
    #[error("AMI login refused: {0} (check [ami] username/secret against manager.conf)")]
    AuthFailed(String),
    /// No response in time.
    #[error("AMI {action}: no response within {after:?}")]
    Timeout {
        /// Action (or phase) that timed out.
        action: String,
        /// The limit.
        after: Duration,
    },
    /// The connection dropped.
    #[error("AMI disconnected: {0}")]
    Disconnected(String),
    /// No connection came up in time for an action.
    #[error("AMI {action}: not connected{}", last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    NotConnected {
        /// The action that could not be sent.
        action: String,
        /// Why the last connection attempt failed.
        last_error: Option<String>,
    },
    /// Asterisk answered `Response: Error`.
    #[error("AMI {action} failed: {message}")]
    ActionFailed {
        /// The action.
        action: String,
        /// Asterisk's `Message:`.
        message: String,
    },
    /// Something that is not AMI, or a broken message.
    #[error("AMI protocol error: {0}")]
    Protocol(String),
    /// A field cannot be sent as given.
    #[error("AMI field {field}: {reason}")]
    InvalidField {
        /// Field name.
        field: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// No channel is known for an AudioSocket uuid.
    #[error("no AMI channel known for call {uuid} after {waited:?}: does the dialplan Set(AS_UUID=${{UUID()}}) before AudioSocket, and may the AMI user read dialplan events?")]
    UnknownUuid {
        /// The call.
        uuid: uuid::Uuid,
        /// How long it waited.
        waited: Duration,
    },
    /// The client was shut down.
    #[error("AMI client stopped")]
    Stopped,
}
