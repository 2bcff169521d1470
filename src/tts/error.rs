//! Errors of speech synthesis: each says what failed, where, and how to fix it.

use std::path::PathBuf;

/// Why synthesis failed.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// Nothing speakable in the text.
    #[error("nothing to say: the text is empty or has no speakable characters (letters, digits)")]
    EmptyText,
    /// The `.onnx.json` is missing or invalid.
    #[error("voice config {path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The `.onnx` is missing or not loadable.
    #[error("voice model {path}: {message}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Model and config disagree.
    #[error("voice model {model} does not match its config {config}: {message}")]
    Mismatch {
        /// The model file.
        model: PathBuf,
        /// The config file.
        config: PathBuf,
        /// What disagrees.
        message: String,
    },
    /// No voice of that name.
    #[error("voice `{name}` not found (looked for: {searched}); give a path to a .onnx file or run `agent download-models`")]
    VoiceNotFound {
        /// What was asked for.
        name: String,
        /// Where it was looked for.
        searched: String,
    },
    /// A bad speaker id or name.
    #[error("speaker: {0}")]
    Speaker(String),
    /// espeak-ng failed.
    #[error(transparent)]
    Phonemize(#[from] super::phonemize::PhonemizeError),
    /// ONNX Runtime is unavailable.
    #[error(transparent)]
    Runtime(#[from] crate::onnx::OnnxRuntimeError),
    /// The model failed to run.
    #[error("voice inference failed: {0}")]
    Inference(String),
    /// Synthesis was cancelled through its [`crate::cancel::CancelHandle`] (barge-in,
    /// hang-up, budget); the sentences before the cancel were delivered.
    #[error("synthesis cancelled")]
    Cancelled,
}
