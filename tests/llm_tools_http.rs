//! HTTP tools against a real HTTP server on 127.0.0.1 (success, 4xx, timeout, non-JSON, host
//! allowlist), and a whole tool round on the synthetic Qwen2 model (real Qwen vocabulary
//! layout and chat template): the forced call runs the HTTP tool and its result reaches the
//! history.

use enclave::config::{HttpToolConfig, ToolChoice};
use enclave::dialog::engine::{CancelHandle, EngineOptions, GenEvent, GenParams, LlmEngine};
use enclave::dialog::session::{Conversation, TurnEvent};
use enclave::dialog::tools::http::HttpTool;
use enclave::dialog::tools::{validate_args, ToolRegistry};
use enclave::dialog::{ChatMessage, Role};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// What the test server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    body: String,
    token: Option<String>,
}

async fn handle(
    req: Request<Incoming>,
    tx: UnboundedSender<Seen>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let token = req
        .headers()
        .get("x-api-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let _ = tx.send(Seen {
        method,
        path: path.clone(),
        query,
        body: body.clone(),
        token,
    });
    let (status, text, ctype) = if let Some(id) = path.strip_prefix("/orders/") {
        let reply =
            json!({"id": id, "status": "shipped", "eta": "Monday", "internal": {"cost": 3}});
        (200, reply.to_string(), "application/json")
    } else if path == "/book" {
        (201, json!({"booked": true, "request": serde_json::from_str::<Value>(&body).unwrap_or(Value::Null)}).to_string(), "application/json")
    } else if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(3)).await;
        (200, "{}".to_string(), "application/json")
    } else if path == "/html" {
        (
            200,
            "<html><body>Service page</body></html>".to_string(),
            "text/html",
        )
    } else {
        (
            404,
            json!({"error": "no such resource"}).to_string(),
            "application/json",
        )
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", ctype)
        .body(Full::new(Bytes::from(text)))
        .unwrap())
}

async fn start_server() -> (SocketAddr, UnboundedReceiver<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(req, tx.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, rx)
}

fn tool(name: &str, method: &str, url: String, parameters: Value) -> HttpToolConfig {
    HttpToolConfig {
        name: name.into(),
        description: format!("{name} service"),
        parameters,
        method: method.into(),
        url,
        headers: BTreeMap::from([("x-api-token".to_string(), "secret-1".to_string())]),
        timeout_ms: 300,
        response_fields: Vec::new(),
        max_response_bytes: 65_536,
    }
}

fn local() -> Vec<String> {
    vec!["127.0.0.1".to_string()]
}

fn order_schema() -> Value {
    json!({"type": "object", "properties": {"order_id": {"type": "string", "maxLength": 16}}, "required": ["order_id"]})
}

#[tokio::test]
async fn get_with_path_placeholder_query_and_field_mapping() {
    let (addr, mut seen) = start_server().await;
    let mut cfg = tool(
        "order_status",
        "GET",
        format!("http://{addr}/orders/{{order_id}}"),
        json!({"type": "object", "properties": {"order_id": {"type": "string"}, "lang": {"type": "string"}}}),
    );
    cfg.response_fields = vec!["/status".into(), "/eta".into(), "/missing/field".into()];
    let t = HttpTool::new(cfg, local()).unwrap();
    let result = t.call(&json!({"order_id": "A 17/б", "lang": "ru"})).await;
    assert_eq!(
        result,
        json!({"status": "shipped", "eta": "Monday", "missing.field": null})
    );
    let s = seen.recv().await.unwrap();
    assert_eq!(s.method, "GET");
    assert_eq!(s.path, "/orders/A%2017%2F%D0%B1");
    assert_eq!(s.query, "lang=ru");
    assert_eq!(s.token.as_deref(), Some("secret-1"));
}

