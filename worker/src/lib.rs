//! `compute-worker`: the provider daemon of the compute market (DESIGN §5).

pub mod cli;
pub mod config;
pub mod daemon;
pub mod executor;
pub mod fetch;
pub mod journal;
pub mod metrics;
pub mod policy;
pub mod server;
pub mod tables;
pub mod turn;

/// Capability bits this worker registers: bit 0 is runtime `wasi-p1`, bit 1 `wasi-p1v2`, bit 2
/// `wasi-p1v3`.
pub const CAPABILITIES: u64 = 0b111;
