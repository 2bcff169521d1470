//! `/api/campaigns`: outbound campaigns — list, one campaign with a page of its contacts, add
//! contacts (JSON or the CSV `agent campaign import` reads), start/pause/resume/stop, export.
//!
//! Campaigns live in the SQLite records database ([`CampaignStore`]); on PostgreSQL or with
//! records off every path answers 503 saying so. Store calls run on the blocking pool.
//! Phone numbers in JSON answers are masked but for their last 4 digits (a contact list is a
//! bulk of personal data on a supervisor's screen); the CSV export, for the business system,
//! carries them whole, as `agent campaign export` does.

use super::{ApiError, ApiState};
use crate::campaign::store::{Campaign, ContactView, ImportReport};
use crate::campaign::{
    csv_io, CampaignError, CampaignState, CampaignStatus, CampaignStore, NewContact,
};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Largest contacts page.
pub const MAX_LIMIT: u64 = 500;
/// Most contacts one request may add (a bigger list is sent in parts).
pub const MAX_CONTACTS_PER_REQUEST: usize = 10_000;
/// Contact states, in the order the console shows them (all are always counted).
pub const CONTACT_STATES: [&str; 6] = ["pending", "retry", "dialling", "done", "failed", "dnc"];

const UNAVAILABLE: &str = "campaigns live in the SQLite records database: set [records] \
     enabled = true and backend = \"sqlite\" (they are not available on PostgreSQL)";

fn now_ms() -> i64 {
    crate::records::unix_ms(std::time::SystemTime::now())
}

/// What a [`CampaignError`] is for the caller: 404, 409 (a refused transition), 400, or 500.
fn campaign_error(e: CampaignError) -> ApiError {
    match e {
        CampaignError::NotFound(_) => ApiError::not_found(e.to_string()),
        CampaignError::Invalid(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        CampaignError::Contact(_) | CampaignError::Rules(_) | CampaignError::Csv(_) => {
            ApiError::bad_request(e.to_string())
        }
        other => ApiError::internal(other.to_string()),
    }
}

/// Runs `f` on the campaign store off the async threads; 503 without one.
async fn with_store<T: Send + 'static>(
    state: &ApiState,
    f: impl FnOnce(&CampaignStore) -> Result<T, CampaignError> + Send + 'static,
) -> Result<T, ApiError> {
    let Some(store) = state.campaigns.clone() else {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE));
    };
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::internal(format!("campaign store: {e}")))?
        .map_err(campaign_error)
}

/// `+79123456789` → `+*******6789`: every digit but the last 4 hidden, a leading `+` kept.
pub fn mask_phone(phone: &str) -> String {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let hide = digits.saturating_sub(4);
    let mut seen = 0;
    phone
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen <= hide {
                    return '*';
                }
            }
            c
        })
        .collect()
}

/// The list entry of one campaign: state, window and limits, counts.
fn summary(c: &Campaign, s: &CampaignStatus) -> Value {
    let r = &c.rules.raw;
    let mut counts = serde_json::Map::new();
    for st in CONTACT_STATES {
        counts.insert(st.into(), json!(s.contacts.get(st).copied().unwrap_or(0)));
    }
    json!({
        "id": c.id,
        "profile": c.profile,
        "state": c.state.as_str(),
        "window": {
            "start": r.window_start,
            "end": r.window_end,
            "days": r.days,
        },
        "limits": {
            "max_concurrent": r.max_concurrent,
            "calls_per_minute": r.calls_per_minute,
            "max_attempts": r.max_attempts,
        },
        "total_contacts": s.contacts.values().sum::<i64>(),
        "counts": counts,
        "results": s.results,
        "attempts": s.attempts,
        "in_flight": s.in_flight,
    })
}

/// `GET /api/campaigns`.
pub async fn list(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let items = with_store(&state, |store| {
        let mut out = Vec::new();
        for id in store.campaign_ids()? {
            // One unreadable campaign is shown with its error; the others still list.
            match store
                .campaign(&id)
                .and_then(|c| Ok((store.status(&id)?, c)))
            {
                Ok((s, c)) => out.push(summary(&c, &s)),
                Err(e) => out.push(json!({ "id": id, "error": e.to_string() })),
            }
        }
        Ok(out)
    })
    .await?;
    Ok(Json(json!({ "campaigns": items })))
}

/// Query of `GET /api/campaigns/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetailQuery {
    limit: Option<u64>,
    offset: Option<u64>,
}

fn contact_json(c: &ContactView) -> Value {
    json!({
        "external_id": c.external_id,
        "phone": mask_phone(&c.phone),
        "time_zone": c.time_zone,
        "state": c.state,
        "attempts": c.attempts,
        "next_attempt_at_ms": (c.state == "retry").then_some(c.next_attempt_at_ms),
        "result": c.result,
        "code": c.code,
        "note": c.note,
        "variables": c.variables,
        "updated_at_ms": c.updated_at_ms,
        "last_attempt": c.last_attempt.as_ref().map(|a| json!({
            "seq": a.seq,
            "call_uuid": a.call_uuid,
            "state": a.state,
            "result": a.result,
            "cause": a.cause,
            "started_at_ms": a.started_at_ms,
            "ended_at_ms": a.ended_at_ms,
        })),
    })
}

