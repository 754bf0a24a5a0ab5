//! One sample job in the sandbox, for a profiler: compiles its module once, then runs it on the
//! benchmark's workload `--runs` times (default 1), printing each run's time and fuel.
//! `scripts/count-instructions` runs it under valgrind: the difference between two runs and one
//! is a run's instruction count, a figure the machine's noise does not move.
//!
//! ```text
//! cargo run --release -p compute-sandbox --example profile -- SAMPLE [--runs N] [--no-fuel]
//! cargo run --release -p compute-sandbox --example profile -- SAMPLE --workload FILE
//! ```
//!
//! `SAMPLE` is a name of `compute_sandbox::samples` (or `hash-chain-host`); it runs under
//! runtime `wasi-p1v3`, or with `--no-fuel` without metering and timeout (as the benchmark's
//! column of that name). `--workload FILE` writes the workload's input to `FILE` and prints its
//! arguments instead, for the native binary.

use compute_sandbox::samples::{HASH_CHAIN_HOST, LIMITS, SAMPLES};
use compute_sandbox::{Executor, Options, RUNTIME_V3};
use std::time::Instant;

fn main() -> Result<(), String> {
    let mut it = std::env::args().skip(1);
    let name = it
        .next()
        .ok_or("usage: profile SAMPLE [--runs N] [--no-fuel] [--workload FILE]")?;
    let (mut runs, mut fuel, mut workload) = (1, true, None);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--runs" => {
                runs = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--runs needs a number")?
            }
            "--no-fuel" => fuel = false,
            "--workload" => workload = Some(it.next().ok_or("--workload needs a file")?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let sample = SAMPLES
        .iter()
        .chain([&HASH_CHAIN_HOST])
        .find(|s| s.name == name)
        .ok_or(format!("no sample {name}"))?;
    let (input, args) = sample.workload(1);
    if let Some(file) = workload {
        std::fs::write(&file, &input).map_err(|e| format!("{file}: {e}"))?;
        println!("{}", args.join(" "));
        return Ok(());
    }
    let options = Options {
        fuel,
        ..Options::for_runtime(RUNTIME_V3).expect("a runtime")
    };
    let executor = Executor::with(options, None).map_err(|e| e.to_string())?;
    let module = executor.compile(sample.wasm).map_err(|e| e.to_string())?;
    for _ in 0..runs {
        let t = Instant::now();
        let x = executor
            .run(&module, &input, &args, &[0; 32], LIMITS)
            .map_err(|e| e.to_string())?;
        println!(
            "{name}: {:.1} ms, fuel {}, {:?}",
            t.elapsed().as_secs_f64() * 1e3,
            x.fuel_used,
            x.status
        );
    }
    Ok(())
}
