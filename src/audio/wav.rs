//! WAV files: read any PCM/float WAV as mono `f32`, write 16-bit WAV.
//!
//! Reading accepts integer samples of 8/16/24/32 bits and 32-bit float, any channel count
//! (channels are averaged to mono), and reports what is wrong with a file that is not one.

use std::path::{Path, PathBuf};

/// Why a WAV file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    /// The file could not be opened or parsed.
    #[error("{path}: not a readable WAV file: {message}")]
    Read {
        /// File that failed.
        path: PathBuf,
        /// hound's description.
        message: String,
    },
    /// A format this reader does not handle.
    #[error("{path}: unsupported WAV format: {message}")]
    Unsupported {
        /// File that failed.
        path: PathBuf,
        /// What the format is and what is supported.
        message: String,
    },
    /// The file could not be written.
    #[error("{path}: cannot write WAV file: {message}")]
    Write {
        /// File that failed.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// A decoded clip: mono samples in [-1.0, 1.0) and their rate.
#[derive(Debug, Clone, PartialEq)]
pub struct MonoClip {
    /// Mono samples.
    pub samples: Vec<f32>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
}

impl MonoClip {
    /// Length in seconds.
    pub fn duration_secs(&self) -> f64 {
        if self.sample_rate == 0 {
            0.0
        } else {
            self.samples.len() as f64 / self.sample_rate as f64
        }
    }
}

/// Reads a WAV file as mono `f32` (channels averaged).
pub fn read_mono(path: &Path) -> Result<MonoClip, WavError> {
    let read_err = |e: hound::Error| WavError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let reader = hound::WavReader::open(path).map_err(read_err)?;
    read_mono_from(reader, path)
}

/// Reads WAV bytes held in memory as mono `f32`; `name` is used in errors.
pub fn read_mono_bytes(bytes: &[u8], name: &Path) -> Result<MonoClip, WavError> {
    let reader =
        hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| WavError::Read {
            path: name.to_path_buf(),
            message: e.to_string(),
        })?;
    read_mono_from(reader, name)
}

fn read_mono_from<R: std::io::Read>(
    mut reader: hound::WavReader<R>,
    path: &Path,
) -> Result<MonoClip, WavError> {
    let spec = reader.spec();
    let unsupported = |message: String| WavError::Unsupported {
        path: path.to_path_buf(),
        message,
    };
    if spec.channels == 0 {
        return Err(unsupported("zero channels".into()));
    }
    if spec.sample_rate == 0 {
        return Err(unsupported("sample rate 0".into()));
    }
    let read_err = |e: hound::Error| WavError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(read_err)?,
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f64;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| (v as f64 * scale) as f32))
                .collect::<Result<_, _>>()
                .map_err(read_err)?
        }
        (format, bits) => {
            return Err(unsupported(format!(
                "{bits}-bit {format:?} samples; supported: 8/16/24/32-bit integer PCM, \
                 32-bit float (convert with `sox in.wav -b 16 out.wav`)"
            )))
        }
    };
    let channels = spec.channels as usize;
    let samples = if channels == 1 {
        interleaved
    } else {
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() / channels as f32)
            .collect()
    };
    Ok(MonoClip {
        samples,
        sample_rate: spec.sample_rate,
    })
}

/// Writes 16-bit PCM WAV: `samples` interleaved over `channels` (1 or 2).
pub fn write_i16(
    path: &Path,
    samples: &[i16],
    sample_rate: u32,
    channels: u16,
) -> Result<(), WavError> {
    let write_err = |message: String| WavError::Write {
        path: path.to_path_buf(),
        message,
    };
    if !(1..=2).contains(&channels) {
        return Err(write_err(format!("{channels} channels; 1 or 2 allowed")));
    }
    if !samples.len().is_multiple_of(channels as usize) {
        return Err(write_err(format!(
            "{} samples is not a whole number of {channels}-channel frames",
            samples.len()
        )));
    }
    let spec = hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(|e| write_err(e.to_string()))?;
    for &s in samples {
        writer
            .write_sample(s)
            .map_err(|e| write_err(e.to_string()))?;
    }
    writer.finalize().map_err(|e| write_err(e.to_string()))
}

/// Writes mono `f32` samples as 16-bit PCM WAV (rounded, saturated).
pub fn write_mono_f32(path: &Path, samples: &[f32], sample_rate: u32) -> Result<(), WavError> {
    write_i16(path, &super::pcm::f32_slice_to_i16(samples), sample_rate, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_spec(path: &Path, spec: hound::WavSpec, values: &[f64]) {
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for &v in values {
            match (spec.sample_format, spec.bits_per_sample) {
                (hound::SampleFormat::Float, _) => w.write_sample(v as f32).unwrap(),
                (_, 8) => w.write_sample((v * 127.0) as i8).unwrap(),
                (_, 16) => w.write_sample((v * 32767.0) as i16).unwrap(),
                (_, 24) => w.write_sample((v * 8388607.0) as i32).unwrap(),
                _ => w.write_sample((v * 2147483647.0) as i32).unwrap(),
            }
        }
        w.finalize().unwrap();
    }

    #[test]
    fn reads_every_supported_format_as_mono() {
        let dir = tempfile::tempdir().unwrap();
        let formats = [
            (hound::SampleFormat::Int, 8),
            (hound::SampleFormat::Int, 16),
            (hound::SampleFormat::Int, 24),
            (hound::SampleFormat::Int, 32),
            (hound::SampleFormat::Float, 32),
        ];
        for (format, bits) in formats {
            for channels in [1u16, 2] {
                let path = dir.path().join(format!("{format:?}{bits}_{channels}.wav"));
                let spec = hound::WavSpec {
                    channels,
                    sample_rate: 22050,
                    bits_per_sample: bits,
                    sample_format: format,
                };
                // Stereo: left 0.5, right 0.0 -> mono 0.25.
                let values: Vec<f64> = (0..100)
                    .flat_map(|_| {
                        if channels == 2 {
                            vec![0.5, 0.0]
                        } else {
                            vec![0.25]
                        }
                    })
                    .collect();
                write_spec(&path, spec, &values);
                let clip = read_mono(&path).unwrap();
                assert_eq!(clip.sample_rate, 22050);
                assert_eq!(clip.samples.len(), 100, "{format:?} {bits} {channels}");
                for s in &clip.samples {
                    assert!((s - 0.25).abs() < 0.01, "{format:?} {bits} {channels}: {s}");
                }
            }
        }
    }

    #[test]
    fn garbage_file_gives_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not.wav");
        std::fs::write(&path, b"hello, this is not a wav file").unwrap();
        let err = read_mono(&path).unwrap_err().to_string();
        assert!(
            err.contains("not.wav") && err.contains("not a readable WAV"),
            "{err}"
        );
        let err = read_mono(&dir.path().join("missing.wav"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.wav"), "{err}");
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        let samples: Vec<i16> = (0..1000).map(|i| (i * 30 - 15000) as i16).collect();
        write_i16(&path, &samples, 8000, 1).unwrap();
        let clip = read_mono(&path).unwrap();
        assert_eq!(clip.sample_rate, 8000);
        let back = crate::audio::pcm::f32_slice_to_i16(&clip.samples);
        assert_eq!(back, samples);
        assert!(write_i16(&path, &samples[..3], 8000, 2).is_err());
        assert!(write_i16(&path, &samples, 8000, 3).is_err());
    }
}
