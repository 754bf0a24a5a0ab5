//! NaN canonicalisation only where a NaN's bits can be seen (`compute_sandbox::nan`) computes
//! exactly what Cranelift's canonicalisation of every float result computes: random programs
//! over adversarial inputs (NaN payloads, signalling NaNs, signed zeros, subnormals,
//! infinities) and the sample jobs give the same bytes both ways. The same programs without
//! canonicalisation give other bytes, so the inputs do reach the NaN bits that matter.

use compute_sandbox::nan::{canonicalize, Unsupported};
use compute_sandbox::samples::SAMPLES;
use compute_sandbox::{Executor, Limits, Options, Status};
use std::time::Duration;

mod common;
use common::F32_EDGES;

const LIMITS: Limits = Limits {
    max_fuel: 50_000_000,
    max_memory: 1 << 20,
    max_output: 1 << 16,
    timeout: Duration::from_secs(30),
};

/// Room for a sample job's workload.
const SAMPLE_LIMITS: Limits = Limits {
    max_fuel: 20_000_000_000,
    max_memory: 256 << 20,
    max_output: 16 << 20,
    timeout: Duration::from_secs(120),
};

fn executor(nan_canonicalization: bool, lazy_nan: bool) -> Executor {
    Executor::with(
        Options {
            nan_canonicalization,
            lazy_nan,
            ..Options::default()
        },
        None,
    )
    .unwrap()
}

/// xorshift64*: the programs are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A stdin of 32 f32 then 16 f64 values, drawn from the edge cases.
fn input(rng: &mut Rng) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..32 {
        bytes.extend(F32_EDGES[rng.below(F32_EDGES.len())].to_le_bytes());
    }
    for _ in 0..16 {
        let f = F32_EDGES[rng.below(F32_EDGES.len())];
        // the f32 patterns widened bit by bit (sign, exponent top, payload)
        let wide = (u64::from(f & 0x8000_0000) << 32)
            | if f & 0x7f80_0000 == 0x7f80_0000 {
                0x7ff0_0000_0000_0000 | (u64::from(f & 0x007f_ffff) << 29)
            } else {
                f64::from(f32::from_bits(f)).to_bits() & 0x7fff_ffff_ffff_ffff
            };
        bytes.extend(wide.to_le_bytes());
    }
    bytes
}

/// A random WASI program: reads the values, computes with them through locals, stores,
/// reinterpretations, sign operations, selects, calls, branches and loops, and writes 512
/// bytes of results and the number of bytes it read.
struct Gen {
    rng: Rng,
}

const F32_OPS2: [&str; 7] = ["add", "sub", "mul", "div", "min", "max", "copysign"];
const F32_OPS1: [&str; 7] = ["neg", "abs", "sqrt", "ceil", "floor", "trunc", "nearest"];

