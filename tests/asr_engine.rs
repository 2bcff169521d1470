//! The Whisper engine end to end on a synthetic model (real architecture and vocabulary,
//! random weights: the text is garbage by design, so these tests assert structure).

mod speech_support;

use enclave::asr::{AsrEngine, TranscribeOptions, Transcript};
use enclave::config::AsrConfig;
use enclave::vad::SileroModel;
use rand::{Rng, SeedableRng};
use speech_support::{fixtures, synthetic};
use std::sync::Arc;

fn jfk_16k() -> Vec<f32> {
    let mut r = hound::WavReader::open(fixtures().join("audio/jfk.wav")).unwrap();
    r.samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect()
}

/// jfk.wav through a telephone-rate round trip: 16 kHz → 8 kHz → 16 kHz.
fn jfk_phone() -> Vec<f32> {
    let narrow = enclave::audio::resample(&jfk_16k(), 16_000, 8_000).unwrap();
    enclave::audio::resample(&narrow, 8_000, 16_000).unwrap()
}

fn config() -> AsrConfig {
    AsrConfig {
        model: synthetic("whisper-test.bin"),
        language: "en".into(),
        threads_per_job: 2,
        max_concurrent: 1,
        beam_size: 1,
        best_of: 1,
        temperature_inc: 0.0,
        max_tokens: 24,
        ..AsrConfig::default()
    }
}

fn silero() -> Arc<SileroModel> {
    SileroModel::load(&fixtures().join("vad/silero_vad.onnx"), 1).unwrap()
}

fn all_token_ids(t: &Transcript) -> Vec<i32> {
    t.segments
        .iter()
        .chain(t.dropped.iter().map(|d| &d.segment))
        .flat_map(|s| s.tokens.iter().map(|k| k.id))
        .collect()
}

#[test]
fn synthetic_model_runs_end_to_end_on_phone_band_speech() {
    let cfg = config();
    let engine = AsrEngine::load(&cfg, Some(silero())).unwrap();
    let audio = jfk_phone();
    let opts = engine.default_options();
    let first = engine.transcribe_blocking(&audio, &opts).unwrap();
    let n_vocab = engine.n_vocab();
    assert_eq!(n_vocab, 51865);

    // The VAD trim found the speech, whisper.cpp decoded it into tokens.
    assert!(!first.no_speech);
    let (s, e) = first.speech_range.expect("trimmed to speech");
    assert!(
        s < 1.0 && e > 9.0 && e <= first.audio_seconds + 1e-9,
        "{s}..{e}"
    );
    let ids = all_token_ids(&first);
    assert!(!ids.is_empty(), "decoder produced no tokens: {first:?}");
    assert!(ids.iter().all(|id| (0..n_vocab).contains(id)), "{ids:?}");
    for seg in first
        .segments
        .iter()
        .chain(first.dropped.iter().map(|d| &d.segment))
    {
        assert!(
            seg.start >= s - 1e-6 && seg.end >= seg.start && seg.end <= e + 1e-6,
            "{seg:?}"
        );
        assert!((0.0..=1.0).contains(&seg.no_speech_prob));
        assert!(seg.tokens.iter().all(|t| (0.0..=1.0).contains(&t.p)));
    }
    assert_eq!(first.language, "en");
    assert!((first.audio_seconds - 11.0).abs() < 0.1);

    // Stages are measured and add up.
    let t = &first.timings;
    assert!(t.engine_ms > 0.0 && t.vad_trim_ms > 0.0);
    assert!(t.mel_ms > 0.0 && t.encode_ms > 0.0 && t.decode_ms >= 0.0);
    assert!(
        (t.mel_ms + t.encode_ms + t.decode_ms - t.engine_ms).abs() < 1.0,
        "{t:?}"
    );
    assert!(t.total_ms >= t.engine_ms + t.vad_trim_ms);

    // Greedy at temperature 0 is deterministic: same tokens, on a reused state.
    let second = engine.transcribe_blocking(&audio, &opts).unwrap();
    assert_eq!(all_token_ids(&first), all_token_ids(&second));
}

#[test]
fn language_detection_reports_a_language() {
    let cfg = AsrConfig {
        language: "auto".into(),
        vad_trim: false,
        ..config()
    };
    let engine = AsrEngine::load(&cfg, None).unwrap();
    let tr = engine
        .transcribe_blocking(&jfk_16k(), &engine.default_options())
        .unwrap();
    assert!(tr.language_detected);
    assert!(
        enclave::asr::language_id(&tr.language).is_some(),
        "{}",
        tr.language
    );
    assert!(tr.speech_range.is_none());
}

