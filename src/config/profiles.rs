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
}

impl Default for ProfilesConfig {
    fn default() -> Self {
        ProfilesConfig {
            file: PathBuf::from("profiles.toml"),
            default: String::new(),
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
        Ok(())
    }
}
