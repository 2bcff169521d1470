//! `[tts]`: Piper text-to-speech.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// Settings of `[tts]`: Piper text-to-speech.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TtsConfig {}

impl TtsConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
