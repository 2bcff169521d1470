//! `agent config check`: validate the configuration and print the effective values.

use clap::Subcommand;
use std::path::Path;

/// Configuration subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config (file + ENCLAVE_… environment) and print the effective values.
    Check,
}

/// Runs a config subcommand.
pub fn run(path: Option<&Path>, cmd: ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Check => {
            let requested = crate::config::Config::load(path)?;
            let mut config = requested.clone();
            let plan = crate::gpu::prepare(&mut config)?;
            let source = path
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "built-in defaults".into());
            println!("# effective configuration (from {source}); OK");
            println!(
                "# gpu: {} ([gpu] mode = \"{}\")",
                plan.summary(),
                config.gpu.mode.as_str()
            );
            for note in &plan.notes {
                println!("# gpu: {note}");
            }
            // The file's values, not the plan's rewrite: the output must load back the same.
            print!("{}", requested.to_toml());
            Ok(())
        }
    }
}
