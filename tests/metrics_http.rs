//! Metrics exposition format and the /metrics, /livez, /readyz listener over real TCP.

use enclave::metrics::{Metrics, MetricsServer, Readiness, Stage, PROMETHEUS_CONTENT_TYPE};
use enclave::records::CallOutcome;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// One parsed sample line: `name{labels} value`.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict little parser of the text exposition format (0.0.4).
fn parse_exposition(text: &str) -> (Vec<Sample>, HashMap<String, String>) {
    let mut samples = Vec::new();
    let mut types = HashMap::new();
    let mut helps = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let ctx = format!("line {}: `{line}`", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect(&ctx);
            assert!(!help.is_empty(), "{ctx}");
            helps.insert(name.to_string(), help.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(&ctx);
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{ctx}");
            assert!(helps.contains_key(name), "HELP before TYPE: {ctx}");
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "{ctx}");
        let (series, value) = line.rsplit_once(' ').expect(&ctx);
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {ctx}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect(&ctx);
                let mut labels = BTreeMap::new();
                for pair in body.split(',') {
                    let (k, v) = pair.split_once('=').expect(&ctx);
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .expect(&ctx);
                    assert!(
                        k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "{ctx}"
                    );
                    labels.insert(k.to_string(), v.to_string());
                }
                (name.to_string(), labels)
            }
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{ctx}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(&name);
        assert!(types.contains_key(family), "sample before its TYPE: {ctx}");
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    (samples, types)
}

/// Label pairs of one series without `le`.
type LabelKey = Vec<(String, String)>;

/// Checks every histogram: buckets ascend in `le` and are cumulative, `+Inf` equals `_count`.
fn check_histograms(samples: &[Sample], types: &HashMap<String, String>) -> usize {
    let mut checked = 0;
    for (family, _) in types.iter().filter(|(_, k)| k.as_str() == "histogram") {
        let mut series: BTreeMap<LabelKey, Vec<(f64, f64)>> = BTreeMap::new();
        let bucket_name = format!("{family}_bucket");
        for s in samples.iter().filter(|s| s.name == bucket_name) {
            let mut key: Vec<_> = s
                .labels
                .clone()
                .into_iter()
                .filter(|(k, _)| k != "le")
                .collect();
            key.sort();
            let le = match s.labels["le"].as_str() {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap(),
            };
            series.entry(key).or_default().push((le, s.value));
        }
        assert!(!series.is_empty(), "{family} has no buckets");
        for (key, buckets) in series {
            assert!(
                buckets.windows(2).all(|w| w[0].0 < w[1].0),
                "{family}{key:?}: le ascends"
            );
            assert!(
                buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                "{family}{key:?}: cumulative"
            );
            assert_eq!(
                buckets.last().unwrap().0,
                f64::INFINITY,
                "{family}{key:?}: +Inf last"
            );
            let labels: BTreeMap<_, _> = key.into_iter().collect();
            let count = samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && s.labels == labels)
                .expect("_count present");
            assert!(samples
                .iter()
                .any(|s| s.name == format!("{family}_sum") && s.labels == labels));
            assert_eq!(
                buckets.last().unwrap().1,
                count.value,
                "{family}: +Inf == _count"
            );
            checked += 1;
        }
    }
    checked
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
        .value
}

fn filled_metrics() -> Arc<Metrics> {
    let m = Arc::new(Metrics::new());
    let a = m.call_started();
    // A call still running when the metrics are rendered.
    std::mem::forget(m.call_started());
    a.end(CallOutcome::Transferred);
    {
        let _dropped_without_end = m.call_started();
    }
    for ms in [90, 150, 420, 800, 800, 1900, 7000] {
        m.observe_turn_latency(Duration::from_millis(ms));
    }
    m.observe_stage(Stage::Asr, Duration::from_millis(120));
    m.observe_stage(Stage::LlmFirstToken, Duration::from_millis(45));
    m.observe_stage(Stage::TtsFirstAudio, Duration::from_millis(70));
    m.barge_in();
    m.tool_call("get_balance", "ok");
    m.tool_call("get_balance", "ok");
    m.tool_call("transfer", "error");
    m.error("asr");
    m.records_dropped(3);
    m
}

