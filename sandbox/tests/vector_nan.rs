//! Runtime `wasi-p1v3` canonicalises the NaNs of `f32x4` and `f64x2` results only where they
//! can be seen (`compute_sandbox::nan::canonicalize_vectors`, after its fuel metering): every
//! vector float instruction, alone and feeding the consumers the pass treats differently (its
//! own shape's arithmetic and comparisons, the other shape, integer lanes, sign operations,
//! lanes taken out, locals), over adversarial lanes (NaN payloads, signalling NaNs, signed
//! zeros, subnormals, infinities), gives the bytes Cranelift's canonicalisation of every result
//! gives, and the fuel. Without canonicalisation the bytes differ, so the lanes reach the NaN
//! bits that matter.

use compute_sandbox::nan::canonicalize_vectors;
use compute_sandbox::{meter, Executor, Limits, Status};
use std::time::Duration;

mod common;
use common::{v3_nan, F32_EDGES};

const LIMITS: Limits = Limits {
    max_fuel: 50_000_000,
    max_memory: 1 << 20,
    max_output: 1 << 20,
    timeout: Duration::from_secs(30),
};

/// f64 lanes of the same kinds.
const F64_LANES: [u64; 12] = [
    0x7ff8_0000_0000_0000,
    0xfff8_0000_0000_0000,
    0x7ff8_0000_0012_3456,
    0x7ff0_0000_0000_0001,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    0x0000_0000_0000_0000,
    0x8000_0000_0000_0000,
    0x0000_0000_0000_0001,
    0x3ff0_0000_0000_0000,
    0xbff8_0000_0000_0000,
    0x7fef_ffff_ffff_ffff,
];

const VECTORS: usize = 8;
const F32_AT: usize = 1024;
const F64_AT: usize = 2048;
const OUT_AT: usize = 4096;

/// `count` vectors of lanes of `lanes` (each `bytes` wide), in a varied order, as a data string.
fn data(lanes: &[u64], bytes: usize) -> String {
    let per = 16 / bytes;
    (0..VECTORS * per)
        .flat_map(|k| {
            lanes[(k * 7 + k / lanes.len()) % lanes.len()].to_le_bytes()[..bytes].to_vec()
        })
        .map(|b| format!("\\{b:02x}"))
        .collect()
}

/// The program: every expression stored in turn from `OUT_AT`, then written to stdout.
fn program() -> String {
    fn load(at: usize) -> impl Fn(usize) -> String {
        move |i| format!("(v128.load (i32.const {}))", at + 16 * i)
    }
    let (a, b) = (load(F32_AT), load(F64_AT));
    let mut exprs = vec![];
    for (shape, other, v, w) in [
        ("f32x4", "f64x2", F32_AT, F64_AT),
        ("f64x2", "f32x4", F64_AT, F32_AT),
    ] {
        let (v, w) = (load(v), load(w));
        for i in 0..VECTORS {
            for op in ["sqrt", "ceil", "floor", "trunc", "nearest", "neg", "abs"] {
                exprs.push(format!("({shape}.{op} {})", v(i)));
            }
            for j in 0..VECTORS {
                let (x, y) = (v(i), v(j));
                for op in ["add", "sub", "mul", "div", "min", "max", "pmin", "pmax"] {
                    exprs.push(format!("({shape}.{op} {x} {y})"));
                }
                let product = format!("({shape}.mul {x} {y})");
                // left for its own shape's arithmetic and comparisons
                exprs.push(format!("({shape}.add {product} {y})"));
                exprs.push(format!("({shape}.sqrt ({shape}.div {x} {y}))"));
                exprs.push(format!("({shape}.ne {product} {x})"));
                exprs.push(format!("({shape}.lt ({shape}.sub {x} {y}) {y})"));
                // seen: the other shape, integer lanes, sign operations, pmin, a lane
                exprs.push(format!("({other}.add {product} {})", w(j)));
                exprs.push(format!("(i32x4.add {product} {y})"));
                exprs.push(format!("({shape}.neg {product})"));
                exprs.push(format!("({shape}.pmin {product} {y})"));
                exprs.push(format!("(v128.bitselect {product} {y} {x})"));
                exprs.push(format!(
                    "({shape}.splat ({shape}.extract_lane 1 {product}))"
                ));
                exprs.push(format!(
                    "({shape}.replace_lane 0 {x} ({shape}.extract_lane 1 {product}))"
                ));
            }
        }
    }
    for i in 0..VECTORS {
        exprs.push(format!("(f32x4.demote_f64x2_zero {})", b(i)));
        exprs.push(format!("(f64x2.promote_low_f32x4 {})", a(i)));
        exprs.push(format!(
            "(f32x4.add (f32x4.demote_f64x2_zero {}) {})",
            b(i),
            a(i)
        ));
        exprs.push(format!(
            "(f64x2.mul (f64x2.promote_low_f32x4 {}) {})",
            a(i),
            b(i)
        ));
        exprs.push(format!(
            "(i32x4.trunc_sat_f32x4_s (f32x4.mul {} {}))",
            a(i),
            a(i)
        ));
    }
    let mut body = String::new();
    for (k, e) in exprs.iter().enumerate() {
        // every third through a local, which only a store reads
        if k % 3 == 0 {
            body += &format!(
                "(local.set $v {e})\n(v128.store (i32.const {}) (local.get $v))\n",
                OUT_AT + 16 * k
            );
        } else {
            body += &format!("(v128.store (i32.const {}) {e})\n", OUT_AT + 16 * k);
        }
    }
    let len = 16 * exprs.len();
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const {F32_AT}) "{}")
  (data (i32.const {F64_AT}) "{}")
  (func (export "_start") (local $v v128)
    {body}
    (i32.store (i32.const 0) (i32.const {OUT_AT}))
    (i32.store (i32.const 4) (i32.const {len}))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
        data(&F32_EDGES.map(u64::from), 4),
        data(&F64_LANES, 8),
    )
}

#[test]
fn vector_floats_give_the_same_bytes_and_fuel_as_full_canonicalisation() {
    let wasm = wat::parse_str(program()).unwrap();
    let run = |ex: Executor| {
        let m = ex.compile(&wasm).unwrap();
        ex.run(&m, b"", &[], &[0; 32], LIMITS).unwrap()
    };
    let (lazy, full, none) = (
        run(v3_nan(true, true)),
        run(v3_nan(false, true)),
        run(v3_nan(false, false)),
    );
    assert_eq!(lazy.status, Status::Exited(0));
    assert!(lazy.output.len() > 20_000, "{} bytes", lazy.output.len());
    assert_eq!(lazy.output, full.output, "the bytes of every expression");
    // the canonicalisations are not charged: the counts are those of the module as given
    assert_eq!(lazy.fuel_used, full.fuel_used);
    assert_ne!(lazy.output, none.output, "the CPU's own NaNs differ");

    // the pass leaves results alone (otherwise it would buy nothing) and canonicalises others
    let metered = meter::instrument(&wasm).unwrap();
    let (_, stats) = canonicalize_vectors(&metered).unwrap();
    assert!(
        stats.canonicalized > 0 && stats.canonicalized < stats.results,
        "{stats:?}"
    );
}

#[test]
fn relaxed_simd_is_not_rewritten() {
    let wasm = wat::parse_str(
        r#"(module (func (export "_start") (drop (f32x4.relaxed_madd (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0)))))"#,
    )
    .unwrap();
    assert!(canonicalize_vectors(&wasm).is_err());
}
