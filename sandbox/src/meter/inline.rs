//! Small leaf functions inlined at their direct calls, with the same fuel counts and outcomes.
//!
//! A call costs the metering pass more than the call: the caller writes its fuel to the global
//! before it and reads it back after, the callee reads it on entry and writes it on every way
//! out, and around the call Cranelift keeps the caller's values (the interrupt page's address,
//! the instance's context) in stack slots. Word-freq's counting loop is such a case: a
//! `BTreeMap` search that calls the module's `memcmp` for every key it passes.
//!
//! So a direct call of a *small leaf* (a function that calls nothing, is light for the
//! call-depth rule, declares only numeric locals, has at most [`MAX_LEAF_OPS`] operators and a
//! loop) is replaced by the leaf's body, metered as the pass meters the leaf itself:
//!
//! - the caller's run that holds the call was charged before it, as before; the fuel is written
//!   to the global where the call wrote it, so a trap in the body reports the same fuel;
//! - a block of the leaf's type takes the arguments; they go into locals of the caller's set
//!   aside for the leaf's parameters, and the leaf's own locals are set to zero;
//! - the leaf's body follows with its locals renumbered and `return` as a branch to that block,
//!   charged and checked run by run as in the leaf (its first run, its loops, counted or not),
//!   but it keeps the fuel in the caller's local: the leaf's read of the global on entry, its
//!   writes on the ways out and the caller's read after the call are gone.
//!
//! A leaf without a loop is left a call: it has no check, and its call costs little more than
//! it saves (inlined, monte-carlo's 128-bit multiply took 3% more instructions, from the
//! caller's spills).
//!
//! Every instruction of the leaf takes the fuel it took, at the same point, and every check
//! sees the same fuel, so the counts and outcomes are those of the call. A leaf takes no stack
//! units, so the call-depth rule does not change either; the caller's native frame holds the
//! leaf's values, and a module whose frames outgrow their room only because of this is compiled
//! without it (`Executor::compile`).

use super::frames::Frame;
use super::Refused;
use std::collections::BTreeMap;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{Function, Instruction, ValType};
use wasmparser::{CompositeInnerType, Operator, Parser, Payload};

/// The most operators a leaf may have to be inlined (word-freq's `memcmp` has 36).
pub const MAX_LEAF_OPS: usize = 64;
/// The most locals a function may have after inlining (wasm allows 50 000).
const MAX_LOCALS: u32 = 10_000;

/// A function the pass inlines at its direct calls.
pub(super) struct Leaf<'a> {
    /// Its type index.
    ty: u32,
    params: Vec<ValType>,
    /// Its declared locals, one entry each.
    locals: Vec<ValType>,
    ops: Vec<Operator<'a>>,
}

/// The small leaves of `wasm`, by function index (imports included).
pub(super) fn leaves<'a>(
    wasm: &'a [u8],
    frames: &[Frame],
) -> Result<BTreeMap<u32, Leaf<'a>>, Refused> {
    let rewrite = |e: wasmparser::BinaryReaderError| Refused::Rewrite(e.to_string());
    let mut types: Vec<Option<Vec<ValType>>> = Vec::new();
    let (mut imported, mut defined) = (0u32, 0usize);
    let mut leaves = BTreeMap::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(rewrite)? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for ty in group.map_err(rewrite)?.into_types() {
                        types.push(match &ty.composite_type.inner {
                            CompositeInnerType::Func(f) => f
                                .params()
                                .iter()
                                .map(|&t| numeric(t))
                                .collect::<Option<Vec<_>>>(),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if matches!(import.map_err(rewrite)?.ty, wasmparser::TypeRef::Func(_)) {
                        imported += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let i = defined;
                defined += 1;
                let Some(frame) = frames.get(i) else {
                    return Err(Refused::Rewrite(
                        "more function bodies than functions".into(),
                    ));
                };
                if frame.calls || frame.weight.is_some() {
                    continue;
                }
                let Some(Some(params)) = types.get(frame.ty as usize).cloned() else {
                    continue;
                };
                // its declared locals, if all are numbers and they are few
                let (mut locals, mut fits) = (Vec::new(), true);
                for pair in body.get_locals_reader().map_err(rewrite)? {
                    let (count, ty) = pair.map_err(rewrite)?;
                    match numeric(ty) {
                        Some(ty) if locals.len() + count as usize <= MAX_LEAF_OPS => {
                            locals.extend(std::iter::repeat_n(ty, count as usize))
                        }
                        _ => fits = false,
                    }
                }
                let mut ops = Vec::new();
                let mut reader = body.get_operators_reader().map_err(rewrite)?;
                while fits && !reader.eof() && ops.len() <= MAX_LEAF_OPS {
                    ops.push(reader.read().map_err(rewrite)?);
                }
                let loops = ops.iter().any(|op| matches!(op, Operator::Loop { .. }));
                if !fits || ops.len() > MAX_LEAF_OPS || !loops {
                    continue;
                }
                let function = imported + i as u32;
                leaves.insert(
                    function,
                    Leaf {
                        ty: frame.ty,
                        params,
                        locals,
                        ops,
                    },
                );
            }
            _ => {}
        }
    }
    Ok(leaves)
}

