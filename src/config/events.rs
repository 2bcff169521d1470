//! `[events]`: delivery of result events (the outbox) to a webhook and to Kafka.

use super::ConfigError;
use serde::{Deserialize, Serialize, Serializer};
use std::path::PathBuf;

/// Settings of `[events]`: where result events (`call.completed`, `contact.result`, …) go.
/// Off by default; a sink is on when `enabled` and its endpoint is set.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Whether the delivery workers run at all (events are written to the outbox either way).
    pub enabled: bool,
    /// HTTP(S) URL the webhook sink POSTs each event to; unset = no webhook sink.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// HMAC-SHA256 key for `X-Enclave-Signature`; prefer `webhook_secret_file`. Printed as
    /// `<redacted>` by `config check`.
    #[serde(serialize_with = "redact_secret")]
    pub webhook_secret: String,
    /// File holding the webhook secret (first line, surrounding whitespace trimmed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Time for one webhook request, connect to response (ms); over it = retry.
    pub webhook_timeout_ms: u64,
    /// Kafka bootstrap brokers (`host:port`); empty = no Kafka sink.
    pub kafka_brokers: Vec<String>,
    /// Kafka topic the events are produced to (message key = the event's key: contact id or call uuid).
    pub kafka_topic: String,
    /// Partitions of the topic when the agent has to create it (it does so only if it is missing).
    pub kafka_partitions: i32,
    /// Time for one produce request, connect included (ms); over it = retry.
    pub kafka_timeout_ms: u64,
    /// First retry delay after a failed delivery (ms); doubles per attempt, with jitter.
    pub retry_initial_ms: u64,
    /// Longest retry delay (ms): the cap of the exponential backoff.
    pub retry_max_ms: u64,
    /// Attempts before a transiently failing event is dead-lettered; 0 = retry forever
    /// (nothing is lost while a sink is down).
    pub max_attempts: u32,
    /// Events read (and for Kafka produced) per round.
    pub batch_size: usize,
    /// How often an idle worker looks for new events (ms); writers in this process also wake it.
    pub poll_interval_ms: u64,
    /// Days to keep events that every sink has delivered (or dead-lettered); 0 keeps them
    /// forever. Undelivered events are never pruned.
    pub retention_days: u32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            enabled: false,
            webhook_url: None,
            webhook_secret: String::new(),
            webhook_secret_file: None,
            webhook_timeout_ms: 5000,
            kafka_brokers: Vec::new(),
            kafka_topic: "enclave.events".into(),
            kafka_partitions: 1,
            kafka_timeout_ms: 5000,
            retry_initial_ms: 500,
            retry_max_ms: 300_000,
            max_attempts: 0,
            batch_size: 100,
            poll_interval_ms: 200,
            retention_days: 7,
        }
    }
}

impl std::fmt::Debug for EventsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsConfig")
            .field("enabled", &self.enabled)
            .field("webhook_url", &self.webhook_url)
            .field(
                "webhook_secret",
                &if self.webhook_secret.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("webhook_secret_file", &self.webhook_secret_file)
            .field("kafka_brokers", &self.kafka_brokers)
            .field("kafka_topic", &self.kafka_topic)
            .finish_non_exhaustive()
    }
}

/// Serialises a non-empty secret as `<redacted>` so `config check` never prints it.
fn redact_secret<S: Serializer>(secret: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if secret.is_empty() { "" } else { "<redacted>" })
}

impl EventsConfig {
    /// Whether the webhook sink runs.
    pub fn webhook_enabled(&self) -> bool {
        self.enabled && self.webhook_url.is_some()
    }

    /// Whether the Kafka sink runs.
    pub fn kafka_enabled(&self) -> bool {
        self.enabled && !self.kafka_brokers.is_empty()
    }

    /// The webhook secret: `webhook_secret`, or the first line of `webhook_secret_file`.
    pub fn webhook_secret(&self) -> Result<String, ConfigError> {
        match &self.webhook_secret_file {
            Some(path) => std::fs::read_to_string(path)
                .map(|s| s.lines().next().unwrap_or("").trim().to_string())
                .map_err(|e| {
                    ConfigError::invalid(
                        "events.webhook_secret_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                }),
            None => Ok(self.webhook_secret.clone()),
        }
    }

    /// Range checks; a webhook needs an http(s) URL and exactly one of the secret settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.webhook_url {
            let parsed = reqwest::Url::parse(url).map_err(|e| {
                ConfigError::invalid("events.webhook_url", format!("`{url}` is not a URL: {e}"))
            })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(ConfigError::invalid(
                    "events.webhook_url",
                    format!("`{url}`: use an http:// or https:// URL with a host"),
                ));
            }
            let has_secret = !self.webhook_secret.is_empty();
            let has_file = self.webhook_secret_file.is_some();
            if self.enabled && has_secret == has_file {
                return Err(ConfigError::invalid(
                    "events.webhook_secret",
                    "a webhook needs exactly one of webhook_secret / webhook_secret_file: every \
                     event is signed (X-Enclave-Signature) so the receiver can reject forgeries",
                ));
            }
        }
        for b in &self.kafka_brokers {
            let ok = b
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                return Err(ConfigError::invalid(
                    "events.kafka_brokers",
                    format!("`{b}` is not host:port"),
                ));
            }
        }
        if self.kafka_topic.is_empty()
            || self.kafka_topic.len() > 249
            || !self
                .kafka_topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(ConfigError::invalid(
                "events.kafka_topic",
                "1..=249 of letters, digits, . _ - (Kafka's topic name rules)",
            ));
        }
        let ranges: [(&str, u64, u64, u64); 5] = [
            (
                "events.webhook_timeout_ms",
                self.webhook_timeout_ms,
                100,
                600_000,
            ),
            (
                "events.kafka_timeout_ms",
                self.kafka_timeout_ms,
                100,
                600_000,
            ),
            (
                "events.retry_initial_ms",
                self.retry_initial_ms,
                10,
                3_600_000,
            ),
            ("events.retry_max_ms", self.retry_max_ms, 10, 86_400_000),
            ("events.poll_interval_ms", self.poll_interval_ms, 10, 60_000),
        ];
        for (key, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                return Err(ConfigError::invalid(key, format!("allowed {lo}..={hi}")));
            }
        }
        if self.retry_max_ms < self.retry_initial_ms {
            return Err(ConfigError::invalid(
                "events.retry_max_ms",
                "must be at least events.retry_initial_ms",
            ));
        }
        if !(1..=1000).contains(&self.kafka_partitions) {
            return Err(ConfigError::invalid(
                "events.kafka_partitions",
                "allowed 1..=1000",
            ));
        }
        if !(1..=10_000).contains(&self.batch_size) {
            return Err(ConfigError::invalid(
                "events.batch_size",
                "allowed 1..=10000",
            ));
        }
        if self.retention_days > 36_500 {
            return Err(ConfigError::invalid(
                "events.retention_days",
                "allowed 0..=36500 (0 keeps delivered events forever)",
            ));
        }
        Ok(())
    }
}
