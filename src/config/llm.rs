//! `[llm]`: the llama.cpp dialog model and its tools.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// Settings of `[llm]`: the llama.cpp dialog model and its tools.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {}

impl LlmConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
