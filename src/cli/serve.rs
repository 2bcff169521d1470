//! `agent serve`: answer calls over AudioSocket.

use std::path::Path;

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

/// Runs the server until SIGTERM/SIGINT.
pub fn run(_config: Option<&Path>, _args: ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("agent serve: not implemented yet")
}
