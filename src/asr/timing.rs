//! Hooks inside `whisper_full`, on whisper.cpp's own callbacks: stage marks and cancellation.
//!
//! whisper.cpp keeps per-stage timings in the opaque `whisper_state`, and its public
//! `whisper_get_timings` reads only the context's default state (not the per-call states we
//! use). Its callbacks give the boundaries instead: `encoder_begin` fires after the mel
//! spectrogram (and language detection), the logits filter fires for every decoded token.
//! The same `encoder_begin` (returning false) and the abort callback (checked after every
//! encoder and decoder graph) stop a cancelled decode.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use whisper_rs::{FullParams, WhisperSysContext, WhisperSysState, WhisperTokenData};

/// First times each stage boundary was crossed, and the cancel flag. Set from whisper.cpp's
/// threads.
#[derive(Debug, Default)]
pub(crate) struct StageMarks {
    pub encoder_begin: OnceLock<Instant>,
    pub first_logits: OnceLock<Instant>,
    /// When set, whisper.cpp stops at its next check.
    pub cancel: Arc<AtomicBool>,
}

impl StageMarks {
    /// Marks that stop when `cancel` is set.
    pub fn with_cancel(cancel: Arc<AtomicBool>) -> StageMarks {
        StageMarks {
            cancel,
            ..Default::default()
        }
    }

    fn cancelled(&self) -> bool {
        let c = self.cancel.load(Ordering::Relaxed);
        if c {
            super::log::aborting(true);
        }
        c
    }
}

unsafe extern "C" fn on_encoder_begin(
    _ctx: *mut WhisperSysContext,
    _state: *mut WhisperSysState,
    user_data: *mut c_void,
) -> bool {
    // SAFETY: user_data is the `StageMarks` installed by `install`, alive for the whole call.
    let marks = unsafe { &*(user_data as *const StageMarks) };
    let _ = marks.encoder_begin.set(Instant::now());
    !marks.cancelled()
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

unsafe extern "C" fn on_abort(user_data: *mut c_void) -> bool {
    // SAFETY: as above.
    let marks = unsafe { &*(user_data as *const StageMarks) };
    marks.cancelled()
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
        params.set_abort_callback(Some(on_abort));
        params.set_abort_callback_user_data(data);
    }
}
