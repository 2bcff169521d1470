//! `agent download-models` and `agent models …`: getting verified weights onto the box.

use clap::Subcommand;
use std::path::Path;

/// Arguments of `agent download-models`.
#[derive(Debug, clap::Args)]
pub struct DownloadArgs {}

/// `agent models` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// What is installed.
    List,
}

/// Downloads models.
pub fn download(_config: Option<&Path>, _args: DownloadArgs) -> anyhow::Result<()> {
    anyhow::bail!("agent download-models: not implemented yet")
}

/// Runs a models subcommand.
pub fn run(_config: Option<&Path>, _cmd: ModelsCommand) -> anyhow::Result<()> {
    anyhow::bail!("agent models: not implemented yet")
}
