//! Whisper in a profile's language: the shared engine, with the language set per call.

use crate::asr::AsrEngine;
use crate::cancel::CancelHandle;
use crate::conversation::traits::{EngineError, Heard, Transcribe};
use futures::future::BoxFuture;
use std::sync::Arc;

/// [`Transcribe`] over the loaded Whisper, in `language` (a profile may differ from agent.toml).
#[derive(Debug, Clone)]
pub struct LanguageTranscriber {
    /// The shared Whisper.
    pub asr: Arc<AsrEngine>,
    /// Whisper language code (`ru`, `en`).
    pub language: String,
}

impl Transcribe for LanguageTranscriber {
    fn transcribe(
        &self,
        audio_16k: Vec<f32>,
        cancel: CancelHandle,
    ) -> BoxFuture<'static, Result<Heard, EngineError>> {
        let asr = Arc::clone(&self.asr);
        let language = self.language.clone();
        Box::pin(async move {
            if cancel.is_cancelled() {
                return Err(EngineError("transcription cancelled".into()));
            }
            let mut opts = asr.default_options();
            opts.language = language;
            let t = asr
                .transcribe_cancellable(audio_16k, opts, cancel)
                .await
                .map_err(|e| EngineError(e.to_string()))?;
            Ok(Heard {
                text: t.text.trim().to_string(),
                language: t.language,
            })
        })
    }

    fn max_concurrent(&self) -> usize {
        self.asr.max_concurrent()
    }
}