#[tokio::test]
async fn post_sends_arguments_as_json_body() {
    let (addr, mut seen) = start_server().await;
    let schema = json!({"type": "object", "properties": {"day": {"type": "string"}, "people": {"type": "integer"}}});
    let t = HttpTool::new(
        tool("book", "POST", format!("http://{addr}/book"), schema),
        local(),
    )
    .unwrap();
    let result = t.call(&json!({"day": "mon", "people": 2})).await;
    assert_eq!(result["booked"], json!(true));
    assert_eq!(result["request"], json!({"day": "mon", "people": 2}));
    let s = seen.recv().await.unwrap();
    assert_eq!(s.method, "POST");
    assert_eq!(
        serde_json::from_str::<Value>(&s.body).unwrap(),
        json!({"day": "mon", "people": 2})
    );
}

#[tokio::test]
async fn failures_become_error_results() {
    let (addr, _seen) = start_server().await;
    let empty = json!({"type": "object", "properties": {}});
    let not_found = HttpTool::new(
        tool("a", "GET", format!("http://{addr}/missing"), empty.clone()),
        local(),
    )
    .unwrap();
    let r = not_found.call(&json!({})).await;
    let e = r["error"].as_str().expect("error field");
    assert!(e.contains("404") && e.contains("no such resource"), "{e}");

    let slow = HttpTool::new(
        tool("b", "GET", format!("http://{addr}/slow"), empty.clone()),
        local(),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let r = slow.call(&json!({})).await;
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("did not answer within 300 ms"),
        "{r}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    let html = HttpTool::new(
        tool("c", "GET", format!("http://{addr}/html"), empty.clone()),
        local(),
    )
    .unwrap();
    let r = html.call(&json!({})).await;
    assert!(r["error"].as_str().unwrap().contains("not JSON"), "{r}");

    // Nothing listens here any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = HttpTool::new(
        tool("d", "GET", format!("http://{closed}/x"), empty.clone()),
        local(),
    )
    .unwrap();
    let r = down.call(&json!({})).await;
    assert!(r["error"].as_str().unwrap().contains("connect"), "{r}");

    let mut small = tool("e", "GET", format!("http://{addr}/orders/1"), empty);
    small.max_response_bytes = 10;
    let r = HttpTool::new(small, local())
        .unwrap()
        .call(&json!({}))
        .await;
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("larger than 10 bytes"),
        "{r}"
    );
}

#[tokio::test]
async fn hosts_outside_the_allowlist_are_refused() {
    let empty = json!({"type": "object", "properties": {}});
    let err = HttpTool::new(
        tool("x", "GET", "http://example.com/api".into(), empty.clone()),
        local(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("example.com") && err.contains("tool_allowed_hosts"),
        "{err}"
    );
    // A placeholder in the host passes the static check only as its literal name; the value is
    // checked again at call time.
    let schema = json!({"type": "object", "properties": {"host": {"type": "string"}}});
    let t = HttpTool::new(
        tool("y", "GET", "http://{host}/api".into(), schema),
        vec!["host".to_string()],
    )
    .unwrap();
    let r = t.call(&json!({"host": "evil.example"})).await;
    let e = r["error"].as_str().unwrap();
    assert!(
        e.contains("evil.example") && e.contains("not in llm.tool_allowed_hosts"),
        "{e}"
    );
}

#[tokio::test]
async fn registry_refuses_unknown_tools_and_bad_arguments() {
    let (addr, _seen) = start_server().await;
    let mut reg = ToolRegistry::empty();
    reg.add_http(
        HttpTool::new(
            tool(
                "order_status",
                "GET",
                format!("http://{addr}/orders/{{order_id}}"),
                order_schema(),
            ),
            local(),
        )
        .unwrap(),
    );
    let bad = enclave::dialog::ToolCall {
        name: "order_status".into(),
        arguments: json!({"order": 5}),
    };
    let r = reg.execute(&bad).await;
    assert!(
        r.result["error"]
            .as_str()
            .unwrap()
            .contains("order_id is required"),
        "{:?}",
        r.result
    );
    let unknown = enclave::dialog::ToolCall {
        name: "launch".into(),
        arguments: json!({}),
    };
    assert!(reg.execute(&unknown).await.result["error"]
        .as_str()
        .unwrap()
        .contains("unknown tool"));
}

fn synth_model(name: &str) -> PathBuf {
    let dir = std::env::var_os("ENCLAVE_SYNTH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/enclave/synthetic")
        });
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "missing synthetic model {}: run `bash scripts/synth-models.sh --tiny`",
        p.display()
    );
    p
}

