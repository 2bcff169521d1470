//! The console's read-side SQL ([`super::query`]) ported to PostgreSQL, query by query, with
//! the same types and the same results (checked side by side in `tests/records_postgres.rs`).
//!
//! Dialect differences handled here: `$n` placeholders; `ILIKE` for the case-insensitive
//! search (SQLite's `LIKE` folds ASCII only, so PostgreSQL also matches Cyrillic of another
//! case: a superset); integers are `BIGINT` (`i64`) and `interrupted` is 0/1.

use super::query::{
    CallDetail, CallFilter, CallListItem, CallPage, CallStats, LatencyStats, TurnView,
};
use super::types::{CallOutcome, ModelsUsed, Role, TurnLatencies};
use postgres::types::ToSql;
use postgres::{Client, Row};
use uuid::Uuid;

const LIST_COLUMNS: &str = "c.uuid, c.caller_id, c.started_at, c.ended_at, c.duration_ms, \
     c.outcome, c.transfer_target, c.language, \
     (SELECT count(*) FROM turns t WHERE t.call_uuid = c.uuid), c.summary, c.disposition, c.error, c.profile";

type Param = Box<dyn ToSql + Sync + Send>;

fn where_clause(f: &CallFilter) -> (String, Vec<Param>) {
    let mut conds: Vec<String> = Vec::new();
    let mut vals: Vec<Param> = Vec::new();
    let bind = |v: Param, vals: &mut Vec<Param>| {
        vals.push(v);
        format!("${}", vals.len())
    };
    if let Some(from) = f.from_ms {
        conds.push(format!(
            "c.started_at >= {}",
            bind(Box::new(from), &mut vals)
        ));
    }
    if let Some(to) = f.to_ms {
        conds.push(format!("c.started_at < {}", bind(Box::new(to), &mut vals)));
    }
    if !f.outcomes.is_empty() || f.include_running {
        let mut any: Vec<String> = f
            .outcomes
            .iter()
            .map(|o| {
                format!(
                    "c.outcome = {}",
                    bind(Box::new(o.as_str().to_string()), &mut vals)
                )
            })
            .collect();
        if f.include_running {
            any.push("c.outcome IS NULL".into());
        }
        conds.push(format!("({})", any.join(" OR ")));
    }
    if let Some(caller) = f.caller_id.as_deref().filter(|s| !s.is_empty()) {
        let p = bind(Box::new(like_pattern(caller)), &mut vals);
        conds.push(format!("c.caller_id LIKE {p} ESCAPE '\\'"));
    }
    if let Some(profile) = f.profile.as_deref().filter(|s| !s.is_empty()) {
        let p = bind(Box::new(profile.to_string()), &mut vals);
        conds.push(format!("c.profile = {p}"));
    }
    if let Some(text) = f.text.as_deref().filter(|s| !s.is_empty()) {
        let p = bind(Box::new(like_pattern(text)), &mut vals);
        conds.push(format!(
            "(c.summary ILIKE {p} ESCAPE '\\' OR EXISTS (SELECT 1 FROM turns t \
             WHERE t.call_uuid = c.uuid AND t.text ILIKE {p} ESCAPE '\\'))"
        ));
    }
    let clause = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    (clause, vals)
}

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

fn refs(vals: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    vals.iter()
        .map(|v| v.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

fn list_item(r: &Row) -> CallListItem {
    let uuid: String = r.get(0);
    let outcome: Option<String> = r.get(5);
    let disposition: Option<String> = r.get(10);
    CallListItem {
        uuid: Uuid::parse_str(&uuid).unwrap_or_default(),
        caller_id: r.get(1),
        started_at_ms: r.get(2),
        ended_at_ms: r.get(3),
        duration_ms: r.get(4),
        outcome: outcome.as_deref().and_then(CallOutcome::parse),
        transfer_target: r.get(6),
        language: r.get(7),
        turn_count: u32::try_from(r.get::<_, i64>(8)).unwrap_or(u32::MAX),
        summary: r.get(9),
        disposition: disposition
            .map(|d| serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d))),
        error: r.get(11),
        profile: r.get(12),
    }
}

/// One page of calls matching `f`, newest first, and how many match in all.
pub fn list_calls(conn: &mut Client, f: &CallFilter) -> Result<CallPage, postgres::Error> {
    let (clause, mut vals) = where_clause(f);
    let total: i64 = conn
        .query_one(
            format!("SELECT count(*) FROM calls c {clause}").as_str(),
            &refs(&vals),
        )?
        .get(0);
    vals.push(Box::new(i64::from(f.limit.max(1))));
    let limit_p = vals.len();
    vals.push(Box::new(f.offset.min(i64::MAX as u64) as i64));
    let offset_p = vals.len();
    let sql = format!(
        "SELECT {LIST_COLUMNS} FROM calls c {clause}
         ORDER BY c.started_at DESC, c.uuid COLLATE \"C\" DESC LIMIT ${limit_p} OFFSET ${offset_p}"
    );
    let calls = conn
        .query(sql.as_str(), &refs(&vals))?
        .iter()
        .map(list_item)
        .collect();
    Ok(CallPage {
        calls,
        total: total.max(0) as u64,
    })
}

