//! What a simulated call observed: frame timing statistics and how the call ended.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// How a simulated call ended, from Asterisk's point of view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum CallEndReason {
    /// The agent sent `00 00 00`.
    AgentHangup,
    /// The agent closed the socket without a hangup frame.
    AgentClosed,
    /// We (the caller) hung up: `--hangup-after`, or the linger time after the WAV ran out.
    CallerHangup,
    /// The agent sent something Asterisk rejects (forbidden kind, zero-length or odd audio):
    /// Asterisk would hang up the caller.
    ProtocolViolation(String),
    /// A payload arrived more than 5 ms after its header: Asterisk's "Poll timed out".
    PollTimeout(String),
    /// The socket failed.
    IoError(String),
}

impl fmt::Display for CallEndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallEndReason::AgentHangup => write!(f, "agent hung up (00 00 00)"),
            CallEndReason::AgentClosed => write!(f, "agent closed the connection"),
            CallEndReason::CallerHangup => write!(f, "caller hung up"),
            CallEndReason::ProtocolViolation(d) => write!(f, "protocol violation: {d}"),
            CallEndReason::PollTimeout(d) => write!(f, "poll timed out: {d}"),
            CallEndReason::IoError(d) => write!(f, "socket error: {d}"),
        }
    }
}

/// Distribution of the intervals between consecutive audio frames from the agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IntervalStats {
    /// Number of intervals.
    pub count: usize,
    /// Median interval, ms.
    pub p50_ms: f64,
    /// 5th percentile, ms.
    pub p5_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest interval, ms.
    pub max_ms: f64,
    /// Smallest interval, ms.
    pub min_ms: f64,
    /// Jitter: 95th percentile of |interval − 20 ms|, ms.
    pub jitter_p95_ms: f64,
    /// Intervals longer than 40 ms (a frame's worth of silence the caller would hear as a gap).
    pub gaps_over_40ms: usize,
}

