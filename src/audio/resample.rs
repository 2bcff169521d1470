//! Streaming, stateful mono resampling between the fixed rates of telephony, ASR and voices.
//!
//! Built on rubato's synchronous FFT resampler: every rate pair here is a fixed ratio, and the
//! FFT resampler costs a few dozen operations per sample, which matters with a thousand calls
//! on two cores. The resampler's startup delay is trimmed and the tail is flushed, so the
//! output is sample-aligned with the input and exactly `round(len * to / from)` samples long.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

/// Sample rates the resampler accepts (telephony, AudioSocket, ASR, TTS and studio rates).
pub const SUPPORTED_RATES: [u32; 11] = [
    8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 96000, 192000,
];

/// Why a resampler could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    /// A rate outside [`SUPPORTED_RATES`].
    #[error("unsupported sample rate {rate} Hz; supported rates: {SUPPORTED_RATES:?}")]
    UnsupportedRate {
        /// The rate that was asked for.
        rate: u32,
    },
    /// rubato refused the configuration.
    #[error("cannot build resampler {from_hz} Hz -> {to_hz} Hz: {message}")]
    Construction {
        /// Input rate.
        from_hz: u32,
        /// Output rate.
        to_hz: u32,
        /// rubato's message.
        message: String,
    },
    /// rubato failed while processing (a bug: buffer sizes are computed here).
    #[error("resampling failed: {0}")]
    Process(String),
}

/// Checks that `rate` is one of [`SUPPORTED_RATES`].
pub fn check_rate(rate: u32) -> Result<(), ResampleError> {
    if SUPPORTED_RATES.contains(&rate) {
        Ok(())
    } else {
        Err(ResampleError::UnsupportedRate { rate })
    }
}

/// A streaming mono resampler: feed chunks of any length, get continuous output.
///
/// Input is buffered until a full FFT block is available, so consecutive chunks join without
/// clicks. The first `output_delay` samples that rubato produces (silence before the signal)
/// are dropped, so output sample `k` corresponds to input time `k / to_hz`.
pub struct StreamResampler {
    from_hz: u32,
    to_hz: u32,
    inner: Option<Box<Fft<f32>>>,
    /// Input waiting for a full block.
    pending: Vec<f32>,
    /// Output scratch (one block).
    scratch: Vec<f32>,
    /// Output samples still to drop at the start (the resampler delay).
    to_trim: usize,
    /// Input samples taken since the start (or the last flush).
    total_in: u64,
    /// Output samples emitted since the start (or the last flush).
    total_out: u64,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from_hz", &self.from_hz)
            .field("to_hz", &self.to_hz)
            .field("pending", &self.pending.len())
            .field("total_in", &self.total_in)
            .field("total_out", &self.total_out)
            .finish()
    }
}

impl StreamResampler {
    /// A resampler from `from_hz` to `to_hz` (identity when they are equal).
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, ResampleError> {
        check_rate(from_hz)?;
        check_rate(to_hz)?;
        let inner = if from_hz == to_hz {
            None
        } else {
            // Blocks of ~20 ms of input: good anti-aliasing (the cutoff rises with the block
            // size) at 20 ms of buffering plus half a block of filter delay.
            // The filter delay is half a block: keep both block sizes even so the delay is a
            // whole number of samples on both sides and trimming it leaves the output aligned
            // (with an odd 441-sample input block the output is off by half an input sample).
            let gcd = gcd(from_hz, to_hz);
            let (min_in, min_out) = ((from_hz / gcd) as usize, (to_hz / gcd) as usize);
            let mut blocks = ((from_hz / 50) as usize).div_ceil(min_in).max(1);
            if (blocks * min_in) % 2 == 1 || (blocks * min_out) % 2 == 1 {
                blocks += blocks % 2;
            }
            let block = blocks * min_in;
            let fft = Fft::<f32>::new_custom(
                from_hz as usize,
                to_hz as usize,
                block,
                1,
                1,
                WindowFunction::BlackmanHarris2,
                FixedSync::Both,
            )
            .map_err(|e| ResampleError::Construction {
                from_hz,
                to_hz,
                message: e.to_string(),
            })?;
            Some(Box::new(fft))
        };
        let (scratch_len, to_trim) = match &inner {
            Some(r) => (r.output_frames_max(), r.output_delay()),
            None => (0, 0),
        };
        Ok(StreamResampler {
            from_hz,
            to_hz,
            inner,
            pending: Vec::new(),
            scratch: vec![0.0; scratch_len],
            to_trim,
            total_in: 0,
            total_out: 0,
        })
    }

