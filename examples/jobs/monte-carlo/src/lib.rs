//! A seeded Monte Carlo estimate of pi: points in the unit square, counted inside the quarter
//! circle. The seed comes from stdin, so every provider draws the same points.

/// Samples when no argument is given.
pub const DEFAULT_SAMPLES: u64 = 10_000_000;

/// SplitMix64: a small, well-mixed generator that is identical everywhere.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform float in [0, 1) from the top 53 bits.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// FNV-1a of the seed bytes: any input becomes a 64-bit seed.
fn seed_of(input: &[u8]) -> u64 {
    input.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Points inside the quarter circle out of `samples`.
pub fn inside(seed: &[u8], samples: u64) -> u64 {
    let mut rng = SplitMix64(seed_of(seed));
    let mut hits = 0;
    for _ in 0..samples {
        let (x, y) = (rng.unit(), rng.unit());
        if x * x + y * y < 1.0 {
            hits += 1;
        }
    }
    hits
}

/// The job: stdin is the seed, the first argument the number of samples.
pub fn run(input: &[u8], args: &[String]) -> Result<Vec<u8>, String> {
    let samples = match args.first() {
        Some(a) => a
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("samples {a:?} is not a positive number"))?,
        None => DEFAULT_SAMPLES,
    };
    let hits = inside(input, samples);
    let pi = 4.0 * hits as f64 / samples as f64;
    Ok(format!("pi ~ {pi:.6} ({hits} of {samples} points inside)\n").into_bytes())
}
