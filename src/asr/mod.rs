//! Speech recognition: Whisper (whisper.cpp through whisper-rs), one model per process, a state per call.
//!
//! [`AsrEngine`] validates the model file in Rust ([`model_file`]), loads it once, and runs
//! every transcription on a blocking thread with its own `WhisperState`, at most
//! `asr.max_concurrent` at a time so calls never oversubscribe the cores. Input is trimmed to
//! speech with Silero VAD first, and decoded segments pass the hallucination [`filter`].

pub mod engine;
pub mod filter;
pub mod log;
pub mod model_file;
mod timing;

pub use engine::{AsrEngine, TranscribeOptions};
pub use filter::{DropReason, FilterConfig};
pub use model_file::{validate_whisper_file, ModelFileError, WhisperFileInfo, WhisperHparams};

use serde::Serialize;
use std::path::PathBuf;

/// Sample rate Whisper takes.
pub const SAMPLE_RATE: u32 = 16_000;

/// Whisper's numeric id of a language code (`ru`, `en`, …), `None` if Whisper has no such code.
pub fn language_id(code: &str) -> Option<i32> {
    let id = whisper_rs::get_lang_id(code)?;
    (id >= 0).then_some(id)
}

/// Why a transcription (or loading the model) failed.
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    /// The model file failed validation.
    #[error(transparent)]
    ModelFile(#[from] ModelFileError),
    /// whisper.cpp refused a file that passed validation.
    #[error("whisper model {path}: whisper.cpp could not load it ({message}); check that it is a whisper.cpp ggml model for this build")]
    Load {
        /// The file.
        path: PathBuf,
        /// whisper-rs's error.
        message: String,
    },
    /// A language code Whisper does not know.
    #[error("unknown language `{0}`: use `auto` or a Whisper code such as `ru`, `en`")]
    Language(String),
    /// The audio cannot be transcribed as given.
    #[error("audio: {0}")]
    Audio(String),
    /// Silero (for trimming) failed.
    #[error("VAD trim: {0}")]
    Vad(#[from] crate::vad::VadError),
    /// whisper.cpp failed while transcribing.
    #[error("whisper.cpp failed: {0}")]
    Engine(String),
    /// The work was cancelled (barge-in, hang-up, budget) before it finished.
    #[error("transcription cancelled")]
    Cancelled,
    /// The worker thread died.
    #[error("transcription worker failed: {0}")]
    Worker(String),
}

/// One token of a segment.
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    /// Vocabulary id.
    pub id: i32,
    /// Token text (lossy UTF-8; a token may hold part of a character).
    pub text: String,
    /// Probability of the token.
    pub p: f32,
    /// Log-probability of the token.
    pub plog: f32,
}

/// A word: tokens from one leading space to the next, with their confidence.
#[derive(Debug, Clone, Serialize)]
pub struct Word {
    /// The word (trimmed).
    pub text: String,
    /// Lowest token probability in the word (one bad token makes the word doubtful).
    pub confidence: f32,
}

/// A decoded segment.
#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    /// Start in the original audio, seconds.
    pub start: f64,
    /// End in the original audio, seconds.
    pub end: f64,
    /// Text (as Whisper printed it, leading space included).
    pub text: String,
    /// Whisper's no-speech probability for the window.
    pub no_speech_prob: f32,
    /// Mean log-probability of the text tokens.
    pub avg_logprob: f32,
    /// Mean probability of the text tokens.
    pub confidence: f32,
    /// Words with confidence.
    pub words: Vec<Word>,
    /// Every token (special and timestamp tokens included), in order.
    pub tokens: Vec<TokenInfo>,
}

/// A segment the hallucination filter removed, and why.
#[derive(Debug, Clone, Serialize)]
pub struct DroppedSegment {
    /// The segment.
    pub segment: Segment,
    /// The rule that dropped it.
    pub reason: DropReason,
}

/// Where the time went, milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageTimings {
    /// Waiting for a worker slot (`asr.max_concurrent`).
    pub queue_ms: f64,
    /// Silero VAD over the input to trim non-speech.
    pub vad_trim_ms: f64,
    /// Inside whisper.cpp before the first encoder run: log-mel spectrogram (plus language
    /// detection with `auto`, which runs the encoder once more).
    pub mel_ms: f64,
    /// From the encoder start to the first decoder logits: encoder plus the prompt's decoder pass.
    pub encode_ms: f64,
    /// From the first logits to the end of `whisper_full`: token-by-token decoding.
    pub decode_ms: f64,
    /// The whole raw engine call (`state.full`).
    pub engine_ms: f64,
    /// Our work around it: state checkout, reading results, filtering.
    pub overhead_ms: f64,
    /// Everything from the call to the result.
    pub total_ms: f64,
}

/// The result of one transcription.
#[derive(Debug, Clone, Serialize)]
pub struct Transcript {
    /// Kept segments' text joined and trimmed.
    pub text: String,
    /// Language used: the fixed one, or the one Whisper detected (`auto`).
    pub language: String,
    /// True when the language was detected rather than fixed.
    pub language_detected: bool,
    /// Segments kept.
    pub segments: Vec<Segment>,
    /// Segments dropped by the hallucination filter.
    pub dropped: Vec<DroppedSegment>,
    /// Duration of the input, seconds.
    pub audio_seconds: f64,
    /// Speech range decoded after the VAD trim (seconds), `None` when not trimmed.
    pub speech_range: Option<(f64, f64)>,
    /// True when VAD found no speech at all (nothing was decoded).
    pub no_speech: bool,
    /// RMS level of the input, dBFS.
    pub input_dbfs: f32,
    /// Stage timings.
    pub timings: StageTimings,
}

impl Transcript {
    /// Real-time factor: processing time / audio duration.
    pub fn rtf(&self) -> f64 {
        if self.audio_seconds > 0.0 {
            self.timings.total_ms / 1000.0 / self.audio_seconds
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_configs_language_table_is_whisper_cpps() {
        let table = crate::config::WHISPER_LANGUAGES;
        for (i, code) in table.iter().enumerate() {
            assert_eq!(super::language_id(code), Some(i as i32), "{code}");
        }
        assert_eq!(whisper_rs::get_lang_max_id() as usize + 1, table.len());
        assert_eq!(super::language_id("klingon"), None);
    }
}
