//! The sample jobs the sandbox is measured on (`cmkt bench` and `examples/bench.rs`): each
//! committed module of `examples/jobs/wasm/` with a benchmark-sized workload, in one list so
//! that every benchmark measures the same thing; and the hostile module the tests of several
//! crates post ([`products_across_a_call`]).

/// Input and arguments of a workload `scale` times smaller than the full one.
type Workload = fn(scale: usize) -> (Vec<u8>, Vec<String>);

/// A sample job: its committed module and its benchmark workload.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// The job's name: its crate in `examples/jobs/`, its module `wasm/<name>.wasm` and its
    /// native binary.
    pub name: &'static str,
    /// The committed `wasm32-wasip1` module.
    pub wasm: &'static [u8],
    workload: Workload,
}

impl Sample {
    /// The benchmark's input and arguments, `scale` times smaller than the full workload
    /// (1: the full one, about 0.1–1 s natively).
    pub fn workload(&self, scale: usize) -> (Vec<u8>, Vec<String>) {
        (self.workload)(scale.max(1))
    }
}

/// Every sample, in the order benchmarks report them.
pub const SAMPLES: [Sample; 5] = [
    Sample {
        name: "hash-chain",
        wasm: include_bytes!("../../examples/jobs/wasm/hash-chain.wasm"),
        workload: |scale| (b"benchmark".to_vec(), vec![(2_000_000 / scale).to_string()]),
    },
    Sample {
        name: "monte-carlo",
        wasm: include_bytes!("../../examples/jobs/wasm/monte-carlo.wasm"),
        workload: |scale| {
            (
                b"benchmark".to_vec(),
                vec![(20_000_000 / scale).to_string()],
            )
        },
    },
    Sample {
        name: "word-freq",
        wasm: include_bytes!("../../examples/jobs/wasm/word-freq.wasm"),
        workload: |scale| {
            let text = "the quick brown fox jumps over the lazy dog; ";
            (text.repeat(200_000 / scale).into_bytes(), vec!["10".into()])
        },
    },
    Sample {
        name: "mandelbrot",
        wasm: include_bytes!("../../examples/jobs/wasm/mandelbrot.wasm"),
        workload: |scale| {
            let rows = (480 / scale).to_string();
            (vec![], vec!["640".into(), rows, "1000".into()])
        },
    },
    Sample {
        name: "digits",
        wasm: include_bytes!("../../examples/jobs/wasm/digits.wasm"),
        // the 360 held-out images, 60 times over
        workload: |scale| (DIGITS_TEST_IMAGES.repeat(60 / scale.min(60)), vec![]),
    },
];

/// `hash-chain` asking the runtime for each sha256 (`cmkt.sha256`, runtime `wasi-p1v3` only):
/// the same workload and output as [`SAMPLES`]' hash-chain, measured against its native binary.
pub const HASH_CHAIN_HOST: Sample = Sample {
    name: "hash-chain-host",
    wasm: include_bytes!("../../examples/jobs/wasm/hash-chain-host.wasm"),
    workload: SAMPLES[0].workload,
};

/// The limits every benchmark runs the samples under: none of them binds (fuel and memory far
/// above any workload's, ten minutes).
pub const LIMITS: crate::Limits = crate::Limits {
    max_fuel: u64::MAX / 2,
    max_memory: 1 << 30,
    max_output: 64 << 20,
    timeout: std::time::Duration::from_secs(600),
};

/// The `digits` sample's held-out test images (records of a label and 64 pixels).
const DIGITS_TEST_IMAGES: &[u8] = include_bytes!("../../examples/jobs/digits/test-images.bin");

/// A module (text format) whose `$f` recurses 100 000 deep, storing `products` products of its
/// argument before its call and the same ones after it. Cranelift computes them once and keeps
/// them across the call for their second use, about 8 bytes of native frame each, for a weight
/// in the call-depth rule (`meter/frames.rs`) that does not grow with them (26 units, 832
/// bytes): with a thousand, the frame outgrows its weight, so runtime `wasi-p1v3` refuses the
/// module at compile time (`frame_check.rs`) and a worker never claims its job.
pub fn products_across_a_call(products: u32) -> String {
    let products: String = (1..=products)
        .map(|k| {
            let at = 8 * k;
            format!("(i64.store offset={at} (i32.const 0) (i64.mul (local.get 0) (i64.const {k})))")
        })
        .collect();
    format!(
        r#"(module
  (memory (export "memory") 1)
  (func $f (param i64)
    (if (i64.eqz (local.get 0)) (then (return)))
    {products}
    (call $f (i64.sub (local.get 0) (i64.const 1)))
    {products})
  (func (export "_start") (call $f (i64.const 100000))))"#
    )
}
