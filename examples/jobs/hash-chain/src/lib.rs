//! A sha256 hash chain: `h_0 = sha256(seed)`, `h_i = sha256(h_{i-1})`. Pure compute.

#[cfg(not(all(target_arch = "wasm32", feature = "host")))]
use sha2::{Digest, Sha256};

/// Iterations when no argument is given.
pub const DEFAULT_ITERATIONS: u64 = 1_000_000;

/// The last link of a chain of `iterations` (at least 1) hashes starting from `seed`.
#[cfg(not(all(target_arch = "wasm32", feature = "host")))]
pub fn chain(seed: &[u8], iterations: u64) -> [u8; 32] {
    let mut h: [u8; 32] = Sha256::digest(seed).into();
    for _ in 1..iterations.max(1) {
        h = Sha256::digest(h).into();
    }
    h
}

/// The job: stdin is the seed, the first argument the number of iterations; the output is the
/// last link in hex and the count.
pub fn run(input: &[u8], args: &[String]) -> Result<Vec<u8>, String> {
    let iterations = match args.first() {
        Some(a) => a
            .parse::<u64>()
            .map_err(|_| format!("iterations {a:?} is not a number"))?,
        None => DEFAULT_ITERATIONS,
    };
    let h = chain(input, iterations);
    let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{hex} {iterations}\n").into_bytes())
}

/// [`chain`] in a module built with the `host` feature: each sha256 is the runtime's
/// (`cmkt.sha256`, runtime `wasi-p1v3` only), which hashes with the CPU's SHA instructions where
/// it has them. Natively the feature changes nothing.
#[cfg(all(target_arch = "wasm32", feature = "host"))]
pub fn chain(seed: &[u8], iterations: u64) -> [u8; 32] {
    #[link(wasm_import_module = "cmkt")]
    extern "C" {
        #[link_name = "sha256"]
        fn host_sha256(data: *const u8, len: usize, out: *mut u8);
    }
    let sha256 = |data: &[u8]| {
        let mut out = [0u8; 32];
        // SAFETY: the host reads `len` bytes at `data` and writes 32 at `out`, both ours
        unsafe { host_sha256(data.as_ptr(), data.len(), out.as_mut_ptr()) };
        out
    };
    let mut h = sha256(seed);
    for _ in 1..iterations.max(1) {
        h = sha256(&h);
    }
    h
}
