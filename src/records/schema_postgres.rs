//! The PostgreSQL schema: the same tables, columns and versions as [`super::schema`] (SQLite),
//! written in PostgreSQL's dialect.
//!
//! Type mapping: SQLite `INTEGER` (64-bit) → `BIGINT`, so every integer reads back as `i64`
//! on both; `interrupted` stays a 0/1 `BIGINT` (not `BOOLEAN`) so the same SQL
//! (`sum(interrupted)`, `interrupted = 1`) runs on both databases. Version `v` here is
//! version `v` there; a version missing here (a SQLite-only feature) keeps PostgreSQL at
//! [`SCHEMA_VERSION_POSTGRES`].

/// Migration `i` takes the schema from version `i` to `i + 1`, as in SQLite.
pub(super) const MIGRATIONS: &[&str] = &[
    // v0 → v1: calls and turns.
    r#"
    CREATE TABLE calls (
        uuid            TEXT PRIMARY KEY NOT NULL,
        caller_id       TEXT,
        started_at      BIGINT NOT NULL,         -- unix ms
        ended_at        BIGINT,                  -- unix ms, NULL while running
        duration_ms     BIGINT,
        outcome         TEXT CONSTRAINT calls_outcome_check CHECK (outcome IN ('completed',
                             'transferred','caller_hangup','agent_hangup','error','timeout',
                             'shutdown')),
        transfer_target TEXT,
        language        TEXT,
        models          TEXT NOT NULL DEFAULT '{}',  -- JSON {asr,llm,tts,vad}
        error           TEXT
    );
    CREATE INDEX calls_started_at ON calls (started_at);
    CREATE TABLE turns (
        id                    BIGSERIAL PRIMARY KEY,
        call_uuid             TEXT NOT NULL REFERENCES calls (uuid) ON DELETE CASCADE,
        seq                   BIGINT NOT NULL,
        role                  TEXT NOT NULL CHECK (role IN ('caller','agent','tool')),
        text                  TEXT NOT NULL,
        started_at            BIGINT NOT NULL,   -- unix ms
        ended_at              BIGINT NOT NULL,   -- unix ms
        endpointing_ms        BIGINT,
        asr_ms                BIGINT,
        llm_ttft_ms           BIGINT,
        llm_first_sentence_ms BIGINT,
        tts_first_audio_ms    BIGINT,
        turn_latency_ms       BIGINT,
        interrupted           BIGINT NOT NULL DEFAULT 0 CHECK (interrupted IN (0, 1)),
        tool_calls            TEXT NOT NULL DEFAULT '[]',  -- JSON [{name,arguments,result,duration_ms}]
        UNIQUE (call_uuid, seq)
    );
    "#,
    // v1 → v2: outcome 'protocol_error' (PostgreSQL alters the CHECK in place).
    r#"
    ALTER TABLE calls DROP CONSTRAINT calls_outcome_check;
    ALTER TABLE calls ADD CONSTRAINT calls_outcome_check CHECK (outcome IN ('completed',
        'transferred','caller_hangup','agent_hangup','error','timeout','shutdown',
        'protocol_error'));
    "#,
    // v2 → v3: summary, disposition and the transactional outbox (see schema.rs).
    r#"
    ALTER TABLE calls ADD COLUMN summary TEXT;
    ALTER TABLE calls ADD COLUMN disposition TEXT;   -- JSON {decision, code, note, source}
    CREATE TABLE outbox (
        seq        BIGSERIAL PRIMARY KEY,              -- delivery order
        event_id   TEXT NOT NULL UNIQUE,               -- idempotency key (uuid v4)
        kind       TEXT NOT NULL,
        key        TEXT NOT NULL,
        payload    TEXT NOT NULL,                      -- JSON
        created_at BIGINT NOT NULL                     -- unix ms
    );
    CREATE TABLE outbox_deliveries (
        event_id        TEXT NOT NULL REFERENCES outbox (event_id) ON DELETE CASCADE,
        sink            TEXT NOT NULL,
        attempts        BIGINT NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL DEFAULT 0,    -- unix ms
        delivered_at    BIGINT,                       -- unix ms, NULL until acknowledged
        last_error      TEXT,
        PRIMARY KEY (event_id, sink)
    );
    "#,
    // v3 → v4: the outbound campaign tables (see schema.rs), so the versions stay equal on
    // both databases. The campaign runner itself reads and writes SQLite only today.
    r#"
    CREATE TABLE campaigns (
        id          TEXT PRIMARY KEY NOT NULL,
        profile     TEXT NOT NULL DEFAULT 'default',
        state       TEXT NOT NULL DEFAULT 'draft'
                    CHECK (state IN ('draft','running','paused','stopped','finished')),
        rules       TEXT NOT NULL DEFAULT '{}',
        script      TEXT NOT NULL DEFAULT '{}',
        created_at  BIGINT NOT NULL,
        updated_at  BIGINT NOT NULL
    );
    CREATE TABLE campaign_contacts (
        id              BIGSERIAL PRIMARY KEY,
        campaign_id     TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
        external_id     TEXT NOT NULL,
        phone           TEXT NOT NULL,
        time_zone       TEXT NOT NULL,
        variables       TEXT NOT NULL DEFAULT '{}',
        state           TEXT NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending','retry','dialling','done','failed','dnc')),
        attempts        BIGINT NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL DEFAULT 0,
        result          TEXT,
        code            BIGINT,
        note            TEXT,
        updated_at      BIGINT NOT NULL,
        UNIQUE (campaign_id, external_id)
    );
    CREATE INDEX campaign_contacts_due ON campaign_contacts (campaign_id, state, next_attempt_at);
    CREATE TABLE campaign_attempts (
        id          BIGSERIAL PRIMARY KEY,
        contact_id  BIGINT NOT NULL REFERENCES campaign_contacts (id) ON DELETE CASCADE,
        campaign_id TEXT NOT NULL,
        seq         BIGINT NOT NULL,
        call_uuid   TEXT NOT NULL UNIQUE,
        action_id   TEXT,
        state       TEXT NOT NULL DEFAULT 'dialling'
                    CHECK (state IN ('dialling','answered','ended')),
        result      TEXT,
        cause       TEXT,
        channel     TEXT,
        owner       TEXT NOT NULL,
        lease_until BIGINT NOT NULL,
        started_at  BIGINT NOT NULL,
        answered_at BIGINT,
        ended_at    BIGINT,
        UNIQUE (contact_id, seq)
    );
    CREATE INDEX campaign_attempts_open ON campaign_attempts (campaign_id, state);
    CREATE TABLE do_not_call (
        phone    TEXT PRIMARY KEY NOT NULL,
        reason   TEXT,
        added_at BIGINT NOT NULL
    );
    "#,
    // v4 → v5: the agent profile that answered the call (see schema.rs).
    r#"
    ALTER TABLE calls ADD COLUMN profile TEXT;
    CREATE INDEX calls_profile ON calls (profile, started_at);
    "#,
];

/// Schema version the PostgreSQL backend writes.
pub const SCHEMA_VERSION_POSTGRES: i64 = MIGRATIONS.len() as i64;

/// Key of the advisory lock agents take while migrating, so two agents starting at once
/// against an empty database do not both create the tables (`'encl'` in ASCII).
pub const MIGRATION_LOCK_KEY: i64 = 0x656e_636c;
