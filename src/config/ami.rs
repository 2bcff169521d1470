//! `[ami]`: the Asterisk Manager Interface connection used for hand-over.

use super::ConfigError;
use serde::{Deserialize, Serialize, Serializer};
use std::path::PathBuf;

/// Settings of `[ami]`: the Asterisk Manager Interface connection used for hand-over.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AmiConfig {
    /// Whether the agent connects to AMI (needed to hand calls over with `AGENT_ACTION`).
    pub enabled: bool,
    /// Host of Asterisk's manager interface.
    pub host: String,
    /// TCP port of Asterisk's manager interface (`manager.conf` `port`).
    pub port: u16,
    /// AMI user (`[user]` in `manager.conf`; needs `read = call,dialplan` and `write = call`).
    pub username: String,
    /// AMI password; prefer `secret_file`. Printed as `<redacted>` by `config check`.
    #[serde(serialize_with = "redact_secret")]
    pub secret: String,
    /// File holding the AMI password (first line, surrounding whitespace trimmed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// How long one action may wait for its response (ms).
    pub action_timeout_ms: u64,
    /// Longest wait between reconnect attempts (ms); waits double from 250 ms up to this, with jitter.
    pub reconnect_max_backoff_ms: u64,
    /// Interval of `Ping` keepalives (ms); a ping without a response drops and redials the connection.
    pub ping_interval_ms: u64,
}

impl Default for AmiConfig {
    fn default() -> Self {
        AmiConfig {
            enabled: false,
            host: "127.0.0.1".into(),
            port: 5038,
            username: String::new(),
            secret: String::new(),
            secret_file: None,
            action_timeout_ms: 3000,
            reconnect_max_backoff_ms: 30_000,
            ping_interval_ms: 20_000,
        }
    }
}

impl std::fmt::Debug for AmiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmiConfig")
            .field("enabled", &self.enabled)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field(
                "secret",
                &if self.secret.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("secret_file", &self.secret_file)
            .field("action_timeout_ms", &self.action_timeout_ms)
            .field("reconnect_max_backoff_ms", &self.reconnect_max_backoff_ms)
            .field("ping_interval_ms", &self.ping_interval_ms)
            .finish()
    }
}

/// Serialises a non-empty secret as `<redacted>` so `config check` never prints it.
fn redact_secret<S: Serializer>(secret: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if secret.is_empty() { "" } else { "<redacted>" })
}

impl AmiConfig {
    /// Range checks; when enabled, a user and exactly one of `secret` / `secret_file`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(100..=60_000).contains(&self.action_timeout_ms) {
            return Err(ConfigError::invalid(
                "ami.action_timeout_ms",
                "allowed 100..=60000",
            ));
        }
        if !(250..=600_000).contains(&self.reconnect_max_backoff_ms) {
            return Err(ConfigError::invalid(
                "ami.reconnect_max_backoff_ms",
                "allowed 250..=600000",
            ));
        }
        if !(1000..=600_000).contains(&self.ping_interval_ms) {
            return Err(ConfigError::invalid(
                "ami.ping_interval_ms",
                "allowed 1000..=600000",
            ));
        }
        if !self.enabled {
            return Ok(());
        }
        if self.host.trim().is_empty() {
            return Err(ConfigError::invalid(
                "ami.host",
                "must not be empty when ami.enabled = true",
            ));
        }
        if self.port == 0 {
            return Err(ConfigError::invalid(
                "ami.port",
                "must not be 0; Asterisk's default is 5038",
            ));
        }
        if self.username.trim().is_empty() || self.username.contains(['\r', '\n']) {
            return Err(ConfigError::invalid(
                "ami.username",
                "required when ami.enabled = true: the [user] of manager.conf, one line",
            ));
        }
        match (self.secret.is_empty(), &self.secret_file) {
            (true, None) => Err(ConfigError::invalid(
                "ami.secret",
                "ami.enabled = true needs ami.secret or ami.secret_file",
            )),
            (false, Some(_)) => Err(ConfigError::invalid(
                "ami.secret_file",
                "give either ami.secret or ami.secret_file, not both",
            )),
            (false, None) if self.secret.contains(['\r', '\n']) => Err(ConfigError::invalid(
                "ami.secret",
                "must be one line (AMI is a line-based protocol)",
            )),
            _ => Ok(()),
        }
    }

    /// The password: `secret`, or the first line of `secret_file` trimmed.
    pub fn resolve_secret(&self) -> Result<String, ConfigError> {
        let Some(path) = &self.secret_file else {
            return Ok(self.secret.clone());
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::invalid(
                "ami.secret_file",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let secret = text.lines().next().unwrap_or("").trim().to_string();
        if secret.is_empty() {
            return Err(ConfigError::invalid(
                "ami.secret_file",
                format!(
                    "{} is empty; put the AMI password on its first line",
                    path.display()
                ),
            ));
        }
        Ok(secret)
    }
}
