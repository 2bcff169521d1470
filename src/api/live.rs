//! `/api/live` (the calls in progress) and `/api/live/events` (server-sent events from the
//! records' committed-event broadcast: a snapshot, then each call start, turn and end).

use super::{ApiError, ApiState};
use crate::records::RecordEvent;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// Most event streams open at once; more are answered 503 (each holds a connection and a
/// subscription, so an unbounded number would let one client exhaust them).
pub const MAX_EVENT_STREAMS: usize = 64;

/// Keeps the live table's turn counts and caller ids up to date from committed records.
pub(super) fn spawn_tracker(state: &Arc<ApiState>, cancel: CancellationToken) {
    let Some(mut rx) = state.subscribe() else {
        return;
    };
    let live = state.live.clone();
    tokio::spawn(async move {
        loop {
            let e = tokio::select! {
                _ = cancel.cancelled() => break,
                e = rx.recv() => e,
            };
            match e {
                Ok(e) => live.observe(&e),
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "live-calls tracker fell behind the records")
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

/// `GET /api/live`.
pub async fn snapshot(State(state): State<Arc<ApiState>>) -> Json<serde_json::Value> {
    Json(json!({ "calls": state.live.snapshot() }))
}

fn event_json(e: &RecordEvent, state: &ApiState) -> Event {
    let now = crate::records::unix_ms(std::time::SystemTime::now());
    let (name, data) = match e {
        RecordEvent::CallStarted { uuid, caller_id } => (
            "call_started",
            json!({
                "uuid": uuid, "caller_id": caller_id, "started_at_ms": now,
                "profile": state.live.profile_of(uuid),
            }),
        ),
        RecordEvent::TurnCommitted {
            call_uuid,
            seq,
            role,
            text,
            interrupted,
        } => (
            "turn",
            json!({
                "call_uuid": call_uuid, "seq": seq, "role": role, "text": text,
                "interrupted": interrupted,
            }),
        ),
        RecordEvent::CallEnded { uuid, outcome } => {
            ("call_ended", json!({ "uuid": uuid, "outcome": outcome }))
        }
    };
    Event::default().event(name).data(data.to_string())
}

/// `GET /api/live/events`.
pub async fn events(
    State(state): State<Arc<ApiState>>,
) -> Result<Sse<impl futures::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Subscribe before the snapshot, so nothing between the two is lost (a call may then
    // appear in both: clients key calls by uuid).
    let Some(rx) = state.subscribe() else {
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "live events need call records ([records] enabled = true)",
        ));
    };
    let Ok(permit) = Arc::clone(&state.streams).try_acquire_owned() else {
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_EVENT_STREAMS} live event streams are open already; close one"),
        ));
    };
    let first = Event::default()
        .event("snapshot")
        .data(json!({ "calls": state.live.snapshot() }).to_string());
    let stop = state.shutdown.clone();
    let stream = futures::stream::unfold(
        (Some(first), rx, state, stop, permit),
        |(first, mut rx, state, stop, permit)| async move {
            if let Some(ev) = first {
                return Some((Ok(ev), (None, rx, state, stop, permit)));
            }
            let r = tokio::select! {
                _ = stop.cancelled() => return None,
                r = rx.recv() => r,
            };
            let ev = match r {
                Ok(e) => event_json(&e, &state),
                Err(RecvError::Lagged(n)) => Event::default()
                    .event("lagged")
                    .data(json!({ "missed": n }).to_string()),
                Err(RecvError::Closed) => return None,
            };
            Some((Ok(ev), (None, rx, state, stop, permit)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
