//! Hand-over and durability over real TCP: `transfer_to_human` and the operator digit set the
//! result variables through a fake AMI server that speaks Asterisk's AMI text protocol, then
//! the agent hangs up; kill -9 of the agent loses no completed turn.

mod conversation_support;
#[path = "transport_support/mod.rs"]
mod transport_support;

use conversation_support::*;
use enclave::records::{CallOutcome, Role};
use enclave::sim::{place_call, CallEndReason, CallOptions};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const CHANNEL: &str = "PJSIP/100-00000001";

/// What the fake Asterisk received: each action's fields, and when.
type Actions = Arc<Mutex<Vec<(Instant, Vec<(String, String)>)>>>;

/// A fake Asterisk manager on 127.0.0.1:0. After a successful login it announces, as the
/// shipped dialplan makes Asterisk do, that channel `CHANNEL` set `AS_UUID` to `uuid`.
async fn fake_ami(uuid: uuid::Uuid) -> (u16, Actions) {
    fake_ami_with(uuid, true, true).await
}

/// [`fake_ami`], where `announce` false plays a dialplan without `Set(AS_UUID=…)` (no channel
/// is ever known for the call) and `setvar_ok` false makes Asterisk refuse every `Setvar`.
async fn fake_ami_with(uuid: uuid::Uuid, announce: bool, setvar_ok: bool) -> (u16, Actions) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let actions: Actions = Arc::default();
    let seen = Arc::clone(&actions);
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let (rd, mut wr) = sock.into_split();
                let mut rd = BufReader::new(rd);
                wr.write_all(b"Asterisk Call Manager/7.0.3\r\n")
                    .await
                    .unwrap();
                loop {
                    let Some(fields) = conversation_support::read_ami_action(&mut rd).await else {
                        return;
                    };
                    let get = |k: &str| {
                        fields
                            .iter()
                            .find(|(f, _)| f.eq_ignore_ascii_case(k))
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    };
                    let id = get("ActionID");
                    let reply = match get("Action").to_ascii_lowercase().as_str() {
                        "login" if !announce => format!(
                            "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n\
                             Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
                        ),
                        "setvar" if !setvar_ok => format!(
                            "Response: Error\r\nActionID: {id}\r\nMessage: No such channel\r\n\r\n"
                        ),
                        "login" => format!(
                            "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n\
                             Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n\
                             Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: {CHANNEL}\r\n\
                             Uniqueid: 1763712000.1\r\nVariable: AS_UUID\r\nValue: {uuid}\r\n\r\n"
                        ),
                        "setvar" => format!(
                            "Response: Success\r\nActionID: {id}\r\nMessage: Variable Set\r\n\r\n"
                        ),
                        "ping" => format!(
                            "Response: Success\r\nActionID: {id}\r\nPing: Pong\r\nTimestamp: 1763712000.000000\r\n\r\n"
                        ),
                        _ => format!(
                            "Response: Error\r\nActionID: {id}\r\nMessage: Invalid/unknown command\r\n\r\n"
                        ),
                    };
                    seen.lock().unwrap().push((Instant::now(), fields));
                    if wr.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, actions)
}

fn ami_section(port: u16) -> String {
    format!(
        "\n[ami]\nenabled = true\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"enclave\"\nsecret = \"s3cret\"\naction_timeout_ms = 1000\n"
    )
}

/// The `Setvar`s received, as (variable, value, channel, when).
fn setvars(actions: &Actions) -> Vec<(String, String, String, Instant)> {
    actions
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, f)| f.iter().any(|(k, v)| k == "Action" && v == "Setvar"))
        .map(|(t, f)| {
            let get = |k: &str| {
                f.iter()
                    .find(|(f, _)| f == k)
                    .map(|(_, v)| v.clone())
                    .unwrap()
            };
            (get("Variable"), get("Value"), get("Channel"), *t)
        })
        .collect()
}

