//! `[tts]`: Piper text-to-speech.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Settings of `[tts]`: Piper text-to-speech.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TtsConfig {
    /// Russian voice: a path to a Piper `.onnx` (with `.onnx.json` beside it) or a voice name
    /// looked up in `voices_dir` and `[models] dir`.
    pub voice_ru: String,
    /// English voice: path or name, as `voice_ru`.
    pub voice_en: String,
    /// Extra directory searched for voices given by name.
    pub voices_dir: Option<PathBuf>,
    /// espeak-ng data directory (`espeak-ng-data` or its parent). Unset: the system's
    /// (Debian's 1.51). Point it at the data piper-phonemize bundles to get exactly the phonemes
    /// Piper voices were trained on (Debian's data differs in a few words).
    pub espeak_data: Option<PathBuf>,
    /// Speaker id for multi-speaker voices (0 for single-speaker voices).
    pub speaker: i64,
    /// Speaking rate: phoneme durations are multiplied by it (1.0 = the voice's own rate
    /// when unset; larger = slower), (0, 10].
    pub length_scale: Option<f32>,
    /// Override of the voice's `noise_scale` (variation), 0–2.
    pub noise_scale: Option<f32>,
    /// Override of the voice's `noise_w` (duration variation), 0–2.
    pub noise_w: Option<f32>,
    /// ONNX sessions per voice; a sentence needs one exclusively, so this many sentences are
    /// synthesized at once (1–64).
    pub sessions: usize,
    /// Intra-op threads per session; 0 = ONNX Runtime's default (all cores).
    pub intra_threads: usize,
    /// Audio cache for repeated sentences (greetings, fillers), megabytes; 0 disables it.
    /// Audio is held as `f32`: 4 bytes per sample, about 88 kB per second at 22.05 kHz.
    pub cache_mb: usize,
    /// Longest text chunk synthesized at once, characters (longer sentences are cut at
    /// commas, then spaces), 50–5000.
    pub max_sentence_chars: usize,
    /// Peak-normalise each sentence to full scale as Piper's `audio_float_to_int16` does;
    /// false: plain scaling with clipping.
    pub peak_normalize: bool,
    /// Run the Piper sessions on ONNX Runtime's CUDA execution provider (needs the
    /// `onnxruntime-gpu` library and a usable NVIDIA GPU; `[gpu] mode` says what happens without).
    pub use_gpu: bool,
}

impl Default for TtsConfig {
    fn default() -> Self {
        TtsConfig {
            voice_ru: "ru_RU-denis-medium".into(),
            voice_en: "en_US-lessac-medium".into(),
            voices_dir: None,
            espeak_data: None,
            speaker: 0,
            length_scale: None,
            noise_scale: None,
            noise_w: None,
            sessions: 1,
            intra_threads: 0,
            cache_mb: 64,
            max_sentence_chars: 400,
            peak_normalize: true,
            use_gpu: false,
        }
    }
}

impl TtsConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.voice_ru.trim().is_empty() && self.voice_en.trim().is_empty() {
            return Err(ConfigError::invalid(
                "tts.voice_ru",
                "at least one of voice_ru / voice_en must name a voice",
            ));
        }
        if self.speaker < 0 {
            return Err(ConfigError::invalid("tts.speaker", "a speaker id ≥ 0"));
        }
        if let Some(l) = self.length_scale {
            if !(l > 0.0 && l <= 10.0) {
                return Err(ConfigError::invalid(
                    "tts.length_scale",
                    "a number in (0, 10]",
                ));
            }
        }
        for (key, v) in [
            ("tts.noise_scale", self.noise_scale),
            ("tts.noise_w", self.noise_w),
        ] {
            if let Some(v) = v {
                if !(0.0..=2.0).contains(&v) {
                    return Err(ConfigError::invalid(key, "a number in [0, 2]"));
                }
            }
        }
        if !(1..=64).contains(&self.sessions) {
            return Err(ConfigError::invalid("tts.sessions", "1..=64"));
        }
        if self.intra_threads > 256 {
            return Err(ConfigError::invalid(
                "tts.intra_threads",
                "0 (default) or 1..=256",
            ));
        }
        if self.cache_mb > 16_384 {
            return Err(ConfigError::invalid("tts.cache_mb", "0..=16384 megabytes"));
        }
        if !(50..=5000).contains(&self.max_sentence_chars) {
            return Err(ConfigError::invalid(
                "tts.max_sentence_chars",
                "50..=5000 characters",
            ));
        }
        Ok(())
    }
}
