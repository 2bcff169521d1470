//! AudioSocket frame codec: `kind: u8 · length: u16 BE · payload`.
//!
//! Self-contained on purpose (std, `bytes`, `thiserror` only): the fuzz crate in
//! `tests/fuzz` includes this file by path without compiling the rest of the agent.
//!
//! The decoder parses by the length field, so frames split across or coalesced within TCP
//! reads decode the same. It validates each header as soon as its 3 bytes are in, so garbage
//! is rejected before its payload is awaited, and it never panics.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Length of a frame header: kind (1) + big-endian payload length (2).
pub const HEADER_LEN: usize = 3;

/// Kind byte of the hangup frame.
pub const KIND_HANGUP: u8 = 0x00;
/// Kind byte of the uuid frame.
pub const KIND_UUID: u8 = 0x01;
/// Kind byte of the DTMF frame.
pub const KIND_DTMF: u8 = 0x03;
/// Kind byte of the error frame.
pub const KIND_ERROR: u8 = 0xff;

/// Longest audio payload accepted: 200 ms at the frame's rate (10 × a normal 20 ms frame),
/// capped at the largest even length a u16 holds.
const MAX_AUDIO_MS: u64 = 200;

/// Sample rate of a signed-linear audio frame, in the order of Asterisk's source
/// (`0x10`..=`0x18`): 8, 12, 16, 24, 32, 44.1, 48, 96, 192 kHz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AudioRate {
    /// 0x10: 8 kHz (the dialplan application's rate).
    Hz8000,
    /// 0x11: 12 kHz.
    Hz12000,
    /// 0x12: 16 kHz (`c(slin16)`).
    Hz16000,
    /// 0x13: 24 kHz.
    Hz24000,
    /// 0x14: 32 kHz.
    Hz32000,
    /// 0x15: 44.1 kHz.
    Hz44100,
    /// 0x16: 48 kHz.
    Hz48000,
    /// 0x17: 96 kHz.
    Hz96000,
    /// 0x18: 192 kHz.
    Hz192000,
}

const RATES: [(AudioRate, u8, u32); 9] = [
    (AudioRate::Hz8000, 0x10, 8000),
    (AudioRate::Hz12000, 0x11, 12000),
    (AudioRate::Hz16000, 0x12, 16000),
    (AudioRate::Hz24000, 0x13, 24000),
    (AudioRate::Hz32000, 0x14, 32000),
    (AudioRate::Hz44100, 0x15, 44100),
    (AudioRate::Hz48000, 0x16, 48000),
    (AudioRate::Hz96000, 0x17, 96000),
    (AudioRate::Hz192000, 0x18, 192000),
];

impl AudioRate {
    /// Every rate, in kind order.
    pub const ALL: [AudioRate; 9] = [
        AudioRate::Hz8000,
        AudioRate::Hz12000,
        AudioRate::Hz16000,
        AudioRate::Hz24000,
        AudioRate::Hz32000,
        AudioRate::Hz44100,
        AudioRate::Hz48000,
        AudioRate::Hz96000,
        AudioRate::Hz192000,
    ];

    /// The rate of an audio kind byte, or `None` if the kind is not audio.
    pub fn from_kind(kind: u8) -> Option<AudioRate> {
        RATES.iter().find(|r| r.1 == kind).map(|r| r.0)
    }

    /// The rate for a sample rate in Hz, or `None` if AudioSocket has no kind for it.
    pub fn from_hz(hz: u32) -> Option<AudioRate> {
        RATES.iter().find(|r| r.2 == hz).map(|r| r.0)
    }

    /// The kind byte (0x10..=0x18).
    pub fn kind(self) -> u8 {
        RATES[self as usize].1
    }

    /// Samples per second.
    pub fn hz(self) -> u32 {
        RATES[self as usize].2
    }

    /// Samples in a 20 ms frame (8 kHz: 160). Every rate here is a multiple of 50 Hz.
    pub fn samples_per_20ms(self) -> usize {
        (self.hz() / 50) as usize
    }

    /// Payload bytes of a 20 ms frame (8 kHz: 320).
    pub fn bytes_per_20ms(self) -> usize {
        self.samples_per_20ms() * 2
    }

    /// Longest payload accepted for this rate (200 ms, at most 65534 bytes).
    pub fn max_payload(self) -> usize {
        let bytes = self.hz() as u64 * 2 * MAX_AUDIO_MS / 1000;
        bytes.min(65534) as usize
    }
}

