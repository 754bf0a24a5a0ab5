//! The sandbox against native code, as a provider would run both: this example in release mode,
//! and each sample job built natively in release mode as its own binary (`scripts/bench`
//! builds them), run on the same input and arguments.
//!
//! For every sample it prints the time natively and in the sandbox, their ratio (native time /
//! sandbox time: 1.0 is native speed) under runtime `wasi-p1v3`, and what each safeguard
//! costs: the ratio again under the runtimes before it (`wasi-p1v2`, with wasmtime's fuel and
//! epoch checks; `wasi-p1`, which also canonicalises every float result), with fuel metering
//! and the timeout, NaN canonicalisation or guard-page bounds checking changed one at a time,
//! and the share of the run spent in WASI host calls. It also prints the compile time of each module
//! and the time to load it from the disk cache instead. Every figure is from this one run.
//!
//! ```text
//! cargo run --release -p compute-sandbox --example bench -- \
//!     --natives DIR [--soft-natives DIR] [--runs N] [--scale N]
//! ```
//!
//! `--natives DIR` holds the native binaries (`DIR/hash-chain`, ...); `--soft-natives DIR`
//! holds binaries built with the `soft` feature (hash-chain without the CPU's SHA
//! instructions, the code path the wasm module runs), reported as a second native column.

use compute_sandbox::samples::{HASH_CHAIN_HOST, LIMITS, SAMPLES};
use compute_sandbox::{Executor, Module, Options};
use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

struct Args {
    natives: PathBuf,
    soft: Option<PathBuf>,
    runs: usize,
    scale: usize,
}

fn args() -> Result<Args, String> {
    let mut natives = None;
    let mut soft = None;
    let (mut runs, mut scale) = (5, 1);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--natives" => natives = Some(PathBuf::from(value()?)),
            "--soft-natives" => soft = Some(PathBuf::from(value()?)),
            "--runs" => runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--scale" => scale = value()?.parse().map_err(|e| format!("--scale: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        natives: natives.ok_or("--natives DIR is required")?,
        soft,
        runs: runs.max(1),
        scale,
    })
}

/// The fastest of `runs` runs of `f`, and its last value.
fn best_of<T>(runs: usize, mut f: impl FnMut() -> Result<T, String>) -> Result<(f64, T), String> {
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        last = Some(v);
    }
    Ok((best, last.expect("runs > 0")))
}

/// Runs a native sample binary on `input` with `args`; its stdout.
fn native(bin: &Path, input: &[u8], args: &[String]) -> Result<Vec<u8>, String> {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("running {}: {e}", bin.display()))?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    writer
        .join()
        .expect("stdin writer")
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("{} failed: {}", bin.display(), out.status));
    }
    Ok(out.stdout)
}

/// Runtime `wasi-p1v3` (what new jobs ask for) with one setting changed.
const fn v3(fuel: bool, nan_canonicalization: bool, explicit_bounds_checks: bool) -> Options {
    Options {
        fuel,
        nan_canonicalization,
        explicit_bounds_checks,
        lazy_nan: true,
        inline_meter: true,
        counted_loops: true,
        inline_leaves: true,
        lazy_vector_nan: true,
        frame_check: true,
        unique_touches: compute_sandbox::meter::UNIQUE_TOUCHES,
    }
}

/// The variants measured: production (`wasi-p1v3`) first, then the runtimes before it
/// (`wasi-p1v2`: wasmtime's fuel and epoch checks; `wasi-p1`: also every float result
/// canonicalised), then `wasi-p1v3` with every loop metered per iteration, every call a call and
/// vector results canonicalised by Cranelift (the same counts and bits), then one safeguard of
/// `wasi-p1v3` switched off each.
const VARIANTS: [(&str, Options); 7] = [
    ("wasi-p1v3", v3(true, true, false)),
    (
        "wasi-p1v2 (wasmtime's fuel and epochs)",
        Options {
            inline_meter: false,
            counted_loops: false,
            inline_leaves: false,
            lazy_vector_nan: false,
            frame_check: false,
            ..v3(true, true, false)
        },
    ),
    (
        "wasi-p1 (NaN canon. everywhere)",
        Options {
            lazy_nan: false,
            inline_meter: false,
            counted_loops: false,
            inline_leaves: false,
            lazy_vector_nan: false,
            frame_check: false,
            ..v3(true, true, false)
        },
    ),
    (
        "wasi-p1v3 without counted loops, inlined leaves and SIMD NaN rule",
        Options {
            counted_loops: false,
            inline_leaves: false,
            lazy_vector_nan: false,
            ..v3(true, true, false)
        },
    ),
    ("no fuel, no timeout", v3(false, true, false)),
    ("no NaN canon.", v3(true, false, false)),
    ("explicit bounds checks", v3(true, true, true)),
];

