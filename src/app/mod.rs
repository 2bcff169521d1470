//! The composition root: loads the engines the config names, wraps them behind the
//! conversation's traits, and starts everything `agent serve` runs around the handler
//! (metrics, records, AMI). Nothing below this layer loads a model or opens a file of its own.

pub mod adapters;
pub mod engines;
pub mod outbound;
pub mod stack;

pub use engines::{Engines, EnginesError};
pub use stack::{Stack, StackError};

use crate::ami::AmiClient;
use crate::config::Config;
use crate::conversation::{CallEngines, ConversationHandler, PhraseAudio};
use crate::metrics::Metrics;
use crate::records::RecordWriter;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The loaded engines behind the conversation's traits.
pub fn call_engines(engines: &Engines, config: &Config) -> CallEngines {
    CallEngines {
        transcribe: Arc::new(adapters::WhisperTranscriber(Arc::clone(&engines.asr))),
        synthesize: Arc::new(adapters::PiperSynthesizer(Arc::clone(&engines.tts))),
        converse: Arc::new(adapters::LlmConversations {
            llm: Arc::clone(&engines.llm),
            tools: Arc::clone(&engines.tools),
            config: config.llm.clone(),
        }),
        silero: engines.silero.clone(),
        vad_worker: engines.vad_worker.clone(),
        end_of_turn: engines.end_of_turn.clone(),
        models: engines.models.clone(),
    }
}

/// The conversation handler over loaded engines (blocking: synthesises the fixed phrases, so
/// the greeting plays the moment a call connects, and with `adaptive_budgets` measures what
/// one transcription costs here).
pub fn handler(
    config: Config,
    engines: Engines,
    records: Option<RecordWriter>,
    ami: Option<AmiClient>,
    metrics: Arc<Metrics>,
) -> Result<ConversationHandler, EnginesError> {
    let tts = Arc::clone(&engines.tts);
    let phrases =
        PhraseAudio::synthesize_with(&config.conversation.phrases(), tts.sample_rate(), |text| {
            tts.synthesize(text).map_err(|e| e.to_string())
        })?;
    let adaptive = config.conversation.adaptive_budgets;
    let cost = adaptive.then(|| calibrate_asr(&engines)).flatten();
    let handler = ConversationHandler::with_engines(
        config.clone(),
        call_engines(&engines, &config),
        phrases,
        records,
        ami,
        metrics,
    )
    // It answers as the profile `default` (agent.toml alone) when no profile replaces it.
    .with_profile_name(crate::profiles::BASE_PROFILE);
    if let Some((secs, took)) = cost {
        handler.observe_asr_cost(secs, took);
        tracing::info!(
            took_ms = took.as_millis() as u64,
            budget_ms = handler.asr_budget(secs).as_millis() as u64,
            "ASR cost measured at start-up; budget fitted"
        );
    }
    Ok(handler)
}

/// Times one transcription of a few seconds of quiet noise through the configured Whisper:
/// `(seconds of audio, time taken)`, or `None` when it failed (the configured budget applies).
pub fn calibrate_asr(engines: &Engines) -> Option<(f64, Duration)> {
    const SECS: f64 = 3.0;
    // Low-level noise from a fixed LCG: deterministic, and not trimmed away as silence.
    let mut x: u32 = 0x1234_5678;
    let audio: Vec<f32> = (0..(SECS * 16_000.0) as usize)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((x >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.02
        })
        .collect();
    let t0 = Instant::now();
    match engines
        .asr
        .transcribe_blocking(&audio, &engines.asr.default_options())
    {
        Ok(_) => Some((SECS, t0.elapsed())),
        Err(e) => {
            tracing::warn!(error = %e, "ASR calibration failed; the configured budget applies");
            None
        }
    }
}