impl Gen {
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.rng.below(from.len())]
    }

    fn float(&mut self, ty: &str, depth: u32) -> String {
        let other = if ty == "f32" { "f64" } else { "f32" };
        let leaf = depth == 0 || self.rng.below(4) == 0;
        if leaf {
            return match self.rng.below(5) {
                0 | 1 => {
                    let (base, size, count) = if ty == "f32" {
                        (0, 4, 32)
                    } else {
                        (128, 8, 16)
                    };
                    format!(
                        "({ty}.load offset={} (i32.const 1024))",
                        base + size * self.rng.below(count)
                    )
                }
                2 => format!("(local.get ${ty}_{})", self.rng.below(3)),
                3 => format!(
                    "({ty}.const {})",
                    self.pick(&[
                        "nan",
                        "-nan",
                        "nan:0x1",
                        "-nan:0x4000",
                        "inf",
                        "-0",
                        "0x1p-149",
                        "3.5"
                    ])
                ),
                _ => format!("({ty}.load offset=1024 (i32.const 0))"),
            };
        }
        let d = depth - 1;
        match self.rng.below(10) {
            0..=3 => {
                let op = self.pick(&F32_OPS2);
                format!("({ty}.{op} {} {})", self.float(ty, d), self.float(ty, d))
            }
            4 | 5 => {
                let op = self.pick(&F32_OPS1);
                format!("({ty}.{op} {})", self.float(ty, d))
            }
            6 => {
                let conv = if ty == "f32" {
                    "demote_f64"
                } else {
                    "promote_f32"
                };
                format!("({ty}.{conv} {})", self.float(other, d))
            }
            7 => format!(
                "(select (result {ty}) {} {} {})",
                self.float(ty, d),
                self.float(ty, d),
                self.int(d)
            ),
            8 => format!("(call ${ty}_twice {})", self.float(ty, d)),
            _ => {
                let (int, mask) = if ty == "f32" {
                    ("i32", "0x80000001")
                } else {
                    ("i64", "0x8000000000000001")
                };
                format!(
                    "({ty}.reinterpret_{int} ({int}.xor ({int}.reinterpret_{ty} {}) ({int}.const {mask})))",
                    self.float(ty, d)
                )
            }
        }
    }

    fn int(&mut self, depth: u32) -> String {
        let ty = self.pick(&["f32", "f64"]);
        match self.rng.below(3) {
            0 => {
                let cmp = self.pick(&["eq", "ne", "lt", "gt", "le", "ge"]);
                format!(
                    "({ty}.{cmp} {} {})",
                    self.float(ty, depth),
                    self.float(ty, depth)
                )
            }
            1 => format!("(i32.trunc_sat_{ty}_s {})", self.float(ty, depth)),
            _ => format!(
                "(i32.wrap_i64 (i64.reinterpret_f64 (f64.promote_f32 {})))",
                self.float("f32", depth)
            ),
        }
    }

    fn statement(&mut self, depth: u32) -> String {
        let ty = self.pick(&["f32", "f64"]);
        let (size, slots) = if ty == "f32" { (4, 64) } else { (8, 32) };
        match self.rng.below(8) {
            0 | 1 => format!("(local.set ${ty}_{} {})", self.rng.below(3), self.float(ty, 4)),
            2 => format!(
                "(local.set ${ty}_{} (local.tee ${ty}_{} {}))",
                self.rng.below(3),
                self.rng.below(3),
                self.float(ty, 3)
            ),
            3 | 4 => format!(
                "({ty}.store offset={} (i32.const 2048) {})",
                size * self.rng.below(slots),
                self.float(ty, 4)
            ),
            5 => format!(
                "(i32.store offset={} (i32.const 2048) {})",
                4 * self.rng.below(128),
                self.int(3)
            ),
            6 if depth > 0 => format!(
                "(if {} (then {} {}))",
                self.int(2),
                self.statement(depth - 1),
                self.statement(depth - 1)
            ),
            _ if depth > 0 => format!(
                "(local.set $i{depth} (i32.const 3)) (loop $l{depth} {} (local.set $i{depth} (i32.sub (local.get $i{depth}) (i32.const 1))) (br_if $l{depth} (local.get $i{depth})))",
                self.statement(depth - 1)
            ),
            _ => format!("(local.set ${ty}_0 {})", self.float(ty, 2)),
        }
    }

    fn program(&mut self) -> String {
        let body: Vec<String> = (0..12).map(|_| self.statement(2)).collect();
        format!(
            r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $f32_twice (param f32) (result f32) (f32.mul (local.get 0) (f32.const 2)))
  (func $f64_twice (param f64) (result f64) (f64.add (local.get 0) (local.get 0)))
  (func (export "_start")
    (local $f32_0 f32) (local $f32_1 f32) (local $f32_2 f32)
    (local $f64_0 f64) (local $f64_1 f64) (local $f64_2 f64) (local $i1 i32) (local $i2 i32)
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 256))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
    (i32.store (i32.const 2560) (i32.load (i32.const 16)))
    {}
    (i32.store (i32.const 0) (i32.const 2048))
    (i32.store (i32.const 4) (i32.const 516))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))))"#,
            body.join("\n    ")
        )
    }
}

