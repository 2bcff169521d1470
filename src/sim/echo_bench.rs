//! Barge-in on real audio (`agent call --calls N --echo-db -20 …`): N simulated calls whose
//! line carries the agent's own audio back as echo. Counts the agent's utterances (talkspurts
//! heard by the caller), the barge-ins the agent registered (`enclave_barge_ins_total` from its
//! `/metrics`, when given) — with a silent caller every one is false — and, when the caller
//! also speaks (`--wav` at `--wav-at`), how long after the speech onset the agent's audio stopped.

use super::bench_calls::{voiced_span, Percentiles};
use super::{place_call, CallOptions, CallReport, SimError};
use std::time::Duration;

/// Inaudible frames that end a talkspurt (300 ms: longer than a pause between sentences).
const TALKSPURT_GAP_FRAMES: usize = 15;
/// Inaudible frames that count as the agent having stopped (200 ms).
const STOP_HOLD_FRAMES: usize = 10;

/// What the benchmark measured.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EchoBenchReport {
    /// Calls placed.
    pub calls: usize,
    /// Echo level (dB); `None` = no echo (the baseline).
    pub echo_db: Option<f32>,
    /// Echo delay (ms).
    pub echo_delay_ms: u64,
    /// Agent talkspurts heard by the callers (greetings, re-prompts, answers).
    pub agent_utterances: usize,
    /// Barge-ins the agent counted during the run (`None` without `--metrics`).
    pub barge_ins: Option<u64>,
    /// Calls with a caller utterance whose onset fell while the agent was talking.
    pub interruptions: usize,
    /// Of those, how many stopped the agent's audio.
    pub stopped: usize,
    /// Caller speech onset → the agent's audio stopping (ms).
    pub stop_ms: Percentiles,
}

/// Talkspurts in a call: runs of audible frames separated by at least 300 ms of silence.
pub fn talkspurts(report: &CallReport) -> usize {
    let mut n = 0;
    let mut quiet = TALKSPURT_GAP_FRAMES;
    for &(_, audible) in &report.audible_ms {
        if audible {
            if quiet >= TALKSPURT_GAP_FRAMES {
                n += 1;
            }
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    n
}

/// Reads `enclave_barge_ins_total` from the agent's metrics endpoint.
pub async fn barge_ins_total(metrics_url: &str) -> Result<u64, SimError> {
    let text = reqwest::get(metrics_url)
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| SimError::Options(format!("metrics {metrics_url}: {e}")))?
        .text()
        .await
        .map_err(|e| SimError::Options(format!("metrics {metrics_url}: {e}")))?;
    text.lines()
        .find_map(|l| l.strip_prefix("enclave_barge_ins_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .ok_or_else(|| {
            SimError::Options(format!(
                "metrics {metrics_url}: no enclave_barge_ins_total (is it the agent's /metrics?)"
            ))
        })
}

/// Places `calls` calls, `parallel` at a time, each with `template`'s options.
pub async fn run(
    template: CallOptions,
    calls: usize,
    parallel: usize,
    metrics_url: Option<&str>,
) -> Result<EchoBenchReport, SimError> {
    // Where the caller's speech starts, ms after connect.
    let onset_ms = template.audio.as_ref().and_then(|(a, rate)| {
        voiced_span(a, *rate).map(|(s, _)| template.audio_at.as_secs_f64() * 1000.0 + s * 1000.0)
    });
    let before = match metrics_url {
        Some(u) => Some(barge_ins_total(u).await?),
        None => None,
    };
    let mut report = EchoBenchReport {
        calls,
        echo_db: template.echo.map(|e| e.gain_db),
        echo_delay_ms: template.echo.map_or(0, |e| e.delay.as_millis() as u64),
        ..Default::default()
    };
    let mut stops = Vec::new();
    let mut done = 0;
    while done < calls {
        let n = parallel.max(1).min(calls - done);
        let batch: Vec<_> = (0..n)
            .map(|_| {
                let mut o = template.clone();
                o.uuid = None;
                o.record = false;
                tokio::spawn(place_call(o))
            })
            .collect();
        for h in batch {
            let r = h
                .await
                .map_err(|e| SimError::Options(format!("call task failed: {e}")))??;
            report.agent_utterances += talkspurts(&r);
            if let Some(onset) = onset_ms {
                let talking = r
                    .audible_ms
                    .iter()
                    .rev()
                    .find(|(t, _)| *t < onset)
                    .is_some_and(|(_, a)| *a);
                if talking {
                    report.interruptions += 1;
                    if let Some(stop) = r.stopped_after(onset, STOP_HOLD_FRAMES) {
                        report.stopped += 1;
                        stops.push(stop - onset);
                    }
                }
            }
        }
        done += n;
        // Let the agent finish the calls' teardown before the next batch.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if let (Some(u), Some(b)) = (metrics_url, before) {
        report.barge_ins = Some(barge_ins_total(u).await?.saturating_sub(b));
    }
    report.stop_ms = Percentiles::of(stops);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(audible: &[bool]) -> CallReport {
        CallReport {
            frames_received: audible.len() as u64,
            audible_ms: audible
                .iter()
                .enumerate()
                .map(|(i, a)| (i as f64 * 20.0, *a))
                .collect(),
            ..CallReport::empty(8000)
        }
    }

    #[test]
    fn talkspurts_and_stop_times_come_from_the_frame_timeline() {
        // 10 audible, a 100 ms pause (between sentences), 10 audible, 400 ms silence, 5 audible.
        let mut a = vec![true; 10];
        a.extend([false; 5]);
        a.extend([true; 10]);
        a.extend([false; 20]);
        a.extend([true; 5]);
        a.extend([false; 12]);
        let r = report(&a);
        assert_eq!(talkspurts(&r), 2);
        // Caller onset at 100 ms: the agent talks through the short pause and stops at 500 ms.
        assert_eq!(r.stopped_after(100.0, 10), Some(500.0));
        // Onset in the long silence: not an interruption.
        assert_eq!(r.stopped_after(600.0, 10), None);
    }
}
