//! The AMI connection: login, a reader task routing responses by ActionID and events to a
//! broadcast channel, Ping keepalive, and reconnect with capped, jittered exponential backoff.

use super::channels::ChannelMap;
use super::message::{encode_action, LineCodec, Message};
use super::AmiError;
use crate::config::AmiConfig;
use futures::StreamExt;
use rand::Rng;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, oneshot, watch};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

/// Prefix of the banner line Asterisk sends first, e.g. `Asterisk Call Manager/7.0.3`.
pub const BANNER_PREFIX: &str = "Asterisk Call Manager/";
/// Events buffered per subscriber before a slow one starts missing them.
const EVENT_BUFFER: usize = 1024;

/// Everything the client needs, resolved from `[ami]` (secret file read).
#[derive(Clone)]
pub struct AmiSettings {
    /// `host:port` of the manager interface.
    pub addr: String,
    /// AMI user.
    pub username: String,
    /// AMI password.
    pub secret: String,
    /// `Events:` of the login: `call,dialplan` to learn channels (VarSet, Hangup), or `off`.
    pub events: String,
    /// Time for one action (and for connect + banner + login).
    pub action_timeout: Duration,
    /// First reconnect wait; doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest reconnect wait.
    pub max_backoff: Duration,
    /// Keepalive `Ping` interval.
    pub ping_interval: Duration,
}

impl std::fmt::Debug for AmiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmiSettings")
            .field("addr", &self.addr)
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .field("events", &self.events)
            .field("action_timeout", &self.action_timeout)
            .field("max_backoff", &self.max_backoff)
            .finish()
    }
}

impl AmiSettings {
    /// Settings from `[ami]`, reading `secret_file` if given.
    pub fn from_config(cfg: &AmiConfig) -> Result<AmiSettings, AmiError> {
        let secret = cfg
            .resolve_secret()
            .map_err(|e| AmiError::Config(e.to_string()))?;
        let host = if cfg.host.contains(':') && !cfg.host.starts_with('[') {
            format!("[{}]", cfg.host) // IPv6 literal
        } else {
            cfg.host.clone()
        };
        Ok(AmiSettings {
            addr: format!("{host}:{}", cfg.port),
            username: cfg.username.clone(),
            secret,
            events: "call,dialplan".into(),
            action_timeout: Duration::from_millis(cfg.action_timeout_ms),
            initial_backoff: Duration::from_millis(250.min(cfg.reconnect_max_backoff_ms)),
            max_backoff: Duration::from_millis(cfg.reconnect_max_backoff_ms),
            ping_interval: Duration::from_millis(cfg.ping_interval_ms),
        })
    }
}

/// Where the connection stands.
#[derive(Debug, Clone)]
enum ConnState {
    Connecting,
    Connected,
    Failed(AmiError),
    Stopped,
}

/// The live connection's writer, shared by all actions.
struct Conn {
    generation: u64,
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    dead: CancellationToken,
}

struct Pending {
    generation: u64,
    tx: oneshot::Sender<Message>,
}

struct Shared {
    settings: AmiSettings,
    next_id: AtomicU64,
    pending: Mutex<HashMap<String, Pending>>,
    conn: Mutex<Option<Arc<Conn>>>,
    state: watch::Sender<ConnState>,
    events: broadcast::Sender<Arc<Message>>,
    channels: ChannelMap,
}

