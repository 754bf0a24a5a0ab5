//! Sandbox speed: each sample job in the worker's executor (wasmtime, fuel metering, epoch
//! interruption and NaN canonicalisation on, as in production) against the same kernel compiled
//! natively, best of three each, outputs compared byte for byte.

use super::report::SandboxRow;
use anyhow::{anyhow, ensure, Result};
use compute_worker::executor::{Executor, Limits};
use std::time::{Duration, Instant};

type Kernel = fn(&[u8], &[String]) -> Result<Vec<u8>, String>;
/// Name, native kernel, committed module, input, arguments.
type Case = (&'static str, Kernel, &'static [u8], Vec<u8>, Vec<String>);

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
    let cases: Vec<Case> = vec![
        (
            "hash-chain",
            hash_chain::run,
            include_bytes!("../../../../examples/jobs/wasm/hash-chain.wasm"),
            b"benchmark".to_vec(),
            vec![(2_000_000 / scale).to_string()],
        ),
        (
            "monte-carlo",
            monte_carlo::run,
            include_bytes!("../../../../examples/jobs/wasm/monte-carlo.wasm"),
            b"benchmark".to_vec(),
            vec![(20_000_000 / scale).to_string()],
        ),
        (
            "word-freq",
            word_freq::run,
            include_bytes!("../../../../examples/jobs/wasm/word-freq.wasm"),
            "the quick brown fox jumps over the lazy dog; "
                .repeat(200_000 / scale)
                .into_bytes(),
            vec!["10".into()],
        ),
        (
            "mandelbrot",
            mandelbrot::run,
            include_bytes!("../../../../examples/jobs/wasm/mandelbrot.wasm"),
            vec![],
            vec!["640".into(), (480 / scale).to_string(), "1000".into()],
        ),
    ];
    let ex = Executor::new().map_err(|e| anyhow!("{e}"))?;
    let limits = Limits {
        max_fuel: u64::MAX / 2,
        max_memory: 1 << 30,
        max_output: 64 << 20,
        timeout: Duration::from_secs(600),
    };
    let mut rows = vec![];
    for (name, kernel, wasm, input, args) in cases {
        let (compile, module) = best_of(1, || ex.compile(wasm).map_err(|e| anyhow!("{e}")))?;
        let (native, expected) = best_of(3, || kernel(&input, &args).map_err(|e| anyhow!(e)))?;
        let (sandbox, x) = best_of(3, || {
            ex.run(&module, &input, &args, &[0; 32], limits)
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
