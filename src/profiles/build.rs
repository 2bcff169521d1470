//! The real [`BuildHandler`]: a profile's conversation handler over the engines loaded once
//! for the process (Whisper, the LLM, VAD shared; a voice loaded once per distinct voice).

use super::registry::BuildHandler;
use super::transcriber::LanguageTranscriber;
use crate::ami::AmiClient;
use crate::app::Engines;
use crate::config::Config;
use crate::conversation::{ConversationHandler, PhraseAudio};
use crate::metrics::Metrics;
use crate::pipeline::CallHandler;
use crate::records::RecordWriter;
use crate::tts::Tts;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Builds profile handlers over shared engines.
pub struct EngineBuilder {
    engines: Engines,
    records: Option<RecordWriter>,
    ami: Option<AmiClient>,
    metrics: Arc<Metrics>,
    /// One transcription's measured cost `(audio s, took)`, so a new profile's budgets fit
    /// the machine from its first call.
    asr_cost: std::sync::OnceLock<Option<(f64, Duration)>>,
    voices: Mutex<HashMap<String, Arc<Tts>>>,
}

impl EngineBuilder {
    /// Over the engines (and the voice) `agent serve` loaded for agent.toml. With
    /// `adaptive_budgets`, one transcription is timed when the first profile is built.
    pub fn new(
        base: &Config,
        engines: Engines,
        records: Option<RecordWriter>,
        ami: Option<AmiClient>,
        metrics: Arc<Metrics>,
    ) -> EngineBuilder {
        let mut voices = HashMap::new();
        voices.insert(voice_key(base), Arc::clone(&engines.tts));
        EngineBuilder {
            engines,
            records,
            ami,
            metrics,
            asr_cost: std::sync::OnceLock::new(),
            voices: Mutex::new(voices),
        }
    }

    fn voice(&self, config: &Config) -> Result<Arc<Tts>, String> {
        let key = voice_key(config);
        if let Some(t) = self
            .voices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(Arc::clone(t));
        }
        let tts =
            Arc::new(crate::app::engines::load_tts(config).map_err(|e| format!("voice: {e}"))?);
        self.voices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, Arc::clone(&tts));
        Ok(tts)
    }
}

/// The voice a config speaks with (its language's `[tts]` voice).
fn voice_key(config: &Config) -> String {
    let lang = if config.conversation.language == "ru" {
        crate::tts::Language::Russian
    } else {
        crate::tts::Language::English
    };
    crate::tts::setup::voice_for(config, lang).to_string()
}

impl BuildHandler for EngineBuilder {
    fn build(&self, name: &str, config: &Config) -> Result<Arc<dyn CallHandler>, String> {
        let tts = self.voice(config)?;
        let mut engines = self.engines.clone();
        engines.tts = Arc::clone(&tts);
        engines.tools = Arc::new(
            crate::dialog::tools::ToolRegistry::from_config(&config.llm)
                .map_err(|e| format!("tools: {e}"))?,
        );
        engines.models.tts = tts
            .voice()
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let mut call_engines = crate::app::call_engines(&engines, config);
        call_engines.transcribe = Arc::new(LanguageTranscriber {
            asr: Arc::clone(&engines.asr),
            language: config.conversation.language.clone(),
        });
        let phrases = PhraseAudio::synthesize_with(
            &config.conversation.phrases(),
            tts.sample_rate(),
            |text| tts.synthesize(text).map_err(|e| e.to_string()),
        )
        .map_err(|e| format!("cannot synthesise {:?}: {}", e.text, e.message))?;
        let handler = ConversationHandler::with_engines(
            config.clone(),
            call_engines,
            phrases,
            self.records.clone(),
            self.ami.clone(),
            Arc::clone(&self.metrics),
        )
        .with_profile_name(name);
        if config.conversation.adaptive_budgets {
            let cost = self
                .asr_cost
                .get_or_init(|| crate::app::calibrate_asr(&self.engines));
            if let Some((secs, took)) = *cost {
                handler.observe_asr_cost(secs, took);
            }
        }
        tracing::info!(profile = name, language = %config.conversation.language, "profile ready");
        Ok(Arc::new(handler))
    }
}
