//! `/api/calls`, `/api/calls/{uuid}`, `/api/calls/{uuid}/recording`, `/api/stats`.

use super::{ApiError, ApiState};
use crate::records::query::{self, CallFilter};
use crate::records::CallOutcome;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use uuid::Uuid;

/// Largest page.
pub const MAX_LIMIT: u32 = 500;

/// Query of `GET /api/calls`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    from: Option<i64>,
    to: Option<i64>,
    outcome: Option<String>,
    q: Option<String>,
    caller_id: Option<String>,
    profile: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
}

/// A listing row plus whether its recording exists.
#[derive(Debug, Serialize)]
struct CallRow {
    #[serde(flatten)]
    call: query::CallListItem,
    has_recording: bool,
}

#[derive(Debug, Serialize)]
struct PageBody {
    calls: Vec<CallRow>,
    total: u64,
    limit: u32,
    offset: u64,
    next_offset: Option<u64>,
}

impl ListQuery {
    fn filter(&self) -> Result<CallFilter, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit {limit}: allowed 1..={MAX_LIMIT}"
            )));
        }
        let mut f = CallFilter {
            from_ms: self.from,
            to_ms: self.to,
            text: self.q.clone(),
            caller_id: self.caller_id.clone(),
            profile: self.profile.clone(),
            limit,
            offset: self.offset.unwrap_or(0),
            ..CallFilter::default()
        };
        if let Some(list) = &self.outcome {
            for o in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if o == "running" {
                    f.include_running = true;
                } else {
                    f.outcomes.push(CallOutcome::parse(o).ok_or_else(|| {
                        let all: Vec<&str> = CallOutcome::ALL.iter().map(|o| o.as_str()).collect();
                        ApiError::bad_request(format!(
                            "outcome `{o}`: allowed {}, running",
                            all.join(", ")
                        ))
                    })?);
                }
            }
        }
        Ok(f)
    }
}

fn has_recording(state: &ApiState, uuid: &Uuid) -> bool {
    state
        .recordings_dir
        .as_ref()
        .is_some_and(|d| crate::records::recording_path(d, &uuid.to_string()).is_file())
}

/// `GET /api/calls`.
pub async fn list(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<impl Serialize>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let filter = q.filter()?;
    let page = state.records(move |r| r.list_calls(&filter)).await?;
    let (limit, offset) = (q.limit.unwrap_or(50), q.offset.unwrap_or(0));
    let next = offset + page.calls.len() as u64;
    let calls = page
        .calls
        .into_iter()
        .map(|call| CallRow {
            has_recording: has_recording(&state, &call.uuid),
            call,
        })
        .collect();
    Ok(Json(PageBody {
        calls,
        total: page.total,
        limit,
        offset,
        next_offset: (next < page.total).then_some(next),
    }))
}

fn parse_uuid(s: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(s).map_err(|_| ApiError::bad_request(format!("`{s}` is not a call uuid")))
}

/// `GET /api/calls/{uuid}`.
pub async fn detail(
    State(state): State<Arc<ApiState>>,
    Path(uuid): Path<String>,
) -> Result<Response, ApiError> {
    let uuid = parse_uuid(&uuid)?;
    let detail = state.records(move |r| r.call_detail(&uuid)).await?;
    let Some(detail) = detail else {
        return Err(ApiError::not_found(format!("no call {uuid}")));
    };
    let mut v = serde_json::to_value(&detail).map_err(|e| ApiError::internal(e.to_string()))?;
    v["has_recording"] = serde_json::Value::Bool(has_recording(&state, &uuid));
    v["turn_count"] = serde_json::Value::from(detail.turns.len());
    Ok(Json(v).into_response())
}

/// Query of `GET /api/stats`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    from: Option<i64>,
    to: Option<i64>,
}

/// `GET /api/stats` (default range: since 00:00 UTC today).
pub async fn stats(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<query::CallStats>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let now = crate::records::unix_ms(std::time::SystemTime::now());
    let from = q.from.unwrap_or(now - now.rem_euclid(86_400_000));
    let to = q.to.unwrap_or(now + 1);
    if to <= from {
        return Err(ApiError::bad_request("`to` must be after `from`"));
    }
    Ok(Json(state.records(move |r| r.call_stats(from, to)).await?))
}

/// A parsed `Range` header against a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No (usable) range: the whole file.
    Whole,
    /// Bytes `start..=end`.
    Part {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// Cannot be satisfied: 416.
    Unsatisfiable,
}

/// Parses one `bytes=` range (RFC 9110 §14.1.2). Several ranges, other units or a malformed
/// header are answered with the whole file, as the RFC allows.
pub fn parse_range(header: Option<&str>, len: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // Suffix: the last `b` bytes.
        let Ok(n) = b.parse::<u64>() else {
            return ByteRange::Whole;
        };
        if n == 0 || len == 0 {
            return ByteRange::Unsatisfiable;
        }
        return ByteRange::Part {
            start: len.saturating_sub(n),
            end: len - 1,
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return ByteRange::Whole;
    };
    let end = if b.is_empty() {
        len.saturating_sub(1)
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.min(len.saturating_sub(1)),
            _ => return ByteRange::Whole,
        }
    };
    if start >= len {
        return ByteRange::Unsatisfiable;
    }
    ByteRange::Part { start, end }
}

/// `GET /api/calls/{uuid}/recording`: the WAV, with single byte ranges.
pub async fn recording(
    State(state): State<Arc<ApiState>>,
    Path(uuid): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let uuid = parse_uuid(&uuid)?;
    let Some(dir) = &state.recordings_dir else {
        return Err(ApiError::not_found(
            "recordings are not enabled ([records] recordings_dir)",
        ));
    };
    let path = crate::records::recording_path(dir, &uuid.to_string());
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found(format!("no recording of call {uuid}")))
        }
        Err(e) => return Err(ApiError::internal(format!("recording: {e}"))),
    };
    let len = file
        .metadata()
        .await
        .map_err(|e| ApiError::internal(format!("recording: {e}")))?
        .len();
    let range = parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        len,
    );
    let (status, start, count) = match range {
        ByteRange::Whole => (StatusCode::OK, 0, len),
        ByteRange::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        ByteRange::Unsatisfiable => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
            );
            return Ok(r);
        }
    };
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(|e| ApiError::internal(format!("recording: {e}")))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file.take(count)));
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes {start}-{}/{len}", start + count - 1))
                .expect("ascii"),
        );
    }
    Ok(r)
}
