//! A fake Asterisk for campaign tests: the AMI text protocol over TCP (banner, Login,
//! Originate with `Response: Success` / `Message: Originate successfully queued`, then
//! `VarSet`, `Newstate`, `Hangup` and `OriginateResponse` events carrying the action's
//! ActionID, as Asterisk sends them), and on answer a simulated caller (`enclave::sim`) that
//! connects to the agent's AudioSocket port with the call's `AS_UUID`.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use enclave::campaign::Clock;
use enclave::sim::{place_call, CallOptions};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the callee at a number does on each attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Callee {
    /// Answers and plays this audio (16 kHz), then hangs up after `linger_s`.
    Answer { audio: Vec<f32>, linger_s: f64 },
    /// Answers and hangs up after this many seconds without a word.
    HangUp(f64),
    /// Busy (Reason 5, Hangup cause 17).
    Busy,
    /// Rings out (Reason 3, Hangup cause 19).
    NoAnswer,
}

/// One Originate the fake received.
#[derive(Debug, Clone)]
pub struct Dial {
    /// The number (from `Local/<number>@…`).
    pub phone: String,
    /// Its fields in wire order.
    pub fields: Vec<(String, String)>,
    /// The campaign clock when it arrived.
    pub at: DateTime<Utc>,
    /// The AS_UUID variable.
    pub uuid: String,
}

#[derive(Default)]
struct State {
    plans: HashMap<String, Vec<Callee>>,
    dials: Vec<Dial>,
    /// Calls (dialling or talking) per number right now, and the most ever at once.
    active: HashMap<String, usize>,
    max_active_per_phone: usize,
    active_total: usize,
    max_active_total: usize,
    /// Numbers whose answered call is talking now.
    talking: Vec<String>,
    uniqueid: u64,
}

/// The fake Asterisk (AMI side) on 127.0.0.1.
#[derive(Clone)]
pub struct FakeAsterisk {
    pub ami_port: u16,
    st: Arc<Mutex<State>>,
    changed: watch::Sender<u64>,
}

fn bump(tx: &watch::Sender<u64>) {
    tx.send_modify(|v| *v += 1);
}

