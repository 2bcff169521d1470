//! Who may use the API: bearer tokens (machines), password login with a session cookie
//! (people), CSRF protection for cookie-authenticated state changes, a login rate limit.
//!
//! CSRF: a synchronizer token bound to the session (made at login, kept server-side, sent back
//! in `X-CSRF-Token`) — a forged cross-site request carries the cookie but cannot read the
//! token — plus an Origin check (`Origin`, else `Sec-Fetch-Site`) as a second, independent
//! line. Bearer requests carry no ambient credential, so they need neither.

use super::{ApiError, ApiState};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use subtle::ConstantTimeEq;

/// Name of the HttpOnly session cookie.
pub const SESSION_COOKIE: &str = "enclave_session";
/// Name of the (script-readable) cookie carrying the session's CSRF token.
pub const CSRF_COOKIE: &str = "enclave_csrf";
/// Header a cookie-authenticated state change must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Most sessions kept; the oldest is dropped beyond it (a login flood cannot grow memory).
const MAX_SESSIONS: usize = 10_000;
/// The rate limit's window.
const LOGIN_WINDOW: Duration = Duration::from_secs(60);

/// How a request was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer` with a configured token.
    Token,
    /// The session cookie of a password login.
    Cookie {
        /// The session's CSRF token.
        csrf: String,
        /// When the session expires (unix ms).
        expires_at_ms: i64,
        /// The session id (for logout).
        id: String,
    },
}

#[derive(Debug, Clone)]
struct Session {
    csrf: String,
    expires: Instant,
    expires_at_ms: i64,
    created: Instant,
}

/// Credentials, sessions and the login limiter of one API server.
#[derive(Debug)]
pub struct AuthState {
    tokens: Vec<String>,
    password_hash: String,
    session_ttl: Duration,
    secure_cookies: bool,
    attempts_per_minute: usize,
    allowed_origins: Vec<String>,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

/// Why the credentials could not be read.
#[derive(Debug, thiserror::Error)]
#[error("api.token_file {path}: {source}")]
pub struct TokenFileError {
    path: std::path::PathBuf,
    source: std::io::Error,
}

impl AuthState {
    /// From `[api]` (reads `token_file` if set).
    pub fn from_config(cfg: &crate::config::ApiConfig) -> Result<AuthState, TokenFileError> {
        let mut tokens = cfg.tokens.clone();
        if let Some(path) = &cfg.token_file {
            let text = std::fs::read_to_string(path).map_err(|source| TokenFileError {
                path: path.clone(),
                source,
            })?;
            for line in text.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                if line.len() < crate::config::MIN_TOKEN_LEN {
                    return Err(TokenFileError {
                        path: path.clone(),
                        source: std::io::Error::other(format!(
                            "a token is shorter than {} characters",
                            crate::config::MIN_TOKEN_LEN
                        )),
                    });
                }
                tokens.push(line.to_string());
            }
        }
        Ok(AuthState {
            tokens,
            password_hash: cfg.password_hash.clone(),
            session_ttl: Duration::from_secs(cfg.session_ttl_secs),
            secure_cookies: cfg.secure_cookies,
            attempts_per_minute: cfg.login_attempts_per_minute as usize,
            allowed_origins: cfg.allowed_origins.clone(),
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        })
    }

    fn token_ok(&self, given: &str) -> bool {
        // Compare against every token (no early exit), each in constant time.
        let mut ok = subtle::Choice::from(0u8);
        for t in &self.tokens {
            ok |= t.as_bytes().ct_eq(given.as_bytes());
        }
        bool::from(ok)
    }

