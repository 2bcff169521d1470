//! `agent chat`: a text REPL against the dialog model, prompt and tools.

use std::path::Path;

/// Arguments of `agent chat`.
#[derive(Debug, clap::Args)]
pub struct ChatArgs {}

/// Runs the REPL.
pub fn run(_config: Option<&Path>, _args: ChatArgs) -> anyhow::Result<()> {
    anyhow::bail!("agent chat: not implemented yet")
}
