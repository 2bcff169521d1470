//! `/api/campaigns` over real TCP and a real SQLite records database: authentication and
//! CSRF, contacts added through the API (JSON and CSV, with refusals and duplicates), counts
//! equal to `CampaignStore::status`, state transitions (409 on a refused one), the CSV export
//! equal to `agent campaign export`'s, and 503 without a SQLite campaign store.

mod api_support;

use api_support::*;
use enclave::api::{ApiServer, ApiSources, ApiState};
use enclave::campaign::store::AttemptOutcome;
use enclave::campaign::{
    csv_io, CampaignRules, CampaignScript, CampaignState, CampaignStatus, CampaignStore, DialResult,
};
use enclave::metrics::{Metrics, Readiness};
use enclave::profiles::LiveCalls;
use enclave::records::ModelsUsed;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

const CAMPAIGN: &str = "clinic-reminders";

fn campaign_store(dir: &std::path::Path) -> CampaignStore {
    let store = CampaignStore::open(&dir.join("calls.sqlite3")).expect("campaign store");
    let rules = CampaignRules {
        window_start: "10:00".into(),
        window_end: "19:30".into(),
        max_concurrent: 3,
        ..CampaignRules::default()
    };
    let script = CampaignScript {
        greeting: "Hello {name}, this is the clinic.".into(),
        question: "Will you come on {appointment}?".into(),
        instructions: String::new(),
    };
    store
        .create_campaign(CAMPAIGN, "support", &rules, &script, 1_000)
        .expect("create campaign");
    store
}

