//! The AudioSocket listener: accepts connections, enforces the call limit, runs one task per
//! call, and shuts down gracefully.
//!
//! Shutdown: stop accepting at once, let active calls go on for `shutdown_grace_secs`, then
//! hang each one up properly (`00 00 00`, then close) and wait for them to finish.

use crate::config::ServerConfig;
use crate::pipeline::CallHandler;
use crate::transport::connection::{run_call, CallEnd, CallSettings};
use crate::transport::frame::HANGUP_BYTES;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// After the grace period, how long hung-up calls get to close before we stop waiting.
const HANGUP_WAIT: Duration = Duration::from_secs(5);

/// Live counters of a server (shared; read them any time).
#[derive(Debug, Default)]
pub struct ServerStats {
    active_calls: AtomicUsize,
    total_calls: AtomicU64,
    refused_calls: AtomicU64,
    /// Most calls that ran at once.
    peak_calls: AtomicUsize,
    /// Caller frames dropped for arriving faster than real time (all calls).
    pub(crate) inbound_dropped_frames: AtomicU64,
    /// Calls ended because the caller sent nothing for `inbound_timeout_secs`.
    pub(crate) inbound_timeouts: AtomicU64,
    /// Calls ended because the peer stopped reading.
    pub(crate) write_stalls: AtomicU64,
    /// Notified whenever a call ends.
    call_ended: tokio::sync::Notify,
}

impl ServerStats {
    /// Calls whose task is running now.
    pub fn active_calls(&self) -> usize {
        self.active_calls.load(Ordering::SeqCst)
    }

    /// Connections accepted as calls since start.
    pub fn total_calls(&self) -> u64 {
        self.total_calls.load(Ordering::SeqCst)
    }

    /// Most calls that ran at once since start (never above `server.max_calls`).
    pub fn peak_calls(&self) -> usize {
        self.peak_calls.load(Ordering::SeqCst)
    }

    /// Connections refused because the call limit was reached.
    pub fn refused_calls(&self) -> u64 {
        self.refused_calls.load(Ordering::SeqCst)
    }

    /// Caller frames dropped for arriving faster than real time, over all calls.
    pub fn inbound_dropped_frames(&self) -> u64 {
        self.inbound_dropped_frames.load(Ordering::Relaxed)
    }

    /// Calls ended because the caller sent nothing for `server.inbound_timeout_secs`.
    pub fn inbound_timeouts(&self) -> u64 {
        self.inbound_timeouts.load(Ordering::Relaxed)
    }

    /// Calls ended because the peer stopped reading (`server.write_stall_ms`).
    pub fn write_stalls(&self) -> u64 {
        self.write_stalls.load(Ordering::Relaxed)
    }

    /// Waits until no call task is running (returns at once if none is).
    pub async fn wait_until_idle(&self) {
        loop {
            let ended = self.call_ended.notified();
            tokio::pin!(ended);
            // Register before checking, so an end between the check and the wait is not lost.
            ended.as_mut().enable();
            if self.active_calls() == 0 {
                return;
            }
            ended.await;
        }
    }
}

/// Decrements the active-call gauge when a call task ends, however it ends.
struct ActiveCall(Arc<ServerStats>);

impl Drop for ActiveCall {
    fn drop(&mut self) {
        self.0.active_calls.fetch_sub(1, Ordering::SeqCst);
        self.0.call_ended.notify_waiters();
    }
}

/// A bound AudioSocket listener, ready to [`Server::run`].
pub struct Server {
    listener: TcpListener,
    config: ServerConfig,
    stats: Arc<ServerStats>,
}

impl Server {
    /// Binds `config.listen` (port 0 picks a free port; see [`Server::local_addr`]).
    pub async fn bind(config: ServerConfig) -> std::io::Result<Server> {
        let listener = TcpListener::bind(config.listen).await?;
        Ok(Server {
            listener,
            config,
            stats: Arc::new(ServerStats::default()),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The server's live counters.
    pub fn stats(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }

    /// Accepts calls until `shutdown` is cancelled, then shuts down gracefully.
    pub async fn run(self, handler: Arc<dyn CallHandler>, shutdown: CancellationToken) {
        let Server {
            listener,
            config,
            stats,
        } = self;
        let limit = Arc::new(Semaphore::new(config.max_calls));
        let tracker = TaskTracker::new();
        let hang_up_all = CancellationToken::new();
        let settings = CallSettings::from_config(&config, stats.clone());
        loop {
            let accepted = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                r = listener.accept() => r,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: log, back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(%peer, error = %e, "TCP_NODELAY failed");
            }
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                stats.refused_calls.fetch_add(1, Ordering::SeqCst);
                tracing::warn!(%peer, max_calls = config.max_calls,
                    "connection limit reached (server.max_calls = {}); refusing the call with a hangup",
                    config.max_calls);
                tracker.spawn(refuse(stream));
                continue;
            };
            let now_active = stats.active_calls.fetch_add(1, Ordering::SeqCst) + 1;
            stats.peak_calls.fetch_max(now_active, Ordering::SeqCst);
            stats.total_calls.fetch_add(1, Ordering::SeqCst);
            let guard = ActiveCall(stats.clone());
            let handler = handler.clone();
            let settings = settings.clone();
            let call_shutdown = hang_up_all.clone();
            tracker.spawn(async move {
                // Dropped in reverse order: the gauge goes down before the permit is
                // released, so `active_calls` never exceeds `max_calls`.
                let _permit = permit;
                let _guard = guard;
                let end: CallEnd = run_call(stream, peer, settings, handler, call_shutdown).await;
                tracing::debug!(%peer, %end, "call task done");
            });
        }
        drop(listener);
        tracker.close();
        let active = stats.active_calls();
        tracing::info!(
            active_calls = active,
            grace_secs = config.shutdown_grace_secs,
            "shutting down: no new calls; active calls may finish"
        );
        let grace = Duration::from_secs(config.shutdown_grace_secs);
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::info!(
                active_calls = stats.active_calls(),
                "grace period over; hanging up the remaining calls"
            );
            hang_up_all.cancel();
            if tokio::time::timeout(HANGUP_WAIT, tracker.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    active_calls = stats.active_calls(),
                    "calls still open after hangup"
                );
            }
        }
        tracing::info!("server stopped");
    }
}

/// Refuses a connection over the limit: `00 00 00`, then close.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&HANGUP_BYTES).await?;
        stream.shutdown().await
    })
    .await;
}
