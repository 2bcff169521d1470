//! Helpers shared by the transport tests: run the real `agent serve` binary or an in-process
//! server, load fixtures, measure echo alignment, inspect sockets and file descriptors.
#![allow(dead_code)]

use enclave::config::ServerConfig;
use enclave::pipeline::CallHandler;
use enclave::transport::{Server, ServerStats};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// `/work/shared/fixtures` unless `ENCLAVE_FIXTURES_DIR` says otherwise.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("ENCLAVE_FIXTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/fixtures"))
}

/// The JFK speech clip (16 kHz mono) as f32 samples and its rate.
pub fn jfk() -> (Vec<f32>, u32) {
    let path = fixtures_dir().join("audio/jfk.wav");
    let clip = enclave::audio::wav::read_mono(&path).unwrap_or_else(|e| {
        panic!("{e}: set ENCLAVE_FIXTURES_DIR to the directory holding audio/jfk.wav")
    });
    (clip.samples, clip.sample_rate)
}

/// A running `agent serve` child process with its log lines.
pub struct Agent {
    pub child: Child,
    pub addr: SocketAddr,
    pub lines: mpsc::Receiver<String>,
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Agent {
    /// Waits (at most `timeout`) for a log line containing `needle`.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
    }

    /// Everything logged so far.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `agent serve --listen 127.0.0.1:0 --log-json` plus `args`, with `envs`, and
/// waits for the line that says where it listens.
pub fn spawn_agent(args: &[&str], envs: &[(&str, &str)]) -> Agent {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent"));
    cmd.args([
        "--log-json",
        "--log",
        "info",
        "serve",
        "--listen",
        "127.0.0.1:0",
    ])
    .args(args);
    // The transport tests run the echo handler unless a test brings its own config.
    if !args.iter().any(|a| *a == "--config" || *a == "--handler") {
        cmd.args(["--handler", "echo"]);
    }
    cmd.env_remove("ENCLAVE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn agent serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            log2.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
    let mut agent = Agent {
        child,
        addr: "0.0.0.0:0".parse().unwrap(),
        lines: rx,
        log,
    };
    let line = agent
        .wait_for("listening for AudioSocket calls", Duration::from_secs(30))
        .unwrap_or_else(|| panic!("agent did not start listening; log:\n{}", agent.log_text()));
    let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
    agent.addr = v["fields"]["addr"]
        .as_str()
        .expect("addr field")
        .parse()
        .expect("socket address");
    agent
}

/// An in-process server on 127.0.0.1:0.
pub struct LibServer {
    pub addr: SocketAddr,
    pub stats: Arc<ServerStats>,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds and runs a library server with `config` (its `listen` is replaced by 127.0.0.1:0).
pub async fn start_server(mut config: ServerConfig, handler: Arc<dyn CallHandler>) -> LibServer {
    config.listen = "127.0.0.1:0".parse().unwrap();
    let server = Server::bind(config).await.expect("bind");
    let addr = server.local_addr().unwrap();
    let stats = server.stats();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.run(handler, shutdown.clone()));
    LibServer {
        addr,
        stats,
        shutdown,
        task,
    }
}

/// Normalised cross-correlation of `reference` against `recorded` shifted by `lag`.
pub fn ncc_at(reference: &[f32], recorded: &[f32], lag: usize) -> f64 {
    let n = reference.len().min(recorded.len().saturating_sub(lag));
    let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..n {
        let x = reference[i] as f64;
        let y = recorded[i + lag] as f64;
        xy += x * y;
        xx += x * x;
        yy += y * y;
    }
    if xx == 0.0 || yy == 0.0 {
        0.0
    } else {
        xy / (xx * yy).sqrt()
    }
}

/// The lag in `lags` with the highest correlation, and that correlation.
pub fn best_lag(reference: &[f32], recorded: &[f32], lags: std::ops::Range<usize>) -> (usize, f64) {
    // Coarse search every 4 samples, then refine around the best.
    let mut best = (lags.start, f64::MIN);
    for lag in lags.clone().step_by(4) {
        let c = ncc_at(reference, recorded, lag);
        if c > best.1 {
            best = (lag, c);
        }
    }
    let lo = best.0.saturating_sub(4).max(lags.start);
    let hi = (best.0 + 5).min(lags.end);
    for lag in lo..hi {
        let c = ncc_at(reference, recorded, lag);
        if c > best.1 {
            best = (lag, c);
        }
    }
    best
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Sockets in CLOSE-WAIT (state 08) whose local port is `port`, from /proc/net/tcp{,6}.
pub fn close_wait_on_port(port: u16) -> usize {
    let mut n = 0;
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 4 {
                continue;
            }
            let local_port = cols[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) && cols[3] == "08" {
                n += 1;
            }
        }
    }
    n
}
