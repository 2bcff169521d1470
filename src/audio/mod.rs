//! Audio plumbing: PCM conversion, WAV files, streaming resampling between telephone, ASR and voice rates.

pub mod mel;
pub mod pcm;
pub mod resample;
pub mod wav;

pub use resample::{resample, ResampleError, StreamResampler};
