//! Call records: one SQLite row per call and per turn (WAL, off the audio path), optional WAV recordings.
