//! `[server]`: the AudioSocket listener, connection limit, timeouts and shutdown.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Which conversation handler answers calls.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum HandlerKind {
    /// Plays back what the caller says after a delay: tests the transport alone.
    Echo,
    /// The voice agent: VAD, Whisper, the LLM with tools, Piper ([`crate::conversation`]).
    #[default]
    Conversation,
}

/// Settings of the AudioSocket server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Loopback unless you deliberately expose it.
    pub listen: SocketAddr,
    /// Most calls handled at once; further connections are refused with a log line.
    pub max_calls: usize,
    /// How long a new connection may take to send its uuid frame.
    pub uuid_timeout_ms: u64,
    /// On SIGTERM/SIGINT, how long active calls may go on before they are hung up.
    pub shutdown_grace_secs: u64,
    /// Handler that answers calls.
    pub handler: HandlerKind,
    /// Echo handler: delay before the caller hears themselves.
    pub echo_delay_ms: u64,
    /// How far ahead of real time outbound audio is sent (Asterisk tolerates ~100 ms).
    pub playout_lead_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9092)),
            max_calls: 200,
            uuid_timeout_ms: 2000,
            shutdown_grace_secs: 30,
            handler: HandlerKind::Conversation,
            echo_delay_ms: 500,
            playout_lead_ms: 40,
        }
    }
}

impl ServerConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_calls == 0 {
            return Err(ConfigError::invalid(
                "server.max_calls",
                "must be at least 1",
            ));
        }
        if self.uuid_timeout_ms == 0 || self.uuid_timeout_ms > 60_000 {
            return Err(ConfigError::invalid(
                "server.uuid_timeout_ms",
                format!(
                    "{} is out of range; allowed 1..=60000",
                    self.uuid_timeout_ms
                ),
            ));
        }
        if self.playout_lead_ms > 60 {
            return Err(ConfigError::invalid(
                "server.playout_lead_ms",
                format!(
                    "{} ms is too much: Asterisk drops bursts; allowed 0..=60",
                    self.playout_lead_ms
                ),
            ));
        }
        if self.echo_delay_ms > 10_000 {
            return Err(ConfigError::invalid(
                "server.echo_delay_ms",
                "allowed 0..=10000",
            ));
        }
        Ok(())
    }
}