/// One AudioSocket frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `00 00 00`: the agent ends the call.
    Hangup,
    /// The call's uuid, always the first frame from Asterisk.
    Uuid([u8; 16]),
    /// A DTMF digit (one ASCII byte, sent at the end of the digit).
    Dtmf(u8),
    /// Signed 16-bit little-endian mono PCM at `rate`; the payload is never empty or odd.
    Audio {
        /// Sample rate given by the kind byte.
        rate: AudioRate,
        /// Raw PCM bytes.
        payload: Bytes,
    },
    /// An error frame (Asterisk may send one; the payload is optional and opaque).
    Error(Bytes),
}

impl Frame {
    /// The kind byte of this frame.
    pub fn kind(&self) -> u8 {
        match self {
            Frame::Hangup => KIND_HANGUP,
            Frame::Uuid(_) => KIND_UUID,
            Frame::Dtmf(_) => KIND_DTMF,
            Frame::Audio { rate, .. } => rate.kind(),
            Frame::Error(_) => KIND_ERROR,
        }
    }

    /// Payload length in bytes.
    pub fn payload_len(&self) -> usize {
        match self {
            Frame::Hangup => 0,
            Frame::Uuid(_) => 16,
            Frame::Dtmf(_) => 1,
            Frame::Audio { payload, .. } | Frame::Error(payload) => payload.len(),
        }
    }

    /// Length of the whole frame on the wire.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }
}

/// A malformed frame. Each names the offending kind and what was allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The kind byte is not one AudioSocket defines.
    #[error("unknown frame kind 0x{kind:02x} (length {len})")]
    UnknownKind {
        /// The kind byte.
        kind: u8,
        /// The length field that came with it.
        len: usize,
    },
    /// The length field exceeds what this kind allows.
    #[error("frame kind 0x{kind:02x}: length {len} exceeds the limit of {max} bytes")]
    TooLong {
        /// The kind byte.
        kind: u8,
        /// The length field.
        len: usize,
        /// Largest length allowed for this kind.
        max: usize,
    },
    /// A uuid frame whose payload is not 16 bytes.
    #[error("uuid frame with {len} bytes of payload; a uuid is exactly 16 bytes")]
    BadUuidLength {
        /// The length field.
        len: usize,
    },
    /// A DTMF frame whose payload is not one byte.
    #[error("DTMF frame with {len} bytes of payload; a digit is exactly 1 byte")]
    BadDtmfLength {
        /// The length field.
        len: usize,
    },
    /// An audio frame with an odd number of bytes (16-bit samples come in pairs).
    #[error(
        "audio frame kind 0x{kind:02x} with odd length {len}; 16-bit PCM needs an even length"
    )]
    OddAudioLength {
        /// The kind byte.
        kind: u8,
        /// The length field.
        len: usize,
    },
    /// An audio frame with no payload (Asterisk rejects these too).
    #[error("audio frame kind 0x{kind:02x} with zero length")]
    EmptyAudio {
        /// The kind byte.
        kind: u8,
    },
    /// The stream ended in the middle of a frame.
    #[error("connection closed in the middle of a frame: {available} of {needed} bytes received")]
    Truncated {
        /// Bytes the frame needs (header + payload, or the header alone if incomplete).
        needed: usize,
        /// Bytes that had arrived.
        available: usize,
    },
    /// The first frame of a call was not a uuid frame.
    #[error("first frame must be the uuid (kind 0x01), got kind 0x{kind:02x}")]
    ExpectedUuid {
        /// Kind of the frame that came instead.
        kind: u8,
    },
}

/// Checks a header before its payload arrives; returns the payload length.
pub fn check_header(kind: u8, len: usize) -> Result<(), FrameError> {
    match kind {
        KIND_HANGUP if len > 0 => Err(FrameError::TooLong { kind, len, max: 0 }),
        KIND_HANGUP => Ok(()),
        KIND_UUID if len != 16 => Err(FrameError::BadUuidLength { len }),
        KIND_UUID => Ok(()),
        KIND_DTMF if len != 1 => Err(FrameError::BadDtmfLength { len }),
        KIND_DTMF => Ok(()),
        KIND_ERROR => Ok(()),
        _ => match AudioRate::from_kind(kind) {
            None => Err(FrameError::UnknownKind { kind, len }),
            Some(_) if len == 0 => Err(FrameError::EmptyAudio { kind }),
            Some(_) if len % 2 == 1 => Err(FrameError::OddAudioLength { kind, len }),
            Some(rate) if len > rate.max_payload() => Err(FrameError::TooLong {
                kind,
                len,
                max: rate.max_payload(),
            }),
            Some(_) => Ok(()),
        },
    }
}

