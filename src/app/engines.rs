//! The models, loaded once per process and shared by every call.

use crate::asr::AsrEngine;
use crate::config::Config;
use crate::dialog::engine::{EngineOptions, LlmEngine};
use crate::dialog::tools::ToolRegistry;
use crate::records::ModelsUsed;
use crate::tts::{setup, Language, Tts};
use crate::vad::{EndOfTurnModel, SileroModel, VadBackend};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why the engines could not be made ready; each names the model and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum EnginesError {
    /// Speech recognition.
    #[error("ASR: {0}")]
    Asr(#[from] crate::asr::AsrError),
    /// Voice activity detection.
    #[error("VAD: {0}")]
    Vad(#[from] crate::vad::VadError),
    /// Speech synthesis.
    #[error("TTS: {0}")]
    Tts(#[from] crate::tts::TtsError),
    /// The dialog model.
    #[error("LLM: {0}")]
    Llm(#[from] crate::dialog::DialogError),
    /// The end-of-turn model could not be loaded.
    #[error("end-of-turn model: {0}")]
    EndOfTurn(String),
    /// A fixed phrase could not be synthesised (or the loader thread failed).
    #[error("TTS: cannot synthesise the phrase {text:?}: {message}")]
    Phrase {
        /// The phrase.
        text: String,
        /// Why.
        message: String,
    },
}

impl From<crate::conversation::PhraseError> for EnginesError {
    fn from(e: crate::conversation::PhraseError) -> Self {
        EnginesError::Phrase {
            text: e.text,
            message: e.message,
        }
    }
}

/// Every engine a call uses.
#[derive(Clone)]
pub struct Engines {
    /// Whisper (one context, a state per call).
    pub asr: Arc<AsrEngine>,
    /// Silero VAD (sessions shared, recurrent state per call); `None` with the webrtc backend.
    pub silero: Option<Arc<SileroModel>>,
    /// The voice of the conversation's language.
    pub tts: Arc<Tts>,
    /// The dialog model (one context, a sequence per call).
    pub llm: Arc<LlmEngine>,
    /// Built-in and configured HTTP tools.
    pub tools: Arc<ToolRegistry>,
    /// The Silero worker the calls' endpointers share (one blocking thread, batched steps).
    pub vad_worker: Option<Arc<crate::vad::VadWorker>>,
    /// Semantic end-of-turn model (smart-turn), when `[conversation] end_of_turn_model` is set.
    pub end_of_turn: Option<Arc<dyn EndOfTurnModel>>,
    /// Names of the models, for call records.
    pub models: ModelsUsed,
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engines")
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

impl Engines {
    /// Loads every engine the config names (blocking: seconds to minutes for big models).
    pub fn load(config: &Config) -> Result<Engines, EnginesError> {
        crate::onnx::ensure_runtime().map_err(crate::vad::VadError::from)?;
        let paths = ModelPaths::of(config);
        let silero = match config.vad.backend {
            VadBackend::Silero => Some(SileroModel::load(
                &paths.silero,
                config.vad.effective_sessions(),
            )?),
            VadBackend::Webrtc => None,
        };
        let mut asr_cfg = config.asr.clone();
        asr_cfg.language = config.conversation.language.clone();
        let asr = AsrEngine::load_path(&paths.asr, &asr_cfg, silero.clone())?;
        let tts = Arc::new(load_tts(config)?);
        let llm = LlmEngine::load(&EngineOptions {
            // Calls share the cores with Whisper and Piper (4 callers on 2 cores: p50 1.94 s
            // with 2 LLM threads, 1.46 s with 1).
            threads: config.llm.threads_serving_calls(),
            ..EngineOptions::from_config(&config.llm, paths.llm.as_deref())?
        })?;
        let tools = Arc::new(ToolRegistry::from_config(&config.llm)?);
        let end_of_turn = load_end_of_turn(config)?;
        let vad_worker = match config.vad.backend {
            VadBackend::Silero => Some(crate::vad::VadWorker::load(
                &paths.silero,
                config.vad.max_batch,
            )?),
            VadBackend::Webrtc => None,
        };
        let models = ModelsUsed {
            asr: Some(file_name(asr.path())),
            llm: paths.llm.as_deref().map(file_name),
            tts: Some(file_name(&tts.voice().path)),
            vad: Some(match config.vad.backend {
                VadBackend::Silero => file_name(&paths.silero),
                VadBackend::Webrtc => "webrtc-vad".into(),
            }),
        };
        Ok(Engines {
            asr,
            silero,
            tts,
            llm,
            tools,
            vad_worker,
            end_of_turn,
            models,
        })
    }
}

/// The end-of-turn model `[conversation] end_of_turn_model` names (smart-turn v3 on its
/// batched worker), if any. A configured model that cannot load stops start-up: silently
/// falling back to the silence rule would make the agent cut callers off without saying why.
pub fn load_end_of_turn(config: &Config) -> Result<Option<Arc<dyn EndOfTurnModel>>, EnginesError> {
    let model = crate::vad::smart_turn::SmartTurn::from_config(config)
        .map_err(|e| EnginesError::EndOfTurn(e.to_string()))?;
    Ok(model.map(|m| m as Arc<dyn EndOfTurnModel>))
}

/// Where the configured model files are: relative paths are inside `[models] dir`, where
/// `agent download-models` puts them.
#[derive(Debug, Clone)]
pub struct ModelPaths {
    /// Whisper model.
    pub asr: PathBuf,
    /// Silero VAD model.
    pub silero: PathBuf,
    /// The GGUF, if configured.
    pub llm: Option<PathBuf>,
}

impl ModelPaths {
    /// The paths `config` names, resolved.
    pub fn of(config: &Config) -> ModelPaths {
        let dir = &config.models.dir;
        ModelPaths {
            asr: config.asr.model_path(dir),
            silero: config.vad.silero_model_path(dir),
            llm: config.llm.model.as_ref().map(|p| {
                if p.is_absolute() {
                    p.clone()
                } else {
                    dir.join(p)
                }
            }),
        }
    }
}

/// The voice for `[conversation] language`, as `[tts]` configures it.
pub fn load_tts(config: &Config) -> Result<Tts, crate::tts::TtsError> {
    let lang = if config.conversation.language == "ru" {
        Language::Russian
    } else {
        Language::English
    };
    crate::tts::setup::engine(config, setup::voice_for(config, lang), None, None)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}
