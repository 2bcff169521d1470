//! The SQLite records backend: one file, WAL, one connection per thread.

use super::backend::{DeletedRows, RecordsBackend};
use super::types::{
    unix_ms, CallEnd, CallOutcome, CallStart, Role, StoredCall, StoredTurn, TurnLatencies,
    TurnRecord,
};
use super::RecordsError;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Call records in one SQLite file.
#[derive(Debug)]
pub struct SqliteBackend {
    conn: Connection,
    path: PathBuf,
    label: String,
}

impl SqliteBackend {
    /// Wraps an open, migrated connection to the database at `path`.
    pub fn new(conn: Connection, path: &Path) -> SqliteBackend {
        SqliteBackend {
            conn,
            path: path.to_path_buf(),
            label: path.display().to_string(),
        }
    }

    /// The connection (SQLite-only tooling and queries).
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    fn err(&self, what: &str) -> impl Fn(rusqlite::Error) -> RecordsError + '_ {
        let what = what.to_string();
        move |e| RecordsError::db(&self.path, &what, e)
    }
}

impl RecordsBackend for SqliteBackend {
    fn label(&self) -> &str {
        &self.label
    }

    fn insert_call(&mut self, call: &CallStart) -> Result<(), RecordsError> {
        insert_call(&self.conn, call).map_err(self.err("write call start"))
    }

    fn insert_turn(
        &mut self,
        turn: &TurnRecord,
        text: &str,
        tool_calls_json: &str,
    ) -> Result<(), RecordsError> {
        let r = insert_turn(&mut self.conn, turn, text, tool_calls_json);
        r.map_err(self.err("write turn"))
    }

    fn update_call_end(&mut self, end: &CallEnd) -> Result<(), RecordsError> {
        let r = update_call_end(&mut self.conn, end);
        r.map_err(self.err("write call end"))
    }

    fn delete_calls_before(&mut self, cutoff_ms: i64) -> Result<DeletedRows, RecordsError> {
        let path = self.path.clone();
        let db = |what: &str, e| RecordsError::db(&path, what, e);
        let tx = self.conn.transaction().map_err(|e| db("begin purge", e))?;
        let uuids: Vec<String> = {
            let mut stmt = tx
                .prepare("SELECT uuid FROM calls WHERE started_at < ?1")
                .map_err(|e| db("select old calls", e))?;
            let rows = stmt
                .query_map(params![cutoff_ms], |r| r.get::<_, String>(0))
                .map_err(|e| db("select old calls", e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| db("select old calls", e))?
        };
        let turns = tx
            .execute(
                "DELETE FROM turns WHERE call_uuid IN (SELECT uuid FROM calls WHERE started_at < ?1)",
                params![cutoff_ms],
            )
            .map_err(|e| db("delete old turns", e))?;
        let calls = tx
            .execute(
                "DELETE FROM calls WHERE started_at < ?1",
                params![cutoff_ms],
            )
            .map_err(|e| db("delete old calls", e))?;
        tx.commit().map_err(|e| db("commit purge", e))?;
        Ok(DeletedRows {
            uuids,
            calls,
            turns,
        })
    }

    fn load_call(&mut self, uuid: &Uuid) -> Result<Option<StoredCall>, RecordsError> {
        load_call(&self.conn, &self.path, uuid)
    }

    fn schema_version(&mut self) -> Result<i64, RecordsError> {
        super::schema::schema_version(&self.conn).map_err(self.err("read schema_version"))
    }

    fn as_sqlite(&mut self) -> Option<&mut Connection> {
        Some(&mut self.conn)
    }
}

fn insert_call(conn: &Connection, c: &CallStart) -> rusqlite::Result<()> {
    let models = serde_json::to_string(&c.models).unwrap_or_else(|_| "{}".into());
    conn.execute(
        "INSERT INTO calls (uuid, caller_id, started_at, language, models, profile)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (uuid) DO UPDATE SET caller_id = excluded.caller_id,
             started_at = excluded.started_at, language = excluded.language,
             models = excluded.models, profile = excluded.profile",
        params![
            c.uuid.to_string(),
            c.caller_id,
            unix_ms(c.started_at),
            c.language,
            models,
            c.profile
        ],
    )?;
    Ok(())
}

/// Writes one turn (text and tool calls as stored) in its own transaction.
fn insert_turn(
    conn: &mut Connection,
    t: &TurnRecord,
    text: &str,
    tool_calls: &str,
) -> rusqlite::Result<()> {
    let l = &t.latencies;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // A turn whose call_started was dropped still gets a (minimal) call row to hang on.
    tx.execute(
        "INSERT OR IGNORE INTO calls (uuid, started_at) VALUES (?1, ?2)",
        params![t.call_uuid.to_string(), unix_ms(t.started_at)],
    )?;
    tx.execute(
        "INSERT INTO turns (call_uuid, seq, role, text, started_at, ended_at, endpointing_ms, asr_ms,
             llm_ttft_ms, llm_first_sentence_ms, tts_first_audio_ms, turn_latency_ms, interrupted, tool_calls)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            t.call_uuid.to_string(),
            t.seq,
            t.role.as_str(),
            text,
            unix_ms(t.started_at),
            unix_ms(t.ended_at),
            l.endpointing_ms,
            l.asr_ms,
            l.llm_ttft_ms,
            l.llm_first_sentence_ms,
            l.tts_first_audio_ms,
            l.turn_latency_ms,
            t.interrupted,
            tool_calls,
        ],
    )?;
    tx.commit()
}

