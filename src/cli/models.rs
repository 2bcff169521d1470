//! `agent download-models` and `agent models …`: getting verified weights onto the box.

use crate::models::bundle::{create_bundle, import_bundle, ImportOptions};
use crate::models::catalogue::Catalogue;
use crate::models::download::{download_all, DownloadOptions, FileOutcome, Plan, ProxySetting};
use crate::models::lock::LockWait;
use crate::models::progress::{human_bytes, ProgressMode};
use crate::models::verify::{scan_installed, verify_configured, CheckDepth, HashCache};
use anyhow::Context;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which models: a profile or an explicit list.
#[derive(Debug, Clone, clap::Args)]
pub struct SelectArgs {
    /// Profile to install (`cpu-small`, `gpu`, `voices-ru`, `voices-en`, …); default:
    /// `[models] profile`.
    #[arg(long)]
    pub profile: Option<String>,
    /// Only these models (catalogue names, e.g. `whisper.base`); overrides --profile.
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    pub only: Vec<String>,
    /// Models directory; default: `[models] dir`.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Extra catalogue file merged over the built-in one; default: `[models] catalogue`.
    #[arg(long)]
    pub catalogue: Option<PathBuf>,
    /// Accept catalogue entries without a known size/sha256.
    #[arg(long)]
    pub allow_unverified: bool,
}

/// How to fetch.
#[derive(Debug, Clone, clap::Args)]
pub struct FetchArgs {
    /// Replace the origin of every URL with this one (internal Artifactory / Nexus mirror).
    #[arg(long, env = "ENCLAVE_MODELS_MIRROR")]
    pub mirror: Option<String>,
    /// Proxy for all downloads; default: HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the
    /// environment.
    #[arg(long)]
    pub proxy: Option<String>,
    /// Ignore proxy settings from the environment and connect directly.
    #[arg(long, conflicts_with = "proxy")]
    pub no_proxy: bool,
    /// Files downloaded in parallel; default: `[models] jobs`.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Retries per file after a transient error; default: `[models] retries`.
    #[arg(long)]
    pub retries: Option<u32>,
    /// Seconds without data before an attempt times out; default: `[models] read_timeout_s`.
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Seconds to wait when another run holds the models directory (0: fail at once).
    #[arg(long, default_value_t = 600)]
    pub lock_wait: u64,
    /// Progress display.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
}

/// `--progress` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressArg {
    /// Bars on a terminal, log lines otherwise.
    Auto,
    /// Progress bars.
    Bars,
    /// Plain log lines.
    Lines,
    /// Nothing but the summary.
    Quiet,
}

/// Arguments of `agent download-models`.
#[derive(Debug, clap::Args)]
pub struct DownloadArgs {
    /// Which models.
    #[command(flatten)]
    pub select: SelectArgs,
    /// How to fetch.
    #[command(flatten)]
    pub fetch: FetchArgs,
}

/// `agent models` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// What is installed: sizes, verified or not, which config key uses each file.
    List {
        /// Models directory; default: `[models] dir`.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Extra catalogue file; default: `[models] catalogue`.
        #[arg(long)]
        catalogue: Option<PathBuf>,
        /// Show the whole catalogue and its profiles, installed or not.
        #[arg(long)]
        all: bool,
    },
    /// Full sha256 check of every installed model; non-zero exit status if any is bad.
    Verify {
        /// Models directory; default: `[models] dir`.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Extra catalogue file; default: `[models] catalogue`.
        #[arg(long)]
        catalogue: Option<PathBuf>,
        /// Sizes only (cheap enough for a container HEALTHCHECK).
        #[arg(long)]
        quick: bool,
        /// Only the files the config uses (the start-up check of `agent serve`: size, and
        /// sha256 through the hash cache).
        #[arg(long, conflicts_with = "quick")]
        configured: bool,
    },
    /// Download (if needed) and pack models into a tar for an air-gapped box.
    Bundle {
        /// Which models.
        #[command(flatten)]
        select: SelectArgs,
        /// How to fetch what is missing.
        #[command(flatten)]
        fetch: FetchArgs,
        /// The tar to write.
        #[arg(long, short = 'o')]
        output: PathBuf,
    },
    /// Verify a bundle against its manifest and the catalogue, then install it.
    Import {
        /// The tar written by `agent models bundle`.
        bundle: PathBuf,
        /// Models directory; default: `[models] dir`.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Extra catalogue file; default: `[models] catalogue`.
        #[arg(long)]
        catalogue: Option<PathBuf>,
        /// Accept files whose catalogue entry has no sha256.
        #[arg(long)]
        allow_unverified: bool,
        /// Require the manifest to have this sha256 (printed by `agent models bundle`).
        #[arg(long)]
        manifest_sha256: Option<String>,
    },
}

