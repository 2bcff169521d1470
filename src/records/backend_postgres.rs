//! The PostgreSQL records backend: one database several agent processes (and boxes) share.
//!
//! Crate choice: `postgres` (the blocking client over `tokio-postgres`). The writer is a
//! plain thread, so a blocking client is the natural fit; it adds ~30 small crates on top of
//! the Tokio we already build, no proc-macros beyond those already in the tree, and no
//! compile-time database checks (`sqlx` would add its macro stack, `diesel` its code
//! generation: minutes more on a 2-core box for ten statements). No TLS is linked: see
//! `records.postgres_url` in agent.example.toml.
//!
//! Several writers: every agent writes only its own calls (AudioSocket uuids are unique), a
//! call row is upserted by uuid, and each turn is one short transaction that touches its own
//! call row and inserts its own `(call_uuid, seq)`; no two agents ever wait on each other's
//! rows, so there is nothing to deadlock on. Migrations take an advisory lock, so agents
//! starting at once against an empty database migrate it exactly once.

use super::backend::{DeletedRows, RecordsBackend};
use super::schema_postgres::{MIGRATIONS, MIGRATION_LOCK_KEY, SCHEMA_VERSION_POSTGRES};
use super::types::{
    unix_ms, CallEnd, CallOutcome, CallStart, Role, StoredCall, StoredTurn, TurnLatencies,
    TurnRecord,
};
use super::RecordsError;
use postgres::{Client, NoTls};
use std::time::Duration;
use uuid::Uuid;

/// Call records in a PostgreSQL database.
pub struct PostgresBackend {
    client: Client,
    config: postgres::Config,
    tls: PgTls,
    label: String,
    lock_timeout: Duration,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("target", &self.label)
            .finish_non_exhaustive()
    }
}

/// How connections to the server are encrypted.
#[derive(Clone)]
pub enum PgTls {
    /// Plain TCP or a Unix socket (`sslmode=disable`, or `prefer` without a CA file: the
    /// behaviour of a private network or a tunnel).
    Off,
    /// TLS, the server's certificate checked against the CA file or the system's store and
    /// its name against the host (never accepted unverified, unlike libpq's `require`).
    Verified(tokio_postgres_rustls::MakeRustlsConnect),
}

