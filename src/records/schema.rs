//! Opening the database: pragmas (WAL), schema version and migrations.

use super::RecordsError;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// Schema version this build writes: one per entry of [`MIGRATIONS`] (append one for every
/// change; the version follows).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Migration `i` takes the schema from version `i` to `i + 1`; each runs in one transaction.
const MIGRATIONS: &[&str] = &[
    // v0 → v1: calls and turns.
    r#"
    CREATE TABLE calls (
        uuid            TEXT PRIMARY KEY NOT NULL,
        caller_id       TEXT,
        started_at      INTEGER NOT NULL,        -- unix ms
        ended_at        INTEGER,                 -- unix ms, NULL while running
        duration_ms     INTEGER,
        outcome         TEXT CHECK (outcome IN ('completed','transferred','caller_hangup',
                                'agent_hangup','error','timeout','shutdown')),
        transfer_target TEXT,
        language        TEXT,
        models          TEXT NOT NULL DEFAULT '{}',  -- JSON {asr,llm,tts,vad}
        error           TEXT
    );
    CREATE INDEX calls_started_at ON calls (started_at);
    CREATE TABLE turns (
        id                    INTEGER PRIMARY KEY AUTOINCREMENT,
        call_uuid             TEXT NOT NULL REFERENCES calls (uuid) ON DELETE CASCADE,
        seq                   INTEGER NOT NULL,
        role                  TEXT NOT NULL CHECK (role IN ('caller','agent','tool')),
        text                  TEXT NOT NULL,
        started_at            INTEGER NOT NULL,  -- unix ms
        ended_at              INTEGER NOT NULL,  -- unix ms
        endpointing_ms        INTEGER,
        asr_ms                INTEGER,
        llm_ttft_ms           INTEGER,
        llm_first_sentence_ms INTEGER,
        tts_first_audio_ms    INTEGER,
        turn_latency_ms       INTEGER,
        interrupted           INTEGER NOT NULL DEFAULT 0,
        tool_calls            TEXT NOT NULL DEFAULT '[]',  -- JSON [{name,arguments,result,duration_ms}]
        UNIQUE (call_uuid, seq)
    );
    "#,
    // v1 → v2: outcome 'protocol_error'. SQLite cannot alter a CHECK constraint, so the calls
    // table is rebuilt (foreign keys are off during migrations, so turns stay; SQLite ≥ 3.26
    // keeps the turns → calls reference pointing at the renamed table).
    r#"
    CREATE TABLE calls_v2 (
        uuid            TEXT PRIMARY KEY NOT NULL,
        caller_id       TEXT,
        started_at      INTEGER NOT NULL,        -- unix ms
        ended_at        INTEGER,                 -- unix ms, NULL while running
        duration_ms     INTEGER,
        outcome         TEXT CHECK (outcome IN ('completed','transferred','caller_hangup',
                                'agent_hangup','error','timeout','shutdown','protocol_error')),
        transfer_target TEXT,
        language        TEXT,
        models          TEXT NOT NULL DEFAULT '{}',  -- JSON {asr,llm,tts,vad}
        error           TEXT
    );
    INSERT INTO calls_v2 (uuid, caller_id, started_at, ended_at, duration_ms, outcome,
                          transfer_target, language, models, error)
        SELECT uuid, caller_id, started_at, ended_at, duration_ms, outcome,
               transfer_target, language, models, error FROM calls;
    DROP TABLE calls;
    ALTER TABLE calls_v2 RENAME TO calls;
    CREATE INDEX calls_started_at ON calls (started_at);
    "#,
    // v2 → v3: what the call came to (post-call summary and structured disposition, inbound
    // and outbound), and the transactional outbox of result events for the business systems.
    // An event is written in the same transaction as the state it reports, so a crash can
    // neither lose it nor report something that did not happen; each sink (webhook, Kafka)
    // delivers it at least once and consumers de-duplicate on `event_id`.
    r#"
    ALTER TABLE calls ADD COLUMN summary TEXT;
    ALTER TABLE calls ADD COLUMN disposition TEXT;   -- JSON {decision, code, note, source}
    CREATE TABLE outbox (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT, -- delivery order
        event_id   TEXT NOT NULL UNIQUE,              -- idempotency key (uuid v4)
        kind       TEXT NOT NULL,                     -- e.g. 'call.completed', 'contact.result'
        key        TEXT NOT NULL,                     -- partition key: contact id, call uuid
        payload    TEXT NOT NULL,                     -- JSON
        created_at INTEGER NOT NULL                   -- unix ms
    );
    CREATE TABLE outbox_deliveries (
        event_id        TEXT NOT NULL REFERENCES outbox (event_id) ON DELETE CASCADE,
        sink            TEXT NOT NULL,                -- 'webhook', 'kafka', ...
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,   -- unix ms
        delivered_at    INTEGER,                      -- unix ms, NULL until acknowledged
        last_error      TEXT,
        PRIMARY KEY (event_id, sink)
    );
    "#,
    // v3 → v4: outbound campaigns. A contact is dialled only after a transaction moved it to
    // 'dialling' and inserted its attempt (so two runners, or one restarted, never dial it
    // twice at once); an attempt whose runner's lease ran out is resolved by whoever runs next.
    r#"
    CREATE TABLE campaigns (
        id          TEXT PRIMARY KEY NOT NULL,   -- a name the operator chose
        profile     TEXT NOT NULL DEFAULT 'default', -- agent profile (prompt, voice, tools)
        state       TEXT NOT NULL DEFAULT 'draft'
                    CHECK (state IN ('draft','running','paused','stopped','finished')),
        rules       TEXT NOT NULL DEFAULT '{}',  -- JSON campaign::CampaignRules
        script      TEXT NOT NULL DEFAULT '{}',  -- JSON campaign::CampaignScript
        created_at  INTEGER NOT NULL,            -- unix ms
        updated_at  INTEGER NOT NULL
    );
    CREATE TABLE campaign_contacts (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        campaign_id     TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
        external_id     TEXT NOT NULL,           -- the business system's id (1C)
        phone           TEXT NOT NULL,
        time_zone       TEXT NOT NULL,           -- IANA name, e.g. Europe/Moscow
        variables       TEXT NOT NULL DEFAULT '{}', -- JSON {name, appointment, amount, ...}
        state           TEXT NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending','retry','dialling','done','failed','dnc')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,  -- unix ms
        result          TEXT,                    -- final: confirmed, declined, busy, machine, ...
        code            INTEGER,                 -- 1C code: 0 unrecognised, 1 yes, 2 no, 3 other
        note            TEXT,
        updated_at      INTEGER NOT NULL,
        UNIQUE (campaign_id, external_id)
    );
    CREATE INDEX campaign_contacts_due ON campaign_contacts (campaign_id, state, next_attempt_at);
    CREATE TABLE campaign_attempts (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        contact_id  INTEGER NOT NULL REFERENCES campaign_contacts (id) ON DELETE CASCADE,
        campaign_id TEXT NOT NULL,
        seq         INTEGER NOT NULL,            -- 1 for the first attempt
        call_uuid   TEXT NOT NULL UNIQUE,        -- the AudioSocket uuid (AS_UUID)
        action_id   TEXT,                        -- the Originate's ActionID
        state       TEXT NOT NULL DEFAULT 'dialling'
                    CHECK (state IN ('dialling','answered','ended')),
        result      TEXT,                        -- answered outcome or busy/no_answer/failed/machine
        cause       TEXT,                        -- Reason / Hangup Cause, as Asterisk said it
        channel     TEXT,
        owner       TEXT NOT NULL,               -- the runner that claimed it
        lease_until INTEGER NOT NULL,            -- unix ms; renewed while the owner runs
        started_at  INTEGER NOT NULL,
        answered_at INTEGER,
        ended_at    INTEGER,
        UNIQUE (contact_id, seq)
    );
    CREATE INDEX campaign_attempts_open ON campaign_attempts (campaign_id, state);
    CREATE TABLE do_not_call (
        phone    TEXT PRIMARY KEY NOT NULL,      -- normalised: digits and a leading +
        reason   TEXT,
        added_at INTEGER NOT NULL
    );
    "#,
    // v4 → v5: the agent profile that answered the call (a call keeps the profile it started
    // with; the console filters and groups by it). NULL for calls recorded before v5.
    r#"
    ALTER TABLE calls ADD COLUMN profile TEXT;
    CREATE INDEX calls_profile ON calls (profile, started_at);
    "#,
];

