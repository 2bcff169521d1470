//! `agent bench …`: one benchmark per pipeline stage, reporting p50/p95 and real-time factor.
//!
//! Each variant's arguments and code live with the stage's own CLI file.

use clap::Subcommand;
use std::path::Path;

/// The stage benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// N concurrent echo calls over real TCP: outbound frame interval, CPU, memory per call.
    Transport(super::call::BenchTransportArgs),
    /// Whisper ASR: RTF p50/p95 of the pipeline and of the raw `state.full`, per model shape.
    Asr(super::speech::BenchAsrArgs),
    /// ASR quality: WER and time on real speech (16 kHz, 8 kHz slin, μ-law), greedy/beam,
    /// dynamic window on/off, ours next to faster-whisper on the same weights.
    QualityAsr(super::speech::QualityAsrArgs),
    /// VAD: Silero per 512-sample window, webrtc-vad per 20 ms frame, endpointer; p50/p95, RTF.
    Vad(super::speech::BenchVadArgs),
    /// Piper TTS: RTF p50/p95 (ours, raw session.run, reference piper-tts), time to first audio.
    Tts(super::tts::BenchTtsArgs),
    /// TTS intelligibility: call-centre sentences by our Piper and the reference piper, at 22 kHz
    /// and through the telephone path, transcribed by faster-whisper; WER per category.
    QualityTts(super::tts::BenchQualityTtsArgs),
    /// Whole calls: N simulated callers at real time against a running agent; turn latency on
    /// the wire, per-stage p50s, agent CPU and memory.
    Calls(super::bench_calls::BenchCallsArgs),
    /// End of turn: decision delay p50/p95 and premature cuts, silence + punctuation vs
    /// smart-turn, on a pause set spoken by a real voice.
    Turn(super::bench_turn::BenchTurnArgs),
    /// LLM: time to first token (500-token prompt), tokens/s for 1/2/4/8 concurrent calls, KV reuse.
    Llm(super::chat::BenchLlmArgs),
    /// Soak: sequential + concurrent conversation calls with hang-ups, barge-ins and resets;
    /// memory and descriptor slope, CLOSE-WAIT, tasks and engine jobs left.
    Soak(super::bench_soak::BenchSoakArgs),
    /// Campaign dialler: N outbound calls at once through a loopback AMI peer; AMI and
    /// scheduling overhead per call (p50/p95).
    Campaign(super::bench_campaign::BenchCampaignArgs),
    /// Answering-machine detection: accuracy (confusion matrix) and decision time on human
    /// answers and machine greetings spoken by a real voice through the μ-law telephone path.
    Amd(super::bench_amd::BenchAmdArgs),
}

/// Runs a benchmark.
pub fn run(config: Option<&Path>, cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Asr(args) => super::speech::bench_asr(config, args),
        BenchCommand::QualityAsr(args) => super::speech::bench_quality_asr(config, args),
        BenchCommand::Vad(args) => super::speech::bench_vad(config, args),
        BenchCommand::Tts(args) => super::tts::bench(config, args),
        BenchCommand::QualityTts(args) => super::tts::bench_quality(config, args),
        BenchCommand::Llm(args) => super::chat::bench_llm(config, args),
        BenchCommand::Turn(args) => super::bench_turn::run(config, args),
        BenchCommand::Calls(args) => super::bench_calls::run(config, args),
        BenchCommand::Transport(args) => super::call::bench_transport(config, args),
        BenchCommand::Soak(args) => super::bench_soak::run(config, args),
        BenchCommand::Campaign(args) => super::bench_campaign::run(config, args),
        BenchCommand::Amd(args) => super::bench_amd::run(config, args),
    }
}
