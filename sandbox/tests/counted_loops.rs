//! Runtime `wasi-p1v3`'s counted loops (`compute_sandbox::meter`): a loop whose trip count is
//! known when it starts takes the trip's fuel then. Every shape the pass recognises, with
//! trips that end, wrap around and never end, gives the outcome, output and fuel of the same
//! loop metered per iteration, at and around the exact fuel it needs; endless and long trips
//! still hit the wall clock.

use compute_sandbox::meter::{instrument_with, Shortcuts, COUNTED_LOOP_CAP};
use compute_sandbox::{Executor, Limits, Refusal, Status};
use std::time::{Duration, Instant};

mod common;

const LIMITS: Limits = common::SMALL_LIMITS;

fn v3(counted_loops: bool) -> Executor {
    common::v3_with(|o| o.counted_loops = counted_loops)
}

/// A module whose `_start` runs one loop on counter `$x` from `init`, stepped by `step`, with
/// the branch back `br_if`, and writes how many times the body ran (memory[0..4]).
fn module(init: i32, step: i32, br_if: &str) -> Vec<u8> {
    let step = format!("(local.tee $x (i32.add (local.get $x) (i32.const {step})))");
    let cond = br_if.replace("STEP", &step);
    wat::parse_str(format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $x i32) (local $n i32)
    (local.set $x (i32.const {init}))
    (local.set $n (i32.const 160))
    (loop
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
      (br_if 0 {cond}))
    (i32.store (i32.const 8) (i32.const 0))
    (i32.store (i32.const 12) (i32.const 4))
    (drop (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))))"#
    ))
    .unwrap()
}

/// The loop's branch back, `STEP` standing for the counter's step, and which steps the pass
/// counts it for: each shape it recognises (the bound 0, a constant, a local, the bound first,
/// below a local or a constant near 2^32 with a positive step), and one it does not.
const SHAPES: [(&str, Counts); 7] = [
    ("STEP", any),
    ("(i32.ne STEP (i32.const 160))", any),
    ("(i32.ne STEP (local.get $n))", any),
    ("(i32.ne (local.get $n) STEP)", any),
    ("(i32.lt_u STEP (local.get $n))", positive),
    ("(i32.lt_u STEP (i32.const -3))", positive),
    ("(i32.gt_u (local.get $n) STEP)", none),
];

/// Whether the pass counts a shape's loop with this step.
type Counts = fn(i32) -> bool;

fn any(_: i32) -> bool {
    true
}

fn positive(step: i32) -> bool {
    step > 0
}

fn none(_: i32) -> bool {
    false
}

/// Counters and steps: trips of 10 and 7, one that reaches 160, one of 2 with the largest
/// step, one of 4096 (within the cap), one that wraps around (2^32 iterations, over the cap),
/// an odd distance with an even step (never ends), a step that is not a power of two; below
/// 2^32 - 3, one that stops at 2^32 - 1 and one that wraps around instead (then goes on for
/// 2^29 iterations, never at the bound).
const TRIPS: [(i32, i32); 10] = [
    (40, -4),
    (-7, 1),
    (0, 16),
    (0, i32::MIN),
    (0, 1 << 20),
    (0, -1),
    (5, -2),
    (150, 3),
    (-13, 4),
    (-13, 8),
];

