//! Per-call WAV recording: stereo 16-bit, caller left, agent right, aligned by media time.
//!
//! The call's tasks hand frames over a bounded queue (never blocking; a full queue drops the
//! frame and counts it) to one blocking thread that owns the file. Each side's frames are
//! placed at `media_time × rate`, so gaps (a silent Local channel sends nothing) become
//! silence and both channels stay aligned. Samples are written once both sides are settled:
//! up to one second behind the side that is furthest ahead; anything arriving for an
//! already-written position is dropped and counted. The header is rewritten every second of
//! audio (a crash leaves a valid file up to then) and finalised on close — also on drop.

use super::RecordsError;
use hound::{SampleFormat, WavSpec, WavWriter};
use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Frames queued per recorder before new ones are dropped (500 = 5 s of 20 ms frames per side).
const QUEUE_FRAMES: usize = 1000;
/// How far (s) the leading side may run ahead before the lagging one is written as silence.
const SETTLE_SECONDS: u64 = 1;
/// A frame this far (s) ahead of what is written is a clock bug, not audio: dropped.
const MAX_JUMP_SECONDS: u64 = 600;

/// File of the recording of call `uuid` in `dir`.
pub fn recording_path(dir: &Path, uuid: &str) -> PathBuf {
    dir.join(format!("{uuid}.wav"))
}

/// Which side of the call a frame comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Caller,
    Agent,
}

enum RecCommand {
    Audio {
        side: Side,
        at: Duration,
        samples: Vec<i16>,
    },
}

/// What a finished recording holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingStats {
    /// The WAV file.
    pub path: PathBuf,
    /// Stereo sample frames written.
    pub frames: u64,
    /// Samples dropped because they arrived for an already written position.
    pub late_samples: u64,
    /// Frames dropped because the queue was full or the time jumped absurdly.
    pub dropped_frames: u64,
}

/// Records one call to a stereo WAV; see the module docs.
#[derive(Debug)]
pub struct CallRecorder {
    tx: Option<mpsc::Sender<RecCommand>>,
    done: Option<oneshot::Receiver<Result<RecordingStats, RecordsError>>>,
    dropped: Arc<AtomicU64>,
    path: PathBuf,
}

impl CallRecorder {
    /// Creates `<dir>/<uuid>.wav` (and `dir`) and starts the writing thread.
    /// `sample_rate` is 8000 or 16000; every frame given must be mono PCM at that rate.
    pub fn create(dir: &Path, uuid: &str, sample_rate: u32) -> Result<CallRecorder, RecordsError> {
        if !matches!(sample_rate, 8000 | 16000) {
            return Err(RecordsError::Recording(format!(
                "sample rate {sample_rate} Hz is not supported for recordings; use 8000 or 16000"
            )));
        }
        if uuid.is_empty() || uuid.contains(['/', '\\', '.']) {
            return Err(RecordsError::Recording(format!(
                "`{uuid}` is not a call uuid usable as a file name"
            )));
        }
        std::fs::create_dir_all(dir).map_err(|source| RecordsError::Io {
            what: format!("cannot create the recordings directory {}", dir.display()),
            source,
        })?;
        let path = recording_path(dir, uuid);
        let spec = WavSpec {
            channels: 2,
            sample_rate,
            bits_per_sample: 16,
            sample_format: SampleFormat::Int,
        };
        let wav = WavWriter::create(&path, spec).map_err(|e| {
            RecordsError::Recording(format!("cannot create {}: {e}", path.display()))
        })?;
        let (tx, rx) = mpsc::channel(QUEUE_FRAMES);
        let (done_tx, done) = oneshot::channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let thread_dropped = Arc::clone(&dropped);
        let thread_path = path.clone();
        std::thread::Builder::new()
            .name("enclave-recorder".into())
            .spawn(move || {
                let r = write_loop(wav, rx, sample_rate, thread_path, &thread_dropped);
                if let Err(e) = &r {
                    tracing::error!(error = %e, "call recording failed");
                }
                let _ = done_tx.send(r);
            })
            .map_err(|source| RecordsError::Io {
                what: "cannot start the recording thread".into(),
                source,
            })?;
        Ok(CallRecorder {
            tx: Some(tx),
            done: Some(done),
            dropped,
            path,
        })
    }

