//! `agent call`: a simulated Asterisk that places a call to an agent.

use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `agent call`.
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// Agent address.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub to: SocketAddr,
    /// WAV file the caller says (any rate, mono or stereo); without it the caller is silent.
    #[arg(long)]
    pub wav: Option<PathBuf>,
    /// Call uuid (random if not given).
    #[arg(long)]
    pub uuid: Option<uuid::Uuid>,
    /// Rate the caller sends at: 8000 (kind 0x10, like `AudioSocket()`) or 16000 (0x12, `c(slin16)`).
    #[arg(long, default_value_t = 8000)]
    pub rate: u32,
    /// DTMF digits to send, e.g. "1@2.5,0@4.0" (digit @ seconds after connect).
    #[arg(long)]
    pub dtmf: Option<String>,
    /// Hang up (close) this many seconds after connecting.
    #[arg(long)]
    pub hangup_after: Option<f64>,
    /// Seconds to keep the call open after the WAV ends.
    #[arg(long, default_value_t = 2.0)]
    pub linger: f64,
    /// Write everything the agent sent to this WAV file (at the agent's rate).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// The agent's own audio leaks back into the caller's audio at this level (dB, e.g. -20):
    /// an echo that must not count as the caller barging in.
    #[arg(long, allow_negative_numbers = true)]
    pub echo_db: Option<f32>,
    /// Delay of that echo (ms).
    #[arg(long, default_value_t = 120)]
    pub echo_delay_ms: u64,
    /// Seconds after connecting at which the caller's WAV starts (silence before it).
    #[arg(long, default_value_t = 0.0)]
    pub wav_at: f64,
    /// Barge-in benchmark: place this many calls (`--parallel` at a time) and report agent
    /// utterances, barge-ins (with `--metrics`) and the stop time of real interruptions.
    #[arg(long)]
    pub calls: Option<usize>,
    /// Calls at once in the barge-in benchmark.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// The agent's metrics URL (e.g. http://127.0.0.1:9100/metrics): barge-ins it counted.
    #[arg(long)]
    pub metrics: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn seconds(name: &str, v: f64) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        v.is_finite() && (0.0..=86_400.0).contains(&v),
        "--{name} {v}: give seconds between 0 and 86400"
    );
    Ok(Duration::from_secs_f64(v))
}

