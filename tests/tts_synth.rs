//! Synthesis with synthetic Piper voices (real signature and shapes, random weights; made by
//! `scripts/synth_piper.py`): audio length, streaming, cache, speakers, resampling to
//! telephone frames, and clear errors for bad input.

use enclave::tts::{AudioCache, SynthOptions, Tts, TtsError, Voice, VoiceOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn synth_dir() -> PathBuf {
    std::env::var_os("ENCLAVE_SYNTH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/enclave/synthetic")
        })
}

fn voice_path(name: &str) -> PathBuf {
    let p = synth_dir().join(format!("{name}.onnx"));
    assert!(
        p.is_file() && p.with_extension("onnx.json").is_file(),
        "synthetic voice {} is missing: run `bash scripts/synth-models.sh` \
         (or `python3 scripts/synth_piper.py --which tiny`)",
        p.display()
    );
    p
}

fn engine(name: &str, opts: SynthOptions) -> Tts {
    let voice = Voice::load(&voice_path(name), &VoiceOptions::default()).unwrap();
    Tts::new(voice, &opts, None).unwrap()
}

/// Copies a synthetic voice into a temp dir with an edited config, for the bad-input tests.
fn voice_copy(
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = voice_path(name);
    let dst = dir.path().join("voice.onnx");
    std::fs::copy(&src, &dst).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.with_extension("onnx.json")).unwrap())
            .unwrap();
    edit(&mut cfg);
    std::fs::write(dir.path().join("voice.onnx.json"), cfg.to_string()).unwrap();
    (dir, dst)
}

#[test]
fn audio_length_is_plausible_for_the_text_at_the_voice_rate() {
    for (name, text) in [
        (
            "piper-test-en",
            "Hello, thank you for calling. How can I help you today?",
        ),
        (
            "piper-test-ru",
            "Здравствуйте, спасибо за звонок. Чем могу помочь?",
        ),
    ] {
        let tts = engine(name, SynthOptions::default());
        assert_eq!(tts.sample_rate(), 22050);
        let ids: usize = tts
            .sentences(text)
            .unwrap()
            .iter()
            .flat_map(|s| tts.phonemize(s).unwrap())
            .map(|p| p.ids.len())
            .sum();
        let audio = tts.synthesize(text).unwrap();
        let secs = audio.len() as f64 / 22050.0;
        // The synthetic voice gives 1–4 frames of 256 samples per id (a phoneme is two ids).
        let per_id = secs / ids as f64;
        assert!(
            (0.015..=0.05).contains(&per_id),
            "{name}: {per_id} s per id"
        );
        assert!(
            (2.0..=15.0).contains(&secs),
            "{name}: {secs} s for {text:?}"
        );
        assert!(audio.iter().any(|&s| s != 0.0));
        // Peak-normalised like Piper: the loudest sample reaches full scale (and no further).
        let peak = audio.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!((32000.0 / 32768.0..=1.0).contains(&peak), "peak {peak}");
    }
}

#[test]
fn length_scale_slows_speech_down() {
    let text = "Your balance is one hundred dollars.";
    let normal = engine("piper-test-en", SynthOptions::default())
        .synthesize(text)
        .unwrap();
    let slow = engine(
        "piper-test-en",
        SynthOptions {
            length_scale: Some(2.0),
            ..Default::default()
        },
    )
    .synthesize(text)
    .unwrap();
    let ratio = slow.len() as f64 / normal.len() as f64;
    assert!((1.7..=2.3).contains(&ratio), "ratio {ratio}");
}

#[test]
fn stream_yields_one_chunk_per_sentence_in_order() {
    let tts = engine("piper-test-en", SynthOptions::default());
    let text = "First sentence here. Second one follows! And a third?";
    let mut stream = tts.synthesize_stream(text).unwrap();
    assert_eq!(stream.remaining(), 3);
    let first = stream.next().unwrap().unwrap();
    assert_eq!(first.text, "First sentence here.");
    assert_eq!(
        stream.remaining(),
        2,
        "only the first sentence was synthesized"
    );
    let rest: Vec<_> = stream.map(Result::unwrap).collect();
    assert_eq!(rest.len(), 2);
    assert!(rest[1].text.ends_with('?'));
    assert!(first.duration_secs() > 0.3);
}

#[tokio::test]
async fn spawned_stream_delivers_chunks_to_async_code() {
    let tts = engine("piper-test-ru", SynthOptions::default());
    let mut rx = tts.spawn_stream("Раз. Два. Три.", 1).unwrap();
    let mut texts = Vec::new();
    while let Some(chunk) = rx.recv().await {
        texts.push(chunk.unwrap().text);
    }
    assert_eq!(texts, ["Раз.", "Два.", "Три."]);
}

