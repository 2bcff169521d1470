//! One blocking worker thread per model that serves every call, batching the requests that are
//! waiting when it starts a step (kyutai moshi-server's batched loop): ONNX Runtime never runs
//! on the async runtime, calls never contend for a session mutex, and N calls that ask at the
//! same moment cost one run of batch N instead of N runs.

use crate::metrics::registry::{Counter, Gauge, Histogram};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bounds (seconds) of the step and queue-wait histograms.
const STEP_BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0,
];
/// Bounds of the batch-size histogram (requests, not seconds).
const BATCH_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// Step-time metrics of one batching worker.
#[derive(Debug)]
pub struct BatchStats {
    /// Prometheus name prefix, e.g. `enclave_turn_model`.
    prefix: &'static str,
    /// Wall time of each step (feature work + one model run).
    pub step_seconds: Histogram,
    /// How long each request waited in the queue before its step started.
    pub queue_seconds: Histogram,
    /// Requests per step.
    pub batch_size: Histogram,
    /// Steps run.
    pub steps_total: Counter,
    /// Requests served.
    pub requests_total: Counter,
    /// Requests sent and not yet taken into a step.
    pub queue_depth: Gauge,
}

impl BatchStats {
    /// Empty metrics named `{prefix}_step_seconds`, `{prefix}_queue_seconds`, ….
    pub fn new(prefix: &'static str) -> BatchStats {
        BatchStats {
            prefix,
            step_seconds: Histogram::new(STEP_BOUNDS),
            queue_seconds: Histogram::new(STEP_BOUNDS),
            batch_size: Histogram::new(BATCH_BOUNDS),
            steps_total: Counter::default(),
            requests_total: Counter::default(),
            queue_depth: Gauge::default(),
        }
    }

    /// Prometheus text of these metrics.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let p = self.prefix;
        out.push_str(&format!(
            "# TYPE {p}_step_seconds histogram\n# HELP {p}_step_seconds Wall time of one batched inference step.\n"
        ));
        self.step_seconds
            .render(&mut out, &format!("{p}_step_seconds"), "");
        out.push_str(&format!(
            "# TYPE {p}_queue_seconds histogram\n# HELP {p}_queue_seconds Time a request waited for its step.\n"
        ));
        self.queue_seconds
            .render(&mut out, &format!("{p}_queue_seconds"), "");
        out.push_str(&format!(
            "# TYPE {p}_batch_size histogram\n# HELP {p}_batch_size Requests per step.\n"
        ));
        self.batch_size
            .render(&mut out, &format!("{p}_batch_size"), "");
        out.push_str(&format!(
            "# TYPE {p}_steps_total counter\n{p}_steps_total {}\n# TYPE {p}_requests_total counter\n{p}_requests_total {}\n",
            self.steps_total.get(),
            self.requests_total.get()
        ));
        out.push_str(&format!(
            "# TYPE {p}_queue_depth gauge\n# HELP {p}_queue_depth Requests waiting for a step.\n{p}_queue_depth {}\n",
            self.queue_depth.get()
        ));
        out
    }

    /// Mean requests per step so far (1.0 before any step).
    pub fn mean_batch(&self) -> f64 {
        let steps = self.steps_total.get();
        if steps == 0 {
            1.0
        } else {
            self.requests_total.get() as f64 / steps as f64
        }
    }
}

/// A request with the time it was queued (for the queue-wait metric).
#[derive(Debug)]
pub struct Queued<R> {
    /// The request.
    pub request: R,
    /// When it was sent.
    pub queued: Instant,
}

/// The sending side of a worker; cloning it is cheap. The worker stops when every sender is
/// dropped.
#[derive(Debug)]
pub struct BatchSender<R> {
    tx: mpsc::Sender<Queued<R>>,
    stats: Arc<BatchStats>,
}

impl<R> Clone for BatchSender<R> {
    fn clone(&self) -> Self {
        BatchSender {
            tx: self.tx.clone(),
            stats: Arc::clone(&self.stats),
        }
    }
}

