//! `agent call`: a simulated Asterisk that places a call to an agent.

use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `agent call`.
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// Agent address.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub to: SocketAddr,
    /// WAV file the caller says (any rate, mono or stereo); without it the caller is silent.
    #[arg(long)]
    pub wav: Option<PathBuf>,
    /// Call uuid (random if not given).
    #[arg(long)]
    pub uuid: Option<uuid::Uuid>,
    /// Rate the caller sends at: 8000 (kind 0x10, like `AudioSocket()`) or 16000 (0x12, `c(slin16)`).
    #[arg(long, default_value_t = 8000)]
    pub rate: u32,
    /// DTMF digits to send, e.g. "1@2.5,0@4.0" (digit @ seconds after connect).
    #[arg(long)]
    pub dtmf: Option<String>,
    /// Hang up (close) this many seconds after connecting.
    #[arg(long)]
    pub hangup_after: Option<f64>,
    /// Seconds to keep the call open after the WAV ends.
    #[arg(long, default_value_t = 2.0)]
    pub linger: f64,
    /// Write everything the agent sent to this WAV file (at the agent's rate).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn seconds(name: &str, v: f64) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        v.is_finite() && (0.0..=86_400.0).contains(&v),
        "--{name} {v}: give seconds between 0 and 86400"
    );
    Ok(Duration::from_secs_f64(v))
}

/// Places the call and prints the timing report. Fails (exit ≠ 0) when the agent broke
/// the protocol in a way Asterisk would hang up on.
pub fn run(args: CallArgs) -> anyhow::Result<()> {
    use crate::sim::{self, CallEndReason};
    use crate::transport::AudioRate;
    let send_rate = AudioRate::from_hz(args.rate).with_context(|| {
        format!("--rate {}: AudioSocket rates are 8000, 12000, 16000, 24000, 32000, 44100, 48000, 96000, 192000", args.rate)
    })?;
    let mut opts = sim::CallOptions::new(args.to);
    opts.uuid = args.uuid;
    opts.send_rate = send_rate;
    opts.linger = seconds("linger", args.linger)?;
    opts.hangup_after = args
        .hangup_after
        .map(|v| seconds("hangup-after", v))
        .transpose()?;
    opts.record = args.record.is_some();
    if let Some(spec) = &args.dtmf {
        opts.dtmf = sim::parse_dtmf(spec)?;
    }
    if let Some(path) = &args.wav {
        let clip = crate::audio::wav::read_mono(path)?;
        opts.audio = Some((clip.samples, clip.sample_rate));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(sim::place_call(opts))?;
    if let Some(path) = &args.record {
        let rate = report.agent_rate_hz.unwrap_or(send_rate.hz());
        crate::audio::wav::write_i16(path, &report.recorded, rate, 1)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    match &report.ended {
        CallEndReason::ProtocolViolation(_)
        | CallEndReason::PollTimeout(_)
        | CallEndReason::IoError(_) => {
            anyhow::bail!("the call failed: {}", report.ended)
        }
        _ => Ok(()),
    }
}
