//! Agent profiles on real AudioSocket calls (the simulated Asterisk against the synthetic
//! models): a profile answers on its own port, and a profile edited through the HTTP API
//! applies to the next call and not to the call in progress; a profile added through the
//! API starts listening at once.

mod api_support;
mod conversation_support;

use conversation_support::*;
use enclave::api::AgentServices;
use enclave::records::Role;
use enclave::sim::{place_call, CallOptions};
use reqwest::StatusCode;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "profiles-test-token-0123456789abcdef";

/// A port free right now (bound and released: the profile listener takes it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Agent {
    inner: TestAgent,
    services: Option<AgentServices>,
    api: SocketAddr,
}

async fn start(tmp: &std::path::Path, profiles_toml: &str) -> Agent {
    let profiles = tmp.join("profiles.toml");
    std::fs::write(&profiles, profiles_toml).unwrap();
    let extra = format!(
        "{}\n[api]\nenabled = true\nlisten = \"127.0.0.1:0\"\ntokens = [\"{TOKEN}\"]\n\n\
         [profiles]\nfile = \"{}\"\n",
        llm_and_conversation("", "greeting = \"Base greeting.\""),
        profiles.display()
    );
    let cfg = config_text(tmp, &extra);
    let inner = start_agent(&cfg).await;
    let stack = inner.stack.as_ref().unwrap();
    let services = AgentServices::start(
        &inner.config,
        stack,
        Arc::clone(&inner.metrics),
        inner.services.child_token(),
    )
    .await
    .unwrap_or_else(|e| panic!("profiles and API: {e}"));
    let api = services.api.as_ref().expect("API enabled").local_addr();
    inner.stack.as_ref().unwrap().readiness.set_accepting(true);
    Agent {
        inner,
        services: Some(services),
        api,
    }
}

impl Agent {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }

    async fn stop(mut self) {
        if let Some(s) = self.services.take() {
            s.shutdown().await;
        }
        self.inner.stop().await;
    }
}

