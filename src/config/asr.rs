//! `[asr]`: Whisper speech recognition.

use super::{cpu_cores, ConfigError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Whisper's language codes in the order of its ids (whisper.cpp's `g_lang`), so the config
/// checks `language` without loading the engine; `asr::tests` checks it against whisper.cpp.
pub const WHISPER_LANGUAGES: &[&str] = &[
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it",
    "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur",
    "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn",
    "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si",
    "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo",
    "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln",
    "ha", "ba", "jw", "su", "yue",
];

/// Settings of `[asr]`: Whisper speech recognition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AsrConfig {
    /// whisper.cpp ggml model file (any size; q5/q8 quantised files load the same way).
    /// A relative path is resolved against `[models] dir`.
    pub model: PathBuf,
    /// `auto` (detect and report), or a fixed Whisper language code such as `ru` or `en`.
    pub language: String,
    /// CPU threads one transcription uses; 0 = cores / 4, between 1 and 4 (the LLM and TTS need
    /// cores too, and ggml's spinning threads collapse when the CPU is oversubscribed).
    pub threads_per_job: usize,
    /// Transcriptions running at once (others wait); 0 = CPU cores / `threads_per_job`.
    pub max_concurrent: usize,
    /// Beam width; 1 = greedy decoding.
    pub beam_size: usize,
    /// Candidates sampled at non-zero temperature (greedy fallback).
    pub best_of: usize,
    /// First decoding temperature.
    pub temperature: f32,
    /// Temperature step of the fallback when a decode fails the thresholds; 0 = no fallback.
    pub temperature_inc: f32,
    /// Whisper's no-speech threshold (with `logprob_threshold`: drop text on silence).
    pub no_speech_threshold: f32,
    /// Average log-probability under which a decode is retried hotter / the segment dropped.
    pub logprob_threshold: f32,
    /// Token-entropy threshold for the temperature fallback (Whisper's compression check).
    pub entropy_threshold: f32,
    /// Drop a segment whose no-speech probability alone exceeds this.
    pub drop_no_speech_prob: f32,
    /// Drop a segment whose average token log-probability alone is below this.
    pub drop_avg_logprob: f32,
    /// Input quieter than this (dBFS RMS) is near-silent: known hallucination phrases are dropped.
    pub quiet_dbfs: f32,
    /// Domain words and spelling hints given to the decoder as its initial prompt.
    pub initial_prompt: String,
    /// Maximum tokens per segment; 0 = whisper.cpp's default (half the text context).
    pub max_tokens: usize,
    /// Run the encoder on the utterance's length (+1 s) instead of a fixed 30 s window: 5-10x
    /// faster on short phone turns at the same WER on real speech (`agent bench quality-asr`),
    /// with the repeated-segment and too-short-segment filters catching what the short window
    /// adds. Off = Whisper's trained 30 s window.
    pub dynamic_audio_ctx: bool,
    /// Trim leading/trailing non-speech with Silero VAD (`[vad] silero_model`) before decoding.
    pub vad_trim: bool,
    /// Audio kept on each side of the speech found by the trim, milliseconds.
    pub vad_trim_padding_ms: u32,
    /// Run on the GPU when built with the `cuda` feature.
    pub use_gpu: bool,
    /// Flash attention (GPU builds).
    pub flash_attn: bool,
}

impl Default for AsrConfig {
    fn default() -> Self {
        AsrConfig {
            model: PathBuf::from("whisper/ggml-base-q5_1.bin"),
            language: "auto".into(),
            threads_per_job: 0,
            max_concurrent: 0,
            beam_size: 1,
            best_of: 5,
            temperature: 0.0,
            temperature_inc: 0.2,
            no_speech_threshold: 0.6,
            logprob_threshold: -1.0,
            entropy_threshold: 2.4,
            drop_no_speech_prob: 0.8,
            drop_avg_logprob: -1.5,
            quiet_dbfs: -45.0,
            initial_prompt: String::new(),
            max_tokens: 0,
            dynamic_audio_ctx: true,
            vad_trim: true,
            vad_trim_padding_ms: 200,
            use_gpu: false,
            flash_attn: false,
        }
    }
}

impl AsrConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.model.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                "asr.model",
                "must name a whisper ggml file",
            ));
        }
        if self.language != "auto" && !WHISPER_LANGUAGES.contains(&self.language.as_str()) {
            return Err(ConfigError::invalid(
                "asr.language",
                format!(
                    "`{}` is not a Whisper language code; use `auto`, `ru`, `en`, …",
                    self.language
                ),
            ));
        }
        if self.threads_per_job > 256 {
            return Err(ConfigError::invalid(
                "asr.threads_per_job",
                "0 (auto) ..= 256",
            ));
        }
        if self.max_concurrent > 4096 {
            return Err(ConfigError::invalid(
                "asr.max_concurrent",
                "0 (auto) ..= 4096",
            ));
        }
        if !(1..=16).contains(&self.beam_size) {
            return Err(ConfigError::invalid("asr.beam_size", "1..=16 (1 = greedy)"));
        }
        if !(1..=16).contains(&self.best_of) {
            return Err(ConfigError::invalid("asr.best_of", "1..=16"));
        }
        if !(0.0..=1.0).contains(&self.temperature) || !(0.0..=1.0).contains(&self.temperature_inc)
        {
            return Err(ConfigError::invalid(
                "asr.temperature",
                "temperature and temperature_inc in 0.0..=1.0",
            ));
        }
        for (key, v) in [
            ("asr.no_speech_threshold", self.no_speech_threshold),
            ("asr.drop_no_speech_prob", self.drop_no_speech_prob),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(ConfigError::invalid(key, "a probability in 0.0..=1.0"));
            }
        }
        for (key, v) in [
            ("asr.logprob_threshold", self.logprob_threshold),
            ("asr.drop_avg_logprob", self.drop_avg_logprob),
        ] {
            if !(-100.0..=0.0).contains(&v) {
                return Err(ConfigError::invalid(
                    key,
                    "a log-probability in -100.0..=0.0",
                ));
            }
        }
        if !(-120.0..=0.0).contains(&self.quiet_dbfs) {
            return Err(ConfigError::invalid("asr.quiet_dbfs", "-120.0..=0.0 dBFS"));
        }
        if self.max_tokens > 448 {
            return Err(ConfigError::invalid(
                "asr.max_tokens",
                "0 (default) ..= 448",
            ));
        }
        if self.vad_trim_padding_ms > 2000 {
            return Err(ConfigError::invalid("asr.vad_trim_padding_ms", "0..=2000"));
        }
        Ok(())
    }

    /// The model path, a relative one taken as relative to `models_dir` (`[models] dir`).
    pub fn model_path(&self, models_dir: &Path) -> PathBuf {
        resolve(&self.model, models_dir)
    }

    /// Threads per transcription: `threads_per_job`, or cores / 4 clamped to 1..=4.
    pub fn effective_threads_per_job(&self) -> usize {
        if self.threads_per_job > 0 {
            return self.threads_per_job;
        }
        (cpu_cores() / 4).clamp(1, 4)
    }

    /// Transcriptions allowed at once: `max_concurrent`, or cores / threads per job (≥ 1).
    pub fn effective_max_concurrent(&self) -> usize {
        if self.max_concurrent > 0 {
            return self.max_concurrent;
        }
        (cpu_cores() / self.effective_threads_per_job()).max(1)
    }
}

/// `path` if absolute, else `base/path`.
pub(crate) fn resolve(path: &Path, base: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}
