//! The AMI client against a fake Asterisk manager speaking the real text protocol over TCP.

use enclave::ami::{AmiClient, AmiError, AmiSettings};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const USER: &str = "agent";
const SECRET: &str = "s3cret";
const CHANNEL: &str = "PJSIP/100-00000001";
const BANNER: &str = "Asterisk Call Manager/7.0.3\r\n";
const LIMIT: Duration = Duration::from_secs(10);

/// How the fake answers.
#[derive(Default)]
struct Mode {
    /// Actions (lower case) that never get a response.
    silent: HashSet<String>,
    /// Hold responses until this many are pending, then send them in reverse order.
    reverse_batch: usize,
    /// Send an event before each response, split across two writes mid-line.
    interleave_events: bool,
}

enum Ctl {
    Send(Vec<u8>),
    Close,
}

struct FakeState {
    banner: String,
    mode: Mutex<Mode>,
    /// Exactly the bytes received, per connection.
    received: Mutex<Vec<Vec<u8>>>,
    /// Lines that did not end in CRLF.
    bad_lines: Mutex<Vec<String>>,
    logins: watch::Sender<usize>,
    actions_seen: watch::Sender<usize>,
    conns: Mutex<Vec<mpsc::UnboundedSender<Ctl>>>,
    vars: Mutex<HashMap<(String, String), String>>,
}

/// A fake Asterisk manager: banner, Login, Setvar, Getvar, Ping, Redirect, events.
struct FakeAmi {
    addr: SocketAddr,
    st: Arc<FakeState>,
}

impl FakeAmi {
    async fn start() -> FakeAmi {
        Self::start_with_banner(BANNER).await
    }

    async fn start_with_banner(banner: &str) -> FakeAmi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let st = Arc::new(FakeState {
            banner: banner.to_string(),
            mode: Mutex::new(Mode::default()),
            received: Mutex::new(Vec::new()),
            bad_lines: Mutex::new(Vec::new()),
            logins: watch::channel(0).0,
            actions_seen: watch::channel(0).0,
            conns: Mutex::new(Vec::new()),
            vars: Mutex::new(HashMap::new()),
        });
        let accept_st = Arc::clone(&st);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let idx = {
                    let mut r = accept_st.received.lock().unwrap();
                    r.push(Vec::new());
                    r.len() - 1
                };
                tokio::spawn(serve_conn(Arc::clone(&accept_st), stream, idx));
            }
        });
        FakeAmi { addr, st }
    }

    fn received(&self, conn: usize) -> String {
        String::from_utf8(self.st.received.lock().unwrap()[conn].clone()).unwrap()
    }

    fn connections(&self) -> usize {
        self.st.received.lock().unwrap().len()
    }

    fn var(&self, channel: &str, name: &str) -> Option<String> {
        self.st
            .vars
            .lock()
            .unwrap()
            .get(&(channel.into(), name.into()))
            .cloned()
    }

    /// Sends raw text (an event) on every open connection.
    fn send_all(&self, text: &str) {
        for c in self.st.conns.lock().unwrap().iter() {
            let _ = c.send(Ctl::Send(text.as_bytes().to_vec()));
        }
    }

    /// Closes every open connection, as a restarting Asterisk would.
    fn close_all(&self) {
        for c in self.st.conns.lock().unwrap().drain(..) {
            let _ = c.send(Ctl::Close);
        }
    }

    async fn wait_logins(&self, n: usize) {
        let mut rx = self.st.logins.subscribe();
        tokio::time::timeout(LIMIT, rx.wait_for(|v| *v >= n))
            .await
            .expect("logins within the limit")
            .unwrap();
    }

    async fn wait_actions(&self, n: usize) {
        let mut rx = self.st.actions_seen.subscribe();
        tokio::time::timeout(LIMIT, rx.wait_for(|v| *v >= n))
            .await
            .expect("actions within the limit")
            .unwrap();
    }

    fn settings(&self) -> AmiSettings {
        AmiSettings {
            addr: self.addr.to_string(),
            username: USER.into(),
            secret: SECRET.into(),
            events: "call,dialplan".into(),
            action_timeout: Duration::from_secs(3),
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            ping_interval: Duration::from_secs(3600),
        }
    }
}

