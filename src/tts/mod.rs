//! Speech synthesis: text normalisation, espeak-ng phonemisation as Piper does it, Piper voices through ONNX Runtime.
//!
//! [`Tts`] is the entry point: `Voice::load` once per process, then `Tts::new` per use;
//! `synthesize_stream` yields one [`AudioChunk`] per sentence.

pub mod cache;
pub mod engine;
pub mod error;
pub mod normalize;
pub mod phonemize;
pub mod sentences;
pub mod setup;
pub mod voice;

pub use cache::AudioCache;
pub use engine::{AudioChunk, PhonemizedSentence, SentenceStream, SynthOptions, Tts};
pub use error::TtsError;
pub use normalize::Language;
pub use voice::{resolve_voice, Voice, VoiceOptions};
