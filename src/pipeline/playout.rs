//! [`Playout`]: the handler's handle on a call's outbound audio queue.
//!
//! The handler queues items (`play`), cuts them (`clear`, for barge-in), and asks for a hangup.
//! The call's pacer ([`crate::transport::pacer`]) takes exactly one 20 ms frame from the queue
//! per tick, padding with silence, and reports what went on the wire through a `watch`.

use crate::audio::resample::{check_rate, resample, ResampleError, StreamResampler};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::{watch, Notify};

/// Identifies one queued item on one call (increasing from 1).
pub type PlayId = u64;

/// Finished items kept in [`PlayoutProgress::items`]; older ones are dropped.
const KEEP_FINISHED: usize = 256;

/// A sample whose magnitude exceeds this (about -60 dBFS) makes a frame "audible".
const AUDIBLE_THRESHOLD: f32 = 0.001;

/// Why audio could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum PlayoutError {
    /// The call is over; nothing more will be sent.
    #[error("the call has ended; audio is no longer played")]
    CallEnded,
    /// The item's sample rate cannot be resampled to the call's rate.
    #[error(transparent)]
    Rate(#[from] ResampleError),
    /// Queuing the item would put more than the call's limit of audio in the queue.
    #[error(
        "playback queue full: {queued_secs:.1} s queued + {item_secs:.1} s is over the limit of \
         {max_secs:.0} s (server.playout_max_queued_secs)"
    )]
    QueueFull {
        /// Audio already queued.
        queued_secs: f64,
        /// Length of the refused item.
        item_secs: f64,
        /// The limit.
        max_secs: f64,
    },
}

/// Default of [`Playout::set_max_queued`]: 5 minutes of audio.
pub const DEFAULT_MAX_QUEUED: std::time::Duration = std::time::Duration::from_secs(300);

/// Where an item is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemState {
    /// Waiting behind other items.
    Queued,
    /// Some of it has been sent.
    Playing,
    /// All of it has been sent.
    Done,
    /// Cut by [`Playout::clear`] (or the call ended) before it was all sent.
    Cut,
}

/// What went on the wire for one item.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemProgress {
    /// Rate the item was queued at.
    pub rate_hz: u32,
    /// Length of the item, in its own samples.
    pub total_samples: usize,
    /// How many of its samples have been written to the socket (in its own rate).
    pub sent_samples: usize,
    /// When the first frame carrying any of it was written.
    pub first_frame_at: Option<Instant>,
    /// When the first frame carrying an audible (non-silent) sample of it was written:
    /// what the caller hears as the start of the reply.
    pub first_audible_at: Option<Instant>,
    /// When its last sample was written (or it was cut).
    pub finished_at: Option<Instant>,
    /// Where it is.
    pub state: ItemState,
}

/// Progress of every recent item, observed through [`Playout::progress`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlayoutProgress {
    /// Recent items by id (the latest [`KEEP_FINISHED`] finished ones plus all pending).
    pub items: BTreeMap<PlayId, ItemProgress>,
    /// Frames written so far, silence included (updated without waking observers).
    pub frames_sent: u64,
    /// The hangup frame has been sent or the call is over.
    pub ended: bool,
}

/// An item cut by [`Playout::clear`]: how much of it the caller got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutItem {
    /// The item.
    pub id: PlayId,
    /// Samples (at the item's own rate) that went out before the cut.
    pub sent_samples: usize,
    /// Length of the item.
    pub total_samples: usize,
}

/// What the handler asked for about ending the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HangupRequest {
    /// Keep going.
    None,
    /// Send what is queued, then hang up.
    AfterDrain,
    /// Hang up at once.
    Now,
}

struct QueuedItem {
    id: PlayId,
    source: Vec<f32>,
    source_rate: u32,
    /// `source` at `converted_rate`.
    converted: Vec<f32>,
    converted_rate: u32,
    /// Samples of `converted` already sent.
    pos: usize,
    /// Source samples dropped from `source` when the call's rate changed mid-item.
    source_offset: usize,
}

