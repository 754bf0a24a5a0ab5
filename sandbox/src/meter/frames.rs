//! The call-depth rule of runtime `wasi-p1v3`: how deep a module may call is a property of the
//! module, not of the machine.
//!
//! How far a wasm call stack reaches before wasmtime's stack limit depends on the size of each
//! native frame, which Cranelift chooses: it differs between wasmtime versions, between x86-64
//! and aarch64, and between `wasi-p1v2` and `wasi-p1v3` on the same module. A job recursing
//! close to the limit would then finish on one provider's machine and trap on another's, and
//! the honest providers would disagree (a requester could post such a job on purpose). So the
//! module counts its own stack:
//!
//! - every function has a *weight* in stack units: [`FRAME_UNITS`] plus its parameters, its
//!   locals and the greatest height of its operand stack, all read from the module as this
//!   pass gets it (after the NaN rewrite of a module without SIMD, which adds an `f32` and an
//!   `f64` local to every function), plus the four locals this pass adds;
//! - a mutable `i32` global holds the units left, [`STACK_BUDGET`] when the run starts; every
//!   function that calls anything, and every function heavier than [`LEAF_RESERVE`], takes its
//!   weight on entry and gives it back on every way out (`return`, a return call, its end or a
//!   branch to its own label, all of which meet at a block the pass wraps around its body);
//! - the entry traps, before the function's first instruction and so with the fuel counted up
//!   to the call, when what is left would fall below [`LEAF_RESERVE`]: the room kept for one
//!   light leaf function (one that calls nothing), which takes nothing.
//!
//! The executor gives wasm [`MAX_WASM_STACK`] bytes, [`BYTES_PER_UNIT`] for each unit of the
//! budget and of one frame past it (a function weighs at most [`MAX_FRAME_WEIGHT`]), and runs
//! each job on a thread of its own with that stack and room for the host's frames. Cranelift
//! keeps about 16 bytes per live value and a few words of its own, so a frame within 32 bytes
//! per unit runs out of the budget before the native stack (the SIMD NaN rule's scratch locals,
//! added after this pass, fit in that margin). A frame can be larger: Cranelift merges equal
//! pure expressions, so a function that computes a thousand products before a call and the
//! same thousand after it keeps all of them across the call. So the executor reads every
//! compiled function's frame (`frame_check.rs`, on x86-64) and refuses a module with a frame
//! larger than its room (`Frame::room`); a run that reaches the native limit anyway (on other
//! CPUs) is refused ([`crate::Refusal::StackLimit`]), not committed to, since where it stopped
//! depends on the machine. Units are not charged as fuel: the fuel counts are those of the
//! module without this rule. The weights are part of the runtime, as the counts are: the
//! operand stack's height is wasmparser's validator's, so an upgrade that changed it would
//! need a new runtime id.

use super::Refused;
use wasm_encoder::{Function, Instruction};
use wasmparser::{FuncValidatorAllocations, Parser, ValidPayload, Validator, WasmFeatures};

/// Stack units every frame takes besides its values (return address, saved registers, spill
/// room of Cranelift's own).
pub const FRAME_UNITS: u32 = 16;
/// Stack units a run starts with.
pub const STACK_BUDGET: u32 = 1 << 18;
/// The room the budget keeps for one leaf function: a function that calls nothing and weighs
/// at most this takes no units (and costs nothing to call).
pub const LEAF_RESERVE: u32 = 256;
/// Native stack bytes the executor allows per unit of the budget (twice the 16 bytes of the
/// largest value, a `v128`).
pub const BYTES_PER_UNIT: usize = 32;
/// The heaviest function the runtime runs (a module with a heavier one is refused): a frame is
/// laid out before its entry takes the weight, so the native stack also holds one frame past
/// the budget.
pub const MAX_FRAME_WEIGHT: u32 = 1 << 17;
/// The native stack wasm code of runtime `wasi-p1v3` may use (wasmtime's `max_wasm_stack`):
/// the budget, one frame past it and room for the entry trampolines.
pub const MAX_WASM_STACK: usize =
    (STACK_BUDGET + MAX_FRAME_WEIGHT) as usize * BYTES_PER_UNIT + (64 << 10);

/// Locals the metering pass adds to every function ([`super::Pass`]).
pub(super) const ADDED_LOCALS: u32 = 4;

/// What the rule needs of a function the module defines.
#[derive(Clone, Copy, Debug)]
pub(super) struct Frame {
    /// The function's type index (the block the pass wraps around its body has its type).
    pub(super) ty: u32,
    pub(super) params: u32,
    /// Whether it calls anything.
    pub(super) calls: bool,
    /// The units it takes, or `None` for a light leaf, which takes none.
    pub(super) weight: Option<u32>,
}

impl Frame {
    /// The stack units its native frame may take for the rule to hold (checked against the
    /// compiled code by `frame_check.rs`): its weight, or for a light leaf (which takes none)
    /// the [`LEAF_RESERVE`] kept for it.
    pub(super) fn room(&self) -> u32 {
        self.weight.unwrap_or(LEAF_RESERVE)
    }
}

