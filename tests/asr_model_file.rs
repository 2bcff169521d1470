//! The Rust pre-validation of whisper ggml files: good files pass, bad ones get clear errors
//! before whisper.cpp sees them (no crash, no abort).

mod speech_support;

use enclave::asr::{validate_whisper_file, AsrEngine, AsrError, ModelFileError};
use enclave::config::AsrConfig;
use speech_support::{fixtures, synthetic};

#[test]
fn synthetic_models_validate_with_real_shapes() {
    let test = validate_whisper_file(&synthetic("whisper-test.bin")).unwrap();
    assert_eq!(test.hparams.n_vocab, 51865);
    assert_eq!(
        (test.hparams.n_audio_layer, test.hparams.n_text_layer),
        (2, 3)
    );
    assert_eq!(test.n_tensors, 11 + 15 * 2 + 24 * 3);
    let tiny = validate_whisper_file(&synthetic("whisper-tiny.bin")).unwrap();
    assert_eq!(tiny.size_name, "tiny");
    assert_eq!(
        (tiny.hparams.n_audio_state, tiny.hparams.n_audio_head),
        (384, 6)
    );
    assert_eq!(tiny.n_tensors, 11 + 15 * 4 + 24 * 4);
    let base = validate_whisper_file(&synthetic("whisper-base.bin")).unwrap();
    assert_eq!(base.size_name, "base");
    assert_eq!(
        (base.hparams.n_text_state, base.hparams.n_text_layer),
        (512, 6)
    );
    // The real ggml-base.bin is 147,951,465 bytes; ours differs only by the vocabulary bytes.
    assert!(base.weight_bytes > 140_000_000);
}

#[test]
fn weightless_test_file_is_rejected_clearly() {
    let path = fixtures().join("whisper/for-tests-ggml-tiny.bin");
    let err = validate_whisper_file(&path).unwrap_err();
    assert!(matches!(err, ModelFileError::NoWeights { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("has no weights") && msg.contains("for-tests-ggml-tiny.bin"),
        "{msg}"
    );
    // Through the engine (which must never hand it to whisper.cpp).
    let e = AsrEngine::load_path(&path, &AsrConfig::default(), None).unwrap_err();
    assert!(
        matches!(e, AsrError::ModelFile(ModelFileError::NoWeights { .. })),
        "{e}"
    );
}

#[test]
fn truncated_files_are_rejected_at_every_cut() {
    let good = std::fs::read(synthetic("whisper-test.bin")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let header_end = 48 + 8 + 80 * 201 * 4; // magic + hparams + mel header + filters
    for cut in [2, 30, 100, header_end + 10, good.len() / 3, good.len() - 1] {
        let path = dir.path().join(format!("cut-{cut}.bin"));
        std::fs::write(&path, &good[..cut]).unwrap();
        let err = validate_whisper_file(&path).unwrap_err();
        assert!(
            matches!(err, ModelFileError::Truncated { .. }),
            "cut at {cut}: {err}"
        );
        assert!(err.to_string().contains("truncated"), "{err}");
        let e = AsrEngine::load_path(&path, &AsrConfig::default(), None).unwrap_err();
        assert!(matches!(e, AsrError::ModelFile(_)), "{e}");
    }
}

#[test]
fn garbage_and_missing_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let wav = fixtures().join("audio/jfk.wav");
    assert!(matches!(
        validate_whisper_file(&wav).unwrap_err(),
        ModelFileError::BadMagic { .. }
    ));
    let missing = validate_whisper_file(&dir.path().join("nope.bin")).unwrap_err();
    assert!(matches!(missing, ModelFileError::Io { .. }), "{missing}");

    // A corrupted tensor header (wrong dimension) in an otherwise complete file.
    let mut bytes = std::fs::read(synthetic("whisper-test.bin")).unwrap();
    let name = b"encoder.positional_embedding";
    let at = bytes.windows(name.len()).position(|w| w == name).unwrap();
    // Header: n_dims, name_len, type, ne0, ne1, then the name: ne1 sits just before it.
    bytes[at - 4..at].copy_from_slice(&1499i32.to_le_bytes());
    let path = dir.path().join("bad-shape.bin");
    std::fs::write(&path, &bytes).unwrap();
    let err = validate_whisper_file(&path).unwrap_err();
    assert!(matches!(err, ModelFileError::Invalid { .. }), "{err}");
    assert!(
        err.to_string().contains("encoder.positional_embedding"),
        "{err}"
    );

    // Trailing junk after the last tensor.
    let mut bytes = std::fs::read(synthetic("whisper-test.bin")).unwrap();
    bytes.extend_from_slice(&[0u8; 7]);
    let path = dir.path().join("trailing.bin");
    std::fs::write(&path, &bytes).unwrap();
    assert!(validate_whisper_file(&path).is_err());
}
