//! The real engines behind the conversation's traits: Whisper ([`WhisperTranscriber`]), Piper
//! ([`PiperSynthesizer`]) and the LLM conversation ([`LlmConversations`]).

use crate::asr::AsrEngine;
use crate::cancel::CancelHandle;
use crate::conversation::traits::{
    Converse, EngineError, Heard, StartConversation, Synthesize, Transcribe,
};
use crate::dialog::session::{Conversation, TurnEvent, TurnSummary};
use crate::tts::Tts;
use futures::future::BoxFuture;
use std::sync::Arc;

/// [`Transcribe`] over the loaded Whisper.
///
/// Cancel: whisper.cpp's abort callback polls the handle's flag before every encoder window
/// and after every encoder/decoder step, so a cancelled decode frees its thread promptly.
#[derive(Debug, Clone)]
pub struct WhisperTranscriber(pub Arc<AsrEngine>);

impl Transcribe for WhisperTranscriber {
    fn transcribe(
        &self,
        audio_16k: Vec<f32>,
        cancel: CancelHandle,
    ) -> BoxFuture<'static, Result<Heard, EngineError>> {
        let asr = Arc::clone(&self.0);
        Box::pin(async move {
            if cancel.is_cancelled() {
                return Err(EngineError("transcription cancelled".into()));
            }
            let opts = asr.default_options();
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
        self.0.max_concurrent()
    }
}

/// [`Synthesize`] over the loaded Piper voice, on a blocking thread.
///
/// Cancel: checked between the pieces and espeak phrases of the sentence (the TTS engine
/// holds the `tts` job count while it works).
#[derive(Debug, Clone)]
pub struct PiperSynthesizer(pub Arc<Tts>);

impl Synthesize for PiperSynthesizer {
    fn sample_rate(&self) -> u32 {
        self.0.sample_rate()
    }

    fn synthesize(
        &self,
        text: String,
        cancel: CancelHandle,
    ) -> BoxFuture<'static, Result<Vec<i16>, EngineError>> {
        let tts = Arc::clone(&self.0);
        Box::pin(async move {
            let job = tokio::task::spawn_blocking(move || {
                if cancel.is_cancelled() {
                    return Ok(Vec::new());
                }
                match tts.synthesize_cancellable(&text, &cancel) {
                    Err(crate::tts::TtsError::Cancelled) => Ok(Vec::new()),
                    r => r,
                }
            });
            match job.await {
                Ok(r) => r.map_err(|e| EngineError(e.to_string())),
                Err(e) => Err(EngineError(format!("synthesis thread: {e}"))),
            }
        })
    }
}

impl Converse for Conversation {
    fn user_turn<'a>(
        &'a mut self,
        text: &'a str,
        cancel: CancelHandle,
        mut on_event: Box<dyn FnMut(TurnEvent) + Send + 'a>,
    ) -> BoxFuture<'a, Result<TurnSummary, EngineError>> {
        Box::pin(async move {
            Conversation::user_turn(self, text, cancel, &mut on_event)
                .await
                .map_err(|e| EngineError(e.to_string()))
        })
    }

    fn replace_last_reply(&mut self, heard: &str) {
        Conversation::replace_last_reply(self, heard)
    }

    fn last_caller_text(&self) -> Option<String> {
        self.history()
            .iter()
            .rev()
            .find(|m| m.role == crate::dialog::Role::User)
            .map(|m| m.content.clone())
    }

    fn transcript(&self) -> Vec<crate::summary::Line> {
        use crate::dialog::Role as Chat;
        use crate::records::Role as Rec;
        self.history()
            .iter()
            .filter_map(|m| match m.role {
                Chat::User => Some(crate::summary::Line::new(Rec::Caller, m.content.clone())),
                Chat::Assistant if !m.content.trim().is_empty() => {
                    Some(crate::summary::Line::new(Rec::Agent, m.content.clone()))
                }
                _ => None,
            })
            .collect()
    }
}

/// [`StartConversation`] over the loaded LLM and tools, as `[llm]` configures them.
#[derive(Debug, Clone)]
pub struct LlmConversations {
    /// The dialog model.
    pub llm: Arc<crate::dialog::engine::LlmEngine>,
    /// Built-in and configured tools.
    pub tools: Arc<crate::dialog::tools::ToolRegistry>,
    /// `[llm]`.
    pub config: crate::config::LlmConfig,
}

impl StartConversation for LlmConversations {
    fn start(&self) -> Result<Box<dyn Converse>, EngineError> {
        let session = self.llm.session().map_err(|e| EngineError(e.to_string()))?;
        Ok(Box::new(Conversation::new(
            session,
            &self.config.system_prompt,
            Arc::clone(&self.tools),
            crate::dialog::engine::GenParams::from_config(&self.config),
            self.config.max_tool_rounds,
        )))
    }
}