/// Reads one message: lines up to an empty line, recording raw bytes and checking CRLF.
async fn read_raw_message(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    st: &FakeState,
    idx: usize,
) -> Option<Vec<(String, String)>> {
    let mut fields = Vec::new();
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        st.received.lock().unwrap()[idx].extend_from_slice(&line);
        let text = String::from_utf8_lossy(&line).to_string();
        let Some(body) = text.strip_suffix("\r\n") else {
            st.bad_lines.lock().unwrap().push(text);
            continue;
        };
        if body.is_empty() {
            if fields.is_empty() {
                continue;
            }
            return Some(fields);
        }
        let (k, v) = body.split_once(": ").unwrap_or((body, ""));
        fields.push((k.to_string(), v.to_string()));
    }
}

async fn serve_conn(st: Arc<FakeState>, stream: TcpStream, idx: usize) {
    let (r, mut w) = stream.into_split();
    let (ctl_tx, mut ctl) = mpsc::unbounded_channel();
    st.conns.lock().unwrap().push(ctl_tx);
    let (msg_tx, mut msgs) = mpsc::unbounded_channel();
    let reader_st = Arc::clone(&st);
    tokio::spawn(async move {
        let mut r = BufReader::new(r);
        while let Some(m) = read_raw_message(&mut r, &reader_st, idx).await {
            if msg_tx.send(m).is_err() {
                break;
            }
        }
    });
    if w.write_all(st.banner.as_bytes()).await.is_err() {
        return;
    }
    let mut held: Vec<String> = Vec::new();
    loop {
        let fields = tokio::select! {
            c = ctl.recv() => match c {
                Some(Ctl::Send(bytes)) => {
                    let _ = w.write_all(&bytes).await;
                    continue;
                }
                _ => return,
            },
            m = msgs.recv() => match m { Some(f) => f, None => return },
        };
        let get = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let action = get("Action").to_ascii_lowercase();
        let id = get("ActionID");
        if action == "login" {
            if get("Username") == USER && get("Secret") == SECRET {
                let text = format!(
                    "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n\
                     Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 12\r\nLastReload: 12\r\nStatus: Fully Booted\r\n\r\n"
                );
                let _ = w.write_all(text.as_bytes()).await;
                st.logins.send_modify(|n| *n += 1);
            } else {
                let text = format!(
                    "Response: Error\r\nActionID: {id}\r\nMessage: Authentication failed\r\n\r\n"
                );
                let _ = w.write_all(text.as_bytes()).await;
                return; // Asterisk ends the session after a failed login
            }
            continue;
        }
        st.actions_seen.send_modify(|n| *n += 1);
        let (silent, batch, interleave) = {
            let m = st.mode.lock().unwrap();
            (
                m.silent.contains(&action),
                m.reverse_batch,
                m.interleave_events,
            )
        };
        if silent {
            continue;
        }
        let response = match action.as_str() {
            "setvar" if get("Channel") == CHANNEL => {
                st.vars
                    .lock()
                    .unwrap()
                    .insert((get("Channel"), get("Variable")), get("Value"));
                format!("Response: Success\r\nActionID: {id}\r\nMessage: Variable Set\r\n\r\n")
            }
            "getvar" if get("Channel") == CHANNEL => {
                let v = st
                    .vars
                    .lock()
                    .unwrap()
                    .get(&(get("Channel"), get("Variable")))
                    .cloned()
                    .unwrap_or_default();
                format!(
                    "Response: Success\r\nActionID: {id}\r\nVariable: {}\r\nValue: {v}\r\n\r\n",
                    get("Variable")
                )
            }
            "setvar" | "getvar" => format!("Response: Error\r\nActionID: {id}\r\nMessage: No such channel\r\n\r\n"),
            "ping" => format!("Response: Success\r\nActionID: {id}\r\nPing: Pong\r\nTimestamp: 1763712000.000000\r\n\r\n"),
            "redirect" => format!("Response: Success\r\nActionID: {id}\r\nMessage: Redirect successful\r\n\r\n"),
            _ => format!("Response: Error\r\nActionID: {id}\r\nMessage: Invalid/unknown command\r\n\r\n"),
        };
        let response = if interleave {
            format!(
                "Event: Newexten\r\nPrivilege: dialplan,all\r\nChannel: {CHANNEL}\r\nContext: default\r\n\
                 Extension: 100\r\nApplication: AudioSocket\r\nAppData: x,127.0.0.1:9092\r\n\r\n{response}"
            )
        } else {
            response
        };
        held.push(response);
        if held.len() < batch.max(1) {
            continue;
        }
        for text in held.drain(..).rev() {
            if interleave {
                // Split mid-line across two writes: the client must parse by lines, not reads.
                let (a, b) = text.split_at(text.len() / 2 + 1);
                let _ = w.write_all(a.as_bytes()).await;
                let _ = w.flush().await;
                tokio::task::yield_now().await;
                let _ = w.write_all(b.as_bytes()).await;
            } else {
                let _ = w.write_all(text.as_bytes()).await;
            }
        }
    }
}

