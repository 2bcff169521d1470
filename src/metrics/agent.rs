//! The agent's metric set: typed recording methods and the Prometheus text rendering.

use super::registry::{header, Counter, Gauge, Histogram, LabeledCounter};
use crate::records::CallOutcome;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// Buckets of `enclave_turn_latency_seconds` (caller stops → first agent audio): 0.1–5 s,
/// dense around the 0.3–1.5 s range where our target and competitors' figures lie.
pub const TURN_LATENCY_BUCKETS: &[f64] = &[
    0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0,
];

/// Buckets of `enclave_stage_latency_seconds`: stages are parts of a turn, so 10 ms–5 s.
pub const STAGE_LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0,
];

/// Stages `enclave_errors_total{stage}` is exported for from the start (others appear on
/// their first error).
pub const KNOWN_ERROR_STAGES: [&str; 8] = [
    "transport",
    "asr",
    "llm",
    "tts",
    "vad",
    "turn",
    "records",
    "ami",
];

/// A timed stage of a turn: the `stage` label of `enclave_stage_latency_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// End of caller speech → endpoint decided (VAD hangover).
    Endpointing,
    /// Endpoint → final transcript.
    Asr,
    /// Transcript → first LLM token.
    LlmFirstToken,
    /// Transcript → first complete sentence handed to TTS.
    LlmFirstSentence,
    /// Sentence handed to TTS → first audio frame out of TTS.
    TtsFirstAudio,
}

