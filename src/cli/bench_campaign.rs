//! `agent bench campaign`: the dialler's own cost. N contacts dialled at once through a
//! loopback AMI peer that speaks the Originate protocol (queued response, then Hangup and
//! `OriginateResponse` after `--ring-ms`); per call: claim → Originate on the wire, and
//! claim → attempt recorded minus the ring time (AMI + scheduling + SQLite overhead).

use crate::ami::{AmiClient, AmiSettings};
use crate::campaign::{
    runner, CampaignRules, CampaignScript, CampaignState, CampaignStore, Classifier, DialSettings,
    NewContact, RunnerSettings, SystemClock,
};
use anyhow::Context;
use clap::Args;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// `bench campaign` arguments.
#[derive(Debug, Args)]
pub struct BenchCampaignArgs {
    /// Contacts, all dialled at once (max_concurrent = this).
    #[arg(long, default_value_t = 50)]
    pub calls: usize,
    /// How long each call "rings" before the peer reports busy (ms).
    #[arg(long, default_value_t = 200)]
    pub ring_ms: u64,
    /// Scheduling pass interval (ms).
    #[arg(long, default_value_t = 100)]
    pub tick_ms: u64,
}

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// A loopback AMI peer: Login, Ping, Originate (busy after `ring`).
async fn fake_ami(ring: Duration, arrivals: Arrivals) -> anyhow::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let arrivals = Arc::clone(&arrivals);
            tokio::spawn(async move {
                let (rd, wr) = sock.into_split();
                let wr = Arc::new(tokio::sync::Mutex::new(wr));
                let mut rd = BufReader::new(rd);
                if wr
                    .lock()
                    .await
                    .write_all(b"Asterisk Call Manager/7.0.3\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                loop {
                    let mut fields: Vec<(String, String)> = Vec::new();
                    loop {
                        let mut line = String::new();
                        if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end_matches(['\r', '\n']);
                        if line.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(": ") {
                            fields.push((k.to_string(), v.to_string()));
                        }
                    }
                    let get = |k: &str| {
                        fields
                            .iter()
                            .find(|(f, _)| f.eq_ignore_ascii_case(k))
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    };
                    let id = get("ActionID");
                    let reply = match get("Action").to_ascii_lowercase().as_str() {
                        "login" => format!("Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n"),
                        "originate" => {
                            let uuid = fields
                                .iter()
                                .find_map(|(k, v)| (k == "Variable").then(|| v.strip_prefix("AS_UUID=")).flatten())
                                .unwrap_or_default()
                                .to_string();
                            arrivals.lock().unwrap_or_else(|p| p.into_inner()).insert(uuid.clone(), Instant::now());
                            let (w, id2, chan) = (Arc::clone(&wr), id.clone(), get("Channel"));
                            tokio::spawn(async move {
                                tokio::time::sleep(ring).await;
                                let c = format!("{chan};1");
                                let text = format!(
                                    "Event: VarSet\r\nChannel: {c}\r\nVariable: AS_UUID\r\nValue: {uuid}\r\n\r\n\
                                     Event: Hangup\r\nChannel: {c}\r\nCause: 17\r\nCause-txt: User busy\r\n\r\n\
                                     Event: OriginateResponse\r\nActionID: {id2}\r\nResponse: Failure\r\nChannel: {chan}\r\nReason: 5\r\nUniqueid: <null>\r\n\r\n");
                                let _ = w.lock().await.write_all(text.as_bytes()).await;
                            });
                            format!("Response: Success\r\nActionID: {id}\r\nMessage: Originate successfully queued\r\n\r\n")
                        }
                        _ => format!("Response: Success\r\nActionID: {id}\r\n\r\n"),
                    };
                    if wr.lock().await.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(port)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs the benchmark and prints p50/p95.
pub fn run(_config: Option<&Path>, args: BenchCampaignArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(bench(args))
}

async fn bench(args: BenchCampaignArgs) -> anyhow::Result<()> {
    let tmp = tempfile_dir()?;
    let db = tmp.join("calls.sqlite3");
    let records = crate::records::RecordStore::open(&db, &crate::config::RecordsConfig::default())?;
    let store = Arc::new(CampaignStore::open(&db)?);
    let arrivals: Arrivals = Arc::default();
    let ring = Duration::from_millis(args.ring_ms);
    let port = fake_ami(ring, Arc::clone(&arrivals)).await?;
    let cancel = tokio_util::sync::CancellationToken::new();
    let ami = AmiClient::start(
        AmiSettings {
            addr: format!("127.0.0.1:{port}"),
            username: "bench".into(),
            secret: "bench".into(),
            events: "call,dialplan".into(),
            action_timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            ping_interval: Duration::from_secs(3600),
        },
        cancel.clone(),
    );
    ami.wait_connected(Duration::from_secs(5)).await?;
    let n = args.calls.max(1);
    let rules = CampaignRules {
        window_start: "00:00".into(),
        window_end: "24:00".into(),
        days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .map(String::from)
            .to_vec(),
        max_concurrent: n as u32,
        calls_per_minute: 100_000,
        max_attempts: 1,
        ..Default::default()
    };
    let now = chrono::Utc::now().timestamp_millis();
    store.create_campaign("bench", "default", &rules, &CampaignScript::default(), now)?;
    let contacts: Vec<_> = (0..n)
        .map(|i| NewContact {
            external_id: format!("b{i}"),
            phone: format!("+1555{i:07}"),
            time_zone: "UTC".into(),
            variables: Default::default(),
        })
        .collect();
    store.add_contacts("bench", &contacts, now)?;
    let t0 = Instant::now();
    store.set_state("bench", CampaignState::Running, now)?;
    let handle = runner::spawn(
        Arc::clone(&store),
        ami,
        records.subscribe(),
        Classifier::keywords_only(),
        None,
        Arc::new(SystemClock),
        RunnerSettings {
            tick: Duration::from_millis(args.tick_ms),
            dial: DialSettings {
                ring_timeout: Duration::from_secs(30),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = store.status("bench")?;
        if s.state == "finished" {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the campaign did not finish in 120 s: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = t0.elapsed();
    handle.stop().await;
    cancel.cancel();
    // Per attempt, from the database (unix ms) and the peer's arrival instants.
    let conn = rusqlite::Connection::open(&db)?;
    let mut stmt = conn.prepare("SELECT call_uuid, started_at, ended_at FROM campaign_attempts")?;
    let rows: Vec<(String, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let unix_t0 = chrono::Utc::now().timestamp_millis() - t0.elapsed().as_millis() as i64;
    let arrivals = arrivals.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut to_wire = Vec::new();
    let mut overhead = Vec::new();
    for (uuid, started, ended) in &rows {
        if let Some(at) = arrivals.get(uuid) {
            let at_unix = unix_t0 + at.duration_since(t0).as_millis() as i64;
            to_wire.push((at_unix - started).max(0) as f64);
        }
        overhead.push((ended - started - args.ring_ms as i64).max(0) as f64);
    }
    to_wire.sort_by(|a, b| a.total_cmp(b));
    overhead.sort_by(|a, b| a.total_cmp(b));
    println!(
        "campaign bench: {} calls at once, ring {} ms, tick {} ms",
        n, args.ring_ms, args.tick_ms
    );
    println!(
        "  all {} attempts recorded in {:.2} s",
        rows.len(),
        wall.as_secs_f64()
    );
    println!(
        "  claim -> Originate on the wire: p50 {:.0} ms, p95 {:.0} ms",
        pct(&to_wire, 0.5),
        pct(&to_wire, 0.95)
    );
    println!(
        "  claim -> attempt recorded, minus ring: p50 {:.0} ms, p95 {:.0} ms (AMI + scheduling + SQLite)",
        pct(&overhead, 0.5),
        pct(&overhead, 0.95)
    );
    drop(records);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("enclave-bench-campaign-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
