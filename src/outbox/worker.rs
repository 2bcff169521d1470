//! One delivery worker per sink: reads the outbox in `seq` order, hands batches to the sink,
//! and records every acknowledgement and failure in `outbox_deliveries` before going on.
//!
//! **Order and head-of-line blocking.** A sink gets events strictly in `seq` order: when the
//! head event fails transiently it is retried (backoff from [`super::backoff`], the next
//! attempt time persisted) and nothing behind it is sent until it is delivered. That keeps the
//! events of one contact in order (1C needs `contact.attempt` before `contact.result`), at the
//! price that one event the receiver keeps failing with 5xx holds the whole sink back
//! (visible in `enclave_outbox_pending{sink}`); other sinks are independent. A *permanent*
//! failure (webhook 4xx) dead-letters that one event (logged, counted, kept in the table,
//! [`super::store::requeue_dead_letters`] replays it) and delivery goes on with the next.
//!
//! **At least once.** Progress lives only in SQLite: a worker killed between the receiver's
//! acknowledgement and the commit of `delivered_at` sends that batch again after a restart, so
//! receivers de-duplicate on `event_id`. Nothing is acknowledged before the sink confirmed it.

use super::backoff::Backoff;
use super::metrics::SinkMetrics;
use super::store::{self, PendingEvent, DEAD_LETTER};
use super::StoredEvent;
use futures::future::BoxFuture;
use rusqlite::Connection;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// Why a sink could not deliver an event.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SinkError {
    /// Worth trying again (receiver down, 5xx, 408/429, timeout): retried with backoff.
    #[error("{message}")]
    Retry {
        /// What happened.
        message: String,
        /// The receiver asked for at least this wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Will never succeed as it is (4xx, message too large): dead-lettered.
    #[error("{0}")]
    Permanent(String),
}

impl SinkError {
    /// A transient failure without a requested wait.
    pub fn retry(message: impl Into<String>) -> Self {
        SinkError::Retry {
            message: message.into(),
            retry_after: None,
        }
    }
}

/// What a sink did with a batch: the first `delivered` events are acknowledged; `error`, if
/// any, is what happened to the event right after them (later ones were not sent).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutcome {
    /// Acknowledged prefix length.
    pub delivered: usize,
    /// The failure of event `delivered`.
    pub error: Option<SinkError>,
}

/// Somewhere events go: a webhook, a Kafka topic.
pub trait Sink: Send + Sync + 'static {
    /// The `sink` value in `outbox_deliveries` and in metric labels (stable across restarts).
    fn name(&self) -> &str;

    /// Delivers `events` in order, stopping at the first failure.
    fn deliver<'a>(&'a self, events: &'a [StoredEvent]) -> BoxFuture<'a, BatchOutcome>;
}

/// How a worker paces itself.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// Retry delays.
    pub backoff: Backoff,
    /// Attempts before a transient failure is dead-lettered (0 = never).
    pub max_attempts: u32,
    /// Events per round.
    pub batch_size: usize,
    /// Idle poll interval.
    pub poll_interval: Duration,
}

