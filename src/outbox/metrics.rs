//! Per-sink delivery metrics (process-wide, like `metrics::limits`): `enclave_outbox_pending`,
//! `enclave_outbox_delivered_total`, `enclave_outbox_failures_total`,
//! `enclave_outbox_dead_letters_total`, each labelled `sink`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

/// The counters of one sink.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    pending: AtomicI64,
    delivered: AtomicU64,
    failures: AtomicU64,
    dead_letters: AtomicU64,
}

impl SinkMetrics {
    /// Sets the events the sink still owes.
    pub fn set_pending(&self, n: i64) {
        self.pending.store(n, Ordering::Relaxed);
    }
    /// `n` events delivered.
    pub fn delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Ordering::Relaxed);
    }
    /// One failed attempt (retried or not).
    pub fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }
    /// One event given up on.
    pub fn dead_lettered(&self) {
        self.dead_letters.fetch_add(1, Ordering::Relaxed);
    }
    /// Current pending gauge.
    pub fn pending(&self) -> i64 {
        self.pending.load(Ordering::Relaxed)
    }
    /// Delivered so far in this process.
    pub fn delivered_total(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
    /// Failed attempts so far in this process.
    pub fn failures_total(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
    /// Dead letters so far in this process.
    pub fn dead_letters_total(&self) -> u64 {
        self.dead_letters.load(Ordering::Relaxed)
    }
}

static SINKS: LazyLock<Mutex<BTreeMap<String, Arc<SinkMetrics>>>> =
    LazyLock::new(|| Mutex::new(BTreeMap::new()));

/// The metrics of sink `name` (created on first use; at most a few sinks exist).
pub fn sink(name: &str) -> Arc<SinkMetrics> {
    let mut sinks = SINKS.lock().unwrap_or_else(|p| p.into_inner());
    Arc::clone(sinks.entry(name.to_string()).or_default())
}

/// A metric family: name, type, help, and the value of one sink.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&SinkMetrics) -> String,
);

/// Appends the outbox families to a Prometheus text exposition.
pub fn render(out: &mut String) {
    use crate::metrics::registry::{escape_label, header};
    let sinks: Vec<(String, Arc<SinkMetrics>)> = SINKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(k, v)| (k.clone(), Arc::clone(v)))
        .collect();
    let families: [Family; 4] = [
        (
            "enclave_outbox_pending",
            "gauge",
            "Result events a sink has not delivered yet.",
            |m| m.pending().to_string(),
        ),
        (
            "enclave_outbox_delivered_total",
            "counter",
            "Result events delivered, by sink.",
            |m| m.delivered_total().to_string(),
        ),
        (
            "enclave_outbox_failures_total",
            "counter",
            "Failed delivery attempts (retried or dead-lettered), by sink.",
            |m| m.failures_total().to_string(),
        ),
        (
            "enclave_outbox_dead_letters_total",
            "counter",
            "Result events given up on (permanent failure or max_attempts), by sink.",
            |m| m.dead_letters_total().to_string(),
        ),
    ];
    for (name, kind, help, value) in families {
        header(out, name, kind, help);
        for (sink, m) in &sinks {
            out.push_str(&format!(
                "{name}{{sink=\"{}\"}} {}\n",
                escape_label(sink),
                value(m)
            ));
        }
    }
}
