//! `agent bench calls`: N simulated callers at real time against a running agent.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Arguments of `agent bench calls`.
#[derive(Debug, clap::Args)]
pub struct BenchCallsArgs {
    /// The agent's AudioSocket address.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub to: std::net::SocketAddr,
    /// Calls at once.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Rounds of `concurrency` calls.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// What each caller says (any WAV).
    #[arg(long)]
    pub wav: PathBuf,
    /// Use only this many seconds of the WAV.
    #[arg(long)]
    pub max_speech_secs: Option<f64>,
    /// Silence before speaking, seconds (let the greeting finish).
    #[arg(long, default_value_t = 3.0)]
    pub lead_silence: f64,
    /// How long to wait for the answer after speaking, seconds.
    #[arg(long, default_value_t = 8.0)]
    pub linger: f64,
    /// The agent's call-record database (default: `[records] db_path` of the config).
    #[arg(long)]
    pub records: Option<PathBuf>,
    /// The agent's pid, for CPU and memory (default: the process listening on `--to`).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the benchmark and prints the report.
pub fn run(config: Option<&Path>, args: BenchCallsArgs) -> anyhow::Result<()> {
    let records = match args.records {
        Some(p) => Some(p),
        None => config
            .map(|c| super::load_config(Some(c)).map(|c| c.records.db_path))
            .transpose()?,
    };
    let clip = crate::audio::wav::read_mono(&args.wav)?;
    let mut speech = clip.samples;
    if let Some(max) = args.max_speech_secs {
        speech.truncate((max * clip.sample_rate as f64) as usize);
    }
    let pid = args.pid.or_else(|| listening_pid(args.to.port()));
    let opts = crate::sim::bench_calls::BenchCallsOptions {
        addr: args.to,
        concurrency: args.concurrency,
        rounds: args.rounds,
        utterance: (speech, clip.sample_rate),
        lead_silence: Duration::from_secs_f64(args.lead_silence),
        linger: Duration::from_secs_f64(args.linger),
        records_db: records,
        agent_pid: pid,
    };
    let runtime = tokio::runtime::Runtime::new().context("async runtime")?;
    let report = runtime.block_on(crate::sim::bench_calls::bench_calls(opts))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "concurrency {}: {} calls, {} answered",
        report.concurrency, report.calls, report.answered
    );
    let l = report.turn_latency_wire_ms;
    println!(
        "  turn latency on the wire (end of speech → first answer audio): p50 {:.0} ms, p95 {:.0} ms (n = {})",
        l.p50, l.p95, l.n
    );
    let g = report.answer_longest_silence_ms;
    println!(
        "  longest silence inside an answer: p50 {:.0} ms, p95 {:.0} ms (n = {})",
        g.p50, g.p95, g.n
    );
    for (stage, p) in &report.stages_ms {
        println!(
            "  {stage:<20} p50 {:>6.0} ms  p95 {:>6.0} ms  (n = {})",
            p.p50, p.p95, p.n
        );
    }
    match report.agent_cpu_percent {
        Some(c) => println!("  agent CPU: {c:.0} % of one core"),
        None => println!("  agent CPU: unknown (give --pid)"),
    }
    if let Some((now, peak)) = report.agent_rss_mib {
        println!("  agent memory: {now:.0} MiB resident, peak {peak:.0} MiB");
    }
    Ok(())
}

/// The pid of the local process listening on TCP `port` (Linux /proc), if visible.
fn listening_pid(port: u16) -> Option<u32> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|f| {
        let text = std::fs::read_to_string(f).ok()?;
        text.lines().skip(1).find_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let local_port = u16::from_str_radix(cols.get(1)?.rsplit(':').next()?, 16).ok()?;
            (local_port == port && cols.get(3) == Some(&"0A"))
                .then(|| cols.get(9).map(|s| s.to_string()))?
        })
    })?;
    let needle = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == needle) {
                return Some(pid);
            }
        }
    }
    None
}
