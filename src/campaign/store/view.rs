//! Read-only views of the campaign tables for the HTTP API and the console: every campaign's
//! id, and one campaign's contacts a page at a time with their last attempt.

use super::{db, CampaignStore};
use crate::campaign::CampaignError;
use rusqlite::params;
use serde_json::Value;

/// One contact as the console lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactView {
    /// The business system's id.
    pub external_id: String,
    /// Normalised phone number (the API masks it).
    pub phone: String,
    /// IANA time zone.
    pub time_zone: String,
    /// `pending`, `retry`, `dialling`, `done`, `failed` or `dnc`.
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt may start (unix ms; 0 = as soon as allowed).
    pub next_attempt_at_ms: i64,
    /// Final result, once final.
    pub result: Option<String>,
    /// 1C code, once final.
    pub code: Option<i64>,
    /// Classifier's note.
    pub note: Option<String>,
    /// The contact's variables.
    pub variables: serde_json::Map<String, Value>,
    /// Last change (unix ms).
    pub updated_at_ms: i64,
    /// The last attempt, if any.
    pub last_attempt: Option<AttemptView>,
}

/// A contact's last attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptView {
    /// Attempt number (1 for the first).
    pub seq: u32,
    /// The call's uuid.
    pub call_uuid: String,
    /// `dialling`, `answered` or `ended`.
    pub state: String,
    /// Dial result or answered outcome, once ended.
    pub result: Option<String>,
    /// What Asterisk said.
    pub cause: Option<String>,
    /// When it started (unix ms).
    pub started_at_ms: i64,
    /// When it ended (unix ms).
    pub ended_at_ms: Option<i64>,
}

impl CampaignStore {
    /// Every campaign's id, oldest first.
    pub fn campaign_ids(&self) -> Result<Vec<String>, CampaignError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached("SELECT id FROM campaigns ORDER BY created_at, id")
            .map_err(db(&self.path, "list campaigns"))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db(&self.path, "list campaigns"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db(&self.path, "list campaigns"))
    }

    /// Contacts `offset..offset + limit` of `campaign` in import order, and how many it has.
    pub fn contacts_page(
        &self,
        campaign: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<ContactView>), CampaignError> {
        let conn = self.lock();
        if Self::campaign_on(&conn, &self.path, campaign)?.is_none() {
            return Err(CampaignError::NotFound(format!("campaign `{campaign}`")));
        }
        let total: i64 = conn
            .query_row(
                "SELECT count(*) FROM campaign_contacts WHERE campaign_id = ?1",
                [campaign],
                |r| r.get(0),
            )
            .map_err(db(&self.path, "count contacts"))?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT c.external_id, c.phone, c.time_zone, c.state, c.attempts,
                        c.next_attempt_at, c.result, c.code, c.note, c.variables, c.updated_at,
                        a.seq, a.call_uuid, a.state, a.result, a.cause, a.started_at, a.ended_at
                 FROM campaign_contacts c
                 LEFT JOIN campaign_attempts a ON a.id = (
                   SELECT id FROM campaign_attempts WHERE contact_id = c.id
                   ORDER BY seq DESC LIMIT 1)
                 WHERE c.campaign_id = ?1 ORDER BY c.id LIMIT ?2 OFFSET ?3",
            )
            .map_err(db(&self.path, "page contacts"))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![campaign, limit, offset], |r| {
                let variables = match serde_json::from_str(&r.get::<_, String>(9)?) {
                    Ok(Value::Object(m)) => m,
                    _ => serde_json::Map::new(),
                };
                let last_attempt = match r.get::<_, Option<u32>>(11)? {
                    Some(seq) => Some(AttemptView {
                        seq,
                        call_uuid: r.get(12)?,
                        state: r.get(13)?,
                        result: r.get(14)?,
                        cause: r.get(15)?,
                        started_at_ms: r.get(16)?,
                        ended_at_ms: r.get(17)?,
                    }),
                    None => None,
                };
                Ok(ContactView {
                    external_id: r.get(0)?,
                    phone: r.get(1)?,
                    time_zone: r.get(2)?,
                    state: r.get(3)?,
                    attempts: r.get(4)?,
                    next_attempt_at_ms: r.get(5)?,
                    result: r.get(6)?,
                    code: r.get(7)?,
                    note: r.get(8)?,
                    variables,
                    updated_at_ms: r.get(10)?,
                    last_attempt,
                })
            })
            .map_err(db(&self.path, "page contacts"))?;
        let items = rows
            .collect::<Result<_, _>>()
            .map_err(db(&self.path, "page contacts"))?;
        Ok((total.max(0) as u64, items))
    }
}

#[cfg(test)]
mod tests {
    use crate::campaign::{CampaignRules, CampaignScript, CampaignStore, NewContact};

    #[test]
    fn pages_follow_import_order_and_count_all() {
        let tmp = tempfile::tempdir().unwrap();
        let store = CampaignStore::open(&tmp.path().join("r.sqlite3")).unwrap();
        for id in ["b", "a"] {
            store
                .create_campaign(
                    id,
                    "default",
                    &CampaignRules::default(),
                    &CampaignScript::default(),
                    1,
                )
                .unwrap();
        }
        assert_eq!(store.campaign_ids().unwrap(), ["a", "b"]);
        let contacts: Vec<NewContact> = (0..5)
            .map(|i| NewContact {
                external_id: format!("C{i}"),
                phone: format!("+7 900 000-00-0{i}"),
                time_zone: "Europe/Moscow".into(),
                variables: serde_json::json!({"name": format!("n{i}")})
                    .as_object()
                    .unwrap()
                    .clone(),
            })
            .collect();
        store.add_contacts("a", &contacts, 2).unwrap();
        let (total, page) = store.contacts_page("a", 3, 10).unwrap();
        assert_eq!(total, 5);
        let ids: Vec<_> = page.iter().map(|c| c.external_id.as_str()).collect();
        assert_eq!(ids, ["C3", "C4"]);
        assert_eq!(page[0].phone, "+79000000003");
        assert_eq!(page[0].variables["name"], "n3");
        assert_eq!(page[0].state, "pending");
        assert!(page[0].last_attempt.is_none());
        assert!(store.contacts_page("nope", 0, 10).is_err());
    }
}
