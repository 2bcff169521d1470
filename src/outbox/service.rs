//! Starting the delivery workers `[events]` configures, and the retention of delivered events.

use super::backoff::Backoff;
use super::kafka::KafkaSink;
use super::webhook::WebhookSink;
use super::worker::{self, Sink, WorkerSettings};
use crate::config::EventsConfig;
use crate::records::schema::open_connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often delivered events are pruned.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// Why event delivery could not start.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The configuration is unusable (secret file, URL).
    #[error("[events]: {0}")]
    Config(String),
    /// The records database could not be opened.
    #[error(transparent)]
    Records(#[from] crate::records::RecordsError),
}

/// The pacing of every worker, from `[events]`.
pub fn settings(cfg: &EventsConfig) -> WorkerSettings {
    WorkerSettings {
        backoff: Backoff {
            initial: Duration::from_millis(cfg.retry_initial_ms),
            max: Duration::from_millis(cfg.retry_max_ms),
        },
        max_attempts: cfg.max_attempts,
        batch_size: cfg.batch_size,
        poll_interval: Duration::from_millis(cfg.poll_interval_ms),
    }
}

/// The sinks `[events]` turns on.
pub fn sinks(cfg: &EventsConfig) -> Result<Vec<Arc<dyn Sink>>, OutboxError> {
    let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
    if cfg.webhook_enabled() {
        let url = cfg.webhook_url.as_deref().unwrap_or_default();
        let secret = cfg
            .webhook_secret()
            .map_err(|e| OutboxError::Config(e.to_string()))?;
        if secret.is_empty() {
            return Err(OutboxError::Config(
                "the webhook secret is empty; set events.webhook_secret or webhook_secret_file"
                    .into(),
            ));
        }
        let sink = WebhookSink::new(
            url,
            secret.as_bytes(),
            Duration::from_millis(cfg.webhook_timeout_ms),
        )
        .map_err(OutboxError::Config)?;
        sinks.push(Arc::new(sink));
    }
    if cfg.kafka_enabled() {
        sinks.push(Arc::new(KafkaSink::new(
            cfg.kafka_brokers.clone(),
            cfg.kafka_topic.clone(),
            cfg.kafka_partitions,
            Duration::from_millis(cfg.kafka_timeout_ms),
        )));
    }
    Ok(sinks)
}

/// Starts the worker of `sink` on its own connection to the database at `db_path`.
pub fn spawn_worker(
    sink: Arc<dyn Sink>,
    db_path: &Path,
    settings: WorkerSettings,
    busy_timeout: Duration,
    cancel: CancellationToken,
) -> Result<JoinHandle<()>, OutboxError> {
    let conn = open_connection(db_path, busy_timeout)?;
    Ok(tokio::spawn(worker::run(sink, conn, settings, cancel)))
}

/// The running delivery workers and the retention task.
#[derive(Debug)]
pub struct OutboxService {
    handles: Vec<JoinHandle<()>>,
    cancel: CancellationToken,
}

impl OutboxService {
    /// Starts one worker per configured sink and the pruning of delivered events; `None`
    /// when `[events]` is off or names no sink.
    pub fn start(
        cfg: &EventsConfig,
        db_path: &Path,
        busy_timeout: Duration,
        cancel: CancellationToken,
    ) -> Result<Option<OutboxService>, OutboxError> {
        if !cfg.enabled {
            return Ok(None);
        }
        let sinks = sinks(cfg)?;
        if sinks.is_empty() {
            tracing::warn!("[events] is enabled but names no sink (webhook_url, kafka_brokers)");
            return Ok(None);
        }
        let names: Vec<String> = sinks.iter().map(|s| s.name().to_string()).collect();
        let mut handles = Vec::new();
        for sink in sinks {
            handles.push(spawn_worker(
                sink,
                db_path,
                settings(cfg),
                busy_timeout,
                cancel.child_token(),
            )?);
        }
        if cfg.retention_days > 0 {
            let conn = open_connection(db_path, busy_timeout)?;
            handles.push(spawn_retention(
                conn,
                db_path.to_path_buf(),
                cfg.retention_days,
                names.clone(),
                cancel.child_token(),
            ));
        }
        tracing::info!(sinks = ?names, "result-event delivery started");
        Ok(Some(OutboxService { handles, cancel }))
    }

    /// Stops the workers (what is not yet delivered stays in the outbox for the next start).
    pub async fn shutdown(self) {
        self.cancel.cancel();
        for h in self.handles {
            let _ = h.await;
        }
    }
}

/// Prunes events every sink has finished with, older than `days`, at once and then hourly.
fn spawn_retention(
    conn: rusqlite::Connection,
    path: PathBuf,
    days: u32,
    sinks: Vec<String>,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    let conn = Arc::new(std::sync::Mutex::new(conn));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRUNE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            let (conn, sinks) = (Arc::clone(&conn), sinks.clone());
            let cutoff = SystemTime::now()
                .checked_sub(Duration::from_secs(u64::from(days) * 86_400))
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let result = tokio::task::spawn_blocking(move || {
                let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
                let refs: Vec<&str> = sinks.iter().map(String::as_str).collect();
                super::store::prune(&mut c, crate::records::unix_ms(cutoff), &refs)
            })
            .await;
            match result {
                Ok(Ok(n)) if n > 0 => {
                    tracing::info!(db = %path.display(), events = n, days, "delivered result events pruned")
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(db = %path.display(), error = %e, "pruning result events")
                }
                Err(e) => tracing::warn!(error = %e, "pruning result events: thread failed"),
            }
        }
    })
}
