//! Endpointing: turns (audio chunk, speech probability) pairs into utterance events.
//!
//! Pure and streaming: it knows nothing about the detector, so it is tested with synthetic
//! probability sequences. Hysteresis follows Silero's reference `get_speech_timestamps`: a chunk
//! at or above `threshold` starts (or sustains) speech; in speech, only a chunk under
//! `neg_threshold` starts the silence timer, and a chunk at or above `threshold` resets it.
//! One addition: in speech, a chunk `quiet_below_peak_db` quieter than the utterance's loudest
//! speech chunk starts the silence timer too, whatever its probability. Silero's probability
//! lags the voice (on jfk.wav it stays ≥ 0.5 for ~100 ms after the last word, above a −40 dBFS
//! line noise), and every millisecond of that lag is added to the caller's wait.

use crate::audio::level::{rms_dbfs, SILENCE_DBFS};
use crate::config::VadConfig;
use std::collections::VecDeque;
use std::time::Duration;

/// Endpointing parameters in samples-independent units.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmenterConfig {
    /// Sample rate of the audio pushed in (16 kHz in the pipeline).
    pub sample_rate: u32,
    /// Speech at or above this probability.
    pub threshold: f32,
    /// In speech, silence under this probability.
    pub neg_threshold: f32,
    /// Voiced audio needed before an utterance is confirmed (`SpeechStart`).
    pub min_speech_ms: u32,
    /// Silence that ends an utterance.
    pub trailing_silence_ms: u32,
    /// Length at which an utterance is force-cut.
    pub max_utterance_ms: u32,
    /// Audio kept before the start and after the end of speech.
    pub pre_roll_ms: u32,
    /// In speech, a chunk this many dB under the utterance's loudest speech chunk is silence
    /// (0 = probability alone).
    pub quiet_below_peak_db: f32,
}

impl SegmenterConfig {
    /// The endpointing part of `[vad]`, for 16 kHz audio.
    pub fn from_vad(cfg: &VadConfig) -> SegmenterConfig {
        SegmenterConfig {
            sample_rate: 16_000,
            threshold: cfg.threshold,
            neg_threshold: cfg.neg_threshold,
            min_speech_ms: cfg.min_speech_ms,
            trailing_silence_ms: cfg.trailing_silence_ms,
            max_utterance_ms: cfg.max_utterance_ms,
            pre_roll_ms: cfg.pre_roll_ms,
            quiet_below_peak_db: cfg.quiet_below_peak_db,
        }
    }

    fn samples(&self, ms: u32) -> u64 {
        ms as u64 * self.sample_rate as u64 / 1000
    }
}

/// What the endpointer reports, with media timestamps (time since the first sample pushed).
#[derive(Debug, Clone, PartialEq)]
pub enum VadEvent {
    /// Speech confirmed (lasted `min_speech_ms`); `at` is the utterance start, pre-roll included.
    SpeechStart {
        /// Start of the utterance's audio.
        at: Duration,
    },
    /// Still in a confirmed utterance after this chunk.
    SpeechContinue {
        /// End of the chunk just processed.
        at: Duration,
        /// The chunk's speech probability.
        probability: f32,
    },
    /// An utterance ended (trailing silence) or was cut (`forced`, at `max_utterance_ms`).
    EndOfUtterance {
        /// Its audio, pre-roll and end padding included.
        audio: Vec<f32>,
        /// Media time of `audio[0]`.
        start: Duration,
        /// Media time just after the last sample of `audio`.
        end: Duration,
        /// True when cut at the maximum length rather than ended by silence.
        forced: bool,
    },
}

#[derive(Debug)]
struct Utterance {
    start: u64,
    audio: Vec<f32>,
    voiced: u64,
    confirmed: bool,
    last_speech_end: u64,
    silence_start: Option<u64>,
    /// Level (dBFS) of the loudest chunk at or above `threshold` so far.
    peak_dbfs: f32,
}

/// The streaming endpointer state machine (one per call).
#[derive(Debug)]
pub struct Segmenter {
    cfg: SegmenterConfig,
    pos: u64,
    history: VecDeque<f32>,
    active: Option<Utterance>,
}

impl Segmenter {
    /// A segmenter at media time zero.
    pub fn new(cfg: SegmenterConfig) -> Segmenter {
        Segmenter {
            cfg,
            pos: 0,
            history: VecDeque::new(),
            active: None,
        }
    }

    /// Media time of the next sample.
    pub fn now(&self) -> Duration {
        self.time(self.pos)
    }

    /// True while an utterance (confirmed or not) is open.
    pub fn in_speech(&self) -> bool {
        self.active.is_some()
    }

    fn time(&self, samples: u64) -> Duration {
        Duration::from_nanos(samples * 1_000_000_000 / self.cfg.sample_rate as u64)
    }

