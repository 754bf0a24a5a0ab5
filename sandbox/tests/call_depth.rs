//! Runtime `wasi-p1v3`'s call-depth rule (`compute_sandbox::meter`, `frames.rs`): how deep a
//! module may call is set by the module (each function's weight in stack units against
//! `STACK_BUDGET`), not by the size of the native frames Cranelift gives it, so a recursion
//! ends the same way on every machine and wasmtime version. Without the rule, the recursions
//! below run past the depths they must stop at (wasmtime's limit is then the native stack's).

use compute_sandbox::meter::{FRAME_UNITS, LEAF_RESERVE, MAX_FRAME_WEIGHT, STACK_BUDGET};
use compute_sandbox::samples::products_across_a_call;
use compute_sandbox::{Execution, Executor, Limits, Options, Refusal, Status, RUNTIME_V3};
use std::time::Duration;

const LIMITS: Limits = Limits {
    max_fuel: 1 << 40,
    max_memory: 64 << 20,
    max_output: 1 << 16,
    timeout: Duration::from_secs(60),
};

/// The metering pass's own locals in every function.
const ADDED_LOCALS: u32 = 4;
/// The NaN rewrite's scratch locals (an `f32` and an `f64`) in every function of a module
/// without SIMD, which the rewrite sees before the metering.
const NAN_LOCALS: u32 = 2;

/// `wasi-p1v3`, and `wasi-p1v3` with explicit bounds checks: the same runtime compiled to other
/// machine code (other native frames).
fn options() -> [Options; 2] {
    let v3 = Options::for_runtime(RUNTIME_V3).unwrap();
    let other = Options {
        explicit_bounds_checks: true,
        ..v3
    };
    [v3, other]
}

/// Executors of [`options`].
fn executors() -> [Executor; 2] {
    options().map(|o| Executor::with(o, None).unwrap())
}

/// Runs `wat` on each of [`executors`]; the outcomes must be the same, and are returned once.
fn run(wat: &str) -> Execution {
    run_wasm_on_both(&wat::parse_str(wat).unwrap())
}

/// [`run`] for a module's bytes.
fn run_wasm_on_both(wasm: &[u8]) -> Execution {
    let [a, b] = executors().map(|ex| run_wasm(&ex, wasm));
    assert_eq!(a, b, "the same outcome whatever the machine code");
    a
}

/// Whether `r` ended at the rule's trap (an `unreachable` the pass adds), not at wasmtime's
/// stack limit.
fn stopped_by_the_rule(r: &Execution) -> bool {
    r.status == Status::Trapped
        && r.detail
            .as_deref()
            .is_some_and(|d| d.contains("unreachable"))
}

/// The most frames of weight `w` that fit below a caller of weight `caller`.
fn frames_that_fit(caller: u32, w: u32) -> u32 {
    (STACK_BUDGET - caller - LEAF_RESERVE) / w
}

/// `$f(n)` recurses `n` deep (`n + 1` frames) and returns `n`, after `{before}` in `_start`.
fn recursion(n: u32, before: &str, funcs: &str) -> String {
    format!(
        r#"(module
  (memory (export "memory") 1)
  (func $f (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $f (i32.sub (local.get 0) (i32.const 1)))))))
  {funcs}
  (func (export "_start") {before} (drop (call $f (i32.const {n})))))"#
    )
}

/// `$f`'s weight: its parameter, the rewrites' locals and an operand stack of at most 3 (in the
/// `else`: 1, `n`, 1), and `_start`'s (a stack of 1).
const F: u32 = FRAME_UNITS + 1 + NAN_LOCALS + ADDED_LOCALS + 3;
const START: u32 = FRAME_UNITS + NAN_LOCALS + ADDED_LOCALS + 1;
/// `_start`'s in a module with SIMD (no NaN rewrite before the metering).
const SIMD_START: u32 = FRAME_UNITS + ADDED_LOCALS + 1;

#[test]
fn a_recursion_stops_at_the_depth_its_weights_give() {
    let deepest = frames_that_fit(START, F) - 1;
    let r = run(&recursion(deepest, "", ""));
    assert_eq!(r.status, Status::Exited(0), "{:?}", r.detail);
    let r = run(&recursion(deepest + 1, "", ""));
    assert!(stopped_by_the_rule(&r), "{r:?}");
    // the trap comes before the callee's first instruction, with the fuel of the calls before
    assert!(r.fuel_used > 0);
}

