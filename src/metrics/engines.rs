//! Engine internals on `/metrics`: the LLM scheduler's batches (occupancy, tokens, step time),
//! the batching workers' own families (Silero VAD, smart-turn: `{prefix}_batch_size`,
//! `{prefix}_step_seconds`, `{prefix}_queue_depth`, …) and caller audio dropped by reason.
//!
//! Process-wide, like [`super::limits`]: the engines are loaded once per process and record
//! here from their own threads without knowing about the agent's [`super::Metrics`].

use super::registry::{header, Counter, Gauge, Histogram};
use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex, Weak};
use std::time::Duration;

/// Bounds of `enclave_llm_step_seconds`: one llama.cpp decode of the whole batch.
const LLM_STEP_BOUNDS: &[f64] = &[
    0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.0, 5.0,
];
/// Bounds of `enclave_llm_batch_sequences` (calls decoded together in one step).
const LLM_SEQUENCE_BOUNDS: &[f64] = &[1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 64.0];
/// Bounds of `enclave_llm_batch_tokens` (tokens in one step: prompt chunks + one per generator).
const LLM_TOKEN_BOUNDS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 2048.0,
];

struct LlmStats {
    step_seconds: Histogram,
    sequences: Histogram,
    tokens: Histogram,
    capacity: Gauge,
    waiting: Gauge,
    /// Steps that left a waiting generation out and decoded the others.
    deferred_steps: Counter,
    /// Steps whose every generation waited (the scheduler slept).
    idle_deferred_steps: Counter,
}

static LLM: LazyLock<LlmStats> = LazyLock::new(|| LlmStats {
    step_seconds: Histogram::new(LLM_STEP_BOUNDS),
    sequences: Histogram::new(LLM_SEQUENCE_BOUNDS),
    tokens: Histogram::new(LLM_TOKEN_BOUNDS),
    capacity: Gauge::new(),
    waiting: Gauge::new(),
    deferred_steps: Counter::new(),
    idle_deferred_steps: Counter::new(),
});

/// One LLM decode step ran: `sequences` calls and `tokens` tokens in one batch of a context
/// with `capacity` sequences, taking `elapsed`.
pub fn llm_step(sequences: usize, tokens: usize, capacity: usize, elapsed: Duration) {
    LLM.sequences.observe(sequences as f64);
    LLM.tokens.observe(tokens as f64);
    LLM.step_seconds.observe_duration(elapsed);
    let cap = capacity as i64;
    let now = LLM.capacity.get();
    if now != cap {
        LLM.capacity.add(cap - now);
    }
}

/// A scheduler step left out a generation that waited for foreground work (`idle`: the step
/// decoded nothing else and the scheduler slept).
pub fn llm_deferred_step(idle: bool) {
    if idle {
        LLM.idle_deferred_steps.inc();
    } else {
        LLM.deferred_steps.inc();
    }
}

/// Requests waiting in the LLM scheduler for a sequence or behind their call's running one.
pub fn llm_waiting(n: usize) {
    let now = LLM.waiting.get();
    LLM.waiting.add(n as i64 - now);
}

/// Why caller audio was dropped (`reason` of `enclave_caller_audio_dropped_frames_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioDrop {
    /// It arrived faster than real time beyond `server.inbound_burst_ms`.
    FasterThanRealTime,
    /// The call's handler fell 5 s behind (its event queue was full).
    HandlerBehind,
}

impl AudioDrop {
    /// Every reason, in label order.
    pub const ALL: [AudioDrop; 2] = [AudioDrop::FasterThanRealTime, AudioDrop::HandlerBehind];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AudioDrop::FasterThanRealTime => "faster_than_real_time",
            AudioDrop::HandlerBehind => "handler_behind",
        }
    }
}

static AUDIO_DROPS: [Counter; 2] = [Counter::new(), Counter::new()];

/// One caller audio frame was dropped for `reason`.
pub fn caller_audio_frame_dropped(reason: AudioDrop) {
    AUDIO_DROPS[reason as usize].inc();
}

/// Caller audio frames dropped for `reason` in this process so far.
pub fn caller_audio_frames_dropped(reason: AudioDrop) -> u64 {
    AUDIO_DROPS[reason as usize].get()
}

