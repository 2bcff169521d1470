//! whisper.cpp's log lines (model loading, buffer sizes, decode failures) through `tracing`
//! instead of raw stderr: errors and warnings at their level, everything else at debug, under
//! the `whisper.cpp` target.
//!
//! `whisper_log_set` also points ggml's logger at this callback; ggml is shared with
//! llama.cpp, whose `llama_log_set` (in `dialog::engine`) does the same for its own callback.
//! Whichever engine loads last owns ggml's lines; both send them to `tracing`.
//!
//! A decode we abort on purpose (cancellation) makes whisper.cpp log "failed to encode" as an
//! error; [`aborting`] marks the thread so those lines go to debug instead.

use std::cell::Cell;
use std::ffi::{c_char, c_void, CStr};
use std::sync::Once;
use whisper_rs::whisper_rs_sys;

static INSTALL: Once = Once::new();

thread_local! {
    /// Set on the thread running `whisper_full` once we asked whisper.cpp to stop.
    static ABORTING: Cell<bool> = const { Cell::new(false) };
}

/// Marks (or clears) the current thread as aborting a decode on purpose.
pub(crate) fn aborting(on: bool) {
    ABORTING.with(|a| a.set(on));
}

/// Installs the callback (once per process; later calls do nothing).
pub fn route_whisper_logs_to_tracing() {
    INSTALL.call_once(|| {
        // SAFETY: a plain C callback without user data; it only reads `text` during the call.
        unsafe { whisper_rs_sys::whisper_log_set(Some(whisper_log), std::ptr::null_mut()) };
    });
}

unsafe extern "C" fn whisper_log(
    level: whisper_rs_sys::ggml_log_level,
    text: *const c_char,
    _user: *mut c_void,
) {
    if text.is_null() {
        return;
    }
    // SAFETY: whisper.cpp passes a NUL-terminated string valid for the call.
    let line = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    let line = line.trim_end();
    if line.is_empty() {
        return;
    }
    let on_purpose = ABORTING.with(|a| a.get());
    match level {
        whisper_rs_sys::ggml_log_level_GGML_LOG_LEVEL_ERROR if !on_purpose => {
            tracing::error!(target: "whisper.cpp", "{line}")
        }
        whisper_rs_sys::ggml_log_level_GGML_LOG_LEVEL_WARN if !on_purpose => {
            tracing::warn!(target: "whisper.cpp", "{line}")
        }
        _ => tracing::debug!(target: "whisper.cpp", "{line}"),
    }
}
