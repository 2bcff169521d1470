//! The HTTP API over real TCP and a real SQLite records database: authentication (tokens,
//! password sessions, CSRF, rate limit), secure headers, paging and filters, stats, Range
//! requests on recordings, server-sent live events, and the OpenAPI contract.

mod api_support;

use api_support::*;
use enclave::config::ApiConfig;
use enclave::records::CallOutcome;
use reqwest::StatusCode;
use std::time::Duration;
use uuid::Uuid;

fn cookie_pair(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_access_without_valid_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let api = start_api(tmp.path(), api_config()).await;
    let c = client();
    for path in [
        "/api/calls",
        "/api/status",
        "/api/live",
        "/api/profiles",
        "/api/stats",
    ] {
        let r = c.get(api.url(path)).send().await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{path} without a token"
        );
        assert!(r.headers().contains_key("www-authenticate"));
        let r = c
            .get(api.url(path))
            .bearer_auth("test-token-0123456789abcdef012345678X")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{path} with a wrong token"
        );
        let r = c
            .get(api.url(path))
            .header("cookie", "enclave_session=forged")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{path} with a forged session"
        );
    }
    let r = c
        .get(api.url("/api/calls"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Secure headers on API answers and on the console page alike.
    for resp in [r, c.get(api.url("/")).send().await.unwrap()] {
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_login_sessions_csrf_and_rate_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let api = start_api(tmp.path(), api_config()).await;
    let c = client();
    let login = |password: &str| {
        c.post(api.url("/api/login"))
            .json(&serde_json::json!({ "password": password }))
            .send()
    };
    let r = login("wrong").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A foreign page cannot log the browser in (login CSRF).
    let r = c
        .post(api.url("/api/login"))
        .header("origin", "http://evil.example")
        .json(&serde_json::json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let r = login(PASSWORD).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let set: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session_cookie = set
        .iter()
        .find(|c| c.starts_with("enclave_session="))
        .unwrap();
    assert!(session_cookie.contains("HttpOnly"), "{session_cookie}");
    assert!(
        session_cookie.contains("SameSite=Strict"),
        "{session_cookie}"
    );
    assert!(
        !session_cookie.contains("Secure"),
        "not behind TLS by default"
    );
    let session = cookie_pair(&r, "enclave_session").unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    assert_eq!(body["via"], "cookie");

    // Reads with the cookie alone.
    let r = c
        .get(api.url("/api/session"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let s: serde_json::Value = r.json().await.unwrap();
    assert_eq!(s["csrf_token"], csrf.as_str());

    // A state change with the cookie but no CSRF token, a wrong one, or from another origin: 403.
    let r = c
        .post(api.url("/api/logout"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "CSRF token missing");
    let r = c
        .post(api.url("/api/logout"))
        .header("cookie", &session)
        .header("x-csrf-token", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "CSRF token wrong");
    let r = c
        .post(api.url("/api/logout"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "cross-origin");
    // A bearer client needs no CSRF token.
    let r = c
        .post(api.url("/api/logout"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // The right token from our own origin: the session ends, and with it the access.
    let r = c
        .post(api.url("/api/logout"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .header("origin", format!("http://{}", api.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = c
        .get(api.url("/api/session"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "logged out");

    // Rate limit: 5 failures a minute per address (one already counted above).
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(login("wrong again").await.unwrap().status());
    }
    assert_eq!(
        &statuses[..4],
        &[StatusCode::UNAUTHORIZED; 4],
        "{statuses:?}"
    );
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    let r = login(PASSWORD).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(r.headers().contains_key("retry-after"));
    api.stop().await;
}

/// 40 calls over 4 days, a mix of outcomes, callers and texts.
fn generated(base_ms: i64) -> Vec<GenCall> {
    let outcomes = [
        Some(CallOutcome::Completed),
        Some(CallOutcome::Transferred),
        Some(CallOutcome::CallerHangup),
        None,
    ];
    (0..40)
        .map(|i| GenCall {
            uuid: Uuid::new_v4(),
            caller_id: format!("+7900{:03}", i % 7),
            started_ms: base_ms + i as i64 * 2 * 3600 * 1000,
            outcome: outcomes[i % 4],
            caller_text: if i % 5 == 0 {
                format!("Where is my Parcel number {i}?")
            } else {
                format!("I want to book a table {i}")
            },
            latency_ms: 100 + 10 * i as u32,
        })
        .collect()
}

async fn get_json(c: &reqwest::Client, url: String) -> serde_json::Value {
    let r = c.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{url}");
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_filters_detail_and_stats_on_a_real_database() {
    let tmp = tempfile::tempdir().unwrap();
    let api = start_api(tmp.path(), api_config()).await;
    let base = 1_760_000_000_000i64;
    let calls = generated(base);
    for call in &calls {
        write_call(&api.store, call);
    }
    api.store.writer().flush().await.unwrap();
    let c = client();

    // Paging: 40 calls in pages of 15, newest first, no overlap, nothing missing.
    let mut seen = Vec::new();
    let mut offset = Some(0u64);
    while let Some(o) = offset {
        let page = get_json(&c, api.url(&format!("/api/calls?limit=15&offset={o}"))).await;
        assert_eq!(page["total"], 40);
        for call in page["calls"].as_array().unwrap() {
            seen.push((
                call["uuid"].as_str().unwrap().to_string(),
                call["started_at_ms"].as_i64().unwrap(),
            ));
        }
        offset = page["next_offset"].as_u64();
    }
    assert_eq!(seen.len(), 40);
    assert!(seen.windows(2).all(|w| w[0].1 > w[1].1), "newest first");
    let mut expected: Vec<String> = calls.iter().map(|c| c.uuid.to_string()).collect();
    let mut got: Vec<String> = seen.iter().map(|s| s.0.clone()).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);

    // Filters, alone and combined, against what was generated.
    let count = |pred: &dyn Fn(&GenCall) -> bool| calls.iter().filter(|c| pred(c)).count() as u64;
    let total = |v: &serde_json::Value| v["total"].as_u64().unwrap();
    let v = get_json(&c, api.url("/api/calls?outcome=transferred")).await;
    assert_eq!(
        total(&v),
        count(&|c| c.outcome == Some(CallOutcome::Transferred))
    );
    assert!(v["calls"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["outcome"] == "transferred" && c["transfer_target"] == "operators"));
    let v = get_json(&c, api.url("/api/calls?outcome=completed,running")).await;
    assert_eq!(
        total(&v),
        count(&|c| matches!(c.outcome, Some(CallOutcome::Completed) | None))
    );
    let v = get_json(&c, api.url("/api/calls?q=parcel")).await;
    assert_eq!(total(&v), count(&|c| c.caller_text.contains("Parcel")));
    let v = get_json(&c, api.url("/api/calls?caller_id=%2B7900003")).await;
    assert_eq!(total(&v), count(&|c| c.caller_id == "+7900003"));
    let (from, to) = (base + 24 * 3600 * 1000, base + 48 * 3600 * 1000);
    let v = get_json(
        &c,
        api.url(&format!("/api/calls?from={from}&to={to}&q=book")),
    )
    .await;
    assert_eq!(
        total(&v),
        count(&|c| c.started_ms >= from && c.started_ms < to && c.caller_text.contains("book"))
    );
    // LIKE wildcards in the search are literal.
    let v = get_json(&c, api.url("/api/calls?q=%25")).await;
    assert_eq!(total(&v), 0);
    // Bad parameters are 400 with a reason.
    for bad in [
        "/api/calls?outcome=nonsense",
        "/api/calls?limit=0",
        "/api/calls?bogus=1",
    ] {
        let r = c.get(api.url(bad)).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }

    // One call in full.
    let one = &calls[1];
    let d = get_json(&c, api.url(&format!("/api/calls/{}", one.uuid))).await;
    assert_eq!(d["outcome"], "transferred");
    assert_eq!(d["caller_id"], one.caller_id.as_str());
    assert_eq!(d["turn_count"], 2);
    let turns = d["turns"].as_array().unwrap();
    assert_eq!(turns[0]["role"], "caller");
    assert_eq!(turns[0]["text"], one.caller_text.as_str());
    assert_eq!(turns[0]["offset_ms"], 1000);
    assert_eq!(turns[1]["latencies"]["turn_latency_ms"], one.latency_ms);
    assert_eq!(turns[1]["tool_calls"][0]["name"], "get_time");
    assert!(d["summary"].is_null() && d["disposition"].is_null());
    let r = c
        .get(api.url(&format!("/api/calls/{}", Uuid::new_v4())))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Stats over the first day: counts by outcome and nearest-rank latency percentiles.
    let (from, to) = (base, base + 24 * 3600 * 1000);
    let s = get_json(&c, api.url(&format!("/api/stats?from={from}&to={to}"))).await;
    let day: Vec<&GenCall> = calls
        .iter()
        .filter(|c| c.started_ms >= from && c.started_ms < to)
        .collect();
    assert_eq!(s["calls"], day.len());
    let handed = day
        .iter()
        .filter(|c| c.outcome == Some(CallOutcome::Transferred))
        .count();
    let running = day.iter().filter(|c| c.outcome.is_none()).count();
    assert_eq!(s["handed_over"], handed);
    assert_eq!(s["running"], running);
    assert_eq!(s["answered_by_agent"], day.len() - handed - running);
    let mut lat: Vec<u32> = day.iter().map(|c| c.latency_ms).collect();
    lat.sort();
    let rank = |p: f64| lat[((p * lat.len() as f64).ceil() as usize).max(1) - 1];
    assert_eq!(s["turn_latency_ms"]["count"], lat.len());
    assert_eq!(s["turn_latency_ms"]["p50"], rank(0.5));
    assert_eq!(s["turn_latency_ms"]["p95"], rank(0.95));
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_answer_range_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let api = start_api(tmp.path(), api_config()).await;
    let uuid = Uuid::new_v4();
    write_call(
        &api.store,
        &GenCall {
            uuid,
            caller_id: "100".into(),
            started_ms: 1_760_000_000_000,
            outcome: Some(CallOutcome::Completed),
            caller_text: "hello".into(),
            latency_ms: 300,
        },
    );
    api.store.writer().flush().await.unwrap();
    // A real stereo WAV where the recorder puts it.
    std::fs::create_dir_all(&api.recordings).unwrap();
    let path = api.recordings.join(format!("{uuid}.wav"));
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for i in 0..8000i32 {
        w.write_sample((i % 1000) as i16).unwrap();
        w.write_sample(-((i % 500) as i16)).unwrap();
    }
    w.finalize().unwrap();
    let file = std::fs::read(&path).unwrap();
    let len = file.len();
    let c = client();
    let url = api.url(&format!("/api/calls/{uuid}/recording"));

    let r = c.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(r.headers()["content-type"], "audio/wav");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &file[..]);

    let range = |spec: &'static str| c.get(&url).bearer_auth(TOKEN).header("range", spec).send();
    let r = range("bytes=44-143").await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 44-143/{len}").as_str()
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &file[44..144]);
    let r = range("bytes=-10").await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &file[len - 10..]);
    let r = range("bytes=1000-").await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &file[1000..]);
    let r = c
        .get(&url)
        .bearer_auth(TOKEN)
        .header("range", format!("bytes={len}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );
    // The listing knows which calls have a recording.
    let v = get_json(&c, api.url("/api/calls")).await;
    assert_eq!(v["calls"][0]["has_recording"], true);
    let r = c
        .get(api.url(&format!("/api/calls/{}/recording", Uuid::new_v4())))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // No token, no audio.
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    api.stop().await;
}

/// Reads server-sent events until `want` matches one, within `deadline`.
async fn next_event(
    resp: &mut reqwest::Response,
    buf: &mut String,
    deadline: Duration,
    want: impl Fn(&str, &serde_json::Value) -> bool,
) -> (String, serde_json::Value) {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim().to_string();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            if data.is_empty() {
                continue; // keep-alive comment
            }
            let v: serde_json::Value = serde_json::from_str(&data).unwrap();
            if want(&name, &v) {
                return (name, v);
            }
        }
        let chunk = tokio::time::timeout_at(until, resp.chunk())
            .await
            .expect("event within the deadline")
            .unwrap()
            .expect("stream open");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_show_a_new_call_as_it_happens() {
    let tmp = tempfile::tempdir().unwrap();
    let api = start_api(tmp.path(), api_config()).await;
    let c = client();
    let r = c.get(api.url("/api/live/events")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let mut r = c
        .get(api.url("/api/live/events"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut buf = String::new();
    let (_, snap) = next_event(&mut r, &mut buf, Duration::from_secs(10), |n, _| {
        n == "snapshot"
    })
    .await;
    assert_eq!(snap["calls"].as_array().unwrap().len(), 0);

    // A call starts (as a profile handler registers it) and its records are committed.
    let uuid = Uuid::new_v4();
    api.live.started(uuid, Some("sales".into()));
    let call = GenCall {
        uuid,
        caller_id: "+79001234567".into(),
        started_ms: enclave::records::unix_ms(std::time::SystemTime::now()),
        outcome: Some(CallOutcome::Completed),
        caller_text: "I would like a pizza".into(),
        latency_ms: 420,
    };
    write_call(&api.store, &call);
    let key = uuid.to_string();
    let (_, started) = next_event(&mut r, &mut buf, Duration::from_secs(10), |n, v| {
        n == "call_started" && v["uuid"] == key.as_str()
    })
    .await;
    assert_eq!(started["caller_id"], "+79001234567");
    assert_eq!(started["profile"], "sales");
    let (_, turn) = next_event(&mut r, &mut buf, Duration::from_secs(10), |n, _| {
        n == "turn"
    })
    .await;
    assert_eq!(turn["call_uuid"], key.as_str());
    assert_eq!(turn["text"], "I would like a pizza");
    assert_eq!(turn["role"], "caller");
    let (_, ended) = next_event(&mut r, &mut buf, Duration::from_secs(10), |n, _| {
        n == "call_ended"
    })
    .await;
    assert_eq!(ended["outcome"], "completed");
    drop(r);

    // Streams are bounded: the one past the limit is refused, and a closed one frees its slot.
    let max = enclave::api::live::MAX_EVENT_STREAMS;
    let mut open = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while open.len() < max {
        let r = c
            .get(api.url("/api/live/events"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            open.push(r);
        } else {
            // The stream dropped above may not have released its slot yet.
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(tokio::time::Instant::now() < deadline, "slots are released");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let r = c
        .get(api.url("/api/live/events"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    drop(open.pop());
    let reopened = loop {
        let r = c
            .get(api.url("/api/live/events"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a closed stream frees its slot"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    drop(reopened);
    drop(open);
    api.stop().await;
}

#[test]
fn openapi_describes_every_route() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/api/openapi.yaml"))
        .expect("api/openapi.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("openapi.yaml parses");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_mapping().expect("paths");
    for (method, path) in enclave::api::routes() {
        let item = paths
            .get(serde_yaml::Value::String(path.to_string()))
            .unwrap_or_else(|| panic!("{path} is not in api/openapi.yaml"));
        assert!(
            item.get(method).is_some(),
            "{} {path} is not in api/openapi.yaml",
            method.to_uppercase()
        );
        let responses = &item[method]["responses"];
        assert!(
            responses.as_mapping().is_some_and(|m| !m.is_empty()),
            "{method} {path} has responses"
        );
    }
    // And nothing documented that the router does not serve.
    let routes = enclave::api::routes();
    for (path, item) in paths {
        let path = path.as_str().unwrap();
        for (method, _) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            assert!(
                routes.contains(&(method, path)),
                "{method} {path} is documented but not routed"
            );
        }
    }
    // Every $ref resolves.
    fn refs(v: &serde_yaml::Value, out: &mut Vec<String>) {
        match v {
            serde_yaml::Value::Mapping(m) => {
                for (k, v) in m {
                    if k.as_str() == Some("$ref") {
                        out.push(v.as_str().unwrap().to_string());
                    }
                    refs(v, out);
                }
            }
            serde_yaml::Value::Sequence(s) => s.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let mut node = &doc;
        for part in r.trim_start_matches("#/").split('/') {
            node = &node[part];
        }
        assert!(!node.is_null(), "{r} does not resolve");
    }
}

#[test]
fn range_header_parsing() {
    use enclave::api::calls::{parse_range, ByteRange::*};
    assert_eq!(parse_range(None, 100), Whole);
    assert_eq!(
        parse_range(Some("bytes=0-"), 100),
        Part { start: 0, end: 99 }
    );
    assert_eq!(
        parse_range(Some("bytes=10-19"), 100),
        Part { start: 10, end: 19 }
    );
    assert_eq!(
        parse_range(Some("bytes=90-200"), 100),
        Part { start: 90, end: 99 }
    );
    assert_eq!(
        parse_range(Some("bytes=-10"), 100),
        Part { start: 90, end: 99 }
    );
    assert_eq!(
        parse_range(Some("bytes=-500"), 100),
        Part { start: 0, end: 99 }
    );
    assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
    assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
    assert_eq!(parse_range(Some("bytes=5-1"), 100), Whole);
    assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Whole);
    assert_eq!(parse_range(Some("items=0-1"), 100), Whole);
    assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_are_bounded() {
    use tokio::io::AsyncReadExt;
    let tmp = tempfile::tempdir().unwrap();
    let api = start_api(tmp.path(), api_config()).await;
    // Clients that connect and never send a request hold every slot...
    let mut idle = Vec::new();
    for _ in 0..128 {
        idle.push(tokio::net::TcpStream::connect(api.addr).await.unwrap());
    }
    // ...so the next connection is closed at once.
    let mut extra = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(10), extra.read(&mut buf))
        .await
        .expect("the connection over the limit is closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    // One closes: the API answers again.
    drop(idle.pop());
    let c = client();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match c
            .get(api.url("/api/status"))
            .bearer_auth(TOKEN)
            .send()
            .await
        {
            Ok(r) if r.status() == StatusCode::OK => break,
            _ => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "a freed slot is reused"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    drop(idle);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_sent_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tmp = tempfile::tempdir().unwrap();
    let api = start_api(
        tmp.path(),
        ApiConfig {
            idle_timeout_secs: 1,
            ..api_config()
        },
    )
    .await;
    // Reads until the server closes the connection; what it sent, and how long that took.
    async fn until_closed(s: &mut tokio::net::TcpStream) -> (Vec<u8>, Duration) {
        let t0 = tokio::time::Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf))
                .await
                .expect("the server closes an idle connection")
                .unwrap_or(0);
            if n == 0 {
                return (got, t0.elapsed());
            }
            got.extend_from_slice(&buf[..n]);
        }
    }
    // A slowloris: the request line and one header, then nothing.
    let mut half = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    half.write_all(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    // A keep-alive client that got its answer and then says nothing.
    let mut kept = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    kept.write_all(
        format!(
            "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let (answer, took) = until_closed(&mut kept).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        took >= Duration::from_millis(900),
        "closed after {took:?}: only once idle"
    );
    let (sent, took_half) = until_closed(&mut half).await;
    assert!(
        sent.is_empty() || String::from_utf8_lossy(&sent).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&sent)
    );
    println!("idle keep-alive closed after {took:?}, half-sent request after {took_half:?}");
    api.stop().await;
}
