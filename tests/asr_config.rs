//! `[asr]` and `[vad]` sections: defaults, the example file, validation errors that name the key.

use enclave::config::Config;
use std::path::Path;

fn load(text: &str) -> Result<Config, String> {
    Config::from_toml_str("test.toml", text, Vec::<(String, String)>::new())
        .map_err(|e| e.to_string())
}

#[test]
fn defaults_and_example_file_are_valid() {
    let cfg = load("").unwrap();
    assert_eq!(cfg.asr.language, "auto");
    assert!(cfg.asr.effective_threads_per_job() >= 1);
    assert!(cfg.asr.effective_max_concurrent() >= 1);
    assert_eq!(cfg.vad.trailing_silence_ms, 500);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("agent.example.toml");
    let cfg = Config::load_with_env(Some(&example), Vec::<(String, String)>::new()).unwrap();
    assert_eq!(
        cfg.asr,
        Config::default().asr,
        "example [asr] documents the defaults"
    );
    assert_eq!(
        cfg.vad,
        Config::default().vad,
        "example [vad] documents the defaults"
    );
}

#[test]
fn model_paths_resolve_against_the_models_dir() {
    let cfg = load("[models]\ndir = \"/srv/models\"\n[asr]\nmodel = \"whisper/x.bin\"\n").unwrap();
    assert_eq!(
        cfg.asr.model_path(&cfg.models.dir),
        Path::new("/srv/models/whisper/x.bin")
    );
    let abs = load("[asr]\nmodel = \"/opt/w.bin\"\n").unwrap();
    assert_eq!(
        abs.asr.model_path(Path::new("/srv")),
        Path::new("/opt/w.bin")
    );
    assert_eq!(
        cfg.vad.silero_model_path(&cfg.models.dir),
        Path::new("/srv/models/vad/silero_vad-v6.2.onnx")
    );
}

#[test]
fn bad_values_name_the_key() {
    for (text, key) in [
        ("[asr]\nlanguage = \"klingon\"\n", "asr.language"),
        ("[asr]\nbeam_size = 0\n", "asr.beam_size"),
        (
            "[asr]\nno_speech_threshold = 1.5\n",
            "asr.no_speech_threshold",
        ),
        ("[asr]\ndrop_avg_logprob = 0.5\n", "asr.drop_avg_logprob"),
        ("[asr]\nmax_tokens = 1000\n", "asr.max_tokens"),
        ("[vad]\nneg_threshold = 0.9\n", "vad.neg_threshold"),
        ("[vad]\nwebrtc_mode = 4\n", "vad.webrtc_mode"),
        ("[vad]\nmax_utterance_ms = 100\n", "vad.max_utterance_ms"),
        ("[vad]\nbackend = \"magic\"\n", "vad.backend"),
        ("[asr]\nbeam = 3\n", "asr"),
    ] {
        let err = load(text).unwrap_err();
        assert!(
            err.contains(key) && err.contains("test.toml"),
            "{text}: {err}"
        );
    }
}

#[test]
fn environment_overrides_apply() {
    let env = vec![
        ("ENCLAVE_ASR__LANGUAGE".to_string(), "ru".to_string()),
        ("ENCLAVE_VAD__BACKEND".to_string(), "webrtc".to_string()),
    ];
    let cfg = Config::from_toml_str("test.toml", "", env).unwrap();
    assert_eq!(cfg.asr.language, "ru");
    assert_eq!(cfg.vad.backend, enclave::vad::VadBackend::Webrtc);
}
