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
            let config = super::load_config(path)?;
            let source = path
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "built-in defaults".into());
            println!("# effective configuration (from {source}); OK");
            print!("{}", config.to_toml());
            Ok(())
        }
    }
}
