//! `[records]`: call records in SQLite, WAV recordings, retention and redaction.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// Settings of `[records]`: call records in SQLite, WAV recordings, retention and redaction.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RecordsConfig {}

impl RecordsConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