/// A cheap-to-clone handle on the AMI connection (which reconnects by itself).
#[derive(Clone)]
pub struct AmiClient {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AmiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmiClient")
            .field("addr", &self.shared.settings.addr)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl AmiClient {
    /// Starts connecting (in the background, forever, until `cancel`) and returns at once.
    pub fn start(settings: AmiSettings, cancel: CancellationToken) -> AmiClient {
        let shared = Arc::new(Shared {
            settings,
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            conn: Mutex::new(None),
            state: watch::channel(ConnState::Connecting).0,
            events: broadcast::channel(EVENT_BUFFER).0,
            channels: ChannelMap::default(),
        });
        tokio::spawn(supervise(Arc::clone(&shared), cancel));
        AmiClient { shared }
    }

    /// Waits until logged in; fails with the last connect/login error if an attempt failed
    /// (e.g. [`AmiError::AuthFailed`]), or with `Timeout` after `timeout`.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), AmiError> {
        let mut rx = self.shared.state.subscribe();
        let wait = async {
            loop {
                match &*rx.borrow_and_update() {
                    ConnState::Connected => return Ok(()),
                    ConnState::Failed(e) => return Err(e.clone()),
                    ConnState::Stopped => return Err(AmiError::Stopped),
                    ConnState::Connecting => {}
                }
                if rx.changed().await.is_err() {
                    return Err(AmiError::Stopped);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Err(AmiError::Timeout {
                action: "connect".into(),
                after: timeout,
            }))
    }

    /// The settings the client runs with.
    pub fn settings(&self) -> &AmiSettings {
        &self.shared.settings
    }

    /// Whether a logged-in connection is up now.
    pub fn is_connected(&self) -> bool {
        matches!(*self.shared.state.borrow(), ConnState::Connected)
    }

    /// Every event Asterisk sends from now on (a slow receiver misses the oldest ones).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Message>> {
        self.shared.events.subscribe()
    }

    /// The uuid → channel map fed by `VarSet`/`Hangup` events.
    pub fn channels(&self) -> &ChannelMap {
        &self.shared.channels
    }

    /// The AMI channel of AudioSocket call `uuid`, waiting up to `wait` for its `VarSet`.
    pub async fn channel_for_uuid(&self, uuid: &uuid::Uuid, wait: Duration) -> Option<String> {
        self.shared.channels.wait_for(uuid, wait).await
    }

    /// Sends an action and waits (up to `action_timeout`, including waiting for a connection)
    /// for its response. `Response: Error` becomes [`AmiError::ActionFailed`].
    pub async fn action(&self, action: &str, fields: &[(&str, &str)]) -> Result<Message, AmiError> {
        let timeout = self.shared.settings.action_timeout;
        let deadline = Instant::now() + timeout;
        let id = format!(
            "enclave-{}",
            self.shared.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let bytes = encode_action(action, &id, fields)?;
        let conn = self.current_conn(deadline, action).await?;
        let (tx, rx) = oneshot::channel();
        self.shared.lock_pending().insert(
            id.clone(),
            Pending {
                generation: conn.generation,
                tx,
            },
        );
        let written = tokio::time::timeout_at(deadline, async {
            let mut w = conn.writer.lock().await;
            w.write_all(&bytes).await?;
            w.flush().await
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.shared.lock_pending().remove(&id);
                conn.dead.cancel();
                return Err(AmiError::Disconnected(format!(
                    "write of {action} failed: {e}"
                )));
            }
            Err(_) => {
                self.shared.lock_pending().remove(&id);
                conn.dead.cancel();
                return Err(AmiError::Timeout {
                    action: action.into(),
                    after: timeout,
                });
            }
        }
        enum Outcome {
            Answered(Message),
            Lost,
            TimedOut,
        }
        let outcome = tokio::select! {
            biased;
            r = tokio::time::timeout_at(deadline, rx) => match r {
                Ok(Ok(m)) => Outcome::Answered(m),
                Ok(Err(_)) => Outcome::Lost,
                Err(_) => Outcome::TimedOut,
            },
            _ = conn.dead.cancelled() => Outcome::Lost,
        };
        match outcome {
            Outcome::Answered(msg) => match msg.response() {
                Some(r) if r.eq_ignore_ascii_case("Error") => Err(AmiError::ActionFailed {
                    action: action.into(),
                    message: msg.get("Message").unwrap_or("(no message)").to_string(),
                }),
                _ => Ok(msg),
            },
            Outcome::Lost => {
                self.shared.lock_pending().remove(&id);
                Err(AmiError::Disconnected(format!(
                    "connection lost while waiting for the response to {action}"
                )))
            }
            Outcome::TimedOut => {
                self.shared.lock_pending().remove(&id);
                Err(AmiError::Timeout {
                    action: action.into(),
                    after: timeout,
                })
            }
        }
    }

    /// `Setvar`: sets `variable` on `channel`, waiting for `Response: Success`.
    pub async fn setvar(&self, channel: &str, variable: &str, value: &str) -> Result<(), AmiError> {
        self.action(
            "Setvar",
            &[
                ("Channel", channel),
                ("Variable", variable),
                ("Value", value),
            ],
        )
        .await
        .map(|_| ())
    }

    /// `Getvar`: the value of `variable` on `channel` (`None` when unset/empty).
    pub async fn getvar(&self, channel: &str, variable: &str) -> Result<Option<String>, AmiError> {
        let msg = self
            .action("Getvar", &[("Channel", channel), ("Variable", variable)])
            .await?;
        Ok(msg
            .get("Value")
            .filter(|v| !v.is_empty() && *v != "(null)")
            .map(str::to_string))
    }

    /// `Redirect`: moves `channel` to `context,exten,priority` (ends AudioSocket at once:
    /// drain the agent's audio first).
    pub async fn redirect(
        &self,
        channel: &str,
        context: &str,
        exten: &str,
        priority: u32,
    ) -> Result<(), AmiError> {
        let priority = priority.to_string();
        self.action(
            "Redirect",
            &[
                ("Channel", channel),
                ("Context", context),
                ("Exten", exten),
                ("Priority", &priority),
            ],
        )
        .await
        .map(|_| ())
    }

    /// `Ping`: round trip to Asterisk.
    pub async fn ping(&self) -> Result<(), AmiError> {
        self.action("Ping", &[]).await.map(|_| ())
    }

    /// The live connection, waiting for one until `deadline`.
    async fn current_conn(&self, deadline: Instant, action: &str) -> Result<Arc<Conn>, AmiError> {
        let mut rx = self.shared.state.subscribe();
        loop {
            rx.borrow_and_update();
            if let Some(c) = self
                .shared
                .conn
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
            {
                if !c.dead.is_cancelled() {
                    return Ok(c);
                }
            }
            let last = match &*rx.borrow() {
                ConnState::Stopped => return Err(AmiError::Stopped),
                ConnState::Failed(e) => Some(e.to_string()),
                _ => None,
            };
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return Err(AmiError::NotConnected {
                    action: action.into(),
                    last_error: last,
                });
            }
        }
    }
}

impl Shared {
    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Routes one message from Asterisk: responses to their waiter, events to subscribers.
    fn route(&self, msg: Message) {
        // An event can carry a `Response:` field too (`OriginateResponse` has `Response:
        // Success|Failure` and the action's ActionID): `Event:` decides.
        if msg.event().is_none() && msg.response().is_some() {
            let waiter = msg
                .action_id()
                .and_then(|id| self.lock_pending().remove(id));
            match waiter {
                Some(p) => {
                    let _ = p.tx.send(msg);
                }
                None => {
                    tracing::debug!(action_id = ?msg.action_id(), "AMI response nobody waits for")
                }
            }
        } else if msg.event().is_some() {
            self.channels.observe(&msg);
            let _ = self.events.send(Arc::new(msg));
        } else {
            tracing::debug!(?msg, "AMI message that is neither a response nor an event");
        }
    }

