//! The echo gate in a whole call on the real voice: the agent's own audio leaking back into the
//! caller's channel (−20 dB, 120 ms, the simulator's echo line) neither barges in nor becomes a
//! caller turn; with the gate off the same call is cut by its own echo (so the check can fail);
//! and a caller who really speaks over the agent still stops it.

mod conversation_support;

use conversation_support::*;
use enclave::records::Role;
use enclave::sim::{place_call, CallOptions, EchoOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The real-models kit's agent.toml; fails with the install command when it is missing.
fn kit_config() -> toml::Table {
    let dir = std::env::var_os("ENCLAVE_REAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/enclave/real")
        });
    assert!(
        dir.join(".complete").is_file(),
        "the real-models kit is not installed at {} (no .complete marker); run: bash scripts/real-models.sh",
        dir.display()
    );
    let text = std::fs::read_to_string(dir.join("agent.toml")).expect("kit agent.toml");
    text.parse().expect("the kit's agent.toml is valid TOML")
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// The kit with a long greeting and a re-prompt every 1.5 s (many agent utterances for a
/// silent caller), the echo gate on or off.
fn config(tmp: &Path, gate: bool) -> String {
    let mut base = kit_config();
    let over: toml::Table = format!(
        r#"
[server]
listen = "127.0.0.1:0"
shutdown_grace_secs = 2
[metrics]
enabled = false
[records]
db_path = "{db}"
[conversation]
disclosure = "-"
greeting = "Hello, thank you for calling the dental clinic. How can I help you today?"
reprompt = "Are you still there? I am listening."
reprompt_after_secs = 1.5
hangup_after_reprompts = 0
asr_budget_ms = 60000
llm_budget_ms = 60000
tts_budget_ms = 60000
transfer_on_failure = false
echo_gate = {gate}
"#,
        db = tmp.join("calls.sqlite3").display()
    )
    .parse()
    .unwrap();
    merge(&mut base, over);
    toml::to_string(&base).unwrap()
}

fn barge_ins(agent: &TestAgent) -> u64 {
    agent
        .metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("enclave_barge_ins_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("enclave_barge_ins_total") as u64
}

/// A silent caller whose line carries the agent's audio back at −20 dB after 120 ms, for
/// `secs`; returns (agent talkspurts heard, barge-ins, caller turns recorded).
async fn silent_call_with_echo(gate: bool, secs: f64) -> (usize, u64, usize) {
    let tmp = tempfile::tempdir().unwrap();
    let agent = start_agent(&config(tmp.path(), gate)).await;
    let uuid = uuid::Uuid::new_v4();
    let mut opts = CallOptions::new(agent.addr);
    opts.uuid = Some(uuid);
    opts.echo = Some(EchoOptions::new(-20.0, Duration::from_millis(120)).unwrap());
    opts.hangup_after = Some(Duration::from_secs_f64(secs));
    opts.linger = Duration::from_secs_f64(secs);
    let report = place_call(opts).await.expect("call");
    let cut = barge_ins(&agent);
    let call = load_call(&agent, &uuid).await;
    agent.stop().await;
    let caller_turns = call.turns.iter().filter(|t| t.role == Role::Caller).count();
    (
        enclave::sim::echo_bench::talkspurts(&report),
        cut,
        caller_turns,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_own_echo_does_not_barge_in_but_the_caller_does() {
    let (spurts, cut, turns) = silent_call_with_echo(true, 12.0).await;
    assert!(spurts >= 3, "greeting and re-prompts heard: {spurts}");
    assert_eq!(
        (cut, turns),
        (0, 0),
        "gate on: no barge-in and no caller turn from the echo ({spurts} agent utterances)"
    );

    let (spurts_off, cut_off, turns_off) = silent_call_with_echo(false, 12.0).await;
    assert!(
        cut_off + turns_off as u64 > 0,
        "gate off: the same echo is heard as the caller ({spurts_off} agent utterances): \
         the check above could not fail"
    );

    // The caller really speaks 1.5 s into the greeting (echo still on): the agent stops.
    let tmp = tempfile::tempdir().unwrap();
    let agent = start_agent(&config(tmp.path(), true)).await;
    let mut audio = silence(1.5);
    audio.extend(jfk(0.0, 3.0));
    let onset_ms = voiced_span(&audio, 16_000.0).expect("speech").0 * 1000.0;
    let mut opts = CallOptions::new(agent.addr);
    opts.audio = Some((audio, 16_000));
    opts.echo = Some(EchoOptions::new(-20.0, Duration::from_millis(120)).unwrap());
    opts.hangup_after = Some(Duration::from_secs(6));
    opts.linger = Duration::from_secs(6);
    let report = place_call(opts).await.expect("call");
    let cut = barge_ins(&agent);
    agent.stop().await;
    let stop = report.stopped_after(onset_ms, 10);
    assert!(cut >= 1, "the caller's speech barged in");
    let stop = stop.expect("the agent's audio stopped after the caller's onset") - onset_ms;
    // The benchmark (scripts/bench-echo.sh) measures ~60 ms; a loaded box may add some.
    assert!(
        stop < 400.0,
        "stopped {stop:.0} ms after the caller's onset"
    );
}