/// `GET url` with this test's token; the JSON answer (200 required).
async fn get_json(c: &reqwest::Client, url: String) -> serde_json::Value {
    api_support::get_json_as(c, &url, TOKEN).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// The agent turns of a call, in order, once its record has them (bounded wait).
async fn agent_turns(agent: &Agent, uuid: &uuid::Uuid, at_least: usize) -> Vec<(String, i64)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let db = agent.inner.db.clone();
        let u = *uuid;
        let call = tokio::task::spawn_blocking(move || read_call(&db, &u))
            .await
            .unwrap();
        let turns: Vec<(String, i64)> = call
            .map(|c| {
                c.turns
                    .into_iter()
                    .filter(|t| t.role == Role::Agent)
                    .map(|t| (t.text, t.started_at_ms))
                    .collect()
            })
            .unwrap_or_default();
        if turns.len() >= at_least || Instant::now() > deadline {
            return turns;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn silent_call(addr: SocketAddr, secs: f64, linger: Duration) -> (CallOptions, uuid::Uuid) {
    let uuid = uuid::Uuid::new_v4();
    let mut opts = CallOptions::new(addr);
    opts.uuid = Some(uuid);
    opts.audio = Some((silence(secs), 16_000));
    opts.linger = linger;
    (opts, uuid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_applies_to_the_next_call_not_the_one_in_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let sales_port = free_port();
    let sales: SocketAddr = format!("127.0.0.1:{sales_port}").parse().unwrap();
    // The call in progress must reach its re-prompt only after the edit is applied: a long
    // silence before it, measured (not assumed) below.
    let agent = start(
        tmp.path(),
        &format!(
            "[profiles.sales]\nlisten = \"{sales}\"\ngreeting = \"Sales version one.\"\n\
             reprompt = \"Still there, version one?\"\nreprompt_after_secs = 12.0\n\
             hangup_after_reprompts = 0\n"
        ),
    )
    .await;
    let c = client();

    // The base profile still answers on [server] listen.
    let (opts, base_uuid) = silent_call(agent.inner.addr, 1.0, Duration::from_secs(1));
    place_call(opts).await.expect("base call");
    let base_turns = agent_turns(&agent, &base_uuid, 1).await;
    assert_eq!(base_turns[0].0, "Base greeting.");

    // Call A on the sales port: greeted by version one.
    let (opts_a, uuid_a) = silent_call(sales, 40.0, Duration::from_secs(1));
    let call_a = tokio::spawn(place_call(opts_a));
    let a_turns = agent_turns(&agent, &uuid_a, 1).await;
    assert_eq!(
        a_turns.first().map(|t| t.0.as_str()),
        Some("Sales version one.")
    );
    // The live view knows which profile answers it.
    let live: serde_json::Value = get_json(&c, agent.url("/api/live")).await;
    let a_live = live["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["uuid"] == uuid_a.to_string().as_str())
        .expect("call A is live");
    assert_eq!(a_live["profile"], "sales");

    // Edit the profile while call A runs (If-Match: the version just read).
    let r = c
        .get(agent.url("/api/profiles"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let state: serde_json::Value = r.json().await.unwrap();
    assert_eq!(state["profiles"]["sales"]["greeting"], "Sales version one.");
    let mut sales_v2 = state["profiles"]["sales"].clone();
    sales_v2["greeting"] = "Sales version two.".into();
    sales_v2["reprompt"] = "Still there, version two?".into();
    // An invalid edit is refused with the key path, and nothing changes.
    let mut bad = sales_v2.clone();
    bad["language"] = "de".into();
    let r = c
        .put(agent.url("/api/profiles/sales"))
        .bearer_auth(TOKEN)
        .header("if-match", &etag)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["key"], "profiles.sales.language", "{v}");
    let r = c
        .put(agent.url("/api/profiles/sales"))
        .bearer_auth(TOKEN)
        .header("if-match", &etag)
        .json(&sales_v2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    let applied_at = enclave::records::unix_ms(std::time::SystemTime::now());
    // A second edit from the stale version is refused.
    let r = c
        .put(agent.url("/api/profiles/sales"))
        .bearer_auth(TOKEN)
        .header("if-match", &etag)
        .json(&sales_v2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    // On disk, atomically replaced.
    let on_disk = std::fs::read_to_string(tmp.path().join("profiles.toml")).unwrap();
    assert!(on_disk.contains("Sales version two."), "{on_disk}");

    // Call B, after the edit: version two.
    let (opts_b, uuid_b) = silent_call(sales, 1.0, Duration::from_secs(1));
    place_call(opts_b).await.expect("call B");
    let b_turns = agent_turns(&agent, &uuid_b, 1).await;
    assert_eq!(b_turns[0].0, "Sales version two.");

    // Call A, still in progress, re-prompts with version one — after the edit was applied.
    let a_turns = agent_turns(&agent, &uuid_a, 2).await;
    let (reprompt, reprompt_at) = a_turns.get(1).cloned().expect("call A re-prompted");
    assert!(
        reprompt_at > applied_at,
        "the re-prompt ({reprompt_at}) must come after the edit ({applied_at}) to prove anything"
    );
    assert_eq!(reprompt, "Still there, version one?");
    call_a.abort();

    // A profile added through the API listens at once.
    let support: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let r = c
        .put(agent.url("/api/profiles/support"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "listen": support.to_string(), "greeting": "Support here." }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    let (opts_c, uuid_c) = silent_call(support, 1.0, Duration::from_secs(1));
    place_call(opts_c).await.expect("call to the new profile");
    assert_eq!(agent_turns(&agent, &uuid_c, 1).await[0].0, "Support here.");
    let status: serde_json::Value = get_json(&c, agent.url("/api/status")).await;
    let names: Vec<&str> = status["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["default", "sales", "support"]);

    // Each call's record names the profile that answered it; the history filters by it.
    let calls_of = |profile: &'static str| {
        let c = c.clone();
        let url = agent.url(&format!("/api/calls?profile={profile}"));
        async move {
            let page: serde_json::Value = get_json(&c, url).await;
            let mut uuids: Vec<String> = page["calls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    assert_eq!(x["profile"], profile, "{x}");
                    x["uuid"].as_str().unwrap().to_string()
                })
                .collect();
            uuids.sort();
            uuids
        }
    };
    let mut sales_calls = vec![uuid_a.to_string(), uuid_b.to_string()];
    sales_calls.sort();
    assert_eq!(calls_of("sales").await, sales_calls);
    assert_eq!(calls_of("support").await, vec![uuid_c.to_string()]);
    assert_eq!(calls_of("default").await, vec![base_uuid.to_string()]);

    // Validation alone writes nothing; errors carry their key paths.
    let before = std::fs::read_to_string(tmp.path().join("profiles.toml")).unwrap();
    let r = c
        .post(agent.url("/api/profiles/validate"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "profiles": {
            "ok": { "greeting": "Fine." },
            "broken": { "asr_budget_ms": 1, "tools": ["no_such_tool"] },
            "typo": { "greting": "x" },
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: serde_json::Value = r.json().await.unwrap();
    let keys: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert!(keys.iter().any(|k| k.starts_with("profiles.typo")), "{v}");
    let r = c
        .post(agent.url("/api/profiles/validate"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "profiles": { "broken": { "tools": ["no_such_tool"] } } }))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["key"], "profiles.broken.tools[0]", "{v}");
    let r = c
        .post(agent.url("/api/profiles/validate"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "profiles": { "ok": { "greeting": "Fine." } } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("profiles.toml")).unwrap(),
        before
    );

    // Removing a profile stops its listener.
    let r = c
        .delete(agent.url("/api/profiles/support"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(support).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the removed profile's port still accepts"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let on_disk = std::fs::read_to_string(tmp.path().join("profiles.toml")).unwrap();
    assert!(!on_disk.contains("support"), "{on_disk}");
    agent.stop().await;
}
