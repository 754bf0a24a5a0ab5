//! What a run's module sees of the host: stdout with a hard cap, the fixed clocks, the seeded
//! random stream, and the memory and table caps.

use sha2::{Digest, Sha256};
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{
    cli::{IsTerminal, StdoutStream},
    p1::WasiP1Ctx,
    HostMonotonicClock, HostWallClock,
};
use wasmtime_wasi_io::streams::{OutputStream, StreamError};

/// Unix time of the fixed wall clock: 2020-01-01T00:00:00Z.
const FIXED_UNIX_SECS: u64 = 1_577_836_800;
/// Length of the random byte stream before it repeats.
const RANDOM_STREAM_BYTES: usize = 64 * 1024;
/// Most table elements a module may use.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// stdout with a hard cap: the write that would pass `cap` stores what fits and traps at once,
/// so where a run stops depends only on the module, never on buffering.
#[derive(Clone)]
pub(crate) struct CappedOutput {
    pub(crate) cap: usize,
    pub(crate) buf: Arc<std::sync::Mutex<Vec<u8>>>,
    pub(crate) overflow: Arc<AtomicBool>,
}

/// Bytes a single write may carry (the same for every run).
const WRITE_BUDGET: usize = 64 * 1024;

impl CappedOutput {
    pub(crate) fn new(cap: usize) -> Self {
        CappedOutput {
            cap,
            buf: Arc::default(),
            overflow: Arc::default(),
        }
    }

    fn append(&self, bytes: &[u8]) -> bool {
        let mut buf = self.buf.lock().expect("output lock");
        let room = self.cap.saturating_sub(buf.len());
        buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
        if bytes.len() > room {
            self.overflow.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi_io::poll::Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        if self.append(&bytes) {
            Ok(())
        } else {
            Err(StreamError::trap("output limit reached"))
        }
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_BUDGET)
    }
}

impl tokio::io::AsyncWrite for CappedOutput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        bytes: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(if self.append(bytes) {
            Ok(bytes.len())
        } else {
            Err(std::io::Error::other("output limit reached"))
        })
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

pub(crate) struct FixedWallClock;
impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(FIXED_UNIX_SECS)
    }
}

pub(crate) struct FixedMonotonicClock;
impl HostMonotonicClock for FixedMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Memory and table caps; remembers whether the memory cap was hit.
pub(crate) struct Limiter {
    pub(crate) max_memory: usize,
    pub(crate) memory_hit: bool,
    /// The module's memory, and the interrupt word's when it meters itself.
    pub(crate) memories: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.memory_hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        1
    }
    fn tables(&self) -> usize {
        4
    }
    fn memories(&self) -> usize {
        self.memories
    }
}

pub(crate) struct RunState {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) limiter: Limiter,
    /// Time spent in host (WASI) calls, when measured: since when, and in all.
    pub(crate) host_since: Option<Instant>,
    pub(crate) host_time: Duration,
}

/// The random bytes a job sees: sha256 counter-mode stream over the seed (the job address).
pub(crate) fn random_stream(seed: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RANDOM_STREAM_BYTES);
    let mut counter = 0u64;
    while out.len() < RANDOM_STREAM_BYTES {
        let mut h = Sha256::new();
        h.update(b"cmkt/random/v1");
        h.update(seed);
        h.update(counter.to_le_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out
}
