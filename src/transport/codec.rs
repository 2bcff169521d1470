//! [`AudioSocketCodec`]: tokio-util `Decoder`/`Encoder` over the self-contained [`super::frame`] codec.

use super::frame::{decode, decode_eof, encode, Frame, FrameError};
use bytes::BytesMut;

/// Frames an AudioSocket byte stream (for `FramedRead`/`FramedWrite`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AudioSocketCodec;

/// A decoding failure: a malformed frame or the socket's I/O error.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not a valid frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Reading or writing the socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

impl tokio_util::codec::Decoder for AudioSocketCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        Ok(decode(src)?)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        Ok(decode_eof(src)?)
    }
}

impl tokio_util::codec::Encoder<Frame> for AudioSocketCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        encode(&frame, dst);
        Ok(())
    }
}