fn varset(channel: &str, variable: &str, value: &str) -> String {
    format!(
        "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: {channel}\r\nChannelState: 6\r\n\
         ChannelStateDesc: Up\r\nUniqueid: 1763712000.1\r\nVariable: {variable}\r\nValue: {value}\r\n\r\n"
    )
}

fn hangup(channel: &str) -> String {
    format!(
        "Event: Hangup\r\nPrivilege: call,all\r\nChannel: {channel}\r\nUniqueid: 1763712000.1\r\n\
         Cause: 16\r\nCause-txt: Normal Clearing\r\n\r\n"
    )
}

async fn connected(settings: AmiSettings) -> (AmiClient, CancellationToken) {
    let cancel = CancellationToken::new();
    let client = AmiClient::start(settings, cancel.clone());
    client.wait_connected(LIMIT).await.expect("login");
    (client, cancel)
}

#[tokio::test]
async fn login_and_setvar_with_exact_wire_format() {
    let fake = FakeAmi::start().await;
    let (client, cancel) = connected(fake.settings()).await;
    assert!(client.is_connected());
    client
        .setvar(CHANNEL, "AGENT_ACTION", "transfer")
        .await
        .unwrap();
    assert_eq!(
        fake.var(CHANNEL, "AGENT_ACTION").as_deref(),
        Some("transfer")
    );
    assert_eq!(
        fake.received(0),
        "Action: Login\r\nActionID: enclave-1\r\nUsername: agent\r\nSecret: s3cret\r\nEvents: call,dialplan\r\n\r\n\
         Action: Setvar\r\nActionID: enclave-2\r\nChannel: PJSIP/100-00000001\r\nVariable: AGENT_ACTION\r\nValue: transfer\r\n\r\n"
    );
    assert!(fake.st.bad_lines.lock().unwrap().is_empty());
    assert_eq!(
        client
            .getvar(CHANNEL, "AGENT_ACTION")
            .await
            .unwrap()
            .as_deref(),
        Some("transfer")
    );
    assert_eq!(client.getvar(CHANNEL, "UNSET").await.unwrap(), None);
    client
        .redirect(CHANNEL, "agent-result", "transfer", 1)
        .await
        .unwrap();
    client.ping().await.unwrap();
    cancel.cancel();
}