impl QueuedItem {
    /// Samples of `source` covered by `pos` samples of `converted`.
    fn source_pos(&self) -> usize {
        if self.pos == 0 {
            return 0;
        }
        if self.pos >= self.converted.len() {
            return self.source.len();
        }
        let p = self.pos as u64 * self.source_rate as u64 / self.converted_rate as u64;
        (p as usize).min(self.source.len())
    }

    /// Samples of the item as queued that have been sent.
    fn sent(&self) -> usize {
        self.source_offset + self.source_pos()
    }

    /// Length of the item as queued.
    fn total(&self) -> usize {
        self.source_offset + self.source.len()
    }
}

struct State {
    call_rate: u32,
    next_id: PlayId,
    queue: VecDeque<QueuedItem>,
    hangup: HangupRequest,
    ended: bool,
    /// Most audio the queue may hold.
    max_queued: std::time::Duration,
    /// (write time, peak |sample|) of the latest frames that carried audio: the echo gate's
    /// reference for what can leak back into the caller's channel.
    sent_peaks: VecDeque<(Instant, f32)>,
}

/// Frames kept in the sent-peak log (2.56 s: far longer than any echo path).
const KEEP_SENT_PEAKS: usize = 128;

pub(crate) struct Shared {
    state: Mutex<State>,
    /// Wakes the pacer for `hangup_now`.
    pub(crate) wake: Notify,
    progress: watch::Sender<PlayoutProgress>,
    /// Resamplers kept per rate pair: building one plans its FFTs, too costly per item.
    converters: Mutex<Vec<StreamResampler>>,
}

/// A cloneable handle on a call's outbound audio: queue, cut, hang up, observe.
#[derive(Clone)]
pub struct Playout {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Playout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playout")
            .field("call_rate", &self.call_rate())
            .finish()
    }
}

impl Playout {
    /// A new, empty playout for a call at `call_rate` Hz (8000 until the caller's audio
    /// says otherwise).
    pub fn new(call_rate: u32) -> Playout {
        let (progress, _) = watch::channel(PlayoutProgress::default());
        Playout {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    call_rate,
                    next_id: 1,
                    queue: VecDeque::new(),
                    hangup: HangupRequest::None,
                    ended: false,
                    max_queued: DEFAULT_MAX_QUEUED,
                    sent_peaks: VecDeque::with_capacity(KEEP_SENT_PEAKS),
                }),
                wake: Notify::new(),
                progress,
                converters: Mutex::new(Vec::new()),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue inconsistent in a way that
        // matters more than losing the call; keep going with the data as is.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues mono `samples` at `rate_hz` after everything already queued; they are
    /// resampled to the call's rate. Returns the item's id for progress and `clear`.
    pub fn play(&self, samples: Vec<f32>, rate_hz: u32) -> Result<PlayId, PlayoutError> {
        check_rate(rate_hz)?;
        let call_rate = self.call_rate();
        check_rate(call_rate)?;
        // Resample outside the queue lock: the pacer must never wait for it.
        let converted = self.convert(&samples, rate_hz, call_rate)?;
        let total = samples.len();
        let mut st = self.lock();
        if st.ended || st.hangup != HangupRequest::None {
            return Err(PlayoutError::CallEnded);
        }
        let queued: usize = st.queue.iter().map(|i| i.converted.len() - i.pos).sum();
        let max = (st.max_queued.as_secs_f64() * call_rate as f64) as usize;
        if queued + converted.len() > max {
            drop(st);
            crate::metrics::limits::hit(crate::metrics::limits::Limit::PlayoutQueueFull);
            return Err(PlayoutError::QueueFull {
                queued_secs: queued as f64 / call_rate as f64,
                item_secs: converted.len() as f64 / call_rate as f64,
                max_secs: max as f64 / call_rate as f64,
            });
        }
        let id = st.next_id;
        st.next_id += 1;
        st.queue.push_back(QueuedItem {
            id,
            source: samples,
            source_rate: rate_hz,
            converted,
            converted_rate: call_rate,
            pos: 0,
            source_offset: 0,
        });
        drop(st);
        self.shared.progress.send_modify(|p| {
            p.items.insert(
                id,
                ItemProgress {
                    rate_hz,
                    total_samples: total,
                    sent_samples: 0,
                    first_frame_at: None,
                    first_audible_at: None,
                    finished_at: None,
                    state: ItemState::Queued,
                },
            );
        });
        Ok(id)
    }