fn update_call_end(conn: &mut Connection, e: &CallEnd) -> rusqlite::Result<()> {
    let ended = unix_ms(e.ended_at);
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO calls (uuid, started_at) VALUES (?1, ?2) ON CONFLICT (uuid) DO NOTHING",
        params![e.uuid.to_string(), ended],
    )?;
    tx.execute(
        "UPDATE calls SET ended_at = ?2, duration_ms = max(0, ?2 - started_at), outcome = ?3,
             transfer_target = ?4, language = coalesce(?5, language), error = ?6
         WHERE uuid = ?1",
        params![
            e.uuid.to_string(),
            ended,
            e.outcome.as_str(),
            e.transfer_target,
            e.language,
            e.error
        ],
    )?;
    tx.commit()
}

/// Reads one call and its turns from an open connection.
pub fn load_call(
    conn: &Connection,
    path: &Path,
    uuid: &Uuid,
) -> Result<Option<StoredCall>, RecordsError> {
    let key = uuid.to_string();
    let db = |what: &str, e| RecordsError::db(path, what, e);
    let call = conn
        .query_row(
            "SELECT caller_id, started_at, ended_at, duration_ms, outcome, transfer_target, language, models, error
             FROM calls WHERE uuid = ?1",
            params![key],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<String>>(8)?,
                ))
            },
        )
        .optional()
        .map_err(|e| db("read call", e))?;
    let Some((
        caller_id,
        started_at_ms,
        ended_at_ms,
        duration_ms,
        outcome,
        transfer_target,
        language,
        models,
        error,
    )) = call
    else {
        return Ok(None);
    };
    let outcome = match outcome {
        Some(o) => Some(
            CallOutcome::parse(&o)
                .ok_or_else(|| RecordsError::Corrupt(format!("calls.outcome `{o}`")))?,
        ),
        None => None,
    };
    let models = serde_json::from_str(&models)
        .map_err(|e| RecordsError::Corrupt(format!("calls.models: {e}")))?;
    let mut stmt = conn
        .prepare(
            "SELECT seq, role, text, started_at, ended_at, endpointing_ms, asr_ms, llm_ttft_ms,
                    llm_first_sentence_ms, tts_first_audio_ms, turn_latency_ms, interrupted, tool_calls
             FROM turns WHERE call_uuid = ?1 ORDER BY seq",
        )
        .map_err(|e| db("read turns", e))?;
    let rows = stmt
        .query_map(params![key], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                TurnLatencies {
                    endpointing_ms: r.get(5)?,
                    asr_ms: r.get(6)?,
                    llm_ttft_ms: r.get(7)?,
                    llm_first_sentence_ms: r.get(8)?,
                    tts_first_audio_ms: r.get(9)?,
                    turn_latency_ms: r.get(10)?,
                },
                r.get::<_, bool>(11)?,
                r.get::<_, String>(12)?,
            ))
        })
        .map_err(|e| db("read turns", e))?;
    let mut turns = Vec::new();
    for row in rows {
        let (seq, role, text, started_at_ms, ended_at_ms, latencies, interrupted, tool_calls) =
            row.map_err(|e| db("read turns", e))?;
        turns.push(StoredTurn {
            seq,
            role: Role::parse(&role)
                .ok_or_else(|| RecordsError::Corrupt(format!("turns.role `{role}`")))?,
            text,
            started_at_ms,
            ended_at_ms,
            latencies,
            interrupted,
            tool_calls: serde_json::from_str(&tool_calls)
                .map_err(|e| RecordsError::Corrupt(format!("turns.tool_calls: {e}")))?,
        });
    }
    Ok(Some(StoredCall {
        uuid: *uuid,
        caller_id,
        started_at_ms,
        ended_at_ms,
        duration_ms,
        outcome,
        transfer_target,
        language,
        models,
        error,
        turns,
    }))
}
