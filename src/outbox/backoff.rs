//! Retry delays: exponential, capped, with jitter.

use rand::Rng;
use std::time::Duration;

/// Exponential backoff: `initial · 2^(attempt−1)`, capped at `max`, "equal jitter" (a
/// random point in the upper half), so many events (or agents) failing together do not
/// retry in lockstep, and no delay is ever below half its nominal value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// The cap.
    pub max: Duration,
}

impl Backoff {
    /// The nominal (un-jittered) delay after `attempts` failures (`attempts ≥ 1`).
    pub fn nominal(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(40);
        let ms = (self.initial.as_millis() as u64).saturating_mul(1u64 << shift);
        Duration::from_millis(ms).min(self.max)
    }

    /// The delay to wait after `attempts` failures: in `[nominal/2, nominal]`, at least
    /// `floor` (a server's `Retry-After`), never above the cap.
    pub fn delay(&self, attempts: u32, floor: Option<Duration>) -> Duration {
        let nominal = self.nominal(attempts);
        let half = nominal / 2;
        let jitter = rand::thread_rng().gen_range(0..=(nominal - half).as_millis() as u64);
        let d = half + Duration::from_millis(jitter);
        d.max(floor.unwrap_or_default()).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_stay_jittered_and_are_capped() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        };
        assert_eq!(b.nominal(1), Duration::from_millis(100));
        assert_eq!(b.nominal(4), Duration::from_millis(800));
        assert_eq!(b.nominal(30), Duration::from_secs(5));
        assert_eq!(b.nominal(u32::MAX), Duration::from_secs(5));
        let delays: Vec<_> = (0..200).map(|_| b.delay(3, None)).collect();
        assert!(delays
            .iter()
            .all(|d| *d >= Duration::from_millis(200) && *d <= Duration::from_millis(400)));
        assert!(delays.iter().any(|d| *d != delays[0]), "jittered");
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(60))),
            Duration::from_secs(5)
        );
    }
}
