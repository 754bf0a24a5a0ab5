//! Runtime `wasi-p1v3`'s inlined leaves (`compute_sandbox::meter`'s `inline.rs`): a direct call
//! of a small function that calls nothing is replaced by its body. Leaves with parameters,
//! locals of every numeric type read before they are written, `return` from inside a loop,
//! two results, a loop of their own and an out-of-bounds load give the outcome, output and
//! fuel of the calls, at and around the fuel the run needs; a leaf that never returns is still
//! interrupted; the samples give the same outputs and counts.

use compute_sandbox::meter::{instrument_with, Shortcuts, MAX_LEAF_OPS};
use compute_sandbox::samples::{LIMITS as SAMPLE_LIMITS, SAMPLES};
use compute_sandbox::{Executor, Limits, Refusal, Status};

mod common;

const LIMITS: Limits = Limits {
    max_fuel: 10_000_000,
    ..common::SMALL_LIMITS
};

fn v3(inline_leaves: bool) -> Executor {
    common::v3_with(|o| o.inline_leaves = inline_leaves)
}

const NOT_INLINED: Shortcuts = Shortcuts {
    inline_leaves: false,
    ..Shortcuts::ALL
};

/// A module whose `_start` folds the results of its leaves over `trips` iterations into a
/// checksum it writes out; at iteration `oob` (if reached) `$at` loads out of bounds.
fn module(trips: i32, oob: i32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "the quick brown fox\00jumps over the lazy dog\00")
  ;; (every leaf has a loop, as only those are inlined)
  ;; its local is zero on every call: it returns its parameter
  (func $fresh (param $p i32) (result i32) (local $acc i32)
    (loop (local.set $acc (i32.add (local.get $acc) (local.get $p))))
    (local.get $acc))
  ;; float and vector locals too, each written after it is read
  (func $floats (param $p f32) (result i32) (local $f f32) (local $d f64) (local $v v128)
    (loop)
    (local.get $p)
    (f32.add (local.get $f))
    (f32.add (f32.demote_f64 (local.get $d)))
    (f32.add (f32x4.extract_lane 3 (local.get $v)))
    (local.set $f (f32.const 1.5))
    (local.set $d (f64.const -2.25))
    (local.set $v (v128.const i32x4 1 2 3 4))
    (i32.trunc_f32_s))
  ;; the offset of the first zero byte from $s, returned from inside its loop
  (func $strlen (param $s i32) (result i32) (local $i i32)
    (loop $next
      (if (i32.eqz (i32.load8_u (i32.add (local.get $s) (local.get $i))))
        (then (return (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))
    (unreachable))
  ;; two results, and a branch to its own label
  (func $divmod (param $a i32) (param $b i32) (result i32 i32)
    (loop)
    (i32.div_u (local.get $a) (local.get $b))
    (i32.rem_u (local.get $a) (local.get $b))
    (br_if 0 (i32.eqz (local.get $a)))
    (drop) (drop)
    (i32.const 7) (i32.const 9))
  (func $at (param $addr i32) (result i32)
    (loop)
    (i32.load (local.get $addr)))
  (func (export "_start") (local $i i32) (local $sum i32)
    (loop $trip
      (local.set $sum (i32.add (i32.mul (local.get $sum) (i32.const 31))
        (call $fresh (local.get $i))))
      (local.set $sum (i32.add (local.get $sum)
        (call $floats (f32.convert_i32_s (local.get $i)))))
      (local.set $sum (i32.add (local.get $sum)
        (call $strlen (i32.add (i32.const 64) (i32.rem_u (local.get $i) (i32.const 40))))))
      (call $divmod (local.get $i) (i32.const 3))
      (local.set $sum (i32.xor (local.get $sum)))
      (local.set $sum (i32.add (local.get $sum)))
      (local.set $sum (i32.add (local.get $sum)
        (call $at (select (i32.const 0x10000) (i32.const 64)
          (i32.eq (local.get $i) (i32.const {oob}))))))
      (br_if $trip (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
        (i32.const {trips}))))
    (i32.store (i32.const 0) (local.get $sum))
    (i32.store (i32.const 8) (i32.const 0))
    (i32.store (i32.const 12) (i32.const 4))
    (drop (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))))"#
    ))
    .unwrap()
}

#[test]
fn inlined_leaves_give_the_outcome_output_and_fuel_of_the_calls() {
    let (inlined, called) = (v3(true), v3(false));
    for (trips, oob) in [(1, -1), (300, -1), (300, 0), (300, 157)] {
        let wasm = module(trips, oob);
        let case = format!("{trips} trips, out of bounds at {oob}");
        assert_ne!(
            instrument_with(&wasm, Shortcuts::ALL).unwrap(),
            instrument_with(&wasm, NOT_INLINED).unwrap(),
            "{case}: nothing inlined"
        );
        let (a, b) = (
            inlined.compile(&wasm).unwrap(),
            called.compile(&wasm).unwrap(),
        );
        let run = |ex: &Executor, m, max_fuel| {
            ex.run(m, b"", &[], &[0; 32], Limits { max_fuel, ..LIMITS })
                .unwrap()
        };
        let whole = run(&called, &b, LIMITS.max_fuel);
        let need = whole.fuel_used;
        match oob {
            -1 => assert_eq!(whole.status, Status::Exited(0), "{case}"),
            _ => assert_eq!(whole.status, Status::Trapped, "{case}"),
        }
        // at the fuel the run needs, one short of it, short by part of an iteration, and in
        // the middle of the leaves
        for max_fuel in [
            LIMITS.max_fuel,
            need,
            need - 1,
            need - 20,
            need / 2,
            need / 3,
            40,
        ] {
            let (x, y) = (run(&inlined, &a, max_fuel), run(&called, &b, max_fuel));
            assert_eq!(
                (x.status, x.fuel_used, x.output),
                (y.status, y.fuel_used, y.output),
                "{case}, max_fuel {max_fuel}"
            );
        }
    }
}

