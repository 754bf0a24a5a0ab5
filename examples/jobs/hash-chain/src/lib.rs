//! A sha256 hash chain: `h_0 = sha256(seed)`, `h_i = sha256(h_{i-1})`. Pure compute.

use sha2::{Digest, Sha256};

/// Iterations when no argument is given.
pub const DEFAULT_ITERATIONS: u64 = 1_000_000;

/// The last link of a chain of `iterations` (at least 1) hashes starting from `seed`.
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
