//! Building engines from `[tts]` (and `[models] dir`): what the CLI and the call pipeline use.

use super::cache::AudioCache;
use super::engine::{SynthOptions, Tts};
use super::error::TtsError;
use super::normalize::Language;
use super::voice::{resolve_voice, Voice, VoiceOptions};
use crate::config::Config;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// `$ENCLAVE_SYNTH_DIR` or `~/.cache/enclave/synthetic` (where the synthetic test voices live).
pub fn synth_dir() -> PathBuf {
    std::env::var_os("ENCLAVE_SYNTH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            Path::new(&home).join(".cache/enclave/synthetic")
        })
}

/// Directories searched for voices given by name: `[tts] voices_dir`, `[models] dir`, then the
/// synthetic-model cache.
pub fn voice_dirs(config: &Config) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = &config.tts.voices_dir {
        dirs.push(d.clone());
    }
    dirs.push(config.models.dir.clone());
    dirs.push(synth_dir());
    dirs
}

/// The configured voice for a language (`voice_ru` / `voice_en`).
pub fn voice_for(config: &Config, lang: Language) -> &str {
    match lang {
        Language::Russian => &config.tts.voice_ru,
        Language::English => &config.tts.voice_en,
    }
}

/// The process-wide sentence cache (`[tts] cache_mb`; the first caller's size wins).
fn shared_cache(megabytes: usize) -> Option<Arc<AudioCache>> {
    static CACHE: OnceLock<Option<Arc<AudioCache>>> = OnceLock::new();
    CACHE
        .get_or_init(|| (megabytes > 0).then(|| Arc::new(AudioCache::new(megabytes << 20))))
        .clone()
}

/// An engine for `voice` (path or name) with the `[tts]` settings: the voice is loaded once per
/// process and the sentence cache is shared. `speaker` / `length_scale` override the config.
pub fn engine(
    config: &Config,
    voice: &str,
    speaker: Option<i64>,
    length_scale: Option<f32>,
) -> Result<Tts, TtsError> {
    let t = &config.tts;
    super::phonemize::set_data_path(t.espeak_data.as_deref())?;
    let path = resolve_voice(voice, &voice_dirs(config))?;
    let opts = VoiceOptions {
        sessions: t.sessions,
        intra_threads: t.intra_threads,
        ..VoiceOptions::default()
    };
    let voice = Voice::load(&path, &opts)?;
    let synth = SynthOptions {
        noise_scale: t.noise_scale,
        length_scale: length_scale.or(t.length_scale),
        noise_w: t.noise_w,
        speaker: speaker.or(Some(t.speaker)),
        max_sentence_chars: t.max_sentence_chars,
        peak_normalize: t.peak_normalize,
        ..SynthOptions::default()
    };
    let cache = if t.cache_mb == 0 {
        None
    } else {
        shared_cache(t.cache_mb)
    };
    Tts::new(voice, &synth, cache)
}