/// Opens (creating if needed) the database at `path`, sets the pragmas and migrates it.
///
/// `journal_mode=WAL`: readers never block the writer and a commit is one append to the
/// `-wal` file. `synchronous=NORMAL`: in WAL mode a commit is still atomic and the database
/// can never be corrupted; an OS crash or power loss (not a process crash: `kill -9` loses
/// nothing committed) may roll back the last few commits before the next checkpoint. That is
/// the right price for not paying an fsync per turn. `foreign_keys=ON` for the turn → call
/// cascade; `busy_timeout` so an outside reader holding a lock delays rather than fails a write.
pub fn open_connection(path: &Path, busy_timeout: Duration) -> Result<Connection, RecordsError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| RecordsError::Io {
            what: format!(
                "cannot create the directory of the records database {}",
                dir.display()
            ),
            source: e,
        })?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn =
        Connection::open_with_flags(path, flags).map_err(|e| RecordsError::db(path, "open", e))?;
    conn.busy_timeout(busy_timeout)
        .map_err(|e| RecordsError::db(path, "set busy_timeout", e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| RecordsError::db(path, "enable WAL", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(RecordsError::Schema(format!(
            "{}: SQLite refused WAL mode (got {mode}); put the database on a local filesystem",
            path.display()
        )));
    }
    // Foreign keys stay off while migrating: rebuilding `calls` must not cascade to `turns`
    // (the pragma is a no-op inside a transaction, so it is set around them).
    conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;")
        .map_err(|e| RecordsError::db(path, "set pragmas", e))?;
    migrate(&conn, path)?;
    conn.execute_batch("PRAGMA foreign_keys=ON;")
        .map_err(|e| RecordsError::db(path, "enable foreign keys", e))?;
    Ok(conn)
}

/// The schema version stored in the database (0 for a new one).
pub fn schema_version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let v: Option<i64> =
        conn.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))?;
    Ok(v.unwrap_or(0))
}

fn migrate(conn: &Connection, path: &Path) -> Result<(), RecordsError> {
    let current =
        schema_version(conn).map_err(|e| RecordsError::db(path, "read schema_version", e))?;
    if current > SCHEMA_VERSION {
        return Err(RecordsError::Schema(format!(
            "{} has schema version {current}, this build knows up to {SCHEMA_VERSION}: \
             it was written by a newer Enclave; upgrade, or point records.db_path elsewhere",
            path.display()
        )));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let to = from as i64 + 1;
        let run = || -> rusqlite::Result<()> {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            conn.execute_batch(sql)?;
            // Every reference still resolves (a rebuilt table kept its rows).
            let broken: i64 =
                conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                    r.get(0)
                })?;
            if broken > 0 {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
                    Some(format!("{broken} dangling references after the migration")),
                ));
            }
            conn.execute("DELETE FROM schema_version", [])?;
            conn.execute("INSERT INTO schema_version (version) VALUES (?1)", [to])?;
            conn.execute_batch("COMMIT")
        };
        if let Err(e) = run() {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(RecordsError::db(
                path,
                &format!("migrate schema {from} → {to}"),
                e,
            ));
        }
        tracing::info!(db = %path.display(), from, to, "records database migrated");
    }
    Ok(())
}