impl PgTls {
    /// TLS from the URL's `sslmode` and the CA file: `disable` → off (a CA file then is a
    /// contradiction and refused), `require` or a CA file → verified TLS, else off.
    pub fn decide(
        config: &postgres::Config,
        ca_file: Option<&std::path::Path>,
        label: &str,
    ) -> Result<PgTls, RecordsError> {
        use postgres::config::SslMode;
        let mode = config.get_ssl_mode();
        if mode == SslMode::Disable {
            return match ca_file {
                Some(f) => Err(RecordsError::Schema(format!(
                    "{label}: records.postgres_ca_file = {} asks for TLS but the URL says                      sslmode=disable; remove one of them",
                    f.display()
                ))),
                None => Ok(PgTls::Off),
            };
        }
        if mode != SslMode::Require && ca_file.is_none() {
            return Ok(PgTls::Off);
        }
        let mut roots = rustls::RootCertStore::empty();
        match ca_file {
            Some(f) => {
                use rustls::pki_types::pem::PemObject;
                let certs = rustls::pki_types::CertificateDer::pem_file_iter(f)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| {
                        RecordsError::Schema(format!(
                            "records.postgres_ca_file {}: cannot read PEM certificates ({e});                              give the CA certificate that signed the server's, in PEM",
                            f.display()
                        ))
                    })?;
                if certs.is_empty() {
                    return Err(RecordsError::Schema(format!(
                        "records.postgres_ca_file {}: no certificate in it",
                        f.display()
                    )));
                }
                for c in certs {
                    roots.add(c).map_err(|e| {
                        RecordsError::Schema(format!(
                            "records.postgres_ca_file {}: unusable certificate ({e})",
                            f.display()
                        ))
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(RecordsError::Schema(format!(
                        "{label}: sslmode=require but the system has no CA certificates to                          check the server with; set records.postgres_ca_file to the CA's PEM                          (or install ca-certificates)"
                    )));
                }
            }
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| RecordsError::Schema(format!("TLS set-up: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(PgTls::Verified(
            tokio_postgres_rustls::MakeRustlsConnect::new(tls),
        ))
    }

    /// Whether connections use TLS.
    pub fn is_on(&self) -> bool {
        matches!(self, PgTls::Verified(_))
    }
}

/// `postgresql://user@host:port/db` for logs: never the password.
fn describe(config: &postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    let db = config.get_dbname().unwrap_or(user);
    format!("postgresql://{user}@{host}:{port}/{db}")
}

impl PostgresBackend {
    /// Connects to `url` (a `postgres://` URL or libpq `key=value` string), sets
    /// `lock_timeout`, and creates or migrates the schema.
    pub fn connect(url: &str, lock_timeout: Duration) -> Result<PostgresBackend, RecordsError> {
        Self::connect_with(url, None, lock_timeout)
    }

    /// Like [`PostgresBackend::connect`], with TLS as [`PgTls`] decides from the URL's
    /// `sslmode` and `ca_file` (`records.postgres_ca_file`).
    pub fn connect_with(
        url: &str,
        ca_file: Option<&std::path::Path>,
        lock_timeout: Duration,
    ) -> Result<PostgresBackend, RecordsError> {
        let config: postgres::Config = url.parse().map_err(|e| RecordsError::Postgres {
            target: crate::config::redact_url_password(url),
            what: "parse records.postgres_url".into(),
            source: e,
        })?;
        let label = describe(&config);
        let mut config = config;
        let tls = PgTls::decide(&config, ca_file, &label)?;
        if tls.is_on() {
            // `prefer` would fall back to plain text when the server declines TLS.
            config.ssl_mode(postgres::config::SslMode::Require);
        }
        let client = open_client(&config, &tls, &label, lock_timeout)?;
        let mut backend = PostgresBackend {
            client,
            config,
            tls,
            label,
            lock_timeout,
        };
        backend.migrate()?;
        Ok(backend)
    }

    /// The client (PostgreSQL-only tooling and queries).
    pub fn client(&mut self) -> Result<&mut Client, RecordsError> {
        self.ensure_connected()?;
        Ok(&mut self.client)
    }

    fn err(&self, what: &str) -> impl Fn(postgres::Error) -> RecordsError + '_ {
        let what = what.to_string();
        move |source| RecordsError::Postgres {
            target: self.label.clone(),
            what: what.clone(),
            source,
        }
    }

    /// After the server restarted or the network broke, the next write reconnects (the one
    /// that found the connection dead failed and was counted).
    fn ensure_connected(&mut self) -> Result<(), RecordsError> {
        if self.client.is_closed() {
            tracing::warn!(db = %self.label, "records database connection lost; reconnecting");
            self.client = open_client(&self.config, &self.tls, &self.label, self.lock_timeout)?;
        }
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), RecordsError> {
        let label = self.label.clone();
        let e = |what: &str| {
            let what = what.to_string();
            let label = label.clone();
            move |source| RecordsError::Postgres {
                target: label.clone(),
                what: what.clone(),
                source,
            }
        };
        self.client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
            .map_err(e("take the migration lock"))?;
        let result = self.migrate_locked();
        let unlocked = self
            .client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
            .map_err(e("release the migration lock"));
        result?;
        unlocked.map(|_| ())
    }

    fn migrate_locked(&mut self) -> Result<(), RecordsError> {
        let current = self.schema_version()?;
        if current > SCHEMA_VERSION_POSTGRES {
            return Err(RecordsError::Schema(format!(
                "{} has schema version {current}, this build knows up to \
                 {SCHEMA_VERSION_POSTGRES}: it was written by a newer Enclave; upgrade every \
                 agent sharing it, or point records.postgres_url elsewhere",
                self.label
            )));
        }
        for (from, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let to = from as i64 + 1;
            let label = self.label.clone();
            let what = format!("migrate schema {from} → {to}");
            let run = |client: &mut Client| -> Result<(), postgres::Error> {
                let mut tx = client.transaction()?;
                tx.batch_execute(sql)?;
                tx.execute("DELETE FROM schema_version", &[])?;
                tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&to])?;
                tx.commit()
            };
            run(&mut self.client).map_err(|source| RecordsError::Postgres {
                target: label,
                what,
                source,
            })?;
            tracing::info!(db = %self.label, from, to, "records database migrated");
        }
        Ok(())
    }
}