impl Stage {
    /// Every stage, in label order.
    pub const ALL: [Stage; 5] = [
        Stage::Endpointing,
        Stage::Asr,
        Stage::LlmFirstToken,
        Stage::LlmFirstSentence,
        Stage::TtsFirstAudio,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Endpointing => "endpointing",
            Stage::Asr => "asr",
            Stage::LlmFirstToken => "llm_first_token",
            Stage::LlmFirstSentence => "llm_first_sentence",
            Stage::TtsFirstAudio => "tts_first_audio",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// All metrics of the agent. One per process ([`global`]); tests make their own with [`Metrics::new`].
///
/// Stage latencies are one histogram family with a `stage` label (not one family per stage),
/// so dashboards can compare stages with one query: `histogram_quantile(0.95, sum by (stage, le) (...))`.
#[derive(Debug)]
pub struct Metrics {
    calls_active: Gauge,
    calls_total: [Counter; CallOutcome::ALL.len()],
    turn_latency: Histogram,
    stage_latency: [Histogram; Stage::ALL.len()],
    barge_ins: Counter,
    tool_calls: LabeledCounter,
    errors: LabeledCounter,
    records_dropped: Counter,
    handover_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

static GLOBAL: LazyLock<Arc<Metrics>> = LazyLock::new(|| Arc::new(Metrics::new()));

/// The process-wide metrics that the call loop records into and `/metrics` renders.
pub fn global() -> &'static Arc<Metrics> {
    &GLOBAL
}

impl Metrics {
    /// A fresh, all-zero metric set. The known error stages start at 0 so that
    /// `rate(enclave_errors_total[…])` has a series before the first error.
    pub fn new() -> Self {
        let errors = LabeledCounter::new(&["stage"]);
        for stage in KNOWN_ERROR_STAGES {
            errors.add(&[stage], 0);
        }
        Metrics {
            calls_active: Gauge::default(),
            calls_total: Default::default(),
            turn_latency: Histogram::new(TURN_LATENCY_BUCKETS),
            stage_latency: std::array::from_fn(|_| Histogram::new(STAGE_LATENCY_BUCKETS)),
            barge_ins: Counter::default(),
            tool_calls: LabeledCounter::new(&["tool", "result"]),
            errors,
            records_dropped: Counter::default(),
            handover_failures: Counter::default(),
        }
    }

    /// A call began: `enclave_calls_active` +1. The guard ends it (as `error` if dropped un-ended).
    pub fn call_started(self: &Arc<Self>) -> ActiveCall {
        self.calls_active.add(1);
        ActiveCall {
            metrics: Arc::clone(self),
            ended: AtomicBool::new(false),
        }
    }

    /// One turn's latency: end of caller speech → first agent audio frame sent.
    pub fn observe_turn_latency(&self, latency: Duration) {
        self.turn_latency.observe_duration(latency);
    }

    /// One stage's latency within a turn.
    pub fn observe_stage(&self, stage: Stage, latency: Duration) {
        self.stage_latency[stage.index()].observe_duration(latency);
    }

    /// The caller interrupted the agent.
    pub fn barge_in(&self) {
        self.barge_ins.inc();
    }

    /// A tool call finished; `result` is a short fixed word such as `ok`, `error`, `timeout`.
    pub fn tool_call(&self, tool: &str, result: &str) {
        self.tool_calls.add(&[tool, result], 1);
    }

    /// An error in a stage (`transport`, `asr`, `llm`, `tts`, `records`, `ami`, …).
    pub fn error(&self, stage: &str) {
        self.errors.add(&[stage], 1);
    }

    /// `n` call-record writes were dropped because the writer queue was full.
    pub fn records_dropped(&self, n: u64) {
        self.records_dropped.add(n);
    }

    /// A hand-over to a human could not be made (the caller was kept).
    pub fn handover_failed(&self) {
        self.handover_failures.inc();
    }

    /// Current `enclave_handover_failures_total`.
    pub fn handover_failures_total(&self) -> u64 {
        self.handover_failures.get()
    }

    /// Current `enclave_calls_active`.
    pub fn calls_active(&self) -> i64 {
        self.calls_active.get()
    }

    /// Current `enclave_calls_total{outcome}`.
    pub fn calls_total(&self, outcome: CallOutcome) -> u64 {
        self.calls_total[outcome.index()].get()
    }

    /// Current `enclave_records_dropped_total`.
    pub fn records_dropped_total(&self) -> u64 {
        self.records_dropped.get()
    }

    /// Current `enclave_errors_total{stage}`.
    pub fn errors_total(&self, stage: &str) -> u64 {
        self.errors.get(&[stage])
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        header(
            &mut out,
            "enclave_calls_active",
            "gauge",
            "Calls in progress.",
        );
        out.push_str(&format!(
            "enclave_calls_active {}\n",
            self.calls_active.get()
        ));

        header(
            &mut out,
            "enclave_calls_total",
            "counter",
            "Calls ended, by outcome.",
        );
        for outcome in CallOutcome::ALL {
            out.push_str(&format!(
                "enclave_calls_total{{outcome=\"{}\"}} {}\n",
                outcome.as_str(),
                self.calls_total[outcome.index()].get()
            ));
        }

        header(
            &mut out,
            "enclave_turn_latency_seconds",
            "histogram",
            "End of caller speech to first agent audio frame sent.",
        );
        self.turn_latency
            .render(&mut out, "enclave_turn_latency_seconds", "");

        header(
            &mut out,
            "enclave_stage_latency_seconds",
            "histogram",
            "Latency of each stage of a turn.",
        );
        for stage in Stage::ALL {
            let labels = format!("stage=\"{}\"", stage.as_str());
            self.stage_latency[stage.index()].render(
                &mut out,
                "enclave_stage_latency_seconds",
                &labels,
            );
        }

        header(
            &mut out,
            "enclave_barge_ins_total",
            "counter",
            "Times the caller interrupted the agent.",
        );
        out.push_str(&format!(
            "enclave_barge_ins_total {}\n",
            self.barge_ins.get()
        ));

        header(
            &mut out,
            "enclave_tool_calls_total",
            "counter",
            "Tool calls, by tool and result.",
        );
        self.tool_calls.render(&mut out, "enclave_tool_calls_total");

        header(
            &mut out,
            "enclave_errors_total",
            "counter",
            "Errors, by stage.",
        );
        self.errors.render(&mut out, "enclave_errors_total");

        header(
            &mut out,
            "enclave_records_dropped_total",
            "counter",
            "Call-record writes dropped because the writer queue was full.",
        );
        out.push_str(&format!(
            "enclave_records_dropped_total {}\n",
            self.records_dropped.get()
        ));

        header(
            &mut out,
            "enclave_handover_failures_total",
            "counter",
            "Hand-overs to a human that could not be made (the agent kept the caller).",
        );
        out.push_str(&format!(
            "enclave_handover_failures_total {}\n",
            self.handover_failures.get()
        ));
        super::limits::render(&mut out);
        crate::outbox::metrics::render(&mut out);
        crate::summary::metrics::render(&mut out);
        super::engines::render(&mut out);
        out
    }
}

/// An active call in `enclave_calls_active`; [`ActiveCall::end`] counts its outcome.
///
/// Dropping it without `end` (a panic, an early return) still decrements the gauge and counts
/// the call as `error`, so the gauge cannot leak.
#[derive(Debug)]
pub struct ActiveCall {
    metrics: Arc<Metrics>,
    ended: AtomicBool,
}

impl ActiveCall {
    /// Ends the call with its outcome.
    pub fn end(self, outcome: CallOutcome) {
        self.finish(outcome);
    }

    fn finish(&self, outcome: CallOutcome) {
        if !self.ended.swap(true, Ordering::AcqRel) {
            self.metrics.calls_active.add(-1);
            self.metrics.calls_total[outcome.index()].inc();
        }
    }
}

impl Drop for ActiveCall {
    fn drop(&mut self) {
        self.finish(CallOutcome::Error);
    }
}
