//! `[api]`: the HTTP API and web console listener, and who may use it.
//!
//! Disabled by default: the API serves call transcripts and recordings, so it only starts
//! once an operator has given it credentials (`tokens`/`token_file` for machines,
//! `password_hash` from `agent console hash-password` for people). An enabled API without any
//! credential is a configuration error, not an open door.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Shortest bearer token accepted (a guessable token is no protection).
pub const MIN_TOKEN_LEN: usize = 24;

/// Settings of `[api]`: the HTTP API and console listener, and its credentials.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Whether the HTTP API and web console run.
    pub enabled: bool,
    /// Address of the API listener. Loopback unless you deliberately expose it (then behind TLS).
    pub listen: SocketAddr,
    /// Bearer tokens for machines (`Authorization: Bearer …`), each at least 24 characters.
    /// Printed as `<redacted>` by `config check`.
    #[serde(serialize_with = "redact_tokens")]
    pub tokens: Vec<String>,
    /// File with more bearer tokens, one per line (`#` comments); unset = none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Argon2 hash (PHC string) of the console password, from `agent console hash-password`;
    /// "" = no password login.
    pub password_hash: String,
    /// How long a console session lasts after login (s).
    pub session_ttl_secs: u64,
    /// Mark the session cookie `Secure` (set it when the console is reached over HTTPS).
    pub secure_cookies: bool,
    /// Failed logins allowed per client address per minute; more are refused with 429.
    pub login_attempts_per_minute: u32,
    /// A connection on which no byte moves for this long is closed (idle keep-alive,
    /// half-sent requests, stalled downloads); live event streams keep themselves alive.
    pub idle_timeout_secs: u64,
    /// Origins besides the API's own (`http://<Host>`) that may send cookie-authenticated
    /// state changes, e.g. "https://console.example.org" behind a TLS proxy.
    pub allowed_origins: Vec<String>,
}

/// Serialises each token as `<redacted>`, so `config check` never prints one.
fn redact_tokens<S: serde::Serializer>(tokens: &[String], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(tokens.len()))?;
    for _ in tokens {
        seq.serialize_element("<redacted>")?;
    }
    seq.end()
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("enabled", &self.enabled)
            .field("listen", &self.listen)
            .field("tokens", &format_args!("<{} redacted>", self.tokens.len()))
            .field("token_file", &self.token_file)
            .field("password_hash", &(!self.password_hash.is_empty()))
            .field("session_ttl_secs", &self.session_ttl_secs)
            .field("secure_cookies", &self.secure_cookies)
            .field("login_attempts_per_minute", &self.login_attempts_per_minute)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .field("allowed_origins", &self.allowed_origins)
            .finish()
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 9094)),
            tokens: Vec::new(),
            token_file: None,
            password_hash: String::new(),
            session_ttl_secs: 12 * 3600,
            secure_cookies: false,
            login_attempts_per_minute: 10,
            idle_timeout_secs: 60,
            allowed_origins: Vec::new(),
        }
    }
}

impl ApiConfig {
    /// Range checks; an enabled API must have a credential.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, t) in self.tokens.iter().enumerate() {
            if t.chars().count() < MIN_TOKEN_LEN || t.chars().any(|c| c.is_whitespace()) {
                return Err(ConfigError::invalid(
                    &format!("api.tokens[{i}]"),
                    format!(
                        "a token must be at least {MIN_TOKEN_LEN} characters without spaces; \
                         make one with `openssl rand -hex 32`"
                    ),
                ));
            }
        }
        if !self.password_hash.is_empty()
            && argon2::password_hash::PasswordHash::new(&self.password_hash).is_err()
        {
            return Err(ConfigError::invalid(
                "api.password_hash",
                "not an argon2 PHC string ($argon2id$v=19$…); make one with `agent console hash-password`",
            ));
        }
        if self.enabled
            && self.tokens.is_empty()
            && self.token_file.is_none()
            && self.password_hash.is_empty()
        {
            return Err(ConfigError::invalid(
                "api.enabled",
                "the API needs a credential: set api.password_hash (`agent console hash-password`), \
                 api.tokens or api.token_file",
            ));
        }
        if !(60..=30 * 86_400).contains(&self.session_ttl_secs) {
            return Err(ConfigError::invalid(
                "api.session_ttl_secs",
                "allowed 60..=2592000",
            ));
        }
        if !(1..=3600).contains(&self.idle_timeout_secs) {
            return Err(ConfigError::invalid(
                "api.idle_timeout_secs",
                "allowed 1..=3600 (longer than the live stream's 15 s keep-alive: 20 or more)",
            ));
        }
        if !(1..=1000).contains(&self.login_attempts_per_minute) {
            return Err(ConfigError::invalid(
                "api.login_attempts_per_minute",
                "allowed 1..=1000",
            ));
        }
        for (i, o) in self.allowed_origins.iter().enumerate() {
            let ok = (o.starts_with("http://") || o.starts_with("https://"))
                && !o.ends_with('/')
                && !o[o.find("://").map_or(0, |p| p + 3)..].contains('/');
            if !ok {
                return Err(ConfigError::invalid(
                    &format!("api.allowed_origins[{i}]"),
                    "an origin is scheme://host[:port] without a path, e.g. \"https://console.example.org\"",
                ));
            }
        }
        Ok(())
    }
}
