//! `[events]` and `[summary]`: the example documents the defaults, bad values name the key,
//! secrets are never printed, and retention prunes only what every sink is done with.

use enclave::config::{Config, EventsConfig, SummaryConfig};
use enclave::outbox::store::{self, DEAD_LETTER};
use enclave::outbox::{enqueue, NewEvent};
use enclave::records::schema::open_connection;
use std::time::Duration;

fn example() -> (Config, String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("agent.example.toml");
    let cfg = Config::load_with_env(Some(&path), Vec::<(String, String)>::new()).unwrap();
    (cfg, std::fs::read_to_string(path).unwrap())
}

#[test]
fn the_example_documents_the_events_and_summary_defaults() {
    let (cfg, text) = example();
    assert_eq!(cfg.events, EventsConfig::default());
    assert_eq!(cfg.summary, SummaryConfig::default());
    assert!(!cfg.events.enabled, "events are off by default");
    let section = |name: &str| -> String {
        let start = text.find(&format!("[{name}]")).unwrap();
        let rest = &text[start + name.len() + 2..];
        rest[..rest.find("\n[").unwrap_or(rest.len())].to_string()
    };
    let keys = |v: toml::Value| -> Vec<String> { v.as_table().unwrap().keys().cloned().collect() };
    // Optional keys are serialised only when set.
    let events = EventsConfig {
        webhook_url: Some("http://x".into()),
        webhook_secret_file: Some("f".into()),
        ..EventsConfig::default()
    };
    for (name, keys) in [
        ("events", keys(toml::Value::try_from(&events).unwrap())),
        (
            "summary",
            keys(toml::Value::try_from(SummaryConfig::default()).unwrap()),
        ),
    ] {
        let body = section(name);
        for key in keys {
            assert!(
                body.lines().any(|l| l.starts_with(&format!("{key} = "))
                    || l.starts_with(&format!("# {key} = "))),
                "[{name}] {key} is documented in agent.example.toml"
            );
        }
    }
}

#[test]
fn bad_values_name_the_key_and_secrets_stay_hidden() {
    let err = |toml: &str| {
        Config::from_toml_str("a.toml", toml, Vec::new())
            .unwrap_err()
            .to_string()
    };
    let e = err("[events]\nenabled = true\nwebhook_url = \"ftp://x/\"\nwebhook_secret = \"s\"\n");
    assert!(e.contains("events.webhook_url"), "{e}");
    let e = err("[events]\nenabled = true\nwebhook_url = \"http://127.0.0.1:9/x\"\n");
    assert!(e.contains("events.webhook_secret"), "{e}");
    let e = err("[events]\nkafka_brokers = [\"nohost\"]\n");
    assert!(e.contains("events.kafka_brokers"), "{e}");
    let e = err("[events]\nkafka_topic = \"bad topic\"\n");
    assert!(e.contains("events.kafka_topic"), "{e}");
    let e = err("[events]\nretry_initial_ms = 1000\nretry_max_ms = 100\n");
    assert!(e.contains("events.retry_max_ms"), "{e}");
    let e = err("[summary]\nmax_tokens = 2\n");
    assert!(e.contains("summary.max_tokens"), "{e}");
    let e = err("[events]\nwebhok_url = \"http://x\"\n");
    assert!(e.contains("webhok_url"), "{e}");

    let cfg = Config::from_toml_str(
        "a.toml",
        "[events]\nenabled = true\nwebhook_url = \"http://127.0.0.1:9/x\"\nwebhook_secret = \"hunter2\"\nkafka_brokers = [\"127.0.0.1:9092\"]\n",
        Vec::new(),
    )
    .unwrap();
    assert!(cfg.events.webhook_enabled() && cfg.events.kafka_enabled());
    assert!(!cfg.to_toml().contains("hunter2"));
    assert!(!format!("{:?}", cfg.events).contains("hunter2"));
    assert_eq!(
        enclave::outbox::service::sinks(&cfg.events).unwrap().len(),
        2
    );
}

#[test]
fn retention_prunes_only_events_every_sink_has_finished() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open_connection(&dir.path().join("r.db"), Duration::from_secs(5)).unwrap();
    let ids: Vec<String> = (0..4)
        .map(|n| {
            enqueue(
                &conn,
                &NewEvent {
                    kind: "call.completed".into(),
                    key: format!("k{n}"),
                    payload: serde_json::json!({"n": n}),
                },
            )
            .unwrap()
        })
        .collect();
    // 0: delivered by both; 1: webhook delivered, kafka dead-lettered; 2: kafka pending; 3: new.
    store::mark_delivered(&mut conn, "webhook", &[&ids[0], &ids[1], &ids[2]], 1).unwrap();
    store::mark_delivered(&mut conn, "kafka", &[&ids[0]], 1).unwrap();
    store::mark_failed(&conn, "kafka", &ids[1], "permanent: too large", DEAD_LETTER).unwrap();
    store::mark_failed(&conn, "kafka", &ids[2], "down", 5).unwrap();
    conn.execute(
        "UPDATE outbox SET created_at = 0 WHERE event_id != ?1",
        [&ids[3]],
    )
    .unwrap();
    let cutoff = enclave::records::unix_ms(std::time::SystemTime::now()) - 1000;
    assert_eq!(
        store::prune(&mut conn, cutoff, &["webhook", "kafka"]).unwrap(),
        2
    );
    let left: Vec<String> = enclave::outbox::events_after(&conn, 0, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(left, vec![ids[2].clone(), ids[3].clone()]);
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM outbox_deliveries WHERE event_id IN (?1, ?2)",
            [&ids[0], &ids[1]],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 0, "delivery rows go with their events");
    assert_eq!(store::pending(&conn, "kafka", 0, 10).unwrap().len(), 2);
}

#[test]
fn the_cli_shows_and_requeues_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.sqlite3");
    let conn = open_connection(&db, Duration::from_secs(5)).unwrap();
    let id = enqueue(
        &conn,
        &NewEvent {
            kind: "contact.result".into(),
            key: "c1".into(),
            payload: serde_json::json!({"code": 2}),
        },
    )
    .unwrap();
    store::mark_failed(
        &conn,
        "webhook",
        &id,
        "permanent: POST x: HTTP 401",
        DEAD_LETTER,
    )
    .unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(&cfg, format!("[records]\ndb_path = \"{}\"\n", db.display())).unwrap();
    let agent = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_agent"))
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let status = agent(&["events", "status"]);
    assert!(status.contains("1 events in the outbox"), "{status}");
    assert!(
        status.contains("webhook: pending 0, delivered 0, dead letters 1"),
        "{status}"
    );
    let dead = agent(&["events", "dead-letters", "--sink", "webhook"]);
    assert!(dead.contains(&id) && dead.contains("HTTP 401"), "{dead}");
    let requeued = agent(&["events", "requeue", "--sink", "webhook"]);
    assert!(requeued.starts_with("1 dead-lettered"), "{requeued}");
    assert_eq!(store::pending(&conn, "webhook", 0, 10).unwrap().len(), 1);
}
