//! Audio plumbing: PCM conversion, WAV files, levels, streaming resampling between telephone, ASR and voice rates.

pub mod level;
pub mod mel;
pub mod pcm;
pub mod resample;
pub mod wav;

pub use resample::{resample, ResampleError, StreamResampler};
