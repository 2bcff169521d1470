//! Campaign state in a real SQLite file: claims are exclusive across connections (as across
//! processes), finishing is idempotent with exactly one result event, leases expose the
//! attempts of a stopped runner, and pause/stop hold dialling.

use enclave::campaign::store::AttemptOutcome;
use enclave::campaign::{
    CampaignRules, CampaignScript, CampaignState, CampaignStore, Classification, Decision,
    DialResult, NewContact,
};
use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

const T0: i64 = 1_764_570_600_000; // 2026-12-01T06:30:00Z, a Tuesday: 09:30 in Moscow

fn contact(i: usize, tz: &str) -> NewContact {
    NewContact {
        external_id: format!("c{i}"),
        phone: format!("+7 900 000-{i:04}"),
        time_zone: tz.into(),
        variables: serde_json::json!({"name": format!("N{i}")})
            .as_object()
            .unwrap()
            .clone(),
    }
}

fn setup(dir: &std::path::Path, n: usize, max_concurrent: u32) -> CampaignStore {
    let store = CampaignStore::open(&dir.join("calls.sqlite3")).unwrap();
    let rules = CampaignRules {
        max_concurrent,
        calls_per_minute: 1000,
        max_attempts: 2,
        ..Default::default()
    };
    store
        .create_campaign("c", "default", &rules, &CampaignScript::default(), T0)
        .unwrap();
    let contacts: Vec<_> = (0..n).map(|i| contact(i, "Europe/Moscow")).collect();
    assert_eq!(store.add_contacts("c", &contacts, T0).unwrap().added, n);
    store.set_state("c", CampaignState::Running, T0).unwrap();
    store
}

#[test]
fn two_processes_claiming_at_once_never_dial_a_contact_twice() {
    let dir = tempfile::tempdir().unwrap();
    let first = setup(dir.path(), 30, 12);
    drop(first);
    // Four connections (as four agent processes), all claiming every contact at once.
    let path = dir.path().join("calls.sqlite3");
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|k| {
            let (path, barrier) = (path.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let s = CampaignStore::open(&path).unwrap();
                let (cands, _) = s.candidates("c", T0).unwrap();
                let ids: Vec<i64> = cands.iter().map(|c| c.contact_id).collect();
                barrier.wait();
                s.claim(
                    "c",
                    &ids,
                    &format!("runner-{k}"),
                    T0,
                    Duration::from_secs(30),
                )
                .unwrap()
            })
        })
        .collect();
    let claimed: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let contacts: HashSet<i64> = claimed.iter().map(|c| c.contact_id).collect();
    assert_eq!(contacts.len(), claimed.len(), "a contact was claimed twice");
    assert_eq!(
        claimed.len(),
        12,
        "max_concurrent bounds the claims of all runners together"
    );
    let uuids: HashSet<_> = claimed.iter().map(|c| c.call_uuid).collect();
    assert_eq!(uuids.len(), 12);
}

