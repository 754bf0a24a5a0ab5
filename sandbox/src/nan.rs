//! NaN canonicalisation where a NaN's bits can be seen, instead of after every float
//! instruction.
//!
//! Wasm leaves the bits of a NaN that an arithmetic instruction produces to the CPU, so runtime
//! `wasi-p1` has Cranelift replace every NaN result of float arithmetic (add, sub, mul, div,
//! min, max, sqrt, ceil, floor, trunc, nearest, promote, demote) by the canonical NaN. Most of
//! those results only ever feed more arithmetic or a comparison, which give the same answer for
//! every NaN, so their canonicalisation buys nothing. [`canonicalize`] rewrites a module so that
//! it canonicalises a result only when something could see its bits, and the module is then
//! compiled without Cranelift's canonicalisation.
//!
//! A result is left as it is when its one consumer (wasm's stack gives every value exactly one)
//! is, within the same straight-line run of instructions:
//! - float arithmetic, which turns any NaN into a NaN that is itself canonicalised or left by
//!   this rule;
//! - a float comparison, a float-to-integer truncation or `drop`, whose results do not depend
//!   on a NaN's bits;
//! - `local.set`/`local.tee` of a *blind* local: one whose every read (and every `local.tee`'s
//!   result) is consumed that way.
//!
//! Every other consumer (stores, reinterpretations, `neg`, `abs`, `copysign`, `select`, calls,
//! returns, globals, block results, anything after a branch or block boundary) gets the
//! canonical NaN, as before. So the rewritten module computes exactly what the fully
//! canonicalised one computes, bit for bit, for every input; it executes more wasm
//! instructions, though, so its fuel counts are higher (6 per canonicalisation), and a run close
//! to its `max_fuel` can run out under the rewrite where it would not without.
//!
//! The rewrite defines the fuel counts of runtime `wasi-p1v2`: any change to what it
//! canonicalises (the consumers it accepts, [`LOOKAHEAD`], the instructions it follows, the
//! inserted sequence) changes them, and needs a new runtime id. `tests/nan.rs` pins the fuel of
//! the sample jobs.
//!
//! Modules that use SIMD are not rewritten by [`canonicalize`] ([`Unsupported::Simd`]).
//! [`canonicalize_vectors`] rewrites them too, by the same rules lane-wise for `f32x4` and
//! `f64x2` results (a vector result is left only for a consumer of its own shape: `f32x4.add`
//! reads an `f64x2` NaN's bits as other floats), for runtime `wasi-p1v3`, which runs it after
//! its fuel metering ([`crate::meter`]) so that the canonicalisations it adds are not charged,
//! as Cranelift's were not: the counts of SIMD modules stay those of the module as given.
//! Modules with relaxed SIMD are rewritten by neither.
//!
//! [`canonicalize_vectors`] also leaves a loop's accumulator alone inside the loop, where only
//! instructions blind to its NaN's bits read it, and canonicalises it once after the loop
//! instead of every sum as it is set (`nan/defer.rs` says when that gives the same bits). The
//! scalar rewrite does not, since what it adds is charged.

mod defer;

use std::collections::HashSet;

use crate::rewrite::{declared_locals, param_counts};
use wasm_encoder::reencode::{Error, Reencode};
use wasm_encoder::{CodeSection, Function, Ieee32, Ieee64, Instruction};
use wasmparser::{FunctionBody, Operator, Parser, Validator, WasmFeatures};

/// The canonical NaNs: quiet, positive, payload zero (what Cranelift's canonicalisation uses).
pub const CANONICAL_F32: u32 = 0x7fc0_0000;
/// See [`CANONICAL_F32`].
pub const CANONICAL_F64: u64 = 0x7ff8_0000_0000_0000;

/// How far past a result the pass looks for its consumer.
const LOOKAHEAD: usize = 64;
/// The most parameters and locals a function may have (wasmparser's and wasmtime's limit).
const MAX_LOCALS: u32 = 50_000;

/// Why a module was not rewritten.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unsupported {
    /// The module does not validate without SIMD: it uses SIMD, or it is invalid.
    #[error("the module uses SIMD or is not valid wasm")]
    Simd,
    /// The module could not be parsed or re-encoded.
    #[error("rewriting the module: {0}")]
    Rewrite(String),
}

