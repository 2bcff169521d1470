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
    /// Caller audio may run this far ahead of real time; beyond it, it is dropped and counted.
    pub inbound_burst_ms: u64,
    /// A call whose caller sends nothing for this long is ended (Asterisk sends audio every
    /// 20 ms, silence included); 0 = never.
    pub inbound_timeout_secs: u64,
    /// A peer that leaves this much sent audio unacknowledged (or blocks a write this long)
    /// has stopped reading: the call is ended.
    pub write_stall_ms: u64,
    /// Most audio queued for playing per call; more is refused (and counted).
    pub playout_max_queued_secs: u64,
    /// Kernel send buffer per call socket (bytes; Linux doubles it). Small, so a peer that
    /// stops reading cannot pin megabytes; 0 = the kernel's auto-tuning.
    pub send_buffer_bytes: usize,
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
            playout_lead_ms: 20,
            inbound_burst_ms: 300,
            inbound_timeout_secs: 30,
            write_stall_ms: 2000,
            playout_max_queued_secs: 300,
            send_buffer_bytes: 32768,
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
        if !(20..=10_000).contains(&self.inbound_burst_ms) {
            return Err(ConfigError::invalid(
                "server.inbound_burst_ms",
                format!(
                    "{} is out of range; allowed 20..=10000",
                    self.inbound_burst_ms
                ),
            ));
        }
        if self.inbound_timeout_secs > 3600 {
            return Err(ConfigError::invalid(
                "server.inbound_timeout_secs",
                "allowed 0..=3600 (0 = never)",
            ));
        }
        if !(100..=60_000).contains(&self.write_stall_ms) {
            return Err(ConfigError::invalid(
                "server.write_stall_ms",
                format!(
                    "{} is out of range; allowed 100..=60000",
                    self.write_stall_ms
                ),
            ));
        }
        if !(1..=3600).contains(&self.playout_max_queued_secs) {
            return Err(ConfigError::invalid(
                "server.playout_max_queued_secs",
                "allowed 1..=3600",
            ));
        }
        if self.send_buffer_bytes != 0 && !(4096..=16 << 20).contains(&self.send_buffer_bytes) {
            return Err(ConfigError::invalid(
                "server.send_buffer_bytes",
                "allowed 0 (kernel default) or 4096..=16777216",
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
