//! Fuzz target: the AudioSocket frame decoder must never panic, and must agree with itself.
//!
//! Run (stable toolchain; cargo-fuzz needs nightly flags, which RUSTC_BOOTSTRAP unlocks):
//!
//! ```sh
//! cargo install cargo-fuzz
//! RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz decode -- -runs=1000000
//! ```
//!
//! from the repository root. Corpus and crash artifacts go to `tests/fuzz/corpus` and
//! `tests/fuzz/artifacts` (git-ignored). Checked for every input:
//! - `decode`/`decode_eof` return a frame, "need more" or a typed error; never panic;
//! - splitting the input at an arbitrary point (byte 0 chooses it) decodes the same frames
//!   as feeding it all at once (split and coalesced TCP reads);
//! - every decoded frame re-encodes to exactly the bytes it was decoded from.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

#[path = "../../../src/transport/frame.rs"]
#[allow(dead_code)]
mod frame;

/// Decodes everything; returns the frames, the bytes each came from, and the final error.
fn decode_all(parts: &[&[u8]]) -> (Vec<frame::Frame>, Option<frame::FrameError>) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for part in parts {
        buf.extend_from_slice(part);
        loop {
            match frame::decode(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    match frame::decode_eof(&mut buf) {
        Ok(Some(f)) => frames.push(f),
        Ok(None) => {}
        Err(e) => return (frames, Some(e)),
    }
    (frames, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let (all, err_all) = decode_all(&[input]);
    let cut = (split as usize * input.len()) / 255;
    let (parts, err_parts) = decode_all(&[&input[..cut], &input[cut..]]);
    assert_eq!(all, parts, "split reads must decode like one read");
    assert_eq!(err_all, err_parts);

    let mut re = BytesMut::new();
    for f in &all {
        assert!(f.payload_len() <= 65535);
        frame::encode(f, &mut re);
    }
    assert_eq!(
        &re[..],
        &input[..re.len()],
        "re-encoding gives back the input"
    );
});