impl IntervalStats {
    /// Statistics of `intervals_ms`.
    pub fn from_intervals(intervals_ms: &[f64]) -> IntervalStats {
        if intervals_ms.is_empty() {
            return IntervalStats::default();
        }
        let mut sorted = intervals_ms.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mut dev: Vec<f64> = intervals_ms.iter().map(|i| (i - 20.0).abs()).collect();
        dev.sort_by(f64::total_cmp);
        IntervalStats {
            count: sorted.len(),
            p5_ms: percentile(&sorted, 5.0),
            p50_ms: percentile(&sorted, 50.0),
            p95_ms: percentile(&sorted, 95.0),
            p99_ms: percentile(&sorted, 99.0),
            max_ms: sorted[sorted.len() - 1],
            min_ms: sorted[0],
            jitter_p95_ms: percentile(&dev, 95.0),
            gaps_over_40ms: sorted.iter().filter(|&&i| i > 40.0).count(),
        }
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Everything a simulated call observed.
#[derive(Debug, Clone, Serialize)]
pub struct CallReport {
    /// The uuid we sent.
    pub uuid: String,
    /// Rate of the agent's latest audio (from its frame kind), if any arrived.
    pub agent_rate_hz: Option<u32>,
    /// Times the agent's audio rate changed (once, when it adopts a 16 kHz caller's rate).
    pub agent_rate_changes: u64,
    /// Audio frames received from the agent.
    pub frames_received: u64,
    /// How many frames of each payload size arrived (bytes → count).
    pub frame_sizes: BTreeMap<usize, u64>,
    /// Audio frames we sent.
    pub frames_sent: u64,
    /// DTMF frames we sent.
    pub dtmf_sent: u64,
    /// Time from connect to the agent's first audio frame, ms.
    pub first_audio_ms: Option<f64>,
    /// Time from connect to the agent's first audible (non-silent) frame, ms.
    pub first_non_silent_ms: Option<f64>,
    /// Time from connect to the agent's last audible frame, ms.
    pub last_non_silent_ms: Option<f64>,
    /// Intervals between the agent's audio frames.
    pub intervals: IntervalStats,
    /// How the call ended.
    pub ended: CallEndReason,
    /// Call length, ms.
    pub duration_ms: f64,
    /// Every interval between the agent's audio frames, ms (not in JSON; for aggregation).
    #[serde(skip)]
    pub intervals_ms: Vec<f64>,
    /// Every agent audio frame: (ms since connect, audible?) (not in JSON; for stop times).
    #[serde(skip)]
    pub audible_ms: Vec<(f64, bool)>,
    /// Everything the agent sent, as 16-bit samples at `agent_rate_hz` (not in JSON).
    #[serde(skip)]
    pub recorded: Vec<i16>,
}

impl CallReport {
    /// An empty report of a call at `rate_hz` (tests fill in what they look at).
    #[cfg(test)]
    pub(crate) fn empty(rate_hz: u32) -> CallReport {
        CallReport {
            uuid: String::new(),
            agent_rate_hz: Some(rate_hz),
            agent_rate_changes: 0,
            frames_received: 0,
            frame_sizes: Default::default(),
            frames_sent: 0,
            dtmf_sent: 0,
            first_audio_ms: None,
            first_non_silent_ms: None,
            last_non_silent_ms: None,
            intervals: Default::default(),
            ended: CallEndReason::CallerHangup,
            duration_ms: 0.0,
            intervals_ms: Vec::new(),
            audible_ms: Vec::new(),
            recorded: Vec::new(),
        }
    }

    /// When the agent's audio, playing at `t_ms` (ms since connect), stopped: the first
    /// inaudible frame at or after `t_ms` that begins at least `hold_frames` inaudible frames
    /// (a pause between sentences is not a stop). `None` if it was silent at `t_ms` or never
    /// stopped.
    pub fn stopped_after(&self, t_ms: f64, hold_frames: usize) -> Option<f64> {
        let first = self.audible_ms.iter().position(|&(at, _)| at >= t_ms)?;
        if first == 0 || !self.audible_ms[first - 1].1 {
            return None;
        }
        let frames = &self.audible_ms[first..];
        (0..frames.len())
            .find(|&i| {
                frames[i..]
                    .iter()
                    .take(hold_frames.max(1))
                    .all(|&(_, audible)| !audible)
                    && frames.len() - i >= hold_frames.max(1)
            })
            .map(|i| frames[i].0)
    }
}

impl fmt::Display for CallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} ms"));
        writeln!(f, "call {}", self.uuid)?;
        writeln!(f, "  ended:              {}", self.ended)?;
        writeln!(
            f,
            "  duration:           {:.1} s",
            self.duration_ms / 1000.0
        )?;
        writeln!(
            f,
            "  sent:               {} audio frames, {} DTMF",
            self.frames_sent, self.dtmf_sent
        )?;
        writeln!(
            f,
            "  received:           {} audio frames at {} Hz, sizes {:?}",
            self.frames_received,
            self.agent_rate_hz.map_or("-".into(), |r| r.to_string()),
            self.frame_sizes
        )?;
        writeln!(f, "  first audio frame:  {}", ms(self.first_audio_ms))?;
        writeln!(f, "  first non-silent:   {}", ms(self.first_non_silent_ms))?;
        let i = &self.intervals;
        writeln!(
            f,
            "  frame interval:     p5 {:.2} ms, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n = {})",
            i.p5_ms, i.p50_ms, i.p95_ms, i.p99_ms, i.max_ms, i.count
        )?;
        writeln!(f, "  jitter p95:         {:.2} ms", i.jitter_p95_ms)?;
        write!(f, "  gaps > 40 ms:       {}", i.gaps_over_40ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_statistics() {
        let mut v: Vec<f64> = vec![20.0; 97];
        v.extend([45.0, 0.5, 21.0]);
        let s = IntervalStats::from_intervals(&v);
        assert_eq!(s.count, 100);
        assert_eq!(s.p50_ms, 20.0);
        assert_eq!(s.max_ms, 45.0);
        assert_eq!(s.min_ms, 0.5);
        assert_eq!(s.gaps_over_40ms, 1);
        assert_eq!(s.p99_ms, 21.0);
        assert_eq!(IntervalStats::from_intervals(&[]).count, 0);
    }
}
