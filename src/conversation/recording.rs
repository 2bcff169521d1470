//! The optional per-call WAV (`[records] recordings_dir`): caller left, agent right, placed by
//! media time. Agent audio is written per played item once the pacer reports how much of it
//! went out (a cut item contributes only what the caller heard).

use crate::audio::pcm::f32_slice_to_i16;
use crate::audio::resample::{resample, StreamResampler};
use crate::pipeline::{ItemState, PlayId, PlayoutProgress, HANDLER_RATE_HZ};
use crate::records::CallRecorder;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// One call's recording.
pub(crate) struct Recording {
    recorder: CallRecorder,
    rate: u32,
    caller: StreamResampler,
    scratch: Vec<f32>,
    /// Agent items not yet written: their audio (in [-1, 1]) and its rate.
    pending: HashMap<PlayId, (Arc<Vec<f32>>, u32)>,
    started: Instant,
    /// Caller audio (media time) past which nothing more is recorded.
    max: std::time::Duration,
    /// Set once the limit was reached (logged and counted once).
    full: bool,
}

impl Recording {
    /// Starts `<dir>/<uuid>.wav`, or logs why not (a recording never stops a call).
    pub(crate) fn start(
        config: &crate::config::RecordsConfig,
        uuid: &uuid::Uuid,
        started: Instant,
    ) -> Option<Recording> {
        let dir = config.recordings_dir.as_ref()?;
        let rate = config.recording_sample_rate;
        let made = CallRecorder::create(dir, &uuid.to_string(), rate)
            .map_err(|e| e.to_string())
            .and_then(|r| {
                StreamResampler::new(HANDLER_RATE_HZ, rate)
                    .map(|s| (r, s))
                    .map_err(|e| e.to_string())
            });
        match made {
            Ok((recorder, caller)) => Some(Recording {
                recorder,
                rate,
                caller,
                scratch: Vec::new(),
                pending: HashMap::new(),
                started,
                max: std::time::Duration::from_secs(config.recording_max_secs),
                full: false,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "call recording disabled for this call");
                None
            }
        }
    }

    /// Caller audio (16 kHz) at its media time.
    pub(crate) fn caller(&mut self, at: std::time::Duration, samples_16k: &[f32]) {
        // Media time counts the caller audio received (the transport drops audio that runs
        // ahead of real time), so this bounds the file by audio, not by wall clock.
        if at >= self.max {
            self.limit_reached();
            return;
        }
        self.scratch.clear();
        self.caller.process(samples_16k, &mut self.scratch);
        if !self.scratch.is_empty() {
            self.recorder.caller(at, &f32_slice_to_i16(&self.scratch));
        }
    }

    /// An agent item that was queued for playing.
    pub(crate) fn agent_item(&mut self, id: PlayId, audio: Arc<Vec<f32>>, rate: u32) {
        self.pending.insert(id, (audio, rate));
    }

    /// Writes the agent items the pacer has finished (played or cut).
    pub(crate) fn on_progress(&mut self, progress: &PlayoutProgress) {
        let finished: Vec<PlayId> = self
            .pending
            .keys()
            .copied()
            .filter(|id| {
                progress
                    .items
                    .get(id)
                    .is_none_or(|p| matches!(p.state, ItemState::Done | ItemState::Cut))
            })
            .collect();
        for id in finished {
            let Some((audio, rate)) = self.pending.remove(&id) else {
                continue;
            };
            let Some(p) = progress.items.get(&id) else {
                continue;
            };
            let Some(first) = p.first_frame_at else {
                continue; // cut before anything went out
            };
            let at = first.saturating_duration_since(self.started);
            if at >= self.max {
                self.limit_reached();
                continue;
            }
            let heard = &audio[..p.sent_samples.min(audio.len())];
            match resample(heard, rate, self.rate) {
                Ok(out) => self.recorder.agent(at, &f32_slice_to_i16(&out)),
                Err(e) => tracing::warn!(error = %e, "cannot record agent audio"),
            }
        }
    }

    fn limit_reached(&mut self) {
        if !self.full {
            self.full = true;
            crate::metrics::limits::hit(crate::metrics::limits::Limit::RecordingLength);
            tracing::warn!(
                max_secs = self.max.as_secs(),
                "call recording reached records.recording_max_secs; the rest is not recorded"
            );
        }
    }

    /// Finalises the file.
    pub(crate) async fn close(self) {
        match self.recorder.close().await {
            Ok(stats) => tracing::debug!(?stats, "call recording closed"),
            Err(e) => tracing::warn!(error = %e, "call recording failed"),
        }
    }
}
