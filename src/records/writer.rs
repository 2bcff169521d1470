//! The records writer: a cheap, never-blocking handle and the one thread that owns the
//! database connection (any [`RecordsBackend`]).
//!
//! Queue choice: a *bounded* channel with `try_send`. A full queue drops the write, counts it
//! in `enclave_records_dropped_total` and logs a warning, instead of blocking the call's task
//! (which would stall audio) or growing memory without bound when the disk stalls. The
//! tradeoff is that under a stalled disk some records are lost; with the default capacity of
//! 4096 writes (minutes of traffic at 200 calls) that takes a disk stalled for a long time.

use super::backend::RecordsBackend;
use super::redact::{redact_digits, redact_json};
use super::retention::{purge, PurgeStats};
use super::types::{CallEnd, CallStart, TurnRecord};
use super::RecordsError;
use crate::metrics::Metrics;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::{broadcast, mpsc, oneshot};

/// What the writer thread has just committed, for live consumers (the console's live view,
/// post-call summaries, campaign results). Sent only after the commit, so a subscriber that
/// reads the database on `CallEnded` sees the whole call. Texts are as stored (redacted).
#[derive(Debug, Clone, PartialEq)]
pub enum RecordEvent {
    /// A call row was written.
    CallStarted {
        /// AudioSocket uuid.
        uuid: uuid::Uuid,
        /// Caller id, if any.
        caller_id: Option<String>,
    },
    /// A turn was written.
    TurnCommitted {
        /// Call the turn belongs to.
        call_uuid: uuid::Uuid,
        /// Order within the call.
        seq: u32,
        /// Who spoke.
        role: super::Role,
        /// What was said, as stored.
        text: String,
        /// Whether the caller barged in over it.
        interrupted: bool,
    },
    /// The call's end was written.
    CallEnded {
        /// AudioSocket uuid.
        uuid: uuid::Uuid,
        /// How it ended.
        outcome: super::CallOutcome,
    },
}

/// Work for the writer thread.
pub(super) enum Command {
    CallStarted(CallStart),
    TurnCompleted(Box<TurnRecord>),
    CallEnded(CallEnd),
    Purge {
        now: SystemTime,
        done: Option<oneshot::Sender<Result<PurgeStats, RecordsError>>>,
    },
    Flush(oneshot::Sender<()>),
    Shutdown,
}

impl Command {
    fn kind(&self) -> &'static str {
        match self {
            Command::CallStarted(_) => "call_started",
            Command::TurnCompleted(_) => "turn_completed",
            Command::CallEnded(_) => "call_ended",
            Command::Purge { .. } => "purge",
            Command::Flush(_) => "flush",
            Command::Shutdown => "shutdown",
        }
    }
}

/// Handle that queues call-record writes; cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct RecordWriter {
    pub(super) tx: mpsc::Sender<Command>,
    pub(super) dropped: Arc<AtomicU64>,
    pub(super) metrics: Arc<Metrics>,
    /// A writer for `records.enabled = false`: discards everything, counts nothing.
    pub(super) disabled: bool,
}

impl RecordWriter {
    /// A writer that discards every record silently (for `records.enabled = false`), so the
    /// call loop needs no `Option`.
    pub fn disabled() -> RecordWriter {
        let (tx, _) = mpsc::channel(1);
        RecordWriter {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            metrics: Arc::new(Metrics::new()),
            disabled: true,
        }
    }

    /// Whether this writer discards everything.
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// Queues "call began". Returns `false` if the write was dropped (queue full or closed).
    pub fn call_started(&self, call: CallStart) -> bool {
        self.enqueue(Command::CallStarted(call))
    }

    /// Queues a completed turn; the writer commits it in its own transaction at once.
    /// Returns `false` if the write was dropped.
    pub fn turn_completed(&self, turn: TurnRecord) -> bool {
        self.enqueue(Command::TurnCompleted(Box::new(turn)))
    }

    /// Queues "call ended". Returns `false` if the write was dropped.
    pub fn call_ended(&self, end: CallEnd) -> bool {
        self.enqueue(Command::CallEnded(end))
    }

    /// Waits until every write queued before this call is committed (tests, shutdown).
    pub async fn flush(&self) -> Result<(), RecordsError> {
        if self.disabled {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Flush(done))
            .await
            .map_err(|_| RecordsError::Closed)?;
        wait.await.map_err(|_| RecordsError::Closed)
    }

