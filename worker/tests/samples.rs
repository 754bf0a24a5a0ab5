//! The sample jobs (examples/jobs, committed as wasm32-wasip1 modules) run in the worker's
//! sandbox and give exactly what the same kernels give natively, plus known answers.

use compute_market_client::merkle::ExitStatus;
use compute_worker::executor::{Executor, Limits};
use std::time::Duration;

fn wasm(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../examples/jobs/wasm/{name}.wasm",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (run examples/jobs/build.sh)"))
}

fn run(name: &str, input: &[u8], args: &[&str]) -> Vec<u8> {
    let ex = Executor::new().unwrap();
    let module = ex.compile(&wasm(name)).unwrap();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let limits = Limits {
        max_fuel: 20_000_000_000,
        max_memory: 256 << 20,
        max_output: 16 << 20,
        timeout: Duration::from_secs(120),
    };
    let x = ex.run(&module, input, &args, &[3; 32], limits).unwrap();
    assert_eq!(x.status, ExitStatus::Exited(0), "{name}: {:?}", x.detail);
    // and a second run gives the same bytes and fuel
    let y = ex.run(&module, input, &args, &[3; 32], limits).unwrap();
    assert_eq!(x, y, "{name} is deterministic");
    x.output
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[test]
fn hash_chain() {
    let out = run("hash-chain", b"seed", &["1"]);
    // sha256("seed"), computed independently
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "19b25856e1c150ca834cffc8b59b23adbd0ec0389e58eb22b3b64768098d002b 1\n"
    );
    let args = ["5000"];
    let out = run("hash-chain", b"compute market", &args);
    assert_eq!(
        out,
        hash_chain::run(b"compute market", &strings(&args)).unwrap()
    );
}

#[test]
fn monte_carlo() {
    let args = ["200000"];
    let out = run("monte-carlo", b"job seed", &args);
    assert_eq!(out, monte_carlo::run(b"job seed", &strings(&args)).unwrap());
    let text = String::from_utf8(out).unwrap();
    let pi: f64 = text.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!((pi - std::f64::consts::PI).abs() < 0.02, "{text}");
    assert_ne!(
        text,
        String::from_utf8(run("monte-carlo", b"other seed", &args)).unwrap()
    );
}

#[test]
fn word_frequencies() {
    let text = b"The cat and the hat. THE end -- isn't it? The cat's hat!";
    let out = String::from_utf8(run("word-freq", text, &["3"])).unwrap();
    assert_eq!(
        out,
        "12 words, 8 distinct\n       4 the\n       2 hat\n       1 and\n"
    );
    let out = run("word-freq", "Ünïcode wörds, ünïcode!".as_bytes(), &[]);
    assert_eq!(
        out,
        word_freq::run("Ünïcode wörds, ünïcode!".as_bytes(), &[]).unwrap()
    );
}

#[test]
fn mandelbrot_renders_a_png() {
    let args = ["96", "64", "120"];
    let png = run("mandelbrot", b"", &args);
    assert_eq!(png, mandelbrot::run(b"", &strings(&args)).unwrap());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 96);
    assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 64);
    assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
    // the set's centre is inside (palette index 255), a far corner is outside
    let iters = mandelbrot::iterations(&mandelbrot::parse(&strings(&args)).unwrap());
    assert_eq!(iters[32 * 96 + 60], 120);
    assert!(iters[0] < 5);
}

#[test]
fn bad_arguments_are_exit_codes_not_crashes() {
    let ex = Executor::new().unwrap();
    let module = ex.compile(&wasm("hash-chain")).unwrap();
    let limits = Limits {
        max_fuel: 1_000_000_000,
        max_memory: 64 << 20,
        max_output: 1 << 16,
        timeout: Duration::from_secs(60),
    };
    let x = ex
        .run(&module, b"", &strings(&["many"]), &[0; 32], limits)
        .unwrap();
    assert_eq!(x.status, ExitStatus::Exited(1));
}
