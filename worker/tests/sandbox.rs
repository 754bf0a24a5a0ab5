//! Hostile and ordinary modules in the sandbox: every outcome is deterministic, nothing crashes
//! or hangs the worker.

use compute_market_client::merkle::ExitStatus;
use compute_worker::executor::{Executor, Limits, Refusal, RUNTIMES};
use std::time::{Duration, Instant};

mod common;
use common::{module, WASI, WRITE};

fn limits() -> Limits {
    Limits {
        max_fuel: 50_000_000,
        max_memory: 4 << 20,
        max_output: 1 << 16,
        timeout: Duration::from_secs(20),
    }
}

/// Runs `wasm` in runtime `wasi-p1`, and in every other runtime to the same outcome and output
/// (fuel counts may differ between runtimes).
fn run(
    ex: &Executor,
    wasm: &[u8],
    input: &[u8],
    limits: Limits,
) -> Result<compute_worker::executor::Execution, Refusal> {
    let mut runs = RUNTIMES.iter().map(|runtime| {
        let m = ex.compile(runtime, wasm)?;
        ex.run(&m, input, &[], &[7; 32], limits)
    });
    let first = runs.next().expect("a runtime")?;
    for other in runs {
        let other = other?;
        assert_eq!(
            (first.status, &first.output),
            (other.status, &other.output),
            "{} and {} agree",
            first.runtime,
            other.runtime
        );
    }
    Ok(first)
}

