//! AudioSocket over TCP: frame codec, per-call connection, paced playout, the listener and shutdown.
