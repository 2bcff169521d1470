//! `agent bench soak`: many conversation calls against an in-process agent (the configured
//! models, a real AudioSocket listener on 127.0.0.1) — sequential, then concurrent — with
//! random caller hang-ups, barge-ins over the greeting and TCP resets. Reports the slope of
//! resident memory and open descriptors over the calls, sockets left in CLOSE-WAIT, tokio
//! tasks and blocking engine jobs left at the end. Fails when anything is left.

use crate::conversation::Stack;
use crate::pipeline::CallHandler;
use crate::sim::{place_call, CallOptions};
use crate::transport::Server;
use anyhow::Context;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Arguments of `agent bench soak`.
#[derive(Debug, clap::Args)]
pub struct BenchSoakArgs {
    /// Calls one after another.
    #[arg(long, default_value_t = 1000)]
    pub sequential: usize,
    /// Calls at once, after the sequential ones.
    #[arg(long, default_value_t = 50)]
    pub concurrent: usize,
    /// What callers say (any WAV; a few seconds is plenty).
    #[arg(long)]
    pub wav: PathBuf,
    /// Seed of the random call mix.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// One way a soak call goes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Speaks, waits for the answer a while, hangs up.
    Full,
    /// Hangs up at a random moment.
    HangUp,
    /// Speaks over the greeting (barge-in), then hangs up.
    BargeIn,
    /// Sends the uuid and some audio, then resets the connection (RST).
    Reset,
}

/// Resident memory of this process, in MiB.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Sockets in CLOSE-WAIT whose local port is `port`.
fn close_wait(port: u16) -> usize {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|t| {
            t.lines()
                .skip(1)
                .filter(|l| {
                    let c: Vec<&str> = l.split_whitespace().collect();
                    c.len() > 3
                        && c[3] == "08"
                        && c[1]
                            .rsplit(':')
                            .next()
                            .and_then(|p| u16::from_str_radix(p, 16).ok())
                            == Some(port)
                })
                .map(|_| ())
                .collect::<Vec<_>>()
        })
        .count()
}

/// Least-squares slope of `ys` over their index.
fn slope(ys: &[f64]) -> f64 {
    let n = ys.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mx = (n - 1.0) / 2.0;
    let my = ys.iter().sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, y) in ys.iter().enumerate() {
        num += (i as f64 - mx) * (y - my);
        den += (i as f64 - mx).powi(2);
    }
    num / den
}

async fn one_call(addr: std::net::SocketAddr, kind: Kind, speech: &[f32], hang_ms: u64) {
    let mut opts = CallOptions::new(addr);
    opts.record = false;
    match kind {
        Kind::Full => {
            opts.audio = Some((speech.to_vec(), 16_000));
            opts.linger = Duration::from_secs(3);
        }
        Kind::HangUp => {
            opts.audio = Some((speech.to_vec(), 16_000));
            opts.hangup_after = Some(Duration::from_millis(hang_ms));
        }
        Kind::BargeIn => {
            let mut audio = vec![0.0; 3200];
            audio.extend_from_slice(speech);
            opts.audio = Some((audio, 16_000));
            opts.linger = Duration::from_millis(500);
        }
        Kind::Reset => {
            let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
                return;
            };
            use tokio::io::AsyncWriteExt;
            let mut stream = stream;
            let mut hello = vec![1u8, 0, 16];
            hello.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
            let mut frame = vec![0x10u8, 0x01, 0x40];
            frame.extend_from_slice(&[0u8; 320]);
            let _ = stream.write_all(&hello).await;
            for _ in 0..(hang_ms / 20).min(100) {
                let _ = stream.write_all(&frame).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // SO_LINGER 0: close sends RST instead of FIN.
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            drop(stream);
            return;
        }
    }
    let _ = place_call(opts).await;
}

fn pick(rng: &mut rand::rngs::StdRng) -> (Kind, u64) {
    let kind = match rng.gen_range(0..4) {
        0 => Kind::Full,
        1 => Kind::HangUp,
        2 => Kind::BargeIn,
        _ => Kind::Reset,
    };
    (kind, rng.gen_range(100..3000))
}

