//! `[records]`: call records in SQLite, WAV recordings, retention and redaction.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Settings of `[records]`: call records in SQLite, WAV recordings, retention and redaction.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RecordsConfig {
    /// Whether call records are written at all.
    pub enabled: bool,
    /// SQLite database file (created with its directory if missing; `-wal`/`-shm` files sit next to it).
    pub db_path: PathBuf,
    /// Directory for one stereo WAV per call (caller left, agent right); unset = no recordings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recordings_dir: Option<PathBuf>,
    /// Sample rate of recordings in Hz: 8000 or 16000 (the frames given must be at this rate).
    pub recording_sample_rate: u32,
    /// Longest recording, counted in audio received from the caller (not wall clock): a peer
    /// that floods cannot grow the file past this.
    pub recording_max_secs: u64,
    /// Days to keep calls, turns and recordings; 0 keeps them forever.
    pub retention_days: u32,
    /// Replace runs of digits in stored transcripts and tool calls with `[digits]`.
    pub redact_digits: bool,
    /// Shortest run of digits (spaces, dashes, dots, brackets between them allowed) that is redacted.
    pub redact_min_digits: usize,
    /// Record writes queued for the writer thread before new ones are dropped (and counted).
    pub queue_capacity: usize,
    /// How long a write waits for a lock held by another process on the database (ms).
    pub busy_timeout_ms: u64,
}

impl Default for RecordsConfig {
    fn default() -> Self {
        RecordsConfig {
            enabled: true,
            db_path: PathBuf::from("records/calls.sqlite3"),
            recordings_dir: None,
            recording_sample_rate: 8000,
            recording_max_secs: 7200,
            retention_days: 0,
            redact_digits: false,
            redact_min_digits: 4,
            queue_capacity: 4096,
            busy_timeout_ms: 5000,
        }
    }
}

impl RecordsConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.db_path.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                "records.db_path",
                "must not be empty; give a file path such as \"records/calls.sqlite3\"",
            ));
        }
        if !matches!(self.recording_sample_rate, 8000 | 16000) {
            return Err(ConfigError::invalid(
                "records.recording_sample_rate",
                format!(
                    "{} Hz is not supported; allowed 8000 or 16000",
                    self.recording_sample_rate
                ),
            ));
        }
        if !(1..=86_400).contains(&self.recording_max_secs) {
            return Err(ConfigError::invalid(
                "records.recording_max_secs",
                "allowed 1..=86400",
            ));
        }
        if !(1..=32).contains(&self.redact_min_digits) {
            return Err(ConfigError::invalid(
                "records.redact_min_digits",
                "allowed 1..=32",
            ));
        }
        if !(16..=1_000_000).contains(&self.queue_capacity) {
            return Err(ConfigError::invalid(
                "records.queue_capacity",
                "allowed 16..=1000000",
            ));
        }
        if self.busy_timeout_ms > 600_000 {
            return Err(ConfigError::invalid(
                "records.busy_timeout_ms",
                "allowed 0..=600000",
            ));
        }
        if self.retention_days > 36_500 {
            return Err(ConfigError::invalid(
                "records.retention_days",
                "allowed 0..=36500 (0 keeps records forever)",
            ));
        }
        Ok(())
    }
}
