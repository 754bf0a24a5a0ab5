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
use wasmtime::{Caller, Global, Linker, Memory, ResourceLimiter, Trap, Val};
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
    /// The module's memory, and the interrupt page's when it meters itself.
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
    /// Under `wasi-p1v3`: the module's fuel global and its memory, for the runtime's functions.
    pub(crate) fuel: Option<Global>,
    pub(crate) memory: Option<Memory>,
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

/// Fuel of a `cmkt.sha256` call (runtime `wasi-p1v3`), on top of its blocks'.
pub const SHA256_FUEL_PER_CALL: u64 = 256;
/// Fuel of each 64-byte block `cmkt.sha256` hashes, the padding's included (about what the
/// host's time per block is worth in wasm instructions where the CPU has SHA instructions).
pub const SHA256_FUEL_PER_BLOCK: u64 = 512;

/// What runtime `wasi-p1v3` changes of WASI and offers besides it:
/// - `cmkt.sha256(data: i32, len: i32, out: i32)`: writes the sha256 of the `len` bytes at
///   `data` to the 32 bytes at `out`, both in the module's `memory`; it takes its fuel first
///   ([`SHA256_FUEL_PER_CALL`] and [`SHA256_FUEL_PER_BLOCK`]), and traps when either range is
///   out of bounds;
/// - `wasi_snapshot_preview1.poll_oneoff` never waits ([`poll_oneoff`]).
pub(crate) fn add_functions(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    linker.func_wrap("cmkt", "sha256", sha256)?;
    linker.allow_shadowing(true);
    linker.func_wrap("wasi_snapshot_preview1", "poll_oneoff", poll_oneoff)?;
    linker.allow_shadowing(false);
    Ok(())
}

/// WASI's `poll_oneoff(subscriptions, events, n, nevents)` without waiting: the sandbox's
/// clocks never move, so every clock subscription is due at once (WASI's own would sleep the
/// worker's thread in real time, as long as the module asks, where no timeout can stop it).
/// Writes an event for each subscription, in order, when all `n` are clocks; a subscription to
/// a file descriptor makes the call fail with `ENOTSUP` (58), none with `EINVAL` (28), memory
/// out of bounds with `EFAULT` (21). Takes a unit of fuel per subscription.
fn poll_oneoff(
    mut caller: Caller<'_, RunState>,
    subscriptions: u32,
    events: u32,
    n: u32,
    nevents: u32,
) -> wasmtime::Result<i32> {
    const EFAULT: i32 = 21;
    const EINVAL: i32 = 28;
    const ENOTSUP: i32 = 58;
    // a subscription and an event, as WASI lays them out
    const SUBSCRIPTION: u32 = 48;
    const EVENT: u32 = 32;
    if n == 0 {
        return Ok(EINVAL);
    }
    charge(&mut caller, n.into())?;
    let Some(memory) = caller.data().memory else {
        return Ok(EFAULT);
    };
    let Some(subs) = memory
        .data(&caller)
        .get(span(subscriptions, u64::from(n) * u64::from(SUBSCRIPTION)))
    else {
        return Ok(EFAULT);
    };
    let mut out = Vec::with_capacity(n as usize * EVENT as usize);
    for sub in subs.chunks_exact(SUBSCRIPTION as usize) {
        // the tag at 8: 0 is a clock
        if sub[8] != 0 {
            return Ok(ENOTSUP);
        }
        // userdata, then error 0 and type 0 (clock)
        out.extend_from_slice(&sub[..8]);
        out.extend_from_slice(&[0; EVENT as usize - 8]);
    }
    let data = memory.data_mut(&mut caller);
    let (Some(()), Some(())) = (
        data.get_mut(span(events, out.len() as u64))
            .map(|e| e.copy_from_slice(&out)),
        data.get_mut(span(nevents, 4))
            .map(|c| c.copy_from_slice(&n.to_le_bytes())),
    ) else {
        return Ok(EFAULT);
    };
    Ok(0)
}

/// The hash itself: the module took its fuel before the call ([`crate::meter`]).
fn sha256(mut caller: Caller<'_, RunState>, data: u32, len: u32, out: u32) -> wasmtime::Result<()> {
    let memory = caller.data().memory.ok_or(Trap::MemoryOutOfBounds)?;
    // one look-up of the memory for both ranges (a sixth of the call's time each)
    let bytes = memory.data_mut(&mut caller);
    let digest = sha256_of(
        bytes
            .get(span(data, len.into()))
            .ok_or(Trap::MemoryOutOfBounds)?,
    );
    bytes
        .get_mut(span(out, 32))
        .ok_or(Trap::MemoryOutOfBounds)?
        .copy_from_slice(&digest);
    Ok(())
}

/// The sha256 of `data`, as `Sha256::digest` computes it, by the compression function alone:
/// over `data`'s whole blocks where they lie, then over the rest padded in one or two blocks on
/// the stack. `Sha256::digest` copies its state and buffer around instead, a sixth of a 32-byte
/// hash's time.
fn sha256_of(data: &[u8]) -> [u8; 32] {
    // FIPS 180-4, 5.3.3
    const IV: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut state = IV;
    let (blocks, rest) = data.as_chunks::<64>();
    sha2_block::block_api::compress256(&mut state, blocks);
    // the rest, the 0x80 that ends the message, zeros, and its length in bits (big-endian)
    // closing the last block: a second block when the length does not fit after the rest
    let mut last = [[0u8; 64]; 2];
    let n = if rest.len() < 56 { 1 } else { 2 };
    let tail = last.as_flattened_mut();
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    // (modulo 2^64, as the standard counts it)
    let bits = (data.len() as u64).wrapping_mul(8);
    tail[64 * n - 8..64 * n].copy_from_slice(&bits.to_be_bytes());
    sha2_block::block_api::compress256(&mut state, &last[..n]);
    let mut out = [0u8; 32];
    for (o, word) in out.as_chunks_mut::<4>().0.iter_mut().zip(state) {
        *o = word.to_be_bytes();
    }
    out
}

/// The bytes of a module's memory from `at`, `len` long, as a range of its data (past its end
/// when they leave it, so that `get` refuses them).
fn span(at: u32, len: u64) -> std::ops::Range<usize> {
    let at = at as usize;
    at..at.saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
}

/// Takes `units` from the fuel the module keeps ([`crate::meter::FUEL_EXPORT`]); traps when
/// that overdraws it (the run is then out of fuel). A module without one is not metered.
fn charge(caller: &mut Caller<'_, RunState>, units: u64) -> wasmtime::Result<()> {
    let Some(fuel) = caller.data().fuel else {
        return Ok(());
    };
    let left = fuel.get(&mut *caller).i64().unwrap_or(0);
    let left = left.saturating_sub(i64::try_from(units).unwrap_or(i64::MAX));
    fuel.set(&mut *caller, Val::I64(left))?;
    if left < 0 {
        return Err(Trap::OutOfFuel.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_is_sha256_at_every_length_around_the_blocks() {
        // every way the rest can meet the padding: empty, short, one byte short of the length's
        // room (55), the length in a second block (56..=63), whole blocks, several blocks
        let data: Vec<u8> = (0..300u32).map(|i| (i * 131 + 7) as u8).collect();
        for len in 0..=data.len() {
            let d = &data[..len];
            assert_eq!(
                sha256_of(d),
                <[u8; 32]>::from(Sha256::digest(d)),
                "{len} bytes"
            );
        }
        // FIPS 180-2, appendix B.1
        assert_eq!(
            sha256_of(b"abc")[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "the standard's first example"
        );
    }
}
