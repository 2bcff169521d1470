//! `[profiles]`: where the agent profiles file is and which profile answers on `[server] listen`.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Settings of `[profiles]`: the profiles file (several named agents in one process).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProfilesConfig {
    /// The profiles file (TOML, `[profiles.NAME]` tables; see `crate::profiles`). A missing
    /// file means no profiles beyond agent.toml's own; the API creates it on the first edit.
    pub file: PathBuf,
    /// The profile that answers calls on `[server] listen`; "" = agent.toml alone (shown as
    /// the profile `default`).
    pub default: String,
    /// Channel variable naming the profile for calls on `[server] listen`, read over AMI
    /// (`Set(AGENT_PROFILE=sales)` in the dialplan before `Set(AS_UUID=…)`); "" = off. Needs
    /// `[ami]`. An unset or unknown value leaves the call with the default profile.
    pub ami_variable: String,
    /// How long a call on `[server] listen` waits for its AMI channel and variable (ms)
    /// before the default profile answers.
    pub ami_wait_ms: u64,
}

impl Default for ProfilesConfig {
    fn default() -> Self {
        ProfilesConfig {
            file: PathBuf::from("profiles.toml"),
            default: String::new(),
            ami_variable: String::new(),
            ami_wait_ms: 500,
        }
    }
}

impl ProfilesConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.file.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                "profiles.file",
                "must not be empty; give a file path such as \"profiles.toml\"",
            ));
        }
        if !self.default.is_empty() && !crate::profiles::valid_name(&self.default) {
            return Err(ConfigError::invalid(
                "profiles.default",
                "a profile name: 1-32 of a-z 0-9 _ -, starting with a letter or digit",
            ));
        }
        if !self.ami_variable.is_empty()
            && !self
                .ami_variable
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(ConfigError::invalid(
                "profiles.ami_variable",
                "a channel variable name (letters, digits, _), e.g. \"AGENT_PROFILE\"",
            ));
        }
        if self.ami_wait_ms > 5000 {
            return Err(ConfigError::invalid(
                "profiles.ami_wait_ms",
                "allowed 0..=5000 (the caller hears silence meanwhile)",
            ));
        }
        Ok(())
    }
}
