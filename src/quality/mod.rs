//! Quality measurement shared by the benchmarks and the real-model tests: word error rate.

pub mod wer;

pub use wer::{normalize_for_wer, word_error_rate, WerStats};