    /// Input rate in Hz.
    pub fn from_hz(&self) -> u32 {
        self.from_hz
    }

    /// Output rate in Hz.
    pub fn to_hz(&self) -> u32 {
        self.to_hz
    }

    /// Input samples consumed per internal block (1 for the identity).
    pub fn block_len(&self) -> usize {
        self.inner.as_ref().map_or(1, |r| r.input_frames_next())
    }

    /// Output samples expected for `input_len` input samples, rounded to nearest.
    pub fn expected_len(&self, input_len: u64) -> u64 {
        (input_len * self.to_hz as u64 + self.from_hz as u64 / 2) / self.from_hz as u64
    }

    /// Resamples `input` and appends whatever output is ready to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.total_in += input.len() as u64;
        if self.inner.is_none() {
            out.extend_from_slice(input);
            self.total_out += input.len() as u64;
            return;
        }
        self.pending.extend_from_slice(input);
        let block = self.block_len();
        let mut start = 0;
        while self.pending.len() - start >= block {
            self.run_block(start, block, out);
            start += block;
        }
        self.pending.drain(..start);
    }

    /// Emits the tail: pads the buffered input with silence so that, in total since the
    /// start (or the last flush), exactly `round(total_in * to / from)` samples came out.
    /// The resampler is then ready for a new, independent stream.
    pub fn flush(&mut self, out: &mut Vec<f32>) {
        let target = self.expected_len(self.total_in);
        if self.inner.is_some() {
            let block = self.block_len();
            let before = out.len();
            while self.total_out < target {
                self.pending.resize(block, 0.0);
                self.run_block(0, block, out);
                self.pending.clear();
            }
            // The last block overshoots by up to a block of padding; drop it.
            let excess = (self.total_out - target) as usize;
            let keep = out.len().saturating_sub(excess).max(before);
            out.truncate(keep);
        }
        self.reset();
    }

    /// Forgets all state: buffered input, filter history, counters.
    pub fn reset(&mut self) {
        if let Some(r) = self.inner.as_mut() {
            r.reset();
            self.to_trim = r.output_delay();
        }
        self.pending.clear();
        self.total_in = 0;
        self.total_out = 0;
    }

    /// Runs one block of `pending[start..start + block]` and appends the trimmed output.
    fn run_block(&mut self, start: usize, block: usize, out: &mut Vec<f32>) {
        let Some(r) = self.inner.as_mut() else {
            return;
        };
        let n_out = r.output_frames_next();
        let input = &self.pending[start..start + block];
        // Sizes come from the resampler itself, so these cannot fail; stay panic-free anyway.
        let produced = match (
            InterleavedSlice::new(input, 1, block),
            InterleavedSlice::new_mut(&mut self.scratch[..n_out], 1, n_out),
        ) {
            (Ok(inp), Ok(mut outp)) => match r.process_into_buffer(&inp, &mut outp, None) {
                Ok((_, produced)) => produced,
                Err(e) => {
                    tracing::error!("resampler: {e}");
                    0
                }
            },
            _ => 0,
        };
        let trim = self.to_trim.min(produced);
        self.to_trim -= trim;
        out.extend_from_slice(&self.scratch[trim..produced]);
        self.total_out += (produced - trim) as u64;
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Resamples a whole clip: delay-compensated, exactly `round(len * to / from)` samples long.
pub fn resample(input: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, ResampleError> {
    let mut r = StreamResampler::new(from_hz, to_hz)?;
    let mut out = Vec::with_capacity(r.expected_len(input.len() as u64) as usize + 1);
    r.process(input, &mut out);
    r.flush(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests;