async fn handover_call(llm_extra: &str, dtmf: Vec<(char, f64)>) {
    let tmp = tempfile::tempdir().unwrap();
    let uuid = uuid::Uuid::new_v4();
    let (port, actions) = fake_ami(uuid).await;
    let cfg = config_text(
        tmp.path(),
        &(llm_and_conversation(llm_extra, "greeting = \"Hi.\"") + &ami_section(port)),
    );
    let agent = start_agent(&cfg).await;
    let mut audio = silence(0.8);
    audio.extend(jfk(0.0, 2.5));
    audio.extend(silence(0.5));
    let mut opts = CallOptions::new(agent.addr);
    opts.uuid = Some(uuid);
    opts.audio = Some((audio, 16_000));
    opts.dtmf = dtmf;
    opts.linger = Duration::from_secs(25);
    let report = place_call(opts).await.expect("call");
    // The sim returns as soon as it has read the hang-up (`00 00 00` or EOF): every Setvar the
    // agent made before hanging up arrived before this instant. (The report's duration counts
    // from the connect, which the test cannot see, so start + duration is earlier than the
    // real hang-up by the connect time and made this comparison flaky on a loaded box.)
    let ended = Instant::now();
    let db = agent.db.clone();
    agent.stop().await;

    assert_eq!(report.ended, CallEndReason::AgentHangup, "{report}");
    let vars = setvars(&actions);
    let names: Vec<&str> = vars.iter().map(|v| v.0.as_str()).collect();
    assert_eq!(
        names,
        ["AGENT_ACTION", "AGENT_TARGET", "AGENT_SUMMARY"],
        "{vars:?}"
    );
    assert_eq!(vars[0].1, "transfer");
    assert_eq!(vars[1].1, "operators");
    assert!(!vars[2].1.is_empty() && !vars[2].1.contains(['\r', '\n']));
    assert!(vars.iter().all(|v| v.2 == CHANNEL));
    assert!(
        vars[2].3 <= ended,
        "the variables are set before the agent hangs up"
    );
    // The login used the configured credentials, with an ActionID like every action.
    let all = actions.lock().unwrap().clone();
    let login = &all[0].1;
    assert!(login.contains(&("Action".into(), "Login".into())));
    assert!(login.contains(&("Username".into(), "enclave".into())));
    assert!(all
        .iter()
        .all(|(_, f)| f.iter().any(|(k, _)| k == "ActionID")));

    let call = read_call(&db, &uuid).unwrap();
    assert_eq!(call.outcome, Some(CallOutcome::Transferred));
    assert_eq!(call.transfer_target.as_deref(), Some("operators"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_to_human_sets_the_channel_variables_then_hangs_up() {
    // The model must call a tool, and the only tool is transfer_to_human: the grammar makes
    // even random weights produce a valid call.
    handover_call(
        "tool_choice = \"required\"\nbuiltin_tools = [\"transfer_to_human\"]\nmax_tool_rounds = 2",
        Vec::new(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_digit_hands_over_at_once() {
    handover_call("tool_choice = \"none\"", vec![('0', 1.5)]).await;
}

#[test]
fn kill_9_loses_no_completed_turn() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg_path = tmp.path().join("agent.toml");
    std::fs::write(
        &cfg_path,
        config_text(
            tmp.path(),
            &llm_and_conversation("", "greeting = \"Hello, how can I help?\""),
        ),
    )
    .unwrap();
    let db = tmp.path().join("calls.sqlite3");
    let mut agent = transport_support::spawn_agent(&["--config", cfg_path.to_str().unwrap()], &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let uuid = uuid::Uuid::new_v4();
    let mut audio = silence(0.8);
    audio.extend(jfk(0.0, 2.5));
    audio.extend(silence(30.0));
    let mut opts = CallOptions::new(agent.addr);
    opts.uuid = Some(uuid);
    opts.audio = Some((audio, 16_000));
    let call = rt.spawn(place_call(opts));

    // Wait (bounded) until the caller's turn and the agent's answer are committed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let committed = loop {
        let turns = read_call(&db, &uuid).map(|c| c.turns).unwrap_or_default();
        let caller = turns.iter().position(|t| t.role == Role::Caller);
        if let Some(i) = caller {
            if turns[i + 1..].iter().any(|t| t.role == Role::Agent) {
                break turns;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no completed turn within 60 s; log:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    agent.child.kill().expect("SIGKILL the agent"); // kill -9: no chance to flush anything
    agent.child.wait().unwrap();
    let _ = rt.block_on(call);

    let after = read_call(&db, &uuid).expect("the call row survives");
    assert!(
        after.ended_at_ms.is_none(),
        "the process died before the call ended"
    );
    assert!(after.turns.len() >= committed.len());
    for (a, b) in committed.iter().zip(&after.turns) {
        assert_eq!((a.seq, a.role, &a.text), (b.seq, b.role, &b.text));
    }
}

/// A hand-over that cannot be made keeps the caller: the agent apologises once, offers a
/// call-back, does not hang up, and the record says what failed (not `transferred`).
async fn failed_handover_call(announce: bool, setvar_ok: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let uuid = uuid::Uuid::new_v4();
    let (port, actions) = fake_ami_with(uuid, announce, setvar_ok).await;
    let offer = "No operator is free; we will call you back.";
    let cfg = config_text(
        tmp.path(),
        &(llm_and_conversation(
            "tool_choice = \"none\"",
            &format!(
                "greeting = \"Hi.\"\napology = \"Sorry about that.\"\nhandover_failed = \"{offer}\""
            ),
        ) + &ami_section(port)),
    );
    let agent = start_agent(&cfg).await;
    let mut audio = silence(1.0);
    // The caller presses 0 at 1.0 s, then stays on the line, silent, until it hangs up.
    audio.extend(silence(9.0));
    let mut opts = CallOptions::new(agent.addr);
    opts.uuid = Some(uuid);
    opts.audio = Some((audio, 16_000));
    opts.dtmf = vec![('0', 1.0)];
    opts.linger = Duration::from_millis(200);
    let report = place_call(opts).await.expect("call");
    let metrics = agent.metrics.clone();
    let db = agent.db.clone();
    agent.stop().await;

    assert_eq!(
        report.ended,
        CallEndReason::CallerHangup,
        "the agent must not hang up after a failed hand-over\n{report}"
    );
    if !announce {
        assert!(setvars(&actions).is_empty(), "no channel, no Setvar");
    }
    assert_eq!(metrics.handover_failures_total(), 1);
    let rendered = metrics.render();
    assert!(
        rendered.contains("enclave_handover_failures_total 1"),
        "{rendered}"
    );
    let call = read_call(&db, &uuid).unwrap();
    assert_eq!(call.outcome, Some(CallOutcome::CallerHangup), "{call:?}");
    assert_eq!(call.transfer_target, None);
    let error = call.error.clone().unwrap_or_default();
    assert!(error.contains("hand-over failed"), "{error:?}");
    let said: String = call
        .turns
        .iter()
        .filter(|t| t.role == Role::Agent)
        .map(|t| t.text.clone())
        .collect::<Vec<_>>()
        .join(" | ");
    assert_eq!(said.matches("Sorry about that.").count(), 1, "{said}");
    assert!(said.contains(offer), "{said}");
    // The offer comes after the notice, with the apology between them.
    let notice = said
        .find("Let me connect you")
        .expect("the transfer notice");
    assert!(said.find(offer).unwrap() > notice, "{said}");
    // The offer was played to its end (a turn is marked interrupted otherwise).
    assert!(
        call.turns
            .iter()
            .any(|t| t.role == Role::Agent && t.text.contains(offer) && !t.interrupted),
        "{:?}",
        call.turns
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handover_with_no_channel_for_the_call_keeps_the_caller() {
    failed_handover_call(false, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handover_refused_by_asterisk_keeps_the_caller() {
    failed_handover_call(true, false).await;
}