    /// The WAV file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Caller audio (left channel) that started at `media_time` since the call began.
    pub fn caller(&self, media_time: Duration, samples: &[i16]) {
        self.push(Side::Caller, media_time, samples);
    }

    /// Agent audio (right channel) that started at `media_time` since the call began.
    pub fn agent(&self, media_time: Duration, samples: &[i16]) {
        self.push(Side::Agent, media_time, samples);
    }

    fn push(&self, side: Side, at: Duration, samples: &[i16]) {
        let Some(tx) = &self.tx else { return };
        let cmd = RecCommand::Audio {
            side,
            at,
            samples: samples.to_vec(),
        };
        if tx.try_send(cmd).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes what is queued, finalises the header and reports what was written.
    pub async fn close(mut self) -> Result<RecordingStats, RecordsError> {
        self.tx = None;
        match self.done.take() {
            Some(done) => done
                .await
                .map_err(|_| RecordsError::Recording("recording thread died".into()))?,
            None => Err(RecordsError::Closed),
        }
    }
}

impl Drop for CallRecorder {
    fn drop(&mut self) {
        // Dropping the sender ends the thread's queue; it then writes the rest and finalises.
        self.tx = None;
    }
}

/// Samples of one side not yet written; `buf[k]` is the sample at `written + k`.
#[derive(Default)]
struct Pending {
    buf: VecDeque<i16>,
}

fn write_loop(
    mut wav: WavWriter<BufWriter<File>>,
    mut rx: mpsc::Receiver<RecCommand>,
    rate: u32,
    path: PathBuf,
    dropped: &AtomicU64,
) -> Result<RecordingStats, RecordsError> {
    let err = |e: hound::Error| RecordsError::Recording(format!("writing {}: {e}", path.display()));
    let settle = SETTLE_SECONDS * u64::from(rate);
    let max_jump = MAX_JUMP_SECONDS * u64::from(rate);
    let mut written: u64 = 0;
    let mut late: u64 = 0;
    let mut since_header: u64 = 0;
    let mut sides = [Pending::default(), Pending::default()];
    while let Some(RecCommand::Audio { side, at, samples }) = rx.blocking_recv() {
        let pos = (at.as_nanos() * u128::from(rate) / 1_000_000_000) as u64;
        let end = pos + samples.len() as u64;
        if end <= written {
            late += samples.len() as u64;
            continue;
        }
        if pos > written + max_jump {
            dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let skip = written.saturating_sub(pos) as usize;
        late += skip as u64;
        let offset = pos.saturating_sub(written) as usize;
        let pending = &mut sides[side as usize].buf;
        let needed = offset + samples.len() - skip;
        if pending.len() < needed {
            pending.resize(needed, 0);
        }
        for (k, s) in samples[skip..].iter().enumerate() {
            pending[offset + k] = *s;
        }
        let horizon = sides.iter().map(|p| p.buf.len() as u64).max().unwrap_or(0);
        if horizon > settle {
            let n = horizon - settle;
            write_frames(&mut wav, &mut sides, n).map_err(err)?;
            written += n;
            since_header += n;
            if since_header >= u64::from(rate) {
                wav.flush().map_err(err)?;
                since_header = 0;
            }
        }
    }
    let rest = sides.iter().map(|p| p.buf.len() as u64).max().unwrap_or(0);
    write_frames(&mut wav, &mut sides, rest).map_err(err)?;
    written += rest;
    wav.finalize().map_err(err)?;
    Ok(RecordingStats {
        path,
        frames: written,
        late_samples: late,
        dropped_frames: dropped.load(Ordering::Relaxed),
    })
}

/// Writes `n` stereo frames from the front of both sides (silence where a side has none).
fn write_frames(
    wav: &mut WavWriter<BufWriter<File>>,
    sides: &mut [Pending; 2],
    n: u64,
) -> Result<(), hound::Error> {
    let mut w = wav.get_i16_writer((n * 2) as u32);
    for _ in 0..n {
        w.write_sample(sides[Side::Caller as usize].buf.pop_front().unwrap_or(0));
        w.write_sample(sides[Side::Agent as usize].buf.pop_front().unwrap_or(0));
    }
    w.flush()
}
