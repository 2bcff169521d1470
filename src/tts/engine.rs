//! Text → audio with one voice: sentence splitting, normalisation, phonemes, inference, cache;
//! sentence by sentence so the first sentence plays while the rest is synthesized.

use super::cache::{AudioCache, CacheKey};
use super::error::TtsError;
use super::normalize::normalize;
use super::phonemize::phonemize;
use super::sentences::split_sentences;
use super::voice::{normalize_audio, Voice};
use crate::cancel::CancelHandle;
use crate::metrics::jobs::{job, Engine};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Per-engine synthesis settings; `None` scales take the voice's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthOptions {
    /// Override of the voice's `noise_scale`.
    pub noise_scale: Option<f32>,
    /// Override of the voice's `length_scale` (speaking rate; larger = slower).
    pub length_scale: Option<f32>,
    /// Override of the voice's `noise_w`.
    pub noise_w: Option<f32>,
    /// Speaker id for multi-speaker voices.
    pub speaker: Option<i64>,
    /// Longest text chunk synthesized at once, characters.
    pub max_sentence_chars: usize,
    /// Peak-normalise each sentence like Piper's `audio_float_to_int16` (in f32: the peak
    /// goes to 32767/32768).
    pub peak_normalize: bool,
    /// A first sentence longer than this (characters) is cut at its first clause boundary
    /// (comma, semicolon, colon, dash) so its first piece is synthesised, and heard, sooner;
    /// 0 keeps sentences whole.
    pub first_piece_chars: usize,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            noise_scale: None,
            length_scale: None,
            noise_w: None,
            speaker: None,
            max_sentence_chars: super::sentences::DEFAULT_MAX_CHARS,
            peak_normalize: true,
            first_piece_chars: DEFAULT_FIRST_PIECE_CHARS,
        }
    }
}

/// Default of [`SynthOptions::first_piece_chars`].
pub const DEFAULT_FIRST_PIECE_CHARS: usize = 60;

/// Smallest first piece worth synthesising on its own, characters (shorter clauses stay with
/// the rest: a two-word piece gains little and sounds clipped).
const MIN_PIECE_CHARS: usize = 20;

/// Cuts `sentence` after its first clause boundary that leaves at least [`MIN_PIECE_CHARS`]
/// on both sides; `None` when there is none.
pub fn split_first_clause(sentence: &str) -> Option<(String, String)> {
    let cs: Vec<char> = sentence.chars().collect();
    for (i, &c) in cs.iter().enumerate() {
        let boundary = matches!(c, ',' | ';' | ':')
            || (c == '-' && i > 0 && cs[i - 1] == ' ' && cs.get(i + 1) == Some(&' '));
        if !boundary || i + 1 < MIN_PIECE_CHARS || cs.len() - i - 1 < MIN_PIECE_CHARS {
            continue;
        }
        // A comma inside a number (`1,250`) is no boundary.
        if c == ',' && cs.get(i + 1).is_some_and(|n| n.is_ascii_digit()) {
            continue;
        }
        let head: String = cs[..=i].iter().collect();
        let tail: String = cs[i + 1..].iter().collect();
        return Some((head.trim().to_string(), tail.trim().to_string()));
    }
    None
}

/// One sentence's phonemes as Piper sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct PhonemizedSentence {
    /// IPA phonemes (NFD code points, punctuation re-added).
    pub phonemes: String,
    /// Model input ids (`^`, pads, `$`).
    pub ids: Vec<i64>,
    /// Phonemes missing from the voice's map, with counts (skipped).
    pub missing: BTreeMap<char, usize>,
}

/// Audio of one sentence.
#[derive(Debug, Clone)]
pub struct AudioChunk {
    /// The normalised sentence.
    pub text: String,
    /// Mono samples in [-1, 1] (peak-normalised when [`SynthOptions::peak_normalize`]).
    pub samples: Arc<[f32]>,
    /// Sample rate of `samples`.
    pub sample_rate: u32,
    /// Seconds spent synthesizing it (0 when cached).
    pub synth_secs: f64,
    /// Came from the cache.
    pub cached: bool,
}

impl AudioChunk {
    /// Length of the audio in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.samples.len() as f64 / self.sample_rate as f64
    }
}

/// A text-to-speech engine: one voice, its scales and speaker, and an optional shared cache.
/// Cheap to clone; clones share the voice and cache.
#[derive(Debug, Clone)]
pub struct Tts {
    voice: Arc<Voice>,
    scales: [f32; 3],
    speaker: Option<i64>,
    max_chars: usize,
    peak_normalize: bool,
    first_piece_chars: usize,
    cache: Option<Arc<AudioCache>>,
}