/// What [`canonicalize`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rewritten {
    /// Float arithmetic results in the module.
    pub results: usize,
    /// Results that get a canonicalisation (the rest cannot be seen).
    pub canonicalized: usize,
    /// Results of a loop left as they are, whose local the loop canonicalises when it ends
    /// instead ([`canonicalize_vectors`] only): the locals canonicalised then are counted in
    /// `canonicalized`, once per loop.
    pub deferred: usize,
}

/// `wasm` rewritten to canonicalise only the NaNs that can be seen (see the module's
/// documentation), to be compiled without Cranelift's NaN canonicalisation. Scalar modules
/// only.
pub fn canonicalize(wasm: &[u8]) -> Result<(Vec<u8>, Rewritten), Unsupported> {
    rewrite(wasm, false)
}

/// [`canonicalize`] for modules with SIMD too (not relaxed SIMD), `f32x4` and `f64x2` results
/// included.
pub fn canonicalize_vectors(wasm: &[u8]) -> Result<(Vec<u8>, Rewritten), Unsupported> {
    rewrite(wasm, true)
}

fn rewrite(wasm: &[u8], vectors: bool) -> Result<(Vec<u8>, Rewritten), Unsupported> {
    let mut features = WasmFeatures::default() - WasmFeatures::RELAXED_SIMD;
    if !vectors {
        features -= WasmFeatures::SIMD;
    }
    if Validator::new_with_features(features)
        .validate_all(wasm)
        .is_err()
    {
        return Err(Unsupported::Simd);
    }
    let rewrite = |e: Error<String>| Unsupported::Rewrite(format!("{e:?}"));
    let mut pass = Pass {
        params: param_counts(wasm).map_err(rewrite)?.into_iter(),
        stats: Rewritten::default(),
        vectors,
    };
    let mut module = wasm_encoder::Module::new();
    pass.parse_core_module(&mut module, Parser::new(0), wasm)
        .map_err(rewrite)?;
    Ok((module.finish(), pass.stats))
}

struct Pass {
    params: std::vec::IntoIter<u32>,
    stats: Rewritten,
    /// Whether `f32x4` and `f64x2` results are canonicalised here too (a `v128` scratch local).
    vectors: bool,
}

impl Reencode for Pass {
    type Error = String;

    fn parse_function_body(
        &mut self,
        code: &mut CodeSection,
        func: FunctionBody<'_>,
    ) -> Result<(), Error<String>> {
        let params = self.params.next();
        let (mut locals, first_free) = declared_locals(self, params, &func)?;
        // scratch locals, after every other; a function already at the limit is left to the
        // engine that canonicalises every result
        let added = 2 + 2 * u32::from(self.vectors);
        if first_free + added > MAX_LOCALS {
            return Err(Error::UserError(format!(
                "a function has {first_free} parameters and locals, no room for the scratch locals"
            )));
        }
        locals.push((1, wasm_encoder::ValType::F32));
        locals.push((1, wasm_encoder::ValType::F64));
        if self.vectors {
            locals.push((2, wasm_encoder::ValType::V128));
        }

        let mut reader = func.get_operators_reader()?;
        let mut ops = Vec::new();
        while !reader.eof() {
            ops.push(reader.read()?);
        }
        let blind = blind_locals(&ops);
        // canonicalisation waits for the loop's end only where it is not charged (see
        // `canonicalize_vectors`): the scalar rewrite defines the counts of `wasi-p1v2`
        let deferred = match self.vectors {
            true => defer::deferred(&ops, &blind),
            false => defer::Deferred::default(),
        };
        let mut f = Function::new(locals);
        let scratch = Scratch {
            f32: first_free,
            f64: first_free + 1,
            v128: first_free + 2,
        };
        for (i, op) in ops.iter().enumerate() {
            f.instruction(&self.instruction(op.clone())?);
            for &(local, float) in deferred.after(i) {
                self.stats.canonicalized += 1;
                f.instruction(&Instruction::LocalGet(local));
                scratch.canonicalize(&mut f, float);
                f.instruction(&Instruction::LocalSet(local));
            }
            let Some(float) = arithmetic(op) else {
                continue;
            };
            self.stats.results += 1;
            if unseen(&ops[i + 1..], &blind, Some(float)) {
                continue;
            }
            if deferred.skips(i) {
                self.stats.deferred += 1;
                continue;
            }
            self.stats.canonicalized += 1;
            scratch.canonicalize(&mut f, float);
        }
        code.function(&f);
        Ok(())
    }
}