struct Context_ {
    config: crate::config::Config,
    catalogue: Catalogue,
    catalogue_name: String,
    dir: PathBuf,
}

fn context(
    config: Option<&Path>,
    dir: Option<PathBuf>,
    catalogue: Option<PathBuf>,
) -> anyhow::Result<Context_> {
    let config = super::load_config(config)?;
    let catalogue_path = catalogue.or_else(|| config.models.catalogue.clone());
    let catalogue = Catalogue::load(catalogue_path.as_deref())?;
    let catalogue_name = match &catalogue_path {
        Some(p) => format!("built-in + {}", p.display()),
        None => "built-in".into(),
    };
    let dir = dir.unwrap_or_else(|| config.models.dir.clone());
    Ok(Context_ {
        config,
        catalogue,
        catalogue_name,
        dir,
    })
}

fn options(config: &crate::config::ModelsConfig, fetch: &FetchArgs) -> DownloadOptions {
    let proxy = match (&fetch.proxy, fetch.no_proxy, &config.proxy) {
        (_, true, _) => ProxySetting::Direct,
        (Some(p), _, _) | (None, _, Some(p)) => ProxySetting::Url(p.clone()),
        (None, false, None) => ProxySetting::System,
    };
    DownloadOptions {
        jobs: fetch.jobs.unwrap_or(config.jobs).max(1),
        proxy,
        retries: fetch.retries.unwrap_or(config.retries),
        read_timeout: Duration::from_secs(fetch.timeout.unwrap_or(config.read_timeout_s).max(1)),
        progress: match fetch.progress {
            ProgressArg::Auto => ProgressMode::Auto,
            ProgressArg::Bars => ProgressMode::Bars,
            ProgressArg::Lines => ProgressMode::Lines,
            ProgressArg::Quiet => ProgressMode::Quiet,
        },
        lock_wait: if fetch.lock_wait == 0 {
            LockWait::Fail
        } else {
            LockWait::Wait(Duration::from_secs(fetch.lock_wait))
        },
        ..DownloadOptions::default()
    }
}

/// Resolves the selection, prints what will happen and downloads it.
fn fetch(ctx: &Context_, select: &SelectArgs, fetch: &FetchArgs) -> anyhow::Result<Vec<String>> {
    let profile = select
        .profile
        .clone()
        .unwrap_or_else(|| ctx.config.models.profile.clone());
    let allow = select.allow_unverified || ctx.config.models.allow_unverified;
    let models = ctx.catalogue.select(Some(&profile), &select.only, allow)?;
    let mirror = fetch
        .mirror
        .clone()
        .or_else(|| ctx.config.models.mirror.clone());
    let plan = Plan::new(&ctx.dir, &models, mirror.as_deref());
    let total: u64 = models.iter().map(|m| m.total_size()).sum();
    let what = if select.only.is_empty() {
        format!("profile `{profile}`")
    } else {
        format!("`{}`", select.only.join("`, `"))
    };
    eprintln!(
        "{what}: {} model(s), {} file(s), {} into {} (catalogue: {}{})",
        models.len(),
        plan.files.len(),
        human_bytes(total),
        ctx.dir.display(),
        ctx.catalogue_name,
        mirror.map(|m| format!(", mirror {m}")).unwrap_or_default()
    );
    let opts = options(&ctx.config.models, fetch);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        tokio::select! {
            r = download_all(&plan, &opts) => r.map_err(anyhow::Error::from),
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!(
                "interrupted; partial files (*.part) are kept and the next run resumes them"
            )),
        }
    })?;
    for f in &report.files {
        let how = match f.outcome {
            FileOutcome::AlreadyPresent => "already installed, verified".to_string(),
            FileOutcome::Downloaded {
                bytes,
                resumed_from: 0,
            } => format!("downloaded {}, verified", human_bytes(bytes)),
            FileOutcome::Downloaded {
                bytes,
                resumed_from,
            } => format!(
                "resumed at {}, downloaded {}, verified",
                human_bytes(resumed_from),
                human_bytes(bytes)
            ),
        };
        eprintln!("  {:<28} {}  ({how})", f.model, f.path.display());
    }
    eprintln!("{report}");
    Ok(models.iter().map(|m| m.name.clone()).collect())
}

