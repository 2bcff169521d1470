//! Tiny lock-free metric primitives and their Prometheus text rendering.
//!
//! Counters and histogram buckets are atomics, so recording from the audio path never
//! blocks; only labelled families with free-form labels (tool names, error stages) take a
//! short `Mutex`, and those are bounded in cardinality.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Most distinct label sets one free-form family keeps; further ones are folded into `other`.
pub const MAX_LABEL_SETS: usize = 256;

/// Label value that absorbs label sets beyond [`MAX_LABEL_SETS`].
pub const OVERFLOW_LABEL: &str = "other";

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Zero (usable in statics).
    pub const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Zero (usable in statics).
    pub const fn new() -> Self {
        Gauge(AtomicI64::new(0))
    }
    /// Adds `n` (may be negative).
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A histogram with fixed upper bounds (seconds), stored per bucket (not cumulative).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One slot per bound plus the `+Inf` slot.
    buckets: Box<[AtomicU64]>,
    /// Sum of observations, as `f64` bits (updated with a CAS loop).
    sum_bits: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// A histogram with the given ascending upper bounds.
    pub fn new(bounds: &'static [f64]) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bounds must ascend");
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation in seconds; NaN and negative values count as 0.
    pub fn observe(&self, seconds: f64) {
        let v = if seconds.is_finite() && seconds > 0.0 {
            seconds
        } else {
            0.0
        };
        let slot = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let mut cur = self.sum_bits.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(cur) + v).to_bits();
            match self.sum_bits.compare_exchange_weak(
                cur,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a duration.
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Appends `_bucket`, `_sum`, `_count` sample lines; `labels` is `k="v"` text or empty.
    ///
    /// Buckets are read before `_count`, and every observation bumps its bucket before the
    /// count, so a concurrent scrape may see `_count` ahead by in-flight observations; `+Inf`
    /// is rendered as that same `_count` read so the two always agree.
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (i, bound) in self.bounds.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{}\"}} {cumulative}",
                fmt_f64(*bound)
            );
        }
        cumulative += self.buckets[self.bounds.len()].load(Ordering::Relaxed);
        let count = self.count.load(Ordering::Relaxed).max(cumulative);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = f64::from_bits(self.sum_bits.load(Ordering::Relaxed));
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", fmt_f64(sum));
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// A counter family keyed by free-form label values, bounded to [`MAX_LABEL_SETS`] sets.
#[derive(Debug)]
pub struct LabeledCounter {
    label_names: &'static [&'static str],
    values: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl LabeledCounter {
    /// A family with the given label names.
    pub fn new(label_names: &'static [&'static str]) -> Self {
        LabeledCounter {
            label_names,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds `n` to the series with these label values (one per label name).
    pub fn add(&self, label_values: &[&str], n: u64) {
        debug_assert_eq!(label_values.len(), self.label_names.len());
        let key: Vec<String> = label_values.iter().map(|v| v.to_string()).collect();
        let mut map = self.values.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = map.get_mut(&key) {
            *v += n;
            return;
        }
        // One slot stays free for the overflow series itself.
        let key = if map.len() >= MAX_LABEL_SETS - 1 {
            vec![OVERFLOW_LABEL.to_string(); self.label_names.len()]
        } else {
            key
        };
        *map.entry(key).or_insert(0) += n;
    }

    /// Value of one series (0 if never touched).
    pub fn get(&self, label_values: &[&str]) -> u64 {
        let key: Vec<String> = label_values.iter().map(|v| v.to_string()).collect();
        let map = self.values.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&key).copied().unwrap_or(0)
    }

    /// Appends one sample line per series.
    pub fn render(&self, out: &mut String, name: &str) {
        let map = self.values.lock().unwrap_or_else(|p| p.into_inner());
        for (values, v) in map.iter() {
            let labels = self
                .label_names
                .iter()
                .zip(values)
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect::<Vec<_>>()
                .join(",");
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

/// Appends the `# HELP` and `# TYPE` lines of a family.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value per the exposition format (backslash, quote, newline).
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Formats a float the way Prometheus parses it (`0.1`, `5`, `1e-3` all fine).
pub fn fmt_f64(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}
