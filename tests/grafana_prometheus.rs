//! Every PromQL query of the Grafana dashboard (`deploy/grafana/enclave.json`) returns data
//! from a real Prometheus (Debian `prometheus`, started here on a free port) scraping a real
//! `agent serve` (synthetic models, real Silero, the real smart-turn model) that has served
//! a few simulated calls (`agent call`, the simulated Asterisk).

mod conversation_support;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (and reaped) on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn prometheus_bin() -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", "command -v prometheus"])
        .output()
        .unwrap();
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !p.is_empty(),
        "Prometheus is not installed. Install it with: sudo apt-get install -y prometheus \
         (or: bash scripts/setup.sh --deps)"
    );
    PathBuf::from(p)
}

fn smart_turn_model() -> PathBuf {
    let path = std::env::var_os("ENCLAVE_SMART_TURN_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("ENCLAVE_REAL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/enclave/real")
                })
                .join("turn/smart-turn-v3.2-cpu.onnx")
        });
    assert!(
        path.is_file(),
        "smart-turn model {} missing: run `bash scripts/real-models.sh`",
        path.display()
    );
    path
}

/// Every `expr` in the dashboard (row panels may nest panels), with its panel title.
fn dashboard_queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(panels: &serde_json::Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("").to_string();
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push((title.clone(), e.to_string()));
                }
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Grafana's variables as a dashboard viewer would have them: all boxes, a 1 min window.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__range", "5m")
        .replace("$instance", ".*")
}

async fn query(client: &reqwest::Client, prom: &str, expr: &str) -> serde_json::Value {
    let resp = client
        .get(format!("{prom}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .await
        .unwrap_or_else(|e| panic!("query {expr}: {e}"));
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        status.is_success() && body["status"] == "success",
        "Prometheus rejected `{expr}`: {body}"
    );
    body["data"].clone()
}

/// The numeric values of an instant-vector result.
fn values(data: &serde_json::Value) -> Vec<f64> {
    data["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["value"][1].as_str().and_then(|v| v.parse().ok()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/enclave.json"),
        )
        .unwrap(),
    )
    .expect("the dashboard is JSON");
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 20, "{} queries", queries.len());
    let prom_bin = prometheus_bin();
    let turn_model = smart_turn_model();

    // 1. The agent, with /metrics on a free port.
    let tmp = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let text = conversation_support::config_text(
        tmp.path(),
        &conversation_support::llm_and_conversation(
            "",
            &format!("end_of_turn_model = \"{}\"\n", turn_model.display()),
        ),
    )
    .replace(
        "[metrics]\nenabled = false",
        &format!("[metrics]\nenabled = true\nlisten = \"127.0.0.1:{metrics_port}\""),
    );
    let config = tmp.path().join("agent.toml");
    std::fs::write(&config, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["--log-json", "--log", "info", "serve", "--config"])
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("ENCLAVE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn agent serve");
    let stderr = child.stderr.take().unwrap();
    let _agent = Proc(child);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut log = Vec::new();
    let addr: String = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("agent did not start; log:\n{}", log.join("\n")));
        if line.contains("listening for AudioSocket calls") {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            break v["fields"]["addr"].as_str().unwrap().to_string();
        }
        log.push(line);
    };
    std::thread::spawn(move || while rx.recv().is_ok() {});

    // 2. Prometheus scraping it every second.
    let prom_port = free_port();
    let prom_cfg = tmp.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
             - job_name: enclave\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
        ),
    )
    .unwrap();
    let prom_log = std::fs::File::create(tmp.path().join("prometheus.log")).unwrap();
    let _prometheus = Proc(
        Command::new(&prom_bin)
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                tmp.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(prom_log)
            .spawn()
            .expect("spawn prometheus"),
    );
    let prom = format!("http://127.0.0.1:{prom_port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = client
            .get(format!("{prom}/api/v1/query"))
            .query(&[("query", "up{job=\"enclave\"} == 1")])
            .send()
            .await;
        if let Ok(r) = up {
            if let Ok(body) = r.json::<serde_json::Value>().await {
                if !values(&body["data"]).is_empty() {
                    break;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped the agent; its log:\n{}",
            std::fs::read_to_string(tmp.path().join("prometheus.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // 3. A few simulated calls: two at once, the caller speaking (jfk), twice.
    let wav = conversation_support::fixtures_dir().join("audio/jfk.wav");
    for round in 0..2 {
        let calls: Vec<_> = (0..2)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_agent"))
                    .args(["call", "--to", &addr, "--wav"])
                    .arg(&wav)
                    // Long enough for an answer on a loaded 2-core box (the reply can
                    // take several seconds with every engine on the CPU).
                    .args(["--linger", "15", "--json"])
                    .env_remove("ENCLAVE_CONFIG")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn agent call")
            })
            .collect();
        for c in calls {
            let out = tokio::task::spawn_blocking(move || c.wait_with_output().unwrap())
                .await
                .unwrap();
            assert!(out.status.success(), "round {round}: agent call failed");
        }
    }
    // 4. Until Prometheus has scraped the finished calls' turns (a deadline, not a sleep).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let data = query(
            &client,
            &prom,
            "sum(enclave_calls_total{job=\"enclave\"}) >= 4 and sum(enclave_turn_latency_seconds_count) > 0",
        )
        .await;
        if !values(&data).is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            let calls = values(&query(&client, &prom, "sum(enclave_calls_total)").await);
            let turns =
                values(&query(&client, &prom, "sum(enclave_turn_latency_seconds_count)").await);
            panic!(
                "Prometheus has not seen 4 finished calls with answered turns: \
                 calls {calls:?}, answered turns {turns:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // 5. Every query of the dashboard, as Grafana would send it.
    let mut empty = Vec::new();
    let mut report = Vec::new();
    for (title, expr) in &queries {
        let q = substitute(expr);
        let data = query(&client, &prom, &q).await;
        assert_eq!(data["resultType"], "vector", "{q}");
        let vals = values(&data);
        if vals.is_empty() {
            empty.push(format!("{title}: {q}"));
        }
        report.push(format!("{title}: {vals:?}"));
    }
    println!("{}", report.join("\n"));
    assert!(
        empty.is_empty(),
        "dashboard queries with no data:\n{}",
        empty.join("\n")
    );
    // Numbers that must be real, not merely present.
    for expr in [
        "histogram_quantile(0.5, sum by (instance, le) (rate(enclave_turn_latency_seconds_bucket[1m])))",
        "histogram_quantile(0.95, sum by (le) (rate(enclave_llm_step_seconds_bucket[1m])))",
        "histogram_quantile(0.95, sum by (le) (rate(enclave_vad_step_seconds_bucket[1m])))",
        "histogram_quantile(0.95, sum by (le) (rate(enclave_turn_model_step_seconds_bucket[1m])))",
        "sum(rate(enclave_llm_batch_sequences_sum[1m])) / sum(rate(enclave_llm_batch_sequences_count[1m]))",
    ] {
        let v = values(&query(&client, &prom, expr).await);
        assert!(
            v.iter().all(|x| x.is_finite() && *x > 0.0) && !v.is_empty(),
            "`{expr}` = {v:?}"
        );
    }
    // The dashboard's `instance` variable.
    let labels: serde_json::Value = client
        .get(format!("{prom}/api/v1/label/instance/values"))
        .query(&[("match[]", "enclave_calls_active")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        labels["data"][0],
        format!("127.0.0.1:{metrics_port}"),
        "{labels}"
    );
    println!("{} dashboard queries, all with data", queries.len());
}