#[test]
fn a_leaf_that_never_returns_is_interrupted() {
    let wasm = wat::parse_str(
        r#"(module (memory 1)
  (func $spin (param $x i32) (loop (i32.store (i32.const 0) (local.get $x)) (br 0)))
  (func (export "_start") (call $spin (i32.const 5))))"#,
    )
    .unwrap();
    assert_ne!(
        instrument_with(&wasm, Shortcuts::ALL).unwrap(),
        instrument_with(&wasm, NOT_INLINED).unwrap()
    );
    common::assert_times_out(&v3(true), &wasm);
}

#[test]
fn only_small_leaves_are_inlined() {
    // a function that calls, one longer than the limit, or one without a loop, is called as
    // before
    let body = |n: usize| format!("(loop) {}", "(i32.add (i32.const 1))".repeat(n));
    let short = (MAX_LEAF_OPS - 6) / 2;
    let module = |callee: &str| {
        wat::parse_str(format!(
            r#"(module
  (import "env" "other" (func $other))
  (func $leaf (result i32) (i32.const 0) {callee})
  (func (export "_start") (drop (call $leaf))))"#
        ))
        .unwrap()
    };
    let inlines = |wasm: &[u8]| {
        instrument_with(wasm, Shortcuts::ALL).unwrap()
            != instrument_with(wasm, NOT_INLINED).unwrap()
    };
    assert!(inlines(&module(&body(short))));
    assert!(!inlines(&module(&body(short + 2))));
    assert!(!inlines(&module(&format!("(call $other) {}", body(1)))));
    assert!(!inlines(&module("(i32.add (i32.const 1))")));
}

#[test]
fn the_samples_give_the_same_outputs_and_counts_inlined() {
    let (inlined, called) = (v3(true), v3(false));
    let mut changed = 0;
    for sample in SAMPLES {
        changed += usize::from(
            instrument_with(sample.wasm, Shortcuts::ALL).unwrap()
                != instrument_with(sample.wasm, NOT_INLINED).unwrap(),
        );
        let (input, args) = sample.workload(1);
        let run = |ex: &Executor| {
            let m = ex.compile(sample.wasm).unwrap();
            let x = ex.run(&m, &input, &args, &[7; 32], SAMPLE_LIMITS).unwrap();
            (x.status, x.fuel_used, x.output)
        };
        assert_eq!(run(&inlined), run(&called), "{}", sample.name);
    }
    // word-freq's `memcmp` at least
    assert!(changed >= 1, "no sample had a leaf inlined");
}

#[test]
fn a_module_compiled_with_its_leaves_called_is_compiled_with_them_inlined() {
    // `$f` keeps `products` values across a call (its frame grows with them, 8 bytes each,
    // against a room of 24 units, 768 bytes) and calls a leaf that keeps 18 values across its
    // loop: inlined, those that do not fit in registers are spilled in `$f`'s frame, not the
    // leaf's. Across the products where `$f`'s frame outgrows its room, a module compiled with
    // the leaf called is compiled with it inlined too (without it, if need be).
    let loads: String = (0..18)
        .map(|k| format!("(i64.load offset={} (i32.const 0))", 8 * k))
        .collect();
    let adds = "(i64.add)".repeat(17);
    let module = |products: u32| {
        let products: String = (1..=products)
            .map(|k| {
                let at = 8 * k;
                format!(
                    "(i64.store offset={at} (i32.const 0) (i64.mul (local.get 0) (i64.const {k})))"
                )
            })
            .collect();
        wat::parse_str(format!(
            r#"(module
  (memory (export "memory") 1)
  (func $leaf (result i64)
    {loads}
    (loop (br_if 0 (i64.eqz (i64.load (i32.const 8)))))
    {adds})
  (func $f (param i64)
    (if (i64.eqz (local.get 0)) (then (return)))
    {products}
    (call $f (i64.sub (local.get 0) (i64.const 1)))
    (i64.store (i32.const 0) (call $leaf))
    {products})
  (func (export "_start") (call $f (i64.const 10))))"#
        ))
        .unwrap()
    };
    let (inlined, called) = (v3(true), v3(false));
    let (mut accepted, mut refused) = (0, 0);
    for products in (40..=160).step_by(2) {
        let wasm = module(products);
        let (a, b) = (inlined.compile(&wasm), called.compile(&wasm));
        // (inlined, a frame can also be smaller, and fit where the call's does not)
        assert!(
            a.is_ok() || b.is_err(),
            "{products} products: {:?}",
            a.err()
        );
        match b {
            Ok(_) => accepted += 1,
            Err(Refusal::InvalidModule(_)) => refused += 1,
            Err(e) => panic!("{products} products: {e}"),
        }
    }
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
}
