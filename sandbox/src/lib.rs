//! The compute market's sandbox: runs a job's `wasm32-wasip1` module in wasmtime,
//! deterministically. A leaf crate (wasmtime and nothing of Solana), so the worker's sandbox
//! can be built and measured in release mode on its own (`examples/bench.rs`).
//!
//! Runtime `wasi-p1` means, for every honest provider:
//! - fuel metering (`max_fuel`), a linear-memory cap (`max_memory`) and an output cap
//!   (`max_output`); reaching one of them is a deterministic outcome, not an error;
//! - NaN canonicalisation, no threads, deterministic relaxed SIMD;
//! - no file system, no network, no environment variables; stdin is the input, stdout the output,
//!   stderr is discarded, args come from the manifest (after the program name `job`);
//! - a fixed clock (2020-01-01T00:00:00Z, monotonic time 0) and random bytes drawn from a
//!   64 KiB stream derived from the job address (repeating; not for secrets);
//! - the same wasmtime version and configuration: a change that alters fuel counting or
//!   behaviour needs a new runtime id.
//!
//! Runtime `wasi-p1v2` is `wasi-p1` with NaNs canonicalised only where their bits can be seen
//! ([`nan`]): every output is the same bit for bit, the fuel counts differ (the rewrite adds
//! instructions), and float-heavy modules run up to three times faster.
//!
//! Runtime `wasi-p1v3` is `wasi-p1v2` with fuel metering and the timeout compiled into the
//! module ([`meter`]) instead of wasmtime's fuel and epoch checks, whose calls into the runtime
//! cost loops their registers: the same outputs bit for bit, its own fuel counts (defined by
//! the pass, not by a wasmtime version), and loops up to twice as fast. Modules with a start
//! function, 64-bit or several memories are refused.
//!
//! A wall-clock timeout (epoch interruption; under `wasi-p1v3` an interrupt page the module
//! reads, which the executor makes inaccessible) guards the worker against modules that burn
//! fuel slowly through host calls or cache misses; hitting it is not deterministic, so it is a
//! refusal: the worker does not commit to such a run. A job's linear memory is advised onto
//! huge pages ([`pages`]), which changes no byte it sees.

mod compile;
mod frame_check;
mod host;
pub mod meter;
pub mod nan;
mod pages;
mod rewrite;
mod runtime;
pub mod samples;
mod watchdog;

use host::{random_stream, CappedOutput, FixedMonotonicClock, FixedWallClock, Limiter, RunState};
pub use host::{SHA256_FUEL_PER_BLOCK, SHA256_FUEL_PER_CALL};
pub use runtime::{Options, RUNTIME, RUNTIMES, RUNTIME_V2, RUNTIME_V3};

use sha2::{Digest, Sha256};
use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};
pub use wasmtime::Module;
use wasmtime::{CallHook, Config, Engine, Store, Trap};
use wasmtime_wasi::{p2::pipe::MemoryInputPipe, I32Exit, WasiCtxBuilder};

/// How a run ended: the outcome every honest provider reaches (the worker commits to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `_start` returned (code 0) or the module called `proc_exit(code)`.
    Exited(i64),
    /// A wasm trap: unreachable, out-of-bounds access, division by zero, stack overflow, ...
    Trapped,
    OutOfFuel,
    OutOfMemory,
    OutputLimit,
}

/// Wasmtime's default `max_wasm_stack`, which the runtimes before `wasi-p1v3` keep.
const WASMTIME_WASM_STACK: usize = 512 << 10;
/// Stack of a run's thread beyond what wasm may use: the host's frames (WASI calls, wasmtime).
const HOST_STACK: usize = 2 << 20;

/// Epoch ticks per second of the timeout clock.
const TICK: Duration = Duration::from_millis(10);

/// Resource limits of one run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_fuel: u64,
    pub max_memory: u64,
    pub max_output: u64,
    /// Wall-clock guard; reaching it makes the run a refusal.
    pub timeout: Duration,
}

/// What a run produced. Identical for every honest provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    pub status: Status,
    pub fuel_used: u64,
    /// stdout, cut at `max_output`.
    pub output: Vec<u8>,
    /// How the run ended when it did not return normally (trap or exit message), for logs.
    pub detail: Option<String>,
}

