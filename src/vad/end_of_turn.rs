//! The seam for semantic end-of-turn detection: given the caller's recent audio at a short
//! pause, how likely is it that they have finished their turn? The call's turn-taking asks
//! this when the VAD sees a short silence; smart-turn (ONNX) is the real implementation,
//! tests use scripted fakes.

use futures::future::BoxFuture;

/// How much audio an end-of-turn model looks at (smart-turn v3 takes the last 8 s).
pub const END_OF_TURN_WINDOW_SECS: f32 = 8.0;

/// Why a prediction failed (the caller's turn then falls back to the silence rule).
#[derive(Debug, thiserror::Error)]
#[error("end-of-turn model: {0}")]
pub struct EndOfTurnError(pub String);

/// A model that says whether the speaker has finished.
pub trait EndOfTurnModel: Send + Sync + 'static {
    /// Probability in [0, 1] that the speaker has finished, from the last
    /// [`END_OF_TURN_WINDOW_SECS`] (or less) of 16 kHz mono audio in [-1, 1]. Runs off the
    /// async runtime (a blocking worker); the future resolves when the inference is done.
    fn finished_probability(
        &self,
        audio_16k: Vec<f32>,
    ) -> BoxFuture<'static, Result<f32, EndOfTurnError>>;

    /// The probability at or above which the turn counts as finished.
    fn threshold(&self) -> f32 {
        0.5
    }
}
