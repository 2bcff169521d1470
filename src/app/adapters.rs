//! The real engines behind the conversation's traits: Whisper ([`WhisperTranscriber`]), Piper
//! ([`PiperSynthesizer`]) and the LLM conversation ([`LlmConversations`]).

use crate::asr::AsrEngine;
use crate::cancel::CancelHandle;
use crate::conversation::traits::{
    Converse, EngineError, Heard, SpokenPiece, StartConversation, Synthesize, Transcribe,
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
    ) -> BoxFuture<'static, Result<Vec<f32>, EngineError>> {
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

    /// Piper's pieces (the first clause of a long first sentence on its own, then
    /// sentences), each sent as soon as it is synthesised.
    fn synthesize_pieces(
        &self,
        text: String,
        cancel: CancelHandle,
    ) -> tokio::sync::mpsc::Receiver<Result<SpokenPiece, EngineError>> {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let pieces = match self.0.pieces(&text) {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.try_send(Err(EngineError(e.to_string())));
                return rx;
            }
        };
        let mut texts = share_words(&text, &pieces).into_iter();
        let stream = match self.0.spawn_stream_cancellable(&text, 2, cancel) {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.try_send(Err(EngineError(e.to_string())));
                return rx;
            }
        };
        tokio::spawn(async move {
            let mut stream = stream;
            while let Some(chunk) = stream.recv().await {
                let piece = match chunk {
                    Ok(c) => Ok(SpokenPiece {
                        text: texts.next().unwrap_or_default(),
                        audio: c.samples.to_vec(),
                    }),
                    Err(crate::tts::TtsError::Cancelled) => break,
                    Err(e) => Err(EngineError(e.to_string())),
                };
                if tx.send(piece).await.is_err() {
                    break;
                }
            }
        });
        rx
    }
}

/// The words of `sentence` (as the LLM wrote it) shared out over Piper's normalised
/// `pieces` in proportion to their word counts, so the record keeps the LLM's words and a
/// cut piece's heard part is estimated from its own words. The shares joined are `sentence`.
fn share_words(sentence: &str, pieces: &[String]) -> Vec<String> {
    let words: Vec<&str> = sentence.split_whitespace().collect();
    let counts: Vec<usize> = pieces
        .iter()
        .map(|p| p.split_whitespace().count().max(1))
        .collect();
    let total: usize = counts.iter().sum::<usize>().max(1);
    let mut out = Vec::with_capacity(pieces.len());
    let (mut from, mut seen) = (0usize, 0usize);
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        let to = if i + 1 == counts.len() {
            words.len()
        } else {
            (words.len() * seen / total).clamp(from, words.len())
        };
        out.push(words[from..to].join(" "));
        from = to;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::share_words;

    #[test]
    fn words_are_shared_over_the_pieces_and_join_back_to_the_sentence() {
        let s = "Your table for 4 is booked, and we will text you at 5 pm.";
        let pieces = [
            "Your table for four is booked,".to_string(),
            "and we will text you at five p m.".to_string(),
        ];
        let shares = share_words(s, &pieces);
        assert_eq!(shares.len(), 2);
        assert_eq!(shares.join(" "), s);
        assert!(shares[0].starts_with("Your table"), "{shares:?}");
        assert!(shares[1].ends_with("pm."), "{shares:?}");
        assert_eq!(
            share_words("Hello there.", &["Hello there.".into()]),
            ["Hello there."]
        );
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

    fn forget_last_turn(&mut self) {
        Conversation::forget_last_turn(self)
    }

    fn prefill(&mut self, partial_caller_text: &str) {
        if let Err(e) = Conversation::prefill(self, partial_caller_text) {
            // Only a head start is lost: the turn evaluates its prompt itself.
            tracing::debug!(error = %e, "speculative prefill not started");
        }
    }

    fn set_deferral(&mut self, deferral: Option<crate::priority::Deferral>) {
        Conversation::set_deferral(self, deferral)
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

    fn start_with_instructions(
        &self,
        instructions: &str,
    ) -> Result<Box<dyn Converse>, EngineError> {
        let session = self.llm.session().map_err(|e| EngineError(e.to_string()))?;
        let prompt = format!(
            "{}\n\n{}",
            self.config.system_prompt.trim_end(),
            instructions.trim()
        );
        Ok(Box::new(Conversation::new(
            session,
            prompt.trim(),
            Arc::clone(&self.tools),
            crate::dialog::engine::GenParams::from_config(&self.config),
            self.config.max_tool_rounds,
        )))
    }
}