#[test]
fn every_way_out_gives_the_weight_back() {
    // `$g` is called 100 000 times (far more than the budget's frames) and leaves by each way
    // a function can; then the recursion must still reach exactly as deep: a way out that kept
    // the weight would trap in the loop, one that gave it twice would let the recursion deeper
    let g = r#"
  (func $leaf (param i32) (result i32) (local.get 0))
  (func $g (param i32) (result i32)
    (drop (call $leaf (local.get 0)))
    (block $b5
      (block $b4
        (block $b3
          (block $b2
            (block $b1
              (block $b0
                (br_table $b0 $b1 $b2 $b3 $b4 $b5 (i32.rem_u (local.get 0) (i32.const 6))))
              ;; `return`
              (return (i32.const 1)))
            ;; `br` to the function's label
            (br 4 (i32.const 2)))
          ;; `br_if` to it
          (drop (br_if 3 (i32.const 3) (i32.const 1)))
          (unreachable))
        ;; a return call
        (return_call $leaf (i32.const 4)))
      ;; `br_table` to it
      (br_table 1 1 (i32.const 5) (local.get 0)))
    ;; the end
    (i32.const 6))
  (func $loop (local i32)
    (loop
      (drop (call $g (local.get 0)))
      (br_if 0 (i32.lt_u (local.tee 0 (i32.add (local.get 0) (i32.const 1))) (i32.const 100000)))))"#;
    // `_start` calls `$loop` first: its stack of 1 while calling `$f` is unchanged
    let deepest = frames_that_fit(START, F) - 1;
    let r = run(&recursion(deepest, "(call $loop)", g));
    assert_eq!(r.status, Status::Exited(0), "{:?}", r.detail);
    let r = run(&recursion(deepest + 1, "(call $loop)", g));
    assert!(stopped_by_the_rule(&r), "{r:?}");
}

/// `$f(n)`, recursing `n` deep: `vectors` different vector locals, each set and stored before
/// the call and added after it (so Cranelift keeps them all across the call), and `pushes`
/// before the call with `adds` after it.
fn vectors_across_a_call(vectors: u32, pushes: &str, adds: &str) -> String {
    let locals = "v128 ".repeat(vectors as usize);
    let sets: String = (1..=vectors)
        .map(|i| {
            format!(
                "(local.set {i} (i64x2.splat (i64.mul (i64.extend_i32_u (local.get 0)) (i64.const {}))))
                 (v128.store offset={} (i32.const 0) (local.get {i}))",
                100 + i,
                16 * i
            )
        })
        .collect();
    let gets: String = (1..=vectors)
        .map(|i| format!("(local.get {i}) (i8x16.add)"))
        .collect();
    format!(
        r#"(func $f (param i32) (result v128) (local {locals})
    {sets}
    (if (result v128) (i32.eqz (local.get 0))
      (then (v128.const i64x2 0 0))
      (else {pushes} (call $f (i32.sub (local.get 0) (i32.const 1))) {adds} {gets})))"#
    )
}

#[test]
fn heavy_frames_run_out_of_the_budget_before_the_native_stack() {
    // every frame keeps 24 vectors on the operand stack and 40 vector locals across its call,
    // all different and all used before it (stored) and after it: Cranelift spills them all,
    // a heavy native frame for its weight
    let pushes: String = (1..=24)
        .map(|k| {
            format!("(i64x2.splat (i64.mul (i64.extend_i32_u (local.get 0)) (i64.const {k})))")
        })
        .collect();
    let adds = "(i8x16.add) ".repeat(24);
    let wat = format!(
        r#"(module
  (memory (export "memory") 1)
  {f}
  (func (export "_start") (drop (call $f (i32.const 1000000)))))"#,
        f = vectors_across_a_call(40, &pushes, &adds)
    );
    let r = run(&wat);
    assert!(stopped_by_the_rule(&r), "{r:?}");
    // and it stopped where the weights say: the same run a frame less deep completes
    let weight = FRAME_UNITS + 41 + ADDED_LOCALS + 24 + 2;
    let deepest = frames_that_fit(SIMD_START, weight) - 1;
    let r = run(&wat.replace("1000000", &deepest.to_string()));
    assert_eq!(r.status, Status::Exited(0), "{:?}", r.detail);
    let r = run(&wat.replace("1000000", &(deepest + 1).to_string()));
    assert!(stopped_by_the_rule(&r), "{r:?}");
}

