//! Runtime `wasi-p1v3`'s host functions: `cmkt.sha256` hashes in bounds, takes its fuel in the
//! module and traps out of bounds or overdrawn, is offered under `wasi-p1v3` only and gives
//! hash-chain's output; `poll_oneoff` never sleeps, and modules that could sleep are refused
//! under the runtimes before.

use compute_sandbox::samples::{HASH_CHAIN_HOST, SAMPLES};
use compute_sandbox::{
    Executor, Limits, Options, Refusal, Status, RUNTIME, RUNTIME_V2, RUNTIME_V3,
    SHA256_FUEL_PER_BLOCK, SHA256_FUEL_PER_CALL,
};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

mod common;
use common::metered::*;

/// A module that hashes the `len` bytes at `data` into `out` with the host's sha256 and writes
/// the 32 bytes at `out`.
fn sha256_module(data: u32, len: u32, out: u32) -> Vec<u8> {
    module_importing(
        r#"(import "cmkt" "sha256" (func $sha256 (param i32 i32 i32)))"#,
        &format!(
            r#"(data (i32.const 0) "abc")
           (func (export "_start")
             (call $sha256 (i32.const {data}) (i32.const {len}) (i32.const {out}))
             (i32.store (i32.const 200) (i32.const {out}))
             (i32.store (i32.const 204) (i32.const 32))
             (drop (call $write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208))))"#
        ),
    )
}

#[test]
fn the_hosts_sha256_hashes_in_bounds_and_charges_its_blocks() {
    let r = run(&sha256_module(0, 3, 64), LIMITS).unwrap();
    assert_eq!(r.status, Status::Exited(0));
    assert_eq!(r.output, Sha256::digest(b"abc").to_vec());
    // the output may overlap the input
    let r = run(&sha256_module(0, 3, 1), LIMITS).unwrap();
    assert_eq!(r.output, Sha256::digest(b"abc").to_vec());

    // a block per 64 bytes, the padding's included
    let fuel = |len| {
        run(&sha256_module(0, len, 60_000), LIMITS)
            .unwrap()
            .fuel_used
    };
    let per = SHA256_FUEL_PER_BLOCK;
    assert_eq!(fuel(55) - fuel(0), 0);
    assert_eq!(fuel(56) - fuel(0), per);
    assert_eq!(fuel(50_000) - fuel(0), (782 - 1) * per);
    assert!(fuel(0) > SHA256_FUEL_PER_CALL + per);

    // out of bounds, or wrapping past 4 GiB: a trap, nothing written
    for (data, len, out) in [(65_000, 1_000, 64), (0, 3, 65_520), (u32::MAX - 1, 3, 64)] {
        let r = run(&sha256_module(data, len, out), LIMITS).unwrap();
        assert_eq!(
            (r.status, r.output.len()),
            (Status::Trapped, 0),
            "{data} {len} {out}"
        );
    }
    // a hash the fuel cannot pay for is not computed
    let tight = Limits {
        max_fuel: SHA256_FUEL_PER_CALL + 10 * SHA256_FUEL_PER_BLOCK,
        ..LIMITS
    };
    let r = run(&sha256_module(0, 60_000, 64), tight).unwrap();
    assert_eq!((r.status, r.output.len()), (Status::OutOfFuel, 0));
    assert_eq!(r.fuel_used, tight.max_fuel);
    let r = run(&sha256_module(0, u32::MAX, 64), LIMITS).unwrap();
    assert_eq!((r.status, r.output.len()), (Status::OutOfFuel, 0));
}

#[test]
fn every_import_of_the_hosts_sha256_pays() {
    // imported twice, under two indices: a call of either takes the hash's fuel
    let fuel = |callee: &str| {
        let wasm = module_importing(
            r#"(import "cmkt" "sha256" (func $first (param i32 i32 i32)))
               (import "cmkt" "sha256" (func $second (param i32 i32 i32)))"#,
            &format!(
                r#"(func (export "_start")
                     (call {callee} (i32.const 0) (i32.const 1000) (i32.const 2000)))"#
            ),
        );
        let r = run(&wasm, LIMITS).unwrap();
        assert_eq!(r.status, Status::Exited(0), "{callee}");
        r.fuel_used
    };
    let hash = SHA256_FUEL_PER_CALL + (1000 + 9u64).div_ceil(64) * SHA256_FUEL_PER_BLOCK;
    let (first, second) = (fuel("$first"), fuel("$second"));
    assert_eq!(first, second);
    assert!(first > hash && first < hash + 20, "{first} vs {hash}");
}

