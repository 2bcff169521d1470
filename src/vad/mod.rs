//! Voice activity detection (Silero through ONNX Runtime, webrtc-vad) and endpointing.
//!
//! [`silero::SileroModel`] is loaded once per process; each call gets an [`Endpointer`] holding
//! its own recurrent state and a streaming [`Segmenter`] that turns 20 ms frames into
//! `SpeechStart` / `SpeechContinue` / `EndOfUtterance` events with media timestamps.
//! In calls, Silero runs on one shared blocking [`VadWorker`] that batches every call's
//! windows, and [`SmartTurn`] (the semantic end-of-turn model) on its own batched worker.

pub mod batch;
pub mod echo_gate;
pub mod end_of_turn;
pub mod endpointer;
pub mod segmenter;
pub mod silero;
pub mod silero_worker;
pub mod smart_turn;
pub mod webrtc;

pub use echo_gate::{EchoGate, EchoGateConfig};
pub use end_of_turn::{EndOfTurnError, EndOfTurnModel};
pub use endpointer::{detect_segments, Endpointer, SpeechSegment};
pub use segmenter::{Segmenter, SegmenterConfig, VadEvent};
pub use silero::SileroModel;
pub use silero_worker::{BatchedSileroStream, VadWorker};
pub use smart_turn::{SmartTurn, SmartTurnError, SmartTurnOptions};
pub use webrtc::WebrtcVad;

use std::path::PathBuf;

/// Which detector produces speech probabilities (defined with `[vad]`: config is the lowest
/// layer and imports no engine module).
pub use crate::config::VadBackend;

/// Why voice activity detection failed.
#[derive(Debug, thiserror::Error)]
pub enum VadError {
    /// ONNX Runtime is not available.
    #[error(transparent)]
    Runtime(#[from] crate::onnx::OnnxRuntimeError),
    /// The Silero model file does not exist.
    #[error(
        "Silero VAD model {path} not found. Set `[vad] silero_model` to silero_vad.onnx \
         (`agent download-models`), or use `[vad] backend = \"webrtc\"`"
    )]
    ModelMissing {
        /// The path that was configured.
        path: PathBuf,
    },
    /// The file exists but is not a usable Silero model.
    #[error("Silero VAD model {path}: cannot load: {message}")]
    ModelLoad {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A run of the detector failed.
    #[error("VAD inference failed: {0}")]
    Inference(String),
    /// A window of the wrong length was passed.
    #[error(
        "VAD window of {len} samples; Silero takes 512 samples and webrtc-vad 160/320/480 (16 kHz)"
    )]
    BadWindow {
        /// Length given.
        len: usize,
    },
}

/// Sample range `[start, end)` of `audio` (16 kHz) from the first to the last Silero window at
/// or above `threshold`, widened by `padding` samples; `None` when no window is speech.
pub fn speech_bounds(
    probabilities: &[f32],
    threshold: f32,
    padding: usize,
    len: usize,
) -> Option<(usize, usize)> {
    let first = probabilities.iter().position(|p| *p >= threshold)?;
    let last = probabilities.iter().rposition(|p| *p >= threshold)?;
    let start = (first * silero::WINDOW).saturating_sub(padding);
    let end = ((last + 1) * silero::WINDOW + padding).min(len);
    Some((start, end))
}
