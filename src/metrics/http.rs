//! The observability HTTP listener: `GET /metrics`, `/livez`, `/readyz` (hyper 1, HTTP/1.1).

use super::Metrics;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Content type of the Prometheus text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long open connections get to finish after shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Most HTTP connections open at once; more are closed at accept (and counted in
/// `enclave_limit_hits_total{limit="metrics_connections"}`), so a client that opens
/// connections and never finishes them cannot exhaust file descriptors or tasks.
pub const MAX_CONNECTIONS: usize = 64;

/// Longest life of one connection (keep-alive included): an idle client cannot hold a slot
/// for ever. Prometheus reconnects transparently.
const CONNECTION_MAX_LIFETIME: Duration = Duration::from_secs(60);

/// Why the HTTP listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsServerError {
    /// The address could not be bound.
    #[error("cannot listen for metrics on {addr}: {source} (set [metrics] listen to a free address, or enabled = false)")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
}

#[derive(Debug, Default)]
struct ReadinessState {
    models_loaded: bool,
    accepting: bool,
    draining: bool,
}

/// Whether the agent can take calls: models loaded and the AudioSocket listener accepting.
/// Cheap to clone; every clone shares the state.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<Mutex<ReadinessState>>);

impl Readiness {
    /// Not ready: nothing loaded, not accepting.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets both conditions at once (`true` = ready to take calls).
    pub fn set_ready(&self, ready: bool) {
        let mut s = self.lock();
        s.models_loaded = ready;
        s.accepting = ready;
    }

    /// Models are (or are no longer) loaded.
    pub fn set_models_loaded(&self, loaded: bool) {
        self.lock().models_loaded = loaded;
    }

    /// The AudioSocket listener is (or is no longer) accepting connections.
    pub fn set_accepting(&self, accepting: bool) {
        self.lock().accepting = accepting;
    }

    /// Shutdown began: not ready any more, whatever else holds.
    pub fn set_draining(&self) {
        self.lock().draining = true;
    }

    /// `Ok(())` when ready, else why not (the `/readyz` body).
    pub fn check(&self) -> Result<(), String> {
        let s = self.lock();
        let mut reasons = Vec::new();
        if s.draining {
            reasons.push("shutting down");
        }
        if !s.models_loaded {
            reasons.push("models not loaded");
        }
        if !s.accepting {
            reasons.push("AudioSocket listener not accepting");
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons.join("; "))
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReadinessState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A bound, running metrics listener.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `addr` and serves until `cancel` fires.
    pub async fn start(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        readiness: Readiness,
        cancel: CancellationToken,
    ) -> Result<MetricsServer, MetricsServerError> {
        Self::start_limited(addr, metrics, readiness, cancel, MAX_CONNECTIONS).await
    }

    /// [`MetricsServer::start`] with at most `max_connections` open at once.
    pub async fn start_limited(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        readiness: Readiness,
        cancel: CancellationToken,
        max_connections: usize,
    ) -> Result<MetricsServer, MetricsServerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| MetricsServerError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| MetricsServerError::Bind { addr, source })?;
        tracing::info!(%local_addr, "metrics and health listener up");
        let limit = Arc::new(tokio::sync::Semaphore::new(max_connections.max(1)));
        let task = tokio::spawn(accept_loop(listener, metrics, readiness, cancel, limit));
        Ok(MetricsServer { local_addr, task })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits until the listener and its connections have stopped (after cancellation).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    cancel: CancellationToken,
    limit: Arc<tokio::sync::Semaphore>,
) {
    let tracker = tokio_util::task::TaskTracker::new();
    let mut refused: u64 = 0;
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off a little instead of spinning.
                tracing::warn!(error = %e, "metrics listener accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            refused += 1;
            super::limits::hit(super::limits::Limit::MetricsConnections);
            if refused == 1 || refused.is_power_of_two() {
                tracing::warn!(%peer, refused, "too many metrics connections open; refusing");
            }
            drop(stream);
            continue;
        };
        let metrics = Arc::clone(&metrics);
        let readiness = readiness.clone();
        let cancel = cancel.clone();
        tracker.spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let resp = route(&req, &metrics, &readiness);
                async move { Ok::<_, std::convert::Infallible>(resp) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = tokio::time::sleep(CONNECTION_MAX_LIFETIME) => {
                    conn.as_mut().graceful_shutdown();
                    tokio::time::timeout(SHUTDOWN_GRACE, conn.as_mut()).await.unwrap_or(Ok(()))
                }
                _ = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    tokio::time::timeout(SHUTDOWN_GRACE, conn.as_mut()).await.unwrap_or(Ok(()))
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "metrics connection ended with an error");
            }
        });
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

fn route(
    req: &Request<Incoming>,
    metrics: &Metrics,
    readiness: &Readiness,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET is supported\n");
    }
    match path {
        "/metrics" => {
            let mut resp = Response::new(Full::new(Bytes::from(metrics.render())));
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(PROMETHEUS_CONTENT_TYPE),
            );
            resp
        }
        "/livez" => text(StatusCode::OK, "ok\n"),
        "/readyz" => match readiness.check() {
            Ok(()) => text(StatusCode::OK, "ready\n"),
            Err(reason) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("not ready: {reason}\n"),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /metrics, /livez or /readyz\n",
        ),
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