/// Downloads models.
pub fn download(config: Option<&Path>, args: DownloadArgs) -> anyhow::Result<()> {
    let ctx = context(
        config,
        args.select.dir.clone(),
        args.select.catalogue.clone(),
    )?;
    fetch(&ctx, &args.select, &args.fetch)?;
    Ok(())
}

/// Runs a models subcommand.
pub fn run(config: Option<&Path>, cmd: ModelsCommand) -> anyhow::Result<()> {
    match cmd {
        ModelsCommand::List {
            dir,
            catalogue,
            all,
        } => list(&context(config, dir, catalogue)?, all),
        ModelsCommand::Verify {
            dir,
            catalogue,
            quick,
            configured,
        } => {
            let ctx = context(config, dir, catalogue)?;
            if configured {
                verify_configured_files(&ctx)
            } else {
                verify(&ctx, quick)
            }
        }
        ModelsCommand::Bundle {
            select,
            fetch: fetch_args,
            output,
        } => {
            let ctx = context(config, select.dir.clone(), select.catalogue.clone())?;
            let names = fetch(&ctx, &select, &fetch_args)?;
            let models: Vec<_> = names
                .iter()
                .filter_map(|n| ctx.catalogue.model(n))
                .collect();
            let summary = create_bundle(&ctx.dir, &models, &output)?;
            println!(
                "wrote {} ({}, {} file(s))\nmanifest sha256: {}\n\
                 copy the tar to the offline box and run:\n  \
                 agent models import {} --manifest-sha256 {}",
                output.display(),
                human_bytes(summary.bytes),
                summary.manifest.files.len(),
                summary.manifest_sha256,
                output.display(),
                summary.manifest_sha256
            );
            Ok(())
        }
        ModelsCommand::Import {
            bundle,
            dir,
            catalogue,
            allow_unverified,
            manifest_sha256,
        } => {
            let ctx = context(config, dir, catalogue)?;
            let opts = ImportOptions {
                allow_unverified: allow_unverified || ctx.config.models.allow_unverified,
                manifest_sha256,
            };
            let report = import_bundle(&bundle, &ctx.dir, &ctx.catalogue, &opts)?;
            for p in &report.installed {
                println!("installed {}", p.display());
            }
            for p in &report.already_present {
                println!("already installed {}", p.display());
            }
            println!(
                "imported {}: {} installed, {} already present; every file matched the manifest \
                 (sha256 {}) and the catalogue",
                bundle.display(),
                report.installed.len(),
                report.already_present.len(),
                report.manifest_sha256
            );
            Ok(())
        }
    }
}

/// Config keys whose string value names `path` (same path, or same file name).
fn config_keys_using(config: &toml::Value, path: &Path, prefix: &str, out: &mut Vec<String>) {
    match config {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                config_keys_using(v, path, &key, out);
            }
        }
        toml::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                config_keys_using(v, path, &format!("{prefix}[{i}]"), out);
            }
        }
        toml::Value::String(s) if !s.is_empty() => {
            let value = Path::new(s);
            if value == path
                || (value.file_name().is_some() && value.file_name() == path.file_name())
            {
                out.push(prefix.to_string());
            }
        }
        _ => {}
    }
}

