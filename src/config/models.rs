//! `[models]`: where model files live and how they are verified.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// Settings of `[models]`: where model files live and how they are verified.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {}

impl ModelsConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