#[test]
fn cache_returns_the_same_audio_for_a_repeated_phrase() {
    let voice = Voice::load(&voice_path("piper-test-en"), &VoiceOptions::default()).unwrap();
    let cache = Arc::new(AudioCache::new(8 << 20));
    let tts = Tts::new(voice, &SynthOptions::default(), Some(cache.clone())).unwrap();
    let a = tts.synthesize_sentence("Please hold the line.").unwrap();
    let b = tts.synthesize_sentence("Please hold the line.").unwrap();
    assert!(!a.cached && b.cached);
    assert!(Arc::ptr_eq(&a.samples, &b.samples));
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (1, 1, 1));
    // Different scales are a different entry.
    let slow = Tts::new(
        tts.voice().clone(),
        &SynthOptions {
            length_scale: Some(1.5),
            ..Default::default()
        },
        Some(cache.clone()),
    )
    .unwrap();
    assert!(
        !slow
            .synthesize_sentence("Please hold the line.")
            .unwrap()
            .cached
    );
}

#[test]
fn cache_evicts_least_recently_used_within_its_byte_budget() {
    use enclave::tts::cache::CacheKey;
    // f32 audio: 4 bytes a sample, so 2000 samples cost 8 kB (plus the text).
    let cache = AudioCache::new(20_000);
    let audio = |n: usize| -> Arc<[f32]> { vec![0.5f32; n].into() };
    let key = |t: &str| CacheKey::new("v", t, [0.667, 1.0, 0.8], None);
    cache.insert(key("a"), audio(2000));
    cache.insert(key("b"), audio(2000));
    assert!(cache.get(&key("a")).is_some()); // a is now more recent than b
    cache.insert(key("c"), audio(2000)); // 24 kB > 20 kB: evicts b
    assert!(cache.get(&key("b")).is_none());
    assert!(cache.get(&key("a")).is_some() && cache.get(&key("c")).is_some());
    assert!(cache.stats().bytes <= 20_000);
    cache.insert(key("huge"), audio(100_000));
    assert!(
        cache.get(&key("huge")).is_none(),
        "larger than the budget: not stored"
    );
}

#[test]
fn voices_load_once_per_process() {
    let a = Voice::load(&voice_path("piper-test-en"), &VoiceOptions::default()).unwrap();
    let b = Voice::load(&voice_path("piper-test-en"), &VoiceOptions::default()).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
}