#[tokio::test]
async fn wrong_secret_is_auth_failed_and_actions_say_not_connected() {
    let fake = FakeAmi::start().await;
    let mut s = fake.settings();
    s.secret = "wrong".into();
    s.initial_backoff = Duration::from_millis(500);
    s.max_backoff = Duration::from_millis(500);
    s.action_timeout = Duration::from_millis(300);
    let cancel = CancellationToken::new();
    let client = AmiClient::start(s, cancel.clone());
    let err = client.wait_connected(LIMIT).await.unwrap_err();
    assert!(
        matches!(&err, AmiError::AuthFailed(m) if m == "Authentication failed"),
        "{err:?}"
    );
    assert!(err.to_string().contains("username/secret"), "{err}");
    let err = client.setvar(CHANNEL, "A", "b").await.unwrap_err();
    match &err {
        AmiError::NotConnected { last_error, .. } => {
            assert!(
                last_error
                    .as_deref()
                    .unwrap_or("")
                    .contains("Authentication failed"),
                "{err}"
            )
        }
        other => panic!("expected NotConnected, got {other:?}"),
    }
    assert!(!client.is_connected());
    cancel.cancel();
}

#[tokio::test]
async fn setvar_response_found_among_interleaved_split_events() {
    let fake = FakeAmi::start().await;
    fake.st.mode.lock().unwrap().interleave_events = true;
    let (client, cancel) = connected(fake.settings()).await;
    let mut events = client.subscribe();
    client
        .setvar(CHANNEL, "AGENT_TARGET", "operators")
        .await
        .unwrap();
    assert_eq!(
        fake.var(CHANNEL, "AGENT_TARGET").as_deref(),
        Some("operators")
    );
    let ev = tokio::time::timeout(LIMIT, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev.event(), Some("Newexten"));
    assert_eq!(
        ev.get("AppData"),
        Some("x,127.0.0.1:9092"),
        "value with ':' and ',' intact"
    );
    assert_eq!(ev.action_id(), None);
    cancel.cancel();
}

#[tokio::test]
async fn non_utf8_event_bytes_do_not_cost_the_connection() {
    let fake = FakeAmi::start().await;
    let (client, cancel) = connected(fake.settings()).await;
    let mut events = client.subscribe();
    // A caller name in Latin-1 ("José"), as old channel drivers pass it through.
    let mut raw = b"Event: Newchannel\r\nChannel: SIP/1-0001\r\nCallerIDName: Jos".to_vec();
    raw.push(0xE9);
    raw.extend_from_slice(b"\r\n\r\n");
    for c in fake.st.conns.lock().unwrap().iter() {
        let _ = c.send(Ctl::Send(raw.clone()));
    }
    let ev = tokio::time::timeout(LIMIT, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev.event(), Some("Newchannel"));
    client
        .setvar(CHANNEL, "AGENT_ACTION", "done")
        .await
        .unwrap();
    assert_eq!(fake.connections(), 1, "same connection");
    cancel.cancel();
}

#[tokio::test]
async fn out_of_order_responses_reach_their_own_callers() {
    let fake = FakeAmi::start().await;
    let (client, cancel) = connected(fake.settings()).await;
    for (name, value) in [("A", "alpha"), ("B", "beta"), ("C", "gamma")] {
        client.setvar(CHANNEL, name, value).await.unwrap();
    }
    fake.st.mode.lock().unwrap().reverse_batch = 3;
    let (a, b, c) = tokio::join!(
        client.getvar(CHANNEL, "A"),
        client.getvar(CHANNEL, "B"),
        client.getvar(CHANNEL, "C")
    );
    assert_eq!(a.unwrap().as_deref(), Some("alpha"));
    assert_eq!(b.unwrap().as_deref(), Some("beta"));
    assert_eq!(c.unwrap().as_deref(), Some("gamma"));
    cancel.cancel();
}

