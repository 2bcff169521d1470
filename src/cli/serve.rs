//! `agent serve`: answer calls over AudioSocket.

use anyhow::Context;
use std::path::Path;
use std::sync::Arc;

/// Arguments of `agent serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Listen address (overrides `[server] listen`).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Conversation handler (overrides `[server] handler`).
    #[arg(long, value_enum)]
    pub handler: Option<crate::config::HandlerKind>,
}

/// Runs the server until SIGTERM/SIGINT, then shuts down gracefully.
pub fn run(config_path: Option<&Path>, args: ServeArgs) -> anyhow::Result<()> {
    let mut config = super::load_config(config_path)?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(handler) = args.handler {
        config.server.handler = handler;
    }
    config.server.validate()?;
    match crate::transport::shutdown::raise_nofile_limit() {
        Ok((before, after)) => tracing::debug!(before, after, "RLIMIT_NOFILE soft limit"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise RLIMIT_NOFILE; calls are limited by open files")
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(async {
        let shutdown =
            crate::transport::shutdown::on_signals().context("cannot install signal handlers")?;
        let services_cancel = tokio_util::sync::CancellationToken::new();
        let (handler, stack, services): (std::sync::Arc<dyn crate::pipeline::CallHandler>, _, _) =
            match config.server.handler {
                crate::config::HandlerKind::Echo => {
                    (crate::pipeline::echo_handler(&config), None, None)
                }
                crate::config::HandlerKind::Conversation => {
                    let stack = crate::app::Stack::start(
                        &config,
                        std::sync::Arc::clone(crate::metrics::global()),
                        services_cancel.clone(),
                    )
                    .await
                    .context("cannot start the conversation handler")?;
                    // Agent profiles (one listener per profile) and the HTTP API.
                    let services = crate::api::AgentServices::start(
                        &config,
                        &stack,
                        std::sync::Arc::clone(crate::metrics::global()),
                        services_cancel.child_token(),
                    )
                    .await
                    .context("cannot start the agent profiles / HTTP API")?;
                    (Arc::clone(&services.handler), Some(stack), Some(services))
                }
            };
        let server = crate::transport::Server::bind(config.server.clone())
            .await
            .with_context(|| {
                format!("cannot listen on {} (server.listen)", config.server.listen)
            })?;
        let addr = server.local_addr()?;
        tracing::info!(
            addr = %addr,
            handler = ?config.server.handler,
            max_calls = config.server.max_calls,
            "listening for AudioSocket calls"
        );
        if let Some(stack) = &stack {
            stack.readiness.set_accepting(true);
        }
        server.run(handler, shutdown).await;
        if let Some(services) = services {
            services.shutdown().await;
        }
        if let Some(stack) = stack {
            stack.shutdown().await;
        }
        services_cancel.cancel();
        Ok(())
    });
    // Calls are over and records flushed; do not let a stuck engine job (a blocking thread
    // inside whisper.cpp or ONNX Runtime) keep the process from exiting.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    served
}
