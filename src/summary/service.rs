//! The post-call summary worker: after every `RecordEvent::CallEnded` it loads the call's
//! turns, summarises them ([`super::Summarizer`]), and writes `calls.summary`,
//! `calls.disposition.outcome` and a `call.completed` outbox event in ONE transaction — so the
//! event exists exactly when the summary does, and a crash in between loses neither.
//!
//! Load: calls are summarised one at a time, in the order they ended. While live calls need
//! the model ([`super::Summarizer::busy`]) a summary waits (re-checked every second); after
//! `summary.defer_secs` of waiting it is written extractively, so the queue cannot grow
//! without bound on a box that is always busy. Calls that ended while the agent was down, or
//! that a lagging subscriber missed, are found in the database (`summary IS NULL`).

use super::{CallSummary, Line, Summarizer};
use crate::config::SummaryConfig;
use crate::outbox::{self, NewEvent};
use crate::records::{schema::open_connection, RecordEvent, RecordsError};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Kind of the event written with each summary.
pub const CALL_COMPLETED: &str = "call.completed";

/// The running summary worker.
#[derive(Debug)]
pub struct SummaryService {
    handles: Vec<JoinHandle<()>>,
    cancel: CancellationToken,
}

impl SummaryService {
    /// Starts summarising the calls `events` announce (and, first, those from the last
    /// `catch_up_hours` that have no summary), on its own connection to `db_path`.
    pub fn start(
        summarizer: Arc<Summarizer>,
        cfg: &SummaryConfig,
        events: broadcast::Receiver<RecordEvent>,
        db_path: &Path,
        busy_timeout: Duration,
        cancel: CancellationToken,
    ) -> Result<SummaryService, RecordsError> {
        let conn = open_connection(db_path, busy_timeout)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let catch_up = Duration::from_secs(u64::from(cfg.catch_up_hours) * 3600);
        let listener = tokio::spawn(listen(events, tx, cancel.clone()));
        let worker = tokio::spawn(work(
            summarizer,
            Arc::new(Mutex::new(conn)),
            db_path.to_path_buf(),
            rx,
            catch_up,
            Duration::from_secs(cfg.defer_secs),
            cancel.clone(),
        ));
        Ok(SummaryService {
            handles: vec![listener, worker],
            cancel,
        })
    }

    /// Stops (a summary in progress is abandoned; the next start catches it up).
    pub async fn shutdown(self) {
        self.cancel.cancel();
        for h in self.handles {
            let _ = h.await;
        }
    }
}

/// What the worker is asked to do.
enum Job {
    /// Summarise this call.
    Call(Uuid),
    /// Announcements were missed: look in the database.
    Rescan,
}

async fn listen(
    mut events: broadcast::Receiver<RecordEvent>,
    tx: mpsc::UnboundedSender<Job>,
    cancel: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            e = events.recv() => e,
        };
        let job = match event {
            Ok(RecordEvent::CallEnded { uuid, .. }) => Job::Call(uuid),
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "summary: record events missed; rescanning the database"
                );
                Job::Rescan
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if tx.send(job).is_err() {
            return;
        }
    }
}

async fn work(
    summarizer: Arc<Summarizer>,
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    catch_up: Duration,
    defer: Duration,
    cancel: CancellationToken,
) {
    let mut queue: std::collections::VecDeque<Uuid> = Default::default();
    if !catch_up.is_zero() {
        queue.extend(unsummarised(&conn, catch_up).await);
        if !queue.is_empty() {
            tracing::info!(
                calls = queue.len(),
                "summary: catching up on calls without a summary"
            );
        }
    }
    loop {
        // Take everything announced so far, without waiting.
        while let Ok(job) = jobs.try_recv() {
            push(&mut queue, job, &conn).await;
        }
        let Some(uuid) = queue.pop_front() else {
            let job = tokio::select! {
                _ = cancel.cancelled() => return,
                j = jobs.recv() => j,
            };
            match job {
                Some(job) => push(&mut queue, job, &conn).await,
                None => return,
            }
            continue;
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = summarise_one(&summarizer, &conn, &path, uuid, defer) => {}
        }
    }
}

async fn push(
    queue: &mut std::collections::VecDeque<Uuid>,
    job: Job,
    conn: &Arc<Mutex<Connection>>,
) {
    match job {
        Job::Call(uuid) => {
            if !queue.contains(&uuid) {
                queue.push_back(uuid)
            }
        }
        Job::Rescan => {
            for uuid in unsummarised(conn, Duration::from_secs(24 * 3600)).await {
                if !queue.contains(&uuid) {
                    queue.push_back(uuid);
                }
            }
        }
    }
}