#[tokio::test]
async fn action_times_out_when_asterisk_never_answers_and_connection_stays_usable() {
    let fake = FakeAmi::start().await;
    fake.st.mode.lock().unwrap().silent.insert("setvar".into());
    let mut s = fake.settings();
    s.action_timeout = Duration::from_millis(300);
    let (client, cancel) = connected(s).await;
    let t0 = Instant::now();
    let err = client
        .setvar(CHANNEL, "AGENT_ACTION", "transfer")
        .await
        .unwrap_err();
    let waited = t0.elapsed();
    assert!(
        matches!(&err, AmiError::Timeout { action, .. } if action == "Setvar"),
        "{err:?}"
    );
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // The same connection still answers other actions.
    client.ping().await.unwrap();
    assert_eq!(fake.connections(), 1);
    cancel.cancel();
}

#[tokio::test]
async fn error_response_is_action_failed_with_asterisks_message() {
    let fake = FakeAmi::start().await;
    let (client, cancel) = connected(fake.settings()).await;
    let err = client
        .setvar("PJSIP/999-0000ffff", "X", "y")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AmiError::ActionFailed { action, message } if action == "Setvar" && message == "No such channel"),
        "{err:?}"
    );
    cancel.cancel();
}

#[tokio::test]
async fn reconnects_and_logs_in_again_after_the_server_drops_the_connection() {
    let fake = FakeAmi::start().await;
    fake.st.mode.lock().unwrap().silent.insert("getvar".into());
    let (client, cancel) = connected(fake.settings()).await;
    // An action in flight when the connection drops fails as Disconnected, not Timeout.
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move { client.getvar(CHANNEL, "X").await })
    };
    fake.wait_actions(1).await;
    fake.close_all();
    let err = in_flight.await.unwrap().unwrap_err();
    assert!(matches!(err, AmiError::Disconnected(_)), "{err:?}");
    fake.wait_logins(2).await;
    client.wait_connected(LIMIT).await.unwrap();
    client
        .setvar(CHANNEL, "AGENT_ACTION", "done")
        .await
        .unwrap();
    assert_eq!(fake.connections(), 2);
    let second = fake.received(1);
    assert!(second.starts_with("Action: Login\r\n"), "{second}");
    assert!(second.contains("Action: Setvar\r\n"), "{second}");
    cancel.cancel();
}

#[tokio::test]
async fn unanswered_keepalive_ping_drops_and_redials_the_connection() {
    let fake = FakeAmi::start().await;
    fake.st.mode.lock().unwrap().silent.insert("ping".into());
    let mut s = fake.settings();
    s.ping_interval = Duration::from_millis(100);
    s.action_timeout = Duration::from_millis(200);
    let (_client, cancel) = connected(s).await;
    fake.wait_logins(2).await;
    assert!(fake.received(0).contains("Action: Ping\r\n"));
    cancel.cancel();
}

#[tokio::test]
async fn not_an_asterisk_banner_and_refused_port_are_clear_errors() {
    let fake = FakeAmi::start_with_banner("SSH-2.0-OpenSSH_9.6\r\n").await;
    let cancel = CancellationToken::new();
    let client = AmiClient::start(fake.settings(), cancel.clone());
    let err = client.wait_connected(LIMIT).await.unwrap_err();
    assert!(
        matches!(&err, AmiError::Protocol(m) if m.contains("not an Asterisk")),
        "{err:?}"
    );
    cancel.cancel();

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let mut s = fake.settings();
    s.addr = addr.to_string();
    let cancel = CancellationToken::new();
    let client = AmiClient::start(s, cancel.clone());
    let err = client.wait_connected(LIMIT).await.unwrap_err();
    assert!(matches!(&err, AmiError::Connect { .. }), "{err:?}");
    cancel.cancel();
}

