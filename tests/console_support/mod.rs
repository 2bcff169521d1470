//! Helpers for the console's browser tests: a WebDriver client for headless Chromium, seeded
//! call records, the real `agent serve` with the API enabled, and a simulated caller.
#![allow(dead_code)]

pub mod seed;
pub mod webdriver;

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where screenshots go: `$ENCLAVE_SCREENSHOTS`, else `target/console-screenshots/`.
pub fn screenshots_dir() -> PathBuf {
    std::env::var_os("ENCLAVE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("../console-screenshots"))
}

/// An argon2id PHC string for `password` (what `agent console hash-password` prints).
pub fn password_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(b"enclave-console-test-salt").unwrap();
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

/// `agent serve` running as a child process, killed on drop.
pub struct Agent {
    child: Child,
    /// The API and console.
    pub api: SocketAddr,
    /// The AudioSocket listener.
    pub audiosocket: SocketAddr,
    /// The agent's log lines so far (for a failing test).
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the real binary on `config` and waits until both the AudioSocket listener and the
/// API say where they listen (JSON logs).
// The child is waited for by Drop.
#[allow(clippy::zombie_processes)]
pub fn spawn_agent(config: &Path) -> Agent {
    let mut child = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["--log-json", "--log", "info", "serve", "--config"])
        .arg(config)
        .env_remove("ENCLAVE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn agent serve");
    let stderr = child.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let keep = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            keep.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let (mut api, mut audiosocket) = (None, None);
    while api.is_none() || audiosocket.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "agent did not start; log:\n{}",
                log.lock().unwrap().join("\n")
            )
        });
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let msg = v["fields"]["message"].as_str().unwrap_or("");
        if msg.contains("listening for AudioSocket calls") && audiosocket.is_none() {
            audiosocket = v["fields"]["addr"].as_str().and_then(|a| a.parse().ok());
        }
        if msg.contains("HTTP API and console listening") {
            api = v["fields"]["local_addr"]
                .as_str()
                .and_then(|a| a.parse().ok());
        }
    }
    std::thread::spawn(move || while rx.recv().is_ok() {});
    Agent {
        child,
        api: api.unwrap(),
        audiosocket: audiosocket.unwrap(),
        log,
    }
}

/// A simulated Asterisk call: sends the uuid, then 20 ms of slin silence every 20 ms, and
/// drains what the agent sends, until [`Caller::hang_up`].
pub struct Caller {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<usize>,
}

impl Caller {
    /// Connects to `addr` as call `uuid`.
    pub async fn dial(addr: SocketAddr, uuid: uuid::Uuid) -> Caller {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect AudioSocket");
        stream.set_nodelay(true).unwrap();
        let (mut rd, mut wr) = stream.into_split();
        let mut hello = vec![0x01u8, 0, 16];
        hello.extend_from_slice(uuid.as_bytes());
        wr.write_all(&hello).await.unwrap();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let reader = tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut total = 0usize;
                while let Ok(n) = rd.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    total += n;
                }
                total
            });
            let mut frame = vec![0x10u8, 0x01, 0x40];
            frame.extend_from_slice(&[0u8; 320]);
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {
                        if wr.write_all(&frame).await.is_err() {
                            break;
                        }
                    }
                }
            }
            // Asterisk's hang-up: a KIND_HANGUP frame, then the socket closes.
            let _ = wr.write_all(&[0x00, 0, 0]).await;
            let _ = wr.shutdown().await;
            tokio::time::timeout(Duration::from_secs(10), reader)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0)
        });
        Caller { stop, task }
    }

    /// Hangs up; returns how many bytes the agent sent.
    pub async fn hang_up(self) -> usize {
        let _ = self.stop.send(());
        self.task.await.unwrap_or(0)
    }
}

/// A reqwest client for the API with the bearer token (the test's own reads).
pub fn api_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}
