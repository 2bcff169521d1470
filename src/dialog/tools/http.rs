//! HTTP tools: a configured internal endpoint (order status, booking, CRM, 1C) called with the
//! model's arguments. Only allowlisted hosts, no proxies, no redirects; every failure (4xx/5xx,
//! timeout, non-JSON, too large) becomes an `{"error": …}` result, never a crash.

use crate::config::{check_tool_url, HttpToolConfig};
use crate::dialog::{DialogError, ToolSpec};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// A configured HTTP tool, ready to call.
#[derive(Debug)]
pub struct HttpTool {
    cfg: HttpToolConfig,
    schema: Value,
    allowed_hosts: Vec<String>,
    client: reqwest::Client,
}

impl HttpTool {
    /// Checks the config (host allowlist, schema) and builds the client.
    pub fn new(cfg: HttpToolConfig, allowed_hosts: Vec<String>) -> Result<Self, DialogError> {
        check_tool_url(&cfg.url, &allowed_hosts).map_err(DialogError::Tool)?;
        let schema = cfg.parameters_schema().map_err(DialogError::Tool)?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .build()
            .map_err(|e| {
                DialogError::Tool(format!("{}: cannot build HTTP client: {e}", cfg.name))
            })?;
        Ok(HttpTool {
            cfg,
            schema,
            allowed_hosts,
            client,
        })
    }

    /// The declaration the model sees.
    pub fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.cfg.name.clone(),
            description: self.cfg.description.clone(),
            parameters: self.schema.clone(),
        }
    }

    /// Calls the endpoint; returns the (mapped) JSON response or `{"error": …}`.
    pub async fn call(&self, args: &Value) -> Value {
        match self.try_call(args).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(tool = %self.cfg.name, error = %e, "HTTP tool failed");
                json!({ "error": e })
            }
        }
    }

    async fn try_call(&self, args: &Value) -> Result<Value, String> {
        let mut rest: Map<String, Value> = args.as_object().cloned().unwrap_or_default();
        let url_text = fill_placeholders(&self.cfg.url, &mut rest);
        // Checked again at call time: placeholders must not smuggle in another host.
        check_tool_url(&url_text, &self.allowed_hosts)?;
        let mut url =
            reqwest::Url::parse(&url_text).map_err(|e| format!("bad URL {url_text:?}: {e}"))?;
        let method = reqwest::Method::from_bytes(self.cfg.method.to_ascii_uppercase().as_bytes())
            .map_err(|e| format!("bad method {:?}: {e}", self.cfg.method))?;
        let body_method = !matches!(method, reqwest::Method::GET | reqwest::Method::DELETE);
        if !body_method {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &rest {
                pairs.append_pair(k, &plain_text(v));
            }
        }
        let mut req = self.client.request(method, url);
        for (k, v) in &self.cfg.headers {
            req = req.header(k, v);
        }
        if body_method {
            req = req.json(&Value::Object(rest));
        }
        let mut resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                format!(
                    "the service did not answer within {} ms",
                    self.cfg.timeout_ms
                )
            } else if e.is_connect() {
                format!("cannot connect to the service: {e}")
            } else {
                format!("request failed: {e}")
            }
        })?;
        let status = resp.status();
        let mut body = Vec::new();
        loop {
            let chunk = resp.chunk().await.map_err(|e| {
                if e.is_timeout() {
                    format!(
                        "the service did not answer within {} ms",
                        self.cfg.timeout_ms
                    )
                } else {
                    format!("reading the response failed: {e}")
                }
            })?;
            let Some(chunk) = chunk else { break };
            body.extend_from_slice(&chunk);
            if body.len() > self.cfg.max_response_bytes {
                return Err(format!(
                    "the response is larger than {} bytes",
                    self.cfg.max_response_bytes
                ));
            }
        }
        let text = String::from_utf8_lossy(&body);
        if !status.is_success() {
            let snippet: String = text.chars().take(300).collect();
            return Err(format!("the service answered HTTP {status}: {snippet}"));
        }
        let value: Value = serde_json::from_str(&text).map_err(|_| {
            let snippet: String = text.chars().take(100).collect();
            format!("the service answered with something that is not JSON: {snippet:?}")
        })?;
        Ok(map_fields(&value, &self.cfg.response_fields))
    }
}

/// Replaces `{name}` in `url` with URL-encoded argument values, removing them from `args`.
fn fill_placeholders(url: &str, args: &mut Map<String, Value>) -> String {
    let mut out = url.to_string();
    let names: Vec<String> = args.keys().cloned().collect();
    for name in names {
        let placeholder = format!("{{{name}}}");
        if out.contains(&placeholder) {
            if let Some(v) = args.remove(&name) {
                out = out.replace(&placeholder, &percent_encode(&plain_text(&v)));
            }
        }
    }
    out
}

/// A value as a query/path string: strings without quotes, everything else as JSON.
fn plain_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Keeps only the fields at `pointers` (`/order/status` → key `order.status`); empty = all.
pub fn map_fields(value: &Value, pointers: &[String]) -> Value {
    if pointers.is_empty() {
        return value.clone();
    }
    let mut out = Map::new();
    for p in pointers {
        let key = p.trim_start_matches('/').replace('/', ".");
        out.insert(key, value.pointer(p).cloned().unwrap_or(Value::Null));
    }
    Value::Object(out)
}
