//! Neural-network inference: a handwritten-digit classifier (a multilayer perceptron
//! 64-128-128-10 with ReLU, in f32) classifies a batch of 8x8 images. Its trained weights are
//! part of the module (`weights.bin`, written by `train.py` from scikit-learn's copy of the UCI
//! digits); `test-images.bin` holds the 360 images held out from training.
//!
//! Input: records of 65 bytes, a label (0-9, or 255 when unknown) and 64 pixels (0-16, row by
//! row). No arguments. Output, three lines:
//!
//! ```text
//! images 360, labelled 360, correct 350 (97.22%)
//! labels 6392…
//! logits fnv1a64 d280…
//! ```
//!
//! `labels` holds the guess for every image in order; the last line hashes the bits of every
//! logit, so two runs that agree on it computed every float alike.
//!
//! Each layer adds `weight * input` into its outputs in input order, the same operations in
//! the same order in wasm and natively (Rust never fuses them into FMAs), so the sandbox and a
//! native build agree bit for bit.

/// Neurons per layer, input first.
pub const LAYERS: [usize; 4] = [64, 128, 128, 10];
/// Pixels per image (8x8).
pub const PIXELS: usize = 64;
/// Bytes per input record: the label, then the pixels.
pub const RECORD: usize = 1 + PIXELS;
/// The label of an image whose digit is not known.
pub const UNKNOWN: u8 = 255;
/// The brightest pixel.
pub const MAX_PIXEL: u8 = 16;

/// The trained weights: per layer its weights (inputs x outputs, row-major), then its
/// biases, little-endian f32.
pub const WEIGHTS: &[u8] = include_bytes!("../weights.bin");
/// The 360 images held out from training, as input records.
pub const TEST_IMAGES: &[u8] = include_bytes!("../test-images.bin");

struct Layer {
    inputs: usize,
    outputs: usize,
    /// `inputs` rows of `outputs` weights.
    weights: Vec<f32>,
    biases: Vec<f32>,
}

/// Outputs a layer sums at once, in registers (four 128-bit vectors of f32), and then, for the
/// outputs left over, four and one at a time.
const BLOCK: usize = 16;

impl Layer {
    /// Adds `weight * input` of every input, in input order, into `out` (the biases), a block
    /// of outputs at a time ([`BLOCK`], then 4, then 1): each output gets the same operations
    /// in the same order as one pass over the inputs per output would give it.
    fn accumulate(&self, x: &[f32], out: &mut [f32]) {
        let mut blocks = out.chunks_exact_mut(BLOCK);
        for (b, block) in blocks.by_ref().enumerate() {
            self.sum::<BLOCK>(x, b * BLOCK, block);
        }
        let rest = blocks.into_remainder();
        let first = self.outputs - rest.len();
        let mut quads = rest.chunks_exact_mut(4);
        for (b, block) in quads.by_ref().enumerate() {
            self.sum::<4>(x, first + 4 * b, block);
        }
        let rest = quads.into_remainder();
        let first = self.outputs - rest.len();
        for (k, acc) in rest.iter_mut().enumerate() {
            self.sum::<1>(x, first + k, std::slice::from_mut(acc));
        }
    }

    /// Adds the products of `B` outputs from `first` into `out`, keeping the sums in registers
    /// across all the inputs and storing them once.
    fn sum<const B: usize>(&self, x: &[f32], first: usize, out: &mut [f32]) {
        let mut acc = [0f32; B];
        acc.copy_from_slice(out);
        for (row, &xi) in self.weights.chunks_exact(self.outputs).zip(x) {
            let w: &[f32; B] = row[first..][..B].try_into().expect("a block");
            for k in 0..B {
                acc[k] += w[k] * xi;
            }
        }
        out.copy_from_slice(&acc);
    }
}

/// The classifier.
pub struct Model {
    layers: Vec<Layer>,
}

