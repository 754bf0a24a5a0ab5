//! The sandbox as the worker uses it: [`compute_sandbox`] runs a job's `wasm32-wasip1` module
//! deterministically (runtimes `wasi-p1`, `wasi-p1v2` and `wasi-p1v3`: fuel, memory and output caps, no
//! file system or network, a fixed clock, randomness seeded by the job address; see that
//! crate), and this module turns its outcome into the [`ResultSummary`] whose root the worker
//! commits.
//!
//! A worker's executor keeps compiled modules on disk ([`Executor::cached`]), so a module it
//! has seen before, in this process or an earlier one, is loaded instead of compiled.

use compute_market_client::merkle::{ExitStatus, ResultSummary};
pub use compute_sandbox::{CacheStats, Limits, Module, Refusal};
use std::path::Path;

/// The runtime ids this executor implements (the same strings as
/// [`compute_sandbox::RUNTIMES`]).
pub const RUNTIMES: [&str; 3] = [
    compute_market_client::manifest::RUNTIME_WASI_P1,
    compute_market_client::manifest::RUNTIME_WASI_P1V2,
    compute_market_client::manifest::RUNTIME_WASI_P1V3,
];

/// What a run produced. Identical for every honest provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    /// The runtime it ran in (part of the result root).
    pub runtime: &'static str,
    pub status: ExitStatus,
    pub fuel_used: u64,
    /// stdout, cut at `max_output`.
    pub output: Vec<u8>,
    /// How the run ended when it did not return normally (trap or exit message), for logs.
    pub detail: Option<String>,
}

impl Execution {
    /// The result summary whose root is committed on-chain.
    pub fn summary(&self) -> ResultSummary {
        ResultSummary::new(self.runtime, self.status, self.fuel_used, &self.output)
    }
}

/// The protocol's name for how a sandboxed run ended.
pub fn exit_status(status: compute_sandbox::Status) -> ExitStatus {
    use compute_sandbox::Status;
    match status {
        Status::Exited(code) => ExitStatus::Exited(code),
        Status::Trapped => ExitStatus::Trapped,
        Status::OutOfFuel => ExitStatus::OutOfFuel,
        Status::OutOfMemory => ExitStatus::OutOfMemory,
        Status::OutputLimit => ExitStatus::OutputLimit,
    }
}

impl Execution {
    fn new(runtime: &'static str, x: compute_sandbox::Execution) -> Self {
        Execution {
            runtime,
            status: exit_status(x.status),
            fuel_used: x.fuel_used,
            output: x.output,
            detail: x.detail,
        }
    }
}

/// The sandbox configured for runtime `wasi-p1v2`, which also holds the engine of runtime
/// `wasi-p1` (see [`compute_sandbox::Executor::compile_for`]), and the one for `wasi-p1v3`
/// (the module meters itself). A worker never commits to a run of another configuration.
pub struct Executor {
    v2: compute_sandbox::Executor,
    v3: compute_sandbox::Executor,
}

/// A module compiled for one runtime.
#[derive(Clone)]
pub struct Compiled {
    pub runtime: &'static str,
    pub module: Module,
}

impl Executor {
    /// An executor that compiles every module it is given.
    pub fn new() -> Result<Self, Refusal> {
        Self::with_cache(None)
    }

    /// An executor that keeps compiled modules in `dir` (created if missing), keyed by the
    /// module's hash, the engine's configuration and wasmtime's version.
    pub fn cached(dir: &Path) -> Result<Self, Refusal> {
        Self::with_cache(Some(dir))
    }

    fn with_cache(dir: Option<&Path>) -> Result<Self, Refusal> {
        let sandbox = |id: &str| {
            let options = compute_sandbox::Options::for_runtime(id)
                .ok_or_else(|| Refusal::Internal(format!("the sandbox lacks runtime {id}")))?;
            compute_sandbox::Executor::with(options, dir)
        };
        Ok(Executor {
            v2: sandbox(compute_sandbox::RUNTIME_V2)?,
            v3: sandbox(compute_sandbox::RUNTIME_V3)?,
        })
    }

    /// The sandbox that runs `runtime`.
    fn sandbox(&self, runtime: &str) -> &compute_sandbox::Executor {
        if runtime == compute_sandbox::RUNTIME_V3 {
            &self.v3
        } else {
            &self.v2
        }
    }

    /// Compiles (or loads from the disk cache) a module for `runtime` and checks that it can
    /// run here; an invalid module, or a runtime this worker lacks, is refused before a worker
    /// claims its job.
    pub fn compile(&self, runtime: &str, module: &[u8]) -> Result<Compiled, Refusal> {
        let id = RUNTIMES
            .into_iter()
            .find(|id| *id == runtime)
            .ok_or_else(|| {
                Refusal::InvalidModule(format!("runtime {runtime} is not one of {RUNTIMES:?}"))
            })?;
        Ok(Compiled {
            runtime: id,
            module: self.sandbox(id).compile_for(id, module)?,
        })
    }

    /// Runs `module` on `input` with `args`, random bytes seeded by `seed` (the job address).
    pub fn run(
        &self,
        compiled: &Compiled,
        input: &[u8],
        args: &[String],
        seed: &[u8; 32],
        limits: Limits,
    ) -> Result<Execution, Refusal> {
        self.sandbox(compiled.runtime)
            .run(&compiled.module, input, args, seed, limits)
            .map(|x| Execution::new(compiled.runtime, x))
    }

    /// Hits and misses of the disk cache since start; `None` without one.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        let (a, b) = (self.v2.cache_stats()?, self.v3.cache_stats()?);
        Some(CacheStats {
            hits: a.hits + b.hits,
            misses: a.misses + b.misses,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sandbox_implements_the_protocols_runtimes() {
        assert_eq!(super::RUNTIMES, compute_sandbox::RUNTIMES);
        assert_eq!(
            compute_market_client::manifest::DEFAULT_RUNTIME,
            compute_sandbox::RUNTIME_V3
        );
    }
}
