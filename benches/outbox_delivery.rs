//! Result-event delivery speed: throughput (events/s) of a backlog and latency (commit → the
//! receiver has it, p50/p95) of single events, for the webhook sink (a local hyper server that
//! answers 200) and, when tansu is installed (`bash scripts/tansu.sh`), the Kafka sink.
//!
//!     cargo bench --profile dev --bench outbox_delivery
//!
//! (`--profile dev`: dependencies are optimised in it already; a `bench`/release build
//! recompiles llama.cpp and whisper.cpp.)

use enclave::outbox::kafka::KafkaSink;
use enclave::outbox::webhook::WebhookSink;
use enclave::outbox::{enqueue, service, NewEvent, Sink, WorkerSettings};
use enclave::records::schema::open_connection;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn settings() -> WorkerSettings {
    WorkerSettings {
        backoff: enclave::outbox::backoff::Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(1),
        },
        max_attempts: 0,
        batch_size: 100,
        poll_interval: Duration::from_millis(200),
    }
}

fn enqueue_n(db: &Path, n: usize) {
    let mut conn = open_connection(db, Duration::from_secs(5)).unwrap();
    let tx = conn.transaction().unwrap();
    for i in 0..n {
        enqueue(
            &tx,
            &NewEvent {
                kind: "contact.result".into(),
                key: format!("contact-{}", i % 50),
                payload: serde_json::json!({"n": i, "code": 1, "note": "confirmed the appointment"}),
            },
        )
        .unwrap();
    }
    tx.commit().unwrap();
    enclave::outbox::wake();
}

fn delivered(db: &Path, sink: &str) -> i64 {
    let conn = open_connection(db, Duration::from_secs(5)).unwrap();
    conn.query_row(
        "SELECT count(*) FROM outbox_deliveries WHERE sink = ?1 AND delivered_at IS NOT NULL",
        [sink],
        |r| r.get(0),
    )
    .unwrap()
}

async fn wait_delivered(db: &Path, sink: &str, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while delivered(db, sink) < n {
        assert!(Instant::now() < deadline, "{sink}: not delivered in time");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

async fn measure(name: &str, sink: Arc<dyn Sink>, backlog: usize) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let sink_name = sink.name().to_string();
    enqueue_n(&db, backlog);
    let cancel = CancellationToken::new();
    let t0 = Instant::now();
    let worker = service::spawn_worker(
        sink,
        &db,
        settings(),
        Duration::from_secs(5),
        cancel.clone(),
    )
    .unwrap();
    wait_delivered(&db, &sink_name, backlog as i64).await;
    let took = t0.elapsed();
    let mut lat = Vec::new();
    for i in 0..50 {
        let t = Instant::now();
        enqueue_n(&db, 1);
        wait_delivered(&db, &sink_name, (backlog + i + 1) as i64).await;
        lat.push(t.elapsed());
    }
    println!(
        "{name}: backlog of {backlog} in {:.2} s = {:.0} events/s; single event commit → acknowledged \
         and recorded: p50 {:.1} ms, p95 {:.1} ms",
        took.as_secs_f64(),
        backlog as f64 / took.as_secs_f64(),
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.95)
    );
    cancel.cancel();
    worker.await.unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Webhook: a local server answering 200.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let counter = Arc::clone(&counter);
                        async move {
                            let _ = req.into_body().collect().await;
                            counter.fetch_add(1, Ordering::Relaxed);
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"{}"),
                            )))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let webhook = WebhookSink::new(
        &format!("http://{addr}/events"),
        b"bench-secret",
        Duration::from_secs(5),
    )
    .unwrap();
    measure("webhook", Arc::new(webhook), 2000).await;

    // Kafka on tansu, when installed.
    let tansu = std::env::var_os("ENCLAVE_TANSU")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/enclave/tansu/tansu")
        });
    if !tansu.is_file() {
        println!("kafka: skipped: tansu is not installed (bash scripts/tansu.sh)");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    let mut broker = std::process::Command::new(&tansu)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let kafka = KafkaSink::new(
        vec![format!("127.0.0.1:{port}")],
        "bench.events".into(),
        1,
        Duration::from_secs(5),
    );
    measure("kafka (tansu)", Arc::new(kafka), 2000).await;
    let _ = broker.kill();
    let _ = broker.wait();
}
