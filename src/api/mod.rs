//! The HTTP API (and the web console's static assets): call records, recordings, live calls,
//! agent profiles, outbound campaigns, status. Contract: `api/openapi.yaml` (a test checks every route is in it).
//!
//! On `[api] listen` (127.0.0.1:9094), disabled by default. Every `/api/` path but login needs
//! a bearer token or a session cookie ([`auth`]); secure headers on every answer.

pub mod auth;
pub mod calls;
pub mod campaigns;
mod console_assets;
mod listener;
pub mod live;
pub mod profiles;
pub mod serve;
mod status;

pub use console_assets::console_routes;
pub use serve::{AgentServices, ServicesError};

use crate::config::ApiConfig;
use crate::metrics::{Metrics, Readiness};
use crate::records::{ModelsUsed, RecordEvent};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Every route of the API as `(method, path)` in OpenAPI's spelling, taken from the table
/// the router is built from; a test checks each one is described in `api/openapi.yaml`.
pub fn routes() -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<(&'static str, &'static str)> = api_routes()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    v.push(("get", "/"));
    v
}

/// One route of the API.
struct Route {
    method: &'static str,
    path: &'static str,
    /// Reachable without authentication (login only).
    public: bool,
    handler: axum::routing::MethodRouter<Arc<ApiState>>,
}

fn api_routes() -> Vec<Route> {
    let r = |method, path, handler| Route {
        method,
        path,
        public: false,
        handler,
    };
    vec![
        Route {
            public: true,
            ..r("post", "/api/login", post(auth::login))
        },
        r("post", "/api/logout", post(auth::logout)),
        r("get", "/api/session", get(auth::session)),
        r("get", "/api/calls", get(calls::list)),
        r("get", "/api/calls/{uuid}", get(calls::detail)),
        r("get", "/api/calls/{uuid}/recording", get(calls::recording)),
        r("get", "/api/stats", get(calls::stats)),
        r("get", "/api/live", get(live::snapshot)),
        r("get", "/api/live/events", get(live::events)),
        r("get", "/api/profiles", get(profiles::get_all)),
        r("put", "/api/profiles", put(profiles::put_all)),
        r("post", "/api/profiles/validate", post(profiles::validate)),
        r("put", "/api/profiles/{name}", put(profiles::put_one)),
        r(
            "delete",
            "/api/profiles/{name}",
            delete(profiles::delete_one),
        ),
        r("get", "/api/campaigns", get(campaigns::list)),
        r("get", "/api/campaigns/{id}", get(campaigns::detail)),
        r(
            "post",
            "/api/campaigns/{id}/contacts",
            post(campaigns::add_contacts),
        ),
        r(
            "post",
            "/api/campaigns/{id}/state",
            post(campaigns::set_state),
        ),
        r("get", "/api/campaigns/{id}/export", get(campaigns::export)),
        r("get", "/api/status", get(status::status)),
    ]
}

/// An error answer: a status and `{"error": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ApiError {
    /// Any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    /// 400.
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, m)
    }
    /// 401.
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, m)
    }
    /// 403.
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, m)
    }
    /// 404.
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, m)
    }
    /// 500.
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, m)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"enclave\""),
            );
        }
        r
    }
}

