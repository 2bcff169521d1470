//! Per-call resource bounds that were hit, counted process-wide so `/metrics`
//! (`enclave_limit_hits_total{limit}`, `enclave_caller_audio_dropped_seconds_total`) shows a
//! peer that floods, stalls or starves a call, wherever in the transport it is caught.

use std::sync::atomic::{AtomicU64, Ordering};

/// A bound on what one call (or one HTTP client) may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Caller audio arrived faster than real time beyond the allowance: the excess was dropped.
    InboundFasterThanRealTime,
    /// No caller audio for `server.inbound_timeout_secs`: the call was ended.
    InboundSilence,
    /// The peer stopped reading (backlog or blocked write over `server.write_stall_ms`): ended.
    WriteStall,
    /// The playback queue was full (`server.playout_max_queued_secs`): audio refused.
    PlayoutQueueFull,
    /// The call recording reached `records.recording_max_secs` of received audio: stopped.
    RecordingLength,
    /// `metrics.max_connections` HTTP connections were open: a new one was refused.
    MetricsConnections,
}

impl Limit {
    /// Every limit, in a fixed order.
    pub const ALL: [Limit; 6] = [
        Limit::InboundFasterThanRealTime,
        Limit::InboundSilence,
        Limit::WriteStall,
        Limit::PlayoutQueueFull,
        Limit::RecordingLength,
        Limit::MetricsConnections,
    ];

    /// The `limit` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::InboundFasterThanRealTime => "inbound_faster_than_real_time",
            Limit::InboundSilence => "inbound_silence",
            Limit::WriteStall => "write_stall",
            Limit::PlayoutQueueFull => "playout_queue_full",
            Limit::RecordingLength => "recording_length",
            Limit::MetricsConnections => "metrics_connections",
        }
    }
}

static HITS: [AtomicU64; 6] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

/// Caller audio dropped for arriving faster than real time, in microseconds.
static DROPPED_AUDIO_US: AtomicU64 = AtomicU64::new(0);

/// Counts one hit of `limit`.
pub fn hit(limit: Limit) {
    HITS[limit as usize].fetch_add(1, Ordering::Relaxed);
}

/// Hits of `limit` in this process so far.
pub fn hits(limit: Limit) -> u64 {
    HITS[limit as usize].load(Ordering::Relaxed)
}

/// Counts `secs` of caller audio dropped as faster than real time.
pub fn dropped_caller_audio(secs: f64) {
    DROPPED_AUDIO_US.fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
}

/// Seconds of caller audio dropped as faster than real time in this process so far.
pub fn dropped_caller_audio_secs() -> f64 {
    DROPPED_AUDIO_US.load(Ordering::Relaxed) as f64 / 1e6
}

/// Appends this module's families (and the engine job gauge) to a text exposition.
pub(super) fn render(out: &mut String) {
    super::registry::header(
        out,
        "enclave_limit_hits_total",
        "counter",
        "Times a per-call resource bound was hit, by bound.",
    );
    for limit in Limit::ALL {
        out.push_str(&format!(
            "enclave_limit_hits_total{{limit=\"{}\"}} {}\n",
            limit.as_str(),
            hits(limit)
        ));
    }
    super::registry::header(
        out,
        "enclave_caller_audio_dropped_seconds_total",
        "counter",
        "Caller audio dropped because it arrived faster than real time.",
    );
    out.push_str(&format!(
        "enclave_caller_audio_dropped_seconds_total {}\n",
        dropped_caller_audio_secs()
    ));
    super::registry::header(
        out,
        "enclave_engine_jobs_active",
        "gauge",
        "Blocking engine jobs running now, by engine.",
    );
    for engine in super::jobs::Engine::ALL {
        out.push_str(&format!(
            "enclave_engine_jobs_active{{engine=\"{}\"}} {}\n",
            engine.as_str(),
            super::jobs::active(engine)
        ));
    }
}
