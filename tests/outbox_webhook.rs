//! The webhook sink against a real HTTP server on 127.0.0.1: down for a while, then answering
//! 500s, then accepting; one event it rejects for good (422). Every other event arrives
//! (de-duplicated by `event_id`), signed, with its idempotency key, in order per key; and a
//! worker dropped mid-run and started again on the same database loses nothing.

use enclave::outbox::store::{self, DEAD_LETTER};
use enclave::outbox::webhook::WebhookSink;
use enclave::outbox::{enqueue, metrics, service, NewEvent, Sink, WorkerSettings};
use enclave::records::schema::open_connection;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const SECRET: &[u8] = b"test-webhook-secret";

/// One request the server saw.
#[derive(Debug, Clone)]
struct Seen {
    event_id: String,
    key: String,
    n: u64,
    /// Signature, timestamp and idempotency key all check out.
    authentic: bool,
    /// What the server answered.
    status: u16,
}

#[derive(Default)]
struct ServerState {
    /// Answer 500 to this many more requests.
    fail_next: usize,
    /// Per-response delay (so a worker can be dropped mid-batch).
    delay: Duration,
    seen: Vec<Seen>,
}

type State = Arc<(Mutex<ServerState>, watch::Sender<usize>)>;

/// Checks the request exactly as a receiver would, independently of the agent's code.
fn authentic(headers: &hyper::HeaderMap, body: &[u8], event_id: &str) -> bool {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ts = h("x-enclave-timestamp");
    let Ok(ts_n) = ts.parse::<u64>() else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    expected == h("x-enclave-signature")
        && now.abs_diff(ts_n) < 300
        && h("idempotency-key") == event_id
        && h("content-type") == "application/json"
        && !h("x-enclave-event").is_empty()
}

async fn handle(req: Request<Incoming>, state: State) -> Result<Response<Full<Bytes>>, String> {
    let headers = req.headers().clone();
    let body = req.into_body().collect().await.map_err(|e| e.to_string())?;
    let body = body.to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let event_id = v["event_id"].as_str().unwrap_or("").to_string();
    let delay = {
        let s = state.0.lock().unwrap();
        s.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let status = {
        let mut s = state.0.lock().unwrap();
        let status = if v["poison"] == true {
            422
        } else if s.fail_next > 0 {
            s.fail_next -= 1;
            500
        } else {
            200
        };
        s.seen.push(Seen {
            authentic: authentic(&headers, &body, &event_id),
            event_id,
            key: v["contact"].as_str().unwrap_or("").to_string(),
            n: v["n"].as_u64().unwrap_or(u64::MAX),
            status,
        });
        let n = s.seen.len();
        let _ = state.1.send(n);
        status
    };
    Ok(Response::builder()
        .status(status)
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap())
}

/// Serves on `addr` until the task is aborted.
async fn serve(addr: SocketAddr, state: State) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(req, Arc::clone(&state)));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

fn new_state() -> State {
    Arc::new((Mutex::new(ServerState::default()), watch::channel(0).0))
}

/// Waits (on the server's notifications) until `cond` holds for what it saw.
async fn wait_seen(state: &State, what: &str, cond: impl Fn(&[Seen]) -> bool) {
    let mut rx = state.1.subscribe();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if cond(&state.0.lock().unwrap().seen) {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for: {what}");
        let _ = tokio::time::timeout(left.min(Duration::from_millis(500)), rx.changed()).await;
    }
}

/// Waits until `cond` holds, re-checking every 20 ms (for state only the database has).
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn settings() -> WorkerSettings {
    WorkerSettings {
        backoff: enclave::outbox::backoff::Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(300),
        },
        max_attempts: 0,
        batch_size: 8,
        poll_interval: Duration::from_millis(50),
    }
}

