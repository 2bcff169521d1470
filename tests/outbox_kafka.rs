//! The Kafka sink against the REAL tansu broker (Kafka wire protocol; `bash scripts/tansu.sh`
//! installs it). The broker is started on a free port, stopped mid-run while events keep
//! queuing (and the delivery worker itself is dropped and restarted meanwhile), then started
//! again; a consumer reads the topic and every event arrives, keyed by its contact.
//!
//! This tansu build stores in memory only: a restarted broker is empty. The consumer reads
//! everything the first broker acknowledged before it is stopped, and the second broker's
//! topic after; together they must hold every event.

use enclave::outbox::kafka::KafkaSink;
use enclave::outbox::{enqueue, metrics, service, store, NewEvent, Sink, WorkerSettings};
use enclave::records::schema::open_connection;
use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::ClientBuilder;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "enclave.test-events";

fn tansu_binary() -> PathBuf {
    let path = std::env::var_os("ENCLAVE_TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/enclave/tansu/tansu")
        });
    assert!(
        path.is_file(),
        "the tansu Kafka broker is not installed at {}: run `bash scripts/tansu.sh` \
         (or set ENCLAVE_TANSU to the binary)",
        path.display()
    );
    path
}

/// A tansu broker process on 127.0.0.1:`port`, killed on drop.
struct Broker(Child);