#[test]
fn random_programs_on_adversarial_floats_give_the_same_bytes_as_full_canonicalisation() {
    let (full, lazy, none) = (
        executor(true, false),
        executor(true, true),
        executor(false, false),
    );
    // runtime wasi-p1v3: the same rewrite, and the module metering itself
    let metered = Executor::with(
        Options::for_runtime(compute_sandbox::RUNTIME_V3).unwrap(),
        None,
    )
    .unwrap();
    let mut gen = Gen {
        rng: Rng(0x5eed_1234_abcd_0001),
    };
    let (mut programs, mut differs_uncanonicalised, mut left_alone) = (0, 0, 0);
    for _ in 0..150 {
        let wat = gen.program();
        let wasm = wat::parse_str(&wat).unwrap();
        let (_, stats) = canonicalize(&wasm).unwrap();
        left_alone += stats.results - stats.canonicalized;
        let executors = [&full, &lazy, &none, &metered];
        let modules = executors.map(|ex| ex.compile(&wasm).unwrap());
        for _ in 0..3 {
            let input = input(&mut gen.rng);
            let [a, b, c, d] = [0, 1, 2, 3].map(|i| {
                executors[i]
                    .run(&modules[i], &input, &[], &[0; 32], LIMITS)
                    .unwrap()
            });
            assert_eq!(
                (a.status, &a.output),
                (d.status, &d.output),
                "wasi-p1v3 differs from full canonicalisation:\n{wat}"
            );
            assert_eq!(a.status, Status::Exited(0), "{wat}");
            // the whole input arrived (bytes read, after the 512 of results)
            assert_eq!(a.output.len(), 516);
            assert_eq!(a.output[512..], 256u32.to_le_bytes());
            assert_eq!(
                (a.status, &a.output),
                (b.status, &b.output),
                "only-where-seen differs from full canonicalisation:\n{wat}"
            );
            differs_uncanonicalised += usize::from(a.output != c.output);
        }
        programs += 1;
    }
    // the inputs exercise NaN bits: without canonicalisation many runs give other bytes
    assert!(
        differs_uncanonicalised > programs / 4,
        "{differs_uncanonicalised} of {} runs differ without canonicalisation",
        programs * 3
    );
    // and the pass does leave results alone (otherwise it would buy nothing)
    assert!(left_alone > programs, "{left_alone} results left alone");
}

#[test]
fn the_sample_jobs_give_the_same_bytes_both_ways() {
    let (full, lazy) = (executor(true, false), executor(true, true));
    for sample in SAMPLES {
        let (input, args) = sample.workload(200);
        let [a, b] = [&full, &lazy].map(|ex| {
            let m = ex.compile(sample.wasm).unwrap();
            ex.run(&m, &input, &args, &[1; 32], SAMPLE_LIMITS).unwrap()
        });
        assert_eq!(a.status, Status::Exited(0), "{}", sample.name);
        assert_eq!(a.output, b.output, "{}", sample.name);
        match canonicalize(sample.wasm) {
            Ok((_, stats)) => {
                assert!(stats.canonicalized <= stats.results, "{}", sample.name);
                println!(
                    "{}: {} of {} float results canonicalised",
                    sample.name, stats.canonicalized, stats.results
                );
            }
            // the classifier is built with SIMD, and keeps Cranelift's canonicalisation
            Err(Unsupported::Simd) => assert_eq!(sample.name, "digits"),
            Err(e) => panic!("{}: {e}", sample.name),
        }
    }
}

#[test]
fn modules_with_simd_are_not_rewritten() {
    let wasm = wat::parse_str(
        r#"(module (func (export "_start") (drop (f32x4.add (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0)))))"#,
    )
    .unwrap();
    assert_eq!(canonicalize(&wasm).unwrap_err(), Unsupported::Simd);
    assert_eq!(canonicalize(b"not wasm").unwrap_err(), Unsupported::Simd);

    // an executor that canonicalises only where seen runs such a module with Cranelift's
    // canonicalisation instead: inf * 0 in every lane writes the canonical NaN
    let wasm = wat::parse_str(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (v128.store (i32.const 64)
      (f32x4.mul (v128.const f32x4 inf -inf inf -inf) (v128.const f32x4 0 0 -0 -0)))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 16))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))))"#,
    )
    .unwrap();
    let out = |ex: Executor| {
        let m = ex.compile(&wasm).unwrap();
        ex.run(&m, b"", &[], &[0; 32], LIMITS).unwrap().output
    };
    let canonical: Vec<u8> = (0..4).flat_map(|_| 0x7fc0_0000u32.to_le_bytes()).collect();
    assert_eq!(out(executor(true, false)), canonical);
    assert_eq!(out(executor(true, true)), canonical);
    assert_ne!(
        out(executor(false, false)),
        canonical,
        "the CPU's own NaN differs"
    );
}

