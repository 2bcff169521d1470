//! The echo path of a simulated phone: the agent's own audio, played at the caller's end,
//! leaks back into the caller's microphone `delay` later and `gain_db` quieter (a handset or
//! a speakerphone without echo cancellation; the classic false barge-in, AVA #467).
//!
//! Played audio is laid on a timeline at the caller's send rate as the agent's frames arrive
//! (a frame that arrives within 60 ms of the previous one's end continues it, like a jitter
//! buffer; a later one starts a new talkspurt at its arrival), and each outgoing caller frame
//! adds the timeline `delay` earlier.

use std::collections::VecDeque;
use std::time::Duration;

/// Echo level and delay (`agent call --echo-db -20 --echo-delay-ms 120`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EchoOptions {
    /// Level of the echo relative to the agent's audio, dB (negative: −20 = a tenth).
    pub gain_db: f32,
    /// Delay from the agent's audio arriving to its echo in the caller's audio.
    pub delay: Duration,
}

impl EchoOptions {
    /// Checks the values (gain −60..=0 dB, delay ≤ 2 s).
    pub fn new(gain_db: f32, delay: Duration) -> Result<EchoOptions, String> {
        if !(gain_db.is_finite() && (-60.0..=0.0).contains(&gain_db)) {
            return Err(format!("echo level {gain_db} dB: give −60..=0"));
        }
        if delay > Duration::from_secs(2) {
            return Err(format!("echo delay {delay:?}: at most 2 s"));
        }
        Ok(EchoOptions { gain_db, delay })
    }

    /// Linear amplitude factor.
    pub fn gain(&self) -> f32 {
        10f32.powf(self.gain_db / 20.0)
    }
}

/// The played-audio timeline and the echo taken from it.
#[derive(Debug)]
pub struct EchoLine {
    opts: EchoOptions,
    rate: u32,
    /// Samples of played audio; `timeline[0]` is at sample `base` since the call started.
    timeline: VecDeque<f32>,
    base: u64,
    /// End of the audio laid so far (sample index).
    write_end: u64,
}

impl EchoLine {
    /// An empty line at the caller's send `rate`.
    pub fn new(opts: EchoOptions, rate: u32) -> EchoLine {
        EchoLine {
            opts,
            rate,
            timeline: VecDeque::new(),
            base: 0,
            write_end: 0,
        }
    }

    fn samples(&self, d: Duration) -> u64 {
        (d.as_secs_f64() * self.rate as f64).round() as u64
    }

    /// The agent's frame (`samples` at `agent_rate`) arrived `at` after the call started.
    pub fn played(&mut self, at: Duration, samples: &[i16], agent_rate: u32) {
        let arrival = self.samples(at);
        let continues = arrival <= self.write_end + self.samples(Duration::from_millis(60));
        let start = if continues && self.write_end > 0 {
            self.write_end
        } else {
            arrival.max(self.write_end)
        };
        // Linear interpolation to the send rate (the echo need not be hi-fi).
        let n_out = (samples.len() as u64 * self.rate as u64 / agent_rate.max(1) as u64) as usize;
        let step = agent_rate as f64 / self.rate as f64;
        let at_in = |i: usize| samples.get(i).map_or(0.0, |&s| s as f32 / 32768.0);
        let end = start + n_out as u64;
        let need = end.saturating_sub(self.base) as usize;
        if self.timeline.len() < need {
            self.timeline.resize(need, 0.0);
        }
        // Audio that would land before the oldest kept sample is already too late to echo.
        let skip = self.base.saturating_sub(start) as usize;
        for j in skip..n_out {
            let x = j as f64 * step;
            let (i, frac) = (x.floor() as usize, (x - x.floor()) as f32);
            let v = at_in(i) * (1.0 - frac) + at_in(i + 1) * frac;
            let idx = (start + j as u64 - self.base) as usize;
            self.timeline[idx] = v;
        }
        self.write_end = self.write_end.max(end);
    }