#[test]
fn only_wasi_p1v3_offers_the_hosts_sha256() {
    let wasm = sha256_module(0, 3, 64);
    for runtime in [RUNTIME, RUNTIME_V2] {
        let ex = Executor::with(Options::for_runtime(runtime).unwrap(), None).unwrap();
        assert!(
            matches!(ex.compile(&wasm), Err(Refusal::InvalidModule(_))),
            "{runtime}"
        );
    }
    // with the wrong signature it is refused under wasi-p1v3 too
    let wrong = module_importing(
        r#"(import "cmkt" "sha256" (func (param i32 i32)))"#,
        r#"(func (export "_start"))"#,
    );
    assert!(matches!(
        v3().compile(&wrong),
        Err(Refusal::InvalidModule(_))
    ));
}

#[test]
fn hash_chain_asking_the_host_gives_hash_chains_output() {
    let (input, args) = HASH_CHAIN_HOST.workload(200);
    let ex = v3();
    let [plain, host] = [SAMPLES[0], HASH_CHAIN_HOST].map(|sample| {
        let m = ex.compile(sample.wasm).unwrap();
        ex.run(&m, &input, &args, &[1; 32], SAMPLE_LIMITS).unwrap()
    });
    assert_eq!(host.status, Status::Exited(0));
    assert_eq!(host.output, plain.output);
    // a sixth of the fuel: the host's blocks are priced at about what they cost it
    assert!(
        host.fuel_used * 5 < plain.fuel_used,
        "{} vs {}",
        host.fuel_used,
        plain.fuel_used
    );
    assert_eq!(host.fuel_used, 8_145_998, "pinned");
}

/// A module that polls `n` subscriptions at 0 (the first with tag `tag`, a clock of
/// `timeout` ns) and writes the errno, the event count and the first event (at 92, 96, 100).
fn poll_module(tag: u32, timeout: i64, n: u32) -> Vec<u8> {
    module_importing(
        r#"(import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))"#,
        &format!(
            r#"(func (export "_start")
                 (i64.store (i32.const 0) (i64.const 0x1234))
                 (i32.store8 (i32.const 8) (i32.const {tag}))
                 (i32.store (i32.const 16) (i32.const 1))
                 (i64.store (i32.const 24) (i64.const {timeout}))
                 (i32.store (i32.const 92)
                   (call $poll (i32.const 0) (i32.const 100) (i32.const {n}) (i32.const 96)))
                 (i32.store (i32.const 300) (i32.const 92)) (i32.store (i32.const 304) (i32.const 40))
                 (drop (call $write (i32.const 1) (i32.const 300) (i32.const 1) (i32.const 400))))"#
        ),
    )
}

#[test]
fn modules_that_can_sleep_are_refused_under_wasi_p1_and_wasi_p1v2() {
    // their poll_oneoff is WASI's own, which would sleep this one's u64::MAX ns
    let sleeper = poll_module(0, -1, 1);
    let v2 = Executor::with(Options::for_runtime(RUNTIME_V2).unwrap(), None).unwrap();
    for runtime in [RUNTIME, RUNTIME_V2] {
        match v2.compile_for(runtime, &sleeper) {
            Err(Refusal::InvalidModule(why)) => assert!(
                why.contains("poll_oneoff") && why.contains(RUNTIME_V3),
                "{runtime}: {why}"
            ),
            other => panic!("{runtime}: {:?}", other.map(|_| "compiled")),
        }
    }
    assert!(v3().compile(&sleeper).is_ok());
    // a module that does not import it still compiles there
    assert!(v2
        .compile_for(RUNTIME, &module(r#"(func (export "_start"))"#))
        .is_ok());
}

#[test]
fn sleeping_never_waits_under_wasi_p1v3() {
    // a clock subscription of u64::MAX nanoseconds, which WASI's own poll_oneoff would sleep
    let t = Instant::now();
    let r = run(&poll_module(0, -1, 1), LIMITS).unwrap();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(r.status, Status::Exited(0));
    let mut expected = [0u32.to_le_bytes(), 1u32.to_le_bytes()].concat();
    expected.extend(0x1234u64.to_le_bytes());
    expected.extend([0; 24]);
    assert_eq!(r.output, expected);
    // a file descriptor's subscription is not supported, no subscription is invalid
    let errno = |wasm: Vec<u8>| {
        u32::from_le_bytes(run(&wasm, LIMITS).unwrap().output[..4].try_into().unwrap())
    };
    assert_eq!(errno(poll_module(1, 0, 1)), 58);
    assert_eq!(errno(poll_module(0, 0, 0)), 28);
    // subscriptions past the end of memory
    assert_eq!(errno(poll_module(0, 0, 2000)), 21);
}
