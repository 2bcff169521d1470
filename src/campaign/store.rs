//! Campaign state in the records database: campaigns, contacts, attempts, do-not-call.
//!
//! Every change that a business system must hear of (an attempt's end, a contact's final
//! result) is written with [`crate::outbox::enqueue`] in the same transaction. Claiming is
//! one `BEGIN IMMEDIATE` transaction that re-checks each contact's state and the campaign's
//! limits, so two runners (or one restarted) never dial a contact twice at once.

mod view;

pub use view::{AttemptView, ContactView};

use super::classify::Classification;
use super::rules::{parse_time_zone, CampaignRules, DialResult, NextStep, Rules};
use super::scheduler::{Candidate, Load};
use super::{CampaignError, CampaignScript, CampaignState};
use crate::outbox::{enqueue, NewEvent};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    /// Its id (a name).
    pub id: String,
    /// The agent profile it names.
    pub profile: String,
    /// Where it stands.
    pub state: CampaignState,
    /// Its rules, checked.
    pub rules: Rules,
    /// Greeting, question and instructions, with `{variable}` placeholders.
    pub script: CampaignScript,
}

/// A contact to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewContact {
    /// The business system's id (unique within the campaign).
    pub external_id: String,
    /// Phone number as given (normalised on the way in).
    pub phone: String,
    /// IANA time zone name.
    pub time_zone: String,
    /// Free variables (`name`, `appointment`, `amount`, …) for the script.
    pub variables: serde_json::Map<String, Value>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    /// Contacts added.
    pub added: usize,
    /// Contacts already in the campaign (same external id), left as they were.
    pub duplicates: usize,
    /// Rows refused, with why (row index from 0, message).
    pub rejected: Vec<(usize, String)>,
}

/// A contact claimed for dialling: its attempt is written and it is `dialling`.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// `campaign_attempts.id`.
    pub attempt_id: i64,
    /// `campaign_contacts.id`.
    pub contact_id: i64,
    /// The business system's id.
    pub external_id: String,
    /// Normalised phone number.
    pub phone: String,
    /// Attempt number (1 for the first).
    pub seq: u32,
    /// The AudioSocket uuid this call will carry (`AS_UUID`).
    pub call_uuid: Uuid,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    /// The dial result.
    pub result: DialResult,
    /// What Asterisk said (Reason, Hangup cause), or why the agent decided.
    pub cause: Option<String>,
    /// The answer's classification, for answered calls.
    pub classification: Option<Classification>,
}

/// What [`CampaignStore::finish_attempt`] did to the contact.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// The contact's external id.
    pub external_id: String,
    /// `Some(at)` when it will be retried (unix ms), `None` when final.
    pub retry_at: Option<i64>,
    /// The final result name, when final.
    pub final_result: Option<String>,
}

/// An attempt not ended, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAttempt {
    /// `campaign_attempts.id`.
    pub attempt_id: i64,
    /// Its campaign.
    pub campaign_id: String,
    /// The call uuid.
    pub call_uuid: Uuid,
    /// `dialling` or `answered`.
    pub state: String,
    /// Who claimed it.
    pub owner: String,
    /// Lease end (unix ms).
    pub lease_until: i64,
    /// When it started (unix ms).
    pub started_at: i64,
}

/// What the agent needs to know about an outbound call when it connects.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundCall {
    /// The campaign.
    pub campaign_id: String,
    /// The agent profile the campaign names.
    pub profile: String,
    /// The campaign's script (placeholders not yet filled).
    pub script: CampaignScript,
    /// The contact's external id.
    pub external_id: String,
    /// The contact's variables.
    pub variables: serde_json::Map<String, Value>,
}

/// Counts for `agent campaign status`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CampaignStatus {
    /// The campaign's state.
    pub state: String,
    /// Contacts per state.
    pub contacts: std::collections::BTreeMap<String, i64>,
    /// Final contacts per result.
    pub results: std::collections::BTreeMap<String, i64>,
    /// Attempts made.
    pub attempts: i64,
    /// Attempts in flight.
    pub in_flight: i64,
}

