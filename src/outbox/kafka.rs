//! The Kafka sink: each event is one record on the configured topic, key = the event's key
//! (contact id, else call uuid), value = the JSON body, headers `event_id` and `kind`.
//!
//! Client: `rskafka` (pure Rust, tokio): no librdkafka, no C build, a few small crates — the
//! choice for 2-core build boxes (Debian's librdkafka 2.0.2 is older than what current
//! `rdkafka-sys` bindings declare, so `dynamic-linking` against it is not a safe option).
//! rskafka has no partitioner of its own: the partition is Kafka's default for keyed records,
//! `murmur2(key) & 0x7fffffff % partitions` (the Java client's), so other producers of the
//! same keys agree. A batch is produced as one request per run of consecutive events for the
//! same partition, acks from all in-sync replicas (rskafka's `acks = -1`).

use super::worker::{BatchOutcome, Sink, SinkError};
use super::StoredEvent;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::Mutex;

/// Name of this sink in `outbox_deliveries` and metrics.
pub const SINK_NAME: &str = "kafka";

/// Kafka's default partitioner hash (Java `Utils.murmur2`, seed 0x9747b28c).
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len() as u32;
    let mut h: u32 = 0x9747_b28c ^ len;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= (tail[2] as u32) << 16;
            h ^= (tail[1] as u32) << 8;
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= (tail[1] as u32) << 8;
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of `key` among `partitions` (Kafka's default for keyed records).
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// A connected producer: the client and one partition client per partition.
struct Connected {
    _client: Client,
    partitions: Vec<PartitionClient>,
}

/// Produces events to one topic.
pub struct KafkaSink {
    brokers: Vec<String>,
    topic: String,
    create_partitions: i32,
    timeout: Duration,
    conn: Mutex<Option<Connected>>,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    /// A sink for `topic` on `brokers` (connects on first delivery, reconnects after errors);
    /// creates the topic with `create_partitions` partitions when it does not exist.
    pub fn new(
        brokers: Vec<String>,
        topic: String,
        create_partitions: i32,
        timeout: Duration,
    ) -> KafkaSink {
        KafkaSink {
            brokers,
            topic,
            create_partitions,
            timeout,
            conn: Mutex::new(None),
        }
    }

    async fn connect(&self) -> Result<Connected, String> {
        let backoff = rskafka::BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            base: 2.0,
            deadline: Some(self.timeout),
        };
        let client = ClientBuilder::new(self.brokers.clone())
            .client_id("enclave")
            .backoff_config(backoff)
            .build()
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.brokers.join(",")))?;
        let topics = client
            .list_topics()
            .await
            .map_err(|e| format!("listing topics: {e}"))?;
        let count = match topics.iter().find(|t| t.name == self.topic) {
            Some(t) if !t.partitions.is_empty() => t.partitions.len() as i32,
            _ => {
                let controller = client
                    .controller_client()
                    .map_err(|e| format!("controller: {e}"))?;
                match controller
                    .create_topic(
                        &self.topic,
                        self.create_partitions,
                        1,
                        self.timeout.as_millis() as i32,
                    )
                    .await
                {
                    Ok(()) => {
                        tracing::info!(topic = %self.topic, partitions = self.create_partitions, "Kafka topic created");
                    }
                    Err(KafkaError::ServerError {
                        protocol_error: ProtocolError::TopicAlreadyExists,
                        ..
                    }) => {}
                    Err(e) => {
                        return Err(format!(
                            "topic {} does not exist and cannot be created: {e}",
                            self.topic
                        ))
                    }
                }
                let topics = client
                    .list_topics()
                    .await
                    .map_err(|e| format!("listing topics: {e}"))?;
                topics
                    .iter()
                    .find(|t| t.name == self.topic)
                    .map(|t| t.partitions.len() as i32)
                    .filter(|n| *n > 0)
                    .unwrap_or(self.create_partitions)
            }
        };
        let mut partitions = Vec::with_capacity(count as usize);
        for p in 0..count {
            partitions.push(
                client
                    .partition_client(self.topic.clone(), p, UnknownTopicHandling::Retry)
                    .await
                    .map_err(|e| format!("partition {p} of {}: {e}", self.topic))?,
            );
        }
        Ok(Connected {
            _client: client,
            partitions,
        })
    }

    async fn produce_all(
        &self,
        conn: &Connected,
        events: &[StoredEvent],
    ) -> (usize, Option<SinkError>) {
        let n = conn.partitions.len() as i32;
        let mut done = 0;
        while done < events.len() {
            let p = partition_for(events[done].key.as_bytes(), n);
            let run = events[done..]
                .iter()
                .take_while(|e| partition_for(e.key.as_bytes(), n) == p)
                .count();
            let records: Vec<Record> = events[done..done + run].iter().map(record).collect();
            let produce = conn.partitions[p as usize].produce(records, Compression::NoCompression);
            match tokio::time::timeout(self.timeout, produce).await {
                Ok(Ok(_offsets)) => done += run,
                Ok(Err(e)) => return (done, Some(classify(&e, &self.topic))),
                Err(_) => {
                    return (
                        done,
                        Some(SinkError::retry(format!(
                            "produce to {} timed out after {} ms",
                            self.topic,
                            self.timeout.as_millis()
                        ))),
                    )
                }
            }
        }
        (done, None)
    }
}

