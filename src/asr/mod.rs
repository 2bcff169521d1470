//! Speech recognition: Whisper (whisper.cpp through whisper-rs), one model per process, a state per call.
