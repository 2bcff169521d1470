//! The Whisper engine: one shared model, a state per transcription, a bounded worker pool.

use super::filter::{
    is_implausibly_short, is_repeated_segment, judge_segment, DropReason, FilterConfig,
    SegmentEvidence,
};
use super::model_file::{validate_whisper_file, WhisperFileInfo};
use super::timing::{install, StageMarks};
use super::{
    AsrError, DroppedSegment, Segment, StageTimings, TokenInfo, Transcript, Word, SAMPLE_RATE,
};
use crate::audio::level::rms_dbfs;
use crate::cancel::CancelHandle;
use crate::config::AsrConfig;
use crate::metrics::jobs::{job, Engine};
use crate::vad::{silero, speech_bounds, SileroModel};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Semaphore;
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

/// Per-call decoding options (defaults from `[asr]`).
#[derive(Debug, Clone, PartialEq)]
pub struct TranscribeOptions {
    /// `auto` or a Whisper language code.
    pub language: String,
    /// Beam width; 1 = greedy.
    pub beam_size: usize,
    /// Greedy candidates at non-zero temperature.
    pub best_of: usize,
    /// First temperature.
    pub temperature: f32,
    /// Fallback temperature step; 0 disables the fallback.
    pub temperature_inc: f32,
    /// Whisper's no-speech threshold.
    pub no_speech_threshold: f32,
    /// Whisper's log-probability threshold.
    pub logprob_threshold: f32,
    /// Whisper's entropy threshold.
    pub entropy_threshold: f32,
    /// Domain words for the decoder's initial prompt (empty = none).
    pub initial_prompt: String,
    /// Maximum tokens per segment; 0 = whisper.cpp's default.
    pub max_tokens: usize,
    /// Run the encoder on the input's length (+1 s) instead of a full 30 s window.
    pub dynamic_audio_ctx: bool,
    /// Decode without timestamp tokens: one pass per window, so whisper.cpp cannot seek back
    /// into speech it already decoded (the loop of a short window); segment times then span
    /// the window.
    pub no_timestamps: bool,
    /// Trim non-speech with Silero before decoding (needs the engine to have a VAD model).
    pub vad_trim: bool,
    /// Samples kept around the trimmed speech.
    pub vad_trim_padding: usize,
    /// Silero threshold for the trim.
    pub vad_threshold: f32,
    /// Hallucination filter thresholds.
    pub filter: FilterConfig,
}

impl TranscribeOptions {
    /// Options as configured in `[asr]` (trim threshold 0.5, Silero's default).
    pub fn from_config(cfg: &AsrConfig) -> TranscribeOptions {
        TranscribeOptions {
            language: cfg.language.clone(),
            beam_size: cfg.beam_size,
            best_of: cfg.best_of,
            temperature: cfg.temperature,
            temperature_inc: cfg.temperature_inc,
            no_speech_threshold: cfg.no_speech_threshold,
            logprob_threshold: cfg.logprob_threshold,
            entropy_threshold: cfg.entropy_threshold,
            initial_prompt: cfg.initial_prompt.clone(),
            max_tokens: cfg.max_tokens,
            dynamic_audio_ctx: cfg.dynamic_audio_ctx,
            no_timestamps: false,
            vad_trim: cfg.vad_trim,
            vad_trim_padding: cfg.vad_trim_padding_ms as usize * SAMPLE_RATE as usize / 1000,
            vad_threshold: 0.5,
            filter: FilterConfig {
                no_speech_threshold: cfg.no_speech_threshold,
                logprob_threshold: cfg.logprob_threshold,
                drop_no_speech_prob: cfg.drop_no_speech_prob,
                drop_avg_logprob: cfg.drop_avg_logprob,
                quiet_dbfs: cfg.quiet_dbfs,
            },
        }
    }
}

/// A loaded Whisper model shared by all calls.
pub struct AsrEngine {
    ctx: WhisperContext,
    info: WhisperFileInfo,
    path: PathBuf,
    threads: usize,
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    states: Mutex<Vec<WhisperState>>,
    vad: Option<Arc<SileroModel>>,
    defaults: TranscribeOptions,
}

impl std::fmt::Debug for AsrEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsrEngine")
            .field("path", &self.path)
            .field("threads", &self.threads)
            .field("max_concurrent", &self.max_concurrent)
            .finish_non_exhaustive()
    }
}

impl AsrEngine {
    /// Validates and loads `cfg.model` (blocking; seconds for big models). `vad` enables the
    /// Silero trim; without it `vad_trim` is ignored.
    pub fn load(
        cfg: &AsrConfig,
        vad: Option<Arc<SileroModel>>,
    ) -> Result<Arc<AsrEngine>, AsrError> {
        Self::load_path(&cfg.model, cfg, vad)
    }