    /// Feeds one chunk and its speech probability; returns the events it caused, in order.
    pub fn push(&mut self, chunk: &[f32], probability: f32) -> Vec<VadEvent> {
        let mut events = Vec::new();
        let chunk_start = self.pos;
        let chunk_end = self.pos + chunk.len() as u64;
        self.pos = chunk_end;
        let pre_roll = self.cfg.samples(self.cfg.pre_roll_ms) as usize;
        let speech = probability >= self.cfg.threshold;

        let Some(u) = self.active.as_mut() else {
            if speech {
                let mut audio: Vec<f32> = self.history.drain(..).collect();
                let start = chunk_start - audio.len() as u64;
                audio.extend_from_slice(chunk);
                self.active = Some(Utterance {
                    start,
                    audio,
                    voiced: chunk.len() as u64,
                    confirmed: false,
                    last_speech_end: chunk_end,
                    silence_start: None,
                    peak_dbfs: rms_dbfs(chunk),
                });
                self.after_chunk(chunk_end, probability, &mut events);
            } else {
                self.history.extend(chunk.iter().copied());
                while self.history.len() > pre_roll {
                    self.history.pop_front();
                }
            }
            return events;
        };

        u.audio.extend_from_slice(chunk);
        let level = rms_dbfs(chunk);
        if speech {
            u.peak_dbfs = u.peak_dbfs.max(level);
        }
        let quiet = self.cfg.quiet_below_peak_db > 0.0
            && level < u.peak_dbfs - self.cfg.quiet_below_peak_db;
        if quiet {
            // The voice has stopped, whatever the probability's lag says.
            u.silence_start.get_or_insert(chunk_start);
        } else if speech {
            u.silence_start = None;
            u.voiced += chunk.len() as u64;
            u.last_speech_end = chunk_end;
        } else if probability < self.cfg.neg_threshold {
            u.silence_start.get_or_insert(chunk_start);
        } else if u.silence_start.is_none() {
            // Between the thresholds: speech continues, but it does not count as voiced.
            u.last_speech_end = chunk_end;
        }
        self.after_chunk(chunk_end, probability, &mut events);
        events
    }

    /// Confirmation, continuation, end and force-cut checks after a chunk joined the utterance.
    fn after_chunk(&mut self, chunk_end: u64, probability: f32, events: &mut Vec<VadEvent>) {
        let min_speech = self.cfg.samples(self.cfg.min_speech_ms);
        let trailing = self.cfg.samples(self.cfg.trailing_silence_ms);
        let max_len = self.cfg.samples(self.cfg.max_utterance_ms);
        let Some(u) = self.active.as_mut() else {
            return;
        };
        if !u.confirmed && u.voiced >= min_speech.max(1) {
            u.confirmed = true;
            let at = u.start;
            events.push(VadEvent::SpeechStart { at: self.time(at) });
        }
        let u = self.active.as_ref().expect("utterance is open");
        if u.confirmed {
            events.push(VadEvent::SpeechContinue {
                at: self.time(chunk_end),
                probability,
            });
        }
        if let Some(silence_start) = u.silence_start {
            if chunk_end - silence_start >= trailing {
                self.close(false, events);
                return;
            }
        }
        if chunk_end - u.start >= max_len {
            let still_speaking = u.silence_start.is_none();
            let confirmed = u.confirmed;
            self.close(true, events);
            if still_speaking && confirmed {
                // The caller is still talking: the next utterance starts right here.
                self.active = Some(Utterance {
                    start: chunk_end,
                    audio: Vec::new(),
                    voiced: 0,
                    confirmed: true,
                    last_speech_end: chunk_end,
                    silence_start: None,
                    // No speech chunk measured yet: nothing is quieter than this.
                    peak_dbfs: SILENCE_DBFS,
                });
                events.push(VadEvent::SpeechStart {
                    at: self.time(chunk_end),
                });
            }
        }
    }

    /// Ends the open utterance: emits it if confirmed, keeps its tail as the next pre-roll.
    fn close(&mut self, forced: bool, events: &mut Vec<VadEvent>) {
        let Some(mut u) = self.active.take() else {
            return;
        };
        let pre_roll = self.cfg.samples(self.cfg.pre_roll_ms);
        let total_end = u.start + u.audio.len() as u64;
        let end = if forced {
            total_end
        } else {
            (u.last_speech_end + pre_roll).min(total_end)
        };
        self.history.clear();
        let tail_from = u.audio.len().saturating_sub(pre_roll as usize);
        self.history.extend(u.audio[tail_from..].iter().copied());
        if u.confirmed && end > u.start {
            u.audio.truncate((end - u.start) as usize);
            events.push(VadEvent::EndOfUtterance {
                audio: u.audio,
                start: self.time(u.start),
                end: self.time(end),
                forced,
            });
        }
    }

    /// Forgets the open utterance and the pre-roll; media time keeps running.
    pub fn reset(&mut self) {
        self.active = None;
        self.history.clear();
    }

    /// End of input: emits the open utterance (if confirmed) as ended by silence.
    pub fn finish(&mut self) -> Vec<VadEvent> {
        let mut events = Vec::new();
        if let Some(u) = self.active.as_mut() {
            u.silence_start.get_or_insert(self.pos);
        }
        self.close(false, &mut events);
        events
    }
}