async fn login(c: &reqwest::Client, api: &TestApi) -> (String, String) {
    let r = c
        .post(api.url("/api/login"))
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("enclave_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .expect("session cookie");
    let body: Value = r.json().await.unwrap();
    (cookie, body["csrf_token"].as_str().unwrap().to_string())
}

async fn get_json(c: &reqwest::Client, url: String) -> Value {
    get_json_as(c, &url, TOKEN).await
}

/// The API's `counts` and `results` against the store's own status.
fn assert_counts_match(v: &Value, s: &CampaignStatus) {
    for st in ["pending", "retry", "dialling", "done", "failed", "dnc"] {
        assert_eq!(
            v["counts"][st].as_i64(),
            Some(s.contacts.get(st).copied().unwrap_or(0)),
            "count of {st} in {v}"
        );
    }
    let results: std::collections::BTreeMap<String, i64> =
        serde_json::from_value(v["results"].clone()).unwrap();
    assert_eq!(results, s.results);
    assert_eq!(
        v["total_contacts"].as_i64(),
        Some(s.contacts.values().sum::<i64>())
    );
    assert_eq!(v["state"].as_str(), Some(s.state.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaigns_need_credentials_and_the_csrf_token() {
    let tmp = tempfile::tempdir().unwrap();
    let api = start_api(tmp.path(), api_config()).await;
    let store = campaign_store(tmp.path());
    let c = client();
    for path in [
        "/api/campaigns".to_string(),
        format!("/api/campaigns/{CAMPAIGN}"),
        format!("/api/campaigns/{CAMPAIGN}/export"),
    ] {
        let r = c.get(api.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let state_url = api.url(&format!("/api/campaigns/{CAMPAIGN}/state"));
    let r = c
        .post(&state_url)
        .json(&json!({ "state": "running" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A cookie session without the CSRF token (a forged cross-site form) is refused, and
    // the campaign is untouched.
    let (cookie, csrf) = login(&c, &api).await;
    for path in ["state", "contacts"] {
        let body = if path == "state" {
            json!({ "state": "running" })
        } else {
            json!({ "contacts": [{ "external_id": "X", "phone": "+79000000000", "time_zone": "UTC" }] })
        };
        let r = c
            .post(api.url(&format!("/api/campaigns/{CAMPAIGN}/{path}")))
            .header("cookie", &cookie)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} without CSRF");
    }
    assert_eq!(
        store.campaign(CAMPAIGN).unwrap().state,
        CampaignState::Draft
    );
    assert_eq!(store.status(CAMPAIGN).unwrap().contacts.len(), 0);
    // With the token (as the console sends it) the same request works.
    let r = c
        .post(&state_url)
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({ "state": "running" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        store.campaign(CAMPAIGN).unwrap().state,
        CampaignState::Running
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_counts_transitions_and_export() {
    let tmp = tempfile::tempdir().unwrap();
    let api = start_api(tmp.path(), api_config()).await;
    let store = campaign_store(tmp.path());
    let c = client();
    let post =
        |path: String, body: Value| c.post(api.url(&path)).bearer_auth(TOKEN).json(&body).send();

    // JSON contacts: one bad phone, one unknown time zone, one added twice in the request.
    let r = post(
        format!("/api/campaigns/{CAMPAIGN}/contacts"),
        json!({
            "time_zone": "Europe/Moscow",
            "contacts": [
                { "external_id": "A-1", "phone": "+7 (912) 345-67-89",
                  "variables": { "name": "Анна", "appointment": "10:30" } },
                { "external_id": "A-2", "phone": "call me maybe" },
                { "external_id": "A-3", "phone": "8 912 000 11 22", "time_zone": "Mars/Olympus" },
                { "external_id": "A-4", "phone": "+1 555 0100", "time_zone": "America/New_York" },
                { "external_id": "A-1", "phone": "+7 912 345 67 89" },
            ]
        }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["added"], 2, "{report}");
    assert_eq!(report["duplicates"], 1, "{report}");
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{report}");
    assert_eq!(rejected[0]["index"], 1);
    assert_eq!(rejected[0]["external_id"], "A-2");
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("only digits"),
        "{report}"
    );
    assert_eq!(rejected[1]["index"], 2);
    assert!(
        rejected[1]["reason"]
            .as_str()
            .unwrap()
            .contains("not an IANA zone"),
        "{report}"
    );

    // CSV as `agent campaign import` reads it: a row with a missing cell is refused with its
    // line, a store-refused row too, a known one is a duplicate.
    let csv = "id,phone,tz,name\n\
               B-1,+7 900 111-22-33,Asia/Yekaterinburg,\"Иванов, Пётр\"\n\
               B-2,+7 900 111-22-34\n\
               B-3,12,UTC,Short\n\
               A-4,+1 555 0100,America/New_York,Bob\n\
               B-4,+44 20 7946 0000,,Jane\n";
    let r = post(
        format!("/api/campaigns/{CAMPAIGN}/contacts"),
        json!({ "csv": csv, "time_zone": "Europe/London" }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["added"], 2, "{report}");
    assert_eq!(report["duplicates"], 1, "{report}");
    let lines: Vec<i64> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4], "{report}");
    assert_eq!(report["rejected"][1]["external_id"], "B-3");
    assert!(report["rejected"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("3 to 31 digits"));
    // A CSV without the fixed columns, or both inputs at once, is a 400 that says why.
    let r = post(
        format!("/api/campaigns/{CAMPAIGN}/contacts"),
        json!({ "csv": "name,phone\nA,1\n" }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"].as_str().unwrap().contains("no id column"), "{e}");
    let r = post(
        format!("/api/campaigns/{CAMPAIGN}/contacts"),
        json!({ "csv": csv, "contacts": [] }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(
        "/api/campaigns/no-such/contacts".into(),
        json!({ "contacts": [] }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The campaign runs: a do-not-call number is marked `dnc` when claimed, one call is
    // in flight, one ended busy (to be retried).
    store
        .add_do_not_call("+44 20 7946 0000", "asked", 2_000)
        .unwrap();
    store
        .set_state(CAMPAIGN, CampaignState::Running, 3_000)
        .unwrap();
    let now = enclave::records::unix_ms(std::time::SystemTime::now());
    let (candidates, _) = store.candidates(CAMPAIGN, now).unwrap();
    let mut ids: Vec<i64> = candidates.iter().map(|c| c.contact_id).collect();
    ids.sort();
    assert_eq!(ids.len(), 4);
    let claimed = store
        .claim(
            CAMPAIGN,
            &[ids[0], ids[1], ids[3]],
            "api-test",
            now,
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    assert_eq!(claimed.len(), 2, "{claimed:?}");
    let a1 = claimed.iter().find(|c| c.external_id == "A-1").unwrap();
    store
        .finish_attempt(
            a1.attempt_id,
            &AttemptOutcome {
                result: DialResult::Busy,
                cause: Some("17".into()),
                classification: None,
            },
            now,
        )
        .unwrap();

    // List and detail agree with the store.
    let status = store.status(CAMPAIGN).unwrap();
    for (st, n) in [("pending", 1), ("retry", 1), ("dialling", 1), ("dnc", 1)] {
        assert_eq!(status.contacts.get(st), Some(&n), "{status:?}");
    }
    assert_eq!(status.results.get("do_not_call"), Some(&1));
    let list = get_json(&c, api.url("/api/campaigns")).await;
    let listed = &list["campaigns"][0];
    assert_eq!(list["campaigns"].as_array().unwrap().len(), 1);
    assert_eq!(listed["id"], CAMPAIGN);
    assert_eq!(listed["profile"], "support");
    assert_eq!(listed["window"]["start"], "10:00");
    assert_eq!(listed["window"]["end"], "19:30");
    assert_eq!(listed["limits"]["max_concurrent"], 3);
    assert_counts_match(listed, &status);

    let d = get_json(
        &c,
        api.url(&format!("/api/campaigns/{CAMPAIGN}?limit=3&offset=1")),
    )
    .await;
    assert_counts_match(&d, &status);
    assert_eq!(d["script"]["question"], "Will you come on {appointment}?");
    assert_eq!(d["contacts"]["total"], 4);
    assert_eq!(d["contacts"]["next_offset"], Value::Null);
    let items = d["contacts"]["items"].as_array().unwrap();
    let ids: Vec<&str> = items
        .iter()
        .map(|i| i["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["A-4", "B-1", "B-4"]);
    // Phones are masked but for their last 4 digits; variables and zones as stored.
    assert_eq!(items[1]["phone"], "+*******2233");
    assert_eq!(items[1]["variables"]["name"], "Иванов, Пётр");
    assert_eq!(items[1]["time_zone"], "Asia/Yekaterinburg");
    assert_eq!(items[2]["time_zone"], "Europe/London");
    let first = get_json(&c, api.url(&format!("/api/campaigns/{CAMPAIGN}?limit=1"))).await;
    let a1 = &first["contacts"]["items"][0];
    assert_eq!(a1["external_id"], "A-1");
    assert_eq!(a1["phone"], "+*******6789");
    assert_eq!(a1["state"], "retry");
    assert_eq!(a1["attempts"], 1);
    assert!(a1["next_attempt_at_ms"].as_i64().unwrap() > now);
    assert_eq!(a1["last_attempt"]["seq"], 1);
    assert_eq!(a1["last_attempt"]["result"], "busy");
    assert_eq!(a1["last_attempt"]["cause"], "17");
    assert_eq!(items[2]["state"], "dnc");
    assert_eq!(items[2]["result"], "do_not_call");
    assert_eq!(items[0]["state"], "dialling");
    assert_eq!(first["contacts"]["next_offset"], 1);
    let r = c
        .get(api.url(&format!("/api/campaigns/{CAMPAIGN}?limit=0")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = c
        .get(api.url("/api/campaigns/no-such"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Transitions: running → paused → running → stopped; stopped → running is 409.
    let state_url = format!("/api/campaigns/{CAMPAIGN}/state");
    for (to, previous) in [
        ("paused", "running"),
        ("running", "paused"),
        ("stopped", "running"),
    ] {
        let r = post(state_url.clone(), json!({ "state": to }))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "→ {to}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["state"], to);
        assert_eq!(v["previous"], previous);
        assert_eq!(store.campaign(CAMPAIGN).unwrap().state.as_str(), to);
    }
    let r = post(state_url.clone(), json!({ "state": "running" }))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"].as_str().unwrap().contains("is stopped"),
        "a clear message: {e}"
    );
    assert_eq!(
        store.campaign(CAMPAIGN).unwrap().state,
        CampaignState::Stopped
    );
    let r = post(state_url.clone(), json!({ "state": "finished" }))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let list = get_json(&c, api.url("/api/campaigns")).await;
    assert_eq!(list["campaigns"][0]["state"], "stopped");

    // Export: byte for byte what `agent campaign export` writes.
    let r = c
        .get(api.url(&format!("/api/campaigns/{CAMPAIGN}/export")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("campaign-clinic-reminders-results.csv"));
    let got = r.text().await.unwrap();
    let mut want = Vec::new();
    csv_io::write_results(&mut want, &store.export_rows(CAMPAIGN).unwrap()).unwrap();
    assert_eq!(got, String::from_utf8(want).unwrap());
    let mut rows = csv::Reader::from_reader(got.as_bytes());
    let phones: Vec<String> = rows.records().map(|r| r.unwrap()[1].to_string()).collect();
    assert_eq!(
        phones,
        ["+79123456789", "+15550100", "+79001112233", "+442079460000"]
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_sqlite_campaign_store_every_path_says_503() {
    let cfg = api_config();
    let state = ApiState::new(
        &cfg,
        ApiSources {
            records: None,
            recordings_dir: None,
            events: None,
            live: LiveCalls::new(),
            profiles: None,
            campaigns_db: None,
            readiness: Readiness::new(),
            metrics: Arc::new(Metrics::new()),
            models: ModelsUsed::default(),
        },
    )
    .unwrap();
    let cancel = CancellationToken::new();
    let server = ApiServer::start(&cfg, Arc::new(state), cancel.clone())
        .await
        .unwrap();
    let base = format!("http://{}", server.local_addr());
    let c = client();
    let gets = [
        "/api/campaigns",
        "/api/campaigns/x",
        "/api/campaigns/x/export",
    ];
    for path in gets {
        let r = c
            .get(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"]
                .as_str()
                .unwrap()
                .contains("backend = \"sqlite\""),
            "{e}"
        );
    }
    for (path, body) in [
        ("/api/campaigns/x/state", json!({ "state": "paused" })),
        ("/api/campaigns/x/contacts", json!({ "contacts": [] })),
    ] {
        let r = c
            .post(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
    }
    cancel.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(10), server.join())
        .await
        .unwrap();
}