/// [`products_across_a_call`], compiled.
fn products(products: u32) -> Vec<u8> {
    wat::parse_str(products_across_a_call(products)).unwrap()
}

#[test]
fn a_module_whose_frames_outgrow_their_weight_is_refused_before_it_runs() {
    // 5000 products: a frame of about 40 KB (the prologue's shape for frames of 32 KiB and
    // more) for 832 bytes of weight; the native stack would run out long before the budget,
    // at a depth that depends on the machine. The worker compiles before it claims, so it
    // skips such a job (worker/tests/daemon.rs)
    let wasm = products(5000);
    for ex in executors() {
        match ex.compile(&wasm) {
            Err(Refusal::InvalidModule(m)) if cfg!(target_arch = "x86_64") => {
                assert!(m.contains("native frame takes"), "{m}")
            }
            // elsewhere the machine code is not read: the run is refused (below)
            Ok(m) if !cfg!(target_arch = "x86_64") => assert_eq!(
                ex.run(&m, b"", &[], &[0; 32], LIMITS),
                Err(Refusal::StackLimit)
            ),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
    // twenty products make a frame of about 200 bytes: within the weight, so the module runs,
    // and stops at the rule
    let r = run_wasm_on_both(&products(20));
    assert!(stopped_by_the_rule(&r), "{r:?}");
}

#[test]
fn a_run_that_reaches_the_native_stack_limit_anyway_is_refused() {
    // with the compile-time check off (as on a CPU whose code it does not read), the thousand
    // products reach wasmtime's limit: a refusal, never a result, since where the run
    // stopped depends on the machine (committed, it would be `Trapped` at some fuel)
    let wasm = products(1000);
    for o in options() {
        let ex = Executor::with(
            Options {
                frame_check: false,
                ..o
            },
            None,
        )
        .unwrap();
        let m = ex.compile(&wasm).unwrap();
        assert_eq!(
            ex.run(&m, b"", &[], &[0; 32], LIMITS),
            Err(Refusal::StackLimit)
        );
    }
}

#[test]
fn a_large_frame_within_its_weight_runs() {
    // 2100 vectors stored before the call and added after it: Cranelift keeps them across the
    // call, a frame past 32 KiB (the prologue's other shape) within the weight of 2100 units
    // and more
    let wasm = wat::parse_str(format!(
        r#"(module
  (memory (export "memory") 1)
  {}
  (func (export "_start") (drop (call $f (i32.const 3)))))"#,
        vectors_across_a_call(2100, "", "")
    ))
    .unwrap();
    assert_eq!(run_wasm_on_both(&wasm).status, Status::Exited(0));
}

#[test]
fn a_function_heavier_than_a_frame_may_is_refused() {
    // an operand stack past the cap
    let pushes = "(i32.const 1) ".repeat(MAX_FRAME_WEIGHT as usize);
    let drops = "(drop) ".repeat(MAX_FRAME_WEIGHT as usize);
    let wat = format!(
        r#"(module (memory (export "memory") 1) (func (export "_start") {pushes} {drops}))"#
    );
    let wasm = wat::parse_str(wat).unwrap();
    let [ex, _] = executors();
    match ex.compile(&wasm) {
        Err(Refusal::InvalidModule(m)) => assert!(m.contains("stack units"), "{m}"),
        other => panic!("{other:?}"),
    }
    // and one at a realistic size runs
    let wasm = wat::parse_str(format!(
        r#"(module (memory (export "memory") 1) (func (export "_start") {} {}))"#,
        "(i32.const 1) ".repeat(1000),
        "(drop) ".repeat(1000)
    ))
    .unwrap();
    assert_eq!(run_wasm(&ex, &wasm).status, Status::Exited(0));
}

fn run_wasm(ex: &Executor, wasm: &[u8]) -> Execution {
    let m = ex.compile(wasm).unwrap();
    ex.run(&m, b"", &[], &[0; 32], LIMITS).unwrap()
}
