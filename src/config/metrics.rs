//! `[metrics]`: the Prometheus /metrics and health HTTP listener.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Settings of `[metrics]`: the Prometheus /metrics and health HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Whether the HTTP listener (/metrics, /livez, /readyz) runs.
    pub enabled: bool,
    /// Address of the HTTP listener. Loopback unless you deliberately expose it.
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9093)),
        }
    }
}

impl MetricsConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.enabled && self.listen.port() == 0 {
            return Err(ConfigError::invalid(
                "metrics.listen",
                "port 0 picks a random port that Prometheus cannot find; give a fixed port such as 9093",
            ));
        }
        Ok(())
    }
}
