//! Read-side SQL for the API and console: listing and searching calls, one call in full, and
//! the dashboard's figures. Plain SQL over a `&rusqlite::Connection` (parameters bound, no
//! string-built predicates from user input), so another backend can port it query by query.

use super::types::{CallOutcome, ModelsUsed, Role, TurnLatencies};
use rusqlite::{params_from_iter, types::Value, Connection, OptionalExtension};
use serde::Serialize;
use uuid::Uuid;

/// Filters and paging of a call listing. Every filter is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallFilter {
    /// `started_at >= from_ms`.
    pub from_ms: Option<i64>,
    /// `started_at < to_ms`.
    pub to_ms: Option<i64>,
    /// Outcomes to include (any of them); `include_running` adds calls not ended yet.
    pub outcomes: Vec<CallOutcome>,
    /// With `outcomes`: also calls with no outcome yet. Alone: only those.
    pub include_running: bool,
    /// Case-insensitive substring of any turn's text or of the summary.
    pub text: Option<String>,
    /// Substring of the caller id.
    pub caller_id: Option<String>,
    /// The agent profile that answered (exact name).
    pub profile: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Calls skipped (newest first).
    pub offset: u64,
}

/// One row of a call listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallListItem {
    /// Call uuid.
    pub uuid: Uuid,
    /// Caller id.
    pub caller_id: Option<String>,
    /// Start (unix ms).
    pub started_at_ms: i64,
    /// End (unix ms), `None` while running.
    pub ended_at_ms: Option<i64>,
    /// Duration (ms).
    pub duration_ms: Option<i64>,
    /// How it ended.
    pub outcome: Option<CallOutcome>,
    /// Hand-over target.
    pub transfer_target: Option<String>,
    /// Language.
    pub language: Option<String>,
    /// Turns recorded.
    pub turn_count: u32,
    /// Post-call summary.
    pub summary: Option<String>,
    /// Structured disposition (JSON), if any.
    pub disposition: Option<serde_json::Value>,
    /// Error text.
    pub error: Option<String>,
    /// The agent profile that answered (`None` for calls recorded before schema v5).
    pub profile: Option<String>,
}

/// A page of calls and the total that match.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallPage {
    /// The rows, newest first.
    pub calls: Vec<CallListItem>,
    /// Rows matching the filters over all pages.
    pub total: u64,
}

/// One turn as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnView {
    /// Order within the call.
    pub seq: u32,
    /// Who spoke.
    pub role: Role,
    /// Text (as stored: redacted when configured).
    pub text: String,
    /// Start (unix ms).
    pub started_at_ms: i64,
    /// End (unix ms).
    pub ended_at_ms: i64,
    /// `started_at_ms` − the call's start: where the turn is in the recording.
    pub offset_ms: i64,
    /// Stage latencies.
    pub latencies: TurnLatencies,
    /// Barged in over.
    pub interrupted: bool,
    /// Tool calls (JSON as stored).
    pub tool_calls: serde_json::Value,
}

/// One call in full.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallDetail {
    /// The listing's columns.
    #[serde(flatten)]
    pub call: CallListItem,
    /// Models that served it.
    pub models: ModelsUsed,
    /// Its turns in order.
    pub turns: Vec<TurnView>,
}

/// Turn latency percentiles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LatencyStats {
    /// Turns with a measured latency.
    pub count: u64,
    /// Median (ms, nearest rank).
    pub p50: Option<i64>,
    /// 95th percentile (ms, nearest rank).
    pub p95: Option<i64>,
}

/// The dashboard's figures over a time range.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallStats {
    /// Range start (unix ms).
    pub from_ms: i64,
    /// Range end (unix ms).
    pub to_ms: i64,
    /// Calls started in the range.
    pub calls: u64,
    /// Ended calls that were not handed over.
    pub answered_by_agent: u64,
    /// Calls handed over (`transferred`).
    pub handed_over: u64,
    /// Calls with no end recorded.
    pub running: u64,
    /// Calls per outcome.
    pub outcomes: std::collections::BTreeMap<String, u64>,
    /// `turns.turn_latency_ms` of the range's calls.
    pub turn_latency_ms: LatencyStats,
}

const LIST_COLUMNS: &str =
    "c.uuid, c.caller_id, c.started_at, c.ended_at, c.duration_ms, c.outcome,
    c.transfer_target, c.language,
    (SELECT count(*) FROM turns t WHERE t.call_uuid = c.uuid), c.summary, c.disposition, c.error, c.profile";

