//! Call records on a real PostgreSQL (started by the test, see `pg_support`): the same suite
//! as SQLite, value-for-value identical results, the same schema, migrations under
//! concurrency, and two real `agent serve` processes answering calls into one database.

mod api_support;
mod conversation_support;
mod pg_support;
mod records_suite;

use enclave::config::{RecordsBackendKind, RecordsConfig};
use enclave::metrics::Metrics;
use enclave::records::{CallEnd, CallOutcome, RecordStore, RecordsError, Role};
use pg_support::PgServer;
use records_suite::Db;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

/// The suite's view of a PostgreSQL server: every `fresh()` is a new database.
struct Pg {
    server: PgServer,
    scratch: tempfile::TempDir,
    n: AtomicU32,
}

impl Pg {
    fn start() -> Pg {
        Pg {
            server: PgServer::start(),
            scratch: tempfile::tempdir().unwrap(),
            n: AtomicU32::new(0),
        }
    }
}

fn url(cfg: &RecordsConfig) -> &str {
    cfg.postgres_url.as_deref().unwrap()
}

impl Db for Pg {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn fresh(&self) -> (RecordsConfig, PathBuf) {
        let cfg = RecordsConfig {
            backend: RecordsBackendKind::Postgres,
            postgres_url: Some(self.server.create_db()),
            ..RecordsConfig::default()
        };
        let dir = self
            .scratch
            .path()
            .join(format!("s{}", self.n.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&dir).unwrap();
        (cfg, dir)
    }

    fn scalar(&self, cfg: &RecordsConfig, sql: &str) -> i64 {
        pg_support::scalar(url(cfg), sql)
    }

    fn execute(&self, cfg: &RecordsConfig, sql: &str) {
        pg_support::execute(url(cfg), sql)
    }

    fn raw_contains(&self, cfg: &RecordsConfig, needle: &str) -> bool {
        // Every column of every row, as text...
        let rows = self.scalar(
            cfg,
            &format!(
                "SELECT count(*) FROM (SELECT t::text AS r FROM turns t UNION ALL \
                 SELECT c::text FROM calls c UNION ALL SELECT o::text FROM outbox o) x \
                 WHERE r LIKE '%{needle}%'"
            ),
        );
        // ...and the files of the records tables, their indexes and TOAST after a checkpoint
        // (row versions not yet vacuumed included; the shared WAL also holds other tests'
        // databases, so it is not scanned).
        self.execute(cfg, "CHECKPOINT");
        let (u, data) = (url(cfg).to_string(), self.server.data_dir());
        let files: Vec<String> = pg_support::off_runtime(move || {
            let mut c = postgres::Client::connect(&u, postgres::NoTls).unwrap();
            c.query(
                "SELECT pg_relation_filepath(c.oid) FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public'
                    OR c.oid IN (SELECT reltoastrelid FROM pg_class k
                                 JOIN pg_namespace m ON m.oid = k.relnamespace
                                 WHERE m.nspname = 'public')",
                &[],
            )
            .unwrap()
            .iter()
            .filter_map(|r| r.get::<_, Option<String>>(0))
            .collect()
        });
        assert!(files.len() >= 4, "records tables found: {files:?}");
        let in_files = files
            .iter()
            .filter_map(|f| std::fs::read(data.join(f)).ok())
            .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()));
        rows > 0 || in_files
    }

    fn block_writes(&self, cfg: &RecordsConfig) -> Box<dyn FnOnce() + Send> {
        pg_support::lock_turns(url(cfg))
    }
}

/// SQLite, for the side-by-side comparison.
struct Sqlite {
    dir: tempfile::TempDir,
    n: AtomicU32,
}