    /// Adds the echo of the caller frame that starts at sample `from` to `frame` (f32 in
    /// [-1, 1]), then forgets the played audio no later frame can need.
    pub fn mix_into(&mut self, from: u64, frame: &mut [f32]) {
        let delay = self.samples(self.opts.delay);
        let gain = self.opts.gain();
        for (j, s) in frame.iter_mut().enumerate() {
            let t = (from + j as u64).checked_sub(delay);
            if let Some(t) = t.filter(|t| *t >= self.base) {
                if let Some(v) = self.timeline.get((t - self.base) as usize) {
                    *s += v * gain;
                }
            }
        }
        let keep_from = (from + frame.len() as u64).saturating_sub(delay);
        while self.base < keep_from && !self.timeline.is_empty() {
            self.timeline.pop_front();
            self.base += 1;
        }
        if self.timeline.is_empty() {
            self.base = self.base.max(keep_from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_echo_is_the_played_audio_delayed_and_attenuated() {
        let opts = EchoOptions::new(-20.0, Duration::from_millis(40)).unwrap();
        let mut line = EchoLine::new(opts, 8000);
        // A 20 ms frame of constant 0.5 arriving 100 ms into the call, at 8 kHz.
        line.played(Duration::from_millis(100), &[16384i16; 160], 8000);
        // Caller frame at 120..140 ms: still before the echo (which starts at 140 ms).
        let mut f = vec![0f32; 160];
        line.mix_into(960, &mut f);
        assert!(f.iter().all(|&s| s == 0.0));
        // Caller frame at 140..160 ms: the echo, a tenth of the level.
        let mut f = vec![0f32; 160];
        line.mix_into(1120, &mut f);
        assert!(f.iter().all(|&s| (s - 0.05).abs() < 1e-4), "{:?}", &f[..4]);
        // And nothing after it.
        let mut f = vec![0f32; 160];
        line.mix_into(1280, &mut f);
        assert!(f.iter().all(|&s| s == 0.0));
    }

    #[test]
    fn frames_arriving_with_jitter_play_back_to_back_and_rates_convert() {
        let opts = EchoOptions::new(0.0, Duration::from_millis(0)).unwrap();
        let mut line = EchoLine::new(opts, 16000);
        // Two 8 kHz frames; the second arrives 3 ms late: it continues the first.
        line.played(Duration::from_millis(0), &[8000i16; 160], 8000);
        line.played(Duration::from_millis(23), &[-8000i16; 160], 8000);
        let mut f = vec![0f32; 960];
        line.mix_into(0, &mut f);
        assert!((f[100] - 8000.0 / 32768.0).abs() < 1e-4);
        assert!((f[330] + 8000.0 / 32768.0).abs() < 1e-4);
        assert!(
            f[640..].iter().all(|s| *s == 0.0),
            "nothing after the two frames"
        );
    }

    #[test]
    fn a_frame_arriving_after_its_echo_was_due_is_dropped_not_a_panic() {
        let opts = EchoOptions::new(-20.0, Duration::from_millis(40)).unwrap();
        let mut line = EchoLine::new(opts, 8000);
        // The caller side has already sent 1 s: everything before 960 ms is forgotten.
        let mut f = vec![0f32; 160];
        line.mix_into(7840, &mut f);
        // A late agent frame stamped at 900 ms lands partly before the kept window.
        line.played(Duration::from_millis(900), &[16384i16; 160], 8000);
        line.played(Duration::from_millis(950), &[16384i16; 800], 8000);
        let mut f = vec![0f32; 160];
        line.mix_into(8000, &mut f);
        assert!(f.iter().any(|s| *s != 0.0));
    }

    #[test]
    fn bad_options_are_refused() {
        assert!(EchoOptions::new(3.0, Duration::ZERO).is_err());
        assert!(EchoOptions::new(-10.0, Duration::from_secs(5)).is_err());
        assert!((EchoOptions::new(-20.0, Duration::ZERO).unwrap().gain() - 0.1).abs() < 1e-6);
    }
}
