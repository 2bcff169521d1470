//! Quality measurement shared by the benchmarks and the real-model tests: word error rate, and
//! a canonical form for scoring text → speech → text round trips.

pub mod canonical;
pub mod wer;

pub use canonical::{canonical_wer, canonical_words};
pub use wer::{normalize_for_wer, word_error_rate, WerStats};
