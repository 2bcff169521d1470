//! A campaign's rules (calling window, days, pacing, retries) and the pure decisions on them:
//! is a contact inside its window now, and what follows an attempt's result.

use super::CampaignError;
use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a dial attempt ended, before any answer classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialResult {
    /// Someone (or something) answered and the conversation ran.
    Answered,
    /// The line was busy (`Reason: 5`, cause 17).
    Busy,
    /// It rang out (`Reason: 3`, cause 19).
    NoAnswer,
    /// Anything else that did not connect: congestion, no route, a lost attempt.
    Failed,
    /// An answering machine or IVR answered.
    Machine,
}

impl DialResult {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DialResult::Answered => "answered",
            DialResult::Busy => "busy",
            DialResult::NoAnswer => "no_answer",
            DialResult::Failed => "failed",
            DialResult::Machine => "machine",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<DialResult> {
        [
            DialResult::Answered,
            DialResult::Busy,
            DialResult::NoAnswer,
            DialResult::Failed,
            DialResult::Machine,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// Seconds to wait before the next attempt, per result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryDelays {
    /// After a busy line.
    pub busy: u64,
    /// After no answer.
    pub no_answer: u64,
    /// After a failed dial.
    pub failed: u64,
    /// After an answering machine.
    pub machine: u64,
}

impl Default for RetryDelays {
    fn default() -> Self {
        RetryDelays {
            busy: 600,
            no_answer: 1800,
            failed: 900,
            machine: 3600,
        }
    }
}

/// A campaign's rules, stored as JSON in `campaigns.rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignRules {
    /// First local minute a call may start, `HH:MM` in the contact's time zone.
    pub window_start: String,
    /// Local time from which no call starts, `HH:MM` (exclusive; may be before `window_start`
    /// for a window across midnight).
    pub window_end: String,
    /// Local days calls are allowed on: `mon` … `sun`.
    pub days: Vec<String>,
    /// Calls in flight at once (dialling or talking).
    pub max_concurrent: u32,
    /// Calls started per rolling minute.
    pub calls_per_minute: u32,
    /// Attempts per contact, the first included.
    pub max_attempts: u32,
    /// Waits before a retry, per result.
    pub retry_delay_secs: RetryDelays,
}

impl Default for CampaignRules {
    fn default() -> Self {
        CampaignRules {
            window_start: "09:00".into(),
            window_end: "20:00".into(),
            days: ["mon", "tue", "wed", "thu", "fri", "sat"]
                .map(String::from)
                .to_vec(),
            max_concurrent: 5,
            calls_per_minute: 30,
            max_attempts: 3,
            retry_delay_secs: RetryDelays::default(),
        }
    }
}

/// [`CampaignRules`] checked and parsed for the scheduler.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// The rules as given.
    pub raw: CampaignRules,
    start_min: u32,
    end_min: u32,
    days: Vec<Weekday>,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Try again at this time (unix ms); the scheduler waits for the window too.
    RetryAt(i64),
    /// The contact is done with this result.
    Final,
}

