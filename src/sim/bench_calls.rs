//! `agent bench calls`: N simulated callers at real time against a running agent; turn
//! latency measured on the wire, per-stage figures from the agent's call records, and the
//! agent process's CPU and memory.

use super::{place_call, CallOptions, CallReport, SimError};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchCallsOptions {
    /// The agent's AudioSocket address.
    pub addr: SocketAddr,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Rounds: each runs `concurrency` calls together.
    pub rounds: usize,
    /// The caller's utterance (mono, 16 kHz or any rate), and its rate.
    pub utterance: (Vec<f32>, u32),
    /// Silence before the utterance (lets the greeting finish).
    pub lead_silence: Duration,
    /// How long each call waits for the answer after the utterance.
    pub linger: Duration,
    /// The agent's call-record database, for per-stage figures (optional).
    pub records_db: Option<PathBuf>,
    /// The agent's process id, for CPU and memory (optional).
    pub agent_pid: Option<u32>,
}

/// Percentiles of a set of measurements (ms).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Percentiles {
    /// Number of samples.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
}

impl Percentiles {
    /// From unsorted samples.
    pub fn of(mut v: Vec<f64>) -> Percentiles {
        v.sort_by(f64::total_cmp);
        Percentiles {
            n: v.len(),
            p50: super::report::percentile(&v, 50.0),
            p95: super::report::percentile(&v, 95.0),
        }
    }
}

/// The benchmark's result.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BenchCallsReport {
    /// Concurrency.
    pub concurrency: usize,
    /// Calls placed.
    pub calls: usize,
    /// Calls in which an answer was heard after the caller's speech.
    pub answered: usize,
    /// End of caller speech → first audible answer frame, measured by the caller (ms).
    pub turn_latency_wire_ms: Percentiles,
    /// The longest silence inside each answer, between its first and last audible frame (ms):
    /// dead air while the caller waits for the reply's next sentence (Piper's own pause
    /// between sentences is a few hundred ms).
    pub answer_longest_silence_ms: Percentiles,
    /// The agent's own per-stage figures from its records (ms): endpointing, asr,
    /// llm_ttft, llm_first_sentence, tts_first_audio, turn_latency.
    pub stages_ms: Vec<(String, Percentiles)>,
    /// Agent CPU use over the run (% of one core).
    pub agent_cpu_percent: Option<f64>,
    /// Agent resident memory at the end and its peak (MiB).
    pub agent_rss_mib: Option<(f64, f64)>,
}

