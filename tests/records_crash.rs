//! Crash safety: a process killed with SIGKILL loses no turn whose commit it had reported.
//!
//! The parent re-runs this test binary with `--exact crash_child_writes_turns_until_killed`
//! and an environment variable naming the database. The child writes turns in a tight loop,
//! printing `committed <seq>` after each `flush()` returned (the turn's transaction is
//! committed). After `N` such lines the parent SIGKILLs it while it writes turn N+1 and later
//! ones, reopens the database, and checks that every reported turn is there, intact.

use enclave::config::RecordsConfig;
use enclave::records::{CallStart, ModelsUsed, RecordStore, Role, TurnLatencies, TurnRecord};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};
use uuid::Uuid;

const CHILD_DB_ENV: &str = "ENCLAVE_RECORDS_CRASH_CHILD_DB";
const CHILD_UUID_ENV: &str = "ENCLAVE_RECORDS_CRASH_CHILD_UUID";
const REPORTED_TURNS: u32 = 25;

fn turn_text(seq: u32) -> String {
    // Long enough that a turn spans several pages, so the kill lands inside a write.
    format!("turn {seq}: {}", "ничего страшного, ".repeat(300))
}

/// Child mode: only does something when the parent sets the environment variable.
#[tokio::test]
async fn crash_child_writes_turns_until_killed() {
    let (Ok(db), Ok(uuid)) = (std::env::var(CHILD_DB_ENV), std::env::var(CHILD_UUID_ENV)) else {
        return; // run as an ordinary test: nothing to do
    };
    let uuid: Uuid = uuid.parse().unwrap();
    let store = RecordStore::open(db.as_ref(), &RecordsConfig::default()).unwrap();
    let w = store.writer();
    w.call_started(CallStart {
        uuid,
        caller_id: None,
        started_at: SystemTime::now(),
        language: Some("ru".into()),
        models: ModelsUsed::default(),
        profile: None,
    });
    for seq in 0.. {
        let now = SystemTime::now();
        assert!(w.turn_completed(TurnRecord {
            call_uuid: uuid,
            seq,
            role: if seq % 2 == 0 {
                Role::Caller
            } else {
                Role::Agent
            },
            text: turn_text(seq),
            started_at: now,
            ended_at: now,
            latencies: TurnLatencies {
                turn_latency_ms: Some(seq),
                ..Default::default()
            },
            interrupted: false,
            tool_calls: Vec::new(),
        }));
        w.flush().await.unwrap();
        println!("committed {seq}");
    }
}

#[test]
fn sigkill_mid_write_loses_no_committed_turn() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.sqlite3");
    let uuid = Uuid::new_v4();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writes_turns_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB_ENV, &db)
        .env(CHILD_UUID_ENV, uuid.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(seq) = line.strip_prefix("committed ") {
                if tx.send(seq.trim().parse::<u32>().unwrap()).is_err() {
                    break;
                }
            }
        }
    });
    let mut last_reported = None;
    while last_reported.is_none_or(|s| s + 1 < REPORTED_TURNS) {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(seq) => last_reported = Some(seq),
            Err(e) => {
                let _ = child.kill();
                panic!("child reported no commit ({e}); last {last_reported:?}");
            }
        }
    }
    // The child is already writing the next turn(s): kill it now, no chance to clean up.
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "child must have been killed, got {status:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }
    let reported = last_reported.unwrap();

    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    let store = RecordStore::open(&db, &RecordsConfig::default()).unwrap();
    let call = store.load_call(&uuid).unwrap().expect("call row survived");
    assert!(
        call.turns.len() as u32 > reported,
        "reported {} committed turns, found {}",
        reported + 1,
        call.turns.len()
    );
    for (i, t) in call.turns.iter().enumerate() {
        assert_eq!(t.seq, i as u32, "turns are contiguous");
        assert_eq!(t.text, turn_text(t.seq), "turn {} intact", t.seq);
        assert_eq!(t.latencies.turn_latency_ms, Some(t.seq));
    }
    assert!(call.outcome.is_none(), "the call never ended");
}
