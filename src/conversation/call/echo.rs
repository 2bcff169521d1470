//! Feeds the endpointer's echo gate with what the pacer wrote, on the caller's media clock.
//!
//! The playout logs (write time, peak) of each frame with agent audio; the caller's audio
//! arrives with its media time and its arrival time. The smallest gap seen between a
//! chunk's arrival and its media end (the least-delayed chunk) maps a write time onto the
//! media clock the gate compares with: what the agent wrote at wall time W can echo into
//! caller audio whose media time is `W − t0 − lag` or later.

use crate::pipeline::{AudioChunk, Playout};
use crate::vad::Endpointer;
use std::time::{Duration, Instant};

/// Maps playout write times onto the caller's media clock and hands them to the gate.
#[derive(Debug)]
pub(super) struct EchoFeed {
    /// The call's wall-clock origin.
    t0: Instant,
    /// Smallest (arrival − t0) − media end seen, seconds (negative when the caller's audio
    /// ran ahead of real time at first).
    lag: Option<f64>,
    /// Write time of the last frame handed to the gate.
    last: Option<Instant>,
}

impl EchoFeed {
    /// A feed for a call whose connection was accepted at `t0`.
    pub(super) fn new(t0: Instant) -> EchoFeed {
        EchoFeed {
            t0,
            lag: None,
            last: None,
        }
    }

    /// Learns the clock offset from `chunk`, then gives the gate every frame written since
    /// the last call.
    pub(super) fn sync(&mut self, chunk: &AudioChunk, out: &Playout, endpointer: &mut Endpointer) {
        if !endpointer.echo_gate_enabled() {
            return;
        }
        let media_end = (chunk.at + chunk.duration()).as_secs_f64();
        let arrival = chunk
            .received
            .saturating_duration_since(self.t0)
            .as_secs_f64();
        let lag = arrival - media_end;
        self.lag = Some(self.lag.map_or(lag, |l| l.min(lag)));
        let lag = self.lag.unwrap_or(0.0);
        for (written, peak) in out.sent_peaks_after(self.last) {
            self.last = Some(written);
            let wall = written.saturating_duration_since(self.t0).as_secs_f64();
            let at = Duration::from_secs_f64((wall - lag).max(0.0));
            endpointer.played_peak(at, peak);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VadConfig;
    use crate::vad::{EchoGateConfig, VadBackend};

    fn chunk(t0: Instant, at_ms: u64, arrived_ms: u64) -> AudioChunk {
        AudioChunk {
            samples_16k: vec![0.0; 320],
            at: Duration::from_millis(at_ms),
            received: t0 + Duration::from_millis(arrived_ms),
        }
    }

    #[test]
    fn written_frames_land_on_the_callers_media_clock() {
        let cfg = VadConfig {
            backend: VadBackend::Webrtc,
            ..VadConfig::default()
        };
        let mut ep = Endpointer::new(&cfg, None).unwrap();
        ep.enable_echo_gate(EchoGateConfig {
            max_delay: Duration::from_millis(100),
            erl_db: 6.0,
        });
        let t0 = Instant::now();
        let out = Playout::new(8000);
        let mut feed = EchoFeed::new(t0);
        // The caller's audio arrives 50 ms after its media time (connect, network), one
        // chunk later than that: the smallest gap is what counts.
        feed.sync(&chunk(t0, 0, 70), &out, &mut ep);
        feed.sync(&chunk(t0, 20, 90), &out, &mut ep);
        feed.sync(&chunk(t0, 40, 150), &out, &mut ep);
        // The agent writes a frame at peak 0.5 at wall 1000 ms: media time 950 ms.
        out.play(vec![0.5; 160], 8000).unwrap();
        let mut frame = Vec::new();
        out.take_frame(&mut frame, t0 + Duration::from_millis(1000));
        feed.sync(&chunk(t0, 60, 1010), &out, &mut ep);
        let ms = Duration::from_millis;
        assert_eq!(ep.echo_reference(ms(940)), Some(0.0), "not yet written");
        assert_eq!(ep.echo_reference(ms(960)), Some(0.5));
        assert_eq!(ep.echo_reference(ms(1040)), Some(0.5));
        assert_eq!(ep.echo_reference(ms(1060)), Some(0.0), "past the echo path");
        // Each frame is handed over once.
        feed.sync(&chunk(t0, 80, 1030), &out, &mut ep);
        assert_eq!(out.sent_peaks_after(feed.last).len(), 0);
    }

    #[test]
    fn without_the_gate_nothing_is_fed() {
        let cfg = VadConfig {
            backend: VadBackend::Webrtc,
            ..VadConfig::default()
        };
        let mut ep = Endpointer::new(&cfg, None).unwrap();
        let t0 = Instant::now();
        let out = Playout::new(8000);
        out.play(vec![0.5; 160], 8000).unwrap();
        out.take_frame(&mut Vec::new(), t0);
        let mut feed = EchoFeed::new(t0);
        feed.sync(&chunk(t0, 0, 20), &out, &mut ep);
        assert_eq!(ep.echo_reference(Duration::ZERO), None);
        assert!(feed.last.is_none());
    }
}
