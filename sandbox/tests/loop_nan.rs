//! Runtime `wasi-p1v3`'s vector rewrite canonicalises a loop's accumulator once, after the
//! loop, instead of every sum as it is set (`compute_sandbox::nan::canonicalize_vectors`), where
//! that gives the same bits: each loop below, run for trips of 0 to 8 from every adversarial
//! start value (NaN payloads, signalling NaNs, signed zeros, subnormals), gives the bytes
//! Cranelift's canonicalisation of every result gives. The loops the rewrite must leave alone
//! (the last write in an `if` or of something else than a sum, a read that sees the sum, a
//! branch out of the loop) are the ones where canonicalising after the loop would show other
//! bits: each of them fails without the check that leaves it alone.

use compute_sandbox::nan::canonicalize_vectors;
use compute_sandbox::{meter, Executor, Limits, Status};
use std::time::Duration;

mod common;
use common::{v3_nan, F32_EDGES};

const LIMITS: Limits = Limits {
    max_fuel: 50_000_000,
    max_memory: 1 << 20,
    max_output: 1 << 20,
    timeout: Duration::from_secs(30),
};

const F32_AT: usize = 1024;
const F64_AT: usize = 2048;
const OUT_AT: usize = 4096;
/// Bytes each run of a case may write at its `$out`.
const RUN_BYTES: usize = 160;
const TRIPS: [i32; 5] = [0, 1, 2, 3, 8];
/// Start values: the vectors (or f64s) at these indices.
const STARTS: usize = 8;

/// `$n` the trips, `$pre` the start value's index, `$out` where the run writes; `$i` counts.
const PARAMS: &str = "(param $n i32) (param $pre i32) (param $out i32) (local $acc v128) (local $s f64) (local $i i32) (local $j i32)";
/// The start vector.
const PRE: &str = "(v128.load (i32.add (i32.const 1024) (i32.shl (local.get $pre) (i32.const 4))))";
/// A product of two of the adversarial vectors, varying with `$i`.
const PRODUCT: &str = "(f32x4.mul
    (v128.load (i32.add (i32.const 1024) (i32.shl (i32.and (local.get $i) (i32.const 7)) (i32.const 4))))
    (v128.load (i32.add (i32.const 1024) (i32.shl (i32.and (i32.add (local.get $i) (i32.const 3)) (i32.const 7)) (i32.const 4)))))";
/// The loop's step and back branch, in the shape the metering counts (so it runs two copies).
const STEP: &str =
    "(br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n)))";

const LOAD_LAST: &str = "a write of something else last";

struct Case {
    name: &'static str,
    /// Whether the rewrite canonicalises after the loop here.
    deferred: bool,
    body: String,
}

fn cases() -> Vec<Case> {
    let acc_add = format!("(local.set $acc (f32x4.add (local.get $acc) {PRODUCT}))");
    let skip = |inner: &str| {
        format!("(block $skip (br_if $skip (i32.eqz (local.get $n))) (loop $l {inner}))")
    };
    let store_acc = "(v128.store (local.get $out) (local.get $acc))";
    // the accumulator from its start value through the loop `inner` (skipped for no trips),
    // then stored; or with the loop in a block `$done` a branch may leave it for
    let stored = |inner: &str| format!("(local.set $acc {PRE}) {} {store_acc}", skip(inner));
    let in_done = |inner: &str| {
        format!(
            "(local.set $acc {PRE}) (block $done {}) {store_acc}",
            skip(inner)
        )
    };
    vec![
        Case {
            name: "accumulator",
            deferred: true,
            body: stored(&format!("{acc_add} {STEP}")),
        },
        Case {
            name: "f64 accumulator set by local.tee",
            deferred: true,
            body: format!(
                "(local.set $s (f64.load (i32.add (i32.const {F64_AT}) (i32.shl (local.get $pre) (i32.const 3)))))
                 {}
                 (f64.store (local.get $out) (local.get $s))",
                skip(&format!(
                    "(drop (f64.lt (local.tee $s (f64.add (local.get $s) (f64.mul
                        (f64.load (i32.add (i32.const {F64_AT}) (i32.shl (i32.and (local.get $i) (i32.const 7)) (i32.const 3))))
                        (f64.load (i32.add (i32.const {F64_AT}) (i32.shl (local.get $pre) (i32.const 3)))))))
                      (f64.const 0)))
                     {STEP}"
                ))
            ),
        },
        Case {
            name: "nested loops",
            deferred: true,
            body: format!(
                "(local.set $acc {PRE})
                 (loop $outer
                   (local.set $i (i32.const 0))
                   (loop $l {acc_add} (br_if $l (i32.le_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
                   (v128.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 4))) (local.get $acc))
                   (br_if $outer (i32.ne (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const 2))))"
            ),
        },
        Case {
            name: "two sums after a write of something else",
            deferred: true,
            body: stored(&format!("(local.set $acc {PRE}) {acc_add} {acc_add} {STEP}")),
        },
        Case {
            name: LOAD_LAST,
            deferred: false,
            body: stored(&format!(
                    "{acc_add} (local.set $acc (v128.load (i32.const {F32_AT}))) {STEP}"
                )),
        },
        Case {
            name: "write in an if",
            deferred: false,
            body: stored(&format!(
                    "(if (i32.and (local.get $i) (i32.const 1)) (then {acc_add})) {STEP}"
                )),
        },
        Case {
            name: "a second write",
            deferred: false,
            body: stored(&format!(
                    "{acc_add} (if (i32.eq (local.get $i) (i32.const 2)) (then (local.set $acc {PRE}))) {STEP}"
                )),
        },
        Case {
            name: "a read that sees the sum",
            deferred: false,
            body: format!(
                "(local.set $acc {PRE}) {}",
                skip(&format!(
                    "{acc_add} (v128.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 4))) (local.get $acc)) {STEP}"
                ))
            ),
        },
        Case {
            name: "a branch out of the loop",
            deferred: false,
            body: in_done(&format!(
                    "{acc_add} (br_if $done (i32.eq (local.get $i) (i32.const 1))) {STEP}"
                )),
        },
        Case {
            name: "a br_table out of the loop, from a block in it",
            deferred: false,
            body: in_done(&format!(
                    "{acc_add} (block $in (br_table $in $done (i32.eq (local.get $i) (i32.const 1)))) {STEP}"
                )),
        },
    ]
}