/// The scratch locals the rewrite adds to a function.
struct Scratch {
    f32: u32,
    f64: u32,
    /// Two `v128` locals from this one.
    v128: u32,
}

impl Scratch {
    /// Canonicalises the `float` on top of the stack (a NaN becomes the canonical NaN).
    fn canonicalize(&self, f: &mut Function, float: Float) {
        use Instruction::*;
        if let Some(lanes) = float.lanes() {
            // lane-wise `value & !nan | (nan >> shr << shl)`, where `nan` is all ones in a NaN
            // lane, which the shifts make the canonical NaN (no constant, which Cranelift would
            // keep live across the function, spilled)
            f.instruction(&LocalTee(self.v128))
                .instruction(&LocalGet(self.v128))
                .instruction(&LocalGet(self.v128))
                .instruction(&lanes.ne)
                .instruction(&LocalTee(self.v128 + 1))
                .instruction(&V128AndNot)
                .instruction(&LocalGet(self.v128 + 1))
                .instruction(&I32Const(lanes.shr))
                .instruction(&lanes.shr_u)
                .instruction(&I32Const(lanes.shr - 1))
                .instruction(&lanes.shl)
                .instruction(&V128Or);
            return;
        }
        // `value == value ? value : canonical NaN`
        let (tee, get, nan, eq) = match float {
            Float::F32 => (
                LocalTee(self.f32),
                LocalGet(self.f32),
                F32Const(Ieee32::new(CANONICAL_F32)),
                F32Eq,
            ),
            Float::F64 => (
                LocalTee(self.f64),
                LocalGet(self.f64),
                F64Const(Ieee64::new(CANONICAL_F64)),
                F64Eq,
            ),
            Float::F32x4 | Float::F64x2 => unreachable!("vectors are canonicalised above"),
        };
        f.instruction(&tee)
            .instruction(&nan)
            .instruction(&get)
            .instruction(&get)
            .instruction(&eq)
            .instruction(&Select);
    }
}

/// The float values the pass follows: scalars, and vectors of lanes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Float {
    F32,
    F64,
    F32x4,
    F64x2,
}

/// How a vector of floats is canonicalised: a lane of all ones shifted right by `shr` and left
/// by `shr - 1` is the lane's canonical NaN (its sign, exponent and quiet bit).
struct Lanes {
    ne: Instruction<'static>,
    shr: i32,
    shr_u: Instruction<'static>,
    shl: Instruction<'static>,
}

impl Float {
    /// For a vector: how its lanes are canonicalised.
    fn lanes(self) -> Option<Lanes> {
        use Instruction::*;
        match self {
            Float::F32 | Float::F64 => None,
            Float::F32x4 => Some(Lanes {
                ne: F32x4Ne,
                shr: 23,
                shr_u: I32x4ShrU,
                shl: I32x4Shl,
            }),
            Float::F64x2 => Some(Lanes {
                ne: F64x2Ne,
                shr: 52,
                shr_u: I64x2ShrU,
                shl: I64x2Shl,
            }),
        }
    }
}

// all ones shifted right by `shr` and left by `shr - 1` is the canonical NaN
const _: () =
    assert!((u32::MAX >> 23) << 22 == CANONICAL_F32 && (u64::MAX >> 52) << 51 == CANONICAL_F64);

