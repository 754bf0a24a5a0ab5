//! What the tests of runtime `wasi-p1v3`'s metering and host functions share: small WASI
//! modules, and runs that fail the test instead of hanging it.
#![allow(dead_code)] // not every test binary runs metered modules

use compute_sandbox::{Executor, Limits, Options, Refusal, RUNTIME_V3};
use std::time::Duration;

/// The limits of the metering tests' runs: 50 million units of fuel, 64 MiB, 64 KiB of
/// output, 30 s.
pub const LIMITS: Limits = Limits {
    max_fuel: 50_000_000,
    max_memory: 64 << 20,
    max_output: 1 << 16,
    timeout: Duration::from_secs(30),
};

/// The limits of the sample jobs' runs at the tests' workloads.
pub const SAMPLE_LIMITS: Limits = Limits {
    max_fuel: 20_000_000_000,
    max_memory: 256 << 20,
    max_output: 16 << 20,
    timeout: Duration::from_secs(120),
};

/// Runtime `wasi-p1v3`'s executor.
pub fn v3() -> Executor {
    Executor::with(Options::for_runtime(RUNTIME_V3).unwrap(), None).unwrap()
}

/// A module importing WASI's `fd_write` as `$write`, with a one-page memory, and `body`.
pub fn module(body: &str) -> Vec<u8> {
    module_importing("", body)
}

/// [`module`] with more imports.
pub fn module_importing(imports: &str, body: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  {imports}
  (memory (export "memory") 1)
  {body})"#
    ))
    .unwrap()
}

/// Runs `wasm` under wasi-p1v3 on a thread of its own, failing the test (instead of hanging it)
/// if the run does not end within a minute.
pub fn run(wasm: &[u8], limits: Limits) -> Result<compute_sandbox::Execution, Refusal> {
    run_with(Options::for_runtime(RUNTIME_V3).unwrap(), wasm, limits)
}

/// [`run`] with `options`.
pub fn run_with(
    options: Options,
    wasm: &[u8],
    limits: Limits,
) -> Result<compute_sandbox::Execution, Refusal> {
    let wasm = wasm.to_vec();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ex = Executor::with(options, None).unwrap();
        let r = ex
            .compile(&wasm)
            .and_then(|m| ex.run(&m, b"", &[], &[0; 32], limits));
        let _ = tx.send(r);
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the run ended")
}
