//! Command-line interface of the `agent` binary: argument parsing and dispatch.
//!
//! Each subcommand lives in its own file; this one only wires them together.

mod bench;
mod bench_calls;
mod bench_soak;
mod bench_turn;
mod call;
mod chat;
mod config_cmd;
mod console;
mod models;
mod serve;
mod speech;
mod tts;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// `agent`: a fully local voice agent for Asterisk (AudioSocket).
#[derive(Debug, Parser)]
#[command(name = "agent", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file (TOML). Without it, built-in defaults apply.
    #[arg(long, short = 'c', global = true, env = crate::config::ENV_CONFIG_PATH)]
    pub config: Option<PathBuf>,
    /// Log filter, e.g. `info`, `enclave=debug`.
    #[arg(long, global = true, env = "ENCLAVE_LOG", default_value = "info")]
    pub log: String,
    /// Log lines as JSON (for log shippers).
    #[arg(long, global = true)]
    pub log_json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer calls from Asterisk over AudioSocket.
    Serve(serve::ServeArgs),
    /// Simulate Asterisk: place a call to an agent with a WAV file and record the reply.
    Call(call::CallArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Transcribe WAV files with Whisper.
    Transcribe(speech::TranscribeArgs),
    /// Find speech segments in a WAV file.
    Vad(speech::VadArgs),
    /// Speak text with a Piper voice into a WAV file.
    Say(tts::SayArgs),
    /// Chat with the dialog model in the terminal (prompt and tool development).
    Chat(chat::ChatArgs),
    /// Download the models of a profile, verified by size and sha256.
    DownloadModels(models::DownloadArgs),
    /// Installed models: list, verify, bundle for air-gapped boxes, import.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Benchmarks of each stage (p50/p95, real-time factor).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Web console and HTTP API tools (password hash for `[api] password_hash`).
    #[command(subcommand)]
    Console(console::ConsoleCommand),
}

/// Parses the command line and runs it; the binary's whole `main`.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log, cli.log_json);
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config_path = cli.config.as_deref();
    match cli.command {
        Command::Serve(args) => serve::run(config_path, args),
        Command::Call(args) => call::run(args),
        Command::Config(cmd) => config_cmd::run(config_path, cmd),
        Command::Transcribe(args) => speech::transcribe(config_path, args),
        Command::Vad(args) => speech::vad(config_path, args),
        Command::Say(args) => tts::say(config_path, args),
        Command::Chat(args) => chat::run(config_path, args),
        Command::DownloadModels(args) => models::download(config_path, args),
        Command::Models(cmd) => models::run(config_path, cmd),
        Command::Bench(cmd) => bench::run(config_path, cmd),
        Command::Console(cmd) => console::run(cmd),
    }
}

fn init_tracing(filter: &str, json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Loads the config file (or defaults) with environment overrides; the CLI's one entry point
/// to configuration so every subcommand reports config errors the same way.
pub(crate) fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<crate::config::Config> {
    Ok(crate::config::Config::load(path)?)
}
