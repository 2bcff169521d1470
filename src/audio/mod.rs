//! Audio plumbing: PCM conversion, WAV files, streaming resampling between telephone, ASR and voice rates.