/// The result type of a float arithmetic instruction, whose NaN bits the CPU chooses (the
/// instructions Cranelift canonicalises).
fn arithmetic(op: &Operator) -> Option<Float> {
    use Operator::*;
    match op {
        F32Add | F32Sub | F32Mul | F32Div | F32Min | F32Max | F32Sqrt | F32Ceil | F32Floor
        | F32Trunc | F32Nearest | F32DemoteF64 => Some(Float::F32),
        F64Add | F64Sub | F64Mul | F64Div | F64Min | F64Max | F64Sqrt | F64Ceil | F64Floor
        | F64Trunc | F64Nearest | F64PromoteF32 => Some(Float::F64),
        F32x4Add | F32x4Sub | F32x4Mul | F32x4Div | F32x4Min | F32x4Max | F32x4Sqrt | F32x4Ceil
        | F32x4Floor | F32x4Trunc | F32x4Nearest | F32x4DemoteF64x2Zero => Some(Float::F32x4),
        F64x2Add | F64x2Sub | F64x2Mul | F64x2Div | F64x2Min | F64x2Max | F64x2Sqrt | F64x2Ceil
        | F64x2Floor | F64x2Trunc | F64x2Nearest | F64x2PromoteLowF32x4 => Some(Float::F64x2),
        _ => None,
    }
}

/// The floats an instruction reads whose result is the same for every NaN among them: its
/// operands' type when that is all it reads (arithmetic, comparisons, truncations), `None` for
/// `drop` (any value) and for every other instruction.
fn blind_to(op: &Operator) -> Option<Option<Float>> {
    use Operator::*;
    Some(Some(match op {
        Drop => return Some(None),
        // arithmetic that changes the type
        F64PromoteF32 => Float::F32,
        F32DemoteF64 => Float::F64,
        F64x2PromoteLowF32x4 => Float::F32x4,
        F32x4DemoteF64x2Zero => Float::F64x2,
        // comparisons and truncations
        F32Eq | F32Ne | F32Lt | F32Gt | F32Le | F32Ge | I32TruncF32S | I32TruncF32U
        | I64TruncF32S | I64TruncF32U | I32TruncSatF32S | I32TruncSatF32U | I64TruncSatF32S
        | I64TruncSatF32U => Float::F32,
        F64Eq | F64Ne | F64Lt | F64Gt | F64Le | F64Ge | I32TruncF64S | I32TruncF64U
        | I64TruncF64S | I64TruncF64U | I32TruncSatF64S | I32TruncSatF64U | I64TruncSatF64S
        | I64TruncSatF64U => Float::F64,
        F32x4Eq | F32x4Ne | F32x4Lt | F32x4Gt | F32x4Le | F32x4Ge | I32x4TruncSatF32x4S
        | I32x4TruncSatF32x4U => Float::F32x4,
        F64x2Eq
        | F64x2Ne
        | F64x2Lt
        | F64x2Gt
        | F64x2Le
        | F64x2Ge
        | I32x4TruncSatF64x2SZero
        | I32x4TruncSatF64x2UZero => Float::F64x2,
        // the rest of the arithmetic reads the type it gives
        op => return arithmetic(op).map(Some),
    }))
}

/// Whether `op` is a blind consumer of a value of `float` (`None`: of a local's value, which
/// may be any float; a vector local may hold either shape, so no vector instruction is blind
/// to it).
fn blind_consumer(op: &Operator, float: Option<Float>) -> bool {
    match (blind_to(op), float) {
        (Some(None), _) => true,
        (Some(Some(reads)), Some(produced)) => reads == produced,
        (Some(Some(reads)), None) => matches!(reads, Float::F32 | Float::F64),
        (None, _) => false,
    }
}

/// Whether the value on top of the stack before `rest` (a result of type `float`, or `None`:
/// a local's value) can never be seen, only its being a NaN or not: its consumer is a
/// [`blind_consumer`] or a set of a `blind` local.
fn unseen(rest: &[Operator], blind: &HashSet<u32>, float: Option<Float>) -> bool {
    consumer(rest).is_some_and(|k| blind_use(&rest[k], blind, float))
}

/// Whether `op`, the consumer of a value of `float` ([`unseen`]), cannot see its bits: a
/// [`blind_consumer`], or a set of a `blind` local.
fn blind_use(op: &Operator, blind: &HashSet<u32>, float: Option<Float>) -> bool {
    match op {
        Operator::LocalSet { local_index } | Operator::LocalTee { local_index } => {
            blind.contains(local_index)
        }
        op => blind_consumer(op, float),
    }
}

