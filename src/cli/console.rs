//! `agent console hash-password`: the argon2 hash for `[api] password_hash`.

use anyhow::Context;
use std::io::BufRead;

/// `agent console …`.
#[derive(Debug, clap::Subcommand)]
pub enum ConsoleCommand {
    /// Read a password (from stdin, one line; or a prompt) and print its argon2id hash for
    /// `[api] password_hash`.
    HashPassword,
}

/// Runs a console subcommand.
pub fn run(cmd: ConsoleCommand) -> anyhow::Result<()> {
    match cmd {
        ConsoleCommand::HashPassword => {
            eprintln!("console password (one line on stdin; at least 8 characters):");
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the password from stdin")?;
            let password = line.trim_end_matches(['\r', '\n']);
            if password.chars().count() < 8 {
                anyhow::bail!("the password is shorter than 8 characters");
            }
            let hash = crate::api::auth::hash_password(password)
                .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
            println!("{hash}");
            eprintln!("put it into agent.toml:\n[api]\nenabled = true\npassword_hash = \"{hash}\"");
            Ok(())
        }
    }
}
