//! `agent campaign import|start|pause|resume|stop|status|export|dnc`: campaigns in the
//! records database. The dialling itself runs inside `agent serve` (`[campaign] enabled`).

use crate::campaign::{csv_io, CampaignRules, CampaignScript, CampaignState, CampaignStore};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

/// Campaign subcommands.
#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Add contacts from a CSV file (creating the campaign if it does not exist).
    Import(ImportArgs),
    /// Start dialling (a draft or paused campaign).
    Start(IdArg),
    /// Stop placing new calls; calls in flight finish.
    Pause(IdArg),
    /// Continue a paused campaign.
    Resume(IdArg),
    /// End the campaign: no new calls ever.
    Stop(IdArg),
    /// Counts per contact state and result.
    Status(StatusArgs),
    /// Write every contact's result as CSV.
    Export(ExportArgs),
    /// Put a phone number on the do-not-call list.
    Dnc(DncArgs),
}

/// A campaign id.
#[derive(Debug, Args)]
pub struct IdArg {
    /// Campaign id.
    pub id: String,
}

/// `campaign import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Campaign id (created when new).
    pub id: String,
    /// CSV with a header: external_id (or id), phone, time_zone (or tz), then any variables
    /// (name, appointment, amount, …).
    pub csv: PathBuf,
    /// Time zone for rows without one (IANA name, e.g. Europe/Moscow).
    #[arg(long)]
    pub time_zone: Option<String>,
    /// Rules for a new campaign (TOML: window_start, window_end, days, max_concurrent,
    /// calls_per_minute, max_attempts, [retry_delay_secs] busy/no_answer/failed/machine).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Agent profile a new campaign uses.
    #[arg(long, default_value = "default")]
    pub profile: String,
    /// Greeting of a new campaign, with {variable} placeholders.
    #[arg(long, default_value = "")]
    pub greeting: String,
    /// The question a new campaign settles, e.g. "Will you come on {appointment}?".
    #[arg(long, default_value = "")]
    pub question: String,
    /// Extra instructions for the LLM on these calls.
    #[arg(long, default_value = "")]
    pub instructions: String,
}

/// `campaign status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Campaign id.
    pub id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `campaign export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Campaign id.
    pub id: String,
    /// Output file (default: standard output).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

/// `campaign dnc`.
#[derive(Debug, Args)]
pub struct DncArgs {
    /// Phone number.
    pub phone: String,
    /// Why (kept with the entry).
    #[arg(long, default_value = "requested")]
    pub reason: String,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Runs a campaign subcommand.
pub fn run(config_path: Option<&Path>, cmd: CampaignCommand) -> anyhow::Result<()> {
    let config = super::load_config(config_path)?;
    let db = &config.records.db_path;
    let store = CampaignStore::open(db)
        .with_context(|| format!("opening the records database {}", db.display()))?;
    match cmd {
        CampaignCommand::Import(a) => import(&store, a),
        CampaignCommand::Start(a) => transition(&store, &a.id, CampaignState::Running, "started"),
        CampaignCommand::Resume(a) => transition(&store, &a.id, CampaignState::Running, "resumed"),
        CampaignCommand::Pause(a) => transition(&store, &a.id, CampaignState::Paused, "paused"),
        CampaignCommand::Stop(a) => transition(&store, &a.id, CampaignState::Stopped, "stopped"),
        CampaignCommand::Status(a) => {
            let s = store.status(&a.id)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!("campaign {}: {}", a.id, s.state);
                println!("  attempts: {} ({} in flight)", s.attempts, s.in_flight);
                for (state, n) in &s.contacts {
                    println!("  contacts {state}: {n}");
                }
                for (result, n) in &s.results {
                    println!("  result {result}: {n}");
                }
            }
            Ok(())
        }
        CampaignCommand::Export(a) => {
            let rows = store.export_rows(&a.id)?;
            match &a.output {
                Some(p) => {
                    let f = std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?;
                    csv_io::write_results(f, &rows)?;
                    eprintln!("{} contacts written to {}", rows.len(), p.display());
                }
                None => csv_io::write_results(std::io::stdout().lock(), &rows)?,
            }
            Ok(())
        }
        CampaignCommand::Dnc(a) => {
            store.add_do_not_call(&a.phone, &a.reason, now_ms())?;
            println!("{} is on the do-not-call list", a.phone);
            Ok(())
        }
    }
}

fn transition(
    store: &CampaignStore,
    id: &str,
    to: CampaignState,
    verb: &str,
) -> anyhow::Result<()> {
    let from = store.set_state(id, to, now_ms())?;
    println!("campaign {id} {verb} (was {})", from.as_str());
    if to == CampaignState::Running {
        println!("  calls are placed by `agent serve` with [campaign] enabled = true");
    }
    Ok(())
}

fn import(store: &CampaignStore, a: ImportArgs) -> anyhow::Result<()> {
    if store.campaign(&a.id).is_err() {
        let rules: CampaignRules = match &a.rules {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading rules {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("rules {}", p.display()))?
            }
            None => CampaignRules::default(),
        };
        let script = CampaignScript {
            greeting: a.greeting.clone(),
            question: a.question.clone(),
            instructions: a.instructions.clone(),
        };
        store.create_campaign(&a.id, &a.profile, &rules, &script, now_ms())?;
        println!("campaign {} created (draft, profile {})", a.id, a.profile);
    }
    let file =
        std::fs::File::open(&a.csv).with_context(|| format!("opening {}", a.csv.display()))?;
    let parsed = csv_io::read_contacts(file, a.time_zone.as_deref())
        .with_context(|| format!("reading {}", a.csv.display()))?;
    for (line, e) in &parsed.rejected {
        eprintln!("{}:{line}: skipped: {e}", a.csv.display());
    }
    let report = store.add_contacts(&a.id, &parsed.contacts, now_ms())?;
    for (i, e) in &report.rejected {
        eprintln!("{}: row {}: skipped: {e}", a.csv.display(), i + 1);
    }
    println!(
        "{} contacts added, {} already present, {} refused",
        report.added,
        report.duplicates,
        report.rejected.len() + parsed.rejected.len()
    );
    Ok(())
}