fn open_client(
    config: &postgres::Config,
    tls: &PgTls,
    label: &str,
    lock_timeout: Duration,
) -> Result<Client, RecordsError> {
    let err = |what: &str| {
        let what = what.to_string();
        move |source| RecordsError::Postgres {
            target: label.to_string(),
            what: what.clone(),
            source,
        }
    };
    let mut config = config.clone();
    if config.get_application_name().is_none() {
        config.application_name("enclave");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    let mut client = match tls {
        PgTls::Off => config.connect(NoTls),
        PgTls::Verified(c) => config.connect(c.clone()),
    }
    .map_err(err("connect"))?;
    // A row lock held by someone else delays a write by at most this (then it fails and is
    // counted), like SQLite's busy_timeout.
    client
        .batch_execute(&format!(
            "SET lock_timeout = {}",
            lock_timeout.as_millis().max(1)
        ))
        .map_err(err("set lock_timeout"))?;
    Ok(client)
}

fn opt_i64(v: Option<u32>) -> Option<i64> {
    v.map(i64::from)
}

fn opt_u32(v: Option<i64>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

impl RecordsBackend for PostgresBackend {
    fn label(&self) -> &str {
        &self.label
    }

    fn insert_call(&mut self, c: &CallStart) -> Result<(), RecordsError> {
        self.ensure_connected()?;
        let models = serde_json::to_string(&c.models).unwrap_or_else(|_| "{}".into());
        let r = self.client.execute(
            "INSERT INTO calls (uuid, caller_id, started_at, language, models, profile)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (uuid) DO UPDATE SET caller_id = excluded.caller_id,
                 started_at = excluded.started_at, language = excluded.language,
                 models = excluded.models, profile = excluded.profile",
            &[
                &c.uuid.to_string(),
                &c.caller_id,
                &unix_ms(c.started_at),
                &c.language,
                &models,
                &c.profile,
            ],
        );
        r.map(|_| ()).map_err(self.err("write call start"))
    }

    fn insert_turn(
        &mut self,
        t: &TurnRecord,
        text: &str,
        tool_calls_json: &str,
    ) -> Result<(), RecordsError> {
        self.ensure_connected()?;
        let l = &t.latencies;
        let uuid = t.call_uuid.to_string();
        let run = |client: &mut Client| -> Result<(), postgres::Error> {
            let mut tx = client.transaction()?;
            // A turn whose call_started was dropped still gets a (minimal) call row.
            tx.execute(
                "INSERT INTO calls (uuid, started_at) VALUES ($1, $2) ON CONFLICT (uuid) DO NOTHING",
                &[&uuid, &unix_ms(t.started_at)],
            )?;
            tx.execute(
                "INSERT INTO turns (call_uuid, seq, role, text, started_at, ended_at,
                     endpointing_ms, asr_ms, llm_ttft_ms, llm_first_sentence_ms,
                     tts_first_audio_ms, turn_latency_ms, interrupted, tool_calls)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                &[
                    &uuid,
                    &i64::from(t.seq),
                    &t.role.as_str(),
                    &text,
                    &unix_ms(t.started_at),
                    &unix_ms(t.ended_at),
                    &opt_i64(l.endpointing_ms),
                    &opt_i64(l.asr_ms),
                    &opt_i64(l.llm_ttft_ms),
                    &opt_i64(l.llm_first_sentence_ms),
                    &opt_i64(l.tts_first_audio_ms),
                    &opt_i64(l.turn_latency_ms),
                    &i64::from(t.interrupted),
                    &tool_calls_json,
                ],
            )?;
            tx.commit()
        };
        let r = run(&mut self.client);
        r.map_err(self.err("write turn"))
    }

    fn update_call_end(&mut self, e: &CallEnd) -> Result<(), RecordsError> {
        self.ensure_connected()?;
        let ended = unix_ms(e.ended_at);
        let uuid = e.uuid.to_string();
        let run = |client: &mut Client| -> Result<(), postgres::Error> {
            let mut tx = client.transaction()?;
            tx.execute(
                "INSERT INTO calls (uuid, started_at) VALUES ($1, $2) ON CONFLICT (uuid) DO NOTHING",
                &[&uuid, &ended],
            )?;
            tx.execute(
                "UPDATE calls SET ended_at = $2, duration_ms = GREATEST(0, $2 - started_at),
                     outcome = $3, transfer_target = $4, language = coalesce($5, language),
                     error = $6
                 WHERE uuid = $1",
                &[
                    &uuid,
                    &ended,
                    &e.outcome.as_str(),
                    &e.transfer_target,
                    &e.language,
                    &e.error,
                ],
            )?;
            tx.commit()
        };
        let r = run(&mut self.client);
        r.map_err(self.err("write call end"))
    }

    fn delete_calls_before(&mut self, cutoff_ms: i64) -> Result<DeletedRows, RecordsError> {
        self.ensure_connected()?;
        let run = |client: &mut Client| -> Result<DeletedRows, postgres::Error> {
            let mut tx = client.transaction()?;
            let uuids = tx
                .query(
                    "SELECT uuid FROM calls WHERE started_at < $1",
                    &[&cutoff_ms],
                )?
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect();
            let turns = tx.execute(
                "DELETE FROM turns WHERE call_uuid IN (SELECT uuid FROM calls WHERE started_at < $1)",
                &[&cutoff_ms],
            )?;
            let calls = tx.execute("DELETE FROM calls WHERE started_at < $1", &[&cutoff_ms])?;
            tx.commit()?;
            Ok(DeletedRows {
                uuids,
                calls: calls as usize,
                turns: turns as usize,
            })
        };
        let r = run(&mut self.client);
        r.map_err(self.err("purge old calls"))
    }

    fn load_call(&mut self, uuid: &Uuid) -> Result<Option<StoredCall>, RecordsError> {
        self.ensure_connected()?;
        let key = uuid.to_string();
        let row = self
            .client
            .query_opt(
                "SELECT caller_id, started_at, ended_at, duration_ms, outcome, transfer_target,
                        language, models, error
                 FROM calls WHERE uuid = $1",
                &[&key],
            )
            .map_err(self.err("read call"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let outcome = match row.get::<_, Option<String>>(4) {
            Some(o) => Some(
                CallOutcome::parse(&o)
                    .ok_or_else(|| RecordsError::Corrupt(format!("calls.outcome `{o}`")))?,
            ),
            None => None,
        };
        let models = serde_json::from_str(&row.get::<_, String>(7))
            .map_err(|e| RecordsError::Corrupt(format!("calls.models: {e}")))?;
        let rows = self
            .client
            .query(
                "SELECT seq, role, text, started_at, ended_at, endpointing_ms, asr_ms, llm_ttft_ms,
                        llm_first_sentence_ms, tts_first_audio_ms, turn_latency_ms, interrupted,
                        tool_calls
                 FROM turns WHERE call_uuid = $1 ORDER BY seq",
                &[&key],
            )
            .map_err(self.err("read turns"))?;
        let mut turns = Vec::with_capacity(rows.len());
        for r in rows {
            let role: String = r.get(1);
            let tool_calls: String = r.get(12);
            turns.push(StoredTurn {
                seq: u32::try_from(r.get::<_, i64>(0))
                    .map_err(|_| RecordsError::Corrupt("turns.seq".into()))?,
                role: Role::parse(&role)
                    .ok_or_else(|| RecordsError::Corrupt(format!("turns.role `{role}`")))?,
                text: r.get(2),
                started_at_ms: r.get(3),
                ended_at_ms: r.get(4),
                latencies: TurnLatencies {
                    endpointing_ms: opt_u32(r.get(5)),
                    asr_ms: opt_u32(r.get(6)),
                    llm_ttft_ms: opt_u32(r.get(7)),
                    llm_first_sentence_ms: opt_u32(r.get(8)),
                    tts_first_audio_ms: opt_u32(r.get(9)),
                    turn_latency_ms: opt_u32(r.get(10)),
                },
                interrupted: r.get::<_, i64>(11) != 0,
                tool_calls: serde_json::from_str(&tool_calls)
                    .map_err(|e| RecordsError::Corrupt(format!("turns.tool_calls: {e}")))?,
            });
        }
        Ok(Some(StoredCall {
            uuid: *uuid,
            caller_id: row.get(0),
            started_at_ms: row.get(1),
            ended_at_ms: row.get(2),
            duration_ms: row.get(3),
            outcome,
            transfer_target: row.get(5),
            language: row.get(6),
            models,
            error: row.get(8),
            turns,
        }))
    }

    fn schema_version(&mut self) -> Result<i64, RecordsError> {
        self.ensure_connected()?;
        let label = self.label.clone();
        let run = |client: &mut Client| -> Result<i64, postgres::Error> {
            client.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
            )?;
            let v: Option<i64> = client
                .query_one("SELECT max(version) FROM schema_version", &[])?
                .get(0);
            Ok(v.unwrap_or(0))
        };
        run(&mut self.client).map_err(|source| RecordsError::Postgres {
            target: label,
            what: "read schema_version".into(),
            source,
        })
    }

    fn as_postgres(&mut self) -> Option<&mut Client> {
        if self.ensure_connected().is_err() {
            return None;
        }
        Some(&mut self.client)
    }
}
