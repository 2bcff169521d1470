//! `[ami]`: the Asterisk Manager Interface connection used for hand-over.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// Settings of `[ami]`: the Asterisk Manager Interface connection used for hand-over.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AmiConfig {}

impl AmiConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
