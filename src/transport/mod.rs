//! AudioSocket over TCP: frame codec, per-call connection, paced playout, the listener and shutdown.

pub mod codec;
pub mod connection;
pub mod frame;
pub mod pacer;
pub mod server;
pub mod shutdown;

pub use codec::{AudioSocketCodec, CodecError};
pub use connection::{CallEnd, CallSettings};
pub use frame::{AudioRate, Frame, FrameError};
pub use server::{Server, ServerStats};