/// Why a module was not run to a result. A worker never commits to a refused run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("invalid module: {0}")]
    InvalidModule(String),
    #[error("the run exceeded the wall-clock timeout of {0:?}")]
    Timeout(Duration),
    /// Under `wasi-p1v3`: the run reached wasmtime's native stack limit before the module's
    /// call-depth budget ran out (its frames are larger than the runtime accounts for), so
    /// where it stopped depends on the machine. On x86-64 such a module is refused when it is
    /// compiled (`frame_check.rs`), so a worker never claims its job.
    #[error("the run reached the native stack limit before its call-depth budget ran out")]
    StackLimit,
    #[error("sandbox error: {0}")]
    Internal(String),
}

/// What the disk cache of compiled modules did (see [`Executor::cache_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Modules loaded from the cache instead of compiled.
    pub hits: usize,
    /// Modules compiled and then written to the cache.
    pub misses: usize,
}

/// A wasmtime engine configured for runtime `wasi-p1`, with its timeout clock and, when given a
/// directory, a disk cache of compiled modules.
pub struct Executor {
    engine: Engine,
    /// With `lazy_nan`: the engine with Cranelift's canonicalisation, for the modules that
    /// [`nan::canonicalize`] does not rewrite (SIMD, unless [`nan::canonicalize_vectors`] does
    /// under `wasi-p1v3`).
    full_nan: Option<Engine>,
    options: Options,
    cache: Option<wasmtime::Cache>,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
    /// The deadlines of the runs that meter themselves.
    watchdog: Arc<watchdog::Watchdog>,
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

impl Executor {
    /// Runtime `wasi-p1`, compiling every module anew.
    pub fn new() -> Result<Self, Refusal> {
        Self::with(Options::default(), None)
    }

    /// Runtime `wasi-p1` with compiled modules cached in `dir` across restarts (see
    /// [`Executor::with`]).
    pub fn cached(dir: &Path) -> Result<Self, Refusal> {
        Self::with(Options::default(), Some(dir))
    }