    /// Like [`AsrEngine::load`] with an explicit model path.
    pub fn load_path(
        path: &Path,
        cfg: &AsrConfig,
        vad: Option<Arc<SileroModel>>,
    ) -> Result<Arc<AsrEngine>, AsrError> {
        let info = validate_whisper_file(path)?;
        if cfg.language != "auto" && super::language_id(&cfg.language).is_none() {
            return Err(AsrError::Language(cfg.language.clone()));
        }
        super::log::route_whisper_logs_to_tracing();
        let mut params = WhisperContextParameters::default();
        params.use_gpu(cfg.use_gpu && cfg!(feature = "cuda"));
        params.flash_attn(cfg.flash_attn);
        let path_str = path.to_str().ok_or_else(|| AsrError::Load {
            path: path.to_path_buf(),
            message: "the path is not valid UTF-8".into(),
        })?;
        let ctx =
            WhisperContext::new_with_params(path_str, params).map_err(|e| AsrError::Load {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let max_concurrent = cfg.effective_max_concurrent();
        Ok(Arc::new(AsrEngine {
            ctx,
            info,
            path: path.to_path_buf(),
            threads: cfg.effective_threads_per_job(),
            permits: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            states: Mutex::new(Vec::new()),
            vad,
            defaults: TranscribeOptions::from_config(cfg),
        }))
    }

    /// What the model file holds.
    pub fn info(&self) -> &WhisperFileInfo {
        &self.info
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Options as configured; copy and adjust per call.
    pub fn default_options(&self) -> TranscribeOptions {
        self.defaults.clone()
    }

    /// Transcriptions that may run at once.
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// Vocabulary size (token ids are below it).
    pub fn n_vocab(&self) -> i32 {
        self.ctx.n_vocab()
    }

    /// Transcribes 16 kHz mono audio on a blocking thread, waiting for a free worker slot.
    pub async fn transcribe(
        self: &Arc<Self>,
        audio: Vec<f32>,
        opts: TranscribeOptions,
    ) -> Result<Transcript, AsrError> {
        self.transcribe_cancellable(audio, opts, CancelHandle::new())
            .await
    }

    /// Like [`AsrEngine::transcribe`], stopped by `cancel`: whisper.cpp checks it before every
    /// encoder window and after every encoder and decoder step, so a cancelled decode frees
    /// its worker slot within one step (not after the whole 30 s window). Returns
    /// [`AsrError::Cancelled`] when it stopped early. Dropping the returned future does not
    /// stop the blocking work; cancelling does.
    pub async fn transcribe_cancellable(
        self: &Arc<Self>,
        audio: Vec<f32>,
        opts: TranscribeOptions,
        cancel: CancelHandle,
    ) -> Result<Transcript, AsrError> {
        let queued = Instant::now();
        let waiting = crate::metrics::jobs::queued(Engine::Asr);
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| AsrError::Worker(e.to_string()))?;
        drop(waiting);
        let queue_ms = ms(queued);
        let engine = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _job = job(Engine::Asr);
            let _permit = permit;
            engine.run(&audio, &opts, queued, queue_ms, &cancel)
        })
        .await
        .map_err(|e| AsrError::Worker(e.to_string()))?
    }

    /// Transcribes on the current thread (CLI, benchmarks), still within the worker limit.
    pub fn transcribe_blocking(
        &self,
        audio: &[f32],
        opts: &TranscribeOptions,
    ) -> Result<Transcript, AsrError> {
        let queued = Instant::now();
        let _permit = futures::executor::block_on(self.permits.acquire())
            .map_err(|e| AsrError::Worker(e.to_string()))?;
        let _job = job(Engine::Asr);
        self.run(audio, opts, queued, ms(queued), &CancelHandle::new())
    }

    /// The raw engine call alone (a fresh state, `full`, nothing else): the baseline our
    /// overhead is measured against. Returns milliseconds spent in `full`.
    pub fn raw_full_ms(&self, audio: &[f32], opts: &TranscribeOptions) -> Result<f64, AsrError> {
        let mut state = self.checkout_state()?;
        let params = self.full_params(opts, audio.len())?;
        let t = Instant::now();
        state
            .full(params, audio)
            .map_err(|e| AsrError::Engine(e.to_string()))?;
        let elapsed = ms(t);
        self.checkin_state(state);
        Ok(elapsed)
    }

