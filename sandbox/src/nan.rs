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
//! Modules that use SIMD are not rewritten ([`Unsupported::Simd`]): the pass handles scalar
//! floats only.

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
}

/// `wasm` rewritten to canonicalise only the NaNs that can be seen (see the module's
/// documentation), to be compiled without Cranelift's NaN canonicalisation.
pub fn canonicalize(wasm: &[u8]) -> Result<(Vec<u8>, Rewritten), Unsupported> {
    let scalar = WasmFeatures::default() - WasmFeatures::SIMD - WasmFeatures::RELAXED_SIMD;
    if Validator::new_with_features(scalar)
        .validate_all(wasm)
        .is_err()
    {
        return Err(Unsupported::Simd);
    }
    let rewrite = |e: Error<String>| Unsupported::Rewrite(format!("{e:?}"));
    let mut pass = Pass {
        params: param_counts(wasm).map_err(rewrite)?.into_iter(),
        stats: Rewritten::default(),
    };
    let mut module = wasm_encoder::Module::new();
    pass.parse_core_module(&mut module, Parser::new(0), wasm)
        .map_err(rewrite)?;
    Ok((module.finish(), pass.stats))
}

struct Pass {
    params: std::vec::IntoIter<u32>,
    stats: Rewritten,
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
        // two scratch locals, after every other; a function already at the limit is left to
        // the engine that canonicalises every result
        if first_free + 2 > MAX_LOCALS {
            return Err(Error::UserError(format!(
                "a function has {first_free} parameters and locals, no room for the scratch locals"
            )));
        }
        let (scratch32, scratch64) = (first_free, first_free + 1);
        locals.push((1, wasm_encoder::ValType::F32));
        locals.push((1, wasm_encoder::ValType::F64));

        let mut reader = func.get_operators_reader()?;
        let mut ops = Vec::new();
        while !reader.eof() {
            ops.push(reader.read()?);
        }
        let blind = blind_locals(&ops);
        let mut f = Function::new(locals);
        for (i, op) in ops.iter().enumerate() {
            f.instruction(&self.instruction(op.clone())?);
            let Some(float) = arithmetic(op) else {
                continue;
            };
            self.stats.results += 1;
            if unseen(&ops[i + 1..], &blind) {
                continue;
            }
            self.stats.canonicalized += 1;
            // value on the stack: `value == value ? value : canonical NaN`
            let (tee, get, nan, eq) = match float {
                Float::F32 => (
                    Instruction::LocalTee(scratch32),
                    Instruction::LocalGet(scratch32),
                    Instruction::F32Const(Ieee32::new(CANONICAL_F32)),
                    Instruction::F32Eq,
                ),
                Float::F64 => (
                    Instruction::LocalTee(scratch64),
                    Instruction::LocalGet(scratch64),
                    Instruction::F64Const(Ieee64::new(CANONICAL_F64)),
                    Instruction::F64Eq,
                ),
            };
            f.instruction(&tee)
                .instruction(&nan)
                .instruction(&get)
                .instruction(&get)
                .instruction(&eq)
                .instruction(&Instruction::Select);
        }
        code.function(&f);
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Float {
    F32,
    F64,
}

/// The result type of a float arithmetic instruction, whose NaN bits the CPU chooses.
fn arithmetic(op: &Operator) -> Option<Float> {
    use Operator::*;
    match op {
        F32Add | F32Sub | F32Mul | F32Div | F32Min | F32Max | F32Sqrt | F32Ceil | F32Floor
        | F32Trunc | F32Nearest | F32DemoteF64 => Some(Float::F32),
        F64Add | F64Sub | F64Mul | F64Div | F64Min | F64Max | F64Sqrt | F64Ceil | F64Floor
        | F64Trunc | F64Nearest | F64PromoteF32 => Some(Float::F64),
        _ => None,
    }
}

/// Whether an instruction's result is the same for every NaN in its float operands.
fn blind_consumer(op: &Operator) -> bool {
    use Operator::*;
    arithmetic(op).is_some()
        || matches!(
            op,
            F32Eq
                | F32Ne
                | F32Lt
                | F32Gt
                | F32Le
                | F32Ge
                | F64Eq
                | F64Ne
                | F64Lt
                | F64Gt
                | F64Le
                | F64Ge
                | I32TruncF32S
                | I32TruncF32U
                | I32TruncF64S
                | I32TruncF64U
                | I64TruncF32S
                | I64TruncF32U
                | I64TruncF64S
                | I64TruncF64U
                | I32TruncSatF32S
                | I32TruncSatF32U
                | I32TruncSatF64S
                | I32TruncSatF64U
                | I64TruncSatF32S
                | I64TruncSatF32U
                | I64TruncSatF64S
                | I64TruncSatF64U
                | Drop
        )
}

/// Whether the value on top of the stack before `rest` can never be seen, only its being a NaN
/// or not: its consumer is a [`blind_consumer`] or a set of a `blind` local.
fn unseen(rest: &[Operator], blind: &HashSet<u32>) -> bool {
    // values pushed above ours and not yet consumed
    let mut above = 0u32;
    for op in rest.iter().take(LOOKAHEAD) {
        let Some((pops, pushes)) = arity(op) else {
            return false; // a branch, block boundary, call, ...: assume it is seen
        };
        if pops > above {
            return match op {
                Operator::LocalSet { local_index } | Operator::LocalTee { local_index } => {
                    blind.contains(local_index)
                }
                op => blind_consumer(op),
            };
        }
        above = above - pops + pushes;
    }
    false
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
            if read && !unseen(&ops[i + 1..], &none) {
                seen.insert(*local_index);
            }
        }
    }
    all.retain(|l| !seen.contains(l));
    all
}

/// Operands popped and results pushed by the straight-line instructions the pass follows;
/// `None` for everything else (control flow, calls, memory management, SIMD, ...).
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
        _ => return None,
    })
}