/// The module: `$case` run for every trip count and start value in turn, then every byte
/// written to stdout.
fn module(case: &Case) -> Vec<u8> {
    let runs = TRIPS.len() * STARTS;
    let calls: String = (0..runs)
        .map(|k| {
            format!(
                "(call $case (i32.const {}) (i32.const {}) (i32.const {}))\n",
                TRIPS[k / STARTS],
                k % STARTS,
                OUT_AT + RUN_BYTES * k
            )
        })
        .collect();
    let f32s: String = (0..4 * STARTS)
        .flat_map(|k| F32_EDGES[(k * 7 + k / 16) % 16].to_le_bytes())
        .map(|b| format!("\\{b:02x}"))
        .collect();
    let f64s: String = [
        0x7ff8_0000_0012_3456u64,
        0x7ff0_0000_0000_0001,
        0xfff8_0000_0000_0000,
        0x8000_0000_0000_0000,
        0x0000_0000_0000_0001,
        0x3ff0_0000_0000_0000,
        0xfff0_0000_0000_0000,
        0x7ff8_0000_0000_0000,
    ]
    .iter()
    .flat_map(|v| v.to_le_bytes())
    .map(|b| format!("\\{b:02x}"))
    .collect();
    let wat = format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const {F32_AT}) "{f32s}")
  (data (i32.const {F64_AT}) "{f64s}")
  (func $case {PARAMS} {})
  (func (export "_start")
    {calls}
    (i32.store (i32.const 0) (i32.const {OUT_AT}))
    (i32.store (i32.const 4) (i32.const {}))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
        case.body,
        RUN_BYTES * runs,
    );
    wat::parse_str(wat).unwrap()
}

#[test]
fn accumulators_canonicalised_after_their_loop_give_the_bytes_of_full_canonicalisation() {
    let (lazy, full, none) = (
        v3_nan(true, true),
        v3_nan(false, true),
        v3_nan(false, false),
    );
    for case in cases() {
        let wasm = module(&case);
        let run = |ex: &Executor| {
            let m = ex.compile(&wasm).unwrap();
            ex.run(&m, b"", &[], &[0; 32], LIMITS).unwrap()
        };
        let (l, f, n) = (run(&lazy), run(&full), run(&none));
        let name = case.name;
        assert_eq!(l.status, Status::Exited(0), "{name}");
        let differs = l.output.iter().zip(&f.output).position(|(a, b)| a != b);
        assert!(
            l.output.len() == f.output.len() && differs.is_none(),
            "{name}: run {:?} (of trips {TRIPS:?} from each of {STARTS} starts) differs",
            differs.map(|at| at / RUN_BYTES)
        );
        assert_eq!(
            l.fuel_used, f.fuel_used,
            "{name}: the rewrite is not charged"
        );
        // (a loop whose last write is a load never shows a sum)
        if name != LOAD_LAST {
            assert!(
                l.output != n.output,
                "{name}: the CPU's own NaNs reach the output"
            );
        }

        let (_, stats) = canonicalize_vectors(&meter::instrument(&wasm).unwrap()).unwrap();
        match case.deferred {
            true => assert!(stats.deferred > 0, "{name}: {stats:?}"),
            false => assert_eq!(stats.deferred, 0, "{name}: {stats:?}"),
        }
    }
}
