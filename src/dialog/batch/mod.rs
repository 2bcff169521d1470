//! Continuous batching: the scheduler thread that decodes all calls' sequences together.

pub mod scheduler;
