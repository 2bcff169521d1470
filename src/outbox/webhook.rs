//! The HTTP webhook sink: one signed JSON POST per event.
//!
//! Headers: `Content-Type: application/json`, `Idempotency-Key: <event_id>`,
//! `X-Enclave-Event: <kind>`, `X-Enclave-Timestamp: <unix seconds>` and
//! `X-Enclave-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
//!
//! A receiver verifies by recomputing the HMAC over the timestamp header's value, a `.`, and
//! the raw request body bytes (before any JSON parsing), comparing it in constant time with
//! the header, and rejecting timestamps too far from its clock (replays); see [`verify`].
//!
//! Status handling: 2xx = delivered; 408, 429, 5xx, timeouts and connection errors = retry
//! (`Retry-After` in seconds is honoured, up to the backoff cap); any other status, including
//! 3xx (redirects are never followed: events go to the configured URL only), = permanent.

use super::worker::{BatchOutcome, Sink, SinkError};
use super::StoredEvent;
use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Name of this sink in `outbox_deliveries` and metrics.
pub const SINK_NAME: &str = "webhook";

/// The signature of `body` sent at `timestamp` (unix seconds): `sha256=<hex>`.
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a received event: the signature header against the body and timestamp header, and
/// the timestamp within `tolerance` of `now` (unix seconds). What a Rust receiver would run.
pub fn verify(
    secret: &[u8],
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now: u64,
    tolerance: Duration,
) -> bool {
    let Ok(ts) = timestamp_header.trim().parse::<u64>() else {
        return false;
    };
    if ts.abs_diff(now) > tolerance.as_secs() {
        return false;
    }
    let Some(hex_sig) = signature_header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok() // constant time
}

/// POSTs each event to one URL.
#[derive(Debug)]
pub struct WebhookSink {
    name: String,
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Vec<u8>,
}

impl WebhookSink {
    /// A sink for `url`, signing with `secret`; each request may take `timeout`.
    pub fn new(url: &str, secret: &[u8], timeout: Duration) -> Result<WebhookSink, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("webhook URL `{url}`: {e}"))?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy() // only the configured endpoint, never an environment proxy
            .user_agent(concat!("enclave/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhook HTTP client: {e}"))?;
        Ok(WebhookSink {
            name: SINK_NAME.to_string(),
            client,
            url,
            secret: secret.to_vec(),
        })
    }

    /// The same sink under another name (its own progress rows and metric labels): a second
    /// webhook, or tests that run several in one process.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    async fn post(&self, event: &StoredEvent) -> Result<(), SinkError> {
        let body = serde_json::to_vec(&event.payload)
            .map_err(|e| SinkError::Permanent(format!("event is not serialisable: {e}")))?;
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &event.event_id)
            .header("X-Enclave-Event", &event.kind)
            .header("X-Enclave-Timestamp", ts.to_string())
            .header("X-Enclave-Signature", sign(&self.secret, ts, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let what = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "cannot connect"
                } else {
                    "request failed"
                };
                SinkError::retry(format!("POST {}: {what}: {e}", self.url))
            })?;
        classify(
            response.status(),
            retry_after(response.headers()),
            &self.url,
        )
    }
}

/// What a response status means for the event.
fn classify(
    status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    url: &reqwest::Url,
) -> Result<(), SinkError> {
    let code = status.as_u16();
    if status.is_success() {
        Ok(())
    } else if code == 408 || code == 429 || status.is_server_error() {
        Err(SinkError::Retry {
            message: format!("POST {url}: HTTP {status}"),
            retry_after,
        })
    } else if status.is_redirection() {
        Err(SinkError::Permanent(format!(
            "POST {url}: HTTP {status}: redirects are not followed; configure the final URL"
        )))
    } else {
        Err(SinkError::Permanent(format!("POST {url}: HTTP {status}")))
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, events: &'a [StoredEvent]) -> BoxFuture<'a, BatchOutcome> {
        Box::pin(async move {
            for (i, event) in events.iter().enumerate() {
                if let Err(error) = self.post(event).await {
                    return BatchOutcome {
                        delivered: i,
                        error: Some(error),
                    };
                }
            }
            BatchOutcome {
                delivered: events.len(),
                error: None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_forgeries_do_not() {
        let body = br#"{"event_id":"e1","kind":"call.completed"}"#;
        let sig = sign(b"s3cret", 1_700_000_000, body);
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        let ok = |ts: &str, sig: &str, body: &[u8], now| {
            verify(b"s3cret", ts, sig, body, now, Duration::from_secs(300))
        };
        assert!(ok("1700000000", &sig, body, 1_700_000_100));
        assert!(
            !ok("1700000000", &sig, b"{}", 1_700_000_100),
            "body changed"
        );
        assert!(
            !ok("1700000001", &sig, body, 1_700_000_100),
            "timestamp changed"
        );
        assert!(!ok("1700000000", &sig, body, 1_700_001_000), "too old");
        assert!(!verify(
            b"other",
            "1700000000",
            &sig,
            body,
            1_700_000_000,
            Duration::from_secs(300)
        ));
    }

    #[test]
    fn statuses_are_classified() {
        let url = reqwest::Url::parse("http://127.0.0.1:1/x").unwrap();
        let c = |code: u16| classify(reqwest::StatusCode::from_u16(code).unwrap(), None, &url);
        assert!(c(200).is_ok() && c(204).is_ok());
        for code in [408, 429, 500, 502, 503] {
            assert!(matches!(c(code), Err(SinkError::Retry { .. })), "{code}");
        }
        for code in [301, 400, 401, 404, 410, 422] {
            assert!(matches!(c(code), Err(SinkError::Permanent(_))), "{code}");
        }
    }
}