fn parse_hhmm(field: &str, s: &str) -> Result<u32, CampaignError> {
    let bad = || {
        CampaignError::Rules(format!(
            "{field} = `{s}`: expected a local time HH:MM, e.g. 09:00"
        ))
    };
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (
        h.trim().parse().map_err(|_| bad())?,
        m.trim().parse().map_err(|_| bad())?,
    );
    if h > 24 || m > 59 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn parse_day(s: &str) -> Result<Weekday, CampaignError> {
    s.trim().parse::<Weekday>().map_err(|_| {
        CampaignError::Rules(format!(
            "days: `{s}` is not a day; use mon, tue, wed, thu, fri, sat, sun"
        ))
    })
}

impl Rules {
    /// Checks `raw`: times, days, non-zero limits.
    pub fn new(raw: CampaignRules) -> Result<Rules, CampaignError> {
        let start_min = parse_hhmm("window_start", &raw.window_start)?;
        let end_min = parse_hhmm("window_end", &raw.window_end)?;
        if start_min == end_min {
            return Err(CampaignError::Rules(
                "window_start equals window_end: the calling window would be empty".into(),
            ));
        }
        let days = raw
            .days
            .iter()
            .map(|d| parse_day(d))
            .collect::<Result<Vec<_>, _>>()?;
        if days.is_empty() {
            return Err(CampaignError::Rules(
                "days is empty: no call could ever be placed".into(),
            ));
        }
        for (name, v) in [
            ("max_concurrent", raw.max_concurrent),
            ("calls_per_minute", raw.calls_per_minute),
            ("max_attempts", raw.max_attempts),
        ] {
            if v == 0 {
                return Err(CampaignError::Rules(format!("{name} must be at least 1")));
            }
        }
        Ok(Rules {
            raw,
            start_min,
            end_min,
            days,
        })
    }

    /// Whether a call may start now for a contact in `tz`: its local day is allowed and its
    /// local time is in the window (a window across midnight belongs to the day it starts).
    pub fn in_window(&self, now: DateTime<Utc>, tz: Tz) -> bool {
        let local = tz.from_utc_datetime(&now.naive_utc());
        let minute = local.hour() * 60 + local.minute();
        if self.start_min < self.end_min {
            self.days.contains(&local.weekday())
                && minute >= self.start_min
                && minute < self.end_min
        } else if minute >= self.start_min {
            self.days.contains(&local.weekday())
        } else if minute < self.end_min {
            self.days.contains(&local.weekday().pred())
        } else {
            false
        }
    }

    /// What follows attempt number `attempts_made` (1-based) ending with `result` at `now_ms`.
    pub fn next_step(&self, result: DialResult, attempts_made: u32, now_ms: i64) -> NextStep {
        let d = &self.raw.retry_delay_secs;
        let delay = match result {
            DialResult::Answered => return NextStep::Final,
            DialResult::Busy => d.busy,
            DialResult::NoAnswer => d.no_answer,
            DialResult::Failed => d.failed,
            DialResult::Machine => d.machine,
        };
        if attempts_made >= self.raw.max_attempts {
            NextStep::Final
        } else {
            NextStep::RetryAt(now_ms + Duration::from_secs(delay).as_millis() as i64)
        }
    }
}

/// Parses an IANA time zone name (`Europe/Moscow`, `UTC`).
pub fn parse_time_zone(name: &str) -> Result<Tz, CampaignError> {
    name.trim().parse::<Tz>().map_err(|_| {
        CampaignError::Contact(format!(
            "time zone `{name}` is not an IANA zone name (e.g. Europe/Moscow, Asia/Yekaterinburg, UTC)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn rules(start: &str, end: &str) -> Rules {
        Rules::new(CampaignRules {
            window_start: start.into(),
            window_end: end.into(),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn the_window_is_local_to_the_contact() {
        let r = rules("09:00", "20:00");
        // 2026-12-01 is a Tuesday. 06:30 UTC = 09:30 Moscow (UTC+3) = 01:30 New York.
        let now = at("2026-12-01T06:30:00Z");
        assert!(r.in_window(now, parse_time_zone("Europe/Moscow").unwrap()));
        assert!(!r.in_window(now, parse_time_zone("America/New_York").unwrap()));
        // The end is exclusive, the start inclusive.
        assert!(r.in_window(at("2026-12-01T06:00:00Z"), chrono_tz::Europe::Moscow));
        assert!(!r.in_window(at("2026-12-01T17:00:00Z"), chrono_tz::Europe::Moscow));
        assert!(r.in_window(at("2026-12-01T16:59:00Z"), chrono_tz::Europe::Moscow));
    }

    #[test]
    fn daylight_saving_time_moves_the_window_in_utc() {
        let r = rules("09:00", "20:00");
        // New York is UTC-4 in July (EDT), UTC-5 in December (EST): 13:30 UTC is 09:30 / 08:30.
        let ny = chrono_tz::America::New_York;
        assert!(r.in_window(at("2026-07-01T13:30:00Z"), ny));
        assert!(!r.in_window(at("2026-12-01T13:30:00Z"), ny));
    }

    #[test]
    fn days_are_local_days() {
        let r = rules("09:00", "20:00");
        // Sunday 2026-12-06 10:00 in Vladivostok (UTC+10) is Sunday 00:00 UTC; Sunday is not
        // in the default days. Saturday 10:00 local is allowed.
        let vl = parse_time_zone("Asia/Vladivostok").unwrap();
        assert!(!r.in_window(at("2026-12-06T00:00:00Z"), vl));
        assert!(r.in_window(at("2026-12-05T00:00:00Z"), vl));
    }

    #[test]
    fn a_window_across_midnight_belongs_to_its_starting_day() {
        let mut raw = CampaignRules {
            window_start: "22:00".into(),
            window_end: "02:00".into(),
            ..Default::default()
        };
        raw.days = vec!["fri".into()];
        let r = Rules::new(raw).unwrap();
        let utc = chrono_tz::UTC;
        assert!(r.in_window(at("2026-12-04T23:00:00Z"), utc)); // Friday 23:00
        assert!(r.in_window(at("2026-12-05T01:00:00Z"), utc)); // Saturday 01:00, Friday's window
        assert!(!r.in_window(at("2026-12-05T23:00:00Z"), utc)); // Saturday 23:00
        assert!(!r.in_window(at("2026-12-04T03:00:00Z"), utc)); // Friday 03:00 = Thursday's
    }

    #[test]
    fn retries_follow_the_delay_of_the_result_until_the_attempts_run_out() {
        let r = rules("09:00", "20:00");
        assert_eq!(
            r.next_step(DialResult::Busy, 1, 0),
            NextStep::RetryAt(600_000)
        );
        assert_eq!(
            r.next_step(DialResult::NoAnswer, 2, 5),
            NextStep::RetryAt(5 + 1_800_000)
        );
        assert_eq!(r.next_step(DialResult::Machine, 3, 0), NextStep::Final);
        assert_eq!(r.next_step(DialResult::Answered, 1, 0), NextStep::Final);
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        let e = Rules::new(CampaignRules {
            window_start: "9am".into(),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("window_start") && e.contains("HH:MM"), "{e}");
        let e = Rules::new(CampaignRules {
            days: vec!["someday".into()],
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("someday"), "{e}");
        assert!(parse_time_zone("Mars/Olympus").is_err());
        assert!(parse_time_zone("MSK+3").is_err());
    }
}
