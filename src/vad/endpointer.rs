//! A call's VAD: detector (Silero or webrtc-vad) + [`Segmenter`], fed 20 ms frames at 16 kHz.
//!
//! Two ways to run Silero: [`Endpointer::new`] with a [`SileroModel`] runs it inline (the CLI,
//! whole-file tools), [`Endpointer::with_worker`] sends every window to the shared
//! [`VadWorker`] thread, and [`Endpointer::push_async`] awaits it, so the call's task never
//! blocks the async runtime. Both give the same events for the same audio.

use super::echo_gate::{EchoGate, EchoGateConfig};
use super::segmenter::{Segmenter, SegmenterConfig, VadEvent};
use super::silero::{SileroModel, SileroStream, WINDOW};
use super::silero_worker::{BatchedSileroStream, VadWorker};
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
    Batched {
        stream: BatchedSileroStream,
        prefilter: Option<WebrtcVad>,
    },
    Webrtc(WebrtcVad),
}

/// What the pre-filter and the cheap detectors decided before any model run.
enum Quick {
    /// The probability is known (webrtc-vad, or the pre-filter skipped the model).
    Known(f32, bool),
    /// Silero has to run on the window.
    RunModel,
}

impl Detector {
    fn window(&self) -> usize {
        match self {
            Detector::Silero { .. } | Detector::Batched { .. } => WINDOW,
            Detector::Webrtc(_) => FRAME,
        }
    }

    /// The answer when no model run is needed (webrtc-vad, or a pre-filtered silent window).
    fn quick(&mut self, window: &[f32], in_speech: bool) -> Result<Quick, VadError> {
        let prefilter = match self {
            Detector::Webrtc(v) => {
                let p = if v.is_voice(window)? { 1.0 } else { 0.0 };
                return Ok(Quick::Known(p, false));
            }
            Detector::Silero { prefilter, .. } | Detector::Batched { prefilter, .. } => prefilter,
        };
        if let (Some(pre), false) = (prefilter.as_mut(), in_speech) {
            if pre.voiced_fraction(window)? == 0.0 {
                match self {
                    Detector::Silero { stream, .. } => stream.skip_window(window),
                    Detector::Batched { stream, .. } => stream.skip_window(window),
                    Detector::Webrtc(_) => {}
                }
                return Ok(Quick::Known(0.0, true));
            }
        }
        Ok(Quick::RunModel)
    }

    /// The window's speech probability, and whether the pre-filter skipped the model (runs a
    /// batched detector by blocking on its worker).
    fn probability(&mut self, window: &[f32], in_speech: bool) -> Result<(f32, bool), VadError> {
        if let Quick::Known(p, skipped) = self.quick(window, in_speech)? {
            return Ok((p, skipped));
        }
        match self {
            Detector::Silero { stream, .. } => Ok((stream.process_window(window)?, false)),
            Detector::Batched { stream, .. } => {
                Ok((stream.process_window_blocking(window)?, false))
            }
            Detector::Webrtc(_) => unreachable!("webrtc-vad always answers quickly"),
        }
    }

    /// [`Self::probability`] awaiting the worker (an inline Silero session runs in place).
    async fn probability_async(
        &mut self,
        window: &[f32],
        in_speech: bool,
    ) -> Result<(f32, bool), VadError> {
        if let Quick::Known(p, skipped) = self.quick(window, in_speech)? {
            return Ok((p, skipped));
        }
        match self {
            Detector::Silero { stream, .. } => Ok((stream.process_window(window)?, false)),
            Detector::Batched { stream, .. } => Ok((stream.process_window(window).await?, false)),
            Detector::Webrtc(_) => unreachable!("webrtc-vad always answers quickly"),
        }
    }
}

