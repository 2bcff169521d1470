//! The pure scheduling decision: given the time, a campaign's rules and load, and its due
//! contacts, which contacts to dial now. No clock, no database: tests script all of it.

use super::rules::Rules;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A contact that could be dialled (state `pending` or `retry`).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// `campaign_contacts.id`.
    pub contact_id: i64,
    /// The contact's time zone.
    pub tz: Tz,
    /// Not before this (unix ms; 0 for a new contact).
    pub next_attempt_at_ms: i64,
    /// Attempts made so far.
    pub attempts: u32,
}

/// The campaign's current load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// Attempts dialling or talking now.
    pub in_flight: u32,
    /// Attempts started in the last 60 s.
    pub started_last_minute: u32,
}

/// What to do now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Contacts to dial now, in order.
    pub dial: Vec<i64>,
    /// Due contacts held back only by the concurrency or per-minute limit.
    pub held_by_limits: usize,
    /// Due contacts outside their calling window now.
    pub outside_window: usize,
}

/// Picks the contacts to dial at `now`: due (`next_attempt_at <= now`), attempts left, inside
/// their local window, oldest due first, at most the free concurrency and per-minute budget.
pub fn plan(now: DateTime<Utc>, rules: &Rules, load: Load, candidates: &[Candidate]) -> Plan {
    let now_ms = now.timestamp_millis();
    let free_slots = rules.raw.max_concurrent.saturating_sub(load.in_flight);
    let free_rate = rules
        .raw
        .calls_per_minute
        .saturating_sub(load.started_last_minute);
    let budget = free_slots.min(free_rate) as usize;
    let mut due: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.next_attempt_at_ms <= now_ms && c.attempts < rules.raw.max_attempts)
        .collect();
    due.sort_by_key(|c| (c.next_attempt_at_ms, c.contact_id));
    let mut out = Plan::default();
    for c in due {
        if !rules.in_window(now, c.tz) {
            out.outside_window += 1;
        } else if out.dial.len() < budget {
            out.dial.push(c.contact_id);
        } else {
            out.held_by_limits += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::rules::CampaignRules;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn rules(max_concurrent: u32, per_minute: u32) -> Rules {
        Rules::new(CampaignRules {
            max_concurrent,
            calls_per_minute: per_minute,
            ..Default::default()
        })
        .unwrap()
    }

    fn cand(id: i64, tz: Tz, next: i64) -> Candidate {
        Candidate {
            contact_id: id,
            tz,
            next_attempt_at_ms: next,
            attempts: 0,
        }
    }

    #[test]
    fn only_contacts_inside_their_window_are_dialled() {
        // Tuesday 06:30 UTC: Moscow 09:30 (in), London 06:30 (out), Novosibirsk 13:30 (in).
        let now = at("2026-12-01T06:30:00Z");
        let c = [
            cand(1, chrono_tz::Europe::Moscow, 0),
            cand(2, chrono_tz::Europe::London, 0),
            cand(3, chrono_tz::Asia::Novosibirsk, 0),
        ];
        let p = plan(now, &rules(10, 100), Load::default(), &c);
        assert_eq!(p.dial, vec![1, 3]);
        assert_eq!(p.outside_window, 1);
        // Three hours later London is open too.
        let p = plan(
            at("2026-12-01T09:30:00Z"),
            &rules(10, 100),
            Load::default(),
            &c,
        );
        assert_eq!(p.dial, vec![1, 2, 3]);
    }

    #[test]
    fn concurrency_and_rate_limits_hold_the_rest_back() {
        let now = at("2026-12-01T10:00:00Z");
        let c: Vec<_> = (1..=10).map(|i| cand(i, chrono_tz::UTC, 0)).collect();
        let p = plan(
            now,
            &rules(4, 100),
            Load {
                in_flight: 1,
                started_last_minute: 1,
            },
            &c,
        );
        assert_eq!(p.dial, vec![1, 2, 3]);
        assert_eq!(p.held_by_limits, 7);
        let p = plan(
            now,
            &rules(10, 5),
            Load {
                in_flight: 0,
                started_last_minute: 4,
            },
            &c,
        );
        assert_eq!(p.dial, vec![1]);
        let p = plan(
            now,
            &rules(3, 100),
            Load {
                in_flight: 5,
                started_last_minute: 0,
            },
            &c,
        );
        assert!(p.dial.is_empty());
    }

    #[test]
    fn retries_wait_for_their_time_and_the_oldest_due_goes_first() {
        let now = at("2026-12-01T10:00:00Z");
        let ms = now.timestamp_millis();
        let mut c = vec![
            cand(1, chrono_tz::UTC, ms + 1),  // not yet due
            cand(2, chrono_tz::UTC, ms - 10), // due, later than 3
            cand(3, chrono_tz::UTC, ms - 20),
            cand(4, chrono_tz::UTC, 0),
        ];
        c[3].attempts = 3; // no attempts left (max 3)
        let p = plan(now, &rules(10, 100), Load::default(), &c);
        assert_eq!(p.dial, vec![3, 2]);
        let p = plan(
            at("2026-12-01T10:00:01Z"),
            &rules(10, 100),
            Load::default(),
            &c,
        );
        assert_eq!(p.dial, vec![3, 2, 1]);
    }
}