/// The rewrite defines runtime `wasi-p1v2`'s fuel counts, which are part of every result root:
/// a change to the pass that changes them needs a new runtime id, not an edit of these numbers.
#[test]
fn the_fuel_counts_of_wasi_p1v2_are_pinned() {
    let ex = Executor::with(
        Options::for_runtime(compute_sandbox::RUNTIME_V2).unwrap(),
        None,
    )
    .unwrap();
    let fuel: Vec<(&str, u64)> = SAMPLES
        .iter()
        .map(|sample| {
            let (input, args) = sample.workload(200);
            let m = ex.compile(sample.wasm).unwrap();
            let x = ex.run(&m, &input, &args, &[1; 32], SAMPLE_LIMITS).unwrap();
            (sample.name, x.fuel_used)
        })
        .collect();
    assert_eq!(fuel, PINNED_FUEL);
}

#[test]
fn a_function_at_the_locals_limit_is_run_with_full_canonicalisation() {
    // no room for the two scratch locals: not rewritten, but still run (not refused)
    let locals = " f32".repeat(49_999);
    let wat = format!(
        r#"(module (memory (export "memory") 1)
  (func (export "_start") (local{locals})
    (f32.store (i32.const 0) (f32.div (f32.const 0) (f32.const 0)))))"#
    );
    let wasm = wat::parse_str(&wat).unwrap();
    assert!(matches!(canonicalize(&wasm), Err(Unsupported::Rewrite(_))));
    let ex = executor(true, true);
    let m = ex.compile(&wasm).unwrap();
    let x = ex.run(&m, b"", &[], &[0; 32], LIMITS).unwrap();
    assert_eq!(x.status, Status::Exited(0));
}

/// Fuel of each sample at `workload(200)` under `wasi-p1v2`.
const PINNED_FUEL: [(&str, u64); 5] = [
    ("hash-chain", 50_732_664),
    ("monte-carlo", 7_507_278),
    ("word-freq", 11_499_607),
    ("mandelbrot", 31_817_697),
    ("digits", 35_609_530),
];

#[test]
fn an_executor_of_wasi_p1v2_runs_wasi_p1_exactly_as_its_own_executor() {
    use compute_sandbox::{RUNTIME, RUNTIME_V2};
    let v2 = Executor::with(Options::for_runtime(RUNTIME_V2).unwrap(), None).unwrap();
    let p1 = Executor::new().unwrap();
    let sample = SAMPLES.iter().find(|s| s.name == "mandelbrot").unwrap();
    let (input, args) = sample.workload(200);
    let run = |ex: &Executor, m: &compute_sandbox::Module| {
        ex.run(m, &input, &args, &[1; 32], SAMPLE_LIMITS).unwrap()
    };
    let own = run(&p1, &p1.compile(sample.wasm).unwrap());
    let served = run(&v2, &v2.compile_for(RUNTIME, sample.wasm).unwrap());
    assert_eq!(
        own, served,
        "same output and fuel as wasi-p1's own executor"
    );
    let lazy = run(&v2, &v2.compile_for(RUNTIME_V2, sample.wasm).unwrap());
    assert_eq!(lazy.output, own.output);
    assert_ne!(lazy.fuel_used, own.fuel_used);
    // a wasi-p1 executor has no engine for wasi-p1v2, and nobody has one for other runtimes
    assert!(p1.compile_for(RUNTIME_V2, sample.wasm).is_err());
    assert!(p1.compile_for(RUNTIME, sample.wasm).is_ok());
    assert!(v2.compile_for("wasi-p2", sample.wasm).is_err());
}