/// Streaming VAD for one call: push audio of any length, get [`VadEvent`]s.
pub struct Endpointer {
    detector: Detector,
    segmenter: Segmenter,
    pending: Vec<f32>,
    /// Events produced but not yet returned (kept here so a cancelled `push_async` loses none).
    ready: Vec<VadEvent>,
    /// Judges windows that are only the agent's own echo (see [`Endpointer::enable_echo_gate`]).
    echo_gate: Option<EchoGate>,
    gated: u64,
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
        Ok(Endpointer::from_detector(cfg, detector))
    }

    /// An endpointer whose Silero windows run on the shared `worker` (with `[vad] backend =
    /// "webrtc"` the worker is unused and webrtc-vad runs inline: it is cheap).
    pub fn with_worker(cfg: &VadConfig, worker: &Arc<VadWorker>) -> Endpointer {
        let detector = match cfg.backend {
            VadBackend::Silero => Detector::Batched {
                stream: worker.stream(),
                prefilter: cfg.webrtc_prefilter.then(|| WebrtcVad::new(0)),
            },
            VadBackend::Webrtc => Detector::Webrtc(WebrtcVad::new(cfg.webrtc_mode)),
        };
        Endpointer::from_detector(cfg, detector)
    }

    fn from_detector(cfg: &VadConfig, detector: Detector) -> Endpointer {
        Endpointer {
            detector,
            segmenter: Segmenter::new(SegmenterConfig::from_vad(cfg)),
            pending: Vec::with_capacity(WINDOW * 2),
            ready: Vec::new(),
            echo_gate: None,
            gated: 0,
            last_probability: 0.0,
            windows: 0,
            skipped: 0,
        }
    }

    /// Feeds 16 kHz mono audio (typically one 20 ms frame); returns the events it completed.
    /// With a worker-backed endpointer this blocks on the worker: on the async runtime use
    /// [`Self::push_async`].
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<VadEvent>, VadError> {
        self.pending.extend_from_slice(samples);
        let window = self.detector.window();
        while self.pending.len() >= window {
            if self.window_is_echo(window) {
                self.accept_window(window, 0.0, true);
                continue;
            }
            let in_speech = self.segmenter.in_speech();
            let (p, skipped) = self
                .detector
                .probability(&self.pending[..window], in_speech)?;
            self.accept_window(window, p, skipped);
        }
        Ok(std::mem::take(&mut self.ready))
    }

    /// [`Self::push`] for the call's task: Silero runs on the worker thread while this awaits.
    ///
    /// Cancel-safe: the samples are queued first and a window is consumed only once its
    /// probability is in, and events wait in the endpointer until returned, so dropping the
    /// future (a `select!` branch losing) loses no audio and no event; the next call goes on.
    pub async fn push_async(&mut self, samples: &[f32]) -> Result<Vec<VadEvent>, VadError> {
        self.pending.extend_from_slice(samples);
        let window = self.detector.window();
        let mut chunk = Vec::with_capacity(window);
        while self.pending.len() >= window {
            if self.window_is_echo(window) {
                self.accept_window(window, 0.0, true);
                continue;
            }
            chunk.clear();
            chunk.extend_from_slice(&self.pending[..window]);
            let in_speech = self.segmenter.in_speech();
            let (p, skipped) = self.detector.probability_async(&chunk, in_speech).await?;
            self.accept_window(window, p, skipped);
        }
        Ok(std::mem::take(&mut self.ready))
    }

    /// Turns on the echo gate: windows no louder than the agent's own audio (reported with
    /// [`Endpointer::played`]) could echo back count as silence, so the agent's voice leaking
    /// into the caller's channel neither barges in nor opens an utterance.
    pub fn enable_echo_gate(&mut self, cfg: EchoGateConfig) {
        self.echo_gate = Some(EchoGate::new(cfg));
    }

    /// The playout released `samples` of the agent's audio now (on this endpointer's media
    /// clock, [`Endpointer::now`]); a no-op without the echo gate.
    pub fn played(&mut self, samples: &[f32]) {
        let now = self.now();
        if let Some(g) = &mut self.echo_gate {
            g.played(now, samples);
        }
    }

    /// The playout released a frame of the agent's audio with peak |sample| `peak`, ending at
    /// media time `at` (the caller loop maps the frame's write time onto this clock); a no-op
    /// without the echo gate.
    pub fn played_peak(&mut self, at: Duration, peak: f32) {
        if let Some(g) = &mut self.echo_gate {
            g.played_peak(at, peak);
        }
    }

    /// The gate's loudest agent peak that can echo into audio ending at media time `at`
    /// (`None` without the gate).
    pub fn echo_reference(&self, at: Duration) -> Option<f32> {
        self.echo_gate.as_ref().map(|g| g.reference_peak(at))
    }

    /// Whether the echo gate is on.
    pub fn echo_gate_enabled(&self) -> bool {
        self.echo_gate.is_some()
    }

    /// Windows the echo gate judged to be the agent's own echo.
    pub fn gated_windows(&self) -> u64 {
        self.gated
    }

    fn window_is_echo(&mut self, window: usize) -> bool {
        let Some(g) = &self.echo_gate else {
            return false;
        };
        let end = self.now() + std::time::Duration::from_nanos(window as u64 * 62_500);
        let echo = g.is_echo(end, &self.pending[..window]);
        if echo {
            self.gated += 1;
            // The detector's context moves on as for a pre-filtered window.
            match &mut self.detector {
                Detector::Silero { stream, .. } => stream.skip_window(&self.pending[..window]),
                Detector::Batched { stream, .. } => stream.skip_window(&self.pending[..window]),
                Detector::Webrtc(_) => {}
            }
        }
        echo
    }

    /// The first `window` pending samples had probability `p`: segment them and drop them.
    fn accept_window(&mut self, window: usize, p: f32, skipped: bool) {
        self.last_probability = p;
        self.windows += 1;
        self.skipped += skipped as u64;
        let events = self.segmenter.push(&self.pending[..window], p);
        self.ready.extend(events);
        self.pending.drain(..window);
    }

    /// Drops any open utterance and the detector's memory (e.g. after a barge-in was handled);
    /// media time keeps running.
    pub fn reset(&mut self) {
        match &mut self.detector {
            Detector::Silero { stream, .. } => stream.reset(),
            Detector::Batched { stream, .. } => stream.reset(),
            Detector::Webrtc(_) => {}
        }
        self.segmenter.reset();
        self.pending.clear();
        self.ready.clear();
        self.last_probability = 0.0;
    }

    /// End of the stream: closes an open utterance (after any events not yet returned).
    pub fn finish(&mut self) -> Vec<VadEvent> {
        let mut events = std::mem::take(&mut self.ready);
        events.extend(self.segmenter.finish());
        events
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
