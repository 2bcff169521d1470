//! `[records]`: call records in SQLite or PostgreSQL, WAV recordings, retention and redaction.

use super::ConfigError;
use serde::{Deserialize, Serialize, Serializer};
use std::path::PathBuf;

/// Which database holds the call records (`records.backend`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RecordsBackendKind {
    /// One SQLite file on this box (`records.db_path`).
    #[default]
    Sqlite,
    /// A PostgreSQL database several agent boxes share (`records.postgres_url`).
    Postgres,
}

/// Settings of `[records]`: call records in SQLite or PostgreSQL, WAV recordings, retention
/// and redaction.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RecordsConfig {
    /// Whether call records are written at all.
    pub enabled: bool,
    /// Where records live: `sqlite` (`db_path`) or `postgres` (`postgres_url`).
    pub backend: RecordsBackendKind,
    /// PostgreSQL connection URL (`postgres://user:password@host:port/db?connect_timeout=5`),
    /// used when `backend = "postgres"`. Printed with the password as `<redacted>`; pass it as
    /// `ENCLAVE_RECORDS__POSTGRES_URL` to keep it out of the file.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_url_redacted"
    )]
    pub postgres_url: Option<String>,
    /// PEM file with the CA certificate(s) that signed the PostgreSQL server's certificate.
    /// Set, every connection uses TLS and checks the server's certificate and host name
    /// against it; unset, TLS is used when the URL says `sslmode=require` (checked against
    /// the system's CA store), never with `sslmode=disable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres_ca_file: Option<PathBuf>,
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
            backend: RecordsBackendKind::Sqlite,
            postgres_url: None,
            postgres_ca_file: None,
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

impl std::fmt::Debug for RecordsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordsConfig")
            .field("enabled", &self.enabled)
            .field("backend", &self.backend)
            .field(
                "postgres_url",
                &self.postgres_url.as_deref().map(redact_url_password),
            )
            .field("postgres_ca_file", &self.postgres_ca_file)
            .field("db_path", &self.db_path)
            .field("recordings_dir", &self.recordings_dir)
            .field("recording_sample_rate", &self.recording_sample_rate)
            .field("recording_max_secs", &self.recording_max_secs)
            .field("retention_days", &self.retention_days)
            .field("redact_digits", &self.redact_digits)
            .field("redact_min_digits", &self.redact_min_digits)
            .field("queue_capacity", &self.queue_capacity)
            .field("busy_timeout_ms", &self.busy_timeout_ms)
            .finish()
    }
}

/// `scheme://user:secret@host/…` → `scheme://user:<redacted>@host/…`; a `password=` query
/// parameter or libpq key=value pair is redacted too. Anything else is returned unchanged.
pub fn redact_url_password(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let authority_end = out[rest..]
            .find(['/', '?'])
            .map(|i| rest + i)
            .unwrap_or(out.len());
        if let Some(at) = out[rest..authority_end].rfind('@').map(|i| rest + i) {
            if let Some(colon) = out[rest..at].find(':').map(|i| rest + i) {
                out.replace_range(colon + 1..at, "<redacted>");
            }
        }
    }
    if let Some(q) = out.find("password=") {
        // `&` ends a URL query parameter, a space a libpq key=value pair.
        let end = out[q..]
            .find(['&', ' '])
            .map(|i| q + i)
            .unwrap_or(out.len());
        out.replace_range(q + "password=".len()..end, "<redacted>");
    }
    out
}

fn serialize_url_redacted<S: Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(u) => s.serialize_str(&redact_url_password(u)),
        None => s.serialize_none(),
    }
}

impl RecordsConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.backend == RecordsBackendKind::Postgres {
            match self.postgres_url.as_deref().map(str::trim) {
                None | Some("") => {
                    return Err(ConfigError::invalid(
                        "records.postgres_url",
                        "backend = \"postgres\" needs a connection URL such as \
                         \"postgres://enclave@127.0.0.1:5432/enclave\" (or set \
                         ENCLAVE_RECORDS__POSTGRES_URL)",
                    ))
                }
                Some(u) => {
                    if let Err(e) = u.parse::<postgres::Config>() {
                        return Err(ConfigError::invalid(
                            "records.postgres_url",
                            format!(
                                "not a PostgreSQL connection string ({e}); use \
                                 postgres://user@host:port/dbname or key=value pairs"
                            ),
                        ));
                    }
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_urls_printed() {
        assert_eq!(
            redact_url_password("postgres://enclave:s3cr@t@db:5432/enclave?connect_timeout=5"),
            "postgres://enclave:<redacted>@db:5432/enclave?connect_timeout=5"
        );
        assert_eq!(
            redact_url_password("host=db user=enclave password=hunter2 dbname=x"),
            "host=db user=enclave password=<redacted> dbname=x"
        );
        assert_eq!(
            redact_url_password("postgres://enclave@db/enclave"),
            "postgres://enclave@db/enclave"
        );
        let cfg = RecordsConfig {
            backend: RecordsBackendKind::Postgres,
            postgres_url: Some("postgres://u:topsecret@h/db".into()),
            ..RecordsConfig::default()
        };
        assert!(!format!("{cfg:?}").contains("topsecret"));
        assert!(!toml::to_string(&cfg).unwrap().contains("topsecret"));
        cfg.validate().unwrap();
    }

    #[test]
    fn postgres_backend_needs_a_valid_url() {
        let mut cfg = RecordsConfig {
            backend: RecordsBackendKind::Postgres,
            ..RecordsConfig::default()
        };
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("records.postgres_url"), "{err}");
        cfg.postgres_url = Some("postgres://h:notaport/db".into());
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("not a PostgreSQL connection string"), "{err}");
    }
}
