//! How a call ends and what its record says: the honest outcome of each way a call can stop.

use crate::pipeline::LostReason;
use crate::records::CallOutcome as RecordOutcome;

/// How the call is to end, once what is queued has been played.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// Hand over to a human: the AMI variables are being set; `confirmed` once Asterisk
    /// accepted them (then the agent hangs up into the dialplan).
    Transfer {
        /// Why (for `AGENT_SUMMARY`).
        reason: String,
        /// The variables are set.
        confirmed: bool,
    },
    /// Hang up with this outcome.
    Hangup {
        /// The record's outcome.
        outcome: RecordOutcome,
    },
}

/// Why the call loop stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// The caller hung up (clean EOF).
    CallerHangup,
    /// The connection ended abnormally.
    Lost(LostReason),
    /// The agent's playout ended (it hung up) or the server closed the call.
    Agent,
}

/// The record's outcome and error for a call that ended with `ending` (if one was begun)
/// because of `stop`. `errors` are what went wrong during the call (failed hand-overs…).
///
/// A reset counts as the caller's hang-up: Asterisk resets the socket in ordinary hang-ups.
/// A protocol error is `protocol_error`, with its reason in the error.
pub fn outcome(
    ending: Option<&Ending>,
    stop: &Stop,
    errors: &[String],
) -> (RecordOutcome, Option<String>) {
    let mut errors: Vec<String> = errors.to_vec();
    let outcome = match (ending, stop) {
        (
            Some(Ending::Transfer {
                confirmed: true, ..
            }),
            _,
        ) => RecordOutcome::Transferred,
        // Still waiting for Asterisk's answer when the call stopped: not transferred.
        (Some(Ending::Transfer { .. }), Stop::Agent) => {
            errors.push("the call ended before the hand-over was confirmed".into());
            RecordOutcome::Error
        }
        (Some(Ending::Hangup { outcome }), _) => *outcome,
        (_, Stop::CallerHangup) | (_, Stop::Lost(LostReason::Reset(_))) => {
            RecordOutcome::CallerHangup
        }
        (_, Stop::Lost(LostReason::ProtocolError(reason))) => {
            errors.push(format!("AudioSocket protocol error: {reason}"));
            RecordOutcome::ProtocolError
        }
        (None, Stop::Agent) => RecordOutcome::Shutdown,
    };
    let error = (!errors.is_empty()).then(|| errors.join("; "));
    (outcome, error)
}