fn record(e: &StoredEvent) -> Record {
    let mut headers = BTreeMap::new();
    headers.insert("event_id".to_string(), e.event_id.clone().into_bytes());
    headers.insert("kind".to_string(), e.kind.clone().into_bytes());
    Record {
        key: Some(e.key.clone().into_bytes()),
        value: Some(serde_json::to_vec(&e.payload).unwrap_or_default()),
        headers,
        timestamp: DateTime::<Utc>::from_timestamp_millis(e.created_at).unwrap_or_default(),
    }
}

fn classify(e: &KafkaError, topic: &str) -> SinkError {
    match e {
        KafkaError::ServerError {
            protocol_error:
                ProtocolError::MessageTooLarge
                | ProtocolError::RecordListTooLarge
                | ProtocolError::InvalidRecord
                | ProtocolError::CorruptMessage,
            ..
        } => SinkError::Permanent(format!("produce to {topic}: {e}")),
        _ => SinkError::retry(format!("produce to {topic}: {e}")),
    }
}

impl Sink for KafkaSink {
    fn name(&self) -> &str {
        SINK_NAME
    }

    fn deliver<'a>(&'a self, events: &'a [StoredEvent]) -> BoxFuture<'a, BatchOutcome> {
        Box::pin(async move {
            let mut guard = self.conn.lock().await;
            if guard.is_none() {
                match tokio::time::timeout(self.timeout, self.connect()).await {
                    Ok(Ok(c)) => *guard = Some(c),
                    Ok(Err(e)) => {
                        return BatchOutcome {
                            delivered: 0,
                            error: Some(SinkError::retry(format!("Kafka: {e}"))),
                        }
                    }
                    Err(_) => {
                        return BatchOutcome {
                            delivered: 0,
                            error: Some(SinkError::retry(format!(
                                "Kafka: connecting to {} timed out",
                                self.brokers.join(",")
                            ))),
                        }
                    }
                }
            }
            let conn = guard.as_ref().expect("connected above");
            let (delivered, error) = self.produce_all(conn, events).await;
            if matches!(error, Some(SinkError::Retry { .. })) {
                // Start over with a fresh connection and fresh metadata next time.
                *guard = None;
            }
            BatchOutcome { delivered, error }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Vectors from Kafka's UtilsTest.testMurmur2.
        let cases: [(&str, i32); 6] = [
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            ("abc", 479470107),
        ];
        for (s, h) in cases {
            assert_eq!(murmur2(s.as_bytes()), h, "{s}");
        }
        assert_eq!(partition_for(b"anything", 1), 0);
        let p = partition_for(b"contact-42", 12);
        assert!((0..12).contains(&p));
        assert_eq!(p, partition_for(b"contact-42", 12));
    }
}