    fn checkout_state(&self) -> Result<WhisperState, AsrError> {
        let pooled = self.states.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(s) => Ok(s),
            None => self
                .ctx
                .create_state()
                .map_err(|e| AsrError::Engine(format!("cannot create a decoding state: {e}"))),
        }
    }

    fn checkin_state(&self, state: WhisperState) {
        self.states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(state);
    }

    fn full_params<'a>(
        &self,
        opts: &'a TranscribeOptions,
        n_samples: usize,
    ) -> Result<FullParams<'a, 'a>, AsrError> {
        if opts.language != "auto" && super::language_id(&opts.language).is_none() {
            return Err(AsrError::Language(opts.language.clone()));
        }
        let strategy = if opts.beam_size > 1 {
            SamplingStrategy::BeamSearch {
                beam_size: opts.beam_size as i32,
                patience: -1.0,
            }
        } else {
            SamplingStrategy::Greedy {
                best_of: opts.best_of.max(1) as i32,
            }
        };
        let mut p = FullParams::new(strategy);
        p.set_n_threads(self.threads as i32);
        p.set_language(Some(opts.language.as_str()));
        p.set_translate(false);
        // Every utterance stands alone: carrying text over is how loops start on phone audio.
        p.set_no_context(true);
        p.set_print_progress(false);
        p.set_print_realtime(false);
        p.set_print_special(false);
        p.set_print_timestamps(false);
        p.set_suppress_blank(true);
        p.set_suppress_nst(true);
        p.set_temperature(opts.temperature);
        p.set_temperature_inc(opts.temperature_inc);
        p.set_entropy_thold(opts.entropy_threshold);
        p.set_logprob_thold(opts.logprob_threshold);
        p.set_no_speech_thold(opts.no_speech_threshold);
        if opts.dynamic_audio_ctx {
            p.set_audio_ctx(dynamic_audio_ctx(n_samples, self.ctx.n_audio_ctx()));
        }
        if opts.no_timestamps {
            p.set_no_timestamps(true);
        }
        if opts.max_tokens > 0 {
            p.set_max_tokens(opts.max_tokens as i32);
        }
        if !opts.initial_prompt.is_empty() {
            p.set_initial_prompt(&opts.initial_prompt);
        }
        Ok(p)
    }

    fn run(
        &self,
        audio: &[f32],
        opts: &TranscribeOptions,
        started: Instant,
        queue_ms: f64,
        cancel: &CancelHandle,
    ) -> Result<Transcript, AsrError> {
        if cancel.is_cancelled() {
            return Err(AsrError::Cancelled);
        }
        if audio.iter().any(|s| !s.is_finite()) {
            return Err(AsrError::Audio("samples contain NaN or infinity".into()));
        }
        let audio_seconds = audio.len() as f64 / SAMPLE_RATE as f64;
        let input_dbfs = rms_dbfs(audio);
        let mut timings = StageTimings {
            queue_ms,
            ..Default::default()
        };
        let mut transcript = Transcript {
            text: String::new(),
            language: opts.language.clone(),
            language_detected: false,
            segments: Vec::new(),
            dropped: Vec::new(),
            audio_seconds,
            speech_range: None,
            no_speech: false,
            input_dbfs,
            timings: StageTimings::default(),
        };

        // faster-whisper style: decode only the speech (plus padding).
        let mut offset = 0usize;
        let mut speech = audio;
        if let (true, Some(vad)) = (opts.vad_trim, self.vad.as_ref()) {
            let t = Instant::now();
            let probs = silero::probabilities(vad, audio)?;
            timings.vad_trim_ms = ms(t);
            match speech_bounds(
                &probs,
                opts.vad_threshold,
                opts.vad_trim_padding,
                audio.len(),
            ) {
                Some((s, e)) => {
                    offset = s;
                    speech = &audio[s..e];
                    transcript.speech_range = Some((s as f64 / 16_000.0, e as f64 / 16_000.0));
                }
                None => {
                    transcript.no_speech = true;
                    timings.total_ms = ms(started);
                    transcript.timings = timings;
                    return Ok(transcript);
                }
            }
        }
        if speech.is_empty() {
            transcript.no_speech = true;
            timings.total_ms = ms(started);
            transcript.timings = timings;
            return Ok(transcript);
        }

        if cancel.is_cancelled() {
            return Err(AsrError::Cancelled);
        }
        let mut state = self.checkout_state()?;
        let mut params = self.full_params(opts, speech.len())?;
        let marks = StageMarks::with_cancel(cancel.flag());
        install(&mut params, &marks);
        super::log::aborting(false);
        let t_full = Instant::now();
        let result = state.full(params, speech);
        let t_end = Instant::now();
        super::log::aborting(false);
        if cancel.is_cancelled() {
            // An aborted state may hold half a decode: drop it rather than pool it.
            return Err(AsrError::Cancelled);
        }
        result.map_err(|e| AsrError::Engine(e.to_string()))?;
        timings.engine_ms = (t_end - t_full).as_secs_f64() * 1000.0;
        let enc = marks.encoder_begin.get().copied().unwrap_or(t_full);
        let first = marks.first_logits.get().copied().unwrap_or(t_end);
        timings.mel_ms = (enc - t_full).as_secs_f64() * 1000.0;
        timings.encode_ms = (first.max(enc) - enc).as_secs_f64() * 1000.0;
        timings.decode_ms = (t_end - first.max(enc)).as_secs_f64() * 1000.0;

        if opts.language == "auto" {
            let id = state.full_lang_id_from_state();
            transcript.language = whisper_rs::get_lang_str(id)
                .unwrap_or("unknown")
                .to_string();
            transcript.language_detected = true;
        }
        let offset_s = offset as f64 / SAMPLE_RATE as f64;
        let end_s = (offset + speech.len()) as f64 / SAMPLE_RATE as f64;
        let eot = self.ctx.token_eot();
        for seg in state.as_iter() {
            let segment = read_segment(&seg, eot, offset_s, end_s);
            let verdict = judge_segment(
                &SegmentEvidence {
                    text: &segment.text,
                    no_speech_prob: segment.no_speech_prob,
                    avg_logprob: segment.avg_logprob,
                    input_dbfs,
                },
                &opts.filter,
            );
            let verdict = verdict.or_else(|| {
                let kept: Vec<&str> = transcript
                    .segments
                    .iter()
                    .map(|s| s.text.as_str())
                    .collect();
                if is_repeated_segment(&kept, &segment.text) {
                    Some(DropReason::RepeatedSegment)
                } else if is_implausibly_short(
                    !kept.is_empty(),
                    segment.start,
                    segment.end,
                    &segment.text,
                    segment.avg_logprob,
                ) {
                    Some(DropReason::ImplausiblyShort)
                } else {
                    None
                }
            });
            match verdict {
                None => transcript.segments.push(segment),
                Some(reason) => transcript.dropped.push(DroppedSegment { segment, reason }),
            }
        }
        self.checkin_state(state);
        transcript.text = transcript
            .segments
            .iter()
            .map(|s| s.text.trim())
            .collect::<Vec<_>>()
            .join(" ");
        timings.total_ms = ms(started);
        timings.overhead_ms =
            timings.total_ms - timings.queue_ms - timings.vad_trim_ms - timings.engine_ms;
        transcript.timings = timings;
        Ok(transcript)
    }
}