    /// An engine with `options`, and a disk cache in `cache` if given: wasmtime's own cache of
    /// compiled artifacts, keyed by a hash of the module's bytes, the engine's configuration and
    /// wasmtime's version, so a module seen before (by this or an earlier process) is loaded
    /// instead of compiled, and an artifact of another configuration or version is never used.
    pub fn with(options: Options, cache: Option<&Path>) -> Result<Self, Refusal> {
        let internal = |e: wasmtime::Error| Refusal::Internal(format!("{e:#}"));
        let cache = match cache {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Refusal::Internal(format!("creating the module cache {}: {e}", dir.display()))
                })?;
                let mut cc = wasmtime::CacheConfig::new();
                cc.with_directory(dir);
                Some(wasmtime::Cache::new(cc).map_err(internal)?)
            }
            None => None,
        };
        let engine = |nan_canonicalization: bool, cache: Option<wasmtime::Cache>| {
            let mut config = Config::new();
            config
                .consume_fuel(options.wasmtime_meters())
                .epoch_interruption(!options.inline_meter)
                .cranelift_nan_canonicalization(nan_canonicalization)
                .relaxed_simd_deterministic(true);
            if options.inline_meter {
                // (async stacks are never used, but wasmtime wants theirs at least as large)
                config
                    .max_wasm_stack(meter::MAX_WASM_STACK)
                    .async_stack_size(meter::MAX_WASM_STACK + HOST_STACK);
            }
            if options.explicit_bounds_checks {
                config.memory_reservation(0).memory_guard_size(0);
            } else {
                config.memory_reservation(pages::RESERVATION);
            }
            config.cache(cache);
            Engine::new(&config).map_err(internal)
        };
        let lazy = options.nan_canonicalization && options.lazy_nan;
        let full_nan = if lazy {
            Some(engine(true, cache.clone())?)
        } else {
            None
        };
        let nan_canonicalization = options.nan_canonicalization && !lazy;
        if options.meters_itself() && options.frame_check {
            // (an engine without the cache, which would count the probe)
            frame_check::probe(&engine(nan_canonicalization, None)?).map_err(Refusal::Internal)?;
        }
        let engine = engine(nan_canonicalization, cache.clone())?;
        let stop = Arc::new(AtomicBool::new(false));
        let watchdog = Arc::new(watchdog::Watchdog::default());
        let ticker = {
            let engines: Vec<Engine> = std::iter::once(&engine).chain(&full_nan).cloned().collect();
            let (stop, watchdog) = (stop.clone(), watchdog.clone());
            std::thread::Builder::new()
                .name("wasm-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        engines.iter().for_each(Engine::increment_epoch);
                        watchdog.tick();
                    }
                })
                .map_err(|e| Refusal::Internal(e.to_string()))?
        };
        Ok(Executor {
            engine,
            full_nan,
            options,
            cache,
            stop,
            ticker: Some(ticker),
            watchdog,
        })
    }

    /// Modules loaded from the disk cache and modules compiled (and then stored) since this
    /// executor started; `None` without a cache.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(|c| CacheStats {
            hits: c.cache_hits(),
            misses: c.cache_misses(),
        })
    }

    /// Runs `module` on `input` with `args`, random bytes seeded by `seed` (the job address).
    pub fn run(
        &self,
        module: &Module,
        input: &[u8],
        args: &[String],
        seed: &[u8; 32],
        limits: Limits,
    ) -> Result<Execution, Refusal> {
        self.on_run_thread(|| self.run_inner(module, input, args, seed, limits, false))
            .map(|(x, _)| x)
    }

    /// [`Executor::run`], also timing the host (WASI) calls: the same execution, and the part
    /// of its wall time spent outside wasm code (for the benchmark's attribution).
    pub fn run_measured(
        &self,
        module: &Module,
        input: &[u8],
        args: &[String],
        seed: &[u8; 32],
        limits: Limits,
    ) -> Result<(Execution, Duration), Refusal> {
        self.on_run_thread(|| self.run_inner(module, input, args, seed, limits, true))
    }

    /// `run` on a thread of its own, whatever thread calls: its stack holds what wasm may use
    /// ([`meter::MAX_WASM_STACK`] under `wasi-p1v3`, whose call-depth rule runs out before it)
    /// and the host's frames besides.
    fn on_run_thread<R: Send>(
        &self,
        run: impl FnOnce() -> Result<R, Refusal> + Send,
    ) -> Result<R, Refusal> {
        let wasm_stack = if self.options.inline_meter {
            meter::MAX_WASM_STACK
        } else {
            WASMTIME_WASM_STACK
        };
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("wasm-run".into())
                .stack_size(wasm_stack + HOST_STACK)
                .spawn_scoped(s, run)
                .map_err(|e| Refusal::Internal(format!("starting the run's thread: {e}")))?
                .join()
                .map_err(|_| Refusal::Internal("the run's thread panicked".into()))?
        })
    }

    fn run_inner(
        &self,
        module: &Module,
        input: &[u8],
        args: &[String],
        seed: &[u8; 32],
        limits: Limits,
        measure_host: bool,
    ) -> Result<(Execution, Duration), Refusal> {
        let internal = |e: wasmtime::Error| Refusal::Internal(format!("{e:#}"));
        let stdout = CappedOutput::new(usize::try_from(limits.max_output).unwrap_or(usize::MAX));
        let mut argv = vec!["job".to_string()];
        argv.extend(args.iter().cloned());
        let wasi = WasiCtxBuilder::new()
            .stdin(MemoryInputPipe::new(input.to_vec()))
            .stdout(stdout.clone())
            .args(&argv)
            .wall_clock(FixedWallClock)
            .monotonic_clock(FixedMonotonicClock)
            .secure_random(wasmtime_wasi::random::Deterministic::new(random_stream(
                seed,
            )))
            .insecure_random(wasmtime_wasi::random::Deterministic::new(random_stream(
                &Sha256::digest(seed).into(),
            )))
            .insecure_random_seed(u128::from_le_bytes(
                seed[..16].try_into().expect("16 bytes"),
            ))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build_p1();
        let limiter = Limiter {
            max_memory: usize::try_from(limits.max_memory).unwrap_or(usize::MAX),
            memory_hit: false,
            memories: 1 + usize::from(self.options.meters_itself()),
        };
        let state = RunState {
            wasi,
            limiter,
            host_since: None,
            host_time: Duration::ZERO,
            fuel: None,
            memory: None,
        };
        let mut store = Store::new(module.engine(), state);
        store.limiter(|s| &mut s.limiter);
        if self.options.wasmtime_meters() {
            store.set_fuel(limits.max_fuel).map_err(internal)?;
        }
        if measure_host {
            store.call_hook(|mut s, hook| {
                let s = s.data_mut();
                match hook {
                    CallHook::CallingHost => s.host_since = Some(Instant::now()),
                    CallHook::ReturningFromHost => {
                        if let Some(t) = s.host_since.take() {
                            s.host_time += t.elapsed();
                        }
                    }
                    CallHook::CallingWasm | CallHook::ReturningFromWasm => {}
                }
                Ok(())
            });
        }
        let ticks = (limits.timeout.as_millis() / TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);

        let linker = self.linker(module.engine())?;

        let inline = self.options.meters_itself();
        let max_fuel = i64::try_from(limits.max_fuel).unwrap_or(i64::MAX);
        let mut meter = None;
        let mut watch = None;
        let mut foreign = false;
        let outcome = linker.instantiate(&mut store, module).and_then(|instance| {
            let memory = instance.get_memory(&mut store, "memory");
            if let (Some(m), false) = (memory, self.options.explicit_bounds_checks) {
                pages::advise(&m, &store);
            }
            if inline {
                let fuel = instance.get_global(&mut store, meter::FUEL_EXPORT);
                let flag = instance.get_memory(&mut store, meter::INTERRUPT_EXPORT);
                let (Some(fuel), Some(flag)) = (fuel, flag) else {
                    foreign = true;
                    return Ok(());
                };
                fuel.set(&mut store, wasmtime::Val::I64(max_fuel))?;
                let state = store.data_mut();
                (state.fuel, state.memory) = (Some(fuel), memory);
                if flag.data_size(&store) != watchdog::PAGE {
                    foreign = true;
                    return Ok(());
                }
                let page = flag.data_ptr(&store) as usize;
                // SAFETY: a one-page memory that cannot grow, owned by `store`, which
                // outlives `watch`; no host code reads it (only the module's code names it)
                #[allow(unsafe_code)]
                let w = unsafe { self.watchdog.watch(page, limits.timeout) };
                watch = Some(w);
                meter = Some(fuel);
            }
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
            start.call(&mut store, ())
        });
        if foreign {
            return Err(Refusal::Internal(
                "the module was not compiled by this executor (it does not meter itself)".into(),
            ));
        }
        let interrupted = watch.take().is_some_and(watchdog::Watch::finish);
        let left = meter.map(|g| g.get(&mut store).i64().unwrap_or(0));
        let fuel_used = if let Some(left) = left {
            max_fuel.saturating_sub(left.max(0)).unsigned_abs()
        } else if self.options.wasmtime_meters() {
            limits
                .max_fuel
                .saturating_sub(store.get_fuel().unwrap_or(0))
        } else {
            0
        };
        let memory_hit = store.data().limiter.memory_hit;
        let host_time = store.data().host_time;
        drop(store);
        let output = std::mem::take(&mut *stdout.buf.lock().expect("output lock"));
        let overflow = stdout.overflow.load(Ordering::Relaxed);
        let detail = outcome.as_ref().err().map(|e| format!("{e:#}"));

        let status = match outcome {
            // a module that meters itself and overdrew its fuel ran out of it, however it
            // ended (it notices at its next check, or not at all if it ends first); it never
            // goes back up, and an interrupt only fires at a check it passed
            _ if left.is_some_and(|l| l < 0) => Status::OutOfFuel,
            Ok(()) => Status::Exited(0),
            Err(e) => {
                let trap = e.downcast_ref::<Trap>();
                if let Some(exit) = e.downcast_ref::<I32Exit>() {
                    Status::Exited(exit.0 as i64)
                } else if interrupted || trap == Some(&Trap::Interrupt) {
                    // before the caps: whatever else the run hit, when it stopped depended
                    // on the clock
                    return Err(Refusal::Timeout(limits.timeout));
                } else if overflow {
                    // however it ended, as running out of fuel
                    Status::OutputLimit
                } else if self.options.inline_meter && trap == Some(&Trap::StackOverflow) {
                    // where the native stack ran out depends on the machine (see
                    // `meter/frames.rs`); the output cap and the fuel were overdrawn before
                    // (above), on every machine
                    return Err(Refusal::StackLimit);
                } else if memory_hit {
                    Status::OutOfMemory
                } else {
                    match trap {
                        Some(Trap::OutOfFuel) => Status::OutOfFuel,
                        Some(_) => Status::Trapped,
                        // link errors (unknown imports) and a missing `_start` are refusals
                        None if is_link_error(&e) => {
                            return Err(Refusal::InvalidModule(format!("{e:#}")))
                        }
                        None => Status::Trapped,
                    }
                }
            }
        };
        let status = if overflow && matches!(status, Status::Exited(_)) {
            Status::OutputLimit
        } else {
            status
        };
        Ok((
            Execution {
                status,
                fuel_used,
                output,
                detail,
            },
            host_time,
        ))
    }
}

fn is_link_error(e: &wasmtime::Error) -> bool {
    let s = format!("{e:#}");
    s.contains("unknown import")
        || s.contains("failed to find function export")
        || s.contains("incompatible import type")
}