    /// Fails every waiter of connection `generation` (their sender is dropped).
    fn fail_pending(&self, generation: u64) {
        self.lock_pending().retain(|_, p| p.generation > generation);
    }
}

type Lines = FramedRead<OwnedReadHalf, LineCodec>;

/// Reads one message (lines up to an empty line); `Ok(None)` on a clean EOF between messages.
async fn read_message(lines: &mut Lines) -> Result<Option<Message>, AmiError> {
    let mut msg = Message::default();
    loop {
        match lines.next().await {
            Some(Ok(line)) if line.is_empty() => {
                if !msg.is_empty() {
                    return Ok(Some(msg));
                }
            }
            Some(Ok(line)) => msg.push_line(&line)?,
            Some(Err(e)) => return Err(AmiError::Protocol(format!("reading from Asterisk: {e}"))),
            None if msg.is_empty() => return Ok(None),
            None => {
                return Err(AmiError::Disconnected(
                    "connection closed mid-message".into(),
                ))
            }
        }
    }
}

/// Connects, checks the banner, logs in. Events read before the login response are routed.
async fn connect_and_login(shared: &Shared) -> Result<(Lines, OwnedWriteHalf), AmiError> {
    let s = &shared.settings;
    let stream = TcpStream::connect(&s.addr)
        .await
        .map_err(|e| AmiError::Connect {
            addr: s.addr.clone(),
            message: e.to_string(),
        })?;
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut lines = FramedRead::new(read, LineCodec::default());
    let banner = match lines.next().await {
        Some(Ok(b)) => b,
        Some(Err(e)) => return Err(AmiError::Protocol(format!("reading the banner: {e}"))),
        None => {
            return Err(AmiError::Disconnected(
                "closed before sending the banner".into(),
            ))
        }
    };
    if !banner.starts_with(BANNER_PREFIX) {
        return Err(AmiError::Protocol(format!(
            "{} is not an Asterisk manager interface: banner `{}`",
            s.addr,
            banner.chars().take(80).collect::<String>()
        )));
    }
    let id = format!("enclave-{}", shared.next_id.fetch_add(1, Ordering::Relaxed));
    let login = encode_action(
        "Login",
        &id,
        &[
            ("Username", &s.username),
            ("Secret", &s.secret),
            ("Events", &s.events),
        ],
    )?;
    write
        .write_all(&login)
        .await
        .map_err(|e| AmiError::Disconnected(format!("sending Login: {e}")))?;
    loop {
        let msg = read_message(&mut lines)
            .await?
            .ok_or_else(|| AmiError::Disconnected("closed during login".into()))?;
        if msg.response().is_some() && msg.action_id() == Some(id.as_str()) {
            return match msg.response() {
                Some(r) if r.eq_ignore_ascii_case("Success") => {
                    tracing::info!(addr = %s.addr, %banner, "AMI logged in");
                    Ok((lines, write))
                }
                _ => Err(AmiError::AuthFailed(
                    msg.get("Message").unwrap_or("login refused").to_string(),
                )),
            };
        }
        shared.route(msg);
    }
}

/// Connect, serve, reconnect — until `cancel`.
async fn supervise(shared: Arc<Shared>, cancel: CancellationToken) {
    let s = shared.settings.clone();
    let mut backoff = s.initial_backoff;
    let mut generation = 0u64;
    loop {
        shared.state.send_replace(ConnState::Connecting);
        let attempt = tokio::select! {
            _ = cancel.cancelled() => break,
            r = tokio::time::timeout(s.action_timeout, connect_and_login(&shared)) => r,
        };
        match attempt {
            Ok(Ok((lines, writer))) => {
                generation += 1;
                backoff = s.initial_backoff;
                let conn = Arc::new(Conn {
                    generation,
                    writer: Arc::new(tokio::sync::Mutex::new(writer)),
                    dead: cancel.child_token(),
                });
                *shared.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&conn));
                shared.state.send_replace(ConnState::Connected);
                let why = serve(&shared, lines, &conn).await;
                conn.dead.cancel();
                *shared.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
                shared.fail_pending(generation);
                if cancel.is_cancelled() {
                    break;
                }
                tracing::warn!(addr = %s.addr, reason = %why, "AMI connection lost; reconnecting");
                shared
                    .state
                    .send_replace(ConnState::Failed(AmiError::Disconnected(why)));
            }
            Ok(Err(e)) => {
                tracing::warn!(addr = %s.addr, error = %e, retry_in = ?backoff, "AMI connect failed");
                shared.state.send_replace(ConnState::Failed(e));
            }
            Err(_) => {
                let e = AmiError::Timeout {
                    action: "connect and login".into(),
                    after: s.action_timeout,
                };
                tracing::warn!(addr = %s.addr, error = %e, "AMI connect failed");
                shared.state.send_replace(ConnState::Failed(e));
            }
        }
        let wait = jitter(backoff);
        backoff = (backoff * 2).min(s.max_backoff);
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    shared.state.send_replace(ConnState::Stopped);
    tracing::debug!("AMI client stopped");
}

