//! Runtime `wasi-p1v3`: the module meters its own fuel and checks for the timeout
//! (`compute_sandbox::meter`). Every way out of a run ends it: loops, recursion without loops,
//! host calls and bulk memory instructions run out of fuel or hit the wall clock; the counts are
//! deterministic and pinned for the sample jobs; modules the pass cannot meter are refused.
//! (The host functions of the runtime: `host_calls.rs`.)

use compute_sandbox::meter::{instrument, Refused, BYTES_PER_FUEL, FUEL_PER_PAGE};
use compute_sandbox::samples::SAMPLES;
use compute_sandbox::{Executor, Limits, Options, Refusal, Status, RUNTIME_V2, RUNTIME_V3};
use std::time::{Duration, Instant};

mod common;
use common::metered::*;

#[test]
fn an_infinite_loop_runs_out_of_fuel_at_exactly_its_limit() {
    let wasm = module(r#"(func (export "_start") (loop (br 0)))"#);
    let r = run(&wasm, LIMITS).unwrap();
    assert_eq!(r.status, Status::OutOfFuel);
    assert_eq!(r.fuel_used, LIMITS.max_fuel);
    assert_eq!(r, run(&wasm, LIMITS).unwrap());
}

#[test]
fn every_kind_of_endless_run_hits_the_wall_clock() {
    let endless = [
        // a loop
        r#"(func (export "_start") (loop (br 0)))"#,
        // recursion without a loop: a call tree of depth 60
        r#"(func $f (param i32)
             (if (local.get 0) (then
               (call $f (i32.sub (local.get 0) (i32.const 1)))
               (call $f (i32.sub (local.get 0) (i32.const 1))))))
           (func (export "_start") (call $f (i32.const 60)))"#,
        // host calls in a loop (an empty write each)
        r#"(func (export "_start") (loop (drop (call $write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 8))) (br 0)))"#,
        // a loop after another loop, in a function without calls: its checks once reused the
        // floor the first loop's last check had loaded, before the deadline (checks now read a
        // byte of the interrupt page of their own, which Cranelift cannot reuse)
        r#"(func (export "_start") (local i32)
             (local.set 0 (i32.const 3))
             (loop (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br_if 0 (local.get 0)))
             (loop (br 0)))"#,
        // a loop before a call: its checks once reused the floor of the function's entry check
        r#"(func $f) (func (export "_start") (loop (br 0)) (call $f))"#,
        // a loop after a counted loop (whose condition reads the interrupt page)
        r#"(func (export "_start") (local i32)
             (local.set 0 (i32.const 8))
             (loop (br_if 0 (local.tee 0 (i32.add (local.get 0) (i32.const -1)))))
             (loop (br 0)))"#,
    ];
    let l = Limits {
        max_fuel: u64::MAX,
        timeout: Duration::from_millis(300),
        ..LIMITS
    };
    for body in endless {
        let t = Instant::now();
        assert_eq!(
            run(&module(body), l),
            Err(Refusal::Timeout(l.timeout)),
            "{body}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{body}: {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn loops_whose_checks_share_a_byte_of_the_interrupt_page_hit_the_wall_clock() {
    // the checks of a function past its first `unique_touches` (65 534 in the runtime, 2 here)
    // read one byte of the interrupt page, and the pass stores to the page before their loops,
    // so that Cranelift reads the byte again at each: without the store, each endless loop
    // below read it once, before the deadline, at the loop before it
    let endless = [
        r#"(func (export "_start")
             (loop (br_if 0 (i32.const 0)))
             (loop (br_if 0 (i32.const 0)))
             (loop (br_if 0 (i32.const 0)))
             (loop (br 0)))"#,
        // after a counted loop, whose condition reads the page too
        r#"(func (export "_start") (local i32)
             (loop (br_if 0 (i32.const 0)))
             (loop (br_if 0 (i32.const 0)))
             (local.set 0 (i32.const 8))
             (loop (br_if 0 (local.tee 0 (i32.add (local.get 0) (i32.const -1)))))
             (loop (br 0)))"#,
    ];
    let options = Options {
        unique_touches: 2,
        ..Options::for_runtime(RUNTIME_V3).unwrap()
    };
    let l = Limits {
        max_fuel: u64::MAX,
        timeout: Duration::from_millis(300),
        ..LIMITS
    };
    for body in endless {
        let wasm = module(body);
        assert_eq!(
            run_with(options, &wasm, l),
            Err(Refusal::Timeout(l.timeout)),
            "{body}"
        );
        // and the same counts as with every check on a byte of its own
        let fuel = Limits {
            max_fuel: 10_000,
            ..LIMITS
        };
        let outcome = |r: Result<compute_sandbox::Execution, Refusal>| {
            r.map(|x| (x.status, x.fuel_used, x.output))
        };
        assert_eq!(
            outcome(run_with(options, &wasm, fuel)),
            outcome(run(&wasm, fuel)),
            "{body}"
        );
    }
}

