//! `agent events status|dead-letters|requeue`: the result-event outbox of the records database.

use crate::outbox::store;
use crate::records::schema::open_connection;
use anyhow::Context;
use clap::Subcommand;
use std::path::Path;
use std::time::Duration;

/// Outbox subcommands.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Per sink: events still owed, delivered, dead-lettered.
    Status,
    /// The dead-lettered events of a sink, with their last error.
    DeadLetters {
        /// Sink name (`webhook`, `kafka`).
        #[arg(long)]
        sink: String,
    },
    /// Makes a sink's dead letters pending again (after the receiver was fixed); a running
    /// agent picks them up within its poll interval of the next wake, or at its next start.
    Requeue {
        /// Sink name (`webhook`, `kafka`).
        #[arg(long)]
        sink: String,
    },
}

/// Runs an events subcommand against `records.db_path`.
pub fn run(path: Option<&Path>, cmd: EventsCommand) -> anyhow::Result<()> {
    let config = super::load_config(path)?;
    let db = &config.records.db_path;
    let conn = open_connection(db, Duration::from_millis(config.records.busy_timeout_ms))
        .with_context(|| format!("opening {}", db.display()))?;
    match cmd {
        EventsCommand::Status => {
            let total: i64 = conn.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))?;
            println!("{}: {total} events in the outbox", db.display());
            let mut sinks: Vec<String> = conn
                .prepare("SELECT DISTINCT sink FROM outbox_deliveries ORDER BY sink")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for configured in [
                config.events.webhook_enabled().then_some("webhook"),
                config.events.kafka_enabled().then_some("kafka"),
            ]
            .into_iter()
            .flatten()
            {
                if !sinks.iter().any(|s| s == configured) {
                    sinks.push(configured.to_string());
                }
            }
            for sink in sinks {
                let delivered: i64 = conn.query_row(
                    "SELECT count(*) FROM outbox_deliveries WHERE sink = ?1 AND delivered_at IS NOT NULL",
                    [&sink],
                    |r| r.get(0),
                )?;
                let pending = store::pending_count(&conn, &sink, 0)?;
                let dead = store::dead_letters(&conn, &sink)?.len();
                println!("{sink}: pending {pending}, delivered {delivered}, dead letters {dead}");
            }
        }
        EventsCommand::DeadLetters { sink } => {
            for (id, attempts, error) in store::dead_letters(&conn, &sink)? {
                println!("{id}\tattempts {attempts}\t{error}");
            }
        }
        EventsCommand::Requeue { sink } => {
            let n = store::requeue_dead_letters(&conn, &sink)?;
            println!("{n} dead-lettered events of {sink} are pending again");
        }
    }
    Ok(())
}
