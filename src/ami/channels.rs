//! AudioSocket uuid → AMI channel, learned from `VarSet` events of the `AS_UUID` variable.
//!
//! The dialplan runs `Set(AS_UUID=${UUID()})` before `AudioSocket(${AS_UUID},…)`. Asterisk
//! reports that `Set` as `Event: VarSet` with `Channel`, `Variable: AS_UUID`, `Value: <uuid>`
//! (event class `dialplan`) before the AudioSocket connection even opens, so the channel is
//! usually known when the call starts. Entries leave on the channel's `Hangup` event, after
//! [`ENTRY_TTL`], or oldest-first beyond [`MAX_ENTRIES`].

use super::message::Message;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use uuid::Uuid;

/// Channel variable the dialplan sets to the AudioSocket uuid.
pub const UUID_VARIABLE: &str = "AS_UUID";
/// How long a mapping is kept when no `Hangup` is seen (longer than any call).
pub const ENTRY_TTL: Duration = Duration::from_secs(6 * 3600);
/// Most mappings kept at once.
pub const MAX_ENTRIES: usize = 20_000;

#[derive(Debug, Clone)]
struct Entry {
    channel: String,
    seen: Instant,
}

/// The bounded uuid → channel map, fed from AMI events.
#[derive(Debug)]
pub struct ChannelMap {
    entries: Mutex<HashMap<Uuid, Entry>>,
    changed: watch::Sender<u64>,
    ttl: Duration,
    max: usize,
}

impl Default for ChannelMap {
    fn default() -> Self {
        Self::new(ENTRY_TTL, MAX_ENTRIES)
    }
}

impl ChannelMap {
    /// A map with the given entry lifetime and size bound.
    pub fn new(ttl: Duration, max: usize) -> Self {
        ChannelMap {
            entries: Mutex::new(HashMap::new()),
            changed: watch::channel(0).0,
            ttl,
            max: max.max(1),
        }
    }

    /// Updates the map from one event (`VarSet` of `AS_UUID`, `Hangup`); others are ignored.
    pub fn observe(&self, event: &Message) {
        match event.event() {
            Some(e) if e.eq_ignore_ascii_case("VarSet") => {
                let is_ours = event
                    .get("Variable")
                    .is_some_and(|v| v.eq_ignore_ascii_case(UUID_VARIABLE));
                let (Some(channel), Some(value)) = (event.get("Channel"), event.get("Value"))
                else {
                    return;
                };
                if !is_ours {
                    return;
                }
                match Uuid::parse_str(value.trim()) {
                    Ok(uuid) => {
                        // Logged when learned (not only at hand-over time), so an operator can
                        // match the agent's call uuid to the Asterisk channel from the start.
                        tracing::info!(call = %uuid, channel, uniqueid = event.get("Uniqueid"),
                            "AMI: channel of the AudioSocket call learned (VarSet AS_UUID)");
                        self.insert(uuid, channel.to_string())
                    }
                    Err(_) => tracing::debug!(channel, value, "AS_UUID is not a uuid; ignored"),
                }
            }
            Some(e) if e.eq_ignore_ascii_case("Hangup") => {
                if let Some(channel) = event.get("Channel") {
                    self.lock().retain(|_, entry| entry.channel != channel);
                }
            }
            _ => {}
        }
    }

    /// Records `uuid` → `channel`.
    pub fn insert(&self, uuid: Uuid, channel: String) {
        let now = Instant::now();
        {
            let mut map = self.lock();
            map.retain(|_, e| now.duration_since(e.seen) < self.ttl);
            if map.len() >= self.max && !map.contains_key(&uuid) {
                if let Some(oldest) = map.iter().min_by_key(|(_, e)| e.seen).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
            map.insert(uuid, Entry { channel, seen: now });
        }
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// The channel of `uuid`, if known and not expired.
    pub fn get(&self, uuid: &Uuid) -> Option<String> {
        let map = self.lock();
        map.get(uuid)
            .filter(|e| e.seen.elapsed() < self.ttl)
            .map(|e| e.channel.clone())
    }

    /// The channel of `uuid`, waiting up to `wait` for its `VarSet` to arrive.
    pub async fn wait_for(&self, uuid: &Uuid, wait: Duration) -> Option<String> {
        let mut changed = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            changed.borrow_and_update();
            if let Some(c) = self.get(uuid) {
                return Some(c);
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => continue,
                _ => return self.get(uuid),
            }
        }
    }

    /// Number of mappings held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no mapping is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}
