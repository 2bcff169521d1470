//! Observability: Prometheus metrics and the /metrics, /livez, /readyz HTTP listener.
//!
//! Recording is lock-free (atomics) except for the small bounded label maps of
//! `enclave_tool_calls_total` and `enclave_errors_total`; rendering builds the text
//! exposition on demand. The call loop records into [`global()`].

mod agent;
pub mod engines;
mod http;
pub mod jobs;
pub mod limits;
pub mod registry;

pub use agent::{global, ActiveCall, Metrics, Stage, STAGE_LATENCY_BUCKETS, TURN_LATENCY_BUCKETS};
pub use http::{MetricsServer, MetricsServerError, Readiness, PROMETHEUS_CONTENT_TYPE};
