//! `[campaign]`: the outbound dialler `agent serve` runs for campaigns in state `running`.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// Settings of `[campaign]`: how outbound calls are placed (the rules of each campaign —
/// window, pacing, retries — live with the campaign in the records database).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignConfig {
    /// Run the dialler inside `agent serve` (needs `[ami] enabled` and `[records] enabled`).
    pub enabled: bool,
    /// Channel to dial; `{phone}` is replaced by the contact's number.
    pub channel: String,
    /// Dialplan context the answered call enters (it must run AudioSocket with `${AS_UUID}`).
    pub context: String,
    /// Extension in that context.
    pub exten: String,
    /// How long a call may ring (s).
    pub ring_timeout_secs: u64,
    /// Caller id to present; empty: the trunk's default.
    pub caller_id: String,
    /// Time between scheduling passes (ms).
    pub tick_ms: u64,
    /// Lease of a claimed call (s): another agent process resolves a call whose lease ran out.
    pub lease_secs: u64,
    /// Longest an answered call is followed before the attempt is resolved from the records (s).
    pub max_call_secs: u64,
    /// Classify answers with the dialog LLM (grammar-constrained), word lists as the fallback;
    /// false: word lists only.
    pub classify_with_llm: bool,
}

impl Default for CampaignConfig {
    fn default() -> Self {
        CampaignConfig {
            enabled: false,
            channel: "Local/{phone}@enclave-dial".into(),
            context: "enclave-outbound".into(),
            exten: "s".into(),
            ring_timeout_secs: 30,
            caller_id: String::new(),
            tick_ms: 1000,
            lease_secs: 30,
            max_call_secs: 900,
            classify_with_llm: true,
        }
    }
}

impl CampaignConfig {
    /// Range checks; the channel must carry `{phone}`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.channel.contains("{phone}") || self.channel.contains(['\r', '\n']) {
            return Err(ConfigError::invalid(
                "campaign.channel",
                "one line with {phone} in it, e.g. PJSIP/{phone}@trunk or Local/{phone}@enclave-dial",
            ));
        }
        for (key, v) in [
            ("campaign.context", &self.context),
            ("campaign.exten", &self.exten),
        ] {
            if v.trim().is_empty() || v.contains(['\r', '\n', ',']) {
                return Err(ConfigError::invalid(
                    key,
                    "a dialplan name: one line, no commas",
                ));
            }
        }
        if !(5..=300).contains(&self.ring_timeout_secs) {
            return Err(ConfigError::invalid(
                "campaign.ring_timeout_secs",
                "allowed 5..=300",
            ));
        }
        if !(50..=60_000).contains(&self.tick_ms) {
            return Err(ConfigError::invalid(
                "campaign.tick_ms",
                "allowed 50..=60000",
            ));
        }
        if !(5..=3600).contains(&self.lease_secs) || self.lease_secs * 1000 <= self.tick_ms {
            return Err(ConfigError::invalid(
                "campaign.lease_secs",
                "allowed 5..=3600 and longer than campaign.tick_ms",
            ));
        }
        if !(30..=86_400).contains(&self.max_call_secs) {
            return Err(ConfigError::invalid(
                "campaign.max_call_secs",
                "allowed 30..=86400",
            ));
        }
        Ok(())
    }
}