    /// `samples` from `from` Hz to `to` Hz, delay-compensated, with a cached resampler.
    fn convert(&self, samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, ResampleError> {
        if from == to {
            return Ok(samples.to_vec());
        }
        let mut cache = self
            .shared
            .converters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let index = match cache
            .iter()
            .position(|r| r.from_hz() == from && r.to_hz() == to)
        {
            Some(i) => i,
            None => {
                cache.push(StreamResampler::new(from, to)?);
                cache.len() - 1
            }
        };
        let r = &mut cache[index];
        let mut out = Vec::with_capacity(r.expected_len(samples.len() as u64) as usize + 1);
        r.process(samples, &mut out);
        r.flush(&mut out);
        Ok(out)
    }

    /// Sets the most audio the queue may hold; a `play` that would exceed it fails with
    /// [`PlayoutError::QueueFull`] (and is counted in `enclave_limit_hits_total`).
    pub fn set_max_queued(&self, max: std::time::Duration) {
        self.lock().max_queued = max;
    }

    /// Barge-in: drops everything queued; speech stops at the next frame. Returns, for each
    /// item that was cut, how many of its samples actually went out.
    pub fn clear(&self) -> Vec<CutItem> {
        let cut: Vec<CutItem> = {
            let mut st = self.lock();
            st.queue
                .drain(..)
                .map(|item| CutItem {
                    id: item.id,
                    sent_samples: item.sent(),
                    total_samples: item.total(),
                })
                .collect()
        };
        if !cut.is_empty() {
            let now = Instant::now();
            self.shared.progress.send_modify(|p| {
                for c in &cut {
                    if let Some(item) = p.items.get_mut(&c.id) {
                        item.sent_samples = c.sent_samples;
                        item.state = ItemState::Cut;
                        item.finished_at = Some(now);
                    }
                }
            });
        }
        cut
    }

    /// Finishes what is queued, then sends `00 00 00` and closes. Later `play`s fail.
    pub fn hangup_after_drain(&self) {
        let mut st = self.lock();
        if st.hangup == HangupRequest::None {
            st.hangup = HangupRequest::AfterDrain;
        }
    }

    /// Sends `00 00 00` and closes at once, cutting whatever is queued.
    pub fn hangup_now(&self) {
        self.lock().hangup = HangupRequest::Now;
        self.shared.wake.notify_one();
    }

    /// Watches what went on the wire: samples sent per item and when each started.
    pub fn progress(&self) -> watch::Receiver<PlayoutProgress> {
        self.shared.progress.subscribe()
    }

    /// The call's rate in Hz (the rate of the caller's audio kind; 8000 by default).
    pub fn call_rate(&self) -> u32 {
        self.lock().call_rate
    }

    /// Samples (at the call rate) still queued.
    pub fn queued_samples(&self) -> usize {
        self.lock()
            .queue
            .iter()
            .map(|i| i.converted.len() - i.pos)
            .sum()
    }

    /// (write time, peak |sample| in [0, 1]) of the frames with agent audio written after
    /// `after` (all kept ones with `None`), oldest first: what the echo gate compares the
    /// caller's audio with.
    pub fn sent_peaks_after(&self, after: Option<Instant>) -> Vec<(Instant, f32)> {
        let st = self.lock();
        st.sent_peaks
            .iter()
            .filter(|(t, _)| after.is_none_or(|a| *t > a))
            .copied()
            .collect()
    }

    /// True once the call is over (nothing more will be sent).
    pub fn is_ended(&self) -> bool {
        self.lock().ended
    }

    // ---- pacer side ----

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Changes the call's rate (the caller's first audio frame tells it).
    pub(crate) fn set_call_rate(&self, hz: u32) {
        self.lock().call_rate = hz;
    }

    /// The pending hangup request.
    pub(crate) fn hangup_request(&self) -> HangupRequest {
        self.lock().hangup
    }

