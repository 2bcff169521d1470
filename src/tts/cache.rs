//! Cache of synthesized sentences (greetings, fillers, repeated confirmations): least recently
//! used entries are evicted once the total audio exceeds a byte budget. Audio is `f32`, so an
//! entry costs 4 bytes per sample (about 88 kB per second of 22.05 kHz speech) plus its text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What identifies a synthesized sentence: voice, normalised text, scales (bit patterns) and
/// speaker.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The voice's model path.
    pub voice: String,
    /// The normalised sentence.
    pub text: String,
    /// `noise_scale`, `length_scale`, `noise_w` as bits.
    pub scales: [u32; 3],
    /// Speaker id (multi-speaker voices).
    pub speaker: Option<i64>,
}

impl CacheKey {
    /// Builds a key.
    pub fn new(voice: &str, text: &str, scales: [f32; 3], speaker: Option<i64>) -> Self {
        CacheKey {
            voice: voice.to_string(),
            text: text.to_string(),
            scales: scales.map(f32::to_bits),
            speaker,
        }
    }
}

/// Bytes one cached sample costs (`f32`).
const SAMPLE_BYTES: usize = std::mem::size_of::<f32>();

/// What an entry counts against the budget: its audio and its text.
fn entry_bytes(audio: &[f32], key: &CacheKey) -> usize {
    audio.len() * SAMPLE_BYTES + key.text.len()
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<CacheKey, (Arc<[f32]>, u64)>,
    bytes: usize,
    tick: u64,
    hits: u64,
    misses: u64,
}

/// Byte-bounded LRU cache of sentence audio, shared by all calls.
#[derive(Debug)]
pub struct AudioCache {
    inner: Mutex<Inner>,
    max_bytes: usize,
}

/// Hit/miss counters and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found audio.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Entries held.
    pub entries: usize,
    /// Bytes held: audio (4 per sample) plus the entries' texts.
    pub bytes: usize,
}

impl AudioCache {
    /// A cache holding at most `max_bytes` of audio (4 bytes per `f32` sample) and texts
    /// (0 disables it).
    pub fn new(max_bytes: usize) -> Self {
        AudioCache {
            inner: Mutex::new(Inner::default()),
            max_bytes,
        }
    }

    /// The audio for `key`, marking it recently used.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<[f32]>> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.tick += 1;
        let tick = g.tick;
        match g.entries.get_mut(key) {
            Some((audio, used)) => {
                *used = tick;
                let audio = audio.clone();
                g.hits += 1;
                Some(audio)
            }
            None => {
                g.misses += 1;
                None
            }
        }
    }

    /// Stores audio, evicting least recently used entries to stay within the budget. Audio
    /// larger than the whole budget is not stored.
    pub fn insert(&self, key: CacheKey, audio: Arc<[f32]>) {
        let size = entry_bytes(&audio, &key);
        if size > self.max_bytes {
            return;
        }
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.tick += 1;
        let tick = g.tick;
        let key_len = key.text.len();
        if let Some((old, _)) = g.entries.insert(key, (audio, tick)) {
            g.bytes -= old.len() * SAMPLE_BYTES + key_len;
        }
        g.bytes += size;
        while g.bytes > self.max_bytes {
            let Some(oldest) = g
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((old, _)) = g.entries.remove(&oldest) {
                g.bytes -= entry_bytes(&old, &oldest);
            }
        }
    }

    /// Counters and size.
    pub fn stats(&self) -> CacheStats {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        CacheStats {
            hits: g.hits,
            misses: g.misses,
            entries: g.entries.len(),
            bytes: g.bytes,
        }
    }
}