/// Runs the soak and prints the report; an error when anything leaked.
pub fn run(config: Option<&Path>, args: BenchSoakArgs) -> anyhow::Result<()> {
    let mut config = super::load_config(config)?;
    config.server.listen = "127.0.0.1:0".parse()?;
    config.server.max_calls = config.server.max_calls.max(args.concurrent + 1);
    config.metrics.enabled = false;
    let clip = crate::audio::wav::read_mono(&args.wav)?;
    let speech = crate::audio::resample(&clip.samples, clip.sample_rate, 16_000)
        .context("resampling the WAV to 16 kHz")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("async runtime")?;
    runtime.block_on(async move {
        let services = CancellationToken::new();
        let stack = Stack::start(&config, Arc::clone(crate::metrics::global()), services.clone())
            .await
            .context("loading the conversation stack")?;
        let server = Server::bind(config.server.clone()).await?;
        let addr = server.local_addr()?;
        let stats = server.stats();
        let shutdown = CancellationToken::new();
        let handler: Arc<dyn CallHandler> = Arc::new(stack.handler.clone());
        let task = tokio::spawn(server.run(handler, shutdown.clone()));
        let rt = tokio::runtime::Handle::current().metrics();
        let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);

        // Warm-up: the first calls allocate caches and thread pools that then stay.
        for _ in 0..3 {
            one_call(addr, Kind::Full, &speech, 0).await;
        }
        stats.wait_until_idle().await;
        let (rss0, fds0, tasks0) = (rss_mib(), open_fds(), rt.num_alive_tasks());
        let started = Instant::now();
        let mut rss = Vec::new();
        let mut fds = Vec::new();
        for i in 0..args.sequential {
            let (kind, ms) = pick(&mut rng);
            one_call(addr, kind, &speech, ms).await;
            if i % 10 == 9 {
                stats.wait_until_idle().await;
                rss.push(rss_mib());
                fds.push(open_fds() as f64);
            }
        }
        let sequential_secs = started.elapsed().as_secs_f64();
        let calls: Vec<_> = (0..args.concurrent)
            .map(|_| {
                let (kind, ms) = pick(&mut rng);
                let speech = speech.clone();
                tokio::spawn(async move { one_call(addr, kind, &speech, ms).await })
            })
            .collect();
        for c in calls {
            let _ = c.await;
        }
        tokio::time::timeout(Duration::from_secs(30), stats.wait_until_idle())
            .await
            .context("calls still running 30 s after the last caller left")?;
        // Blocking engine jobs and handler tasks finish shortly after their call.
        let deadline = Instant::now() + Duration::from_secs(20);
        while (crate::metrics::jobs::active_total() > 0 || rt.num_alive_tasks() > tasks0)
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let jobs_left = crate::metrics::jobs::active_total();
        let tasks_left = rt.num_alive_tasks().saturating_sub(tasks0);
        let close_waits = close_wait(addr.port());
        let (rss1, fds1) = (rss_mib(), open_fds());
        println!(
            "soak: {} sequential calls in {sequential_secs:.0} s + {} concurrent; {} accepted, {} refused",
            args.sequential,
            args.concurrent,
            stats.total_calls(),
            stats.refused_calls()
        );
        println!(
            "  RSS {rss0:.1} → {rss1:.1} MiB, slope {:.3} MiB per 100 calls (sampled every 10)",
            slope(&rss) * 10.0
        );
        println!(
            "  fds {fds0} → {fds1}, slope {:.3} per 100 calls",
            slope(&fds) * 10.0
        );
        println!(
            "  left at the end: {close_waits} CLOSE-WAIT, {tasks_left} tokio tasks, {jobs_left} engine jobs"
        );
        shutdown.cancel();
        let _ = task.await;
        stack.shutdown().await;
        services.cancel();
        anyhow::ensure!(close_waits == 0, "{close_waits} sockets left in CLOSE-WAIT");
        anyhow::ensure!(jobs_left == 0, "{jobs_left} blocking engine jobs still running");
        anyhow::ensure!(tasks_left == 0, "{tasks_left} tokio tasks left");
        anyhow::ensure!(fds1 <= fds0 + 2, "file descriptors grew {fds0} → {fds1}");
        Ok(())
    })
}