fn tiny_qwen() -> Arc<LlmEngine> {
    let mut opts = EngineOptions::new(synth_model("qwen2-tiny.gguf"));
    opts.max_parallel = 2;
    opts.context_per_call = 2048;
    opts.threads = 2;
    LlmEngine::load(&opts).expect("synthetic qwen2-tiny loads")
}

#[test]
fn synthetic_qwen_has_the_real_special_tokens_and_template() {
    let engine = tiny_qwen();
    let t = engine.template().expect("chat template from the GGUF");
    assert!(t.source().contains("<tool_call>"));
    let ids: Vec<i32> = engine
        .tokenize("<|im_start|>user\n<tool_call>")
        .iter()
        .map(|t| t.0)
        .collect();
    assert_eq!(ids[0], 151644);
    assert_eq!(*ids.last().unwrap(), 151657);
    let mut s = engine.session().unwrap();
    let mut g = s
        .generate(
            &[ChatMessage::user("Hello")],
            &[],
            &GenParams::greedy(12),
            CancelHandle::new(),
        )
        .unwrap();
    let mut done = None;
    while let Some(e) = g.blocking_next() {
        if let GenEvent::Done(st) = e {
            done = Some(st);
        }
    }
    let st = done.expect("done");
    assert!(st.prompt_tokens > 5 && st.generated_tokens > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_http_tool_call_result_reaches_the_history() {
    let (addr, mut seen) = start_server().await;
    let mut cfg = tool(
        "order_status",
        "GET",
        format!("http://{addr}/orders/{{order_id}}"),
        order_schema(),
    );
    cfg.response_fields = vec!["/status".into(), "/id".into()];
    let mut reg = ToolRegistry::empty();
    reg.add_http(HttpTool::new(cfg, local()).unwrap());
    let engine = tokio::task::spawn_blocking(tiny_qwen).await.unwrap();
    let mut params = GenParams::greedy(120);
    params.temperature = 0.8;
    params.seed = 3;
    params.tool_choice = ToolChoice::Required;
    let mut conv = Conversation::new(
        engine.session().unwrap(),
        "You track orders.",
        Arc::new(reg),
        params,
        2,
    );
    let mut events = Vec::new();
    let summary = conv
        .user_turn("Where is my order 17?", CancelHandle::new(), |e| {
            events.push(e)
        })
        .await
        .unwrap();
    assert_eq!(summary.tool_calls.len(), 1, "{summary:?}");
    let (call, result) = &summary.tool_calls[0];
    assert_eq!(call.name, "order_status");
    validate_args(&order_schema(), &call.arguments, "arguments").unwrap();
    assert!(call.arguments["order_id"].is_string());
    let result: Value = serde_json::from_str(result).unwrap();
    assert_eq!(result["status"], json!("shipped"), "{result}");
    // The server saw the (URL-encoded) id the model chose, and the mapping kept only two fields.
    let s = seen.recv().await.unwrap();
    assert_eq!(
        s.path,
        format!("/orders/{}", result["id"].as_str().unwrap())
    );
    assert_eq!(result.as_object().unwrap().len(), 2);
    let h = conv.history();
    assert_eq!(h[0].role, Role::System);
    assert_eq!(h[1].role, Role::User);
    assert_eq!(h[2].role, Role::Assistant);
    assert_eq!(h[2].tool_calls[0].name, "order_status");
    assert_eq!(h[3].role, Role::Tool);
    assert!(h[3].content.contains("shipped"));
    assert_eq!(
        h[4].role,
        Role::Assistant,
        "the model continued after the result"
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, TurnEvent::ToolResult { name, .. } if name == "order_status")));
    assert_eq!(summary.rounds.len(), 2);
    // The answer round keeps the tools in the prompt: the whole first prompt comes from the cache.
    assert!(
        summary.rounds[1].reused_tokens >= summary.rounds[0].prompt_tokens,
        "round 2 reused {} of round 1's {} prompt tokens",
        summary.rounds[1].reused_tokens,
        summary.rounds[0].prompt_tokens
    );
}
