//! Fuzz target: the AMI line codec and message parser (what Asterisk's manager interface
//! sends) must never panic and must agree with themselves.
//!
//! ```sh
//! RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz ami_lines -- -runs=1000000
//! ```
//!
//! Checked for every input:
//! - decoding never panics; a line never exceeds `MAX_LINE_BYTES` (longer is an error);
//! - splitting the input at an arbitrary point (byte 0 chooses it) yields the same lines and
//!   the same outcome as one read (split and coalesced TCP reads);
//! - every line parses into a message field (or the message-size error), and a field's key
//!   never holds a `:` or surrounding blanks.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

/// Errors of the AMI parser: the variants `message.rs` uses (it refers to `super::AmiError`,
/// which is this crate's root here).
#[derive(Debug, Clone, thiserror::Error)]
pub enum AmiError {
    #[error("{0}")]
    Protocol(String),
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
}

#[path = "../../../src/ami/message.rs"]
#[allow(dead_code)]
mod message;

use message::{LineCodec, Message, MAX_LINE_BYTES};

fn lines(parts: &[&[u8]]) -> (Vec<String>, bool) {
    let mut codec = LineCodec::default();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for part in parts {
        buf.extend_from_slice(part);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(l)) => out.push(l),
                Ok(None) => break,
                Err(_) => return (out, false),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(l)) => out.push(l),
            Ok(None) => break,
            Err(_) => return (out, false),
        }
    }
    (out, true)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let (all, ok_all) = lines(&[input]);
    let cut = (split as usize * input.len()) / 255;
    let (parts, ok_parts) = lines(&[&input[..cut], &input[cut..]]);
    assert_eq!(ok_all, ok_parts, "split reads must succeed or fail like one read");
    if ok_all {
        assert_eq!(all, parts, "split reads must give the same lines");
    }
    let mut msg = Message::default();
    for line in &all {
        // Replacement characters can make a lossy line up to 3× its bytes.
        assert!(line.len() <= MAX_LINE_BYTES * 3, "line of {} bytes", line.len());
        if line.is_empty() {
            msg = Message::default();
            continue;
        }
        if msg.push_line(line).is_err() {
            msg = Message::default();
            continue;
        }
        let (k, _) = msg.fields().last().unwrap();
        assert!(!k.contains(':') && k.trim() == k, "key {k:?}");
    }
});
