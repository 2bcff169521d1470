//! `agent bench …`: one benchmark per pipeline stage, reporting p50/p95 and real-time factor.
//!
//! Each variant's arguments and code live with the stage's own CLI file.

use clap::Subcommand;
use std::path::Path;

/// The stage benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// N concurrent echo calls over real TCP: outbound frame interval, CPU, memory per call.
    Transport,
    /// LLM: time to first token (500-token prompt), tokens/s for 1/2/4/8 concurrent calls, KV reuse.
    Llm(super::chat::BenchLlmArgs),
}

/// Runs a benchmark.
pub fn run(config: Option<&Path>, cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Llm(args) => super::chat::bench_llm(config, args),
        BenchCommand::Transport => anyhow::bail!("agent bench transport: not implemented yet"),
    }
}