/// A wait between 50 % and 100 % of `d` ("equal jitter"): clients restarted together spread out.
fn jitter(d: Duration) -> Duration {
    let ms = d.as_millis() as u64;
    if ms < 2 {
        return d;
    }
    Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms))
}

/// Reads and routes messages, pinging on a timer, until the connection dies. Returns why.
async fn serve(shared: &Arc<Shared>, mut lines: Lines, conn: &Arc<Conn>) -> String {
    let pinger = {
        let client = AmiClient {
            shared: Arc::clone(shared),
        };
        let conn = Arc::clone(conn);
        let every = shared.settings.ping_interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(Instant::now() + every, every);
            loop {
                tokio::select! {
                    _ = conn.dead.cancelled() => return,
                    _ = tick.tick() => {}
                }
                if let Err(e) = client.ping().await {
                    tracing::warn!(error = %e, "AMI keepalive ping failed; dropping the connection");
                    conn.dead.cancel();
                    return;
                }
            }
        })
    };
    let why = loop {
        let msg = tokio::select! {
            _ = conn.dead.cancelled() => break "keepalive failed or shutdown".to_string(),
            m = read_message(&mut lines) => m,
        };
        match msg {
            Ok(Some(m)) => shared.route(m),
            Ok(None) => break "Asterisk closed the connection".to_string(),
            Err(e) => break e.to_string(),
        }
    };
    conn.dead.cancel();
    let _ = pinger.await;
    why
}