impl crate::metrics::engines::RenderMetrics for BatchStats {
    fn render_metrics(&self) -> String {
        self.render()
    }
}

impl<R> BatchSender<R> {
    /// Queues a request; `Err` gives it back when the worker has stopped.
    pub fn send(&self, request: R) -> Result<(), R> {
        self.stats.queue_depth.add(1);
        self.tx
            .send(Queued {
                request,
                queued: Instant::now(),
            })
            .map_err(|e| {
                self.stats.queue_depth.add(-1);
                e.0.request
            })
    }
}

/// Starts a worker thread named `name` that blocks for a request, takes every other request
/// already waiting (up to `max_batch`), and hands the batch to `step`. `step` answers each
/// request itself (typically through a oneshot inside it). The thread ends (and the handle
/// joins) once every sender is dropped and the queue is empty.
pub fn spawn<R, F>(
    name: &str,
    max_batch: usize,
    stats: Arc<BatchStats>,
    mut step: F,
) -> std::io::Result<(BatchSender<R>, std::thread::JoinHandle<()>)>
where
    R: Send + 'static,
    F: FnMut(Vec<R>) + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Queued<R>>();
    let max_batch = max_batch.max(1);
    // On /metrics from now on (the newest worker of a prefix wins).
    let weak = Arc::downgrade(&stats);
    let weak: std::sync::Weak<dyn crate::metrics::engines::RenderMetrics> = weak;
    crate::metrics::engines::register(stats.prefix, weak);
    let sender_stats = Arc::clone(&stats);
    let handle = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                while batch.len() < max_batch {
                    match rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                let started = Instant::now();
                let n = batch.len();
                stats.queue_depth.add(-(n as i64));
                let requests = batch
                    .into_iter()
                    .map(|q| {
                        stats
                            .queue_seconds
                            .observe_duration(started.saturating_duration_since(q.queued));
                        q.request
                    })
                    .collect();
                // Counted before the step answers, so whoever got an answer sees its step.
                stats.batch_size.observe(n as f64);
                stats.steps_total.inc();
                stats.requests_total.add(n as u64);
                step(requests);
                stats.step_seconds.observe_duration(started.elapsed());
            }
        })?;
    Ok((
        BatchSender {
            tx,
            stats: sender_stats,
        },
        handle,
    ))
}

/// p-quantile (0..=1) of durations, for benchmark reports; `None` when empty.
pub fn quantile(values: &mut [Duration], q: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    values.sort();
    let idx = ((values.len() - 1) as f64 * q).round() as usize;
    Some(values[idx.min(values.len() - 1)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Barrier, Mutex};

    #[test]
    fn requests_waiting_at_a_step_are_served_in_one_batch() {
        let stats = Arc::new(BatchStats::new("test_worker"));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Barrier::new(2));
        let (done_tx, done_rx) = mpsc::channel();
        let (s, g) = (Arc::clone(&sizes), Arc::clone(&gate));
        let (tx, worker) = spawn(
            "test-batch",
            16,
            Arc::clone(&stats),
            move |batch: Vec<u32>| {
                s.lock().unwrap().push(batch.len());
                if batch.contains(&0) {
                    // Hold the first step until the other requests are queued behind it.
                    g.wait();
                    g.wait();
                }
                for r in batch {
                    done_tx.send(r).unwrap();
                }
            },
        )
        .unwrap();
        tx.send(0).unwrap();
        gate.wait();
        for i in 1..=5 {
            tx.send(i).unwrap();
        }
        gate.wait();
        let mut got: Vec<u32> = (0..6).map(|_| done_rx.recv().unwrap()).collect();
        got.sort();
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5]);
        drop(tx);
        worker.join().unwrap();
        assert_eq!(*sizes.lock().unwrap(), vec![1, 5]);
        assert_eq!(stats.steps_total.get(), 2);
        assert_eq!(stats.requests_total.get(), 6);
        assert!(stats.render().contains("test_worker_batch_size_count 2"));
    }
}