#[test]
fn recursion_without_loops_runs_out_of_fuel() {
    let wasm = module(
        r#"(func $f (param i32)
             (if (local.get 0) (then
               (call $f (i32.sub (local.get 0) (i32.const 1)))
               (call $f (i32.sub (local.get 0) (i32.const 1))))))
           (func (export "_start") (call $f (i32.const 60)))"#,
    );
    let r = run(&wasm, LIMITS).unwrap();
    assert_eq!(r.status, Status::OutOfFuel);
    assert_eq!(r.fuel_used, LIMITS.max_fuel);
}

/// Fuel of `_start` calling `op` once (`memory.fill`, `memory.copy` of `len` bytes, or
/// `memory.grow` of `len` pages).
fn fuel_of(op: &str, len: u32) -> u64 {
    let body = match op {
        "fill" => format!("(memory.fill (i32.const 0) (i32.const 7) (i32.const {len}))"),
        "copy" => format!("(memory.copy (i32.const 0) (i32.const 1) (i32.const {len}))"),
        "grow" => format!("(drop (memory.grow (i32.const {len})))"),
        _ => unreachable!(),
    };
    let r = run(
        &module(&format!(r#"(func (export "_start") {body})"#)),
        LIMITS,
    )
    .unwrap();
    assert_eq!(r.status, Status::Exited(0), "{op} {len}");
    r.fuel_used
}

#[test]
fn bulk_memory_instructions_pay_for_their_bytes_and_pages() {
    let per = u64::from(BYTES_PER_FUEL);
    for op in ["fill", "copy"] {
        assert_eq!(fuel_of(op, 60_000) - fuel_of(op, 0), 60_000 / per, "{op}");
    }
    assert_eq!(
        fuel_of("grow", 100) - fuel_of("grow", 0),
        100 * u64::from(FUEL_PER_PAGE)
    );

    // a loop of 64 KiB fills runs out of fuel after max_fuel / 4096 of them, not max_fuel / 6
    let wasm = module(
        r#"(func (export "_start") (loop (memory.fill (i32.const 0) (i32.const 1) (i32.const 65536)) (br 0)))"#,
    );
    let l = Limits {
        max_fuel: 4_100_000,
        ..LIMITS
    };
    let t = Instant::now();
    let r = run(&wasm, l).unwrap();
    assert_eq!(r.status, Status::OutOfFuel);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn a_run_that_overdraws_its_fuel_runs_out_however_it_ends() {
    let tight = Limits {
        max_fuel: 40,
        ..LIMITS
    };
    // straight-line code ends without a check, but its count went below zero
    let nops = "nop ".repeat(60);
    let r = run(
        &module(&format!(r#"(func (export "_start") {nops})"#)),
        tight,
    )
    .unwrap();
    assert_eq!((r.status, r.fuel_used), (Status::OutOfFuel, 40));
    // a bulk instruction that would overdraw traps before it writes anything
    let fill = module(
        r#"(func (export "_start")
             (memory.fill (i32.const 0) (i32.const 1) (i32.const 60000))
             (i32.store (i32.const 60000) (i32.const 8))
             (i32.store (i32.const 60004) (i32.const 2))
             (drop (call $write (i32.const 1) (i32.const 60000) (i32.const 1) (i32.const 60008))))"#,
    );
    let r = run(&fill, tight).unwrap();
    assert_eq!((r.status, r.output.len()), (Status::OutOfFuel, 0));
    let r = run(&fill, LIMITS).unwrap();
    assert_eq!((r.status, r.output), (Status::Exited(0), vec![1, 1]));
}

#[test]
fn leaving_a_function_by_a_branch_to_its_label_is_billed_like_a_return() {
    // $burn loops 1000 times, then leaves by `br 0`, `br_if 0`, `br_table` or `return`: the
    // caller must see the fuel it burnt whichever way it left
    let fuel = |exit: &str| {
        let wasm = module(&format!(
            r#"(func $burn (local i32)
                 (loop (local.set 0 (i32.add (local.get 0) (i32.const 1)))
                       (br_if 0 (i32.lt_u (local.get 0) (i32.const 1000))))
                 {exit})
               (func (export "_start") (call $burn) (call $burn) (call $burn))"#
        ));
        let r = run(&wasm, LIMITS).unwrap();
        assert_eq!(r.status, Status::Exited(0), "{exit}");
        r.fuel_used
    };
    let returned = fuel("(return)");
    assert!(returned > 3 * 1000 * 8, "{returned}");
    for exit in [
        "(br 0)",
        "(br_if 0 (i32.const 1))",
        "(br_table 0 0 (i32.const 0))",
    ] {
        // the same instructions give or take one
        assert!(
            fuel(exit).abs_diff(returned) <= 3 * 2,
            "{exit}: {} vs {returned}",
            fuel(exit)
        );
    }
    // and a loop of such calls runs out of fuel
    let wasm = module(
        r#"(func $burn (local i32)
             (loop (local.set 0 (i32.add (local.get 0) (i32.const 1)))
                   (br_if 0 (i32.lt_u (local.get 0) (i32.const 1000))))
             (br 0))
           (func (export "_start") (loop (call $burn) (br 0)))"#,
    );
    assert_eq!(run(&wasm, LIMITS).unwrap().status, Status::OutOfFuel);
}

#[test]
fn bulk_table_instructions_pay_for_their_elements() {
    let fuel = |n: u32| {
        let wasm = module(&format!(
            r#"(table 10 100000 funcref)
               (func (export "_start")
                 (table.fill 0 (i32.const 0) (ref.null func) (i32.const {n}))
                 (drop (table.grow 0 (ref.null func) (i32.const {n}))))"#
        ));
        let r = run(&wasm, LIMITS).unwrap();
        assert_eq!(r.status, Status::Exited(0));
        r.fuel_used
    };
    assert_eq!(fuel(10) - fuel(0), 2 * 10);
}

#[test]
fn a_trapping_run_reports_the_same_fuel_every_time() {
    // the fuel of a trap is what the module had written back at its last call
    let wasm = module(
        r#"(func $g (result i32) (i32.const 5))
           (func (export "_start") (local i32)
             (loop (local.set 0 (i32.add (local.get 0) (call $g)))
                   (br_if 0 (i32.lt_u (local.get 0) (i32.const 5000))))
             (drop (i32.load (i32.const 1000000))))"#,
    );
    let a = run(&wasm, LIMITS).unwrap();
    assert_eq!(a.status, Status::Trapped);
    assert!(a.fuel_used > 1000, "{}", a.fuel_used);
    assert_eq!(a, run(&wasm, LIMITS).unwrap());
}

#[test]
fn modules_the_pass_cannot_meter_are_refused() {
    let refused = [
        (
            "a start function",
            r#"(module (func $s) (start $s) (func (export "_start")))"#,
        ),
        (
            "a 64-bit memory",
            r#"(module (memory i64 1) (func (export "_start")))"#,
        ),
        (
            "two memories",
            r#"(module (memory 1) (memory 1) (func (export "_start")))"#,
        ),
        (
            "a reserved export",
            r#"(module (global (export "cmkt:fuel") i32 (i32.const 0)) (func (export "_start")))"#,
        ),
        (
            "a shared memory",
            r#"(module (memory 1 1 shared) (func (export "_start")))"#,
        ),
        // cmkt.sha256 takes its fuel at the call site: called through a table (or by the
        // host) it would hash for free
        (
            "cmkt.sha256 in a table",
            r#"(module (import "cmkt" "sha256" (func $h (param i32 i32 i32)))
                 (table 1 funcref) (elem (i32.const 0) $h) (func (export "_start")))"#,
        ),
        (
            "cmkt.sha256 in a declared element segment",
            r#"(module (import "cmkt" "sha256" (func $h (param i32 i32 i32)))
                 (elem declare funcref (ref.func $h)) (func (export "_start")))"#,
        ),
        (
            "cmkt.sha256 exported",
            r#"(module (import "cmkt" "sha256" (func $h (param i32 i32 i32)))
                 (export "h" (func $h)) (func (export "_start")))"#,
        ),
        (
            "cmkt.sha256 in a global",
            r#"(module (import "cmkt" "sha256" (func $h (param i32 i32 i32)))
                 (global funcref (ref.func $h)) (func (export "_start")))"#,
        ),
    ];
    let ex = v3();
    for (what, wat) in refused {
        let wasm = wat::parse_str(wat).unwrap();
        assert!(
            matches!(instrument(&wasm), Err(Refused::Unsupported(_))),
            "{what}"
        );
        match ex.compile(&wasm) {
            Err(Refusal::InvalidModule(m)) => assert!(m.contains("wasi-p1v3"), "{what}: {m}"),
            other => panic!("{what}: {:?}", other.err()),
        }
    }
    // a module of none of those is metered and runs
    let fine = wat::parse_str(r#"(module (func (export "_start")))"#).unwrap();
    assert!(instrument(&fine).is_ok());
    assert_eq!(run(&fine, LIMITS).unwrap().status, Status::Exited(0));
}