/// Summarises one call and writes the result (waiting out the load up to `defer`).
async fn summarise_one(
    summarizer: &Summarizer,
    conn: &Arc<Mutex<Connection>>,
    path: &Path,
    uuid: Uuid,
    defer: Duration,
) {
    let loaded = {
        let (conn, path) = (Arc::clone(conn), path.to_path_buf());
        blocking(move || {
            let c = conn.lock().unwrap_or_else(|p| p.into_inner());
            crate::records::load_call(&c, &path, &uuid)
        })
        .await
    };
    let call = match loaded {
        Ok(Some(call)) => call,
        Ok(None) => return, // purged meanwhile
        Err(e) => {
            tracing::warn!(%uuid, error = %e, "summary: cannot read the call");
            return;
        }
    };
    let lines: Vec<Line> = call
        .turns
        .iter()
        .map(|t| Line::new(t.role, t.text.clone()))
        .collect();
    let outcome = call.outcome.map(|o| o.as_str()).unwrap_or("unknown");
    let t0 = Instant::now();
    let summary = loop {
        match summarizer.summarize_call(&lines, outcome).await {
            Ok(s) => break s,
            Err(_) if t0.elapsed() >= defer => {
                tracing::info!(%uuid, waited_s = t0.elapsed().as_secs(), "summary: still busy; writing the extractive summary");
                break CallSummary {
                    summary: super::extractive(&lines),
                    summary_source: super::Source::Extractive,
                    outcome: super::extractive_outcome(),
                };
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    };
    let took_ms = t0.elapsed().as_millis() as u64;
    let written = {
        let conn = Arc::clone(conn);
        let summary = summary.clone();
        blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            write_summary(&mut c, &uuid, &summary)
        })
        .await
    };
    match written {
        Ok(Some(event_id)) => {
            outbox::wake();
            super::metrics::post_call(
                summary.summary_source == super::Source::Llm,
                t0.elapsed().as_secs_f64(),
            );
            tracing::info!(
                %uuid,
                took_ms,
                source = ?summary.summary_source,
                event_id = %event_id,
                "call summarised; call.completed queued"
            );
        }
        Ok(None) => {}
        Err(e) => {
            crate::metrics::global().error("summary");
            tracing::error!(%uuid, error = %e, "summary: cannot write it");
        }
    }
}

/// Writes the summary and the outcome of call `uuid` and enqueues its `call.completed` event,
/// in one transaction. Does nothing (returns `None`) when the call already has a summary.
pub fn write_summary(
    conn: &mut Connection,
    uuid: &Uuid,
    s: &CallSummary,
) -> rusqlite::Result<Option<String>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let outcome = json!({
        "intent": s.outcome.intent,
        "resolved": s.outcome.resolved,
        "follow_up": s.outcome.follow_up,
        "source": s.outcome.source,
        "summary_source": s.summary_source,
    });
    let changed = tx.execute(
        "UPDATE calls SET summary = ?2,
             disposition = json_set(coalesce(disposition, '{}'), '$.outcome', json(?3))
         WHERE uuid = ?1 AND summary IS NULL",
        params![uuid.to_string(), s.summary, outcome.to_string()],
    )?;
    if changed == 0 {
        return Ok(None);
    }
    let row = tx
        .query_row(
            "SELECT caller_id, started_at, ended_at, duration_ms, outcome, transfer_target,
                    language, disposition, (SELECT count(*) FROM turns WHERE call_uuid = ?1)
             FROM calls WHERE uuid = ?1",
            params![uuid.to_string()],
            |r| {
                Ok(json!({
                    "call_uuid": uuid.to_string(),
                    "caller_id": r.get::<_, Option<String>>(0)?,
                    "started_at": r.get::<_, i64>(1)?,
                    "ended_at": r.get::<_, Option<i64>>(2)?,
                    "duration_ms": r.get::<_, Option<i64>>(3)?,
                    "outcome": r.get::<_, Option<String>>(4)?,
                    "transfer_target": r.get::<_, Option<String>>(5)?,
                    "language": r.get::<_, Option<String>>(6)?,
                    "disposition": r.get::<_, Option<String>>(7)?
                        .and_then(|d| serde_json::from_str::<Value>(&d).ok()),
                    "turns": r.get::<_, i64>(8)?,
                    "summary": s.summary,
                }))
            },
        )
        .optional()?;
    let Some(payload) = row else {
        return Ok(None);
    };
    let event_id = outbox::enqueue(
        &tx,
        &NewEvent {
            kind: CALL_COMPLETED.into(),
            key: uuid.to_string(),
            payload,
        },
    )?;
    tx.commit()?;
    Ok(Some(event_id))
}

/// Calls that ended within `window` and have no summary yet, oldest first.
async fn unsummarised(conn: &Arc<Mutex<Connection>>, window: Duration) -> Vec<Uuid> {
    let conn = Arc::clone(conn);
    let since = crate::records::unix_ms(
        SystemTime::now()
            .checked_sub(window)
            .unwrap_or(SystemTime::UNIX_EPOCH),
    );
    let found = blocking(move || {
        let c = conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = c.prepare(
            "SELECT uuid FROM calls WHERE summary IS NULL AND ended_at IS NOT NULL
             AND ended_at >= ?1 ORDER BY ended_at",
        )?;
        let rows = stmt.query_map(params![since], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<Vec<String>>>()
    })
    .await;
    match found {
        Ok(ids) => ids.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "summary: cannot look for calls without a summary");
            Vec::new()
        }
    }
}

/// Runs database work on a blocking thread; a panic there becomes an error of type `E`.
async fn blocking<T: Send + 'static, E: Send + 'static + BlockingFailure>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(E::thread_failed(format!("summary database thread: {e}"))))
}

/// Errors a failed blocking thread can be reported as.
trait BlockingFailure {
    fn thread_failed(message: String) -> Self;
}

impl BlockingFailure for rusqlite::Error {
    fn thread_failed(message: String) -> Self {
        rusqlite::Error::ToSqlConversionFailure(Box::new(std::io::Error::other(message)))
    }
}

impl BlockingFailure for RecordsError {
    fn thread_failed(message: String) -> Self {
        RecordsError::Io {
            what: message,
            source: std::io::Error::other("thread failed"),
        }
    }
}