impl Tts {
    /// An engine on a loaded voice; checks the speaker and scales.
    pub fn new(
        voice: Arc<Voice>,
        opts: &SynthOptions,
        cache: Option<Arc<AudioCache>>,
    ) -> Result<Tts, TtsError> {
        let d = voice.config.inference;
        let scales = [
            opts.noise_scale.unwrap_or(d.noise_scale),
            opts.length_scale.unwrap_or(d.length_scale),
            opts.noise_w.unwrap_or(d.noise_w),
        ];
        if !(scales[1] > 0.0 && scales[1] <= 10.0)
            || scales.iter().any(|s| !s.is_finite() || *s < 0.0)
        {
            return Err(TtsError::Config {
                path: voice.path.clone(),
                message: format!(
                    "bad scales {scales:?}: length_scale must be in (0, 10], noise scales ≥ 0"
                ),
            });
        }
        let speaker = match (voice.is_multi_speaker(), opts.speaker) {
            (true, s) => Some(voice.speaker_id(&s.unwrap_or(0).to_string())?),
            (false, Some(s)) if s != 0 => {
                return Err(TtsError::Speaker(format!(
                    "speaker {s} given but {} has one speaker",
                    voice.path.display()
                )))
            }
            (false, _) => None,
        };
        Ok(Tts {
            voice,
            scales,
            speaker,
            max_chars: opts.max_sentence_chars.max(20),
            peak_normalize: opts.peak_normalize,
            first_piece_chars: opts.first_piece_chars,
            cache,
        })
    }

    /// The same engine with another [`SynthOptions::first_piece_chars`] (0: whole sentences).
    pub fn with_first_piece_chars(mut self, chars: usize) -> Tts {
        self.first_piece_chars = chars;
        self
    }

    /// The voice.
    pub fn voice(&self) -> &Arc<Voice> {
        &self.voice
    }