/// Reads a segment; timestamps are shifted by `offset_s` (the trim) and clamped into the
/// decoded range `[offset_s, end_s]` (Whisper can place timestamps past the audio's end).
fn read_segment(
    seg: &whisper_rs::WhisperSegment<'_>,
    eot: i32,
    offset_s: f64,
    end_s: f64,
) -> Segment {
    let mut tokens = Vec::new();
    let mut words: Vec<Word> = Vec::new();
    let (mut sum_plog, mut sum_p, mut n_text) = (0.0f64, 0.0f64, 0usize);
    for i in 0..seg.n_tokens() {
        let Some(tok) = seg.get_token(i) else {
            continue;
        };
        let data = tok.token_data();
        let text = tok
            .to_str_lossy()
            .map(|c| c.into_owned())
            .unwrap_or_default();
        let is_text = data.id < eot;
        if is_text {
            sum_plog += data.plog as f64;
            sum_p += data.p as f64;
            n_text += 1;
            if text.starts_with(' ') || words.is_empty() {
                words.push(Word {
                    text: text.trim().to_string(),
                    confidence: data.p,
                });
            } else if let Some(w) = words.last_mut() {
                w.text.push_str(&text);
                w.confidence = w.confidence.min(data.p);
            }
        }
        tokens.push(TokenInfo {
            id: data.id,
            text,
            p: data.p,
            plog: data.plog,
        });
    }
    words.retain(|w| !w.text.is_empty());
    let n = n_text.max(1) as f64;
    let start = (offset_s + seg.start_timestamp() as f64 / 100.0).clamp(offset_s, end_s);
    let end = (offset_s + seg.end_timestamp() as f64 / 100.0).clamp(start, end_s);
    Segment {
        start,
        end,
        text: seg
            .to_str_lossy()
            .map(|c| c.into_owned())
            .unwrap_or_default(),
        no_speech_prob: seg.no_speech_probability(),
        avg_logprob: if n_text == 0 {
            f32::NEG_INFINITY
        } else {
            (sum_plog / n) as f32
        },
        confidence: (sum_p / n) as f32,
        words,
        tokens,
    }
}

/// Encoder positions for `n_samples` of 16 kHz audio (one per 20 ms) plus a second of
/// margin, at least 100 and at most the model's window.
pub fn dynamic_audio_ctx(n_samples: usize, model_ctx: i32) -> i32 {
    let positions = n_samples.div_ceil(320) + 50;
    (positions as i32).clamp(100.min(model_ctx), model_ctx)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