    /// Runs the retention purge now (through the writer thread) and reports what it removed.
    pub async fn purge_now(&self) -> Result<PurgeStats, RecordsError> {
        if self.disabled {
            return Ok(PurgeStats::default());
        }
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Purge {
                now: SystemTime::now(),
                done: Some(done),
            })
            .await
            .map_err(|_| RecordsError::Closed)?;
        wait.await.map_err(|_| RecordsError::Closed)?
    }

    /// Writes dropped by this store so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn enqueue(&self, cmd: Command) -> bool {
        if self.disabled {
            return false;
        }
        let kind = cmd.kind();
        match self.tx.try_send(cmd) {
            Ok(()) => true,
            Err(e) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                self.metrics.records_dropped(1);
                // Warn on the first drop and then every 1000th, not once per frame of a storm.
                if n == 1 || n.is_multiple_of(1000) {
                    let why = match e {
                        mpsc::error::TrySendError::Full(_) => "queue full (disk too slow?)",
                        mpsc::error::TrySendError::Closed(_) => "writer stopped",
                    };
                    tracing::warn!(kind, dropped_total = n, "call record write dropped: {why}");
                }
                false
            }
        }
    }
}

/// Settings the writer thread needs.
pub(super) struct WriterSettings {
    pub redact_min_digits: Option<usize>,
    pub retention_days: u32,
    pub recordings_dir: Option<PathBuf>,
    pub db_label: String,
    /// Where committed writes are announced (no receivers is fine).
    pub events: broadcast::Sender<RecordEvent>,
}

/// Body of the writer thread: runs commands in order until `Shutdown` or all handles drop.
pub(super) fn run_writer(
    mut backend: Box<dyn RecordsBackend>,
    mut rx: mpsc::Receiver<Command>,
    settings: WriterSettings,
    metrics: Arc<Metrics>,
) {
    while let Some(cmd) = rx.blocking_recv() {
        let kind = cmd.kind();
        let result = match cmd {
            Command::CallStarted(c) => backend
                .insert_call(&c)
                .map(|()| {
                    let _ = settings.events.send(RecordEvent::CallStarted {
                        uuid: c.uuid,
                        caller_id: c.caller_id.clone(),
                    });
                })
                .map_err(|e| e.to_string()),
            Command::TurnCompleted(t) => {
                let (text, tool_calls) = stored_texts(&t, settings.redact_min_digits);
                backend
                    .insert_turn(&t, &text, &tool_calls)
                    .map(|()| {
                        let _ = settings.events.send(RecordEvent::TurnCommitted {
                            call_uuid: t.call_uuid,
                            seq: t.seq,
                            role: t.role,
                            text,
                            interrupted: t.interrupted,
                        });
                    })
                    .map_err(|e| e.to_string())
            }
            Command::CallEnded(e) => backend
                .update_call_end(&e)
                .map(|()| {
                    let _ = settings.events.send(RecordEvent::CallEnded {
                        uuid: e.uuid,
                        outcome: e.outcome,
                    });
                })
                .map_err(|e| e.to_string()),
            Command::Purge { now, done } => {
                let r = purge(
                    backend.as_mut(),
                    now,
                    settings.retention_days,
                    settings.recordings_dir.as_deref(),
                );
                let outcome = r.as_ref().map(|_| ()).map_err(|e| e.to_string());
                if let Some(done) = done {
                    let _ = done.send(r);
                }
                outcome
            }
            Command::Flush(done) => {
                let _ = done.send(());
                Ok(())
            }
            Command::Shutdown => break,
        };
        if let Err(e) = result {
            metrics.error("records");
            tracing::error!(db = %settings.db_label, kind, error = %e, "call record write failed");
        }
    }
    tracing::debug!(db = %settings.db_label, "records writer stopped");
}

/// The turn's text and tool calls (JSON) as they are stored: redacted when configured, before
/// any backend sees them.
fn stored_texts(t: &TurnRecord, redact_min_digits: Option<usize>) -> (String, String) {
    let (text, tool_calls) = match redact_min_digits {
        Some(min) => {
            let calls: Vec<_> = t
                .tool_calls
                .iter()
                .map(|c| {
                    let mut c = c.clone();
                    c.arguments = redact_json(&c.arguments, min);
                    c.result = redact_json(&c.result, min);
                    c
                })
                .collect();
            (redact_digits(&t.text, min), calls)
        }
        None => (t.text.clone(), t.tool_calls.clone()),
    };
    let tool_calls = serde_json::to_string(&tool_calls).unwrap_or_else(|_| "[]".into());
    (text, tool_calls)
}
