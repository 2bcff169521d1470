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
    /// VAD: Silero per 512-sample window, webrtc-vad per 20 ms frame, endpointer; p50/p95, RTF.
    Vad(super::speech::BenchVadArgs),
    /// Piper TTS: RTF p50/p95 (ours, raw session.run, reference piper-tts), time to first audio.
    Tts(super::tts::BenchTtsArgs),
    /// Whole calls: N simulated callers at real time against a running agent; turn latency on
    /// the wire, per-stage p50s, agent CPU and memory.
    Calls(super::bench_calls::BenchCallsArgs),
    /// LLM: time to first token (500-token prompt), tokens/s for 1/2/4/8 concurrent calls, KV reuse.
    Llm(super::chat::BenchLlmArgs),
    /// Soak: sequential + concurrent conversation calls with hang-ups, barge-ins and resets;
    /// memory and descriptor slope, CLOSE-WAIT, tasks and engine jobs left.
    Soak(super::bench_soak::BenchSoakArgs),
}

/// Runs a benchmark.
pub fn run(config: Option<&Path>, cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Asr(args) => super::speech::bench_asr(config, args),
        BenchCommand::Vad(args) => super::speech::bench_vad(config, args),
        BenchCommand::Tts(args) => super::tts::bench(config, args),
        BenchCommand::Llm(args) => super::chat::bench_llm(config, args),
        BenchCommand::Calls(args) => super::bench_calls::run(config, args),
        BenchCommand::Transport(args) => super::call::bench_transport(config, args),
        BenchCommand::Soak(args) => super::bench_soak::run(config, args),
    }
}
