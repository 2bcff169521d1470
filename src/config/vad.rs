//! `[vad]`: voice activity detection and endpointing.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// Settings of `[vad]`: voice activity detection and endpointing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VadConfig {}

impl VadConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