fn main() -> Result<(), String> {
    let a = args()?;
    assert_eq!(
        Some(VARIANTS[0].1),
        Options::for_runtime(compute_sandbox::RUNTIME_V3),
        "production first"
    );
    assert_eq!(
        Some(VARIANTS[1].1),
        Options::for_runtime(compute_sandbox::RUNTIME_V2)
    );
    assert_eq!(
        Some(VARIANTS[2].1),
        Options::for_runtime(compute_sandbox::RUNTIME)
    );
    let engines: Vec<Executor> = VARIANTS
        .iter()
        .map(|(_, o)| Executor::with(*o, None).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let cache = std::env::temp_dir().join(format!("cmkt-sandbox-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);

    println!("| sample | native ms | sandbox ms | ratio | {} | host calls | compile ms | cached load ms |",
        VARIANTS[1..].iter().map(|(n, _)| format!("ratio, {n}")).collect::<Vec<_>>().join(" | "));
    println!(
        "|---|---:|---:|---:|{}---:|---:|---:|",
        "---:|".repeat(VARIANTS.len() - 1)
    );
    let mut ratios = vec![];
    let mut soft_rows = vec![];
    for sample in SAMPLES {
        let (input, args) = sample.workload(a.scale);
        let run = |ex: &Executor, m: &Module| {
            ex.run(m, &input, &args, &[0; 32], LIMITS)
                .map_err(|e| e.to_string())
        };
        let (compile_ms, _) = best_of(a.runs, || {
            engines[0].compile(sample.wasm).map_err(|e| e.to_string())
        })?;
        // a cache filled by one executor, loaded by fresh ones (a restarted worker)
        let production = || Executor::with(VARIANTS[0].1, Some(&cache));
        production()
            .and_then(|ex| ex.compile(sample.wasm))
            .map_err(|e| e.to_string())?;
        let mut cached_ms = f64::MAX;
        for _ in 0..a.runs {
            let ex = production().map_err(|e| e.to_string())?;
            let t = Instant::now();
            ex.compile(sample.wasm).map_err(|e| e.to_string())?;
            cached_ms = cached_ms.min(t.elapsed().as_secs_f64() * 1e3);
            if ex.cache_stats().map(|s| s.hits) != Some(1) {
                return Err(format!(
                    "{}: the cached module was compiled again",
                    sample.name
                ));
            }
        }

        let bin = a.natives.join(sample.name);
        let modules: Vec<Module> = engines
            .iter()
            .map(|ex| ex.compile(sample.wasm).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        // rounds of native, then every variant once: a machine that slows down for a while
        // slows every column alike, and each column keeps its fastest round
        let soft_bin = a
            .soft
            .as_ref()
            .map(|d| d.join(sample.name))
            .filter(|b| b.exists());
        let mut native_ms = f64::MAX;
        let mut soft_ms = f64::MAX;
        let mut times = vec![f64::MAX; VARIANTS.len()];
        for _ in 0..a.runs {
            let (ms, expected) = best_of(1, || native(&bin, &input, &args))?;
            native_ms = native_ms.min(ms);
            if let Some(soft) = &soft_bin {
                let (ms, out) = best_of(1, || native(soft, &input, &args))?;
                if out != expected {
                    return Err(format!("{}: the soft native output differs", sample.name));
                }
                soft_ms = soft_ms.min(ms);
            }
            for (i, (ex, m)) in engines.iter().zip(&modules).enumerate() {
                let (ms, x) = best_of(1, || run(ex, m))?;
                if x.output != expected {
                    let name = VARIANTS[i].0;
                    return Err(format!("{}: {name} and native outputs differ", sample.name));
                }
                times[i] = times[i].min(ms);
            }
        }
        let m = engines[0].compile(sample.wasm).map_err(|e| e.to_string())?;
        let (wall, host) = engines[0]
            .run_measured(&m, &input, &args, &[0; 32], LIMITS)
            .map(|(_, host)| (times[0], host.as_secs_f64() * 1e3))
            .map_err(|e| e.to_string())?;
        let r = |ms: f64| native_ms / ms;
        ratios.push(times.iter().map(|&t| r(t)).collect::<Vec<_>>());
        println!(
            "| {} | {native_ms:.1} | {:.1} | {:.2} | {} | {:.1}% | {compile_ms:.0} | {cached_ms:.1} |",
            sample.name,
            times[0],
            r(times[0]),
            times[1..].iter().map(|&t| format!("{:.2}", r(t))).collect::<Vec<_>>().join(" | "),
            100.0 * host / wall,
        );
        if soft_bin.is_some() {
            soft_rows.push((sample.name, soft_ms, soft_ms / times[0]));
        }
    }
    let geomean = |i: usize| {
        let logs: f64 = ratios.iter().map(|r| r[i].ln()).sum();
        (logs / ratios.len() as f64).exp()
    };
    println!(
        "| geometric mean | | | {:.2} | {} | | | |",
        geomean(0),
        (1..VARIANTS.len())
            .map(|i| format!("{:.2}", geomean(i)))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    for (name, ms, ratio) in &soft_rows {
        println!("\n{name} natively on the wasm module's code path (sha2 `force-soft`, no SHA instructions): {ms:.1} ms, ratio {ratio:.2}");
    }
    if !soft_rows.is_empty() {
        // what the sandbox itself costs: every sample against native code running its own
        // algorithm (hash-chain against the soft build)
        let logs: f64 = SAMPLES
            .iter()
            .zip(&ratios)
            .map(|(s, r)| {
                soft_rows
                    .iter()
                    .find(|(name, ..)| *name == s.name)
                    .map_or(r[0], |&(.., soft)| soft)
                    .ln()
            })
            .sum();
        println!(
            "\ngeometric mean with {} against that build (each sample against native code on its own code path: the sandbox's cost alone): {:.2}",
            soft_rows.iter().map(|(name, ..)| *name).collect::<Vec<_>>().join(", "),
            (logs / ratios.len() as f64).exp()
        );
    }
    // hash-chain asking the host for sha256, against the same native binary
    let host = HASH_CHAIN_HOST;
    let (input, args) = host.workload(a.scale);
    let m = engines[0].compile(host.wasm).map_err(|e| e.to_string())?;
    let bin = a.natives.join(SAMPLES[0].name);
    let (mut native_ms, mut host_ms) = (f64::MAX, f64::MAX);
    for _ in 0..a.runs {
        let (ms, expected) = best_of(1, || native(&bin, &input, &args))?;
        native_ms = native_ms.min(ms);
        let (ms, x) = best_of(1, || {
            engines[0]
                .run(&m, &input, &args, &[0; 32], LIMITS)
                .map_err(|e| e.to_string())
        })?;
        if x.output != expected {
            return Err(format!("{}: sandbox and native outputs differ", host.name));
        }
        host_ms = host_ms.min(ms);
    }
    let ratio = native_ms / host_ms;
    let others: f64 = ratios[1..].iter().map(|r| r[0].ln()).sum();
    let with_host = ((others + ratio.ln()) / ratios.len() as f64).exp();
    println!(
        "\n{} (the same job asking the runtime for each sha256, `cmkt.sha256`, {} only): native {native_ms:.1} ms, sandbox {host_ms:.1} ms, ratio {ratio:.2}; geometric mean with it in place of hash-chain: {with_host:.2}",
        host.name, VARIANTS[0].0
    );
    let _ = std::fs::remove_dir_all(&cache);
    Ok(())
}