/// `WHERE` clause and its bound values for `f` (values only ever bound, never spliced).
fn where_clause(f: &CallFilter) -> (String, Vec<Value>) {
    let mut conds: Vec<String> = Vec::new();
    let mut vals: Vec<Value> = Vec::new();
    let bind = |v: Value, vals: &mut Vec<Value>| {
        vals.push(v);
        format!("?{}", vals.len())
    };
    if let Some(from) = f.from_ms {
        conds.push(format!(
            "c.started_at >= {}",
            bind(Value::Integer(from), &mut vals)
        ));
    }
    if let Some(to) = f.to_ms {
        conds.push(format!(
            "c.started_at < {}",
            bind(Value::Integer(to), &mut vals)
        ));
    }
    if !f.outcomes.is_empty() || f.include_running {
        let mut any: Vec<String> = f
            .outcomes
            .iter()
            .map(|o| {
                format!(
                    "c.outcome = {}",
                    bind(Value::Text(o.as_str().into()), &mut vals)
                )
            })
            .collect();
        if f.include_running {
            any.push("c.outcome IS NULL".into());
        }
        conds.push(format!("({})", any.join(" OR ")));
    }
    if let Some(caller) = f.caller_id.as_deref().filter(|s| !s.is_empty()) {
        let p = bind(Value::Text(like_pattern(caller)), &mut vals);
        conds.push(format!("c.caller_id LIKE {p} ESCAPE '\\'"));
    }
    if let Some(profile) = f.profile.as_deref().filter(|s| !s.is_empty()) {
        let p = bind(Value::Text(profile.into()), &mut vals);
        conds.push(format!("c.profile = {p}"));
    }
    if let Some(text) = f.text.as_deref().filter(|s| !s.is_empty()) {
        let p = bind(Value::Text(like_pattern(text)), &mut vals);
        conds.push(format!(
            "(c.summary LIKE {p} ESCAPE '\\' OR EXISTS (SELECT 1 FROM turns t \
             WHERE t.call_uuid = c.uuid AND t.text LIKE {p} ESCAPE '\\'))"
        ));
    }
    let clause = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    (clause, vals)
}

/// `%text%` with LIKE's wildcards escaped (SQLite's LIKE is case-insensitive for ASCII).
fn like_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn list_item(r: &rusqlite::Row<'_>) -> rusqlite::Result<CallListItem> {
    let uuid: String = r.get(0)?;
    let outcome: Option<String> = r.get(5)?;
    let disposition: Option<String> = r.get(10)?;
    Ok(CallListItem {
        uuid: Uuid::parse_str(&uuid).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?,
        caller_id: r.get(1)?,
        started_at_ms: r.get(2)?,
        ended_at_ms: r.get(3)?,
        duration_ms: r.get(4)?,
        outcome: outcome.as_deref().and_then(CallOutcome::parse),
        transfer_target: r.get(6)?,
        language: r.get(7)?,
        turn_count: r.get(8)?,
        summary: r.get(9)?,
        disposition: disposition
            .map(|d| serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d))),
        error: r.get(11)?,
        profile: r.get(12)?,
    })
}

/// One page of calls matching `f`, newest first, and how many match in all.
pub fn list_calls(conn: &Connection, f: &CallFilter) -> rusqlite::Result<CallPage> {
    let (clause, mut vals) = where_clause(f);
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM calls c {clause}"),
        params_from_iter(vals.iter()),
        |r| r.get(0),
    )?;
    vals.push(Value::Integer(f.limit.max(1) as i64));
    let limit_p = vals.len();
    vals.push(Value::Integer(f.offset.min(i64::MAX as u64) as i64));
    let offset_p = vals.len();
    let sql = format!(
        "SELECT {LIST_COLUMNS} FROM calls c {clause}
         ORDER BY c.started_at DESC, c.uuid DESC LIMIT ?{limit_p} OFFSET ?{offset_p}"
    );
    let mut stmt = conn.prepare(&sql)?;
    let calls = stmt
        .query_map(params_from_iter(vals.iter()), list_item)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(CallPage {
        calls,
        total: total.max(0) as u64,
    })
}

