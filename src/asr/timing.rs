//! Stage marks inside `whisper_full`, taken from whisper.cpp's own callbacks.
//!
//! whisper.cpp keeps per-stage timings in the opaque `whisper_state`, and its public
//! `whisper_get_timings` reads only the context's default state (not the per-call states we
//! use). Its callbacks give the boundaries instead: `encoder_begin` fires after the mel
//! spectrogram (and language detection), the logits filter fires for every decoded token.

use std::ffi::c_void;
use std::sync::OnceLock;
use std::time::Instant;
use whisper_rs::{FullParams, WhisperSysContext, WhisperSysState, WhisperTokenData};

/// First times each stage boundary was crossed. Set from whisper.cpp's threads.
#[derive(Debug, Default)]
pub(crate) struct StageMarks {
    pub encoder_begin: OnceLock<Instant>,
    pub first_logits: OnceLock<Instant>,
}

unsafe extern "C" fn on_encoder_begin(
    _ctx: *mut WhisperSysContext,
    _state: *mut WhisperSysState,
    user_data: *mut c_void,
) -> bool {
    // SAFETY: user_data is the `StageMarks` installed by `install`, alive for the whole call.
    let marks = unsafe { &*(user_data as *const StageMarks) };
    let _ = marks.encoder_begin.set(Instant::now());
    true
}

unsafe extern "C" fn on_logits(
    _ctx: *mut WhisperSysContext,
    _state: *mut WhisperSysState,
    _tokens: *const WhisperTokenData,
    _n_tokens: std::os::raw::c_int,
    _logits: *mut f32,
    user_data: *mut c_void,
) {
    // SAFETY: as above; `OnceLock` makes concurrent calls from decoder threads safe.
    let marks = unsafe { &*(user_data as *const StageMarks) };
    let _ = marks.first_logits.set(Instant::now());
}

/// Points `params`' callbacks at `marks`. The caller keeps `marks` alive (and unmoved) until
/// `full` returns.
pub(crate) fn install(params: &mut FullParams<'_, '_>, marks: &StageMarks) {
    let data = marks as *const StageMarks as *mut c_void;
    // SAFETY: the callbacks only read `data` as `&StageMarks`, which outlives the call.
    unsafe {
        params.set_start_encoder_callback(Some(on_encoder_begin));
        params.set_start_encoder_callback_user_data(data);
        params.set_filter_logits_callback(Some(on_logits));
        params.set_filter_logits_callback_user_data(data);
    }
}
