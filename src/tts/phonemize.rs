//! Text → IPA phonemes → Piper phoneme ids, exactly as piper-phonemize does it, on the system
//! espeak-ng (1.51, through `espeakng-sys`).
//!
//! piper-phonemize calls `espeak_TextToPhonemes` (IPA mode) clause by clause. Its espeak fork
//! also returns each clause's terminator; Debian's espeak has no such call, so (like
//! piper-phonemize's original code did) the terminator is read from the input text just before
//! where espeak stopped, skipping spaces. Per clause: drop `(lang)` switch flags, add the
//! terminator back (`.` `?` `!` alone; `,` `:` `;` plus a space), NFD-decompose, split into
//! code points; `.` `?` `!` end a sentence. Ids: `^` `_` then each phoneme's id and `_`, then
//! `$`; phonemes missing from the voice's map are skipped and counted.
//!
//! espeak-ng keeps global state and is not thread-safe: every call goes through one global
//! mutex and sets the voice each time.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Why phonemisation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PhonemizeError {
    /// espeak-ng could not start (data directory missing).
    #[error(
        "espeak-ng could not be initialised (is espeak-ng-data installed? set ESPEAK_DATA_PATH \
         to the directory that contains espeak-ng-data)"
    )]
    Init,
    /// A second, different data directory was asked for after espeak-ng started.
    #[error(
        "espeak-ng already uses data from {current}; it cannot switch to {requested} in the \
         same process (espeak-ng has one global state)"
    )]
    DataPathConflict {
        /// The directory in use (`default` for the system one).
        current: String,
        /// The one asked for.
        requested: String,
    },
    /// The data directory given does not hold espeak-ng data.
    #[error("{0} holds no espeak-ng data (expected phontab in it or in its espeak-ng-data/)")]
    BadDataPath(PathBuf),
    /// The voice's `espeak.voice` is not an espeak-ng voice.
    #[error("espeak-ng has no voice `{0}` (see `espeak-ng --voices`); check `espeak.voice` in the voice's .onnx.json")]
    UnknownVoice(String),
}

/// Piper's special symbols.
pub const PAD: char = '_';
/// Beginning of sentence.
pub const BOS: char = '^';
/// End of sentence.
pub const EOS: char = '$';

/// espeak-ng's global state: `Some(ok)` once initialised.
static ESPEAK: Mutex<Option<bool>> = Mutex::new(None);

/// Data directory espeak-ng starts with (`None`: the system's, or `$ESPEAK_DATA_PATH`).
static DATA_PATH: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Chooses espeak-ng's data directory for this process, before the first phonemisation.
/// Piper's voices were trained on the data that piper-phonemize bundles; pointing this at a
/// copy of it (the `espeak-ng-data` directory or its parent) gives exactly Piper's phonemes,
/// where Debian's 1.51 data differs in a few words (e.g. «двадцать»). Calling it again with the
/// same directory is fine; a different one is an error.
pub fn set_data_path(path: Option<&Path>) -> Result<(), PhonemizeError> {
    if let Some(p) = path {
        if !p.join("phontab").is_file() && !p.join("espeak-ng-data/phontab").is_file() {
            return Err(PhonemizeError::BadDataPath(p.to_path_buf()));
        }
    }
    let wanted = path.map(Path::to_path_buf);
    let current = DATA_PATH.get_or_init(|| wanted.clone());
    if *current != wanted {
        let show = |p: &Option<PathBuf>| {
            p.as_ref()
                .map_or("default".to_string(), |p| p.display().to_string())
        };
        return Err(PhonemizeError::DataPathConflict {
            current: show(current),
            requested: show(&wanted),
        });
    }
    Ok(())
}