/// One contact's row in the results export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    /// External id.
    pub external_id: String,
    /// Phone.
    pub phone: String,
    /// Contact state.
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// Final result (decision or dial result).
    pub result: Option<String>,
    /// 1C code.
    pub code: Option<i64>,
    /// Note.
    pub note: Option<String>,
    /// The last attempt's call uuid.
    pub last_call: Option<String>,
    /// Variables (JSON).
    pub variables: String,
}

/// Normalises a phone number: digits, with a leading `+` kept; spaces, dashes, dots and
/// brackets dropped. Anything else, or fewer than 3 digits, is refused.
pub fn normalise_phone(raw: &str) -> Result<String, CampaignError> {
    let t = raw.trim();
    let mut out = String::new();
    for (i, c) in t.chars().enumerate() {
        match c {
            '+' if i == 0 => out.push('+'),
            '0'..='9' => out.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => {
                return Err(CampaignError::Contact(format!(
                    "phone `{raw}`: only digits, a leading +, spaces, dashes, dots and brackets are allowed"
                )))
            }
        }
    }
    if out.trim_start_matches('+').len() < 3 || out.len() > 32 {
        return Err(CampaignError::Contact(format!(
            "phone `{raw}`: expected 3 to 31 digits"
        )));
    }
    Ok(out)
}

/// The campaign tables of one records database (its own connection).
#[derive(Debug)]
pub struct CampaignStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn db<'a>(path: &'a Path, what: &str) -> impl FnOnce(rusqlite::Error) -> CampaignError + 'a {
    let what = what.to_string();
    move |e| CampaignError::Db {
        path: path.to_path_buf(),
        what,
        source: e,
    }
}