#[test]
fn exposition_parses_and_histograms_are_consistent() {
    let m = filled_metrics();
    let text = m.render();
    let (samples, types) = parse_exposition(&text);
    assert_eq!(types["enclave_calls_active"], "gauge");
    assert_eq!(types["enclave_turn_latency_seconds"], "histogram");
    assert_eq!(types["enclave_stage_latency_seconds"], "histogram");
    for family in [
        "enclave_calls_total",
        "enclave_barge_ins_total",
        "enclave_tool_calls_total",
        "enclave_errors_total",
        "enclave_records_dropped_total",
    ] {
        assert_eq!(types[family], "counter", "{family}");
    }
    // 1 turn-latency series + 5 stage series + the LLM scheduler's 3 (metrics::engines) +
    // the post-call summary time (summary::metrics).
    assert_eq!(check_histograms(&samples, &types), 10);
    assert_eq!(value(&samples, "enclave_calls_active", &[]), 1.0);
    assert_eq!(
        value(
            &samples,
            "enclave_calls_total",
            &[("outcome", "transferred")]
        ),
        1.0
    );
    assert_eq!(
        value(&samples, "enclave_calls_total", &[("outcome", "error")]),
        1.0,
        "guard dropped un-ended"
    );
    assert_eq!(
        value(&samples, "enclave_calls_total", &[("outcome", "completed")]),
        0.0
    );
    assert_eq!(
        value(&samples, "enclave_turn_latency_seconds_count", &[]),
        7.0
    );
    assert_eq!(
        value(
            &samples,
            "enclave_turn_latency_seconds_bucket",
            &[("le", "0.1")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "enclave_turn_latency_seconds_bucket",
            &[("le", "0.8")]
        ),
        5.0
    );
    assert_eq!(
        value(
            &samples,
            "enclave_turn_latency_seconds_bucket",
            &[("le", "5")]
        ),
        6.0
    );
    let sum = value(&samples, "enclave_turn_latency_seconds_sum", &[]);
    assert!((sum - 11.16).abs() < 1e-9, "sum {sum}");
    assert_eq!(
        value(
            &samples,
            "enclave_stage_latency_seconds_count",
            &[("stage", "asr")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "enclave_stage_latency_seconds_count",
            &[("stage", "endpointing")]
        ),
        0.0
    );
    assert_eq!(value(&samples, "enclave_barge_ins_total", &[]), 1.0);
    assert_eq!(
        value(
            &samples,
            "enclave_tool_calls_total",
            &[("tool", "get_balance"), ("result", "ok")]
        ),
        2.0
    );
    assert_eq!(
        value(&samples, "enclave_errors_total", &[("stage", "asr")]),
        1.0
    );
    assert_eq!(value(&samples, "enclave_records_dropped_total", &[]), 3.0);
}

#[test]
fn label_values_are_escaped_and_cardinality_is_bounded() {
    let m = Metrics::new();
    m.tool_call("we\"ird\\name\n", "ok");
    for i in 0..1000 {
        m.tool_call(&format!("tool{i}"), "ok");
    }
    let text = m.render();
    assert!(text.contains(r#"tool="we\"ird\\name\n""#), "escaped label");
    let series = text
        .lines()
        .filter(|l| l.starts_with("enclave_tool_calls_total{"))
        .count();
    assert!(
        series <= enclave::metrics::registry::MAX_LABEL_SETS,
        "{series} series"
    );
    assert!(text.contains(r#"enclave_tool_calls_total{tool="other",result="other"}"#));
}

#[test]
fn concurrent_recording_loses_no_observation() {
    let m = Arc::new(Metrics::new());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                for i in 0..10_000u64 {
                    m.observe_turn_latency(Duration::from_millis(i % 3000));
                    m.barge_in();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (samples, types) = parse_exposition(&m.render());
    check_histograms(&samples, &types);
    assert_eq!(
        value(&samples, "enclave_turn_latency_seconds_count", &[]),
        40_000.0
    );
    assert_eq!(value(&samples, "enclave_barge_ins_total", &[]), 40_000.0);
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("response within 10 s")
        .unwrap();
    let text = String::from_utf8(buf).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("header/body separator");
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

async fn start(metrics: Arc<Metrics>, readiness: Readiness) -> (MetricsServer, CancellationToken) {
    let cancel = CancellationToken::new();
    let server = MetricsServer::start(
        "127.0.0.1:0".parse().unwrap(),
        metrics,
        readiness,
        cancel.clone(),
    )
    .await
    .unwrap();
    (server, cancel)
}

#[tokio::test]
async fn metrics_endpoint_serves_parsable_exposition() {
    let (server, cancel) = start(filled_metrics(), Readiness::new()).await;
    let (status, head, body) = get(server.local_addr(), "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-type: {PROMETHEUS_CONTENT_TYPE}")),
        "{head}"
    );
    let (samples, types) = parse_exposition(&body);
    assert_eq!(check_histograms(&samples, &types), 10);
    assert_eq!(value(&samples, "enclave_barge_ins_total", &[]), 1.0);
    cancel.cancel();
    server.join().await;
}

#[tokio::test]
async fn livez_readyz_flip_and_unknown_paths_404() {
    let readiness = Readiness::new();
    let (server, cancel) = start(Arc::new(Metrics::new()), readiness.clone()).await;
    let addr = server.local_addr();
    assert_eq!(get(addr, "/livez").await.0, 200);
    let (status, _, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503);
    assert!(
        body.contains("models not loaded") && body.contains("not accepting"),
        "{body}"
    );
    readiness.set_models_loaded(true);
    let (status, _, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503);
    assert!(
        !body.contains("models") && body.contains("AudioSocket listener not accepting"),
        "{body}"
    );
    readiness.set_accepting(true);
    assert_eq!(get(addr, "/readyz").await.0, 200);
    readiness.set_ready(false);
    assert_eq!(get(addr, "/readyz").await.0, 503);
    readiness.set_ready(true);
    assert_eq!(get(addr, "/readyz").await.0, 200);
    readiness.set_draining();
    let (status, _, body) = get(addr, "/readyz").await;
    assert_eq!((status, body.contains("shutting down")), (503, true));
    assert_eq!(get(addr, "/livez").await.0, 200, "live while draining");
    assert_eq!(get(addr, "/nope").await.0, 404);
    assert_eq!(get(addr, "/metrics/extra").await.0, 404);
    cancel.cancel();
    server.join().await;
}

#[tokio::test]
async fn cancellation_stops_the_listener_even_with_an_idle_keepalive_connection() {
    let (server, cancel) = start(Arc::new(Metrics::new()), Readiness::new()).await;
    let addr = server.local_addr();
    // An idle keep-alive connection that already got one response.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let t0 = Instant::now();
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), server.join())
        .await
        .expect("server stops after cancel");
    assert!(t0.elapsed() < Duration::from_secs(5));
    // The port no longer accepts.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn binding_a_used_port_is_a_clear_error() {
    let (server, cancel) = start(Arc::new(Metrics::new()), Readiness::new()).await;
    let err = MetricsServer::start(
        server.local_addr(),
        Arc::new(Metrics::new()),
        Readiness::new(),
        cancel.clone(),
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cannot listen for metrics") && msg.contains("[metrics]"),
        "{msg}"
    );
    cancel.cancel();
    server.join().await;
}

#[tokio::test]
async fn connections_over_the_limit_are_refused_and_counted() {
    let cancel = CancellationToken::new();
    let server = MetricsServer::start_limited(
        "127.0.0.1:0".parse().unwrap(),
        filled_metrics(),
        Readiness::new(),
        cancel.clone(),
        2,
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let before =
        enclave::metrics::limits::hits(enclave::metrics::limits::Limit::MetricsConnections);
    // Two idle connections hold both slots (a client that never sends a request).
    let idle1 = TcpStream::connect(addr).await.unwrap();
    let idle2 = TcpStream::connect(addr).await.unwrap();
    // The third is closed at once, without a response.
    let mut third = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("the refused connection is closed, not left hanging")
        .unwrap_or(0);
    assert_eq!(n, 0, "refused connection got bytes");
    assert!(
        enclave::metrics::limits::hits(enclave::metrics::limits::Limit::MetricsConnections)
            > before
    );
    // A slot frees when a client goes away; the next scrape is served and shows the count.
    drop(idle1);
    let body = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            let _ = s.write_all(req.as_bytes()).await;
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out).await;
            let text = String::from_utf8_lossy(&out).into_owned();
            if text.starts_with("HTTP/1.1 200") {
                return text;
            }
            // The freed slot is released when the server notices the close.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a scrape is served once a slot is free");
    let (_, body) = body.split_once("\r\n\r\n").unwrap();
    let (samples, _) = parse_exposition(body);
    assert!(
        value(
            &samples,
            "enclave_limit_hits_total",
            &[("limit", "metrics_connections")]
        ) >= 1.0
    );
    assert_eq!(
        value(&samples, "enclave_engine_jobs_active", &[("engine", "asr")]),
        enclave::metrics::jobs::active(enclave::metrics::jobs::Engine::Asr) as f64
    );
    drop(idle2);
    cancel.cancel();
    server.join().await;
}
