//! `agent say`: text to a WAV file with a Piper voice.

use std::path::Path;

/// Arguments of `agent say`.
#[derive(Debug, clap::Args)]
pub struct SayArgs {}

/// Speaks the text into a file.
pub fn say(_config: Option<&Path>, _args: SayArgs) -> anyhow::Result<()> {
    anyhow::bail!("agent say: not implemented yet")
}