impl FakeAsterisk {
    /// Starts the AMI listener; answered calls go to the agent at `agent`.
    pub async fn start(agent: SocketAddr, clock: Arc<dyn Clock>) -> FakeAsterisk {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ami_port = listener.local_addr().unwrap().port();
        let fake = FakeAsterisk {
            ami_port,
            st: Arc::default(),
            changed: watch::channel(0).0,
        };
        let f = fake.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(f.clone().serve(sock, agent, Arc::clone(&clock)));
            }
        });
        fake
    }

    /// What the callee at `phone` does on attempt 1, 2, … (the last repeats).
    pub fn plan(&self, phone: &str, callee: Vec<Callee>) {
        self.st.lock().unwrap().plans.insert(phone.into(), callee);
    }

    /// Every Originate so far.
    pub fn dials(&self) -> Vec<Dial> {
        self.st.lock().unwrap().dials.clone()
    }

    /// Most calls to one number in flight at once, and most calls in flight overall.
    pub fn max_active(&self) -> (usize, usize) {
        let s = self.st.lock().unwrap();
        (s.max_active_per_phone, s.max_active_total)
    }

    /// Numbers talking now.
    pub fn talking(&self) -> Vec<String> {
        self.st.lock().unwrap().talking.clone()
    }

    /// Waits (bounded) until `cond` holds over the fake's state.
    pub async fn wait_until(
        &self,
        what: &str,
        limit: std::time::Duration,
        cond: impl Fn(&FakeAsterisk) -> bool,
    ) {
        let mut rx = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if cond(self) {
                return;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                panic!("fake Asterisk: `{what}` did not happen within {limit:?}");
            }
        }
    }

    async fn serve(self, sock: tokio::net::TcpStream, agent: SocketAddr, clock: Arc<dyn Clock>) {
        let (rd, wr) = sock.into_split();
        let wr = Arc::new(tokio::sync::Mutex::new(wr));
        let mut rd = BufReader::new(rd);
        wr.lock()
            .await
            .write_all(b"Asterisk Call Manager/7.0.3\r\n")
            .await
            .unwrap();
        loop {
            let mut fields: Vec<(String, String)> = Vec::new();
            loop {
                let mut line = String::new();
                if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                assert!(line.ends_with("\r\n"), "AMI lines end in CRLF: {line:?}");
                let line = line.trim_end_matches(['\r', '\n']);
                if line.is_empty() {
                    break;
                }
                let (k, v) = line.split_once(": ").expect("Key: Value line");
                fields.push((k.to_string(), v.to_string()));
            }
            let get = |k: &str| {
                fields
                    .iter()
                    .find(|(f, _)| f.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let id = get("ActionID");
            let reply = match get("Action").to_ascii_lowercase().as_str() {
                "login" => format!(
                    "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n\
                     Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
                ),
                "ping" => format!(
                    "Response: Success\r\nActionID: {id}\r\nPing: Pong\r\nTimestamp: 1764547200.000000\r\n\r\n"
                ),
                "originate" => {
                    assert_eq!(get("Async"), "true", "campaign Originates are async");
                    let channel = get("Channel");
                    let phone = channel
                        .strip_prefix("Local/")
                        .and_then(|c| c.split_once('@'))
                        .map(|(p, _)| p.to_string())
                        .expect("Local/<number>@context channel");
                    let uuid = fields
                        .iter()
                        .filter(|(k, _)| k == "Variable")
                        .find_map(|(_, v)| v.strip_prefix("AS_UUID="))
                        .expect("AS_UUID variable")
                        .to_string();
                    let callee = {
                        let mut s = self.st.lock().unwrap();
                        let n = s.dials.iter().filter(|d| d.phone == phone).count();
                        s.dials.push(Dial {
                            phone: phone.clone(),
                            fields: fields.clone(),
                            at: clock.now(),
                            uuid: uuid.clone(),
                        });
                        let active = s.active.entry(phone.clone()).or_default();
                        *active += 1;
                        let a = *active;
                        s.max_active_per_phone = s.max_active_per_phone.max(a);
                        s.active_total += 1;
                        s.max_active_total = s.max_active_total.max(s.active_total);
                        s.uniqueid += 1;
                        let plan = s.plans.get(&phone).cloned().unwrap_or_default();
                        plan.get(n).or(plan.last()).cloned().unwrap_or(Callee::Busy)
                    };
                    bump(&self.changed);
                    // As Asterisk does: the action's response first, the call's events after.
                    let queued = format!(
                        "Response: Success\r\nActionID: {id}\r\nMessage: Originate successfully queued\r\n\r\n"
                    );
                    if wr.lock().await.write_all(queued.as_bytes()).await.is_err() {
                        return;
                    }
                    let f = self.clone();
                    let w = Arc::clone(&wr);
                    let exten = get("Exten");
                    let context = get("Context");
                    tokio::spawn(async move {
                        f.run_call(w, agent, id, phone, uuid, channel, context, exten, callee).await
                    });
                    String::new()
                }
                _ => format!(
                    "Response: Error\r\nActionID: {id}\r\nMessage: Invalid/unknown command\r\n\r\n"
                ),
            };
            if wr.lock().await.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_call(
        self,
        w: Arc<tokio::sync::Mutex<tokio::net::tcp::OwnedWriteHalf>>,
        agent: SocketAddr,
        action_id: String,
        phone: String,
        uuid: String,
        dial: String,
        context: String,
        exten: String,
        callee: Callee,
    ) {
        let uniqueid = format!("1764547200.{}", self.st.lock().unwrap().uniqueid);
        let chan = format!("Local/{phone}@enclave-dial-0000{};1", &uniqueid[11..]);
        let send = |text: String| {
            let w = Arc::clone(&w);
            async move {
                let _ = w.lock().await.write_all(text.as_bytes()).await;
            }
        };
        let ev_head = |event: &str| {
            format!("Event: {event}\r\nPrivilege: call,all\r\nChannel: {chan}\r\nUniqueid: {uniqueid}\r\n")
        };
        // The Originate's variables are set on the new channel first (VarSet, class dialplan).
        send(format!(
            "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: {chan}\r\nUniqueid: {uniqueid}\r\nVariable: AS_UUID\r\nValue: {uuid}\r\n\r\n"
        ))
        .await;
        send(format!(
            "{}ChannelState: 5\r\nChannelStateDesc: Ringing\r\n\r\n",
            ev_head("Newstate")
        ))
        .await;
        let response = |ok: bool, reason: u32, uid: &str| {
            format!(
                "Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: {action_id}\r\nResponse: {}\r\n\
                 Channel: {dial}\r\nContext: {context}\r\nExten: {exten}\r\nReason: {reason}\r\nUniqueid: {uid}\r\n\
                 CallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\n\r\n",
                if ok { "Success" } else { "Failure" }
            )
        };
        let hangup = |cause: u32, txt: &str| {
            format!(
                "{}Cause: {cause}\r\nCause-txt: {txt}\r\n\r\n",
                ev_head("Hangup")
            )
        };
        match callee {
            Callee::Busy => {
                send(hangup(17, "User busy")).await;
                send(response(false, 5, "<null>")).await;
            }
            Callee::NoAnswer => {
                send(hangup(19, "No answer")).await;
                send(response(false, 3, "<null>")).await;
            }
            Callee::Answer { .. } | Callee::HangUp(_) => {
                send(format!(
                    "{}ChannelState: 6\r\nChannelStateDesc: Up\r\n\r\n",
                    ev_head("Newstate")
                ))
                .await;
                send(response(true, 4, &uniqueid)).await;
                self.st.lock().unwrap().talking.push(phone.clone());
                bump(&self.changed);
                let mut opts = CallOptions::new(agent);
                opts.uuid = Some(uuid.parse().unwrap());
                match callee {
                    Callee::Answer { audio, linger_s } => {
                        // The callee lets the greeting finish first (speech over it would be a barge-in).
                        let mut a = vec![0.0f32; 24_000];
                        a.extend(audio);
                        // Silence frames after the words: the agent's VAD runs on media time,
                        // so the end of speech is only seen through frames that follow it.
                        a.extend(vec![0.0f32; 32_000]);
                        opts.audio = Some((a, 16_000));
                        opts.linger = std::time::Duration::from_secs_f64(linger_s);
                    }
                    Callee::HangUp(s) => {
                        opts.audio = Some((vec![0.0; 1600], 16_000));
                        opts.hangup_after = Some(std::time::Duration::from_secs_f64(s));
                        opts.linger = std::time::Duration::from_secs_f64(s);
                    }
                    _ => unreachable!(),
                }
                opts.record = false;
                let report = place_call(opts).await;
                if let Err(e) = &report {
                    eprintln!("simulated callee {phone}: {e}");
                }
                self.st.lock().unwrap().talking.retain(|p| *p != phone);
                send(hangup(16, "Normal Clearing")).await;
            }
        }
        {
            let mut s = self.st.lock().unwrap();
            *s.active.get_mut(&phone).unwrap() -= 1;
            s.active_total -= 1;
        }
        bump(&self.changed);
    }
}