/// Room for a sample job's workload.
/// Fuel of each sample at `workload(200)` under `wasi-p1v3`.
const PINNED_FUEL: [(&str, u64); 5] = [
    ("hash-chain", 50_756_118),
    ("monte-carlo", 7_508_007),
    ("word-freq", 12_702_781),
    ("mandelbrot", 31_824_230),
    ("digits", 35_475_663),
];

/// The pass defines runtime `wasi-p1v3`'s fuel counts, which are part of every result root: a
/// change to it that changes them needs a new runtime id, not an edit of these numbers. The
/// outputs are those of `wasi-p1v2`, byte for byte.
#[test]
fn the_samples_give_wasi_p1v2_outputs_and_pinned_fuel() {
    let (v2, v3) = (
        Executor::with(Options::for_runtime(RUNTIME_V2).unwrap(), None).unwrap(),
        v3(),
    );
    let fuel: Vec<(&str, u64)> = SAMPLES
        .iter()
        .map(|sample| {
            let (input, args) = sample.workload(200);
            let [a, b] = [&v2, &v3].map(|ex| {
                let m = ex.compile(sample.wasm).unwrap();
                ex.run(&m, &input, &args, &[1; 32], SAMPLE_LIMITS).unwrap()
            });
            assert_eq!(a.status, Status::Exited(0), "{}", sample.name);
            assert_eq!(
                (a.status, &a.output),
                (b.status, &b.output),
                "{}",
                sample.name
            );
            (sample.name, b.fuel_used)
        })
        .collect();
    assert_eq!(fuel, PINNED_FUEL);
}
