//! The API's TCP listener with a bound on open connections: past it, a new connection is
//! closed at accept (and logged), so a client that opens connections and never finishes them
//! cannot exhaust file descriptors or tasks. A connection on which nothing moves either way
//! for [`IDLE_TIMEOUT`] is closed, so idle keep-alive and half-sent requests (slowloris) give
//! their slot back.

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most API connections open at once (live event streams included).
pub const MAX_CONNECTIONS: usize = 128;

/// A connection with no byte read or written for this long is closed (the default of
/// `[api] idle_timeout_secs`). Live event streams send a keep-alive comment every 15 s.
pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A [`TcpListener`] that holds one permit per open connection.
#[derive(Debug)]
pub struct LimitedListener {
    inner: TcpListener,
    limit: Arc<Semaphore>,
    refused: u64,
    idle: std::time::Duration,
}

impl LimitedListener {
    /// Wraps `inner`, allowing `max` connections at once.
    pub fn new(inner: TcpListener, max: usize) -> Self {
        LimitedListener {
            inner,
            limit: Arc::new(Semaphore::new(max.max(1))),
            refused: 0,
            idle: IDLE_TIMEOUT,
        }
    }

    /// Closes connections idle for `idle` instead of [`IDLE_TIMEOUT`].
    pub fn with_idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.idle = idle;
        self
    }
}

/// An accepted connection, its permit (released when the connection closes) and its idle
/// deadline (pushed back by every byte that moves).
#[derive(Debug)]
pub struct LimitedStream {
    io: TcpStream,
    _permit: OwnedSemaphorePermit,
    idle: std::time::Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl LimitedStream {
    fn moved(&mut self) {
        let next = tokio::time::Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }

    /// With the I/O pending: an error once the connection has been idle too long (hyper then
    /// closes it), else pending with the timer armed to wake this task.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> Option<std::io::Error> {
        self.deadline.as_mut().poll(cx).is_ready().then(|| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("API connection idle for {:?}: closed", self.idle),
            )
        })
    }
}

impl LimitedStream {
    /// A write's result: bytes out count as activity; a pending write (a client that stops
    /// reading, e.g. a stalled download) is idle too.
    fn written(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<std::io::Result<usize>>,
    ) -> Poll<std::io::Result<usize>> {
        match polled {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match self.idle_expired(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
        }
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match self.idle_expired(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.written(cx, polled)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.written(cx, polled)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (io, peer) = match self.inner.accept().await {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off a little instead of spinning.
                    tracing::warn!(error = %e, "API listener accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            match Arc::clone(&self.limit).try_acquire_owned() {
                Ok(permit) => {
                    let _ = io.set_nodelay(true);
                    let deadline = tokio::time::sleep(self.idle);
                    return (
                        LimitedStream {
                            io,
                            _permit: permit,
                            idle: self.idle,
                            deadline: Box::pin(deadline),
                        },
                        peer,
                    );
                }
                Err(_) => {
                    self.refused += 1;
                    if self.refused == 1 || self.refused.is_power_of_two() {
                        tracing::warn!(%peer, refused = self.refused,
                            "too many API connections open ({MAX_CONNECTIONS}); refusing");
                    }
                    drop(io);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The client's address (for the login rate limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, LimitedListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, LimitedListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}