/// Something that appends its own families to the exposition (a batching worker's stats).
pub trait RenderMetrics: Send + Sync {
    /// The Prometheus text of its families.
    fn render_metrics(&self) -> String;
}

/// Renderers by family prefix; the newest registration of a prefix wins, so a reloaded
/// worker never produces duplicate series. Weak: a dropped worker disappears.
static RENDERERS: LazyLock<Mutex<BTreeMap<&'static str, Weak<dyn RenderMetrics>>>> =
    LazyLock::new(|| Mutex::new(BTreeMap::new()));

/// Adds `stats` (families named `{prefix}_…`) to `/metrics`.
pub fn register(prefix: &'static str, stats: Weak<dyn RenderMetrics>) {
    let mut map = RENDERERS.lock().unwrap_or_else(|p| p.into_inner());
    map.insert(prefix, stats);
}

/// Appends this module's families to a text exposition.
pub(super) fn render(out: &mut String) {
    header(
        out,
        "enclave_llm_step_seconds",
        "histogram",
        "Wall time of one LLM decode step (all active calls in one batch).",
    );
    LLM.step_seconds.render(out, "enclave_llm_step_seconds", "");
    header(
        out,
        "enclave_llm_batch_sequences",
        "histogram",
        "Calls decoded together in one LLM step.",
    );
    LLM.sequences.render(out, "enclave_llm_batch_sequences", "");
    header(
        out,
        "enclave_llm_batch_tokens",
        "histogram",
        "Tokens in one LLM step (prompt chunks plus one per generating call).",
    );
    LLM.tokens.render(out, "enclave_llm_batch_tokens", "");
    header(
        out,
        "enclave_llm_sequences_capacity",
        "gauge",
        "Sequences (parallel calls) the LLM context holds.",
    );
    out.push_str(&format!(
        "enclave_llm_sequences_capacity {}\n",
        LLM.capacity.get()
    ));
    header(
        out,
        "enclave_llm_requests_waiting",
        "gauge",
        "LLM requests waiting for a sequence or behind their call's running request.",
    );
    out.push_str(&format!(
        "enclave_llm_requests_waiting {}\n",
        LLM.waiting.get()
    ));
    header(
        out,
        "enclave_llm_deferred_steps_total",
        "counter",
        "LLM steps in which a call's later sentences waited for work a caller was waiting on \
         (a transcription, a first sentence's audio); idle=\"true\": nothing else was decoded.",
    );
    out.push_str(&format!(
        "enclave_llm_deferred_steps_total{{idle=\"false\"}} {}\n",
        LLM.deferred_steps.get()
    ));
    out.push_str(&format!(
        "enclave_llm_deferred_steps_total{{idle=\"true\"}} {}\n",
        LLM.idle_deferred_steps.get()
    ));
    header(
        out,
        "enclave_caller_audio_dropped_frames_total",
        "counter",
        "Caller audio frames dropped, by reason.",
    );
    for reason in AudioDrop::ALL {
        out.push_str(&format!(
            "enclave_caller_audio_dropped_frames_total{{reason=\"{}\"}} {}\n",
            reason.as_str(),
            caller_audio_frames_dropped(reason)
        ));
    }
    header(
        out,
        "enclave_engine_jobs_queued",
        "gauge",
        "Engine jobs waiting for a worker slot or session, by engine (VAD and smart-turn: \
         see enclave_vad_queue_depth, enclave_turn_model_queue_depth; LLM: \
         enclave_llm_requests_waiting).",
    );
    for engine in [super::jobs::Engine::Asr, super::jobs::Engine::Tts] {
        out.push_str(&format!(
            "enclave_engine_jobs_queued{{engine=\"{}\"}} {}\n",
            engine.as_str(),
            super::jobs::queued_now(engine)
        ));
    }
    let live: Vec<_> = {
        let mut map = RENDERERS.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, w| w.strong_count() > 0);
        map.values().filter_map(Weak::upgrade).collect()
    };
    for r in live {
        out.push_str(&r.render_metrics());
    }
}