/// Validates `wasm` with `features` and reads every defined function's [`Frame`].
pub(super) fn frames(wasm: &[u8], features: WasmFeatures) -> Result<Vec<Frame>, Refused> {
    let invalid = |e: wasmparser::BinaryReaderError| {
        Refused::Unsupported(format!("not valid for the runtime: {e}"))
    };
    let mut validator = Validator::new_with_features(features);
    let mut frames = Vec::new();
    let mut allocs = FuncValidatorAllocations::default();
    let mut parser = Parser::new(0);
    parser.set_features(features);
    for payload in parser.parse_all(wasm) {
        let payload = payload.map_err(invalid)?;
        let ValidPayload::Func(func, body) = validator.payload(&payload).map_err(invalid)? else {
            continue;
        };
        let mut v = func.into_validator(std::mem::take(&mut allocs));
        let mut reader = body.get_binary_reader();
        reader.set_features(features);
        v.read_locals(&mut reader).map_err(invalid)?;
        let (mut highest, mut calls) = (0u32, false);
        while !reader.eof() {
            let op = reader
                .peek_operator(&v.visitor(reader.original_position()))
                .map_err(invalid)?;
            calls |= super::calls(&op);
            reader
                .visit_operator(&mut v.visitor(reader.original_position()))
                .map_err(invalid)?
                .map_err(invalid)?;
            highest = highest.max(v.operand_stack_height());
        }
        reader
            .finish_expression(&v.visitor(reader.original_position()))
            .map_err(invalid)?;
        let resources = v.resources();
        let ty = wasmparser::WasmModuleResources::type_index_of_function(resources, v.index())
            .ok_or_else(|| Refused::Rewrite("a function without a type".into()))?;
        let params = match wasmparser::WasmModuleResources::sub_type_at(resources, ty)
            .map(|t| &t.composite_type.inner)
        {
            Some(wasmparser::CompositeInnerType::Func(f)) => f.params().len() as u32,
            _ => return Err(Refused::Rewrite("a function whose type is not one".into())),
        };
        let locals = v.len_locals();
        let weight = FRAME_UNITS
            .saturating_add(locals)
            .saturating_add(ADDED_LOCALS)
            .saturating_add(highest);
        if weight > MAX_FRAME_WEIGHT {
            return Err(Refused::Unsupported(format!(
                "function {} needs {weight} stack units, more than the {MAX_FRAME_WEIGHT} a frame may",
                v.index()
            )));
        }
        frames.push(Frame {
            ty,
            params,
            calls,
            weight: (calls || weight > LEAF_RESERVE).then_some(weight),
        });
        allocs = v.into_allocations();
    }
    Ok(frames)
}

/// Emission of the rule's instructions for a function that takes units: its frame and the
/// budget's global.
pub(super) struct Depth {
    frame: Frame,
    weight: u32,
    global: u32,
}

impl Depth {
    /// The rule's emission for `frame`, `None` for a light leaf.
    pub(super) fn of(frame: Frame, global: u32) -> Option<Depth> {
        let weight = frame.weight?;
        Some(Depth {
            frame,
            weight,
            global,
        })
    }

    /// Traps when taking the weight would leave less than [`LEAF_RESERVE`], else takes it;
    /// then opens a block of the function's own type around the body, where every branch to
    /// the function's label lands (its parameters pushed for it, and dropped in it).
    pub(super) fn enter(&self, f: &mut Function) {
        use Instruction::*;
        let need = self.weight.saturating_add(LEAF_RESERVE);
        // compared unsigned, as the budget never goes below zero
        f.instruction(&GlobalGet(self.global))
            .instruction(&I32Const(need as i32))
            .instruction(&I32LtU)
            .instruction(&If(wasm_encoder::BlockType::Empty))
            .instruction(&Unreachable)
            .instruction(&End)
            .instruction(&GlobalGet(self.global))
            .instruction(&I32Const(self.weight as i32))
            .instruction(&I32Sub)
            .instruction(&GlobalSet(self.global));
        for p in 0..self.frame.params {
            f.instruction(&LocalGet(p));
        }
        f.instruction(&Block(wasm_encoder::BlockType::FunctionType(self.frame.ty)));
        for _ in 0..self.frame.params {
            f.instruction(&Drop);
        }
    }

    /// Closes the block [`Depth::enter`] opened and gives the weight back, at the function's
    /// end.
    pub(super) fn close(&self, f: &mut Function) {
        f.instruction(&Instruction::End);
        self.leave(f);
    }

    /// Gives the weight back.
    pub(super) fn leave(&self, f: &mut Function) {
        use Instruction::*;
        f.instruction(&GlobalGet(self.global))
            .instruction(&I32Const(self.weight as i32))
            .instruction(&I32Add)
            .instruction(&GlobalSet(self.global));
    }
}
