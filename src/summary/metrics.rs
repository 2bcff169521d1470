//! Summary metrics (process-wide): `enclave_summaries_total{kind,source}` and
//! `enclave_summary_seconds` (post-call, from the call's end being read to the result).

use crate::metrics::registry::{header, Counter, Histogram};
use std::sync::LazyLock;

/// Buckets of `enclave_summary_seconds` (a CPU box takes seconds to a minute).
pub const SUMMARY_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

struct SummaryMetrics {
    /// [post_call llm, post_call extractive, handover llm, handover extractive]
    counts: [Counter; 4],
    seconds: Histogram,
}

static METRICS: LazyLock<SummaryMetrics> = LazyLock::new(|| SummaryMetrics {
    counts: Default::default(),
    seconds: Histogram::new(SUMMARY_BUCKETS),
});

fn slot(handover: bool, llm: bool) -> usize {
    usize::from(handover) * 2 + usize::from(!llm)
}

/// A post-call summary was written (`llm`: the LLM's summary was used) after `seconds`.
pub fn post_call(llm: bool, seconds: f64) {
    METRICS.counts[slot(false, llm)].inc();
    METRICS.seconds.observe(seconds);
}

/// A hand-over summary was given to the operator.
pub fn handover(llm: bool) {
    METRICS.counts[slot(true, llm)].inc();
}

/// `enclave_summaries_total{kind, source}` so far.
pub fn total(handover: bool, llm: bool) -> u64 {
    METRICS.counts[slot(handover, llm)].get()
}

/// Appends the summary families to a Prometheus text exposition.
pub fn render(out: &mut String) {
    header(
        out,
        "enclave_summaries_total",
        "counter",
        "Call summaries written, by kind (post_call, handover) and source (llm, extractive).",
    );
    for (kind, handover) in [("post_call", false), ("handover", true)] {
        for (source, llm) in [("llm", true), ("extractive", false)] {
            out.push_str(&format!(
                "enclave_summaries_total{{kind=\"{kind}\",source=\"{source}\"}} {}\n",
                total(handover, llm)
            ));
        }
    }
    header(
        out,
        "enclave_summary_seconds",
        "histogram",
        "Time to summarise an ended call (waiting for the load included).",
    );
    METRICS.seconds.render(out, "enclave_summary_seconds", "");
}