impl CampaignStore {
    /// Opens (creating and migrating) the records database at `path`.
    pub fn open(path: &Path) -> Result<CampaignStore, CampaignError> {
        let conn = crate::records::schema::open_connection(path, Duration::from_secs(10))
            .map_err(|e| CampaignError::Records(e.to_string()))?;
        Ok(CampaignStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates campaign `id` in state `draft`.
    pub fn create_campaign(
        &self,
        id: &str,
        profile: &str,
        rules: &CampaignRules,
        script: &CampaignScript,
        now_ms: i64,
    ) -> Result<(), CampaignError> {
        Rules::new(rules.clone())?;
        if id.trim().is_empty() || id.len() > 100 {
            return Err(CampaignError::Invalid(
                "a campaign id must be 1..=100 characters".into(),
            ));
        }
        let conn = self.lock();
        let n = conn
            .execute(
                "INSERT OR IGNORE INTO campaigns (id, profile, state, rules, script, created_at, updated_at)
                 VALUES (?1, ?2, 'draft', ?3, ?4, ?5, ?5)",
                params![
                    id,
                    profile,
                    serde_json::to_string(rules).unwrap_or_default(),
                    serde_json::to_string(script).unwrap_or_default(),
                    now_ms
                ],
            )
            .map_err(db(&self.path, "create campaign"))?;
        if n == 0 {
            return Err(CampaignError::Invalid(format!(
                "campaign `{id}` already exists"
            )));
        }
        Ok(())
    }

    /// Reads campaign `id`.
    pub fn campaign(&self, id: &str) -> Result<Campaign, CampaignError> {
        let conn = self.lock();
        Self::campaign_on(&conn, &self.path, id)?
            .ok_or_else(|| CampaignError::NotFound(format!("campaign `{id}`")))
    }

    fn campaign_on(
        conn: &Connection,
        path: &Path,
        id: &str,
    ) -> Result<Option<Campaign>, CampaignError> {
        let row = conn
            .query_row(
                "SELECT profile, state, rules, script FROM campaigns WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(db(path, "read campaign"))?;
        let Some((profile, state, rules, script)) = row else {
            return Ok(None);
        };
        let rules: CampaignRules = serde_json::from_str(&rules)
            .map_err(|e| CampaignError::Corrupt(format!("campaigns.rules of `{id}`: {e}")))?;
        let script: CampaignScript = serde_json::from_str(&script)
            .map_err(|e| CampaignError::Corrupt(format!("campaigns.script of `{id}`: {e}")))?;
        Ok(Some(Campaign {
            id: id.to_string(),
            profile,
            state: CampaignState::parse(&state)
                .ok_or_else(|| CampaignError::Corrupt(format!("campaigns.state `{state}`")))?,
            rules: Rules::new(rules)?,
            script,
        }))
    }

    /// Ids of the campaigns in `state`.
    pub fn campaigns_in(&self, state: CampaignState) -> Result<Vec<String>, CampaignError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached("SELECT id FROM campaigns WHERE state = ?1 ORDER BY id")
            .map_err(db(&self.path, "list campaigns"))?;
        let rows = stmt
            .query_map([state.as_str()], |r| r.get::<_, String>(0))
            .map_err(db(&self.path, "list campaigns"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db(&self.path, "list campaigns"))
    }

    /// Moves campaign `id` to `to` (start, pause, resume, stop); returns the state it left.
    /// Allowed: draft/paused → running, running → paused, any but finished → stopped.
    pub fn set_state(
        &self,
        id: &str,
        to: CampaignState,
        now_ms: i64,
    ) -> Result<CampaignState, CampaignError> {
        use CampaignState::*;
        let conn = self.lock();
        let from = Self::campaign_on(&conn, &self.path, id)?
            .ok_or_else(|| CampaignError::NotFound(format!("campaign `{id}`")))?
            .state;
        let ok = matches!(
            (from, to),
            (Draft | Paused, Running) | (Running, Paused) | (Draft | Running | Paused, Stopped)
        ) || from == to;
        if !ok {
            return Err(CampaignError::Invalid(format!(
                "campaign `{id}` is {}: it cannot become {}",
                from.as_str(),
                to.as_str()
            )));
        }
        conn.execute(
            "UPDATE campaigns SET state = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, to.as_str(), now_ms],
        )
        .map_err(db(&self.path, "set campaign state"))?;
        Ok(from)
    }

    /// Adds contacts to `campaign` in one transaction. Bad rows are refused with their index
    /// and reason; the others are added. The function the HTTP API calls.
    pub fn add_contacts(
        &self,
        campaign: &str,
        contacts: &[NewContact],
        now_ms: i64,
    ) -> Result<ImportReport, CampaignError> {
        let mut conn = self.lock();
        if Self::campaign_on(&conn, &self.path, campaign)?.is_none() {
            return Err(CampaignError::NotFound(format!("campaign `{campaign}`")));
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db(&self.path, "begin import"))?;
        let mut report = ImportReport::default();
        for (i, c) in contacts.iter().enumerate() {
            let checked = (|| {
                if c.external_id.trim().is_empty() {
                    return Err(CampaignError::Contact("external id is empty".into()));
                }
                let phone = normalise_phone(&c.phone)?;
                let tz = parse_time_zone(&c.time_zone)?;
                Ok((phone, tz))
            })();
            let (phone, tz) = match checked {
                Ok(v) => v,
                Err(e) => {
                    report.rejected.push((i, e.to_string()));
                    continue;
                }
            };
            let n = tx
                .execute(
                    "INSERT OR IGNORE INTO campaign_contacts
                       (campaign_id, external_id, phone, time_zone, variables, state, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6)",
                    params![
                        campaign,
                        c.external_id.trim(),
                        phone,
                        tz.name(),
                        Value::Object(c.variables.clone()).to_string(),
                        now_ms
                    ],
                )
                .map_err(db(&self.path, "insert contact"))?;
            if n == 1 {
                report.added += 1;
            } else {
                report.duplicates += 1;
            }
        }
        tx.commit().map_err(db(&self.path, "commit import"))?;
        Ok(report)
    }

    /// Puts `phone` on the do-not-call list (contacts with it are never dialled again).
    pub fn add_do_not_call(
        &self,
        phone: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), CampaignError> {
        let phone = normalise_phone(phone)?;
        self.lock()
            .execute(
                "INSERT OR REPLACE INTO do_not_call (phone, reason, added_at) VALUES (?1, ?2, ?3)",
                params![phone, reason, now_ms],
            )
            .map_err(db(&self.path, "add do-not-call"))?;
        Ok(())
    }

    /// The campaign's dialable contacts and its load at `now_ms`.
    pub fn candidates(
        &self,
        campaign: &str,
        now_ms: i64,
    ) -> Result<(Vec<Candidate>, Load), CampaignError> {
        let conn = self.lock();
        let load = Self::load_on(&conn, campaign, now_ms).map_err(db(&self.path, "read load"))?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, time_zone, next_attempt_at, attempts FROM campaign_contacts
                 WHERE campaign_id = ?1 AND state IN ('pending','retry') AND next_attempt_at <= ?2
                 ORDER BY next_attempt_at, id LIMIT 1000",
            )
            .map_err(db(&self.path, "read candidates"))?;
        let rows = stmt
            .query_map(params![campaign, now_ms], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, u32>(3)?,
                ))
            })
            .map_err(db(&self.path, "read candidates"))?;
        let mut out = Vec::new();
        for row in rows {
            let (contact_id, tz, next, attempts) =
                row.map_err(db(&self.path, "read candidates"))?;
            let tz = parse_time_zone(&tz).map_err(|_| {
                CampaignError::Corrupt(format!("campaign_contacts.time_zone `{tz}`"))
            })?;
            out.push(Candidate {
                contact_id,
                tz,
                next_attempt_at_ms: next,
                attempts,
            });
        }
        Ok((out, load))
    }

    fn load_on(conn: &Connection, campaign: &str, now_ms: i64) -> rusqlite::Result<Load> {
        let in_flight: i64 = conn.query_row(
            "SELECT count(*) FROM campaign_attempts WHERE campaign_id = ?1 AND state != 'ended'",
            [campaign],
            |r| r.get(0),
        )?;
        let recent: i64 = conn.query_row(
            "SELECT count(*) FROM campaign_attempts WHERE campaign_id = ?1 AND started_at > ?2",
            params![campaign, now_ms - 60_000],
            |r| r.get(0),
        )?;
        Ok(Load {
            in_flight: in_flight as u32,
            started_last_minute: recent as u32,
        })
    }

    /// Claims `contact_ids` for dialling by `owner` in one transaction: each is re-checked
    /// (still due, attempts left, campaign running, limits not exceeded); one on the
    /// do-not-call list becomes `dnc` (with its result event) instead.
    pub fn claim(
        &self,
        campaign: &str,
        contact_ids: &[i64],
        owner: &str,
        now_ms: i64,
        lease: Duration,
    ) -> Result<Vec<Claimed>, CampaignError> {
        let mut conn = self.lock();
        let path = self.path.clone();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db(&path, "begin claim"))?;
        let Some(c) = Self::campaign_on(&tx, &path, campaign)? else {
            return Ok(Vec::new());
        };
        if c.state != CampaignState::Running {
            return Ok(Vec::new());
        }
        let load = Self::load_on(&tx, campaign, now_ms).map_err(db(&path, "read load"))?;
        let rules = &c.rules.raw;
        let mut budget = rules.max_concurrent.saturating_sub(load.in_flight).min(
            rules
                .calls_per_minute
                .saturating_sub(load.started_last_minute),
        );
        let mut claimed = Vec::new();
        for &id in contact_ids {
            if budget == 0 {
                break;
            }
            let row = tx
                .query_row(
                    "SELECT external_id, phone, state, next_attempt_at, attempts, variables
                     FROM campaign_contacts WHERE id = ?1 AND campaign_id = ?2",
                    params![id, campaign],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, u32>(4)?,
                            r.get::<_, String>(5)?,
                        ))
                    },
                )
                .optional()
                .map_err(db(&path, "read contact"))?;
            let Some((external_id, phone, state, next, attempts, variables)) = row else {
                continue;
            };
            if !(state == "pending" || state == "retry")
                || next > now_ms
                || attempts >= rules.max_attempts
            {
                continue;
            }
            let dnc: Option<String> = tx
                .query_row(
                    "SELECT reason FROM do_not_call WHERE phone = ?1",
                    [&phone],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db(&path, "read do-not-call"))?;
            if let Some(reason) = dnc {
                tx.execute(
                    "UPDATE campaign_contacts SET state = 'dnc', result = 'do_not_call', code = 0,
                       note = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, reason, now_ms],
                )
                .map_err(db(&path, "mark do-not-call"))?;
                enqueue(
                    &tx,
                    &NewEvent {
                        kind: "contact.result".into(),
                        key: external_id.clone(),
                        payload: json!({
                            "campaign": campaign,
                            "contact": external_id,
                            "phone": phone,
                            "result": "do_not_call",
                            "code": 0,
                            "note": reason,
                            "attempts": attempts,
                            "variables": serde_json::from_str::<Value>(&variables).unwrap_or(Value::Null),
                        }),
                    },
                )
                .map_err(db(&path, "enqueue result"))?;
                continue;
            }
            let seq = attempts + 1;
            let call_uuid = Uuid::new_v4();
            tx.execute(
                "UPDATE campaign_contacts SET state = 'dialling', attempts = ?2, updated_at = ?3
                 WHERE id = ?1 AND state IN ('pending','retry')",
                params![id, seq, now_ms],
            )
            .map_err(db(&path, "claim contact"))?;
            tx.execute(
                "INSERT INTO campaign_attempts
                   (contact_id, campaign_id, seq, call_uuid, state, owner, lease_until, started_at)
                 VALUES (?1, ?2, ?3, ?4, 'dialling', ?5, ?6, ?7)",
                params![
                    id,
                    campaign,
                    seq,
                    call_uuid.to_string(),
                    owner,
                    now_ms + lease.as_millis() as i64,
                    now_ms
                ],
            )
            .map_err(db(&path, "insert attempt"))?;
            claimed.push(Claimed {
                attempt_id: tx.last_insert_rowid(),
                contact_id: id,
                external_id,
                phone,
                seq,
                call_uuid,
            });
            budget -= 1;
        }
        tx.commit().map_err(db(&path, "commit claim"))?;
        Ok(claimed)
    }

    /// Notes the Originate's ActionID on attempt `attempt_id`.
    pub fn set_action_id(&self, attempt_id: i64, action_id: &str) -> Result<(), CampaignError> {
        self.lock()
            .execute(
                "UPDATE campaign_attempts SET action_id = ?2 WHERE id = ?1",
                params![attempt_id, action_id],
            )
            .map_err(db(&self.path, "set action id"))?;
        Ok(())
    }

    /// Attempt `attempt_id` was answered on `channel`.
    pub fn mark_answered(
        &self,
        attempt_id: i64,
        channel: Option<&str>,
        now_ms: i64,
    ) -> Result<(), CampaignError> {
        self.lock()
            .execute(
                "UPDATE campaign_attempts SET state = 'answered', channel = ?2, answered_at = ?3
                 WHERE id = ?1 AND state = 'dialling'",
                params![attempt_id, channel, now_ms],
            )
            .map_err(db(&self.path, "mark answered"))?;
        Ok(())
    }

    /// Extends the leases of `owner`'s open attempts to `until_ms`.
    pub fn renew_leases(&self, owner: &str, until_ms: i64) -> Result<usize, CampaignError> {
        self.lock()
            .execute(
                "UPDATE campaign_attempts SET lease_until = ?2 WHERE owner = ?1 AND state != 'ended'",
                params![owner, until_ms],
            )
            .map_err(db(&self.path, "renew leases"))
    }

    /// Open attempts whose lease ran out before `now_ms` (their runner is gone).
    pub fn expired_attempts(&self, now_ms: i64) -> Result<Vec<OpenAttempt>, CampaignError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, campaign_id, call_uuid, state, owner, lease_until, started_at
                 FROM campaign_attempts WHERE state != 'ended' AND lease_until < ?1 ORDER BY id",
            )
            .map_err(db(&self.path, "read expired attempts"))?;
        let rows = stmt
            .query_map([now_ms], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })
            .map_err(db(&self.path, "read expired attempts"))?;
        let mut out = Vec::new();
        for row in rows {
            let (attempt_id, campaign_id, uuid, state, owner, lease_until, started_at) =
                row.map_err(db(&self.path, "read expired attempts"))?;
            out.push(OpenAttempt {
                attempt_id,
                campaign_id,
                call_uuid: Uuid::parse_str(&uuid).map_err(|_| {
                    CampaignError::Corrupt(format!("campaign_attempts.call_uuid `{uuid}`"))
                })?,
                state,
                owner,
                lease_until,
                started_at,
            });
        }
        Ok(out)
    }

    /// Whether the records hold call `uuid`, and whether it has ended: `None` no row,
    /// `Some(false)` running, `Some(true)` ended.
    pub fn call_ended(&self, uuid: &Uuid) -> Result<Option<bool>, CampaignError> {
        self.lock()
            .query_row(
                "SELECT ended_at IS NOT NULL FROM calls WHERE uuid = ?1",
                [uuid.to_string()],
                |r| r.get::<_, bool>(0),
            )
            .optional()
            .map_err(db(&self.path, "read call"))
    }

    /// Reads call `uuid` with its turns.
    pub fn load_call(
        &self,
        uuid: &Uuid,
    ) -> Result<Option<crate::records::StoredCall>, CampaignError> {
        let conn = self.lock();
        crate::records::load_call(&conn, &self.path, uuid)
            .map_err(|e| CampaignError::Records(e.to_string()))
    }

    /// Ends attempt `attempt_id` with `outcome` and moves its contact on (retry or final),
    /// writing the `contact.attempt` event, the `contact.result` event when final, and the
    /// call's `calls.disposition`, all in one transaction. An attempt already ended is left
    /// alone (`Ok(None)`): resolving twice never writes a second result.
    pub fn finish_attempt(
        &self,
        attempt_id: i64,
        outcome: &AttemptOutcome,
        now_ms: i64,
    ) -> Result<Option<Finished>, CampaignError> {
        let mut conn = self.lock();
        let path = self.path.clone();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db(&path, "begin finish"))?;
        let row = tx
            .query_row(
                "SELECT a.state, a.contact_id, a.campaign_id, a.seq, a.call_uuid,
                        c.external_id, c.phone, c.variables
                 FROM campaign_attempts a JOIN campaign_contacts c ON c.id = a.contact_id
                 WHERE a.id = ?1",
                [attempt_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, u32>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                    ))
                },
            )
            .optional()
            .map_err(db(&path, "read attempt"))?;
        let Some((state, contact_id, campaign_id, seq, call_uuid, external_id, phone, vars)) = row
        else {
            return Err(CampaignError::NotFound(format!("attempt {attempt_id}")));
        };
        if state == "ended" {
            return Ok(None);
        }
        let campaign = Self::campaign_on(&tx, &path, &campaign_id)?
            .ok_or_else(|| CampaignError::NotFound(format!("campaign `{campaign_id}`")))?;
        let result = outcome.result;
        let decision = outcome.classification.as_ref().map(|c| c.decision);
        let attempt_result = match decision {
            Some(d) => d.as_str(),
            None => result.as_str(),
        };
        tx.execute(
            "UPDATE campaign_attempts SET state = 'ended', result = ?2, cause = ?3, ended_at = ?4
             WHERE id = ?1",
            params![attempt_id, attempt_result, outcome.cause, now_ms],
        )
        .map_err(db(&path, "end attempt"))?;
        let step = campaign.rules.next_step(result, seq, now_ms);
        let (code, note) = match &outcome.classification {
            Some(c) => (c.decision.code() as i64, c.note.clone()),
            None => (0, outcome.cause.clone().unwrap_or_default()),
        };
        let variables = serde_json::from_str::<Value>(&vars).unwrap_or(Value::Null);
        let finished =
            match step {
                NextStep::RetryAt(at) => {
                    tx.execute(
                        "UPDATE campaign_contacts SET state = 'retry', next_attempt_at = ?2,
                       result = NULL, updated_at = ?3 WHERE id = ?1",
                        params![contact_id, at, now_ms],
                    )
                    .map_err(db(&path, "schedule retry"))?;
                    Finished {
                        external_id: external_id.clone(),
                        retry_at: Some(at),
                        final_result: None,
                    }
                }
                NextStep::Final => {
                    let contact_state = if decision.is_some() { "done" } else { "failed" };
                    tx.execute(
                    "UPDATE campaign_contacts SET state = ?2, result = ?3, code = ?4, note = ?5,
                       updated_at = ?6 WHERE id = ?1",
                    params![contact_id, contact_state, attempt_result, code, note, now_ms],
                )
                .map_err(db(&path, "finish contact"))?;
                    Finished {
                        external_id: external_id.clone(),
                        retry_at: None,
                        final_result: Some(attempt_result.to_string()),
                    }
                }
            };
        let mut attempt_event = json!({
            "campaign": campaign_id,
            "contact": external_id,
            "phone": phone,
            "attempt": seq,
            "call_uuid": call_uuid,
            "result": result.as_str(),
            "cause": outcome.cause,
            "retry_at": finished.retry_at,
        });
        if let Some(c) = &outcome.classification {
            attempt_event["decision"] = json!(c.decision.as_str());
            attempt_event["code"] = json!(c.decision.code());
            attempt_event["note"] = json!(c.note);
        }
        enqueue(
            &tx,
            &NewEvent {
                kind: "contact.attempt".into(),
                key: external_id.clone(),
                payload: attempt_event,
            },
        )
        .map_err(db(&path, "enqueue attempt event"))?;
        if finished.retry_at.is_none() {
            enqueue(
                &tx,
                &NewEvent {
                    kind: "contact.result".into(),
                    key: external_id.clone(),
                    payload: json!({
                        "campaign": campaign_id,
                        "contact": external_id,
                        "phone": phone,
                        "result": attempt_result,
                        "code": code,
                        "note": note,
                        "attempts": seq,
                        "call_uuid": call_uuid,
                        "source": outcome.classification.as_ref().map(|c| c.source),
                        "variables": variables,
                    }),
                },
            )
            .map_err(db(&path, "enqueue result event"))?;
        }
        if let Some(c) = &outcome.classification {
            tx.execute(
                "UPDATE calls SET disposition = ?2 WHERE uuid = ?1",
                params![call_uuid, c.disposition_json().to_string()],
            )
            .map_err(db(&path, "write disposition"))?;
        }
        tx.commit().map_err(db(&path, "commit finish"))?;
        Ok(Some(finished))
    }

    /// The outbound call carrying AudioSocket uuid `uuid`, if it is one.
    pub fn lookup_call(&self, uuid: &Uuid) -> Result<Option<OutboundCall>, CampaignError> {
        let conn = self.lock();
        let row = conn
            .query_row(
                "SELECT k.id, k.profile, k.script, c.external_id, c.variables
                 FROM campaign_attempts a
                 JOIN campaign_contacts c ON c.id = a.contact_id
                 JOIN campaigns k ON k.id = a.campaign_id
                 WHERE a.call_uuid = ?1",
                [uuid.to_string()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(db(&self.path, "look up call"))?;
        let Some((campaign_id, profile, script, external_id, variables)) = row else {
            return Ok(None);
        };
        let script = serde_json::from_str(&script)
            .map_err(|e| CampaignError::Corrupt(format!("campaigns.script: {e}")))?;
        let variables = match serde_json::from_str(&variables) {
            Ok(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        Ok(Some(OutboundCall {
            campaign_id,
            profile,
            script,
            external_id,
            variables,
        }))
    }

    /// Counts per contact state and result.
    pub fn status(&self, campaign: &str) -> Result<CampaignStatus, CampaignError> {
        let conn = self.lock();
        let c = Self::campaign_on(&conn, &self.path, campaign)?
            .ok_or_else(|| CampaignError::NotFound(format!("campaign `{campaign}`")))?;
        let mut s = CampaignStatus {
            state: c.state.as_str().into(),
            ..Default::default()
        };
        let mut stmt = conn
            .prepare(
                "SELECT state, coalesce(result, ''), count(*) FROM campaign_contacts
                 WHERE campaign_id = ?1 GROUP BY state, result",
            )
            .map_err(db(&self.path, "status"))?;
        let rows = stmt
            .query_map([campaign], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(db(&self.path, "status"))?;
        for row in rows {
            let (state, result, n) = row.map_err(db(&self.path, "status"))?;
            *s.contacts.entry(state).or_default() += n;
            if !result.is_empty() {
                *s.results.entry(result).or_default() += n;
            }
        }
        s.attempts = conn
            .query_row(
                "SELECT count(*) FROM campaign_attempts WHERE campaign_id = ?1",
                [campaign],
                |r| r.get(0),
            )
            .map_err(db(&self.path, "status"))?;
        s.in_flight = conn
            .query_row(
                "SELECT count(*) FROM campaign_attempts WHERE campaign_id = ?1 AND state != 'ended'",
                [campaign],
                |r| r.get(0),
            )
            .map_err(db(&self.path, "status"))?;
        Ok(s)
    }

    /// Every contact of `campaign` with its result, in import order.
    pub fn export_rows(&self, campaign: &str) -> Result<Vec<ExportRow>, CampaignError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT c.external_id, c.phone, c.state, c.attempts, c.result, c.code, c.note,
                        (SELECT a.call_uuid FROM campaign_attempts a WHERE a.contact_id = c.id
                         ORDER BY a.seq DESC LIMIT 1),
                        c.variables
                 FROM campaign_contacts c WHERE c.campaign_id = ?1 ORDER BY c.id",
            )
            .map_err(db(&self.path, "export"))?;
        let rows = stmt
            .query_map([campaign], |r| {
                Ok(ExportRow {
                    external_id: r.get(0)?,
                    phone: r.get(1)?,
                    state: r.get(2)?,
                    attempts: r.get(3)?,
                    result: r.get(4)?,
                    code: r.get(5)?,
                    note: r.get(6)?,
                    last_call: r.get(7)?,
                    variables: r.get(8)?,
                })
            })
            .map_err(db(&self.path, "export"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db(&self.path, "export"))
    }

    /// Marks a running campaign `finished` when no contact is left to dial or in flight.
    pub fn finish_if_done(&self, campaign: &str, now_ms: i64) -> Result<bool, CampaignError> {
        let n = self
            .lock()
            .execute(
                "UPDATE campaigns SET state = 'finished', updated_at = ?2
                 WHERE id = ?1 AND state = 'running' AND NOT EXISTS (
                   SELECT 1 FROM campaign_contacts WHERE campaign_id = ?1
                     AND state IN ('pending','retry','dialling'))",
                params![campaign, now_ms],
            )
            .map_err(db(&self.path, "finish campaign"))?;
        Ok(n == 1)
    }
}
