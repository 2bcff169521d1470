//! Choosing espeak-ng's data directory (process-global, so in its own test binary).

use enclave::tts::phonemize::{phonemize, set_data_path, PhonemizeError};
use std::path::Path;

const DEBIAN_DATA: &str = "/usr/lib/x86_64-linux-gnu/espeak-ng-data";

#[test]
fn data_directory_is_checked_and_fixed_for_the_process() {
    let empty = tempfile::tempdir().unwrap();
    let err = set_data_path(Some(empty.path())).unwrap_err();
    assert!(matches!(err, PhonemizeError::BadDataPath(_)), "{err}");

    set_data_path(Some(Path::new(DEBIAN_DATA))).unwrap();
    set_data_path(Some(Path::new(DEBIAN_DATA))).unwrap(); // same again: fine
    let s: String = phonemize("Да.", "ru").unwrap()[0].iter().collect();
    assert_eq!(s, "dˈɑ.");

    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("phontab"), b"").unwrap();
    let err = set_data_path(Some(other.path())).unwrap_err();
    assert!(
        matches!(err, PhonemizeError::DataPathConflict { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(DEBIAN_DATA), "{err}");
}
