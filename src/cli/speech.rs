//! `agent transcribe` and `agent vad`: the speech-recognition side from the command line.

use std::path::Path;

/// Arguments of `agent transcribe`.
#[derive(Debug, clap::Args)]
pub struct TranscribeArgs {}

/// Arguments of `agent vad`.
#[derive(Debug, clap::Args)]
pub struct VadArgs {}

/// Transcribes files.
pub fn transcribe(_config: Option<&Path>, _args: TranscribeArgs) -> anyhow::Result<()> {
    anyhow::bail!("agent transcribe: not implemented yet")
}

/// Prints speech segments.
pub fn vad(_config: Option<&Path>, _args: VadArgs) -> anyhow::Result<()> {
    anyhow::bail!("agent vad: not implemented yet")
}