/// What the API serves from: records, live calls, profiles, status.
pub struct ApiState {
    pub(crate) auth: auth::AuthState,
    records: Option<crate::records::RecordsReader>,
    pub(crate) recordings_dir: Option<PathBuf>,
    events: Option<Mutex<tokio::sync::broadcast::Receiver<RecordEvent>>>,
    pub(crate) live: crate::profiles::LiveCalls,
    pub(crate) profiles: Option<Arc<crate::profiles::ProfileRegistry>>,
    /// Outbound campaigns (the SQLite records database), when available.
    pub(crate) campaigns: Option<Arc<crate::campaign::CampaignStore>>,
    pub(crate) readiness: Readiness,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) models: ModelsUsed,
    pub(crate) started: Instant,
    /// Cancelled when the server stops: ends the open event streams.
    pub(crate) shutdown: CancellationToken,
    /// Event streams that may still open ([`live::MAX_EVENT_STREAMS`]).
    pub(crate) streams: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").finish_non_exhaustive()
    }
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    /// The address could not be bound.
    #[error("cannot listen for the API on {addr}: {source} (set [api] listen to a free address, or enabled = false)")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A credential file could not be read.
    #[error(transparent)]
    Tokens(#[from] auth::TokenFileError),
    /// The records database could not be opened for reading.
    #[error(transparent)]
    Records(#[from] crate::records::RecordsError),
    /// The campaign tables could not be opened.
    #[error("campaigns: {0}")]
    Campaigns(#[from] crate::campaign::CampaignError),
}

/// Where the API's data comes from (built by `agent serve`, or by a test).
#[derive(Debug)]
pub struct ApiSources {
    /// The call records (SQLite or PostgreSQL), read on a connection of the API's own, if
    /// records are enabled (`RecordStore::new_reader`).
    pub records: Option<crate::records::RecordsReader>,
    /// `[records] recordings_dir`.
    pub recordings_dir: Option<PathBuf>,
    /// Committed-record announcements (`RecordStore::subscribe`).
    pub events: Option<tokio::sync::broadcast::Receiver<RecordEvent>>,
    /// Calls in progress (filled by the profile call handlers).
    pub live: crate::profiles::LiveCalls,
    /// The agent profiles, when served.
    pub profiles: Option<Arc<crate::profiles::ProfileRegistry>>,
    /// The SQLite records database holding the campaigns (`None` on PostgreSQL or with
    /// records off: the campaign paths answer 503).
    pub campaigns_db: Option<PathBuf>,
    /// Readiness (as `/readyz`).
    pub readiness: Readiness,
    /// The process metrics.
    pub metrics: Arc<Metrics>,
    /// The loaded models.
    pub models: ModelsUsed,
}

impl ApiState {
    /// State from `[api]` and the sources.
    pub fn new(cfg: &ApiConfig, src: ApiSources) -> Result<ApiState, ApiStartError> {
        let campaigns = match &src.campaigns_db {
            Some(p) => Some(Arc::new(crate::campaign::CampaignStore::open(p)?)),
            None => None,
        };
        Ok(ApiState {
            auth: auth::AuthState::from_config(cfg)?,
            records: src.records,
            recordings_dir: src.recordings_dir,
            events: src.events.map(Mutex::new),
            live: src.live,
            profiles: src.profiles,
            campaigns,
            readiness: src.readiness,
            metrics: src.metrics,
            models: src.models,
            started: Instant::now(),
            shutdown: CancellationToken::new(),
            streams: Arc::new(tokio::sync::Semaphore::new(live::MAX_EVENT_STREAMS)),
        })
    }

    /// Runs `f` with the records reader off the async threads (either backend).
    pub(crate) async fn records<T: Send + 'static>(
        &self,
        f: impl FnOnce(&crate::records::RecordsReader) -> Result<T, crate::records::RecordsError>
            + Send
            + 'static,
    ) -> Result<T, ApiError> {
        let Some(reader) = self.records.clone() else {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "call records are disabled ([records] enabled = false)",
            ));
        };
        tokio::task::spawn_blocking(move || f(&reader))
            .await
            .map_err(|e| ApiError::internal(format!("records reader: {e}")))?
            .map_err(|e| ApiError::internal(format!("records database: {e}")))
    }

    /// Whether call records are readable.
    pub(crate) fn has_records(&self) -> bool {
        self.records.is_some()
    }

    /// A new subscription to committed records, if records are enabled.
    pub(crate) fn subscribe(&self) -> Option<tokio::sync::broadcast::Receiver<RecordEvent>> {
        self.events
            .as_ref()
            .map(|rx| rx.lock().unwrap_or_else(|p| p.into_inner()).resubscribe())
    }
}

/// The whole router: the API (authenticated) and the console assets, with secure headers.
pub fn router(state: Arc<ApiState>) -> Router {
    let (mut public, mut protected) = (Router::new(), Router::new());
    for route in api_routes() {
        if route.public {
            public = public.route(route.path, route.handler);
        } else {
            protected = protected.route(route.path, route.handler);
        }
    }
    let protected = protected.route_layer(axum::middleware::from_fn_with_state(
        Arc::clone(&state),
        auth::require_auth,
    ));
    let api = public
        .merge(protected)
        .fallback(api_not_found)
        .with_state(state);
    Router::new()
        .merge(api)
        .merge(console_routes())
        .layer(axum::middleware::from_fn(secure_headers))
        .layer(axum::extract::DefaultBodyLimit::max(1 << 20))
}

async fn api_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no such path {}; see api/openapi.yaml", uri.path()))
}

/// Adds the secure headers to every answer (and `Cache-Control: no-store` to the API's).
async fn secure_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if is_api && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// A bound, running API listener.
#[derive(Debug)]
pub struct ApiServer {
    local_addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl ApiServer {
    /// Binds `cfg.listen` and serves `state` until `cancel`.
    pub async fn start(
        cfg: &ApiConfig,
        state: Arc<ApiState>,
        cancel: CancellationToken,
    ) -> Result<ApiServer, ApiStartError> {
        let addr = cfg.listen;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ApiStartError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ApiStartError::Bind { addr, source })?;
        live::spawn_tracker(&state, cancel.clone());
        let streams = state.shutdown.clone();
        let stop = cancel.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            streams.cancel();
        });
        let listener = listener::LimitedListener::new(listener, listener::MAX_CONNECTIONS)
            .with_idle_timeout(std::time::Duration::from_secs(cfg.idle_timeout_secs));
        let app = router(state).into_make_service_with_connect_info::<listener::Peer>();
        tracing::info!(%local_addr, "HTTP API and console listening");
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(cancel.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "API server stopped with an error");
            }
        });
        Ok(ApiServer { local_addr, task })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits until the server has stopped (after cancellation). Open event streams end
    /// with the cancellation too (they watch the same token).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}