impl Model {
    /// The model from weights laid out as [`WEIGHTS`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, String> {
        let expected: usize = LAYERS.windows(2).map(|w| (w[0] + 1) * w[1] * 4).sum();
        if bytes.len() != expected {
            return Err(format!(
                "weights are {} bytes, the layers {LAYERS:?} need {expected}",
                bytes.len()
            ));
        }
        let mut floats = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let layers = LAYERS
            .windows(2)
            .map(|w| Layer {
                inputs: w[0],
                outputs: w[1],
                weights: floats.by_ref().take(w[0] * w[1]).collect(),
                biases: floats.by_ref().take(w[1]).collect(),
            })
            .collect();
        Ok(Model { layers })
    }

    /// The model this job ships.
    pub fn embedded() -> Model {
        Model::from_bytes(WEIGHTS).expect("the embedded weights fit the layers")
    }

    /// The logits of one image (pixels 0-16), in `out`; `scratch` is reused between calls.
    pub fn logits(&self, pixels: &[u8], out: &mut Vec<f32>, scratch: &mut Vec<f32>) {
        let x = scratch;
        x.clear();
        x.extend(pixels.iter().map(|&p| f32::from(p) / f32::from(MAX_PIXEL)));
        for (k, layer) in self.layers.iter().enumerate() {
            debug_assert_eq!(x.len(), layer.inputs);
            out.clear();
            out.extend_from_slice(&layer.biases);
            layer.accumulate(x, out);
            if k + 1 < self.layers.len() {
                for v in out.iter_mut() {
                    if *v < 0.0 {
                        *v = 0.0;
                    }
                }
            }
            std::mem::swap(x, out);
        }
        std::mem::swap(x, out);
    }
}

/// The index of the largest logit (the first, on ties).
pub fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best
}

/// What a batch came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    /// The guessed digit of every image, in order.
    pub labels: Vec<u8>,
    /// Images that came with a label.
    pub labelled: usize,
    /// Labelled images guessed right.
    pub correct: usize,
    /// FNV-1a (64 bits) over the little-endian bits of every logit, image by image.
    pub logits_hash: u64,
}

/// Classifies every record of `input` with `model`.
pub fn classify(model: &Model, input: &[u8]) -> Result<Classified, String> {
    if input.len() % RECORD != 0 {
        return Err(format!(
            "input is {} bytes, not a whole number of {RECORD}-byte records (a label, then {PIXELS} pixels)",
            input.len()
        ));
    }
    let mut done = Classified {
        labels: Vec::with_capacity(input.len() / RECORD),
        labelled: 0,
        correct: 0,
        logits_hash: 0xcbf2_9ce4_8422_2325,
    };
    let (mut logits, mut scratch) = (Vec::new(), Vec::new());
    for (n, record) in input.chunks_exact(RECORD).enumerate() {
        let (label, pixels) = (record[0], &record[1..]);
        if label > 9 && label != UNKNOWN {
            return Err(format!(
                "image {n}: label {label} is neither a digit nor {UNKNOWN} (unknown)"
            ));
        }
        if let Some(p) = pixels.iter().find(|&&p| p > MAX_PIXEL) {
            return Err(format!("image {n}: pixel value {p} is above {MAX_PIXEL}"));
        }
        model.logits(pixels, &mut logits, &mut scratch);
        for byte in logits.iter().flat_map(|v| v.to_le_bytes()) {
            done.logits_hash = (done.logits_hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
        let guess = argmax(&logits) as u8;
        done.labels.push(guess);
        if label != UNKNOWN {
            done.labelled += 1;
            done.correct += usize::from(guess == label);
        }
    }
    Ok(done)
}

/// The job: classifies the images of `input` with the embedded model.
pub fn run(input: &[u8], args: &[String]) -> Result<Vec<u8>, String> {
    if !args.is_empty() {
        return Err(format!("digits takes no arguments, got {args:?}"));
    }
    let c = classify(&Model::embedded(), input)?;
    // hundredths of a percent, in integers
    let basis_points = (c.correct * 10_000).checked_div(c.labelled).unwrap_or(0);
    let labels: String = c.labels.iter().map(|&l| char::from(b'0' + l)).collect();
    Ok(format!(
        "images {}, labelled {}, correct {} ({}.{:02}%)\nlabels {labels}\nlogits fnv1a64 {:016x}\n",
        c.labels.len(),
        c.labelled,
        c.correct,
        basis_points / 100,
        basis_points % 100,
        c.logits_hash,
    )
    .into_bytes())
}
