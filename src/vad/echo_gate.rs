//! Echo-aware barge-in gate: the classic Geigel double-talk detector. While the agent talks,
//! caller audio counts as the caller (not the agent's own echo) only if its peak exceeds the
//! loudest outbound peak of the last `max_delay` by more than `-erl_db` (the smallest echo
//! return loss the line is assumed to have; 6 dB is Geigel's classic factor of ½).
//!
//! Silero judges *speech*, not *whose* speech: the agent's voice leaking back at −20 dB is
//! speech to it. The gate needs only what the playout already knows — the audio it released
//! and when — so it costs one max over a few dozen frame peaks per inbound frame.

use std::collections::VecDeque;
use std::time::Duration;

/// Gate parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EchoGateConfig {
    /// Longest echo path delay considered (playout → caller's microphone → back).
    pub max_delay: Duration,
    /// Smallest echo return loss assumed, dB (positive): echo is at least this much quieter.
    pub erl_db: f32,
}

impl Default for EchoGateConfig {
    fn default() -> Self {
        EchoGateConfig {
            max_delay: Duration::from_millis(500),
            erl_db: 6.0,
        }
    }
}

/// Outbound peaks by media time, and the decision for inbound frames.
#[derive(Debug, Clone)]
pub struct EchoGate {
    cfg: EchoGateConfig,
    /// (end of the outbound frame on the call's clock, its peak |sample|).
    outbound: VecDeque<(Duration, f32)>,
}

impl EchoGate {
    /// An empty gate.
    pub fn new(cfg: EchoGateConfig) -> EchoGate {
        EchoGate {
            cfg,
            outbound: VecDeque::new(),
        }
    }

    /// The playout released `samples` (f32, any rate) ending at `at` on the call's clock.
    pub fn played(&mut self, at: Duration, samples: &[f32]) {
        let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        self.played_peak(at, peak);
    }

    /// The playout released a frame whose peak |sample| was `peak`, ending at `at`.
    pub fn played_peak(&mut self, at: Duration, peak: f32) {
        self.outbound.push_back((at, peak));
        // Keep a little more than the window (`is_echo` may be asked slightly late).
        while let Some(&(t, _)) = self.outbound.front() {
            if t + self.cfg.max_delay * 2 < at {
                self.outbound.pop_front();
            } else {
                break;
            }
        }
    }

    /// Loudest outbound peak that can still echo into a frame ending at `at`.
    pub fn reference_peak(&self, at: Duration) -> f32 {
        let from = at.saturating_sub(self.cfg.max_delay);
        self.outbound
            .iter()
            .filter(|(t, _)| *t >= from && *t <= at)
            .fold(0f32, |m, (_, p)| m.max(*p))
    }

    /// True when the inbound frame ending at `at` is no louder than the agent's own echo
    /// could be: it must not count as the caller barging in.
    pub fn is_echo(&self, at: Duration, inbound: &[f32]) -> bool {
        let reference = self.reference_peak(at);
        if reference == 0.0 {
            return false;
        }
        let peak = inbound.iter().fold(0f32, |m, s| m.max(s.abs()));
        let limit = reference * 10f32.powf(-self.cfg.erl_db / 20.0);
        peak <= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(amplitude: f32, n: usize) -> Vec<f32> {
        (0..n).map(|i| amplitude * (i as f32 * 0.3).sin()).collect()
    }

    #[test]
    fn echo_of_the_agent_is_gated_and_a_louder_caller_is_not() {
        let mut g = EchoGate::new(EchoGateConfig::default());
        let ms = Duration::from_millis;
        for k in 1..=50u64 {
            g.played(ms(20 * k), &tone(0.5, 160));
        }
        // −20 dB and −10 dB echoes 120 ms later: gated.
        assert!(g.is_echo(ms(1000), &tone(0.05, 160)));
        assert!(g.is_echo(ms(1000), &tone(0.158, 160)));
        // The caller talking at the agent's level: not echo.
        assert!(!g.is_echo(ms(1000), &tone(0.4, 160)));
        // Long after the agent stopped, nothing is echo.
        assert!(!g.is_echo(ms(2000), &tone(0.05, 160)));
        // Silence on the outbound side gates nothing.
        let empty = EchoGate::new(EchoGateConfig::default());
        assert!(!empty.is_echo(ms(20), &tone(0.01, 160)));
    }
}