/// `GET /api/campaigns/{id}`.
pub async fn detail(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    q: Result<Query<DetailQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit {limit}: allowed 1..={MAX_LIMIT}"
        )));
    }
    let offset = q.offset.unwrap_or(0);
    let (c, s, total, page) = with_store(&state, move |store| {
        let c = store.campaign(&id)?;
        let s = store.status(&id)?;
        let (total, page) = store.contacts_page(&id, offset, limit)?;
        Ok((c, s, total, page))
    })
    .await?;
    let mut v = summary(&c, &s);
    v["rules"] = serde_json::to_value(&c.rules.raw).unwrap_or(Value::Null);
    v["script"] = serde_json::to_value(&c.script).unwrap_or(Value::Null);
    let next = offset + page.len() as u64;
    v["contacts"] = json!({
        "items": page.iter().map(contact_json).collect::<Vec<_>>(),
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": (next < total).then_some(next),
    });
    Ok(Json(v))
}

/// One contact in `POST /api/campaigns/{id}/contacts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    external_id: String,
    phone: String,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    variables: serde_json::Map<String, Value>,
}

/// Body of `POST /api/campaigns/{id}/contacts`: `contacts` (JSON) or `csv` (the text
/// `agent campaign import` reads), and the time zone of contacts that give none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddContacts {
    #[serde(default)]
    contacts: Option<Vec<ContactInput>>,
    #[serde(default)]
    csv: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
}

/// Where a refused contact was: its index in `contacts`, or its line in `csv`.
#[derive(Debug, Clone, Copy)]
enum Place {
    Index(usize),
    Line(u64),
}

fn rejected_json(place: Place, external_id: Option<&str>, reason: &str) -> Value {
    match place {
        Place::Index(i) => json!({ "index": i, "external_id": external_id, "reason": reason }),
        Place::Line(l) => json!({ "line": l, "external_id": external_id, "reason": reason }),
    }
}

fn report_json(
    report: &ImportReport,
    contacts: &[NewContact],
    places: &[Place],
    mut early: Vec<Value>,
) -> Value {
    for (i, reason) in &report.rejected {
        let place = places.get(*i).copied().unwrap_or(Place::Index(*i));
        let ext = contacts.get(*i).map(|c| c.external_id.as_str());
        early.push(rejected_json(place, ext, reason));
    }
    json!({
        "added": report.added,
        "duplicates": report.duplicates,
        "rejected": early,
    })
}

/// `POST /api/campaigns/{id}/contacts`.
pub async fn add_contacts(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    b: Result<Json<AddContacts>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = b.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let default_tz = body
        .time_zone
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let mut early = Vec::new();
    let (contacts, places): (Vec<NewContact>, Vec<Place>) =
        match (body.contacts, body.csv) {
            (Some(list), None) => list
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    let tz = c
                        .time_zone
                        .filter(|t| !t.trim().is_empty())
                        .or_else(|| default_tz.clone())
                        .unwrap_or_default();
                    let contact = NewContact {
                        external_id: c.external_id,
                        phone: c.phone,
                        time_zone: tz,
                        variables: c.variables,
                    };
                    (contact, Place::Index(i))
                })
                .unzip(),
            (None, Some(text)) => {
                let parsed = csv_io::read_contacts(text.as_bytes(), default_tz.as_deref())
                    .map_err(campaign_error)?;
                for (line, reason) in &parsed.rejected {
                    early.push(rejected_json(Place::Line(*line), None, reason));
                }
                let places = parsed.lines.iter().map(|l| Place::Line(*l)).collect();
                (parsed.contacts, places)
            }
            _ => return Err(ApiError::bad_request(
                "send either `contacts` (a JSON list) or `csv` (text with a header row), not both",
            )),
        };
    if contacts.len() > MAX_CONTACTS_PER_REQUEST {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} contacts in one request: send at most {MAX_CONTACTS_PER_REQUEST} at a time",
                contacts.len()
            ),
        ));
    }
    let (report, contacts) = with_store(&state, move |store| {
        let report = store.add_contacts(&id, &contacts, now_ms())?;
        Ok((report, contacts))
    })
    .await?;
    Ok(Json(report_json(&report, &contacts, &places, early)))
}

/// Body of `POST /api/campaigns/{id}/state`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateInput {
    state: String,
}

/// `POST /api/campaigns/{id}/state`: `running` (start or resume), `paused`, `stopped`.
pub async fn set_state(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    b: Result<Json<StateInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(input) = b.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let to = match CampaignState::parse(&input.state) {
        Some(s @ (CampaignState::Running | CampaignState::Paused | CampaignState::Stopped)) => s,
        _ => {
            return Err(ApiError::bad_request(format!(
                "state `{}`: allowed running, paused, stopped",
                input.state
            )))
        }
    };
    let reply_id = id.clone();
    let from = with_store(&state, move |store| store.set_state(&id, to, now_ms())).await?;
    tracing::info!(campaign = %reply_id, from = from.as_str(), to = to.as_str(), "campaign state set through the API");
    Ok(Json(json!({
        "id": reply_id,
        "state": to.as_str(),
        "previous": from.as_str(),
    })))
}

/// `GET /api/campaigns/{id}/export`: every contact's result as CSV.
pub async fn export(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let bytes = with_store(&state, move |store| {
        store.campaign(&id)?;
        let rows = store.export_rows(&id)?;
        let mut out = Vec::new();
        csv_io::write_results(&mut out, &rows)?;
        Ok(out)
    })
    .await?;
    let disposition = HeaderValue::from_str(&format!(
        "attachment; filename=\"campaign-{name}-results.csv\""
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::mask_phone;

    #[test]
    fn phones_keep_only_their_last_four_digits() {
        assert_eq!(mask_phone("+79123456789"), "+*******6789");
        assert_eq!(mask_phone("89123456789"), "*******6789");
        assert_eq!(mask_phone("5550100"), "***0100");
        assert_eq!(mask_phone("123"), "123");
    }
}
