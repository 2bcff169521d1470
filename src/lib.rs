//! Enclave: a fully local voice agent for Asterisk over AudioSocket.
//!
//! Data flows one way per direction, and the modules follow it:
//! caller audio → [`transport`] (AudioSocket frames) → [`audio`] (resample) → [`vad`]
//! (endpointing) → [`asr`] (Whisper) → [`dialog`] (LLM + tools) → [`tts`] (Piper) →
//! [`audio`] → [`transport`] (20 ms paced frames) → Asterisk. [`pipeline`] is the seam
//! between a call's transport and whatever converses on it.

pub mod amd;
pub mod ami;
pub mod api;
pub mod app;
pub mod asr;
pub mod audio;
pub mod campaign;
pub mod cancel;
pub mod cli;
pub mod config;
pub mod conversation;
pub mod dialog;
pub mod gpu;
pub mod metrics;
pub mod models;
pub mod onnx;
pub mod outbox;
pub mod pipeline;
pub mod priority;
pub mod profiles;
pub mod quality;
pub mod records;
pub mod sim;
pub mod summary;
pub mod transport;
pub mod tts;
pub mod vad;