/// Runs the benchmark.
pub async fn bench_calls(opts: BenchCallsOptions) -> Result<BenchCallsReport, SimError> {
    let (speech, rate) = &opts.utterance;
    let lead = vec![0.0f32; (opts.lead_silence.as_secs_f64() * *rate as f64) as usize];
    let mut audio = lead;
    audio.extend_from_slice(speech);
    let (_, speech_end) = voiced_span(&audio, *rate)
        .ok_or_else(|| SimError::Audio("the utterance has no audible speech".into()))?;

    let cpu_start = opts.agent_pid.and_then(process_cpu_secs);
    let started = Instant::now();
    let peak_rss = std::sync::Arc::new(std::sync::Mutex::new(0.0f64));
    let sampler = opts
        .agent_pid
        .map(|pid| tokio::spawn(sample_rss(pid, std::sync::Arc::clone(&peak_rss))));
    let mut reports: Vec<(uuid::Uuid, CallReport)> = Vec::new();
    for _ in 0..opts.rounds.max(1) {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..opts.concurrency.max(1) {
            let uuid = uuid::Uuid::new_v4();
            let mut o = CallOptions::new(opts.addr);
            o.uuid = Some(uuid);
            o.audio = Some((audio.clone(), *rate));
            o.linger = opts.linger;
            set.spawn(async move { place_call(o).await.map(|r| (uuid, r)) });
        }
        while let Some(done) = set.join_next().await {
            let report = done.map_err(|e| SimError::Options(e.to_string()))??;
            reports.push(report);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let agent_cpu_percent = match (cpu_start, opts.agent_pid.and_then(process_cpu_secs)) {
        (Some(a), Some(b)) => Some((b - a) / wall * 100.0),
        _ => None,
    };
    let agent_rss_mib = match (sampler, opts.agent_pid) {
        (Some(task), Some(pid)) => {
            task.abort();
            let peak = *peak_rss.lock().unwrap_or_else(|e| e.into_inner());
            rss_mib(pid).map(|now| (now, peak.max(now)))
        }
        _ => None,
    };

    let mut latencies = Vec::new();
    let mut silences = Vec::new();
    for (_, r) in &reports {
        if let Some(ms) = wire_turn_latency_ms(r, speech_end) {
            latencies.push(ms);
        }
        if let Some(ms) = longest_silence_in_answer_ms(r, speech_end) {
            silences.push(ms);
        }
    }
    let stages_ms = match &opts.records_db {
        Some(db) => stage_figures(db, reports.iter().map(|(u, _)| *u).collect()),
        None => Vec::new(),
    };
    Ok(BenchCallsReport {
        concurrency: opts.concurrency,
        calls: reports.len(),
        answered: latencies.len(),
        turn_latency_wire_ms: Percentiles::of(latencies),
        answer_longest_silence_ms: Percentiles::of(silences),
        stages_ms,
        agent_cpu_percent,
        agent_rss_mib,
    })
}

/// First and last 20 ms frame louder than -35 dBFS, in seconds.
pub fn voiced_span(audio: &[f32], rate: u32) -> Option<(f64, f64)> {
    let frame = (rate as usize / 50).max(1);
    let loud: Vec<usize> = audio
        .chunks(frame)
        .enumerate()
        .filter(|(_, c)| {
            let rms = (c.iter().map(|x| x * x).sum::<f32>() / c.len() as f32).sqrt();
            20.0 * rms.max(1e-9).log10() > -35.0
        })
        .map(|(i, _)| i)
        .collect();
    Some((
        *loud.first()? as f64 * 0.02,
        (*loud.last()? + 1) as f64 * 0.02,
    ))
}

/// End of the caller's speech → the first audible frame the agent sent after it, in ms,
/// using the caller's own clock: frame `i` of the recording arrived `first_audio + i·20 ms`
/// after connect.
pub fn wire_turn_latency_ms(report: &CallReport, speech_end_s: f64) -> Option<f64> {
    let rate = report.agent_rate_hz? as f64;
    let first = report.first_audio_ms? / 1000.0;
    let frame = (rate / 50.0) as usize;
    report
        .recorded
        .chunks(frame)
        .enumerate()
        .map(|(i, c)| (first + i as f64 * 0.02, c))
        .find(|(t, c)| {
            *t >= speech_end_s && c.iter().map(|&s| (s as i32).abs()).max().unwrap_or(0) > 300
        })
        .map(|(t, _)| (t - speech_end_s) * 1000.0)
}

/// The longest run of quiet 20 ms frames (peak ≤ 300, as [`wire_turn_latency_ms`] counts
/// audible) between the first and the last audible frame the agent sent after
/// `speech_end_s`, in ms; `None` without an answer.
pub fn longest_silence_in_answer_ms(report: &CallReport, speech_end_s: f64) -> Option<f64> {
    let rate = report.agent_rate_hz? as f64;
    let first = report.first_audio_ms? / 1000.0;
    let frame = ((rate / 50.0) as usize).max(1);
    let skip = ((speech_end_s - first) / 0.02).ceil().max(0.0) as usize;
    let audible: Vec<bool> = report
        .recorded
        .chunks(frame)
        .skip(skip)
        .map(|c| c.iter().map(|&s| (s as i32).abs()).max().unwrap_or(0) > 300)
        .collect();
    let start = audible.iter().position(|&a| a)?;
    let end = audible.iter().rposition(|&a| a)?;
    let mut longest = 0usize;
    let mut run = 0usize;
    for &a in &audible[start..=end] {
        run = if a { 0 } else { run + 1 };
        longest = longest.max(run);
    }
    Some(longest as f64 * 20.0)
}

fn stage_figures(db: &std::path::Path, uuids: Vec<uuid::Uuid>) -> Vec<(String, Percentiles)> {
    let Ok(conn) = rusqlite::Connection::open(db) else {
        return Vec::new();
    };
    let mut stages: Vec<(&str, Vec<f64>)> = [
        "endpointing",
        "asr",
        "llm_ttft",
        "llm_first_sentence",
        "tts_first_audio",
        "turn_latency",
    ]
    .into_iter()
    .map(|s| (s, Vec::new()))
    .collect();
    for uuid in uuids {
        let Ok(Some(call)) = crate::records::load_call(&conn, db, &uuid) else {
            continue;
        };
        for t in call.turns {
            let l = t.latencies;
            let values = [
                l.endpointing_ms,
                l.asr_ms,
                l.llm_ttft_ms,
                l.llm_first_sentence_ms,
                l.tts_first_audio_ms,
                l.turn_latency_ms,
            ];
            if t.role != crate::records::Role::Agent {
                continue;
            }
            for ((_, v), x) in stages.iter_mut().zip(values) {
                if let Some(x) = x {
                    v.push(x as f64);
                }
            }
        }
    }
    stages
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(s, v)| (s.to_string(), Percentiles::of(v)))
        .collect()
}

/// User + system CPU seconds of a process (Linux `/proc/PID/stat`).
fn process_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz)
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

async fn sample_rss(pid: u32, peak: std::sync::Arc<std::sync::Mutex<f64>>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let Some(m) = rss_mib(pid) else { return };
        let mut p = peak.lock().unwrap_or_else(|e| e.into_inner());
        *p = p.max(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(frames: &[bool]) -> CallReport {
        let recorded = frames
            .iter()
            .flat_map(|&loud| std::iter::repeat_n(if loud { 4000i16 } else { 20 }, 160))
            .collect();
        CallReport {
            frames_received: frames.len() as u64,
            first_audio_ms: Some(0.0),
            recorded,
            ..CallReport::empty(8000)
        }
    }

    #[test]
    fn the_longest_silence_is_measured_inside_the_answer_only() {
        // A greeting (before the caller's end of speech at 0.2 s), silence, then the answer:
        // 5 loud, 3 quiet, 4 loud, 12 quiet (the longest gap), 2 loud, then quiet to the end.
        let mut f = vec![true; 5];
        f.extend([false; 5]);
        f.extend([true; 5]);
        f.extend([false; 3]);
        f.extend([true; 4]);
        f.extend([false; 12]);
        f.extend([true; 2]);
        f.extend([false; 40]);
        let r = report(&f);
        assert_eq!(longest_silence_in_answer_ms(&r, 0.2), Some(240.0));
        // No answer after the end of speech.
        assert_eq!(longest_silence_in_answer_ms(&r, 10.0), None);
    }
}
