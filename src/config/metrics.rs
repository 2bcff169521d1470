//! `[metrics]`: the Prometheus /metrics and health HTTP listener.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// Settings of `[metrics]`: the Prometheus /metrics and health HTTP listener.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {}

impl MetricsConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
