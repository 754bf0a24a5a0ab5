//! The sandbox as the worker uses it: [`compute_sandbox`] runs a job's `wasm32-wasip1` module
//! deterministically (runtime `wasi-p1`: fuel, memory and output caps, no file system or
//! network, a fixed clock, randomness seeded by the job address; see that crate), and this
//! module turns its outcome into the [`ResultSummary`] whose root the worker commits.
//!
//! A worker's executor keeps compiled modules on disk ([`Executor::cached`]), so a module it
//! has seen before, in this process or an earlier one, is loaded instead of compiled.

use compute_market_client::merkle::{ExitStatus, ResultSummary};
pub use compute_sandbox::{CacheStats, Limits, Module, Refusal};
use std::path::Path;

/// The runtime id this executor implements (the same string as [`compute_sandbox::RUNTIME`]).
pub const RUNTIME: &str = compute_market_client::manifest::RUNTIME_WASI_P1;

/// What a run produced. Identical for every honest provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
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
        ResultSummary::new(RUNTIME, self.status, self.fuel_used, &self.output)
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

impl From<compute_sandbox::Execution> for Execution {
    fn from(x: compute_sandbox::Execution) -> Self {
        Execution {
            status: exit_status(x.status),
            fuel_used: x.fuel_used,
            output: x.output,
            detail: x.detail,
        }
    }
}

/// Runtime `wasi-p1`'s engine with its timeout clock, always with the sandbox's default
/// options: a worker never commits to a run of another configuration.
pub struct Executor(compute_sandbox::Executor);

impl Executor {
    /// An executor that compiles every module it is given.
    pub fn new() -> Result<Self, Refusal> {
        compute_sandbox::Executor::new().map(Executor)
    }

    /// An executor that keeps compiled modules in `dir` (created if missing), keyed by the
    /// module's hash, the engine's configuration and wasmtime's version.
    pub fn cached(dir: &Path) -> Result<Self, Refusal> {
        compute_sandbox::Executor::cached(dir).map(Executor)
    }

    /// Compiles (or loads from the disk cache) a module and checks that it can run here; an
    /// invalid module is refused before a worker claims its job.
    pub fn compile(&self, module: &[u8]) -> Result<Module, Refusal> {
        self.0.compile(module)
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
        self.0
            .run(module, input, args, seed, limits)
            .map(Into::into)
    }

    /// Hits and misses of the disk cache since start; `None` without one.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.0.cache_stats()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sandbox_implements_the_protocols_runtime() {
        assert_eq!(super::RUNTIME, compute_sandbox::RUNTIME);
    }
}