impl Db for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }
    fn fresh(&self) -> (RecordsConfig, PathBuf) {
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        let cfg = RecordsConfig {
            db_path: self.dir.path().join(format!("c{n}.sqlite3")),
            ..RecordsConfig::default()
        };
        let scratch = self.dir.path().join(format!("s{n}"));
        std::fs::create_dir_all(&scratch).unwrap();
        (cfg, scratch)
    }
    fn scalar(&self, cfg: &RecordsConfig, sql: &str) -> i64 {
        let conn = rusqlite::Connection::open(&cfg.db_path).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }
    fn execute(&self, cfg: &RecordsConfig, sql: &str) {
        let conn = rusqlite::Connection::open(&cfg.db_path).unwrap();
        conn.execute_batch(sql).unwrap();
    }
    fn raw_contains(&self, _: &RecordsConfig, _: &str) -> bool {
        unimplemented!("the SQLite suite runs in records_store.rs")
    }
    fn block_writes(&self, _: &RecordsConfig) -> Box<dyn FnOnce() + Send> {
        unimplemented!("the SQLite suite runs in records_store.rs")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_call_records_suite() {
    let pg = Pg::start();
    records_suite::run_all(&pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_store_identical_records_with_the_same_schema() {
    let pg = Pg::start();
    let sqlite = Sqlite {
        dir: tempfile::tempdir().unwrap(),
        n: AtomicU32::new(0),
    };
    let on_sqlite = records_suite::scenario_snapshot(&sqlite).await;
    let on_postgres = records_suite::scenario_snapshot(&pg).await;
    assert_eq!(on_sqlite.len(), enclave::records::CallOutcome::ALL.len());
    assert!(on_sqlite.iter().any(|c| c.turns.len() == 4));
    assert!(on_sqlite
        .iter()
        .flat_map(|c| &c.turns)
        .all(|t| !t.text.contains("916")));
    for (s, p) in on_sqlite.iter().zip(&on_postgres) {
        assert_eq!(
            s, p,
            "call {} differs between SQLite and PostgreSQL",
            s.uuid
        );
    }
    assert_eq!(on_sqlite, on_postgres);
    println!(
        "identical: {} calls, {} turns on both backends",
        on_sqlite.len(),
        on_sqlite.iter().map(|c| c.turns.len()).sum::<usize>()
    );

    // Same tables with the same columns in the same order (types are each dialect's own).
    let (scfg, _) = sqlite.fresh();
    RecordStore::open(&scfg.db_path, &scfg).unwrap();
    let conn = rusqlite::Connection::open(&scfg.db_path).unwrap();
    let (pcfg, _) = pg.fresh();
    records_suite::open(&pcfg).await.close().await.unwrap();
    for table in [
        "calls",
        "turns",
        "outbox",
        "outbox_deliveries",
        "campaigns",
        "campaign_contacts",
        "campaign_attempts",
        "do_not_call",
        "schema_version",
    ] {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
            ))
            .unwrap();
        let lite: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let (u, t) = (url(&pcfg).to_string(), table.to_string());
        let pgcols: Vec<String> = pg_support::off_runtime(move || {
            let mut c = postgres::Client::connect(&u, postgres::NoTls).unwrap();
            c.query(
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_name = $1 ORDER BY ordinal_position",
                &[&t],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
        });
        assert!(!lite.is_empty(), "{table} missing in SQLite");
        assert_eq!(lite, pgcols, "columns of {table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_sharing_postgres_migrate_once_and_write_concurrently() {
    let pg = Pg::start();
    let (cfg, _) = pg.fresh();

    // Four agents start at once against an empty database: one migrates, all open.
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let cfg = cfg.clone();
            tokio::task::spawn_blocking(move || {
                RecordStore::open_configured(&cfg, Arc::new(Metrics::new()))
            })
        })
        .collect();
    let mut stores = Vec::new();
    for o in opens {
        stores.push(o.await.unwrap().expect("concurrent open"));
    }
    assert_eq!(pg.scalar(&cfg, "SELECT count(*) FROM schema_version"), 1);

    // Each store writes 15 calls of 20 turns at once; nothing is lost, nothing collides.
    let metrics: Vec<_> = (0..stores.len())
        .map(|_| Arc::new(Metrics::new()))
        .collect();
    drop(stores);
    let mut writers = Vec::new();
    for m in &metrics {
        writers.push(records_suite::open_with(&cfg, Arc::clone(m)).await);
    }
    let mut expected = Vec::new();
    for (i, store) in writers.iter().enumerate() {
        for c in 0..15u64 {
            let uuid = Uuid::new_v4();
            expected.push(uuid);
            let w = store.writer();
            assert!(w.call_started(records_suite::start(uuid, 1_000 + c)));
            for seq in 0..20 {
                let role = if seq % 2 == 0 {
                    Role::Caller
                } else {
                    Role::Agent
                };
                assert!(w.turn_completed(records_suite::turn(
                    uuid,
                    seq,
                    role,
                    &format!("agent {i} call {c} turn {seq}"),
                    2_000 + u64::from(seq),
                )));
            }
            assert!(w.call_ended(CallEnd {
                uuid,
                ended_at: records_suite::at(90_000),
                outcome: CallOutcome::Completed,
                transfer_target: None,
                language: None,
                error: None,
            }));
        }
    }
    for store in &writers {
        store.writer().flush().await.unwrap();
    }
    for m in &metrics {
        assert_eq!(m.errors_total("records"), 0);
        assert_eq!(m.records_dropped_total(), 0);
    }
    assert_eq!(
        pg.scalar(&cfg, "SELECT count(*) FROM calls"),
        expected.len() as i64
    );
    assert_eq!(
        pg.scalar(&cfg, "SELECT count(*) FROM turns"),
        expected.len() as i64 * 20
    );
    let reader = &writers[0];
    for uuid in &expected {
        let call = reader.load_call(uuid).unwrap().unwrap();
        assert_eq!(call.turns.len(), 20);
        assert_eq!(call.outcome, Some(CallOutcome::Completed));
    }
    assert_eq!(
        pg.scalar(
            &cfg,
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ),
        0
    );

    // A wrong password is a clear error that does not print the password.
    let wrong = RecordsConfig {
        postgres_url: Some(url(&cfg).replace(pg_support::PASSWORD, "not-the-password")),
        ..cfg.clone()
    };
    let err = records_suite::try_open(&wrong, Arc::new(Metrics::new()))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RecordsError::Postgres { .. }), "{err:?}");
    assert!(
        text.contains("connect") && text.contains("password"),
        "{text}"
    );
    assert!(!text.contains("not-the-password"), "{text}");
}

