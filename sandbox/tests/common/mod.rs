//! What the sandbox's test binaries share.

pub mod metered;

/// f32 bit patterns that make NaN handling observable.
#[allow(dead_code)] // not every test binary compares floats
pub const F32_EDGES: [u32; 16] = [
    0x7fc0_0000, // canonical NaN
    0xffc0_0000, // negative quiet NaN (x86's default NaN)
    0x7fc1_2345, // quiet NaN with a payload
    0xffe0_0001, // negative, payload
    0x7f80_0001, // signalling NaN
    0xff80_0f00, // negative signalling NaN
    0x7f80_0000, // +inf
    0xff80_0000, // -inf
    0x0000_0000, // +0
    0x8000_0000, // -0
    0x0000_0001, // smallest subnormal
    0x807f_ffff, // largest negative subnormal
    0x3f80_0000, // 1
    0xbfc0_0000, // -1.5
    0x7f7f_ffff, // largest finite
    0x4049_0fdb, // pi
];

/// Runtime `wasi-p1v3`'s executor with its vector NaN rule (`lazy_vector_nan`), with
/// Cranelift's canonicalisation of every result instead, or with no canonicalisation
/// (`nan_canonicalization` off): what the NaN tests compare.
#[allow(dead_code)] // not every test binary compares canonicalisations
pub fn v3_nan(lazy_vector_nan: bool, nan_canonicalization: bool) -> compute_sandbox::Executor {
    let o = compute_sandbox::Options {
        lazy_vector_nan,
        nan_canonicalization,
        ..compute_sandbox::Options::for_runtime(compute_sandbox::RUNTIME_V3).unwrap()
    };
    compute_sandbox::Executor::with(o, None).unwrap()
}

/// Limits for the tests' small modules: a megabyte of memory, a kilobyte of output, 30 s.
#[allow(dead_code)] // not every test binary runs small modules
pub const SMALL_LIMITS: compute_sandbox::Limits = compute_sandbox::Limits {
    max_fuel: 2_000_000,
    max_memory: 1 << 20,
    max_output: 1 << 10,
    timeout: std::time::Duration::from_secs(30),
};

/// Runtime `wasi-p1v3`'s executor with `change` made to its options.
#[allow(dead_code)]
pub fn v3_with(change: impl FnOnce(&mut compute_sandbox::Options)) -> compute_sandbox::Executor {
    let mut o = compute_sandbox::Options::for_runtime(compute_sandbox::RUNTIME_V3).unwrap();
    change(&mut o);
    compute_sandbox::Executor::with(o, None).unwrap()
}

/// Asserts that `wasm`, run by `ex` without a fuel limit, is stopped by a 300 ms timeout, and
/// within 10 s.
#[allow(dead_code)]
pub fn assert_times_out(ex: &compute_sandbox::Executor, wasm: &[u8]) {
    let l = compute_sandbox::Limits {
        max_fuel: u64::MAX,
        timeout: std::time::Duration::from_millis(300),
        ..SMALL_LIMITS
    };
    let m = ex.compile(wasm).unwrap();
    let t = std::time::Instant::now();
    assert_eq!(
        ex.run(&m, b"", &[], &[0; 32], l),
        Err(compute_sandbox::Refusal::Timeout(l.timeout))
    );
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        t.elapsed()
    );
}