/// Places the call and prints the timing report. Fails (exit ≠ 0) when the agent broke
/// the protocol in a way Asterisk would hang up on.
pub fn run(args: CallArgs) -> anyhow::Result<()> {
    use crate::sim::{self, CallEndReason};
    use crate::transport::AudioRate;
    let send_rate = AudioRate::from_hz(args.rate).with_context(|| {
        format!("--rate {}: AudioSocket rates are 8000, 12000, 16000, 24000, 32000, 44100, 48000, 96000, 192000", args.rate)
    })?;
    let mut opts = sim::CallOptions::new(args.to);
    opts.uuid = args.uuid;
    opts.send_rate = send_rate;
    opts.linger = seconds("linger", args.linger)?;
    opts.hangup_after = args
        .hangup_after
        .map(|v| seconds("hangup-after", v))
        .transpose()?;
    opts.record = args.record.is_some();
    opts.audio_at = seconds("wav-at", args.wav_at)?;
    if let Some(db) = args.echo_db {
        opts.echo = Some(
            sim::EchoOptions::new(db, Duration::from_millis(args.echo_delay_ms))
                .map_err(|e| anyhow::anyhow!("--echo-db/--echo-delay-ms: {e}"))?,
        );
    }
    if let Some(spec) = &args.dtmf {
        opts.dtmf = sim::parse_dtmf(spec)?;
    }
    if let Some(path) = &args.wav {
        let clip = crate::audio::wav::read_mono(path)?;
        opts.audio = Some((clip.samples, clip.sample_rate));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if let Some(calls) = args.calls {
        let r = runtime.block_on(sim::echo_bench::run(
            opts,
            calls,
            args.parallel,
            args.metrics.as_deref(),
        ))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            let echo = r.echo_db.map_or("no echo".to_string(), |db| {
                format!("echo {db} dB, {} ms", r.echo_delay_ms)
            });
            println!(
                "{} calls, {echo}: {} agent utterances, barge-ins {}, interruptions {} (stopped {}), stop p50 {:.0} ms p95 {:.0} ms",
                r.calls,
                r.agent_utterances,
                r.barge_ins.map_or("-".into(), |b| b.to_string()),
                r.interruptions,
                r.stopped,
                r.stop_ms.p50,
                r.stop_ms.p95
            );
        }
        return Ok(());
    }
    let report = runtime.block_on(sim::place_call(opts))?;
    if let Some(path) = &args.record {
        let rate = report.agent_rate_hz.unwrap_or(send_rate.hz());
        crate::audio::wav::write_i16(path, &report.recorded, rate, 1)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    match &report.ended {
        CallEndReason::ProtocolViolation(_)
        | CallEndReason::PollTimeout(_)
        | CallEndReason::IoError(_) => {
            anyhow::bail!("the call failed: {}", report.ended)
        }
        _ => Ok(()),
    }
}

/// Arguments of `agent bench transport`.
#[derive(Debug, clap::Args)]
pub struct BenchTransportArgs {
    /// Concurrent calls.
    #[arg(long, default_value_t = 100)]
    pub calls: usize,
    /// Seconds each call lasts.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Idle callers: they send no audio (the agent sends silence); measures the per-call floor.
    #[arg(long)]
    pub idle: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// `agent bench transport`: an in-process echo server and N simulated callers over loopback
/// TCP. Reports the outbound frame interval as the callers measured it, CPU and memory.
pub fn bench_transport(
    config_path: Option<&std::path::Path>,
    args: BenchTransportArgs,
) -> anyhow::Result<()> {
    use crate::sim::{self, report::percentile, CallOptions};
    anyhow::ensure!(args.calls > 0, "--calls must be at least 1");
    let call_len = seconds("seconds", args.seconds)?;
    let mut config = super::load_config(config_path)?;
    config.server.listen = "127.0.0.1:0".parse()?;
    config.server.max_calls = config.server.max_calls.max(args.calls);
    config.server.handler = crate::config::HandlerKind::Echo;
    if let Err(e) = crate::transport::shutdown::raise_nofile_limit() {
        tracing::warn!(error = %e, "cannot raise RLIMIT_NOFILE");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let handler: std::sync::Arc<dyn crate::pipeline::CallHandler> = std::sync::Arc::new(
            crate::pipeline::EchoHandler::new(Duration::from_millis(config.server.echo_delay_ms)),
        );
        let server = crate::transport::Server::bind(config.server.clone()).await?;
        let addr = server.local_addr()?;
        let stats = server.stats();
        let stop = tokio_util::sync::CancellationToken::new();
        let server_task = tokio::spawn(server.run(handler, stop.clone()));
        let rss_before = rss_kib();
        // Callers say a vowel-like tone (echoed back), or nothing when idle.
        let tone: Vec<f32> = (0..(call_len.as_secs_f64() * 8000.0) as usize)
            .map(|i| {
                let t = i as f32 / 8000.0;
                0.2 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                    + 0.1 * (2.0 * std::f32::consts::PI * 660.0 * t).sin()
            })
            .collect();
        let mut tasks = Vec::with_capacity(args.calls);
        let ramp = Duration::from_millis(1000);
        for i in 0..args.calls {
            let mut opts = CallOptions::new(addr);
            opts.record = false;
            if args.idle {
                opts.linger = call_len;
            } else {
                opts.audio = Some((tone.clone(), 8000));
                opts.linger = Duration::from_millis(600);
            }
            // Spread connects over a second, like calls arriving, not one SYN flood.
            let delay = ramp * i as u32 / args.calls as u32;
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                sim::place_call(opts).await
            }));
        }
        // Measure memory and CPU over the middle of the run, when every call is up.
        tokio::time::sleep(ramp + Duration::from_millis(1000)).await;
        let connected = stats.active_calls();
        let rss_during = rss_kib();
        let (cpu0, wall0) = (cpu_time(), std::time::Instant::now());
        let window = call_len.saturating_sub(Duration::from_millis(2500)).max(Duration::from_secs(1));
        tokio::time::sleep(window).await;
        let cpu_pct = (cpu_time() - cpu0).as_secs_f64() / wall0.elapsed().as_secs_f64() * 100.0;
        let mut intervals = Vec::new();
        let mut failed = 0usize;
        let mut gaps = 0usize;
        for t in tasks {
            match t.await? {
                Ok(r) => {
                    gaps += r.intervals.gaps_over_40ms;
                    // Skip the first intervals: the playout lead goes out at connect.
                    intervals.extend(r.intervals_ms.iter().skip(4).copied());
                    if !matches!(r.ended, sim::CallEndReason::CallerHangup) {
                        failed += 1;
                    }
                }
                Err(_) => failed += 1,
            }
        }
        stop.cancel();
        let _ = server_task.await;
        intervals.sort_by(f64::total_cmp);
        let per_call_kib = rss_during.saturating_sub(rss_before) as f64 / args.calls as f64;
        let result = serde_json::json!({
            "calls": args.calls,
            "connected_at_measurement": connected,
            "seconds": args.seconds,
            "idle": args.idle,
            "intervals": intervals.len(),
            "interval_p50_ms": percentile(&intervals, 50.0),
            "interval_p95_ms": percentile(&intervals, 95.0),
            "interval_p99_ms": percentile(&intervals, 99.0),
            "interval_max_ms": intervals.last().copied().unwrap_or(0.0),
            "gaps_over_40ms": gaps,
            "calls_not_ended_by_caller": failed,
            "cpu_percent_of_one_core": cpu_pct,
            "rss_before_kib": rss_before,
            "rss_during_kib": rss_during,
            "rss_per_call_kib": per_call_kib,
        });
        if args.json {
            println!("{}", serde_json::to_string_pretty(&result)?);
        } else {
            println!("agent bench transport: {} calls x {} s ({}), agent and callers in one process", args.calls, args.seconds, if args.idle { "idle callers" } else { "echo of a tone" });
            println!("  connected at measurement: {connected}");
            println!(
                "  outbound frame interval (callers' view): p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n = {})",
                result["interval_p50_ms"].as_f64().unwrap_or(0.0),
                result["interval_p95_ms"].as_f64().unwrap_or(0.0),
                result["interval_p99_ms"].as_f64().unwrap_or(0.0),
                result["interval_max_ms"].as_f64().unwrap_or(0.0),
                intervals.len()
            );
            println!("  gaps > 40 ms: {gaps}; calls not ended by the caller: {failed}");
            println!("  CPU: {cpu_pct:.0} % of one core (agent + callers)");
            println!("  memory: {per_call_kib:.0} KiB per call (RSS {rss_before} -> {rss_during} KiB; agent + caller side)");
        }
        anyhow::Ok(())
    })
}