/// The position in `rest` of the instruction that consumes the value on top of the stack
/// before it, when that is within [`LOOKAHEAD`] straight-line instructions (`None` after a
/// branch, block boundary, call, ...: the value may be seen there).
fn consumer(rest: &[Operator]) -> Option<usize> {
    // values pushed above ours and not yet consumed
    let mut above = 0u32;
    for (k, op) in rest.iter().take(LOOKAHEAD).enumerate() {
        let (pops, pushes) = arity(op)?;
        if pops > above {
            return Some(k);
        }
        above = above - pops + pushes;
    }
    None
}

/// Locals whose value is only ever consumed by [`blind_consumer`]s: every `local.get` and every
/// `local.tee`'s result.
fn blind_locals(ops: &[Operator]) -> HashSet<u32> {
    let none = HashSet::new();
    let mut seen = HashSet::new();
    let mut all = HashSet::new();
    for (i, op) in ops.iter().enumerate() {
        if let Operator::LocalGet { local_index }
        | Operator::LocalTee { local_index }
        | Operator::LocalSet { local_index } = op
        {
            all.insert(*local_index);
            let read = !matches!(op, Operator::LocalSet { .. });
            if read && !unseen(&ops[i + 1..], &none, None) {
                seen.insert(*local_index);
            }
        }
    }
    all.retain(|l| !seen.contains(l));
    all
}