/// Decodes one frame from the front of `buf`, consuming it.
///
/// `Ok(None)`: more bytes are needed (nothing consumed). `Err`: the stream is garbage from
/// here on (nothing consumed; the connection should be dropped).
pub fn decode(buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let kind = buf[0];
    let len = u16::from_be_bytes([buf[1], buf[2]]) as usize;
    check_header(kind, len)?;
    if buf.len() < HEADER_LEN + len {
        buf.reserve(HEADER_LEN + len - buf.len());
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    let payload = buf.split_to(len).freeze();
    let frame = match kind {
        KIND_HANGUP => Frame::Hangup,
        KIND_UUID => {
            let mut uuid = [0u8; 16];
            uuid.copy_from_slice(&payload);
            Frame::Uuid(uuid)
        }
        KIND_DTMF => Frame::Dtmf(payload[0]),
        KIND_ERROR => Frame::Error(payload),
        _ => match AudioRate::from_kind(kind) {
            Some(rate) => Frame::Audio { rate, payload },
            // Unreachable: check_header rejected unknown kinds. Stay panic-free anyway.
            None => return Err(FrameError::UnknownKind { kind, len }),
        },
    };
    Ok(Some(frame))
}

/// At end of stream: `Ok(None)` if `buf` is empty, else the last frame or why it is cut off.
pub fn decode_eof(buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
    match decode(buf)? {
        Some(frame) => Ok(Some(frame)),
        None if buf.is_empty() => Ok(None),
        None => {
            let needed = if buf.len() < HEADER_LEN {
                HEADER_LEN
            } else {
                HEADER_LEN + u16::from_be_bytes([buf[1], buf[2]]) as usize
            };
            Err(FrameError::Truncated {
                needed,
                available: buf.len(),
            })
        }
    }
}

/// Checks that the first frame of a call is its uuid, and returns the uuid bytes.
pub fn expect_uuid(frame: &Frame) -> Result<[u8; 16], FrameError> {
    match frame {
        Frame::Uuid(uuid) => Ok(*uuid),
        other => Err(FrameError::ExpectedUuid { kind: other.kind() }),
    }
}

/// Appends `frame` to `dst` (header and payload contiguous, so one write sends it).
///
/// Payloads longer than 65535 bytes cannot be represented; they are truncated to 65535
/// (audio to 65534, to stay even). Callers build frames of 20 ms, far below that.
pub fn encode(frame: &Frame, dst: &mut BytesMut) {
    let (kind, payload): (u8, &[u8]) = match frame {
        Frame::Hangup => (KIND_HANGUP, &[]),
        Frame::Uuid(uuid) => (KIND_UUID, uuid),
        Frame::Dtmf(digit) => (KIND_DTMF, std::slice::from_ref(digit)),
        Frame::Audio { rate, payload } => (rate.kind(), &payload[..payload.len().min(65534)]),
        Frame::Error(payload) => (KIND_ERROR, &payload[..payload.len().min(65535)]),
    };
    dst.reserve(HEADER_LEN + payload.len());
    dst.put_u8(kind);
    dst.put_u16(payload.len() as u16);
    dst.put_slice(payload);
}

/// Appends an audio frame built straight from samples (no intermediate payload buffer).
/// At most 32767 samples are written.
pub fn encode_audio(rate: AudioRate, samples: &[i16], dst: &mut BytesMut) {
    let samples = &samples[..samples.len().min(32767)];
    dst.reserve(HEADER_LEN + samples.len() * 2);
    dst.put_u8(rate.kind());
    dst.put_u16((samples.len() * 2) as u16);
    // Resize once and fill in place: this loop vectorises, `put_i16_le` per sample does not.
    let start = dst.len();
    dst.resize(start + samples.len() * 2, 0);
    for (out, s) in dst[start..].chunks_exact_mut(2).zip(samples) {
        out.copy_from_slice(&s.to_le_bytes());
    }
}

/// The three bytes of a hangup frame.
pub const HANGUP_BYTES: [u8; 3] = [KIND_HANGUP, 0, 0];

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
