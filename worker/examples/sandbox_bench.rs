//! Sandbox speed: each sample job in wasmtime (runtime `wasi-p1`, fuel metering on) against the
//! same kernel compiled natively, in one run. Prints a table with the ratio native/sandbox
//! (1.0 = as fast as native).
//!
//! `cargo run -p compute-worker --example sandbox-bench [-- --quick]`

use compute_worker::executor::{Executor, Limits};
use std::time::{Duration, Instant};

type Kernel = fn(&[u8], &[String]) -> Result<Vec<u8>, String>;

fn best_of<T>(n: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..n {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        last = Some(v);
    }
    (best, last.expect("n > 0"))
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/jobs/wasm");
    let cases: Vec<(&str, Kernel, Vec<u8>, Vec<String>)> = vec![
        (
            "hash-chain",
            hash_chain::run,
            b"benchmark".to_vec(),
            vec![(2_000_000 / scale).to_string()],
        ),
        (
            "monte-carlo",
            monte_carlo::run,
            b"benchmark".to_vec(),
            vec![(20_000_000 / scale).to_string()],
        ),
        (
            "word-freq",
            word_freq::run,
            "the quick brown fox jumps over the lazy dog; "
                .repeat(200_000 / scale)
                .into_bytes(),
            vec!["10".into()],
        ),
        (
            "mandelbrot",
            mandelbrot::run,
            vec![],
            vec!["640".into(), (480 / scale).to_string(), "1000".into()],
        ),
    ];
    let ex = Executor::new().expect("engine");
    let limits = Limits {
        max_fuel: u64::MAX / 2,
        max_memory: 1 << 30,
        max_output: 64 << 20,
        timeout: Duration::from_secs(600),
    };
    println!("| sample | native | sandbox | native/sandbox | compile | fuel |");
    println!("|---|---|---|---|---|---|");
    let mut ratios = vec![];
    for (name, kernel, input, args) in cases {
        let bytes = std::fs::read(format!("{root}/{name}.wasm")).expect("committed module");
        let (compile, module) = best_of(1, || ex.compile(&bytes).expect("valid module"));
        let (native, expected) = best_of(3, || kernel(&input, &args).expect("native run"));
        let (sandbox, x) = best_of(3, || {
            ex.run(&module, &input, &args, &[0; 32], limits)
                .expect("sandbox run")
        });
        assert_eq!(
            x.output, expected,
            "{name}: sandbox and native outputs differ"
        );
        let ratio = native.as_secs_f64() / sandbox.as_secs_f64();
        ratios.push(ratio);
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {ratio:.2} | {:.0} ms | {} |",
            native.as_secs_f64() * 1e3,
            sandbox.as_secs_f64() * 1e3,
            compile.as_secs_f64() * 1e3,
            x.fuel_used
        );
    }
    let geo = ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64;
    println!("\ngeometric mean native/sandbox: {:.2}", geo.exp());
}
