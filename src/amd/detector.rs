//! The streaming detector a call feeds: caller audio (16 kHz f32) with the VAD's speech flag
//! per chunk, and transcripts; it runs the beep detector on the audio and the decider on all.

use super::decider::{AmdInput, AmdOutput, AmdParams, Decider};
use super::tone::ToneDetector;
use super::Decision;
use std::time::Duration;

/// One screened call's detector.
#[derive(Debug, Clone)]
pub struct AmdDetector {
    tone: ToneDetector,
    decider: Decider,
    rate: u32,
    samples: u64,
}

impl AmdDetector {
    /// A detector for audio at `rate` Hz (16 kHz in calls), at the answer.
    pub fn new(params: AmdParams, rate: u32) -> AmdDetector {
        AmdDetector {
            tone: ToneDetector::new(params.beep.clone(), rate),
            decider: Decider::new(params),
            rate,
            samples: 0,
        }
    }

    /// Feeds a chunk of caller audio and whether the VAD heard speech in it.
    pub fn push(&mut self, samples: &[f32], voiced: bool) -> Vec<AmdOutput> {
        let start = self.time(self.samples);
        self.samples += samples.len() as u64;
        let end = self.time(self.samples);
        let mut out = Vec::new();
        for beep in self.tone.push(samples) {
            out.extend(self.decider.on(AmdInput::Beep(beep)));
        }
        let mean_square = samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32;
        out.extend(self.decider.on(AmdInput::Frame {
            end,
            len: end - start,
            voiced,
            tone: self.tone.tone_active(),
            dbfs: 10.0 * (mean_square + 1e-12).log10(),
        }));
        out
    }

    /// An utterance is being transcribed.
    pub fn transcript_pending(&mut self) {
        self.decider.on(AmdInput::TranscriptPending);
    }

    /// Its transcript (empty when the transcription failed).
    pub fn transcript(&mut self, text: &str) -> Vec<AmdOutput> {
        self.decider.on(AmdInput::Transcript(text.to_string()))
    }

    /// The verdict, once made.
    pub fn decision(&self) -> Option<&Decision> {
        self.decider.decision()
    }

    /// The decider (beep time, transcript, state).
    pub fn decider(&self) -> &Decider {
        &self.decider
    }

    /// Media time of the audio pushed so far.
    pub fn now(&self) -> Duration {
        self.time(self.samples)
    }

    fn time(&self, samples: u64) -> Duration {
        Duration::from_nanos(samples * 1_000_000_000 / self.rate as u64)
    }
}
