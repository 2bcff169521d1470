//! A call's VAD: detector (Silero or webrtc-vad) + [`Segmenter`], fed 20 ms frames at 16 kHz.

use super::segmenter::{Segmenter, SegmenterConfig, VadEvent};
use super::silero::{SileroModel, SileroStream, WINDOW};
use super::webrtc::{WebrtcVad, FRAME};
use super::{VadBackend, VadError};
use crate::config::VadConfig;
use std::sync::Arc;
use std::time::Duration;

enum Detector {
    Silero {
        stream: SileroStream,
        prefilter: Option<WebrtcVad>,
    },
    Webrtc(WebrtcVad),
}

impl Detector {
    fn window(&self) -> usize {
        match self {
            Detector::Silero { .. } => WINDOW,
            Detector::Webrtc(_) => FRAME,
        }
    }

    /// The window's speech probability, and whether the pre-filter skipped the model.
    fn probability(&mut self, window: &[f32], in_speech: bool) -> Result<(f32, bool), VadError> {
        match self {
            Detector::Silero { stream, prefilter } => {
                if let (Some(pre), false) = (prefilter.as_mut(), in_speech) {
                    if pre.voiced_fraction(window)? == 0.0 {
                        stream.skip_window(window);
                        return Ok((0.0, true));
                    }
                }
                Ok((stream.process_window(window)?, false))
            }
            Detector::Webrtc(v) => Ok((if v.is_voice(window)? { 1.0 } else { 0.0 }, false)),
        }
    }
}

/// Streaming VAD for one call: push audio of any length, get [`VadEvent`]s.
pub struct Endpointer {
    detector: Detector,
    segmenter: Segmenter,
    pending: Vec<f32>,
    last_probability: f32,
    windows: u64,
    skipped: u64,
}

impl std::fmt::Debug for Endpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpointer")
            .field("segmenter", &self.segmenter)
            .finish_non_exhaustive()
    }
}

impl Endpointer {
    /// An endpointer per `[vad]`; `silero` must be given when the backend is Silero.
    pub fn new(cfg: &VadConfig, silero: Option<&Arc<SileroModel>>) -> Result<Endpointer, VadError> {
        let detector = match cfg.backend {
            VadBackend::Silero => {
                let model = silero.ok_or_else(|| VadError::ModelMissing {
                    path: cfg.silero_model.clone(),
                })?;
                Detector::Silero {
                    stream: model.stream(),
                    prefilter: cfg.webrtc_prefilter.then(|| WebrtcVad::new(0)),
                }
            }
            VadBackend::Webrtc => Detector::Webrtc(WebrtcVad::new(cfg.webrtc_mode)),
        };
        Ok(Endpointer {
            detector,
            segmenter: Segmenter::new(SegmenterConfig::from_vad(cfg)),
            pending: Vec::with_capacity(WINDOW * 2),
            last_probability: 0.0,
            windows: 0,
            skipped: 0,
        })
    }

    /// Feeds 16 kHz mono audio (typically one 20 ms frame); returns the events it completed.
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<VadEvent>, VadError> {
        self.pending.extend_from_slice(samples);
        let window = self.detector.window();
        let mut events = Vec::new();
        let mut offset = 0;
        while self.pending.len() - offset >= window {
            let chunk = &self.pending[offset..offset + window];
            let (p, skipped) = self
                .detector
                .probability(chunk, self.segmenter.in_speech())?;
            self.last_probability = p;
            self.windows += 1;
            self.skipped += skipped as u64;
            events.extend(self.segmenter.push(chunk, p));
            offset += window;
        }
        self.pending.drain(..offset);
        Ok(events)
    }

    /// Drops any open utterance and the detector's memory (e.g. after a barge-in was handled);
    /// media time keeps running.
    pub fn reset(&mut self) {
        match &mut self.detector {
            Detector::Silero { stream, .. } => stream.reset(),
            Detector::Webrtc(_) => {}
        }
        self.segmenter.reset();
        self.pending.clear();
        self.last_probability = 0.0;
    }

    /// End of the stream: closes an open utterance.
    pub fn finish(&mut self) -> Vec<VadEvent> {
        self.segmenter.finish()
    }

    /// Speech probability of the last window analysed.
    pub fn last_probability(&self) -> f32 {
        self.last_probability
    }

    /// Media time up to which audio has been analysed.
    pub fn now(&self) -> Duration {
        self.segmenter.now()
    }

    /// Windows analysed so far.
    pub fn windows(&self) -> u64 {
        self.windows
    }

    /// Windows the webrtc pre-filter judged silent, so Silero did not run on them.
    pub fn skipped_windows(&self) -> u64 {
        self.skipped
    }

    /// True while an utterance is open (for barge-in decisions).
    pub fn in_speech(&self) -> bool {
        self.segmenter.in_speech()
    }
}

/// A speech segment of a whole recording.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SpeechSegment {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
}

/// Runs an [`Endpointer`] over a whole 16 kHz recording in 20 ms frames.
pub fn detect_segments(
    cfg: &VadConfig,
    silero: Option<&Arc<SileroModel>>,
    audio: &[f32],
) -> Result<Vec<SpeechSegment>, VadError> {
    let mut ep = Endpointer::new(cfg, silero)?;
    let mut out = Vec::new();
    let mut collect = |events: Vec<VadEvent>| {
        for e in events {
            if let VadEvent::EndOfUtterance { start, end, .. } = e {
                out.push(SpeechSegment {
                    start: start.as_secs_f64(),
                    end: end.as_secs_f64(),
                });
            }
        }
    };
    for frame in audio.chunks(FRAME) {
        collect(ep.push(frame)?);
    }
    collect(ep.finish());
    Ok(out)
}
