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

/// A piece of a sentence's audio, as [`Synthesize::synthesize_pieces`] yields it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpokenPiece {
    /// The words of the sentence (as given) this piece says; the pieces' texts joined with
    /// spaces are the sentence.
    pub text: String,
    /// Its audio (mono, in [-1, 1], at [`Synthesize::sample_rate`]).
    pub audio: Vec<f32>,
}

/// Speech synthesis of one sentence.
pub trait Synthesize: Send + Sync + 'static {
    /// Rate of the audio it makes.
    fn sample_rate(&self) -> u32;

    /// The sentence's audio (mono, in [-1, 1], at [`Synthesize::sample_rate`]); `cancel` stops
    /// the work.
    fn synthesize(
        &self,
        text: String,
        cancel: CancelHandle,
    ) -> BoxFuture<'static, Result<Vec<f32>, EngineError>>;

    /// The sentence's audio in pieces as each is ready (the first clause first, so it can
    /// play while the rest is synthesised); the channel closes after the last. The default
    /// yields the whole sentence as one piece. Must be called inside a Tokio runtime.
    fn synthesize_pieces(
        &self,
        text: String,
        cancel: CancelHandle,
    ) -> tokio::sync::mpsc::Receiver<Result<SpokenPiece, EngineError>> {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let job = self.synthesize(text.clone(), cancel);
        tokio::spawn(async move {
            let piece = job.await.map(|audio| SpokenPiece { text, audio });
            let _ = tx.send(piece).await;
        });
        rx
    }
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

    /// Speculatively evaluates the prompt of a turn with `partial_caller_text` while the
    /// answer decision waits (the caller may go on), so the turn that follows only evaluates
    /// what changed. Returns at once; the default does nothing.
    fn prefill(&mut self, _partial_caller_text: &str) {}

    /// Lets the next turns' generation wait for work another caller waits on while this
    /// caller has audio ahead (`crate::priority`); `None` never waits. The default ignores
    /// it (a conversation without a shared CPU to give way on).
    fn set_deferral(&mut self, _deferral: Option<crate::priority::Deferral>) {}
}

/// Makes each call's [`Converse`].
pub trait StartConversation: Send + Sync + 'static {
    /// A new conversation (own history, own LLM sequence).
    fn start(&self) -> Result<Box<dyn Converse>, EngineError>;

    /// A new conversation whose system prompt also carries `instructions` (an outbound
    /// call's script). The default ignores them.
    fn start_with_instructions(
        &self,
        instructions: &str,
    ) -> Result<Box<dyn Converse>, EngineError> {
        let _ = instructions;
        self.start()
    }
}

/// What one call says differently from the configured defaults (an outbound campaign's
/// script with the contact's variables filled in).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallScript {
    /// Said instead of the configured greeting.
    pub greeting: Option<String>,
    /// Added to the system prompt.
    pub instructions: Option<String>,
    /// The agent profile the call should use (by name).
    pub profile: Option<String>,
}

/// Per-call scripts, looked up by AudioSocket uuid when a call connects.
pub trait CallScripts: Send + Sync + 'static {
    /// The script of call `uuid`, or `None` for an ordinary (inbound) call.
    fn script(&self, uuid: &uuid::Uuid) -> Option<CallScript>;
}