#[test]
fn silence_and_low_noise_give_no_text() {
    let engine = AsrEngine::load(&config(), Some(silero())).unwrap();
    let opts = engine.default_options();
    let silence = vec![0.0f32; 16_000 * 3];
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let noise: Vec<f32> = (0..16_000 * 3)
        .map(|_| rng.gen_range(-0.005..0.005))
        .collect();
    for (name, audio) in [("silence", &silence), ("noise", &noise)] {
        let tr = engine.transcribe_blocking(audio, &opts).unwrap();
        assert!(tr.no_speech, "{name}: VAD should find no speech");
        assert!(
            tr.text.is_empty() && tr.segments.is_empty(),
            "{name}: {tr:?}"
        );
        assert_eq!(
            tr.timings.engine_ms, 0.0,
            "{name}: whisper.cpp must not run"
        );
    }

    // Without the VAD trim, the probability filters must still keep random-weight output off.
    let no_trim = TranscribeOptions {
        vad_trim: false,
        ..opts.clone()
    };
    let tr = engine.transcribe_blocking(&noise, &no_trim).unwrap();
    assert!(tr.text.is_empty(), "filter let through: {:?}", tr.segments);
    assert!(tr.input_dbfs < -45.0);
}

#[test]
fn concurrent_async_calls_share_one_model() {
    let cfg = AsrConfig {
        max_concurrent: 2,
        threads_per_job: 1,
        vad_trim: false,
        ..config()
    };
    let engine = AsrEngine::load(&cfg, None).unwrap();
    assert_eq!(engine.max_concurrent(), 2);
    let audio: Vec<f32> = jfk_16k()[..16_000 * 4].to_vec();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let results = rt.block_on(async {
        let calls = (0..3).map(|_| {
            let engine = Arc::clone(&engine);
            let audio = audio.clone();
            let opts = engine.default_options();
            tokio::spawn(async move { engine.transcribe(audio, opts).await })
        });
        futures::future::join_all(calls).await
    });
    let ids: Vec<Vec<i32>> = results
        .into_iter()
        .map(|r| all_token_ids(&r.unwrap().unwrap()))
        .collect();
    assert!(!ids[0].is_empty());
    // Each call has its own state: all three agree with each other.
    assert!(ids.iter().all(|i| *i == ids[0]));
}

#[test]
fn bad_inputs_get_clear_errors() {
    let engine = AsrEngine::load(&config(), None).unwrap();
    let mut opts = engine.default_options();
    opts.vad_trim = false;
    let nan = vec![f32::NAN; 16_000];
    let e = engine.transcribe_blocking(&nan, &opts).unwrap_err();
    assert!(e.to_string().contains("NaN"), "{e}");
    opts.language = "xx-nonsense".into();
    let e = engine.transcribe_blocking(&jfk_16k(), &opts).unwrap_err();
    assert!(e.to_string().contains("unknown language"), "{e}");
    let empty = engine
        .transcribe_blocking(&[], &engine.default_options())
        .unwrap();
    assert!(empty.no_speech && empty.text.is_empty());
}

#[test]
fn quantised_q8_0_model_loads_and_runs() {
    let path = synthetic("whisper-test-q8_0.bin");
    let info = enclave::asr::validate_whisper_file(&path).unwrap();
    assert_eq!(info.hparams.ftype % 1000, 7, "ggml_ftype MOSTLY_Q8_0");
    let cfg = AsrConfig {
        model: path,
        vad_trim: false,
        ..config()
    };
    let engine = AsrEngine::load(&cfg, None).unwrap();
    let tr = engine
        .transcribe_blocking(&jfk_16k(), &engine.default_options())
        .unwrap();
    let ids = all_token_ids(&tr);
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|id| (0..engine.n_vocab()).contains(id)));
}

#[test]
fn dynamic_audio_ctx_sizes_the_encoder_to_the_input() {
    use enclave::asr::engine::dynamic_audio_ctx;
    assert_eq!(dynamic_audio_ctx(16_000 * 2, 1500), 150); // 2 s → 100 positions + 50
    assert_eq!(dynamic_audio_ctx(100, 1500), 100); // floor
    assert_eq!(dynamic_audio_ctx(16_000 * 40, 1500), 1500); // ceiling: the model's window
    let cfg = AsrConfig {
        dynamic_audio_ctx: true,
        vad_trim: false,
        ..config()
    };
    let engine = AsrEngine::load(&cfg, None).unwrap();
    let audio = &jfk_16k()[..16_000 * 3];
    let tr = engine
        .transcribe_blocking(audio, &engine.default_options())
        .unwrap();
    let ids = all_token_ids(&tr);
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|id| (0..engine.n_vocab()).contains(id)));
}