/// One call with its turns; `None` if there is no such call.
pub fn call_detail(conn: &Connection, uuid: &Uuid) -> rusqlite::Result<Option<CallDetail>> {
    let key = uuid.to_string();
    let row = conn
        .query_row(
            &format!("SELECT {LIST_COLUMNS}, c.models FROM calls c WHERE c.uuid = ?1"),
            [&key],
            |r| Ok((list_item(r)?, r.get::<_, String>(13)?)),
        )
        .optional()?;
    let Some((call, models)) = row else {
        return Ok(None);
    };
    let models: ModelsUsed = serde_json::from_str(&models).unwrap_or_default();
    let mut stmt = conn.prepare(
        "SELECT seq, role, text, started_at, ended_at, endpointing_ms, asr_ms, llm_ttft_ms,
                llm_first_sentence_ms, tts_first_audio_ms, turn_latency_ms, interrupted, tool_calls
         FROM turns WHERE call_uuid = ?1 ORDER BY seq",
    )?;
    let start = call.started_at_ms;
    let turns = stmt
        .query_map([&key], |r| {
            let role: String = r.get(1)?;
            let started: i64 = r.get(3)?;
            let tools: String = r.get(12)?;
            Ok(TurnView {
                seq: r.get(0)?,
                role: Role::parse(&role).unwrap_or(Role::Tool),
                text: r.get(2)?,
                started_at_ms: started,
                ended_at_ms: r.get(4)?,
                offset_ms: (started - start).max(0),
                latencies: TurnLatencies {
                    endpointing_ms: r.get(5)?,
                    asr_ms: r.get(6)?,
                    llm_ttft_ms: r.get(7)?,
                    llm_first_sentence_ms: r.get(8)?,
                    tts_first_audio_ms: r.get(9)?,
                    turn_latency_ms: r.get(10)?,
                },
                interrupted: r.get(11)?,
                tool_calls: serde_json::from_str(&tools)
                    .unwrap_or(serde_json::Value::Array(Vec::new())),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(CallDetail {
        call,
        models,
        turns,
    }))
}

/// Calls, outcomes and turn-latency percentiles of calls started in `[from_ms, to_ms)`.
pub fn call_stats(conn: &Connection, from_ms: i64, to_ms: i64) -> rusqlite::Result<CallStats> {
    let mut stats = CallStats {
        from_ms,
        to_ms,
        ..CallStats::default()
    };
    let mut stmt = conn.prepare(
        "SELECT outcome, count(*) FROM calls WHERE started_at >= ?1 AND started_at < ?2
         GROUP BY outcome",
    )?;
    let rows = stmt.query_map([from_ms, to_ms], |r| {
        Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (outcome, n) = row?;
        let n = n.max(0) as u64;
        stats.calls += n;
        match outcome.as_deref() {
            None => stats.running += n,
            Some(o) => {
                if o == CallOutcome::Transferred.as_str() {
                    stats.handed_over += n;
                } else {
                    stats.answered_by_agent += n;
                }
                *stats.outcomes.entry(o.to_string()).or_default() += n;
            }
        }
    }
    let count: i64 = conn.query_row(
        "SELECT count(*) FROM turns t JOIN calls c ON c.uuid = t.call_uuid
         WHERE c.started_at >= ?1 AND c.started_at < ?2 AND t.turn_latency_ms IS NOT NULL",
        [from_ms, to_ms],
        |r| r.get(0),
    )?;
    stats.turn_latency_ms.count = count.max(0) as u64;
    // Nearest-rank percentile: the value at rank ceil(p·n), read with ORDER BY + OFFSET
    // (portable; no window functions needed).
    let nearest_rank = |p: f64| -> rusqlite::Result<Option<i64>> {
        if count == 0 {
            return Ok(None);
        }
        let rank = ((p * count as f64).ceil() as i64).clamp(1, count);
        conn.query_row(
            "SELECT t.turn_latency_ms FROM turns t JOIN calls c ON c.uuid = t.call_uuid
             WHERE c.started_at >= ?1 AND c.started_at < ?2 AND t.turn_latency_ms IS NOT NULL
             ORDER BY t.turn_latency_ms LIMIT 1 OFFSET ?3",
            [from_ms, to_ms, rank - 1],
            |r| r.get(0),
        )
        .optional()
    };
    stats.turn_latency_ms.p50 = nearest_rank(0.50)?;
    stats.turn_latency_ms.p95 = nearest_rank(0.95)?;
    Ok(stats)
}
