//! Fixed phrases synthesised once at start-up, so they play instantly on every call (and the
//! apology still plays when an engine is what failed).

use super::engines::EnginesError;
use crate::config::Phrases;
use crate::tts::Tts;
use std::sync::Arc;

/// One phrase: its text and its audio at the voice's rate.
#[derive(Debug, Clone)]
pub struct Phrase {
    /// What is said (kept for the call record and the history).
    pub text: String,
    /// The audio (shared by all calls).
    pub audio: Arc<Vec<i16>>,
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
}

impl PhraseAudio {
    /// Synthesises every phrase with `tts` (blocking).
    pub fn synthesize(phrases: &Phrases, tts: &Tts) -> Result<PhraseAudio, EnginesError> {
        let one = |text: &str| -> Result<Phrase, EnginesError> {
            let audio = tts.synthesize(text).map_err(|e| EnginesError::Phrase {
                text: text.to_string(),
                message: e.to_string(),
            })?;
            Ok(Phrase {
                text: text.to_string(),
                audio: Arc::new(audio),
            })
        };
        Ok(PhraseAudio {
            rate_hz: tts.sample_rate(),
            disclosure: phrases.disclosure.as_deref().map(one).transpose()?,
            greeting: phrases.greeting.as_deref().map(one).transpose()?,
            apology: one(&phrases.apology)?,
            transfer_notice: one(&phrases.transfer_notice)?,
            reprompt: one(&phrases.reprompt)?,
            goodbye: one(&phrases.goodbye)?,
        })
    }
}