/// Phonemes of `text` in espeak voice `voice`, one list of code points per sentence.
pub fn phonemize(text: &str, voice: &str) -> Result<Vec<Vec<char>>, PhonemizeError> {
    let mut guard = ESPEAK.lock().unwrap_or_else(|p| p.into_inner());
    if guard.is_none() {
        let data = DATA_PATH.get_or_init(|| None).as_ref();
        let c_data = data.and_then(|p| CString::new(p.as_os_str().as_encoded_bytes()).ok());
        // Phonemes only, no audio: espeak_Initialize would also call
        // espeak_ng_InitializeOutput, which in espeak-ng 1.51 opens an audio device (pcaudiolib
        // connects to PulseAudio) whatever the output mode, RETRIEVAL included (seen with
        // strace). Path + core initialisation is all espeak_TextToPhonemes needs.
        // SAFETY: called once, under the mutex; a null path means espeak's default data dir
        // (or ESPEAK_DATA_PATH); the error context is freed by espeak (null on success).
        let status = unsafe {
            espeakng_sys::espeak_ng_InitializePath(
                c_data.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            );
            let mut context: espeakng_sys::espeak_ng_ERROR_CONTEXT = std::ptr::null_mut();
            let status = espeakng_sys::espeak_ng_Initialize(&mut context);
            if !context.is_null() {
                espeakng_sys::espeak_ng_ClearErrorContext(&mut context);
            }
            status
        };
        *guard = Some(status == espeakng_sys::espeak_ng_STATUS_ENS_OK);
    }
    if *guard != Some(true) {
        return Err(PhonemizeError::Init);
    }
    let c_voice =
        CString::new(voice).map_err(|_| PhonemizeError::UnknownVoice(voice.to_string()))?;
    // SAFETY: valid C string; under the mutex.
    let rc = unsafe { espeakng_sys::espeak_SetVoiceByName(c_voice.as_ptr()) };
    if rc != espeakng_sys::espeak_ERROR_EE_OK {
        return Err(PhonemizeError::UnknownVoice(voice.to_string()));
    }
    let clean: String = text.chars().filter(|&c| c != '\0').collect();
    let c_text = CString::new(clean.as_str()).expect("NULs removed");
    let base = c_text.as_ptr();
    let nfd = icu_normalizer::DecomposingNormalizerBorrowed::new_nfd();

    let mut sentences: Vec<Vec<char>> = Vec::new();
    let mut current: Option<Vec<char>> = None;
    let mut ptr: *const std::ffi::c_void = base.cast();
    while !ptr.is_null() {
        // SAFETY: `ptr` points into `c_text` (NUL-terminated, alive for the loop); espeak
        // advances it clause by clause and sets it to null at the end.
        let clause = unsafe {
            let out = espeakng_sys::espeak_TextToPhonemes(
                &mut ptr,
                espeakng_sys::espeakCHARS_AUTO as i32,
                espeakng_sys::espeakPHONEMES_IPA as i32,
            );
            if out.is_null() {
                String::new()
            } else {
                CStr::from_ptr(out).to_string_lossy().into_owned()
            }
        };
        // The terminator: espeak stops one character into the next clause (its look-ahead);
        // step back over it and any white space; the character before is the terminator.
        let terminator = if ptr.is_null() {
            clause_terminator(&clean, clean.len(), false)
        } else {
            let pos = (ptr as usize)
                .saturating_sub(base as usize)
                .min(clean.len());
            clause_terminator(&clean, pos, true)
        };
        let sentence = current.get_or_insert_with(Vec::new);
        let mut in_flag = false;
        for c in nfd.normalize(&clause).chars() {
            if in_flag {
                if c == ')' {
                    in_flag = false;
                }
            } else if c == '(' {
                in_flag = true;
            } else {
                sentence.push(c);
            }
        }
        match terminator {
            Some(t @ ('.' | '?' | '!')) => sentence.push(t),
            Some(t @ (',' | ':' | ';')) => {
                sentence.push(t);
                sentence.push(' ');
            }
            _ => {}
        }
        if matches!(terminator, Some('.' | '?' | '!')) {
            sentences.extend(current.take());
        }
    }
    if let Some(s) = current.take() {
        sentences.push(s);
    }
    Ok(sentences)
}

/// The punctuation that ended the clause whose text ends at byte `pos` of `text` (`None` for a
/// clause cut without punctuation). `lookahead`: `pos` is one character past the clause.
/// An ellipsis (`...`) is no terminator, `?!` counts as `?`, as in Piper's espeak fork.
fn clause_terminator(text: &str, pos: usize, lookahead: bool) -> Option<char> {
    let mut head = text.get(..pos)?.chars();
    if lookahead {
        head.next_back();
    }
    let mut rev = head.rev().skip_while(|c| c.is_whitespace()).peekable();
    let last = *rev.peek()?;
    if matches!(last, '–' | '—') {
        return Some(';'); // espeak reads dashes as a semicolon-type clause end
    }
    if !matches!(last, '.' | '?' | '!') {
        return rev.next();
    }
    // A run like `?!` or `!!!` counts as its first mark; a run of dots is an ellipsis.
    let run: Vec<char> = rev.take_while(|c| matches!(c, '.' | '?' | '!')).collect();
    let first = *run.last()?;
    if run.len() > 1 && run.iter().all(|&c| c == '.') {
        return None;
    }
    Some(first)
}

/// A voice's phoneme → ids map (`phoneme_id_map` of its `.onnx.json`).
#[derive(Debug, Clone)]
pub struct PhonemeIdMap {
    map: HashMap<char, Vec<i64>>,
}

impl PhonemeIdMap {
    /// Builds the map from the config's `phoneme_id_map`; keys must be single code points.
    pub fn new(raw: &BTreeMap<String, Vec<i64>>) -> Result<Self, String> {
        let mut map = HashMap::new();
        for (k, v) in raw {
            let mut chars = k.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => {
                    map.insert(c, v.clone());
                }
                _ => return Err(format!("phoneme_id_map key {k:?} is not one code point")),
            }
        }
        for required in [PAD, BOS, EOS] {
            if !map.contains_key(&required) {
                return Err(format!("phoneme_id_map has no `{required}`"));
            }
        }
        Ok(PhonemeIdMap { map })
    }

    /// Ids of one sentence, as piper-phonemize's `phonemes_to_ids` (BOS, interspersed pad,
    /// EOS). Missing phonemes are skipped and counted in `missing`.
    pub fn ids(&self, phonemes: &[char], missing: &mut BTreeMap<char, usize>) -> Vec<i64> {
        let pad = &self.map[&PAD];
        let mut ids = Vec::with_capacity(phonemes.len() * 2 + 3);
        ids.extend_from_slice(&self.map[&BOS]);
        ids.extend_from_slice(pad);
        for p in phonemes {
            match self.map.get(p) {
                Some(v) => {
                    ids.extend_from_slice(v);
                    ids.extend_from_slice(pad);
                }
                None => *missing.entry(*p).or_insert(0) += 1,
            }
        }
        ids.extend_from_slice(&self.map[&EOS]);
        ids
    }

    /// The largest id (must be below the model's number of symbols).
    pub fn max_id(&self) -> i64 {
        self.map.values().flatten().copied().max().unwrap_or(0)
    }
}
