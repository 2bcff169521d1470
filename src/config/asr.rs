//! `[asr]`: Whisper speech recognition.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// Settings of `[asr]`: Whisper speech recognition.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AsrConfig {}

impl AsrConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