#[test]
fn finishing_twice_writes_one_result_and_a_retry_comes_back_later() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), 2, 5);
    let (cands, _) = s.candidates("c", T0).unwrap();
    let ids: Vec<i64> = cands.iter().map(|c| c.contact_id).collect();
    let claimed = s
        .claim("c", &ids, "r", T0, Duration::from_secs(30))
        .unwrap();
    assert_eq!(claimed.len(), 2);
    // Claimed contacts are not candidates any more.
    assert!(s.candidates("c", T0).unwrap().0.is_empty());
    let yes = AttemptOutcome {
        result: DialResult::Answered,
        cause: None,
        classification: Some(Classification {
            decision: Decision::Confirmed,
            note: "yes".into(),
            source: enclave::campaign::classify::Source::Keywords,
        }),
    };
    let busy = AttemptOutcome {
        result: DialResult::Busy,
        cause: Some("Reason 5".into()),
        classification: None,
    };
    assert!(s
        .finish_attempt(claimed[0].attempt_id, &yes, T0 + 1)
        .unwrap()
        .is_some());
    assert!(s
        .finish_attempt(claimed[0].attempt_id, &yes, T0 + 2)
        .unwrap()
        .is_none());
    let f = s
        .finish_attempt(claimed[1].attempt_id, &busy, T0 + 3)
        .unwrap()
        .unwrap();
    let retry_at = f.retry_at.expect("a busy line is retried");
    assert_eq!(retry_at, T0 + 3 + 600_000);
    assert!(
        s.candidates("c", T0 + 4).unwrap().0.is_empty(),
        "not before its delay"
    );
    let again = s.candidates("c", retry_at).unwrap().0;
    assert_eq!(again.len(), 1);
    let claimed2 = s
        .claim(
            "c",
            &[again[0].contact_id],
            "r",
            retry_at,
            Duration::from_secs(30),
        )
        .unwrap();
    assert_eq!(claimed2[0].seq, 2);
    // The last attempt (max 2) is final even though busy.
    let f = s
        .finish_attempt(claimed2[0].attempt_id, &busy, retry_at + 1)
        .unwrap()
        .unwrap();
    assert_eq!(f.final_result.as_deref(), Some("busy"));

    let conn = rusqlite::Connection::open(s.path()).unwrap();
    let events = enclave::outbox::events_after(&conn, 0, 100).unwrap();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.key.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("contact.attempt", "c0"),
            ("contact.result", "c0"),
            ("contact.attempt", "c1"),
            ("contact.attempt", "c1"),
            ("contact.result", "c1"),
        ]
    );
    assert_eq!(events[1].payload["code"], 1);
    assert_eq!(events[4].payload["result"], "busy");
    assert_eq!(events[4].payload["attempts"], 2);
    assert!(s.finish_if_done("c", retry_at + 2).unwrap());
    assert_eq!(s.campaign("c").unwrap().state, CampaignState::Finished);
}

#[test]
fn leases_expose_the_attempts_of_a_stopped_runner() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), 3, 5);
    let ids: Vec<i64> = s
        .candidates("c", T0)
        .unwrap()
        .0
        .iter()
        .map(|c| c.contact_id)
        .collect();
    let claimed = s
        .claim("c", &ids, "old", T0, Duration::from_secs(10))
        .unwrap();
    assert!(s.expired_attempts(T0 + 9_000).unwrap().is_empty());
    // A live runner renews; the old one is gone.
    assert_eq!(s.renew_leases("new", T0 + 60_000).unwrap(), 0);
    let expired = s.expired_attempts(T0 + 10_001).unwrap();
    assert_eq!(expired.len(), 3);
    assert!(expired.iter().all(|a| a.owner == "old"));
    assert_eq!(expired[0].call_uuid, claimed[0].call_uuid);
    // The records know nothing of those calls: they never reached the agent.
    assert_eq!(s.call_ended(&claimed[0].call_uuid).unwrap(), None);
}

#[test]
fn pause_and_stop_hold_dialling_and_bad_contacts_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), 2, 5);
    s.set_state("c", CampaignState::Paused, T0).unwrap();
    let ids: Vec<i64> = s
        .candidates("c", T0)
        .unwrap()
        .0
        .iter()
        .map(|c| c.contact_id)
        .collect();
    assert!(s
        .claim("c", &ids, "r", T0, Duration::from_secs(10))
        .unwrap()
        .is_empty());
    s.set_state("c", CampaignState::Running, T0).unwrap();
    assert_eq!(
        s.claim("c", &ids[..1], "r", T0, Duration::from_secs(10))
            .unwrap()
            .len(),
        1
    );
    s.set_state("c", CampaignState::Stopped, T0).unwrap();
    assert!(s
        .claim("c", &ids[1..], "r", T0, Duration::from_secs(10))
        .unwrap()
        .is_empty());
    let e = s
        .set_state("c", CampaignState::Running, T0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("stopped"), "{e}");

    let mut bad = contact(7, "Mars/Olympus");
    bad.external_id = "x".into();
    let mut bad_phone = contact(8, "UTC");
    bad_phone.phone = "call me".into();
    let r = s
        .add_contacts("c", &[bad, bad_phone, contact(0, "UTC")], T0)
        .unwrap();
    assert_eq!((r.added, r.duplicates), (0, 1));
    assert!(
        r.rejected[0].1.contains("Mars/Olympus") && r.rejected[0].1.contains("IANA"),
        "{r:?}"
    );
    assert!(r.rejected[1].1.contains("call me"), "{r:?}");
}
