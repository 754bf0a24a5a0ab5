//! The sample jobs (examples/jobs, committed as wasm32-wasip1 modules) run in the worker's
//! sandbox and give exactly what the same kernels give natively, plus known answers.

use compute_market_client::merkle::ExitStatus;
use compute_worker::executor::{Executor, Limits, RUNTIMES};
use std::time::Duration;

fn wasm(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../examples/jobs/wasm/{name}.wasm",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (run examples/jobs/build.sh)"))
}

const LIMITS: Limits = Limits {
    max_fuel: 20_000_000_000,
    max_memory: 256 << 20,
    max_output: 16 << 20,
    timeout: Duration::from_secs(120),
};

/// The sample's output in every runtime (they must agree), each run twice to the same bytes
/// and fuel.
fn run(name: &str, input: &[u8], args: &[&str]) -> Vec<u8> {
    let ex = Executor::new().unwrap();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let outputs: Vec<Vec<u8>> = RUNTIMES
        .iter()
        .map(|runtime| {
            let module = ex.compile(runtime, &wasm(name)).unwrap();
            let x = ex.run(&module, input, &args, &[3; 32], LIMITS).unwrap();
            assert_eq!(x.status, ExitStatus::Exited(0), "{name}: {:?}", x.detail);
            let y = ex.run(&module, input, &args, &[3; 32], LIMITS).unwrap();
            assert_eq!(x, y, "{name} is deterministic in {runtime}");
            x.output
        })
        .collect();
    assert!(
        outputs.windows(2).all(|w| w[0] == w[1]),
        "{name}: the runtimes agree"
    );
    outputs.into_iter().next().unwrap()
}

#[test]
fn the_runtimes_agree_on_outputs_and_differ_in_fuel_and_root() {
    // wasi-p1v2 canonicalises NaNs only where seen: more wasm instructions (fuel), the same
    // bytes; wasi-p1v3 counts fuel itself, to other counts; the runtime is part of the root,
    // so their roots never mix
    let ex = Executor::new().unwrap();
    let args = strings(&["64", "48", "100"]);
    let [p1, p1v2, p1v3] = RUNTIMES.map(|runtime| {
        let module = ex.compile(runtime, &wasm("mandelbrot")).unwrap();
        ex.run(&module, b"", &args, &[3; 32], LIMITS).unwrap()
    });
    assert_eq!(
        (p1.runtime, p1v2.runtime, p1v3.runtime),
        ("wasi-p1", "wasi-p1v2", "wasi-p1v3")
    );
    assert_eq!(p1.output, p1v2.output);
    assert_eq!(p1.output, p1v3.output);
    assert!(
        p1v2.fuel_used > p1.fuel_used,
        "{} vs {}",
        p1v2.fuel_used,
        p1.fuel_used
    );
    assert_ne!(p1v3.fuel_used, p1v2.fuel_used);
    let job = compute_market_client::Pubkey::new_unique();
    let roots = [&p1, &p1v2, &p1v3].map(|x| x.summary().root(&job));
    assert!(roots[0] != roots[1] && roots[1] != roots[2] && roots[0] != roots[2]);
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
fn digits_classifies_in_f32_exactly_as_natively() {
    // the held-out images: two sandbox runs (compared in `run`) and the native kernel agree on
    // every label and on the bits of every logit
    let out = run("digits", digits::TEST_IMAGES, &[]);
    assert_eq!(out, digits::run(digits::TEST_IMAGES, &[]).unwrap());
    let text = String::from_utf8(out).unwrap();
    let correct: usize = text
        .split(", ")
        .find_map(|part| part.strip_prefix("correct "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(text.starts_with("images 360, labelled 360, "), "{text}");
    assert!(correct >= 340, "{text}");
    let labels = text
        .lines()
        .nth(1)
        .unwrap()
        .strip_prefix("labels ")
        .unwrap();
    let truth: String = digits::TEST_IMAGES
        .chunks(digits::RECORD)
        .map(|r| char::from(b'0' + r[0]))
        .collect();
    let agree = labels
        .chars()
        .zip(truth.chars())
        .filter(|(a, b)| a == b)
        .count();
    assert_eq!(agree, correct);
}

#[test]
fn digits_refuses_bad_input_by_name_and_does_not_score_unknown_labels() {
    use digits::{classify, Model, RECORD, TEST_IMAGES, UNKNOWN, WEIGHTS};
    let err = |input: &[u8]| classify(&Model::embedded(), input).unwrap_err();
    assert!(err(&[0; 64]).contains("whole number of 65-byte records"));
    let mut bad = [0u8; RECORD];
    bad[0] = 10;
    assert!(err(&bad).contains("label 10"));
    bad[0] = UNKNOWN;
    bad[5] = 17;
    assert!(err(&bad).contains("pixel value 17"));
    assert!(digits::run(&[], &strings(&["x"]))
        .unwrap_err()
        .contains("no arguments"));
    assert!(Model::from_bytes(&WEIGHTS[4..]).is_err());
    // in the sandbox, refused input is exit code 1
    assert_exit_code_1("digits", &bad, &[]);

    let mut input = TEST_IMAGES[..RECORD * 2].to_vec();
    input[0] = UNKNOWN;
    let c = classify(&Model::embedded(), &input).unwrap();
    assert_eq!((c.labels.len(), c.labelled), (2, 1));
    let known = classify(&Model::embedded(), &TEST_IMAGES[..RECORD * 2]).unwrap();
    assert_eq!((c.labels, c.logits_hash), (known.labels, known.logits_hash));
}

/// Sample `name` refuses `input` and `args` in every runtime: exit code 1 (the kernel's
/// message goes to stderr), not a trap or a crash.
fn assert_exit_code_1(name: &str, input: &[u8], args: &[&str]) {
    let ex = Executor::new().unwrap();
    let limits = Limits {
        max_fuel: 1_000_000_000,
        max_memory: 64 << 20,
        max_output: 1 << 16,
        timeout: Duration::from_secs(60),
    };
    for runtime in RUNTIMES {
        let module = ex.compile(runtime, &wasm(name)).unwrap();
        let x = ex
            .run(&module, input, &strings(args), &[0; 32], limits)
            .unwrap();
        assert_eq!(x.status, ExitStatus::Exited(1), "{name} in {runtime}");
    }
}

#[test]
fn bad_arguments_are_exit_codes_not_crashes() {
    assert_exit_code_1("hash-chain", b"", &["many"]);
}