    /// Output sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.voice.sample_rate()
    }

    /// The scales in use: noise_scale, length_scale, noise_w.
    pub fn scales(&self) -> [f32; 3] {
        self.scales
    }

    /// Splits and normalises `text` into the sentences that will be synthesized.
    pub fn sentences(&self, text: &str) -> Result<Vec<String>, TtsError> {
        let out: Vec<String> = split_sentences(text, self.max_chars)
            .into_iter()
            .map(|s| match self.voice.language {
                Some(lang) => normalize(&s, lang),
                None => s,
            })
            .filter(|s| s.chars().any(char::is_alphanumeric))
            .collect();
        if out.is_empty() {
            return Err(TtsError::EmptyText);
        }
        Ok(out)
    }

    /// The pieces that will be synthesised one by one: [`Tts::sentences`], with a long first
    /// sentence cut at its first clause (see [`SynthOptions::first_piece_chars`]).
    pub fn pieces(&self, text: &str) -> Result<Vec<String>, TtsError> {
        let mut out = self.sentences(text)?;
        if self.first_piece_chars > 0 && out[0].chars().count() > self.first_piece_chars {
            if let Some((head, tail)) = split_first_clause(&out[0]) {
                out[0] = tail;
                out.insert(0, head);
            }
        }
        Ok(out)
    }

    /// Phonemes and ids of one normalised sentence (espeak may split it further, as Piper does).
    pub fn phonemize(&self, sentence: &str) -> Result<Vec<PhonemizedSentence>, TtsError> {
        let mut out = Vec::new();
        for phonemes in phonemize(sentence, &self.voice.espeak_voice)? {
            let mut missing = BTreeMap::new();
            let ids = self.voice.id_map.ids(&phonemes, &mut missing);
            if !missing.is_empty() {
                tracing::debug!(
                    ?missing,
                    "tts: phonemes missing from the voice's map were skipped"
                );
            }
            out.push(PhonemizedSentence {
                phonemes: phonemes.into_iter().collect(),
                ids,
                missing,
            });
        }
        Ok(out)
    }

    /// Synthesizes one normalised sentence (from [`Tts::sentences`]), through the cache.
    pub fn synthesize_sentence(&self, sentence: &str) -> Result<AudioChunk, TtsError> {
        self.synthesize_sentence_cancellable(sentence, &CancelHandle::new())
    }

    /// [`Tts::synthesize_sentence`] that stops between espeak-ng's phrases once `cancel` is
    /// set ([`TtsError::Cancelled`]); counted as a running `tts` job while it works.
    pub fn synthesize_sentence_cancellable(
        &self,
        sentence: &str,
        cancel: &CancelHandle,
    ) -> Result<AudioChunk, TtsError> {
        let _job = job(Engine::Tts);
        if cancel.is_cancelled() {
            return Err(TtsError::Cancelled);
        }
        let key = self.cache.as_ref().map(|_| {
            CacheKey::new(
                &self.voice.path.to_string_lossy(),
                sentence,
                self.scales,
                self.speaker,
            )
        });
        if let (Some(cache), Some(key)) = (&self.cache, &key) {
            if let Some(samples) = cache.get(key) {
                return Ok(self.chunk(sentence, samples, 0.0, true));
            }
        }
        let start = Instant::now();
        let mut samples: Vec<f32> = Vec::new();
        for part in self.phonemize(sentence)? {
            if part.ids.len() <= 3 {
                continue; // only ^ _ $: nothing to say
            }
            if cancel.is_cancelled() {
                return Err(TtsError::Cancelled);
            }
            let audio = self.voice.infer(&part.ids, self.scales, self.speaker)?;
            samples.extend(normalize_audio(&audio, self.peak_normalize));
        }
        let samples: Arc<[f32]> = samples.into();
        if let (Some(cache), Some(key)) = (&self.cache, key) {
            cache.insert(key, samples.clone());
        }
        Ok(self.chunk(sentence, samples, start.elapsed().as_secs_f64(), false))
    }

    fn chunk(&self, text: &str, samples: Arc<[f32]>, synth_secs: f64, cached: bool) -> AudioChunk {
        AudioChunk {
            text: text.to_string(),
            samples,
            sample_rate: self.sample_rate(),
            synth_secs,
            cached,
        }
    }

    /// Sentence-by-sentence synthesis: each `next()` synthesizes one sentence, so the first
    /// audio is ready after the first sentence, not the whole text.
    pub fn synthesize_stream(&self, text: &str) -> Result<SentenceStream, TtsError> {
        self.synthesize_stream_cancellable(text, CancelHandle::new())
    }

    /// [`Tts::synthesize_stream`] that ends once `cancel` is set: the piece in progress stops
    /// at its next phrase and yields [`TtsError::Cancelled`], then the stream ends.
    pub fn synthesize_stream_cancellable(
        &self,
        text: &str,
        cancel: CancelHandle,
    ) -> Result<SentenceStream, TtsError> {
        let sentences = self.pieces(text)?;
        Ok(SentenceStream {
            tts: self.clone(),
            sentences: sentences.into_iter(),
            cancel,
            done: false,
        })
    }

    /// The same stream on a background thread, for async callers: chunks arrive on the
    /// channel as they are synthesized; dropping the receiver stops synthesis.
    pub fn spawn_stream(
        &self,
        text: &str,
        buffer: usize,
    ) -> Result<tokio::sync::mpsc::Receiver<Result<AudioChunk, TtsError>>, TtsError> {
        self.spawn_stream_cancellable(text, buffer, CancelHandle::new())
    }

    /// [`Tts::spawn_stream`] that also stops when `cancel` is set (the piece in progress ends
    /// at its next phrase), not only when the receiver is dropped.
    pub fn spawn_stream_cancellable(
        &self,
        text: &str,
        buffer: usize,
        cancel: CancelHandle,
    ) -> Result<tokio::sync::mpsc::Receiver<Result<AudioChunk, TtsError>>, TtsError> {
        let stream = self.synthesize_stream_cancellable(text, cancel)?;
        let (tx, rx) = tokio::sync::mpsc::channel(buffer.max(1));
        std::thread::Builder::new()
            .name("tts-stream".into())
            .spawn(move || {
                for chunk in stream {
                    if tx.blocking_send(chunk).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| TtsError::Inference(format!("cannot start a synthesis thread: {e}")))?;
        Ok(rx)
    }

    /// The whole text at once: all sentences' audio concatenated (mono, in [-1, 1]).
    pub fn synthesize(&self, text: &str) -> Result<Vec<f32>, TtsError> {
        self.synthesize_cancellable(text, &CancelHandle::new())
    }

    /// [`Tts::synthesize`] that stops between pieces and phrases once `cancel` is set.
    pub fn synthesize_cancellable(
        &self,
        text: &str,
        cancel: &CancelHandle,
    ) -> Result<Vec<f32>, TtsError> {
        let mut out = Vec::new();
        for chunk in self.synthesize_stream_cancellable(text, cancel.clone())? {
            out.extend_from_slice(&chunk?.samples);
        }
        Ok(out)
    }
}

/// Iterator over the audio of each sentence of a text.
#[derive(Debug)]
pub struct SentenceStream {
    tts: Tts,
    sentences: std::vec::IntoIter<String>,
    cancel: CancelHandle,
    done: bool,
}

impl SentenceStream {
    /// Sentences not yet synthesized.
    pub fn remaining(&self) -> usize {
        self.sentences.len()
    }
}

impl Iterator for SentenceStream {
    type Item = Result<AudioChunk, TtsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let sentence = self.sentences.next()?;
        let chunk = self
            .tts
            .synthesize_sentence_cancellable(&sentence, &self.cancel);
        if matches!(chunk, Err(TtsError::Cancelled)) {
            self.done = true;
        }
        Some(chunk)
    }
}
