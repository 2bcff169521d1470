//! `[vad]`: voice activity detection and endpointing.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Which detector produces speech probabilities (`[vad] backend`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum VadBackend {
    /// Silero VAD (ONNX): accurate, robust to noise.
    #[default]
    Silero,
    /// webrtc-vad (GMM): very cheap, much less robust to noise; probability is 0 or 1.
    Webrtc,
}

/// Settings of `[vad]`: voice activity detection and endpointing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VadConfig {
    /// Detector: `silero` or `webrtc`.
    pub backend: VadBackend,
    /// Silero VAD ONNX file (v5/v6, 16 kHz, 512-sample windows); relative to `[models] dir`.
    pub silero_model: PathBuf,
    /// ONNX sessions shared by all calls (a run needs one exclusively); 0 = CPU cores.
    pub sessions: usize,
    /// webrtc-vad aggressiveness 0 (quality) ..= 3 (very aggressive).
    pub webrtc_mode: u8,
    /// Skip Silero on a window when webrtc-vad (mode 0, the least aggressive) hears no voice in
    /// any of its frames and the call is not in speech: saves CPU on silent lines.
    pub webrtc_prefilter: bool,
    /// Probability at or above which a window is speech.
    pub threshold: f32,
    /// Probability under which a window in speech counts as silence (hysteresis; below `threshold`).
    pub neg_threshold: f32,
    /// Speech shorter than this is ignored (coughs, clicks), milliseconds.
    pub min_speech_ms: u32,
    /// Silence that ends an utterance, milliseconds.
    pub trailing_silence_ms: u32,
    /// Utterances are cut (and a new one started) at this length, milliseconds.
    pub max_utterance_ms: u32,
    /// Audio kept before the detected start (and after the end) of speech, milliseconds.
    pub pre_roll_ms: u32,
    /// In an utterance, a window this many dB quieter than its loudest speech window counts
    /// as silence even while Silero still says speech (its probability decays over ~100 ms
    /// after the last word, in line noise longer), so the trailing silence starts when the
    /// voice stops; 0 = Silero alone decides.
    pub quiet_below_peak_db: f32,
    /// Most windows the shared Silero worker runs in one batched step (all calls together).
    pub max_batch: usize,
    /// Run the Silero sessions on ONNX Runtime's CUDA execution provider (as `[tts] use_gpu`).
    pub use_gpu: bool,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            backend: VadBackend::Silero,
            silero_model: PathBuf::from("vad/silero_vad-v6.2.onnx"),
            sessions: 0,
            webrtc_mode: 2,
            webrtc_prefilter: false,
            threshold: 0.5,
            neg_threshold: 0.35,
            min_speech_ms: 250,
            trailing_silence_ms: 500,
            max_utterance_ms: 15_000,
            pre_roll_ms: 200,
            quiet_below_peak_db: 25.0,
            max_batch: 64,
            use_gpu: false,
        }
    }
}

impl VadConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(0.0..=1.0).contains(&self.threshold) || self.threshold == 0.0 {
            return Err(ConfigError::invalid(
                "vad.threshold",
                "a probability in (0.0, 1.0]",
            ));
        }
        if !(0.0..=1.0).contains(&self.neg_threshold) || self.neg_threshold > self.threshold {
            return Err(ConfigError::invalid(
                "vad.neg_threshold",
                format!("0.0 ..= threshold ({})", self.threshold),
            ));
        }
        if self.webrtc_mode > 3 {
            return Err(ConfigError::invalid("vad.webrtc_mode", "0, 1, 2 or 3"));
        }
        if self.sessions > 1024 {
            return Err(ConfigError::invalid("vad.sessions", "0 (auto) ..= 1024"));
        }
        if self.min_speech_ms > 10_000 {
            return Err(ConfigError::invalid("vad.min_speech_ms", "0..=10000"));
        }
        if !(20..=10_000).contains(&self.trailing_silence_ms) {
            return Err(ConfigError::invalid(
                "vad.trailing_silence_ms",
                "20..=10000",
            ));
        }
        if !(1_000..=120_000).contains(&self.max_utterance_ms) {
            return Err(ConfigError::invalid(
                "vad.max_utterance_ms",
                "1000..=120000 (Whisper windows are 30 s)",
            ));
        }
        if self.pre_roll_ms > 2_000 {
            return Err(ConfigError::invalid("vad.pre_roll_ms", "0..=2000"));
        }
        if !(self.quiet_below_peak_db == 0.0 || (10.0..=60.0).contains(&self.quiet_below_peak_db)) {
            return Err(ConfigError::invalid(
                "vad.quiet_below_peak_db",
                "0 (off) or 10..=60 dB",
            ));
        }
        if !(1..=1024).contains(&self.max_batch) {
            return Err(ConfigError::invalid("vad.max_batch", "1..=1024"));
        }
        if self.silero_model.as_os_str().is_empty() && self.backend == VadBackend::Silero {
            return Err(ConfigError::invalid(
                "vad.silero_model",
                "must name the Silero ONNX file",
            ));
        }
        Ok(())
    }

    /// The Silero model path, a relative one taken as relative to `models_dir` (`[models] dir`).
    pub fn silero_model_path(&self, models_dir: &Path) -> PathBuf {
        super::asr::resolve(&self.silero_model, models_dir)
    }

    /// ONNX sessions to create: `sessions`, or the number of CPU cores.
    pub fn effective_sessions(&self) -> usize {
        if self.sessions > 0 {
            self.sessions
        } else {
            super::cpu_cores()
        }
    }
}