impl Broker {
    async fn start(port: u16) -> Broker {
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu_binary())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Broker(child)
    }

    fn stop(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One consumed record.
#[derive(Debug, Clone)]
struct Consumed {
    key: String,
    event_id: String,
    header_id: String,
    n: u64,
}

/// Reads the topic from offset 0 of partition 0 into `out` until `stop`.
async fn consume(port: u16, out: Arc<Mutex<Vec<Consumed>>>, stop: CancellationToken) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let partition = loop {
        let attempt = async {
            let client = ClientBuilder::new(vec![format!("127.0.0.1:{port}")])
                .build()
                .await
                .ok()?;
            let topics = client.list_topics().await.ok()?;
            topics.iter().find(|t| t.name == TOPIC)?;
            client
                .partition_client(TOPIC, 0, UnknownTopicHandling::Retry)
                .await
                .ok()
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            p = attempt => if let Some(p) = p { break p },
        }
        assert!(
            Instant::now() < deadline,
            "the topic never appeared on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut offset = 0;
    loop {
        let fetched = tokio::select! {
            _ = stop.cancelled() => return,
            r = partition.fetch_records(offset, 1..1_000_000, 200) => r,
        };
        let Ok((records, _high)) = fetched else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        for r in records {
            offset = r.offset + 1;
            let value: Value =
                serde_json::from_slice(r.record.value.as_deref().unwrap_or(b"null")).unwrap();
            out.lock().unwrap().push(Consumed {
                key: String::from_utf8(r.record.key.clone().unwrap_or_default()).unwrap(),
                event_id: value["event_id"].as_str().unwrap_or("").into(),
                header_id: String::from_utf8(
                    r.record
                        .headers
                        .get("event_id")
                        .cloned()
                        .unwrap_or_default(),
                )
                .unwrap(),
                n: value["n"].as_u64().unwrap_or(u64::MAX),
            });
        }
    }
}

fn enqueue_events(db: &Path, range: std::ops::Range<u64>) -> Vec<String> {
    let conn = open_connection(db, Duration::from_secs(5)).unwrap();
    let ids = range
        .map(|n| {
            let key = format!("contact-{}", n % 5);
            enqueue(
                &conn,
                &NewEvent {
                    kind: "contact.result".into(),
                    key: key.clone(),
                    payload: json!({"contact": key, "n": n}),
                },
            )
            .unwrap()
        })
        .collect();
    enclave::outbox::wake();
    ids
}

async fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn delivered_count(db: &Path) -> i64 {
    let conn = open_connection(db, Duration::from_secs(5)).unwrap();
    conn.query_row(
        "SELECT count(*) FROM outbox_deliveries WHERE sink = 'kafka' AND delivered_at IS NOT NULL",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn settings() -> WorkerSettings {
    WorkerSettings {
        backoff: enclave::outbox::backoff::Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(500),
        },
        max_attempts: 0,
        batch_size: 16,
        poll_interval: Duration::from_millis(50),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_the_real_broker_across_a_broker_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("records.sqlite3");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sink = || -> Arc<dyn Sink> {
        Arc::new(KafkaSink::new(
            vec![format!("127.0.0.1:{port}")],
            TOPIC.into(),
            1,
            Duration::from_secs(2),
        ))
    };
    let m = metrics::sink("kafka");

    // Broker up: the first events flow.
    let broker = Broker::start(port).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stop_a = CancellationToken::new();
    let consumer_a = tokio::spawn(consume(port, Arc::clone(&seen), stop_a.clone()));
    let mut expected = enqueue_events(&db, 0..30);
    let t0 = Instant::now();
    let worker = service::spawn_worker(
        sink(),
        &db,
        settings(),
        Duration::from_secs(5),
        CancellationToken::new(),
    )
    .unwrap();
    wait_until("first events delivered", 60, || delivered_count(&db) >= 30).await;
    let first_batch = t0.elapsed();
    // Everything the broker acknowledged is read before it goes (it keeps nothing).
    wait_until("consumer caught up with broker 1", 60, || {
        seen.lock().unwrap().len() as i64 >= delivered_count(&db)
    })
    .await;
    stop_a.cancel();
    consumer_a.await.unwrap();

    // Broker down: events keep queuing; the worker retries; it is even dropped and started
    // again on the same database meanwhile.
    broker.stop();
    let failures = m.failures_total();
    expected.extend(enqueue_events(&db, 30..45));
    wait_until("retries while the broker is down", 60, || {
        m.failures_total() >= failures + 2
    })
    .await;
    worker.abort();
    let _ = worker.await;
    expected.extend(enqueue_events(&db, 45..60));
    let cancel = CancellationToken::new();
    let worker = service::spawn_worker(
        sink(),
        &db,
        settings(),
        Duration::from_secs(5),
        cancel.clone(),
    )
    .unwrap();
    {
        let conn = open_connection(&db, Duration::from_secs(5)).unwrap();
        assert!(
            store::pending(&conn, "kafka", 0, 100).unwrap().len() >= 30,
            "the events wait in the outbox"
        );
    }

    // Broker back (empty): the rest arrives.
    let broker = Broker::start(port).await;
    let t_up = Instant::now();
    let stop_b = CancellationToken::new();
    let consumer_b = tokio::spawn(consume(port, Arc::clone(&seen), stop_b.clone()));
    wait_until("every event consumed", 90, || {
        let ids: BTreeSet<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.event_id.clone())
            .collect();
        expected.iter().all(|id| ids.contains(id))
    })
    .await;
    let recovered = t_up.elapsed();
    stop_b.cancel();
    consumer_b.await.unwrap();
    wait_until("all recorded as delivered", 30, || {
        delivered_count(&db) == 60
    })
    .await;

    let seen = seen.lock().unwrap().clone();
    let mut first: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut once = BTreeSet::new();
    for c in &seen {
        assert_eq!(
            c.key,
            format!("contact-{}", c.n % 5),
            "key = contact id: {c:?}"
        );
        assert_eq!(c.header_id, c.event_id, "event_id header");
        if once.insert(c.event_id.clone()) {
            first.entry(c.key.clone()).or_default().push(c.n);
        }
    }
    for (key, ns) in &first {
        assert!(ns.windows(2).all(|w| w[0] < w[1]), "{key} in order: {ns:?}");
    }
    assert_eq!(once.len(), 60);
    eprintln!(
        "kafka: 30 events to a fresh broker in {} ms; after the restart, 30 queued events \
         consumed {} ms after the broker came back; {} duplicates",
        first_batch.as_millis(),
        recovered.as_millis(),
        seen.len() - once.len()
    );
    cancel.cancel();
    worker.await.unwrap();
    drop(broker);
}