// ---- two real agent processes on one database ---------------------------------------------

struct Agent {
    child: Child,
    addr: std::net::SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// The child is waited for by `Agent`'s Drop.
#[allow(clippy::zombie_processes)]
fn spawn_agent(config: &Path, pg_url: &str) -> Agent {
    let mut child = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["--log-json", "--log", "info", "serve", "--config"])
        .arg(config)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("ENCLAVE_CONFIG")
        // The secret comes from the environment, not the file.
        .env("ENCLAVE_RECORDS__POSTGRES_URL", pg_url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn agent serve");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "agent did not start; log:\n{}",
                log.lock().unwrap().join("\n")
            )
        });
        if line.contains("listening for AudioSocket calls") {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let addr = v["fields"]["addr"].as_str().unwrap().parse().unwrap();
            std::thread::spawn(move || while rx.recv().is_ok() {});
            return Agent { child, addr, log };
        }
    }
}

/// A caller sending silence for `secs`, counting the agent utterances it heard end (runs
/// of sound followed by ≥ 200 ms of silence), then hanging up.
async fn silent_call(addr: std::net::SocketAddr, uuid: Uuid, secs: f64) -> usize {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let mut hello = vec![1u8, 0, 16];
    hello.extend_from_slice(uuid.as_bytes());
    wr.write_all(&hello).await.unwrap();
    let writer = tokio::spawn(async move {
        let mut frame = vec![0x10u8, 0x01, 0x40];
        frame.extend_from_slice(&[0u8; 320]);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if wr.write_all(&frame).await.is_err() {
                return;
            }
        }
    });
    let mut buf = bytes::BytesMut::new();
    let (mut ended, mut in_sound, mut quiet_frames) = (0usize, false, 0u32);
    let until = Instant::now() + Duration::from_secs_f64(secs);
    'read: while Instant::now() < until {
        match tokio::time::timeout(Duration::from_millis(200), rd.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => {}
            Err(_) => continue,
        }
        loop {
            match enclave::transport::frame::decode(&mut buf) {
                Ok(Some(enclave::transport::Frame::Audio { payload, .. })) => {
                    if payload.iter().any(|&b| b != 0) {
                        in_sound = true;
                        quiet_frames = 0;
                    } else if in_sound {
                        quiet_frames += 1;
                        if quiet_frames >= 10 {
                            ended += 1;
                            in_sound = false;
                        }
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => break 'read,
            }
        }
    }
    writer.abort();
    ended
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agent_processes_answer_calls_into_one_postgres() {
    let pg = Pg::start();
    let (cfg, _) = pg.fresh();
    let pg_url = url(&cfg).to_string();
    let tmp = tempfile::tempdir().unwrap();
    let mut agents = Vec::new();
    for i in 0..2 {
        let dir = tmp.path().join(format!("agent{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let text = conversation_support::config_text(
            &dir,
            &format!(
                "backend = \"postgres\"\n{}",
                conversation_support::llm_and_conversation(
                    "",
                    "reprompt_after_secs = 0.6\nhangup_after_reprompts = 0\n",
                )
            ),
        )
        .replace("reprompt_after_secs = 0.0\n", "");
        // Agent 0 serves the console API: it must show both agents' calls.
        let text = if i == 0 {
            format!("{text}\n[api]\nenabled = true\nlisten = \"127.0.0.1:0\"\ntokens = [\"{API_TOKEN}\"]\n")
        } else {
            text
        };
        let path = dir.join("agent.toml");
        std::fs::write(&path, text).unwrap();
        agents.push(spawn_agent(&path, &pg_url));
    }
    // Three simultaneous calls per agent, all at once.
    let mut calls = Vec::new();
    for agent in &agents {
        for _ in 0..3 {
            let uuid = Uuid::new_v4();
            let addr = agent.addr;
            calls.push((
                uuid,
                tokio::spawn(async move { silent_call(addr, uuid, 10.0).await }),
            ));
        }
    }
    let mut heard = Vec::new();
    for (uuid, h) in calls {
        heard.push((uuid, h.await.unwrap()));
    }
    // Wait (with a deadline) until both agents have written every call's end.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ended = pg.scalar(&cfg, "SELECT count(*) FROM calls WHERE outcome IS NOT NULL");
        if ended == heard.len() as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{ended} of {} calls ended in the database",
            heard.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        pg.scalar(&cfg, "SELECT count(*) FROM calls"),
        heard.len() as i64
    );
    let store = records_suite::open(&cfg).await;
    let mut total_turns = 0;
    for (uuid, utterances) in &heard {
        let call = store.load_call(uuid).unwrap().expect("call stored");
        let seqs: Vec<u32> = call.turns.iter().map(|t| t.seq).collect();
        let contiguous: Vec<u32> = (0..seqs.len() as u32).collect();
        assert_eq!(seqs, contiguous, "call {uuid}: turn numbers have gaps");
        let agent_turns = call.turns.iter().filter(|t| t.role == Role::Agent).count();
        assert!(
            *utterances >= 1,
            "call {uuid}: the greeting was heard ({utterances} utterances)"
        );
        assert!(
            agent_turns >= *utterances,
            "call {uuid}: {utterances} agent utterances heard, {agent_turns} stored"
        );
        assert_eq!(call.outcome, Some(CallOutcome::CallerHangup), "call {uuid}");
        println!(
            "call {uuid}: {utterances} utterances heard, {} turns stored ({agent_turns} agent)",
            call.turns.len()
        );
        total_turns += call.turns.len();
    }
    assert_eq!(
        pg.scalar(
            &cfg,
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ),
        0
    );
    for (i, agent) in agents.iter().enumerate() {
        let log = agent.log.lock().unwrap();
        let failed: Vec<_> = log
            .iter()
            .filter(|l| l.contains("call record write failed") || l.contains("\"ERROR\""))
            .collect();
        assert!(failed.is_empty(), "agent {i} logged errors: {failed:#?}");
        assert!(
            !log.iter().any(|l| l.contains(pg_support::PASSWORD)),
            "agent {i} logged the database password"
        );
    }
    // The console on agent 0 reads the shared database: every call of both agents, each
    // with the profile that answered it.
    let api = api_addr(&agents[0]);
    let page = api_get(api, "/api/calls?limit=50").await;
    assert_eq!(page["total"], heard.len(), "{page}");
    let listed: std::collections::BTreeSet<String> = page["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["uuid"].as_str().unwrap().to_string())
        .collect();
    let made: std::collections::BTreeSet<String> =
        heard.iter().map(|(u, _)| u.to_string()).collect();
    assert_eq!(listed, made, "the console lists both agents' calls");
    assert!(
        page["calls"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["profile"] == "default" && c["outcome"] == "caller_hangup"),
        "{page}"
    );
    let (one, _) = &heard[heard.len() - 1]; // answered by agent 1
    let detail = api_get(api, &format!("/api/calls/{one}")).await;
    assert!(
        detail["turns"].as_array().is_some_and(|t| !t.is_empty()),
        "{detail}"
    );
    println!(
        "two agents, {} calls, {total_turns} turns in one PostgreSQL, no conflicts; agent 0's \
         console lists all {}",
        heard.len(),
        listed.len()
    );
}

const API_TOKEN: &str = "pg-console-token-0123456789abcdef";

/// `GET path` on an agent's API with the test token; the JSON answer (200 required).
async fn api_get(api: std::net::SocketAddr, path: &str) -> serde_json::Value {
    let url = format!("http://{api}{path}");
    api_support::get_json_as(&reqwest::Client::new(), &url, API_TOKEN).await
}

/// Where `agent`'s HTTP API listens (from its log, waiting for the line with a deadline).
fn api_addr(agent: &Agent) -> std::net::SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = agent
            .log
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains("HTTP API and console listening"))
            .cloned();
        if let Some(line) = found {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            return v["fields"]["local_addr"].as_str().unwrap().parse().unwrap();
        }
        assert!(Instant::now() < deadline, "the agent's API did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The same history on a store, for the console queries.
async fn console_history(cfg: &RecordsConfig) -> RecordStore {
    let store = records_suite::open(cfg).await;
    let w = store.writer();
    let base = 1_700_000_000_000u64;
    for i in 0..9u64 {
        let uuid = Uuid::from_u128(0xc0 + u128::from(i));
        let mut s = records_suite::start(uuid, base + (i / 2) * 1000); // pairs share a start
        s.caller_id = Some(format!("+7495{i:07}"));
        s.profile = match i % 3 {
            0 => Some("clinic".into()),
            1 => Some("bank".into()),
            _ => None, // recorded before profiles were stored
        };
        w.call_started(s);
        for seq in 0..(i as u32 % 3 + 1) {
            let text = match seq {
                0 => "Здравствуйте, Balance please",
                1 => "Сейчас проверю ваш баланс",
                _ => "transfer me to an operator",
            };
            let mut t =
                records_suite::turn(uuid, seq, Role::Caller, text, base + 10 * u64::from(seq));
            t.latencies.turn_latency_ms = Some(300 + 97 * (i as u32 * 3 + seq) % 900);
            w.turn_completed(t);
        }
        if i != 8 {
            w.call_ended(CallEnd {
                uuid,
                ended_at: records_suite::at(base + 60_000),
                outcome: CallOutcome::ALL[i as usize % 4],
                transfer_target: None,
                language: None,
                error: None,
            });
        }
    }
    w.flush().await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_queries_give_the_same_answers_on_sqlite_and_postgres() {
    use enclave::records::query::CallFilter;
    let pg = Pg::start();
    let sqlite = Sqlite {
        dir: tempfile::tempdir().unwrap(),
        n: AtomicU32::new(0),
    };
    let (scfg, _) = sqlite.fresh();
    let (pcfg, _) = pg.fresh();
    let on_sqlite = console_history(&scfg).await;
    let on_pg = console_history(&pcfg).await;
    let page = |limit, offset| CallFilter {
        limit,
        offset,
        ..CallFilter::default()
    };
    let filters = vec![
        page(50, 0),
        page(3, 2),
        page(4, 8),
        CallFilter {
            outcomes: vec![CallOutcome::Completed, CallOutcome::CallerHangup],
            ..page(50, 0)
        },
        CallFilter {
            include_running: true,
            ..page(50, 0)
        },
        CallFilter {
            text: Some("balance".into()), // ASCII, other case
            ..page(50, 0)
        },
        CallFilter {
            text: Some("проверю".into()),
            ..page(50, 0)
        },
        CallFilter {
            text: Some("100%_".into()), // wildcards are literal
            ..page(50, 0)
        },
        CallFilter {
            caller_id: Some("00003".into()),
            from_ms: Some(1_700_000_001_000),
            to_ms: Some(1_700_000_003_000),
            ..page(50, 0)
        },
        CallFilter {
            profile: Some("bank".into()),
            ..page(50, 0)
        },
    ];
    for f in &filters {
        let (a, b) = (
            on_sqlite.list_calls(f).unwrap(),
            on_pg.list_calls(f).unwrap(),
        );
        assert_eq!(a, b, "list_calls({f:?})");
    }
    assert_eq!(on_sqlite.list_calls(&page(50, 0)).unwrap().total, 9);
    assert_eq!(on_sqlite.list_calls(&filters[5]).unwrap().total, 9);
    assert_eq!(on_sqlite.list_calls(&filters[7]).unwrap().total, 0);
    let bank = on_sqlite.list_calls(&filters[9]).unwrap();
    assert_eq!(bank.total, 3, "calls 1, 4, 7 were answered by `bank`");
    assert!(bank
        .calls
        .iter()
        .all(|c| c.profile.as_deref() == Some("bank")));
    for i in 0..10u128 {
        let uuid = Uuid::from_u128(0xc0 + i);
        assert_eq!(
            on_sqlite.call_detail(&uuid).unwrap(),
            on_pg.call_detail(&uuid).unwrap(),
            "call_detail({uuid})"
        );
    }
    let (from, to) = (1_699_999_999_000, 1_700_000_100_000);
    let (a, b) = (
        on_sqlite.call_stats(from, to).unwrap(),
        on_pg.call_stats(from, to).unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!((a.calls, a.running), (9, 1));
    assert!(a.turn_latency_ms.p95 >= a.turn_latency_ms.p50 && a.turn_latency_ms.p50.is_some());
    println!(
        "console queries: {} filters, 10 details, stats identical: {a:?}",
        filters.len()
    );
}

// ---- TLS to the database ----------------------------------------------------------------------

/// Whether the store's read connection is encrypted, as the server sees it.
fn connection_is_tls(store: &RecordStore) -> bool {
    store
        .read(|b| {
            let c = b.as_postgres().expect("a PostgreSQL store");
            Ok(c.query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .expect("pg_stat_ssl")
            .get::<_, bool>(0))
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_reach_postgres_over_verified_tls() {
    let (server, ca) = PgServer::start_tls();
    let url = server.create_db();
    // With the CA: TLS, certificate and host name checked; records round-trip.
    let cfg = RecordsConfig {
        backend: RecordsBackendKind::Postgres,
        postgres_url: Some(url.clone()),
        postgres_ca_file: Some(ca.clone()),
        ..RecordsConfig::default()
    };
    let store = records_suite::open(&cfg).await;
    assert!(connection_is_tls(&store), "the connection is encrypted");
    let uuid = Uuid::new_v4();
    assert!(store
        .writer()
        .call_started(records_suite::start(uuid, 1_700_000_000_000)));
    store.writer().flush().await.unwrap();
    assert!(store.load_call(&uuid).unwrap().is_some());
    store.close().await.unwrap();

    // sslmode=require with the CA file: the same.
    let required = RecordsConfig {
        postgres_url: Some(format!("{url}&sslmode=require")),
        ..cfg.clone()
    };
    let store = records_suite::open(&required).await;
    assert!(connection_is_tls(&store));
    store.close().await.unwrap();

    // A CA that did not sign the server's certificate: refused, never sent in plain text.
    let other = tempfile::tempdir().unwrap();
    let wrong_ca = pg_support::make_test_pki(other.path());
    let wrong = RecordsConfig {
        postgres_ca_file: Some(wrong_ca),
        ..cfg.clone()
    };
    let err = records_suite::try_open(&wrong, Arc::new(Metrics::new()))
        .await
        .expect_err("an unknown issuer is refused");
    let text = format!("{err}");
    assert!(
        text.contains("connect") && text.to_lowercase().contains("certificate"),
        "{text}"
    );
    assert!(!text.contains(pg_support::PASSWORD), "{text}");

    // sslmode=disable and a CA file contradict each other: a clear error.
    let contradiction = RecordsConfig {
        postgres_url: Some(format!("{url}&sslmode=disable")),
        ..cfg.clone()
    };
    let err = records_suite::try_open(&contradiction, Arc::new(Metrics::new()))
        .await
        .expect_err("disable + CA file is refused");
    assert!(format!("{err}").contains("postgres_ca_file"), "{err}");

    // No CA and no sslmode: plain TCP, as before (private network, tunnel).
    let plain = RecordsConfig {
        postgres_ca_file: None,
        ..cfg.clone()
    };
    let store = records_suite::open(&plain).await;
    assert!(!connection_is_tls(&store));
    store.close().await.unwrap();
    println!("TLS: verified with the CA, refused with another CA ({text})");
}