/// Enqueues events `range` for 4 contacts (one transaction each, as the writers do).
fn enqueue_events(db: &Path, range: std::ops::Range<u64>, poison: Option<u64>) -> Vec<String> {
    let mut conn = open_connection(db, Duration::from_secs(5)).unwrap();
    let mut ids = Vec::new();
    for n in range {
        let tx = conn.transaction().unwrap();
        let key = format!("contact-{}", n % 4);
        let mut payload = json!({"contact": key, "n": n});
        if poison == Some(n) {
            payload["poison"] = json!(true);
        }
        let id = enqueue(
            &tx,
            &NewEvent {
                kind: "contact.result".into(),
                key,
                payload,
            },
        )
        .unwrap();
        tx.commit().unwrap();
        ids.push(id);
    }
    enclave::outbox::wake();
    ids
}

/// The checks every run ends with: each expected event arrived with a good signature; the
/// first arrivals of one key are in enqueue order.
fn check_arrivals(seen: &[Seen], expected: &[String]) -> usize {
    let delivered: Vec<&Seen> = seen.iter().filter(|s| s.status == 200).collect();
    assert!(seen.iter().all(|s| s.authentic), "every request is signed");
    let ids: BTreeSet<&str> = delivered.iter().map(|s| s.event_id.as_str()).collect();
    for id in expected {
        assert!(ids.contains(id.as_str()), "event {id} arrived");
    }
    let mut first: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut once = BTreeSet::new();
    for s in &delivered {
        if once.insert(s.event_id.as_str()) {
            first.entry(s.key.as_str()).or_default().push(s.n);
        }
    }
    for (key, ns) in &first {
        assert!(ns.windows(2).all(|w| w[0] < w[1]), "{key} in order: {ns:?}");
    }
    delivered.len() - once.len()
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap() // dropped: nothing listens there until the server starts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_through_a_down_then_failing_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("records.sqlite3");
    let addr = free_addr();
    let name = "webhook-flaky";
    let sink = WebhookSink::new(
        &format!("http://{addr}/events"),
        SECRET,
        Duration::from_secs(2),
    )
    .unwrap()
    .named(name);
    let m = metrics::sink(name);

    // The receiver is down: events queue, the worker retries with backoff.
    let mut expected = enqueue_events(&db, 0..10, None);
    let t0 = Instant::now();
    let cancel = CancellationToken::new();
    let worker = service::spawn_worker(
        Arc::new(sink),
        &db,
        settings(),
        Duration::from_secs(5),
        cancel.clone(),
    )
    .unwrap();
    wait_until("retries while the receiver is down", || {
        m.failures_total() >= 3
    })
    .await;
    assert_eq!(m.delivered_total(), 0);
    {
        let conn = open_connection(&db, Duration::from_secs(5)).unwrap();
        let head = &store::pending(&conn, name, 0, 1).unwrap()[0];
        assert!(head.attempts >= 3, "attempts are recorded: {head:?}");
        assert_eq!(
            head.event.event_id, expected[0],
            "the head is retried first"
        );
        assert!(store::pending(&conn, name, 0, 100).unwrap().len() == 10);
    }

    // Up, but failing with 500s; more events (one poison) arrive meanwhile.
    let state = new_state();
    state.0.lock().unwrap().fail_next = 5;
    let server = serve(addr, Arc::clone(&state)).await;
    expected.extend(enqueue_events(&db, 10..20, Some(15)));
    let poison = expected.remove(15);

    wait_seen(&state, "all events delivered", |seen| {
        let ok: BTreeSet<&str> = seen
            .iter()
            .filter(|s| s.status == 200)
            .map(|s| s.event_id.as_str())
            .collect();
        expected.iter().all(|id| ok.contains(id.as_str()))
    })
    .await;
    let took = t0.elapsed();
    let seen = state.0.lock().unwrap().seen.clone();
    let dups = check_arrivals(&seen, &expected);
    assert_eq!(seen.iter().filter(|s| s.status == 500).count(), 5);
    assert_eq!(
        seen.iter().filter(|s| s.event_id == poison).count(),
        1,
        "a 4xx is not retried"
    );

    // The bookkeeping: delivered rows, one dead letter, nothing pending.
    wait_until("pending gauge at 0", || m.pending() == 0).await;
    let conn = open_connection(&db, Duration::from_secs(5)).unwrap();
    let delivered: i64 = conn
        .query_row(
            "SELECT count(*) FROM outbox_deliveries WHERE sink = ?1 AND delivered_at IS NOT NULL",
            [name],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(delivered, 19);
    let dead = store::dead_letters(&conn, name).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, poison);
    assert!(dead[0].2.contains("422"), "{dead:?}");
    let next: i64 = conn
        .query_row(
            "SELECT next_attempt_at FROM outbox_deliveries WHERE event_id = ?1",
            [&poison],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(next, DEAD_LETTER);
    assert!(store::pending(&conn, name, 0, 100).unwrap().is_empty());
    assert_eq!(m.delivered_total(), 19);
    assert_eq!(m.dead_letters_total(), 1);
    assert!(m.failures_total() >= 9, "3 down + 5×500 + 1×422");
    let text = enclave::metrics::global().render();
    assert!(text.contains(&format!(
        "enclave_outbox_delivered_total{{sink=\"{name}\"}} 19"
    )));
    assert!(text.contains(&format!("enclave_outbox_pending{{sink=\"{name}\"}} 0")));

    // A replayed dead letter (receiver fixed) is delivered.
    state.0.lock().unwrap().seen.clear();
    conn.execute(
        "UPDATE outbox SET payload = json_remove(payload, '$.poison') WHERE event_id = ?1",
        [&poison],
    )
    .unwrap();
    assert_eq!(store::requeue_dead_letters(&conn, name).unwrap(), 1);
    enclave::outbox::wake();
    wait_seen(&state, "the requeued event", |seen| {
        seen.iter().any(|s| s.event_id == poison && s.status == 200)
    })
    .await;
    eprintln!(
        "webhook: 20 events through 'down' + 5×500 + 1×422 in {} ms, {dups} duplicates",
        took.as_millis()
    );
    cancel.cancel();
    worker.await.unwrap();
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_dropped_mid_run_and_restarted_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("records.sqlite3");
    let state = new_state();
    state.0.lock().unwrap().delay = Duration::from_millis(5);
    let addr = free_addr();
    let server = serve(addr, Arc::clone(&state)).await;
    let name = "webhook-restart";
    let make_sink = || -> Arc<dyn Sink> {
        Arc::new(
            WebhookSink::new(&format!("http://{addr}/e"), SECRET, Duration::from_secs(2))
                .unwrap()
                .named(name),
        )
    };
    let mut expected = enqueue_events(&db, 0..40, None);
    let first = service::spawn_worker(
        make_sink(),
        &db,
        settings(),
        Duration::from_secs(5),
        CancellationToken::new(),
    )
    .unwrap();
    wait_seen(&state, "10 deliveries", |seen| seen.len() >= 10).await;
    first.abort(); // a crash: mid-batch, maybe between the 200 and the commit
    let _ = first.await;
    let before = state.0.lock().unwrap().seen.len();
    assert!(before < 40, "dropped mid-run ({before} of 40 seen)");
    expected.extend(enqueue_events(&db, 40..60, None));

    let cancel = CancellationToken::new();
    let second = service::spawn_worker(
        make_sink(),
        &db,
        settings(),
        Duration::from_secs(5),
        cancel.clone(),
    )
    .unwrap();
    wait_seen(&state, "all 60 events", |seen| {
        let ids: BTreeSet<&str> = seen.iter().map(|s| s.event_id.as_str()).collect();
        expected.iter().all(|id| ids.contains(id.as_str()))
    })
    .await;
    let seen = state.0.lock().unwrap().seen.clone();
    let dups = check_arrivals(&seen, &expected);
    assert!(
        dups <= 8,
        "at most the batch in flight is sent twice ({dups})"
    );
    let conn = open_connection(&db, Duration::from_secs(5)).unwrap();
    wait_until("all recorded as delivered", || {
        store::pending(&conn, name, 0, 100).unwrap().is_empty()
    })
    .await;
    eprintln!(
        "restart: {} requests for 60 events ({dups} duplicates)",
        seen.len()
    );
    cancel.cancel();
    second.await.unwrap();
    server.abort();
}