/// `ty` re-encoded, if it is a number or a vector (a local of that type can be set to zero).
fn numeric(ty: wasmparser::ValType) -> Option<ValType> {
    use wasmparser::ValType::*;
    if !matches!(ty, I32 | I64 | F32 | F64 | V128) {
        return None;
    }
    RoundtripReencoder.val_type(ty).ok()
}

/// A leaf as one function inlines it: its body with its locals at the caller's `first`.
pub(super) struct Inlined<'a> {
    ty: u32,
    first: u32,
    params: u32,
    locals: Vec<ValType>,
    pub(super) ops: Vec<Operator<'a>>,
}

/// The leaves the function whose body is `ops` calls, each with its body renumbered to locals
/// from `*next` on (which it moves past them, and declares in `locals`), by function index.
pub(super) fn inlined<'a>(
    ops: &[Operator],
    leaves: &BTreeMap<u32, Leaf<'a>>,
    next: &mut u32,
    locals: &mut Vec<(u32, ValType)>,
) -> BTreeMap<u32, Inlined<'a>> {
    let mut inlined = BTreeMap::new();
    for op in ops {
        let Operator::Call { function_index } = op else {
            continue;
        };
        let Some(leaf) = leaves.get(function_index) else {
            continue;
        };
        if inlined.contains_key(function_index) {
            continue;
        }
        let count = (leaf.params.len() + leaf.locals.len()) as u32;
        if next.saturating_add(count) > MAX_LOCALS {
            break;
        }
        let first = *next;
        *next += count;
        locals.extend(leaf.params.iter().chain(&leaf.locals).map(|&t| (1, t)));
        inlined.insert(
            *function_index,
            Inlined {
                ty: leaf.ty,
                first,
                params: leaf.params.len() as u32,
                locals: leaf.locals.clone(),
                ops: renumbered(&leaf.ops, first),
            },
        );
    }
    inlined
}

/// `ops` with every local `n` as `first + n`, and `return` as a branch to the body's label.
fn renumbered<'a>(ops: &[Operator<'a>], first: u32) -> Vec<Operator<'a>> {
    use Operator::*;
    let mut depth = 0u32;
    ops.iter()
        .map(|op| {
            let op = match op {
                LocalGet { local_index } => LocalGet {
                    local_index: first + local_index,
                },
                LocalSet { local_index } => LocalSet {
                    local_index: first + local_index,
                },
                LocalTee { local_index } => LocalTee {
                    local_index: first + local_index,
                },
                Return => Br {
                    relative_depth: depth,
                },
                op => op.clone(),
            };
            match op {
                Block { .. } | Loop { .. } | If { .. } => depth += 1,
                End => depth = depth.saturating_sub(1),
                _ => {}
            }
            op
        })
        .collect()
}

impl Inlined<'_> {
    /// Opens the block the body runs in, with the arguments on the stack, and sets the leaf's
    /// parameters and locals.
    pub(super) fn enter(&self, f: &mut Function) {
        use Instruction::*;
        f.instruction(&Block(wasm_encoder::BlockType::FunctionType(self.ty)));
        for p in (0..self.params).rev() {
            f.instruction(&LocalSet(self.first + p));
        }
        for (n, ty) in self.locals.iter().enumerate() {
            f.instruction(&match ty {
                ValType::I32 => I32Const(0),
                ValType::I64 => I64Const(0),
                ValType::F32 => F32Const(0.0.into()),
                ValType::F64 => F64Const(0.0.into()),
                _ => V128Const(0),
            });
            f.instruction(&LocalSet(self.first + self.params + n as u32));
        }
    }
}