    /// Marks the call over: pending items become `Cut`, further `play`s fail.
    pub(crate) fn mark_ended(&self) {
        let cut = {
            let mut st = self.lock();
            st.ended = true;
            st.queue
                .drain(..)
                .map(|i| (i.id, i.sent()))
                .collect::<Vec<_>>()
        };
        let now = Instant::now();
        self.shared.progress.send_modify(|p| {
            p.ended = true;
            for (id, sent) in cut {
                if let Some(item) = p.items.get_mut(&id) {
                    item.sent_samples = sent.min(item.total_samples);
                    item.state = ItemState::Cut;
                    item.finished_at = Some(now);
                }
            }
        });
    }

    /// Fills `frame` with exactly one 20 ms frame at the call rate (queued audio, then
    /// silence) and records the progress as sent at `now`. Returns the call rate used and
    /// whether any queued audio went into the frame.
    pub(crate) fn take_frame(&self, frame: &mut Vec<i16>, now: Instant) -> (u32, bool) {
        let mut touched: Vec<(PlayId, usize, bool, bool)> = Vec::new();
        let mut peak = 0f32;
        let rate = {
            let mut st = self.lock();
            let rate = st.call_rate;
            let need = (rate / 50) as usize;
            frame.clear();
            while frame.len() < need {
                let Some(item) = st.queue.front_mut() else {
                    break;
                };
                if item.converted_rate != rate {
                    // The call's rate changed while this item waited: convert what is left.
                    let from = item.source_pos();
                    item.converted =
                        resample(&item.source[from..], item.source_rate, rate).unwrap_or_default();
                    // Keep `source_pos` consistent: drop what was sent from the source too.
                    item.source.drain(..from);
                    item.source_offset += from;
                    item.converted_rate = rate;
                    item.pos = 0;
                }
                let take = (need - frame.len()).min(item.converted.len() - item.pos);
                let chunk = &item.converted[item.pos..item.pos + take];
                let chunk_peak = chunk.iter().fold(0f32, |m, s| m.max(s.abs()));
                peak = peak.max(chunk_peak);
                let audible = chunk_peak > AUDIBLE_THRESHOLD;
                frame.extend(chunk.iter().map(|&s| crate::audio::pcm::f32_to_i16(s)));
                item.pos += take;
                let done = item.pos >= item.converted.len();
                touched.push((item.id, item.sent(), audible, done));
                if done {
                    st.queue.pop_front();
                }
            }
            frame.resize(need, 0);
            if !touched.is_empty() {
                if st.sent_peaks.len() == KEEP_SENT_PEAKS {
                    st.sent_peaks.pop_front();
                }
                st.sent_peaks.push_back((now, peak.min(1.0)));
            }
            rate
        };
        let had_audio = !touched.is_empty();
        self.shared.progress.send_if_modified(|p| {
            p.frames_sent += 1;
            for &(id, source_pos, audible, done) in &touched {
                if let Some(item) = p.items.get_mut(&id) {
                    item.sent_samples = source_pos.min(item.total_samples);
                    item.first_frame_at.get_or_insert(now);
                    if audible {
                        item.first_audible_at.get_or_insert(now);
                    }
                    item.state = ItemState::Playing;
                    if done {
                        item.sent_samples = item.total_samples;
                        item.state = ItemState::Done;
                        item.finished_at = Some(now);
                    }
                }
            }
            if had_audio {
                prune(&mut p.items);
            }
            had_audio
        });
        (rate, had_audio)
    }

    /// True when nothing is queued.
    pub(crate) fn is_drained(&self) -> bool {
        self.lock().queue.is_empty()
    }
}

/// Drops the oldest finished items beyond [`KEEP_FINISHED`].
fn prune(items: &mut BTreeMap<PlayId, ItemProgress>) {
    // Prune in batches: counting the map on every frame costs more than the memory.
    if items.len() <= KEEP_FINISHED + 64 {
        return;
    }
    let finished = items
        .values()
        .filter(|i| matches!(i.state, ItemState::Done | ItemState::Cut))
        .count();
    if finished <= KEEP_FINISHED {
        return;
    }
    let mut excess = finished - KEEP_FINISHED;
    items.retain(|_, i| {
        if excess > 0 && matches!(i.state, ItemState::Done | ItemState::Cut) {
            excess -= 1;
            false
        } else {
            true
        }
    });
}

#[cfg(test)]
#[path = "playout_tests.rs"]
mod tests;
