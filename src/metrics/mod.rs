//! Observability: Prometheus metrics and the /metrics, /livez, /readyz HTTP listener.