#[tokio::test]
async fn uuid_maps_to_channel_from_varset_and_leaves_on_hangup() {
    let fake = FakeAmi::start().await;
    let (client, cancel) = connected(fake.settings()).await;
    let uuid = Uuid::new_v4();
    // The waiter starts before the event arrives.
    let waiter = {
        let client = client.clone();
        tokio::spawn(async move { client.channel_for_uuid(&uuid, LIMIT).await })
    };
    fake.send_all(&varset(
        "PJSIP/200-00000007",
        "OTHER",
        &Uuid::new_v4().to_string(),
    ));
    fake.send_all(&varset("PJSIP/200-00000007", "AS_UUID", "not-a-uuid"));
    fake.send_all(&varset(
        CHANNEL,
        "AS_UUID",
        &uuid.to_string().to_uppercase(),
    ));
    assert_eq!(waiter.await.unwrap().as_deref(), Some(CHANNEL));
    assert_eq!(
        client.channels().len(),
        1,
        "only the AS_UUID VarSet with a uuid is kept"
    );
    assert_eq!(
        client
            .channel_for_uuid(&uuid, Duration::ZERO)
            .await
            .as_deref(),
        Some(CHANNEL)
    );
    let mut events = client.subscribe();
    fake.send_all(&hangup(CHANNEL));
    let ev = tokio::time::timeout(LIMIT, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev.event(), Some("Hangup"));
    assert_eq!(
        client
            .channel_for_uuid(&uuid, Duration::from_millis(50))
            .await,
        None
    );
    cancel.cancel();
}

#[tokio::test]
async fn set_call_result_sets_three_sanitised_variables_in_order() {
    let fake = FakeAmi::start().await;
    let (client, cancel) = connected(fake.settings()).await;
    let uuid = Uuid::new_v4();
    let mut events = client.subscribe();
    fake.send_all(&varset(CHANNEL, "AS_UUID", &uuid.to_string()));
    tokio::time::timeout(LIMIT, events.recv())
        .await
        .unwrap()
        .unwrap();
    let summary = "Caller wants a mortgage.\r\nAction: Hangup\r\n\tChannel: PJSIP/100   and more "
        .to_string()
        + &"длинный текст ".repeat(100);
    client
        .set_call_result(&uuid, "transfer", Some("mortgage"), &summary)
        .await
        .unwrap();
    assert_eq!(
        fake.var(CHANNEL, "AGENT_ACTION").as_deref(),
        Some("transfer")
    );
    assert_eq!(
        fake.var(CHANNEL, "AGENT_TARGET").as_deref(),
        Some("mortgage")
    );
    let stored = fake.var(CHANNEL, "AGENT_SUMMARY").unwrap();
    assert!(
        stored.starts_with(
            "Caller wants a mortgage. Action: Hangup Channel: PJSIP/100 and more длинный"
        ),
        "{stored}"
    );
    assert!(stored.len() <= enclave::ami::SUMMARY_MAX_BYTES);
    let wire = fake.received(0);
    let actions: Vec<&str> = wire.lines().filter(|l| l.starts_with("Action: ")).collect();
    assert_eq!(
        actions,
        [
            "Action: Login",
            "Action: Setvar",
            "Action: Setvar",
            "Action: Setvar"
        ]
    );
    let order: Vec<&str> = wire
        .lines()
        .filter(|l| l.starts_with("Variable: "))
        .collect();
    assert_eq!(
        order,
        [
            "Variable: AGENT_ACTION",
            "Variable: AGENT_TARGET",
            "Variable: AGENT_SUMMARY"
        ]
    );

    // A dial string is refused before anything is sent.
    let err = client
        .set_call_result(&uuid, "transfer", Some("PJSIP/500,30,g"), "x")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AmiError::InvalidField { field, .. } if field == "AGENT_TARGET"),
        "{err:?}"
    );
    assert_eq!(fake.received(0).matches("Action: Setvar").count(), 3);

    // An unknown call waits action_timeout, then says how to fix the dialplan.
    let mut s = fake.settings();
    s.action_timeout = Duration::from_millis(100);
    let (short, cancel2) = connected(s).await;
    let err = short
        .set_call_result(&Uuid::new_v4(), "done", None, "")
        .await
        .unwrap_err();
    assert!(matches!(err, AmiError::UnknownUuid { .. }), "{err:?}");
    assert!(err.to_string().contains("AS_UUID"), "{err}");
    cancel.cancel();
    cancel2.cancel();
}