#[test]
fn counted_loops_give_the_outcome_and_fuel_of_loops_metered_per_iteration() {
    // a trip counted wrong can run its copy without checks, where no timeout reaches it: fail
    // then instead of hanging (the test takes about a minute in a debug build)
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(600));
        eprintln!("a run did not end within 600 s: a counted loop ran past its trip unchecked");
        std::process::exit(1);
    });
    let (counted, per_iteration) = (v3(true), v3(false));
    let mut fast = 0;
    for (shape, counts) in SHAPES {
        for (init, step) in TRIPS {
            let wasm = module(init, step, shape);
            let case = format!("{shape} from {init} by {step}");
            let rewritten = instrument_with(&wasm, Shortcuts::ALL).unwrap();
            let uncounted = Shortcuts {
                counted_loops: false,
                ..Shortcuts::ALL
            };
            let differs = rewritten != instrument_with(&wasm, uncounted).unwrap();
            let power_of_two = step.unsigned_abs().is_power_of_two();
            assert_eq!(differs, counts(step) && power_of_two, "{case}");
            fast += usize::from(differs);
            let (a, b) = (
                counted.compile(&wasm).unwrap(),
                per_iteration.compile(&wasm).unwrap(),
            );
            let run = |ex: &Executor, m, max_fuel| {
                ex.run(m, b"", &[], &[0; 32], Limits { max_fuel, ..LIMITS })
                    .unwrap()
            };
            let whole = run(&per_iteration, &b, LIMITS.max_fuel);
            // at the fuel the run needs, one short of it, and a trip's worth short
            let need = whole.fuel_used;
            for max_fuel in [
                LIMITS.max_fuel,
                need,
                need - 1,
                need.saturating_sub(50),
                need / 2,
                30,
            ] {
                let (x, y) = (
                    run(&counted, &a, max_fuel),
                    run(&per_iteration, &b, max_fuel),
                );
                // (`detail`, for logs, names the trap's offset in the module)
                assert_eq!(
                    (x.status, x.fuel_used, x.output),
                    (y.status, y.fuel_used, y.output),
                    "{case}, max_fuel {max_fuel}"
                );
            }
            if whole.status == Status::Exited(0) {
                let ran = u32::from_le_bytes(whole.output[..4].try_into().unwrap());
                assert!(ran >= 1, "{case}: {ran}");
            } else {
                assert_eq!(whole.status, Status::OutOfFuel, "{case}");
            }
        }
    }
    assert!(fast >= 20, "{fast} loops took their trip's fuel at once");
}

#[test]
fn endless_and_long_counted_trips_hit_the_wall_clock() {
    // a trip that never ends; one of 2^32 iterations (over the cap); a counted trip within the
    // cap run again and again by an outer loop
    let inner = format!("(i32.const {})", COUNTED_LOOP_CAP / 64);
    let endless = [
        module(5, -2, "STEP"),
        module(0, -1, "STEP"),
        wat::parse_str(format!(
            r#"(module (memory 1)
  (func (export "_start") (local $x i32)
    (loop $outer
      (local.set $x {inner})
      (loop (i32.store (i32.const 0) (local.get $x))
        (br_if 0 (local.tee $x (i32.add (local.get $x) (i32.const -1)))))
      (br $outer))))"#
        ))
        .unwrap(),
    ];
    let ex = v3(true);
    for wasm in endless {
        common::assert_times_out(&ex, &wasm);
    }
}

#[test]
fn counted_loops_one_after_another_are_interrupted() {
    // 3 000 counted trips of the most a trip may take, one after another in a function that
    // calls nothing (so it has no check on entry) and has no other loop: only the check each
    // trip makes when it starts stands between the deadline and the end of the run
    let trip = format!("(i32.const {})", COUNTED_LOOP_CAP / 8);
    let trips = format!(
        "(local.set $x {trip}) (loop (i32.store (i32.const 0) (local.get $x)) (br_if 0 (local.tee $x (i32.add (local.get $x) (i32.const -1)))))\n"
    )
    .repeat(3000);
    let wasm = wat::parse_str(format!(
        r#"(module (memory 1)
  (func $trips (local $x i32) {trips})
  (func (export "_start") (call $trips)))"#
    ))
    .unwrap();
    let ex = v3(true);
    let m = ex.compile(&wasm).unwrap();
    let limits = |timeout| Limits {
        max_fuel: u64::MAX,
        timeout,
        ..LIMITS
    };
    let t = Instant::now();
    let whole = ex.run(&m, b"", &[], &[0; 32], limits(Duration::from_secs(60)));
    let took = t.elapsed();
    assert_eq!(whole.map(|r| r.status), Ok(Status::Exited(0)));
    let timeout = Duration::from_millis(20);
    assert!(
        took > 4 * timeout,
        "the trips take {took:?}, too little to test"
    );
    assert_eq!(
        ex.run(&m, b"", &[], &[0; 32], limits(timeout)),
        Err(Refusal::Timeout(timeout)),
        "interrupted before the {took:?} the trips take"
    );
}