    fn session(&self, id: &str) -> Option<Session> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let s = sessions.get(id)?.clone();
        if s.expires <= Instant::now() {
            sessions.remove(id);
            return None;
        }
        Some(s)
    }

    /// Authenticates `headers`: `Ok(None)` when no credential was given at all.
    fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Auth>, ApiError> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let value = value.to_str().unwrap_or("");
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .map(str::trim);
            return match token {
                Some(t) if !t.is_empty() && self.token_ok(t) => Ok(Some(Auth::Token)),
                _ => Err(ApiError::unauthorized("the bearer token is not valid")),
            };
        }
        if let Some(id) = cookie(headers, SESSION_COOKIE) {
            return match self.session(&id) {
                Some(s) => Ok(Some(Auth::Cookie {
                    csrf: s.csrf,
                    expires_at_ms: s.expires_at_ms,
                    id,
                })),
                None => Err(ApiError::unauthorized(
                    "the session has expired or is unknown; log in again",
                )),
            };
        }
        Ok(None)
    }

    /// Whether `headers` come from a page of our own origin (or a configured one). A request
    /// without `Origin` is judged by `Sec-Fetch-Site`; with neither it is not a browser's
    /// cross-site request (browsers send `Origin` on every cross-origin POST).
    fn same_origin(&self, headers: &HeaderMap) -> bool {
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let own = [format!("http://{host}"), format!("https://{host}")];
            return own.iter().any(|o| o == origin)
                || self.allowed_origins.iter().any(|o| o == origin);
        }
        match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            Some(site) => matches!(site, "same-origin" | "none"),
            None => true,
        }
    }

    fn too_many_failures(&self, ip: IpAddr) -> Option<Duration> {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let q = f.entry(ip).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= LOGIN_WINDOW)
        {
            q.pop_front();
        }
        if q.len() >= self.attempts_per_minute {
            let oldest = *q.front()?;
            return Some(LOGIN_WINDOW.saturating_sub(now.duration_since(oldest)));
        }
        None
    }

    fn record_failure(&self, ip: IpAddr) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() > 100_000 {
            f.clear(); // bounded: an address flood resets the table rather than growing it
        }
        f.entry(ip).or_default().push_back(Instant::now());
    }

    fn new_session(&self) -> (String, Session) {
        let id = random_token();
        let now = Instant::now();
        let s = Session {
            csrf: random_token(),
            expires: now + self.session_ttl,
            expires_at_ms: crate::records::unix_ms(SystemTime::now() + self.session_ttl),
            created: now,
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(id.clone(), s.clone());
        (id, s)
    }

    fn cookie_header(&self, name: &str, value: &str, http_only: bool, max_age: u64) -> HeaderValue {
        let mut c = format!("{name}={value}; Path=/; SameSite=Strict; Max-Age={max_age}");
        if http_only {
            c.push_str("; HttpOnly");
        }
        if self.secure_cookies {
            c.push_str("; Secure");
        }
        HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// 32 random bytes, base64url.
fn random_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Middleware on `/api/*` (but login): authenticates, and for cookie sessions enforces the
/// CSRF token and origin on state-changing methods. Puts [`Auth`] into the request.
pub async fn require_auth(
    State(state): State<Arc<ApiState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let auth = match state.auth.authenticate(req.headers()) {
        Ok(Some(a)) => a,
        Ok(None) => return ApiError::unauthorized(
            "authentication required: `Authorization: Bearer <token>` or log in (POST /api/login)",
        )
        .into_response(),
        Err(e) => return e.into_response(),
    };
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if let Auth::Cookie { csrf, .. } = &auth {
        if !safe {
            if !state.auth.same_origin(req.headers()) {
                return ApiError::forbidden("cross-origin request refused").into_response();
            }
            let given = req
                .headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if given.is_empty() || !bool::from(given.as_bytes().ct_eq(csrf.as_bytes())) {
                return ApiError::forbidden(
                    "missing or wrong X-CSRF-Token header (the csrf_token of POST /api/login or GET /api/session)",
                )
                .into_response();
            }
        }
    }
    req.extensions_mut().insert(auth);
    next.run(req).await
}

/// Body of `POST /api/login`.
#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    /// The console password.
    pub password: String,
}

/// `GET /api/session` and the login answer.
#[derive(Debug, Serialize)]
pub struct SessionInfo {
    authenticated: bool,
    via: &'static str,
    csrf_token: Option<String>,
    expires_at_ms: Option<i64>,
}

/// `POST /api/login`.
pub async fn login(
    State(state): State<Arc<ApiState>>,
    ConnectInfo(super::listener::Peer(peer)): ConnectInfo<super::listener::Peer>,
    headers: HeaderMap,
    body: Result<Json<LoginRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let auth = &state.auth;
    // Login CSRF: a foreign page must not log the browser into our console.
    if !auth.same_origin(&headers) {
        return ApiError::forbidden("cross-origin login refused").into_response();
    }
    let ip = peer.ip();
    if let Some(wait) = auth.too_many_failures(ip) {
        let secs = wait.as_secs().max(1);
        let mut r = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins from {ip}; try again in {secs} s"),
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return r;
    }
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return ApiError::bad_request(format!("login body: {e}")).into_response(),
    };
    if auth.password_hash.is_empty() {
        auth.record_failure(ip);
        return ApiError::unauthorized(
            "password login is not configured (set [api] password_hash with `agent console hash-password`)",
        )
        .into_response();
    }
    let hash = auth.password_hash.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &req.password))
        .await
        .unwrap_or(false);
    if !ok {
        auth.record_failure(ip);
        tracing::warn!(%ip, "console login failed");
        return ApiError::unauthorized("wrong password").into_response();
    }
    let (id, s) = auth.new_session();
    let ttl = auth.session_ttl.as_secs();
    let mut r = Json(SessionInfo {
        authenticated: true,
        via: "cookie",
        csrf_token: Some(s.csrf.clone()),
        expires_at_ms: Some(s.expires_at_ms),
    })
    .into_response();
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        auth.cookie_header(SESSION_COOKIE, &id, true, ttl),
    );
    h.append(
        header::SET_COOKIE,
        auth.cookie_header(CSRF_COOKIE, &s.csrf, false, ttl),
    );
    tracing::info!(%ip, "console login");
    r
}

/// `POST /api/logout`.
pub async fn logout(
    State(state): State<Arc<ApiState>>,
    axum::Extension(auth): axum::Extension<Auth>,
) -> Response {
    let a = &state.auth;
    if let Auth::Cookie { id, .. } = auth {
        a.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        a.cookie_header(SESSION_COOKIE, "", true, 0),
    );
    h.append(
        header::SET_COOKIE,
        a.cookie_header(CSRF_COOKIE, "", false, 0),
    );
    r
}

/// `GET /api/session`.
pub async fn session(axum::Extension(auth): axum::Extension<Auth>) -> Json<SessionInfo> {
    Json(match auth {
        Auth::Token => SessionInfo {
            authenticated: true,
            via: "token",
            csrf_token: None,
            expires_at_ms: None,
        },
        Auth::Cookie {
            csrf,
            expires_at_ms,
            ..
        } => SessionInfo {
            authenticated: true,
            via: "cookie",
            csrf_token: Some(csrf),
            expires_at_ms: Some(expires_at_ms),
        },
    })
}

/// Checks `password` against an argon2 PHC hash (any argon2 variant and parameters).
pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// An argon2id PHC hash of `password` with a random salt (what `agent console
/// hash-password` prints).
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}