#[test]
fn echo_reads_stdin_and_writes_stdout_deterministically() {
    let ex = Executor::new().unwrap();
    let wasm = module(&format!(
        r#"{WRITE}
      (func (export "_start") (local $n i32)
        (i32.store (i32.const 16) (i32.const 1024))
        (i32.store (i32.const 20) (i32.const 4096))
        (drop (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
        (call $write (i32.const 1024) (i32.load (i32.const 24))))"#
    ));
    let a = run(&ex, &wasm, b"hello sandbox", limits()).unwrap();
    assert_eq!(a.output, b"hello sandbox");
    assert_eq!(a.status, ExitStatus::Exited(0));
    assert!(a.fuel_used > 0);
    let b = run(&ex, &wasm, b"hello sandbox", limits()).unwrap();
    assert_eq!(a, b, "same input, same output and fuel");
    let job = compute_market_client::Pubkey::new_unique();
    assert_eq!(a.summary().root(&job), b.summary().root(&job));
    let c = run(&ex, &wasm, b"other input", limits()).unwrap();
    assert_ne!(a.summary().root(&job), c.summary().root(&job));
}

#[test]
fn exit_codes_are_results() {
    let ex = Executor::new().unwrap();
    let wasm = module(r#"(func (export "_start") (call $proc_exit (i32.const 3)))"#);
    assert_eq!(
        run(&ex, &wasm, b"", limits()).unwrap().status,
        ExitStatus::Exited(3)
    );
}

#[test]
fn clock_and_random_are_fixed_per_job() {
    let ex = Executor::new().unwrap();
    let wasm = module(&format!(
        r#"{WRITE}
      (func (export "_start")
        (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 96)))
        (drop (call $random_get (i32.const 104) (i32.const 32)))
        (call $write (i32.const 96) (i32.const 40)))"#
    ));
    let m = ex.compile(RUNTIMES[0], &wasm).unwrap();
    let a = ex.run(&m, b"", &[], &[1; 32], limits()).unwrap();
    assert_eq!(a.status, ExitStatus::Exited(0), "{:?}", a.detail);
    let b = ex.run(&m, b"", &[], &[1; 32], limits()).unwrap();
    let c = ex.run(&m, b"", &[], &[2; 32], limits()).unwrap();
    assert_eq!(a.output, b.output, "same job, same clock and random bytes");
    assert_eq!(
        a.output[..8],
        c.output[..8],
        "the clock does not depend on the job"
    );
    assert_ne!(
        a.output[8..],
        c.output[8..],
        "random bytes are seeded by the job"
    );
    let nanos = u64::from_le_bytes(a.output[..8].try_into().unwrap());
    assert_eq!(nanos, 1_577_836_800 * 1_000_000_000, "2020-01-01T00:00:00Z");
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let ex = Executor::new().unwrap();
    let wasm = module(r#"(func (export "_start") (loop (br 0)))"#);
    let t = Instant::now();
    let r = run(&ex, &wasm, b"", limits()).unwrap();
    assert_eq!(r.status, ExitStatus::OutOfFuel);
    assert_eq!(r.fuel_used, limits().max_fuel);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(r, run(&ex, &wasm, b"", limits()).unwrap());
}

#[test]
fn a_slow_module_hits_the_wall_clock_and_is_refused() {
    let ex = Executor::new().unwrap();
    let wasm = module(r#"(func (export "_start") (loop (br 0)))"#);
    let l = Limits {
        max_fuel: u64::MAX,
        timeout: Duration::from_millis(200),
        ..limits()
    };
    let t = Instant::now();
    assert_eq!(run(&ex, &wasm, b"", l), Err(Refusal::Timeout(l.timeout)));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn a_memory_bomb_hits_the_memory_cap() {
    let ex = Executor::new().unwrap();
    // grow one page at a time until refused, then trap
    let wasm = module(
        r#"(func (export "_start")
        (loop (br_if 0 (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
        unreachable)"#,
    );
    let r = run(&ex, &wasm, b"", limits()).unwrap();
    assert_eq!(r.status, ExitStatus::OutOfMemory);
    assert_eq!(r, run(&ex, &wasm, b"", limits()).unwrap());
    // a module that declares more initial memory than allowed never starts
    let big = wat::parse_str(format!(
        "(module {WASI} (memory 200) (func (export \"_start\")))"
    ))
    .unwrap();
    assert_eq!(
        run(&ex, &big, b"", limits()).unwrap().status,
        ExitStatus::OutOfMemory
    );
}

#[test]
fn an_output_bomb_is_cut_at_the_limit() {
    let ex = Executor::new().unwrap();
    let wasm = module(&format!(
        r#"{WRITE}
      (func (export "_start") (loop (call $write (i32.const 1024) (i32.const 1000)) (br 0)))"#
    ));
    let r = run(&ex, &wasm, b"", limits()).unwrap();
    assert_eq!(r.status, ExitStatus::OutputLimit);
    assert_eq!(r.output.len() as u64, limits().max_output);
    assert_eq!(r, run(&ex, &wasm, b"", limits()).unwrap());
}

#[test]
fn traps_and_invalid_modules() {
    let ex = Executor::new().unwrap();
    let trap = module(r#"(func (export "_start") unreachable)"#);
    assert_eq!(
        run(&ex, &trap, b"", limits()).unwrap().status,
        ExitStatus::Trapped
    );
    let oob = module(r#"(func (export "_start") (drop (i32.load (i32.const 1000000))))"#);
    assert_eq!(
        run(&ex, &oob, b"", limits()).unwrap().status,
        ExitStatus::Trapped
    );
    let recurse = module(r#"(func $f (export "_start") (call $f))"#);
    assert_eq!(
        run(&ex, &recurse, b"", limits()).unwrap().status,
        ExitStatus::Trapped
    );
    assert!(matches!(
        run(&ex, b"\0asm\x01\0\0\0garbage", b"", limits()),
        Err(Refusal::InvalidModule(_))
    ));
    assert!(matches!(
        run(&ex, b"not wasm at all", b"", limits()),
        Err(Refusal::InvalidModule(_))
    ));
    let no_start = module(r#"(func (export "main"))"#);
    assert!(matches!(
        run(&ex, &no_start, b"", limits()),
        Err(Refusal::InvalidModule(_))
    ));
    let foreign =
        wat::parse_str(r#"(module (import "env" "socket" (func)) (func (export "_start")))"#)
            .unwrap();
    assert!(matches!(
        run(&ex, &foreign, b"", limits()),
        Err(Refusal::InvalidModule(_))
    ));
    // all of these are refused at compile time, before a worker would claim the job
    let wrong_type = wat::parse_str(
        r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32))) (func (export "_start")))"#,
    )
    .unwrap();
    let start_with_args = module(r#"(func (export "_start") (param i32))"#);
    for bad in [&foreign, &no_start, &wrong_type, &start_with_args] {
        for runtime in RUNTIMES {
            assert!(
                matches!(ex.compile(runtime, bad), Err(Refusal::InvalidModule(_))),
                "{runtime}: {:?}",
                ex.compile(runtime, bad).err()
            );
        }
    }
    // and so is a runtime this worker lacks
    let fine = module(r#"(func (export "_start"))"#);
    assert!(ex.compile(RUNTIMES[0], &fine).is_ok());
    match ex.compile("wasi-p2", &fine) {
        Err(Refusal::InvalidModule(m)) => assert!(m.contains("runtime wasi-p2"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
}
