//! Sandbox speed: each sample job in the worker's executor (wasmtime, fuel metering, epoch
//! interruption and NaN canonicalisation on, as in production) against the same kernel compiled
//! natively, best of three each, outputs compared byte for byte.

use super::report::SandboxRow;
use anyhow::{anyhow, ensure, Result};
use compute_market_client::manifest::DEFAULT_RUNTIME;
use compute_sandbox::samples::{LIMITS, SAMPLES};
use compute_worker::executor::Executor;
use std::time::{Duration, Instant};

type Kernel = fn(&[u8], &[String]) -> Result<Vec<u8>, String>;

/// The native twin of sample `name` (the same crate, compiled into this binary).
fn kernel(name: &str) -> Result<Kernel> {
    Ok(match name {
        "hash-chain" => hash_chain::run,
        "monte-carlo" => monte_carlo::run,
        "word-freq" => word_freq::run,
        "mandelbrot" => mandelbrot::run,
        "digits" => digits::run,
        other => return Err(anyhow!("no native kernel for sample {other}")),
    })
}

fn best_of<T>(n: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Duration, T)> {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..n {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed());
        last = Some(v);
    }
    Ok((best, last.expect("n > 0")))
}

pub fn run(quick: bool) -> Result<Vec<SandboxRow>> {
    let scale = if quick { 10 } else { 1 };
    let ex = Executor::new().map_err(|e| anyhow!("{e}"))?;
    let mut rows = vec![];
    for sample in SAMPLES {
        let (name, wasm, kernel) = (sample.name, sample.wasm, kernel(sample.name)?);
        let (input, args) = sample.workload(scale);
        let (compile, module) = best_of(1, || {
            ex.compile(DEFAULT_RUNTIME, wasm)
                .map_err(|e| anyhow!("{e}"))
        })?;
        let (native, expected) = best_of(3, || kernel(&input, &args).map_err(|e| anyhow!(e)))?;
        let (sandbox, x) = best_of(3, || {
            ex.run(&module, &input, &args, &[0; 32], LIMITS)
                .map_err(|e| anyhow!("{e}"))
        })?;
        ensure!(
            x.output == expected,
            "{name}: the sandbox and native outputs differ"
        );
        rows.push(SandboxRow {
            sample: name.to_string(),
            native_ms: native.as_secs_f64() * 1e3,
            sandbox_ms: sandbox.as_secs_f64() * 1e3,
            ratio: native.as_secs_f64() / sandbox.as_secs_f64(),
            compile_ms: compile.as_secs_f64() * 1e3,
            fuel: x.fuel_used,
        });
    }
    Ok(rows)
}
