//! Result events for the business systems (1C, CRMs): the transactional outbox.
//!
//! Whoever decides something a business system must hear of (a call ended, a contact's final
//! result) calls [`enqueue`] inside the same SQLite transaction that records the decision. The
//! delivery workers (webhook, Kafka) read `outbox` in `seq` order and track each sink's progress
//! in `outbox_deliveries`; delivery is at least once and `event_id` is the consumers'
//! de-duplication key. See [`worker`] for ordering and head-of-line behaviour, [`webhook`]
//! for the signature a receiver checks, [`kafka`] for keys and partitions.

pub mod backoff;
pub mod kafka;
pub mod metrics;
pub mod service;
pub mod store;
pub mod webhook;
pub mod worker;

pub use service::{OutboxError, OutboxService};
pub use worker::{BatchOutcome, Sink, SinkError, WorkerSettings};

use rusqlite::{params, Connection};
use serde_json::Value;
use std::sync::LazyLock;
use std::time::SystemTime;
use uuid::Uuid;

/// Bumped by [`wake`]: the delivery workers of this process wait on it between polls.
static WAKE: LazyLock<tokio::sync::watch::Sender<u64>> =
    LazyLock::new(|| tokio::sync::watch::channel(0).0);

/// Tells this process's delivery workers that events were committed (call it after the
/// transaction that enqueued them); without it they find them at the next poll.
pub fn wake() {
    WAKE.send_modify(|n| *n = n.wrapping_add(1));
}

pub(crate) fn wake_receiver() -> tokio::sync::watch::Receiver<u64> {
    WAKE.subscribe()
}

/// One event to publish: its kind, partition key and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// What happened, dotted: `call.completed`, `contact.attempt`, `contact.result`.
    pub kind: String,
    /// Partition key (Kafka message key): the contact's external id, else the call uuid.
    pub key: String,
    /// The event body; [`enqueue`] adds `event_id`, `kind` and `created_at` to it.
    pub payload: Value,
}

/// An event as stored, ready to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Delivery order.
    pub seq: i64,
    /// Idempotency key.
    pub event_id: String,
    /// See [`NewEvent::kind`].
    pub kind: String,
    /// See [`NewEvent::key`].
    pub key: String,
    /// The full JSON body (with `event_id`, `kind`, `created_at`).
    pub payload: Value,
    /// Unix ms.
    pub created_at: i64,
}

/// Writes `event` to the outbox on `conn` (call it inside the caller's transaction) and returns
/// its `event_id`.
pub fn enqueue(conn: &Connection, event: &NewEvent) -> rusqlite::Result<String> {
    let event_id = Uuid::new_v4().to_string();
    let created_at = crate::records::unix_ms(SystemTime::now());
    let mut body = match &event.payload {
        Value::Object(map) => map.clone(),
        other => {
            let mut map = serde_json::Map::new();
            map.insert("data".into(), other.clone());
            map
        }
    };
    body.insert("event_id".into(), Value::String(event_id.clone()));
    body.insert("kind".into(), Value::String(event.kind.clone()));
    body.insert("created_at".into(), Value::from(created_at));
    conn.execute(
        "INSERT INTO outbox (event_id, kind, key, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            event_id,
            event.kind,
            event.key,
            Value::Object(body).to_string(),
            created_at
        ],
    )?;
    Ok(event_id)
}

/// The events after `after_seq`, oldest first, at most `limit`.
pub fn events_after(
    conn: &Connection,
    after_seq: i64,
    limit: usize,
) -> rusqlite::Result<Vec<StoredEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, event_id, kind, key, payload, created_at FROM outbox
         WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after_seq, limit as i64], |r| {
        let payload: String = r.get(4)?;
        Ok(StoredEvent {
            seq: r.get(0)?,
            event_id: r.get(1)?,
            kind: r.get(2)?,
            key: r.get(3)?,
            payload: serde_json::from_str(&payload).unwrap_or(Value::String(payload)),
            created_at: r.get(5)?,
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::schema::open_connection;
    use std::time::Duration;

    #[test]
    fn enqueued_events_come_back_in_order_with_their_ids() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_connection(&dir.path().join("r.db"), Duration::from_secs(1)).unwrap();
        let a = enqueue(
            &conn,
            &NewEvent {
                kind: "contact.result".into(),
                key: "ext-1".into(),
                payload: serde_json::json!({"code": 1}),
            },
        )
        .unwrap();
        let b = enqueue(
            &conn,
            &NewEvent {
                kind: "call.completed".into(),
                key: "uuid-2".into(),
                payload: serde_json::json!("x"),
            },
        )
        .unwrap();
        assert_ne!(a, b);
        let events = events_after(&conn, 0, 10).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_id, a);
        assert_eq!(events[0].payload["code"], 1);
        assert_eq!(events[0].payload["event_id"], a.as_str());
        assert_eq!(events[1].payload["data"], "x");
        assert_eq!(events_after(&conn, events[0].seq, 10).unwrap().len(), 1);
    }
}
