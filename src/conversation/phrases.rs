//! Fixed phrases synthesised once at start-up, so they play instantly on every call (and the
//! apology still plays when an engine is what failed).

use crate::config::Phrases;
use std::sync::Arc;

/// A fixed phrase could not be synthesised.
#[derive(Debug, thiserror::Error)]
#[error("TTS: cannot synthesise the phrase {text:?}: {message}")]
pub struct PhraseError {
    /// The phrase.
    pub text: String,
    /// Why.
    pub message: String,
}

/// One phrase: its text and its audio at the voice's rate.
#[derive(Debug, Clone)]
pub struct Phrase {
    /// What is said (kept for the call record and the history).
    pub text: String,
    /// The audio, mono in [-1, 1] (shared by all calls).
    pub audio: Arc<Vec<f32>>,
}

/// The agent's fixed phrases, ready to play.
#[derive(Debug, Clone)]
pub struct PhraseAudio {
    /// Sample rate of every phrase.
    pub rate_hz: u32,
    /// Disclosure that this is an automated assistant, if configured.
    pub disclosure: Option<Phrase>,
    /// Greeting, if configured.
    pub greeting: Option<Phrase>,
    /// Apology on a failed turn.
    pub apology: Phrase,
    /// Before a hand-over.
    pub transfer_notice: Phrase,
    /// Silence re-prompt.
    pub reprompt: Phrase,
    /// Before the agent hangs up.
    pub goodbye: Phrase,
    /// A hand-over failed: the caller stays, a call-back is offered.
    pub handover_failed: Phrase,
}

impl PhraseAudio {
    /// Synthesises every phrase with `synthesize` (audio at `rate_hz`), e.g. a test voice.
    pub fn synthesize_with(
        phrases: &Phrases,
        rate_hz: u32,
        synthesize: impl Fn(&str) -> Result<Vec<f32>, String>,
    ) -> Result<PhraseAudio, PhraseError> {
        let one = |text: &str| -> Result<Phrase, PhraseError> {
            let audio = synthesize(text).map_err(|message| PhraseError {
                text: text.to_string(),
                message,
            })?;
            Ok(Phrase {
                text: text.to_string(),
                audio: Arc::new(audio),
            })
        };
        Ok(PhraseAudio {
            rate_hz,
            disclosure: phrases.disclosure.as_deref().map(one).transpose()?,
            greeting: phrases.greeting.as_deref().map(one).transpose()?,
            apology: one(&phrases.apology)?,
            transfer_notice: one(&phrases.transfer_notice)?,
            reprompt: one(&phrases.reprompt)?,
            goodbye: one(&phrases.goodbye)?,
            handover_failed: one(&phrases.handover_failed)?,
        })
    }
}