/// Runs the delivery loop of `sink` over the database at `conn` until `cancel`.
pub async fn run(
    sink: Arc<dyn Sink>,
    conn: Connection,
    settings: WorkerSettings,
    cancel: CancellationToken,
) {
    let name = sink.name().to_string();
    let metrics = super::metrics::sink(&name);
    let conn = Arc::new(Mutex::new(conn));
    let mut wake = super::wake_receiver();
    let mut cursor = 0i64; // every event up to here is done for this sink
    tracing::info!(sink = %name, "outbox delivery worker started");
    while !cancel.is_cancelled() {
        let batch = {
            let name = name.clone();
            let limit = settings.batch_size;
            db(&conn, move |c| {
                let batch = store::pending(c, &name, cursor, limit)?;
                let count = store::pending_count(c, &name, cursor)?;
                Ok((batch, count))
            })
            .await
        };
        let (batch, pending) = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(sink = %name, error = %e, "outbox: cannot read pending events");
                crate::metrics::global().error("outbox");
                if sleep_or_cancel(settings.poll_interval * 5, &cancel).await {
                    break;
                }
                continue;
            }
        };
        metrics.set_pending(pending);
        let Some(head) = batch.first() else {
            tokio::select! {
                _ = cancel.cancelled() => break,
                // A wake (events committed, dead letters requeued) rescans from the start:
                // a requeued event sits before the cursor.
                _ = wake.changed() => cursor = 0,
                _ = tokio::time::sleep(settings.poll_interval) => {}
            }
            continue;
        };
        cursor = cursor.max(head.event.seq - 1);
        let now = now_ms();
        if head.next_attempt_at > now {
            // Waiting out the head's backoff (persisted: a restart waits too).
            let wait = Duration::from_millis((head.next_attempt_at - now) as u64);
            if sleep_or_cancel(wait.min(Duration::from_secs(60)), &cancel).await {
                break;
            }
            continue;
        }
        let events: Vec<StoredEvent> = batch.iter().map(|p| p.event.clone()).collect();
        let outcome = tokio::select! {
            _ = cancel.cancelled() => break,
            o = sink.deliver(&events) => o,
        };
        let delivered = outcome.delivered.min(batch.len());
        if delivered > 0 {
            let ids: Vec<String> = batch[..delivered]
                .iter()
                .map(|p| p.event.event_id.clone())
                .collect();
            let sink_name = name.clone();
            let stored = db(&conn, move |c| {
                let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                store::mark_delivered(c, &sink_name, &refs, now_ms())
            })
            .await;
            match stored {
                Ok(()) => {
                    metrics.delivered(delivered as u64);
                    cursor = batch[delivered - 1].event.seq;
                }
                Err(e) => {
                    // Delivered but not recorded: it will be sent again (at least once).
                    tracing::error!(sink = %name, error = %e, "outbox: cannot record deliveries");
                    crate::metrics::global().error("outbox");
                    if sleep_or_cancel(settings.poll_interval * 5, &cancel).await {
                        break;
                    }
                    continue;
                }
            }
        }
        if let (Some(error), Some(failed)) = (outcome.error, batch.get(delivered)) {
            metrics.failed();
            if let Err(e) = record_failure(&conn, &name, failed, &error, &settings, &metrics).await
            {
                tracing::error!(sink = %name, error = %e, "outbox: cannot record a failure");
                crate::metrics::global().error("outbox");
                if sleep_or_cancel(settings.poll_interval * 5, &cancel).await {
                    break;
                }
            }
        }
    }
    tracing::info!(sink = %name, "outbox delivery worker stopped");
}

/// Persists a failed attempt: the next attempt time, or the dead letter.
async fn record_failure(
    conn: &Arc<Mutex<Connection>>,
    sink: &str,
    event: &PendingEvent,
    error: &SinkError,
    settings: &WorkerSettings,
    metrics: &SinkMetrics,
) -> rusqlite::Result<()> {
    let attempts = event.attempts + 1;
    let (next, why) = match error {
        SinkError::Permanent(m) => (DEAD_LETTER, format!("permanent: {m}")),
        SinkError::Retry { .. }
            if settings.max_attempts > 0 && attempts >= settings.max_attempts =>
        {
            (
                DEAD_LETTER,
                format!("gave up after {attempts} attempts: {error}"),
            )
        }
        SinkError::Retry {
            message,
            retry_after,
        } => {
            let delay = settings.backoff.delay(attempts, *retry_after);
            (now_ms() + delay.as_millis() as i64, message.clone())
        }
    };
    if next == DEAD_LETTER {
        metrics.dead_lettered();
        tracing::error!(
            sink,
            event_id = %event.event.event_id,
            kind = %event.event.kind,
            attempts,
            error = %why,
            "outbox: event dead-lettered (not retried; requeue it once the receiver is fixed)"
        );
    } else {
        tracing::warn!(
            sink,
            event_id = %event.event.event_id,
            attempts,
            retry_in_ms = next - now_ms(),
            error = %why,
            "outbox: delivery failed; will retry"
        );
    }
    let (sink, id) = (sink.to_string(), event.event.event_id.clone());
    db(conn, move |c| {
        store::mark_failed(c, &sink, &id, &why, next).map(|_| ())
    })
    .await
}

/// Runs `f` on the worker's connection on a blocking thread.
async fn db<T: Send + 'static>(
    conn: &Arc<Mutex<Connection>>,
    f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
) -> rusqlite::Result<T> {
    let conn = Arc::clone(conn);
    tokio::task::spawn_blocking(move || {
        let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c)
    })
    .await
    .unwrap_or_else(|e| {
        Err(rusqlite::Error::ToSqlConversionFailure(Box::new(
            std::io::Error::other(format!("outbox database thread: {e}")),
        )))
    })
}

/// Sleeps `d`; `true` when cancelled meanwhile.
async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}

fn now_ms() -> i64 {
    crate::records::unix_ms(SystemTime::now())
}