fn list(ctx: &Context_, all: bool) -> anyhow::Result<()> {
    if all {
        println!("catalogue ({}):", ctx.catalogue_name);
        for (name, p) in &ctx.catalogue.profiles {
            println!("  profile {name:<12} {}", p.description);
            println!("    {}", p.models.join(", "));
        }
        println!(
            "{:<30} {:<4} {:>10}  {:<10} LANGUAGES / LICENCE",
            "MODEL", "KIND", "SIZE", "VERIFIED"
        );
        for m in &ctx.catalogue.models {
            println!(
                "{:<30} {:<4} {:>10}  {:<10} {} / {}",
                m.name,
                m.kind,
                human_bytes(m.total_size()),
                if m.is_verified() { "yes" } else { "NO" },
                m.languages.join(","),
                m.license
            );
        }
        println!();
    }
    let mut cache = HashCache::open(&ctx.dir);
    let installed = scan_installed(&ctx.dir, &ctx.catalogue, &mut cache, CheckDepth::CacheOnly)?;
    let config_value: toml::Value = ctx
        .config
        .to_toml()
        .parse()
        .unwrap_or(toml::Value::Table(Default::default()));
    println!(
        "installed in {} (catalogue: {}):",
        ctx.dir.display(),
        ctx.catalogue_name
    );
    if installed.is_empty() {
        println!("  nothing; run `agent download-models --profile cpu-small` (or see `agent models list --all`)");
    }
    for m in &installed {
        println!("  {} ({}, {})", m.model.name, m.model.kind, m.model.license);
        for (path, size, state) in &m.files {
            let mut keys = Vec::new();
            config_keys_using(&config_value, path, "", &mut keys);
            let verified = match state {
                crate::models::verify::FileState::Ok { hash_checked: true } => {
                    "verified (size + sha256, cached)".to_string()
                }
                crate::models::verify::FileState::Ok {
                    hash_checked: false,
                } => "size ok; sha256 not checked yet (`agent models verify`)".to_string(),
                other => other.to_string(),
            };
            println!(
                "    {:<60} {:>10}  {verified}{}",
                path.display(),
                size.map(human_bytes).unwrap_or_else(|| "-".into()),
                if keys.is_empty() {
                    "  [not referenced by the config]".to_string()
                } else {
                    format!("  [used by {}]", keys.join(", "))
                }
            );
        }
    }
    let leftovers = leftovers(&ctx.dir);
    if !leftovers.is_empty() {
        println!("leftovers (interrupted downloads / files moved aside; safe to delete):");
        for p in leftovers {
            println!("  {}", p.display());
        }
    }
    Ok(())
}

/// `.part` and `.corrupt-*` files under `dir`.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() && !name.starts_with(".import-") {
                stack.push(p);
            } else if name.ends_with(".part") || name.contains(".corrupt-") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The start-up check of `agent serve`, on the same list of files serve loads, so that a
/// passing `verify --configured` (setup.sh, systemd's ExecStartPre) means serve will start.
fn verify_configured_files(ctx: &Context_) -> anyhow::Result<()> {
    let mut config = ctx.config.clone();
    config.models.dir = ctx.dir.clone();
    let files = crate::conversation::stack::configured_model_files(&config);
    let refs: Vec<(&str, &Path)> = files
        .iter()
        .map(|(k, p)| (k.as_str(), p.as_path()))
        .collect();
    let mut cache = HashCache::open(&ctx.dir);
    verify_configured(&refs, &ctx.catalogue, &mut cache)?;
    for (key, path) in &files {
        println!("ok  {key} = {}", path.display());
    }
    println!(
        "{} configured model file(s) verified (size + sha256, cached)",
        files.len()
    );
    Ok(())
}

fn verify(ctx: &Context_, quick: bool) -> anyhow::Result<()> {
    let mut cache = HashCache::open(&ctx.dir);
    let depth = if quick {
        CheckDepth::Quick
    } else {
        CheckDepth::Full
    };
    let installed = scan_installed(&ctx.dir, &ctx.catalogue, &mut cache, depth)?;
    if installed.is_empty() {
        anyhow::bail!(
            "no catalogue model is installed in {}; run `agent download-models` first",
            ctx.dir.display()
        );
    }
    let mut bad = Vec::new();
    for m in &installed {
        for (path, _, state) in &m.files {
            let mark = if state.is_ok() { "ok " } else { "BAD" };
            println!("{mark} {:<28} {}  {state}", m.model.name, path.display());
            if !state.is_ok() {
                bad.push(m.model.name.clone());
            }
        }
    }
    if bad.is_empty() {
        println!(
            "{} model(s) verified ({})",
            installed.len(),
            if quick {
                "sizes only"
            } else {
                "size + full sha256"
            }
        );
        Ok(())
    } else {
        bad.dedup();
        anyhow::bail!(
            "{} model(s) failed verification; fix: agent download-models --only {} --dir {}",
            bad.len(),
            bad.join(","),
            ctx.dir.display()
        )
    }
}