/// Operands popped and results pushed by the straight-line instructions the pass follows;
/// `None` for everything else (control flow, calls, memory management, most integer SIMD,
/// ...).
fn arity(op: &Operator) -> Option<(u32, u32)> {
    use Operator::*;
    Some(match op {
        LocalGet { .. }
        | GlobalGet { .. }
        | I32Const { .. }
        | I64Const { .. }
        | F32Const { .. }
        | F64Const { .. } => (0, 1),
        LocalSet { .. } | GlobalSet { .. } | Drop => (1, 0),
        LocalTee { .. } => (1, 1),
        Select | TypedSelect { .. } => (3, 1),
        I32Load { .. }
        | I64Load { .. }
        | F32Load { .. }
        | F64Load { .. }
        | I32Load8S { .. }
        | I32Load8U { .. }
        | I32Load16S { .. }
        | I32Load16U { .. }
        | I64Load8S { .. }
        | I64Load8U { .. }
        | I64Load16S { .. }
        | I64Load16U { .. }
        | I64Load32S { .. }
        | I64Load32U { .. } => (1, 1),
        I32Store { .. }
        | I64Store { .. }
        | F32Store { .. }
        | F64Store { .. }
        | I32Store8 { .. }
        | I32Store16 { .. }
        | I64Store8 { .. }
        | I64Store16 { .. }
        | I64Store32 { .. } => (2, 0),
        I32Eqz | I64Eqz | I32Clz | I32Ctz | I32Popcnt | I64Clz | I64Ctz | I64Popcnt | F32Abs
        | F32Neg | F32Ceil | F32Floor | F32Trunc | F32Nearest | F32Sqrt | F64Abs | F64Neg
        | F64Ceil | F64Floor | F64Trunc | F64Nearest | F64Sqrt | I32WrapI64 | I32TruncF32S
        | I32TruncF32U | I32TruncF64S | I32TruncF64U | I64ExtendI32S | I64ExtendI32U
        | I64TruncF32S | I64TruncF32U | I64TruncF64S | I64TruncF64U | F32ConvertI32S
        | F32ConvertI32U | F32ConvertI64S | F32ConvertI64U | F32DemoteF64 | F64ConvertI32S
        | F64ConvertI32U | F64ConvertI64S | F64ConvertI64U | F64PromoteF32 | I32ReinterpretF32
        | I64ReinterpretF64 | F32ReinterpretI32 | F64ReinterpretI64 | I32Extend8S
        | I32Extend16S | I64Extend8S | I64Extend16S | I64Extend32S | I32TruncSatF32S
        | I32TruncSatF32U | I32TruncSatF64S | I32TruncSatF64U | I64TruncSatF32S
        | I64TruncSatF32U | I64TruncSatF64S | I64TruncSatF64U => (1, 1),
        I32Eq | I32Ne | I32LtS | I32LtU | I32GtS | I32GtU | I32LeS | I32LeU | I32GeS | I32GeU
        | I64Eq | I64Ne | I64LtS | I64LtU | I64GtS | I64GtU | I64LeS | I64LeU | I64GeS | I64GeU
        | F32Eq | F32Ne | F32Lt | F32Gt | F32Le | F32Ge | F64Eq | F64Ne | F64Lt | F64Gt | F64Le
        | F64Ge | I32Add | I32Sub | I32Mul | I32DivS | I32DivU | I32RemS | I32RemU | I32And
        | I32Or | I32Xor | I32Shl | I32ShrS | I32ShrU | I32Rotl | I32Rotr | I64Add | I64Sub
        | I64Mul | I64DivS | I64DivU | I64RemS | I64RemU | I64And | I64Or | I64Xor | I64Shl
        | I64ShrS | I64ShrU | I64Rotl | I64Rotr | F32Add | F32Sub | F32Mul | F32Div | F32Min
        | F32Max | F32Copysign | F64Add | F64Sub | F64Mul | F64Div | F64Min | F64Max
        | F64Copysign => (2, 1),
        // SIMD, for vector modules
        V128Const { .. } => (0, 1),
        V128Load { .. }
        | V128Load8x8S { .. }
        | V128Load8x8U { .. }
        | V128Load16x4S { .. }
        | V128Load16x4U { .. }
        | V128Load32x2S { .. }
        | V128Load32x2U { .. }
        | V128Load8Splat { .. }
        | V128Load16Splat { .. }
        | V128Load32Splat { .. }
        | V128Load64Splat { .. }
        | V128Load32Zero { .. }
        | V128Load64Zero { .. } => (1, 1),
        V128Store { .. } => (2, 0),
        I8x16Splat
        | I16x8Splat
        | I32x4Splat
        | I64x2Splat
        | F32x4Splat
        | F64x2Splat
        | I8x16ExtractLaneS { .. }
        | I8x16ExtractLaneU { .. }
        | I16x8ExtractLaneS { .. }
        | I16x8ExtractLaneU { .. }
        | I32x4ExtractLane { .. }
        | I64x2ExtractLane { .. }
        | F32x4ExtractLane { .. }
        | F64x2ExtractLane { .. } => (1, 1),
        I8x16ReplaceLane { .. }
        | I16x8ReplaceLane { .. }
        | I32x4ReplaceLane { .. }
        | I64x2ReplaceLane { .. }
        | F32x4ReplaceLane { .. }
        | F64x2ReplaceLane { .. } => (2, 1),
        V128Not
        | V128AnyTrue
        | F32x4Abs
        | F32x4Neg
        | F32x4Sqrt
        | F32x4Ceil
        | F32x4Floor
        | F32x4Trunc
        | F32x4Nearest
        | F64x2Abs
        | F64x2Neg
        | F64x2Sqrt
        | F64x2Ceil
        | F64x2Floor
        | F64x2Trunc
        | F64x2Nearest
        | F32x4ConvertI32x4S
        | F32x4ConvertI32x4U
        | F64x2ConvertLowI32x4S
        | F64x2ConvertLowI32x4U
        | F32x4DemoteF64x2Zero
        | F64x2PromoteLowF32x4
        | I32x4TruncSatF32x4S
        | I32x4TruncSatF32x4U
        | I32x4TruncSatF64x2SZero
        | I32x4TruncSatF64x2UZero => (1, 1),
        V128And | V128AndNot | V128Or | V128Xor | I32x4Add | I32x4Sub | I32x4Mul | F32x4Add
        | F32x4Sub | F32x4Mul | F32x4Div | F32x4Min | F32x4Max | F32x4PMin | F32x4PMax
        | F32x4Eq | F32x4Ne | F32x4Lt | F32x4Gt | F32x4Le | F32x4Ge | F64x2Add | F64x2Sub
        | F64x2Mul | F64x2Div | F64x2Min | F64x2Max | F64x2PMin | F64x2PMax | F64x2Eq | F64x2Ne
        | F64x2Lt | F64x2Gt | F64x2Le | F64x2Ge => (2, 1),
        V128Bitselect => (3, 1),
        _ => return None,
    })
}