/// One call with its turns; `None` if there is no such call.
pub fn call_detail(conn: &mut Client, uuid: &Uuid) -> Result<Option<CallDetail>, postgres::Error> {
    let key = uuid.to_string();
    let Some(row) = conn.query_opt(
        format!("SELECT {LIST_COLUMNS}, c.models FROM calls c WHERE c.uuid = $1").as_str(),
        &[&key],
    )?
    else {
        return Ok(None);
    };
    let call = list_item(&row);
    let models: ModelsUsed = serde_json::from_str(&row.get::<_, String>(13)).unwrap_or_default();
    let start = call.started_at_ms;
    let u32_of = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok());
    let turns = conn
        .query(
            "SELECT seq, role, text, started_at, ended_at, endpointing_ms, asr_ms, llm_ttft_ms,
                    llm_first_sentence_ms, tts_first_audio_ms, turn_latency_ms, interrupted,
                    tool_calls
             FROM turns WHERE call_uuid = $1 ORDER BY seq",
            &[&key],
        )?
        .iter()
        .map(|r| {
            let role: String = r.get(1);
            let started: i64 = r.get(3);
            let tools: String = r.get(12);
            TurnView {
                seq: u32::try_from(r.get::<_, i64>(0)).unwrap_or(u32::MAX),
                role: Role::parse(&role).unwrap_or(Role::Tool),
                text: r.get(2),
                started_at_ms: started,
                ended_at_ms: r.get(4),
                offset_ms: (started - start).max(0),
                latencies: TurnLatencies {
                    endpointing_ms: u32_of(r.get(5)),
                    asr_ms: u32_of(r.get(6)),
                    llm_ttft_ms: u32_of(r.get(7)),
                    llm_first_sentence_ms: u32_of(r.get(8)),
                    tts_first_audio_ms: u32_of(r.get(9)),
                    turn_latency_ms: u32_of(r.get(10)),
                },
                interrupted: r.get::<_, i64>(11) != 0,
                tool_calls: serde_json::from_str(&tools)
                    .unwrap_or(serde_json::Value::Array(Vec::new())),
            }
        })
        .collect();
    Ok(Some(CallDetail {
        call,
        models,
        turns,
    }))
}

/// Calls, outcomes and turn-latency percentiles of calls started in `[from_ms, to_ms)`.
pub fn call_stats(
    conn: &mut Client,
    from_ms: i64,
    to_ms: i64,
) -> Result<CallStats, postgres::Error> {
    let mut stats = CallStats {
        from_ms,
        to_ms,
        ..CallStats::default()
    };
    let rows = conn.query(
        "SELECT outcome, count(*) FROM calls WHERE started_at >= $1 AND started_at < $2
         GROUP BY outcome",
        &[&from_ms, &to_ms],
    )?;
    for row in rows {
        let outcome: Option<String> = row.get(0);
        let n = row.get::<_, i64>(1).max(0) as u64;
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
    let count: i64 = conn
        .query_one(
            "SELECT count(*) FROM turns t JOIN calls c ON c.uuid = t.call_uuid
             WHERE c.started_at >= $1 AND c.started_at < $2 AND t.turn_latency_ms IS NOT NULL",
            &[&from_ms, &to_ms],
        )?
        .get(0);
    let mut latency = LatencyStats {
        count: count.max(0) as u64,
        ..LatencyStats::default()
    };
    for (p, slot) in [(0.50, &mut latency.p50), (0.95, &mut latency.p95)] {
        if count == 0 {
            continue;
        }
        let rank = ((p * count as f64).ceil() as i64).clamp(1, count);
        *slot = conn
            .query_opt(
                "SELECT t.turn_latency_ms FROM turns t JOIN calls c ON c.uuid = t.call_uuid
                 WHERE c.started_at >= $1 AND c.started_at < $2 AND t.turn_latency_ms IS NOT NULL
                 ORDER BY t.turn_latency_ms LIMIT 1 OFFSET $3",
                &[&from_ms, &to_ms, &(rank - 1)],
            )?
            .map(|r| r.get(0));
    }
    stats.turn_latency_ms = latency;
    Ok(stats)
}
