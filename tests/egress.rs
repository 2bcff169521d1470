//! Zero egress, proven: the real `agent` binary downloads models from a loopback mirror,
//! answers a full conversation call (Silero VAD and Piper through ONNX Runtime, espeak-ng,
//! Whisper, the LLM) and makes an HTTP tool call to loopback (`agent chat` with the tool
//! forced) inside a network namespace that has only `lo`, while `strace -f` records every `connect`/`sendto`/`sendmsg`/`sendmmsg`. The test
//! fails on any address outside loopback, any DNS query (port 53, loopback included) and any
//! connection to a local audio or name service (PulseAudio, nscd). A control run of
//! `getent hosts` in the same namespace proves the trace sees DNS when there is some.
//!
//! The parent re-runs this test binary under `unshare -n` (or `unshare -rn` without
//! CAP_SYS_ADMIN) with `--exact egress_child`; the child does the work and leaves the traces
//! in a directory the parent then checks. Needs `strace`, `unshare` and `ip`
//! (`bash scripts/setup.sh --deps` installs them) and the synthetic models.

mod conversation_support;
mod models_support;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_DIR_ENV: &str = "ENCLAVE_EGRESS_CHILD_DIR";
const TRACED: &str = "trace=connect,sendto,sendmsg,sendmmsg";

/// Environment variables that make ONNX Runtime switch its telemetry off by itself (it
/// detects CI): removed, so the test sees what a customer's box would do.
const CI_MARKERS: &[&str] = &[
    "CI",
    "TF_BUILD",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "JENKINS_URL",
    "TEAMCITY_VERSION",
    "TRAVIS",
    "BUILDKITE",
    "CIRCLECI",
    "APPVEYOR",
    "CODEBUILD_BUILD_ID",
    "ORT_RUNNING_UNIT_TESTS",
    "ORT_DISABLE_TELEMETRY",
];

