//! `agent call`: a simulated Asterisk that places a call to an agent.

/// Arguments of `agent call`.
#[derive(Debug, clap::Args)]
pub struct CallArgs {}

/// Places the call and prints the timing report.
pub fn run(_args: CallArgs) -> anyhow::Result<()> {
    anyhow::bail!("agent call: not implemented yet")
}
