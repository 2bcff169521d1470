//! Voice activity detection (Silero through ONNX Runtime, webrtc-vad) and endpointing.