#[test]
fn multi_speaker_voice_takes_a_speaker_id() {
    let voice = Voice::load(&voice_path("piper-test-multi"), &VoiceOptions::default()).unwrap();
    assert!(voice.is_multi_speaker());
    assert_eq!(voice.speaker_id("speaker_1").unwrap(), 1);
    for speaker in [0, 1] {
        let tts = Tts::new(
            voice.clone(),
            &SynthOptions {
                speaker: Some(speaker),
                ..Default::default()
            },
            None,
        )
        .unwrap();
        assert!(!tts.synthesize("Hello there.").unwrap().is_empty());
    }
    let err = Tts::new(
        voice,
        &SynthOptions {
            speaker: Some(5),
            ..Default::default()
        },
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
}

#[test]
fn resampled_to_8khz_it_cuts_into_exact_320_byte_frames() {
    let tts = engine("piper-test-en", SynthOptions::default());
    let mut rs = enclave::audio::resample::StreamResampler::new(22050, 8000).unwrap();
    let mut out = Vec::new();
    let mut in_len = 0;
    for chunk in tts.synthesize_stream("One. Two. Three.").unwrap() {
        let chunk = chunk.unwrap();
        in_len += chunk.samples.len();
        rs.process(&chunk.samples, &mut out);
    }
    rs.flush(&mut out);
    let want = (in_len as f64 * 8000.0 / 22050.0).round() as i64;
    assert!(
        (out.len() as i64 - want).abs() <= 1,
        "{} vs {want}",
        out.len()
    );
    let pcm = enclave::audio::pcm::f32_slice_to_i16(&out);
    let mut bytes = Vec::new();
    enclave::audio::pcm::i16_to_le_bytes(&pcm, &mut bytes);
    let frames: Vec<&[u8]> = bytes.chunks(320).collect();
    assert!(frames.len() > 10);
    assert!(frames[..frames.len() - 1].iter().all(|f| f.len() == 320));
}

#[test]
fn empty_or_unspeakable_text_is_a_clear_error() {
    let tts = engine("piper-test-en", SynthOptions::default());
    for text in ["", "   ", "😀😀 🎉", "你好世界", "...", "\n\n"] {
        let err = tts.synthesize(text).unwrap_err();
        assert!(matches!(err, TtsError::EmptyText), "{text:?}: {err}");
        assert!(err.to_string().contains("nothing to say"));
    }
    // Mixed text keeps the speakable part.
    assert!(!tts.synthesize("Hello 😀 你好 world").unwrap().is_empty());
}

#[test]
fn ten_thousand_characters_are_chunked_not_rejected() {
    let tts = engine(
        "piper-test-en",
        SynthOptions {
            max_sentence_chars: 300,
            ..Default::default()
        },
    );
    let text = "word ".repeat(2000) + "and 12,345 more.";
    assert!(text.len() > 10_000);
    let sentences = tts.sentences(&text).unwrap();
    assert!(sentences.len() >= 30 && sentences.iter().all(|s| s.chars().count() <= 300));
    let first = tts
        .synthesize_stream(&text)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert!(first.duration_secs() > 1.0);
}

#[test]
fn corrupt_onnx_is_a_clear_error() {
    let (_dir, path) = voice_copy("piper-test-en", |_| {});
    std::fs::write(&path, b"this is not an onnx model").unwrap();
    let err = Voice::load(&path, &VoiceOptions::default()).unwrap_err();
    assert!(matches!(err, TtsError::Model { .. }), "{err}");
    assert!(err.to_string().contains("voice.onnx"), "{err}");
}

#[test]
fn missing_model_or_config_is_a_clear_error() {
    let err = Voice::load(
        Path::new("/nonexistent/voice.onnx"),
        &VoiceOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/voice.onnx"), "{err}");
    let (dir, path) = voice_copy("piper-test-en", |_| {});
    std::fs::remove_file(dir.path().join("voice.onnx.json")).unwrap();
    let err = Voice::load(&path, &VoiceOptions::default()).unwrap_err();
    assert!(err.to_string().contains(".onnx.json"), "{err}");
}

#[test]
fn config_without_espeak_voice_or_with_unknown_one_is_a_clear_error() {
    let (_d, path) = voice_copy("piper-test-en", |c| {
        c.as_object_mut().unwrap().remove("espeak");
    });
    let err = Voice::load(&path, &VoiceOptions::default()).unwrap_err();
    assert!(err.to_string().contains("espeak.voice"), "{err}");
    let (_d, path) = voice_copy("piper-test-en", |c| c["espeak"]["voice"] = "xx-nope".into());
    let err = Voice::load(&path, &VoiceOptions::default()).unwrap_err();
    assert!(err.to_string().contains("xx-nope"), "{err}");
}

#[test]
fn config_and_model_mismatch_is_a_clear_error() {
    // Config says two speakers, the model has no `sid` input.
    let (_d, path) = voice_copy("piper-test-en", |c| c["num_speakers"] = 2.into());
    let err = Voice::load(&path, &VoiceOptions::default()).unwrap_err();
    assert!(matches!(err, TtsError::Mismatch { .. }), "{err}");
    assert!(err.to_string().contains("sid"), "{err}");
    // Ids beyond the model's symbol table.
    let (_d, path) = voice_copy("piper-test-en", |c| c["num_symbols"] = 50.into());
    let err = Voice::load(&path, &VoiceOptions::default()).unwrap_err();
    assert!(err.to_string().contains("num_symbols"), "{err}");
    // Not a Piper config at all.
    let (_d, path) = voice_copy("piper-test-en", |c| *c = serde_json::json!({"hello": 1}));
    let err = Voice::load(&path, &VoiceOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("not a Piper voice config"),
        "{err}"
    );
}

#[test]
fn concurrent_calls_share_one_voice() {
    let voice = Voice::load(
        &voice_path("piper-test-ru"),
        &VoiceOptions {
            sessions: 2,
            intra_threads: 1,
            ..VoiceOptions::default()
        },
    )
    .unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let tts = Tts::new(voice.clone(), &SynthOptions::default(), None).unwrap();
            std::thread::spawn(move || tts.synthesize(&format!("Звонок номер {i}.")).unwrap().len())
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap() > 5000);
    }
}

#[test]
fn engines_come_from_the_config_by_voice_name() {
    let mut config = enclave::config::Config::default();
    config.tts.voices_dir = Some(synth_dir());
    config.tts.voice_ru = "piper-test-ru".into();
    config.tts.length_scale = Some(1.5);
    let name = enclave::tts::setup::voice_for(&config, enclave::tts::Language::Russian).to_string();
    let tts = enclave::tts::setup::engine(&config, &name, None, None).unwrap();
    assert_eq!(tts.voice().language, Some(enclave::tts::Language::Russian));
    assert_eq!(tts.scales()[1], 1.5);
    let err = enclave::tts::setup::engine(&config, "no-such-voice", None, None).unwrap_err();
    assert!(matches!(err, TtsError::VoiceNotFound { .. }), "{err}");
}
