//! Outbound campaigns: call a contact list through Asterisk AMI `Originate`, talk, classify
//! the answer, and tell the business system through the outbox.
//!
//! - [`rules`]: calling window in each contact's IANA time zone (chrono-tz: a fixed UTC
//!   offset would call Moscow right but New York an hour off for half the year), days,
//!   pacing, retries per result.
//! - [`scheduler`]: the pure decision "which contacts now", tested with scripted clocks.
//! - [`store`]: the state in the records database (schema v4); claiming is one transaction,
//!   so no contact is dialled twice at once, across restarts and processes.
//! - [`runner`]: the loop that claims, dials (`crate::ami::AmiClient::originate`), follows
//!   the call to its end, classifies ([`classify`]) and records the result with its events.
//! - [`csv_io`]: contact import and result export.

pub mod classify;
pub mod csv_io;
pub mod rules;
pub mod runner;
pub mod scheduler;
pub mod store;

pub use classify::{Classification, Classifier, Decision};
pub use rules::{CampaignRules, DialResult, RetryDelays, Rules};
pub use runner::{
    Clock, DialSettings, MachineDetector, ManualClock, RunnerHandle, RunnerSettings, SystemClock,
};
pub use store::{CampaignStatus, CampaignStore, Claimed, ImportReport, NewContact, OutboundCall};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What went wrong with a campaign; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// The rules are unusable.
    #[error("campaign rules: {0}")]
    Rules(String),
    /// A contact is unusable.
    #[error("contact: {0}")]
    Contact(String),
    /// A request that cannot be done (bad transition, duplicate id).
    #[error("{0}")]
    Invalid(String),
    /// Something named does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// SQLite failed.
    #[error("records database {path}: {what}: {source}")]
    Db {
        /// Database file.
        path: PathBuf,
        /// What was being done.
        what: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Opening the records database failed.
    #[error("{0}")]
    Records(String),
    /// A stored value cannot be read back.
    #[error("records database: corrupt value in {0}")]
    Corrupt(String),
    /// A CSV file could not be read or written.
    #[error("CSV {0}")]
    Csv(String),
}

/// Where a campaign stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Created, contacts being added; nothing is dialled.
    Draft,
    /// Dialling.
    Running,
    /// No new calls; calls in flight finish. `resume` continues.
    Paused,
    /// Ended by the operator; no new calls ever.
    Stopped,
    /// Every contact has its final result.
    Finished,
}

impl CampaignState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Draft => "draft",
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Stopped => "stopped",
            CampaignState::Finished => "finished",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<CampaignState> {
        [
            CampaignState::Draft,
            CampaignState::Running,
            CampaignState::Paused,
            CampaignState::Stopped,
            CampaignState::Finished,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// What the agent says on a campaign's calls; `{name}`-style placeholders are filled from the
/// contact's variables (see `crate::app::outbound`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignScript {
    /// The first thing said, e.g. "Hello {name}, this is the clinic."
    pub greeting: String,
    /// The question to settle, e.g. "Will you come on {appointment}?"
    pub question: String,
    /// Added to the profile's system prompt for these calls.
    pub instructions: String,
}

/// Fills `{key}` placeholders in `template` from `vars` (strings as they are, numbers and
/// booleans printed; unknown keys are left as written so a typo is visible in tests).
pub fn fill_placeholders(
    template: &str,
    vars: &serde_json::Map<String, serde_json::Value>,
) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close)
                if after[..close]
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_') =>
            {
                let key = &after[..close];
                match vars.get(key) {
                    Some(serde_json::Value::String(s)) => out.push_str(s),
                    Some(serde_json::Value::Null) | None => {
                        out.push('{');
                        out.push_str(key);
                        out.push('}');
                    }
                    Some(v) => out.push_str(&v.to_string()),
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_from_the_contact() {
        let vars = serde_json::json!({"name": "Анна", "amount": 1250, "appointment": "10:30"});
        let vars = vars.as_object().unwrap();
        assert_eq!(
            fill_placeholders(
                "Hello {name}, {amount} RUB at {appointment}; {missing} {",
                vars
            ),
            "Hello Анна, 1250 RUB at 10:30; {missing} {"
        );
    }
}