fn require_tool(name: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{name}` is missing: run `bash scripts/setup.sh --deps` (or apt-get install strace iproute2 util-linux)"
    );
}

/// One traced syscall that sent or connected somewhere.
#[derive(Debug, Clone, PartialEq)]
struct Sent {
    line: String,
    family: String,
    addr: Option<String>,
    port: Option<u16>,
}

/// The addressed syscalls in an strace log (calls on connected sockets carry no address and
/// were checked at their `connect`).
fn parse_trace(text: &str) -> Vec<Sent> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(fam_at) = line.find("sa_family=") else {
            continue;
        };
        let family: String = line[fam_at + 10..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let port = ["sin_port=htons(", "sin6_port=htons("]
            .iter()
            .find_map(|k| line.find(k).map(|i| &line[i + k.len()..]))
            .and_then(|rest| rest.split(')').next())
            .and_then(|p| p.parse().ok());
        let addr = if let Some(i) = line.find("inet_addr(\"") {
            line[i + 11..].split('"').next().map(str::to_string)
        } else if let Some(i) = line.find("inet_pton(AF_INET6, \"") {
            line[i + 21..].split('"').next().map(str::to_string)
        } else if let Some(i) = line.find("sun_path=\"") {
            line[i + 10..].split('"').next().map(str::to_string)
        } else {
            None
        };
        out.push(Sent {
            line: line.to_string(),
            family,
            addr,
            port,
        });
    }
    out
}

fn is_loopback(addr: &str) -> bool {
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => a.is_loopback() || a.is_unspecified(),
        Ok(std::net::IpAddr::V6(a)) => {
            a.is_loopback()
                || a.is_unspecified()
                || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// Why `s` is egress (or a lookup that could become egress), if it is.
fn violation(s: &Sent) -> Option<String> {
    match s.family.as_str() {
        "AF_INET" | "AF_INET6" => {
            if s.port == Some(53) {
                return Some("DNS query".into());
            }
            match &s.addr {
                Some(a) if is_loopback(a) => None,
                Some(a) => Some(format!("non-loopback address {a}")),
                None => Some("address not understood".into()),
            }
        }
        "AF_UNIX" => {
            let path = s.addr.as_deref().unwrap_or("");
            if path.contains("pulse") || path.contains("nscd") || path.contains("dbus") {
                Some(format!("local service {path} (audio output / name lookup)"))
            } else {
                None
            }
        }
        // Kernel-local: routing/interface queries never leave the host.
        "AF_NETLINK" => None,
        other => Some(format!("unexpected address family {other}")),
    }
}

fn traced(trace: &Path, program: &str) -> Command {
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-s", "64", "-e", TRACED, "-o"])
        .arg(trace)
        .arg(program);
    for k in CI_MARKERS {
        cmd.env_remove(k);
    }
    cmd.env_remove("ENCLAVE_CONFIG")
        .env_remove("ENCLAVE_MODELS_MIRROR")
        .env("NO_PROXY", "127.0.0.1,localhost");
    cmd
}

#[test]
fn the_agent_sends_nothing_beyond_loopback() {
    for tool in ["strace", "unshare", "ip"] {
        require_tool(tool);
    }
    // Fail early (with the fixing command) rather than inside the namespace.
    conversation_support::synth_dir();
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let script =
        r#"ip link set lo up && exec "$0" --exact egress_child --nocapture --test-threads=1"#;
    let run = |flags: &str| {
        Command::new("unshare")
            .args([flags, "--", "sh", "-c", script])
            .arg(&exe)
            .env(CHILD_DIR_ENV, dir.path())
            .output()
            .expect("run unshare")
    };
    let mut out = run("-n");
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("unshare failed") {
        // No CAP_SYS_ADMIN: a user namespace gives one.
        out = run("-rn");
    }
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains("egress child done"),
        "the namespaced run failed (unshare needs root or user namespaces)\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    // The control: the same tracing in the same namespace sees a DNS lookup.
    let control = std::fs::read_to_string(dir.path().join("control.trace")).unwrap();
    let control_hits: Vec<_> = parse_trace(&control)
        .into_iter()
        .filter(|s| violation(s).is_some())
        .collect();
    assert!(
        !control_hits.is_empty(),
        "control: `getent hosts` produced no DNS attempt in the trace, so the trace proves nothing:\n{control}"
    );

    let mut report = String::new();
    let mut sent_total = 0;
    for name in ["download.trace", "serve.trace", "chat.trace"] {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        let sent = parse_trace(&text);
        sent_total += sent.len();
        for s in &sent {
            if let Some(why) = violation(s) {
                report.push_str(&format!("{name}: {why}: {}\n", s.line));
            }
        }
    }
    assert!(report.is_empty(), "egress attempts:\n{report}");
    // The traces are not empty: the runs did talk to the loopback mirror, tool and caller.
    assert!(
        sent_total >= 3,
        "only {sent_total} addressed syscalls traced; was the agent traced at all?"
    );
}

/// The child: runs inside the namespace, only when the parent asks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV).map(PathBuf::from) else {
        return; // run as an ordinary test: nothing to do
    };
    // /proc/net/dev is per network namespace (/sys/class/net is the mount's view).
    let interfaces: Vec<String> = std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|n| n.trim().to_string()))
        .collect();
    assert_eq!(
        interfaces,
        vec!["lo".to_string()],
        "not in a loopback-only namespace"
    );
    let agent = env!("CARGO_BIN_EXE_agent");
    let work = tempfile::tempdir().unwrap();

    // Control: a name lookup, traced the same way.
    let status = traced(&dir.join("control.trace"), "getent")
        .args(["hosts", "mobile.events.data.microsoft.com"])
        .stdout(Stdio::null())
        .status()
        .expect("run getent");
    assert!(!status.success(), "a name resolved without a network?");

    // 1. `agent download-models --mirror` from a loopback mirror.
    let mirror = models_support::TestServer::start().await;
    models_support::serve_all(&mirror);
    let catalogue = work.path().join("catalogue.toml");
    std::fs::write(&catalogue, models_support::test_catalogue_text()).unwrap();
    let models = work.path().join("models");
    let out = {
        let mut cmd = traced(&dir.join("download.trace"), agent);
        cmd.args(["download-models", "--catalogue"])
            .arg(&catalogue)
            .args(["--profile", "test", "--mirror", &mirror.base, "--dir"])
            .arg(&models);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    };
    assert!(
        out.status.success(),
        "download-models failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        mirror.seen().len() >= 4,
        "the mirror served {:?}",
        mirror.seen()
    );

    // 2. A conversation call whose LLM must call an HTTP tool on loopback.
    let tool_server = models_support::TestServer::start().await;
    tool_server.route(
        "/status",
        br#"{"status":"shipped","eta":"Monday"}"#.to_vec(),
        models_support::Behaviour::Serve,
    );
    let tool_base = tool_server.base.clone();
    let llm = conversation_support::llm_and_conversation(
        &format!(
            r#"tool_choice = "required"
max_tokens = 120
builtin_tools = []
tool_allowed_hosts = ["127.0.0.1"]
max_tool_rounds = 2

[[llm.http_tools]]
name = "order_status"
description = "Status of an order"
method = "GET"
url = "{tool_base}/status"
timeout_ms = 3000
parameters = {{ type = "object", properties = {{ order_id = {{ type = "string", maxLength = 8 }} }}, required = ["order_id"] }}
"#
        ),
        "",
    );
    let config = conversation_support::config_text(work.path(), &llm);
    let config_path = work.path().join("agent.toml");
    std::fs::write(&config_path, config).unwrap();
    let mut cmd = traced(&dir.join("serve.trace"), agent);
    cmd.args(["--log-json", "--log", "info", "serve", "--config"])
        .arg(&config_path)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut strace = cmd.spawn().expect("spawn strace agent serve");
    let stderr = strace.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let addr: std::net::SocketAddr = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("agent did not start; log:\n{}", log.join("\n")));
        if line.contains("listening for AudioSocket calls") {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            break v["fields"]["addr"].as_str().unwrap().parse().unwrap();
        }
        log.push(line);
    };

    let mut opts = enclave::sim::CallOptions::new(addr);
    // Speech, then silence sent in real time (as Asterisk does) until the test hangs up.
    let mut audio = conversation_support::jfk(0.0, 4.0);
    audio.extend(conversation_support::silence(300.0));
    opts.audio = Some((audio, 16_000));
    opts.record = false;
    let call = tokio::spawn(enclave::sim::place_call(opts));
    // The whole turn ran: VAD, Whisper, the LLM, Piper, and the answer went out.
    let answered = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(180);
        let mut seen = Vec::new();
        while let Ok(line) =
            rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
        {
            let done = line.contains("first reply audio on the wire");
            seen.push(line);
            if done {
                return (true, seen, rx);
            }
        }
        (false, seen, rx)
    })
    .await
    .unwrap();
    let (ok, seen, _rx) = answered;
    log.extend(seen);
    call.abort();
    let _ = call.await;

    // Stop the agent (strace's child) with SIGTERM; strace exits with it.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", strace.id()))
        .unwrap_or_default();
    for pid in children.split_whitespace() {
        // SAFETY: kill(2) on the agent process this test started (strace's child).
        unsafe {
            libc::kill(pid.parse().unwrap(), libc::SIGTERM);
        }
    }
    tokio::task::spawn_blocking(move || strace.wait().unwrap())
        .await
        .unwrap();
    assert!(
        ok,
        "the conversation call never answered; agent log:\n{}",
        log.join("\n")
    );

    // 3. An HTTP tool call from the LLM (`agent chat`, the tool forced), to loopback.
    let out = {
        let mut cmd = traced(&dir.join("chat.trace"), agent);
        cmd.arg("--config")
            .arg(&config_path)
            .args(["chat", "--tool-choice", "required"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().expect("spawn agent chat");
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"Where is my order 17?\n")
                .unwrap();
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    };
    assert!(
        !tool_server.hits("/status").is_empty(),
        "the LLM never called the HTTP tool; agent chat said:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("egress child done");
}

#[test]
fn the_trace_parser_classifies_what_strace_prints() {
    let text = r#"11974 connect(8, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = -1 ENETUNREACH (Network is unreachable)
11974 connect(9, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
11975 sendto(5, "x", 1, MSG_NOSIGNAL, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28) = 1
11975 connect(6, {sa_family=AF_UNIX, sun_path="/tmp/pulse-PKdhtXMmr18n/native"}, 110) = -1 ENOENT (No such file or directory)
11976 sendto(3, "GET / HTTP/1.1", 14, MSG_NOSIGNAL, NULL, 0) = 14
11977 connect(7, {sa_family=AF_INET6, sin6_port=htons(9092), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28 <unfinished ...>
"#;
    let sent = parse_trace(text);
    assert_eq!(sent.len(), 5, "{sent:?}");
    let verdicts: Vec<bool> = sent.iter().map(|s| violation(s).is_some()).collect();
    assert_eq!(verdicts, vec![true, false, true, true, false]);
    assert_eq!(sent[2].addr.as_deref(), Some("2001:db8::1"));
    assert_eq!(sent[0].port, Some(53));
}
