//! The engines a call uses, behind small traits: [`Transcribe`] (Whisper), [`Synthesize`]
//! (Piper) and [`Converse`] (the LLM conversation, one per call, made by
//! [`StartConversation`]). The real implementations over the loaded engines are in
//! `crate::app::adapters`; tests give the call loop scripted fakes and run whole calls
//! without a model.
//!
//! Every job takes a [`CancelHandle`]: a budget timeout or a hang-up cancels it, and the
//! implementation stops the work behind it at its next check (not only the future awaiting
//! it).

use crate::cancel::CancelHandle;
use crate::dialog::session::{TurnEvent, TurnSummary};
use futures::future::BoxFuture;

/// Why an engine job failed (the stage's message, for the log and the record).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EngineError(pub String);

/// What was heard in an utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    /// The transcript, trimmed (empty: nothing was said).
    pub text: String,
    /// The language used or detected.
    pub language: String,
}

/// Speech recognition of one utterance.
pub trait Transcribe: Send + Sync + 'static {
    /// Transcribes 16 kHz mono audio in [-1, 1]; `cancel` stops the work.
    fn transcribe(
        &self,
        audio_16k: Vec<f32>,
        cancel: CancelHandle,
    ) -> BoxFuture<'static, Result<Heard, EngineError>>;

    /// Transcriptions that run at once (more wait in a queue).
    fn max_concurrent(&self) -> usize {
        1
    }
}

/// Speech synthesis of one sentence.
pub trait Synthesize: Send + Sync + 'static {
    /// Rate of the audio it makes.
    fn sample_rate(&self) -> u32;

    /// The sentence's audio (mono i16 at [`Synthesize::sample_rate`]); `cancel` stops the work.
    fn synthesize(
        &self,
        text: String,
        cancel: CancelHandle,
    ) -> BoxFuture<'static, Result<Vec<i16>, EngineError>>;
}

/// One call's conversation with the LLM: its history and the generate → tools loop.
pub trait Converse: std::fmt::Debug + Send + 'static {
    /// Runs one caller turn, reporting text and tool events as they come; `cancel` stops it
    /// (what was generated before stays in the history).
    fn user_turn<'a>(
        &'a mut self,
        text: &'a str,
        cancel: CancelHandle,
        on_event: Box<dyn FnMut(TurnEvent) + Send + 'a>,
    ) -> BoxFuture<'a, Result<TurnSummary, EngineError>>;

    /// Replaces the last reply in the history with what the caller heard (after a barge-in).
    fn replace_last_reply(&mut self, heard: &str);

    /// What the caller said last (for the hand-over summary).
    fn last_caller_text(&self) -> Option<String>;

    /// The conversation so far, caller and agent lines in order (for the hand-over summary).
    /// The default has only the caller's last words.
    fn transcript(&self) -> Vec<crate::summary::Line> {
        self.last_caller_text()
            .map(|t| vec![crate::summary::Line::new(crate::records::Role::Caller, t)])
            .unwrap_or_default()
    }

    /// Forgets the last caller turn and what was generated for it: its answer was retracted
    /// before the caller heard any of it (they went on; the merged sentence comes next).
    /// The default keeps the history (the LLM then sees the half sentence, then the whole).
    fn forget_last_turn(&mut self) {}
}

/// Makes each call's [`Converse`].
pub trait StartConversation: Send + Sync + 'static {
    /// A new conversation (own history, own LLM sequence).
    fn start(&self) -> Result<Box<dyn Converse>, EngineError>;
}
