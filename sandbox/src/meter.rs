//! Fuel metering and interruption compiled into the module (runtime `wasi-p1v3`), instead of
//! wasmtime's fuel and epoch checks.
//!
//! Wasmtime's fuel and epoch checks call into the runtime when they fire (to refuel or to
//! yield), so every loop holds a call on its path, and Cranelift keeps the loop's values in
//! stack slots across it: a float loop ran at half its speed with either check on and at
//! native speed with both off. A job never needs to resume after either (running out of fuel
//! ends it, a timeout refuses it), so [`instrument`] rewrites a module to meter itself with
//! plain wasm that traps instead of calling:
//!
//! - a mutable `i64` global (exported as [`FUEL_EXPORT`]) holds the fuel left; every function
//!   keeps it in a local, reads it on entry and after every call, and writes it back before
//!   every call and every way out (`return`, its last `end`, a branch to its own label);
//! - every straight-line run of instructions (it starts after a block boundary or a branch)
//!   first takes its own length in fuel (one unit per instruction); bulk memory instructions
//!   also take one unit per [`BYTES_PER_FUEL`] bytes before they run, `memory.grow`
//!   [`FUEL_PER_PAGE`] per page, and bulk table instructions one per element;
//! - every loop header, and the entry of every function that calls anything, traps, with the
//!   fuel left in the global, when the fuel is below a floor (a function without loops or calls
//!   ends within its length, so it needs no check); so does every bulk memory instruction
//!   that overdraws;
//! - the floor is an `i64` at the start of a one-page memory of the module's own (exported as
//!   [`INTERRUPT_EXPORT`]): 0, so a check traps when the fuel is below zero, until the
//!   executor's ticker writes [`INTERRUPTED`] there when the run's time is up, so the next
//!   check traps whatever the fuel (the way wasmtime's epochs are a counter the host bumps
//!   while compiled code reads it). One load and one comparison check both.
//!
//! A loop whose trip count is known when it starts (one straight-line body stepping a counter
//! by a power of two towards a bound it does not write, see [`counted`]) takes the whole trip's
//! fuel then, when the fuel left covers it and it is at most [`COUNTED_LOOP_CAP`], and runs a
//! copy without per-iteration charges and checks; otherwise it is metered per iteration. The
//! counts and outcomes are the same either way.
//!
//! A direct call of the runtime's `cmkt.sha256` ([`crate::SHA256_FUEL_PER_CALL`]) takes its
//! fuel in the module, before the call, from the length on the stack, and traps the same way
//! when that overdraws (cheaper than the host reading and writing the fuel global); so a module
//! that names that import anywhere but in a `call` (a table, an export, a `ref.func`) is
//! refused.
//!
//! The module's own globals and memories keep their indices (the new ones come after them),
//! and the module's code never names the new ones. Fuel is counted in wasm instructions of the
//! module as given to this pass (after [`crate::nan::canonicalize`] for scalar modules), so the
//! counts are defined by this pass, not by a wasmtime version: any change to what it charges is
//! a new runtime id. A run whose count went below zero ran out of fuel, however it ended, and
//! used `max_fuel`; a run that trapped otherwise used what the global held at the trap (the
//! count up to its last call or return).
//!
//! Modules with a start function are refused (a `wasi-p1` job starts at `_start`, and a start
//! function would run before the executor sets the fuel), as are modules with 64-bit memories
//! or tables, exceptions, threads or stack switching.

mod counted;
mod shape;

use crate::rewrite::declared_locals;
pub use counted::COUNTED_LOOP_CAP;
use shape::{shape, Shape};
use wasm_encoder::reencode::{Error, Reencode};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, ExportKind, ExportSection, Function, GlobalSection,
    GlobalType, Instruction, MemArg, MemArgTarget, MemorySection, MemoryType, SectionId, ValType,
};
use wasmparser::{FunctionBody, Operator, Parser, Validator, WasmFeatures};

/// The export holding the fuel left (`i64`; negative after the module ran out).
pub const FUEL_EXPORT: &str = "cmkt:fuel";
/// The export of the one-page memory whose first 8 bytes hold the fuel floor of the checks.
pub const INTERRUPT_EXPORT: &str = "cmkt:interrupt";
/// The floor that interrupts a run: the fuel at a check is always below it, since every check
/// follows a charge.
pub const INTERRUPTED: i64 = i64::MAX;
/// Bytes of `memory.fill`, `memory.copy` and `memory.init` per unit of fuel (on top of the
/// instruction's own unit).
pub const BYTES_PER_FUEL: u32 = 16;
/// Fuel per 64 KiB page of `memory.grow` (the pages are zeroed when first touched).
pub const FUEL_PER_PAGE: u32 = 4096;

/// Why a module was not instrumented.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// The module uses something the runtime does not run (see the module's documentation).
    #[error("runtime wasi-p1v3 does not run this module: {0}")]
    Unsupported(String),
    /// The module could not be parsed or re-encoded.
    #[error("instrumenting the module: {0}")]
    Rewrite(String),
}

/// `wasm` rewritten to meter its fuel and check for interruption itself (see the module's
/// documentation), to be compiled without wasmtime's fuel and epoch checks.
pub fn instrument(wasm: &[u8]) -> Result<Vec<u8>, Refused> {
    instrument_with(wasm, true)
}

/// [`instrument`], with counted loops taking their trip's fuel when they start
/// ([`COUNTED_LOOP_CAP`]) or, without `counted_loops`, every loop metered per iteration (the
/// same counts; a measurement only).
pub fn instrument_with(wasm: &[u8], counted_loops: bool) -> Result<Vec<u8>, Refused> {
    let features = WasmFeatures::default()
        - WasmFeatures::THREADS
        - WasmFeatures::SHARED_EVERYTHING_THREADS
        - WasmFeatures::EXCEPTIONS
        - WasmFeatures::LEGACY_EXCEPTIONS
        - WasmFeatures::STACK_SWITCHING
        - WasmFeatures::MEMORY64;
    Validator::new_with_features(features)
        .validate_all(wasm)
        .map_err(|e| Refused::Unsupported(format!("not valid for the runtime: {e}")))?;
    let shape = shape(wasm)?;
    let mut pass = Pass {
        fuel: shape.globals,
        interrupt: shape.memories,
        params: shape.params.clone().into_iter(),
        shape,
        added: [false; 3],
        counted_loops,
    };
    let mut module = wasm_encoder::Module::new();
    pass.parse_core_module(&mut module, Parser::new(0), wasm)
        .map_err(|e| Refused::Rewrite(format!("{e:?}")))?;
    Ok(module.finish())
}

struct Pass {
    /// The index of the fuel global and of the interrupt memory.
    fuel: u32,
    interrupt: u32,
    params: std::vec::IntoIter<u32>,
    shape: Shape,
    /// Whether the memory, global and export sections got their new entry.
    added: [bool; 3],
    /// Whether counted loops take their trip's fuel when they start.
    counted_loops: bool,
}

/// The place of a section in a module (the binary format's order, which is not the ids').
fn place(id: SectionId) -> u8 {
    use SectionId::*;
    match id {
        Custom => 0,
        Type => 1,
        Import => 2,
        Function => 3,
        Table => 4,
        Memory => 5,
        Tag => 6,
        Global => 7,
        Export => 8,
        Start => 9,
        Element => 10,
        DataCount => 11,
        Code => 12,
        Data => 13,
    }
}

impl Pass {
    fn memory_section(&mut self, memories: &mut MemorySection) {
        memories.memory(MemoryType {
            minimum: 1,
            maximum: Some(1),
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        self.added[0] = true;
    }

    fn global_section(&mut self, globals: &mut GlobalSection) {
        let ty = GlobalType {
            val_type: ValType::I64,
            mutable: true,
            shared: false,
        };
        globals.global(ty, &ConstExpr::i64_const(0));
        self.added[1] = true;
    }

    fn export_section(&mut self, exports: &mut ExportSection) {
        exports.export(FUEL_EXPORT, ExportKind::Global, self.fuel);
        exports.export(INTERRUPT_EXPORT, ExportKind::Memory, self.interrupt);
        self.added[2] = true;
    }
}

impl Reencode for Pass {
    type Error = String;

    fn parse_memory_section(
        &mut self,
        memories: &mut MemorySection,
        section: wasmparser::MemorySectionReader<'_>,
    ) -> Result<(), Error<String>> {
        wasm_encoder::reencode::utils::parse_memory_section(self, memories, section)?;
        self.memory_section(memories);
        Ok(())
    }

    fn parse_global_section(
        &mut self,
        globals: &mut GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), Error<String>> {
        wasm_encoder::reencode::utils::parse_global_section(self, globals, section)?;
        self.global_section(globals);
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), Error<String>> {
        wasm_encoder::reencode::utils::parse_export_section(self, exports, section)?;
        self.export_section(exports);
        Ok(())
    }

    /// Adds the sections the module lacks, each in its place.
    fn intersperse_section_hook(
        &mut self,
        module: &mut wasm_encoder::Module,
        _after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), Error<String>> {
        let before = before.map_or(u8::MAX, place);
        if !self.shape.has_memories && !self.added[0] && before > place(SectionId::Memory) {
            let mut s = MemorySection::new();
            self.memory_section(&mut s);
            module.section(&s);
        }
        if !self.shape.has_globals && !self.added[1] && before > place(SectionId::Global) {
            let mut s = GlobalSection::new();
            self.global_section(&mut s);
            module.section(&s);
        }
        if !self.shape.has_exports && !self.added[2] && before > place(SectionId::Export) {
            let mut s = ExportSection::new();
            self.export_section(&mut s);
            module.section(&s);
        }
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut CodeSection,
        func: FunctionBody<'_>,
    ) -> Result<(), Error<String>> {
        let params = self.params.next();
        let (mut locals, first_free) = declared_locals(self, params, &func)?;
        // the fuel left, a bulk instruction's (or a hash's) length, a hash's output, a
        // counted loop's trip
        let fuel_local = first_free;
        let len_local = fuel_local + 1;
        let out_local = fuel_local + 2;
        let scratch = counted::Scratch {
            distance: len_local,
            trip: fuel_local + 3,
        };
        locals.push((1, ValType::I64));
        locals.push((2, ValType::I32));
        locals.push((1, ValType::I64));

        let mut reader = func.get_operators_reader()?;
        let mut ops = Vec::new();
        while !reader.eof() {
            ops.push(reader.read()?);
        }
        let m = Meter {
            global: self.fuel,
            local: fuel_local,
            interrupt: self.interrupt,
        };
        let mut f = Function::new(locals);
        f.instruction(&Instruction::GlobalGet(m.global))
            .instruction(&Instruction::LocalSet(m.local));
        m.charge(&mut f, run_length(&ops));
        // a function that calls nothing and has no loop ends within its length
        if ops.iter().any(calls) {
            m.checks(&mut f);
        }
        let last = ops.len().saturating_sub(1);
        // blocks open around the instruction: a branch of this depth leaves the function
        let mut depth = 0u32;
        // the `end` of the counted loop just emitted, whose operators are skipped
        let mut skip_to = None;
        for (i, op) in ops.iter().enumerate() {
            use Operator::*;
            if skip_to.is_some_and(|end| i <= end) {
                continue;
            }
            if let Some(c) = self
                .counted_loops
                .then(|| counted::counted(&ops, i))
                .flatten()
            {
                skip_to = Some(self.counted_loop(&mut f, &m, &scratch, &ops, i, &c)?);
                continue;
            }
            if leaves_function(op, depth) {
                m.flush(&mut f);
            }
            match op {
                Block { .. } | Loop { .. } | If { .. } => depth += 1,
                End => depth = depth.saturating_sub(1),
                _ => {}
            }
            match op {
                Call { function_index } | ReturnCall { function_index }
                    if self.shape.sha256.contains(function_index) =>
                {
                    m.charge_sha256(&mut f, len_local, out_local);
                }
                _ => {}
            }
            match op {
                Call { .. } | CallIndirect { .. } | CallRef { .. } => {
                    m.flush(&mut f);
                    f.instruction(&self.instruction(op.clone())?);
                    f.instruction(&Instruction::GlobalGet(m.global))
                        .instruction(&Instruction::LocalSet(m.local));
                }
                ReturnCall { .. } | ReturnCallIndirect { .. } | ReturnCallRef { .. } | Return => {
                    m.flush(&mut f);
                    f.instruction(&self.instruction(op.clone())?);
                }
                Loop { .. } => {
                    m.reload_floor(&mut f);
                    f.instruction(&self.instruction(op.clone())?);
                }
                End if i == last => {
                    m.flush(&mut f);
                    f.instruction(&self.instruction(op.clone())?);
                }
                MemoryFill { .. } | MemoryCopy { .. } | MemoryInit { .. } => {
                    m.charge_len(&mut f, len_local, LenPrice::BULK_MEMORY);
                    f.instruction(&self.instruction(op.clone())?);
                }
                MemoryGrow { .. } => {
                    m.charge_len(&mut f, len_local, LenPrice::MEMORY_GROW);
                    f.instruction(&self.instruction(op.clone())?);
                }
                TableFill { .. } | TableCopy { .. } | TableInit { .. } | TableGrow { .. } => {
                    m.charge_len(&mut f, len_local, LenPrice::BULK_TABLE);
                    f.instruction(&self.instruction(op.clone())?);
                }
                _ => {
                    f.instruction(&self.instruction(op.clone())?);
                }
            }
            if i < last && ends_run(op) {
                m.charge(&mut f, run_length(&ops[i + 1..]));
                if matches!(op, Loop { .. }) {
                    m.checks(&mut f);
                }
            }
        }
        code.function(&f);
        Ok(())
    }
}

/// Whether `op`, inside `depth` blocks, may branch to the function's own label, that is,
/// return.
fn leaves_function(op: &Operator, depth: u32) -> bool {
    use Operator::*;
    match op {
        Br { relative_depth }
        | BrIf { relative_depth }
        | BrOnNull { relative_depth }
        | BrOnNonNull { relative_depth }
        | BrOnCast { relative_depth, .. }
        | BrOnCastFail { relative_depth, .. } => *relative_depth == depth,
        BrTable { targets } => {
            targets.default() == depth || targets.targets().any(|t| t.is_ok_and(|t| t == depth))
        }
        _ => false,
    }
}

/// Whether `op` calls a function.
fn calls(op: &Operator) -> bool {
    use Operator::*;
    matches!(
        op,
        Call { .. }
            | CallIndirect { .. }
            | CallRef { .. }
            | ReturnCall { .. }
            | ReturnCallIndirect { .. }
            | ReturnCallRef { .. }
    )
}

/// Whether a run of straight-line code ends after `op`: the next instruction can be reached
/// from elsewhere, or `op` may leave the run.
fn ends_run(op: &Operator) -> bool {
    use Operator::*;
    matches!(
        op,
        Block { .. }
            | Loop { .. }
            | If { .. }
            | Else
            | End
            | Br { .. }
            | BrIf { .. }
            | BrTable { .. }
            | BrOnNull { .. }
            | BrOnNonNull { .. }
            | BrOnCast { .. }
            | BrOnCastFail { .. }
            | Return
            | Unreachable
    )
}

/// The fuel of the run of instructions that starts `ops`: one per instruction up to and
/// including the one that ends it.
fn run_length(ops: &[Operator]) -> u32 {
    ops.iter().position(ends_run).map_or(ops.len(), |i| i + 1) as u32
}

struct Meter {
    global: u32,
    local: u32,
    interrupt: u32,
}

impl Meter {
    /// The local's fuel into the global.
    fn flush(&self, f: &mut Function) {
        f.instruction(&Instruction::LocalGet(self.local))
            .instruction(&Instruction::GlobalSet(self.global));
    }

    /// Takes the fuel of a `cmkt.sha256` call whose arguments `data, len, out` are on the stack
    /// (left there), and traps if that is more than is left, before the hash.
    fn charge_sha256(&self, f: &mut Function, len_local: u32, out_local: u32) {
        f.instruction(&Instruction::LocalSet(out_local));
        self.charge_len(f, len_local, LenPrice::SHA256);
        f.instruction(&Instruction::LocalGet(out_local));
    }

    /// Traps, with the (negative) fuel left in the global, when the local's (on top of the
    /// stack) is below zero.
    fn trap_if_empty(&self, f: &mut Function) {
        f.instruction(&Instruction::I64Const(0));
        self.trap_if_below(f);
    }

    /// Traps, with the fuel left in the global, when the fuel under the top of the stack is
    /// below the top.
    fn trap_if_below(&self, f: &mut Function) {
        f.instruction(&Instruction::I64LtS)
            .instruction(&Instruction::If(BlockType::Empty));
        self.flush(f);
        f.instruction(&Instruction::Unreachable)
            .instruction(&Instruction::End);
    }

    /// Takes `units` of fuel.
    fn charge(&self, f: &mut Function, units: u32) {
        f.instruction(&Instruction::LocalGet(self.local))
            .instruction(&Instruction::I64Const(units.into()))
            .instruction(&Instruction::I64Sub)
            .instruction(&Instruction::LocalSet(self.local));
    }

    /// Traps, with the fuel left in the global, when the fuel is below the floor: below zero,
    /// or interrupted.
    fn checks(&self, f: &mut Function) {
        f.instruction(&Instruction::LocalGet(self.local));
        self.floor(f);
        self.trap_if_below(f);
    }

    /// Pushes the floor of the checks: 0, or [`INTERRUPTED`].
    fn floor(&self, f: &mut Function) {
        f.instruction(&Instruction::I32Const(0))
            .instruction(&Instruction::I64Load(self.interrupt_page(0)));
    }

    /// Stores to the interrupt page, past the floor, before a loop (and before a counted loop's
    /// condition): the compiler then loads the floor again at the loop's checks. Without it,
    /// Cranelift (which does not know that the ticker writes the page) gave the checks of a loop
    /// the floor loaded by an earlier check of the function, read before the deadline, so a
    /// loop after another loop never saw the interruption.
    fn reload_floor(&self, f: &mut Function) {
        f.instruction(&Instruction::I32Const(0))
            .instruction(&Instruction::I64Const(0))
            .instruction(&Instruction::I64Store(self.interrupt_page(8)));
    }

    fn interrupt_page(&self, offset: u64) -> MemArg {
        MemArg {
            offset,
            align: 3,
            target: MemArgTarget::Memory(self.interrupt),
            ordering: None,
        }
    }

    /// Takes `price`'s fuel for `len`, the `i32` on top of the stack (left there), and traps if
    /// that is more than is left.
    fn charge_len(&self, f: &mut Function, len_local: u32, price: LenPrice) {
        use Instruction::*;
        f.instruction(&LocalTee(len_local))
            .instruction(&LocalGet(self.local))
            .instruction(&LocalGet(len_local))
            .instruction(&I64ExtendI32U);
        if price.pad != 0 {
            f.instruction(&I64Const(price.pad.into()))
                .instruction(&I64Add);
        }
        f.instruction(&I64Const(price.shr.into()))
            .instruction(&I64ShrU)
            .instruction(&I64Const(price.shl.into()))
            .instruction(&I64Shl);
        if price.base != 0 {
            f.instruction(&I64Const(price.base.into()))
                .instruction(&I64Add);
        }
        f.instruction(&I64Sub).instruction(&LocalTee(self.local));
        // before the instruction does the work it is charged for
        self.trap_if_empty(f);
    }
}

/// The fuel of an instruction that works on `len` units (bytes, pages, elements) given at run
/// time: `((len + pad) >> shr << shl) + base`.
#[derive(Clone, Copy)]
struct LenPrice {
    pad: u32,
    shr: u32,
    shl: u32,
    base: u32,
}

impl LenPrice {
    /// `memory.fill`, `memory.copy`, `memory.init`: a unit per [`BYTES_PER_FUEL`] bytes.
    const BULK_MEMORY: LenPrice = LenPrice {
        pad: 0,
        shr: BYTES_PER_FUEL.trailing_zeros(),
        shl: 0,
        base: 0,
    };
    /// `memory.grow`: [`FUEL_PER_PAGE`] per page.
    const MEMORY_GROW: LenPrice = LenPrice {
        pad: 0,
        shr: 0,
        shl: FUEL_PER_PAGE.trailing_zeros(),
        base: 0,
    };
    /// Bulk table instructions: a unit per element.
    const BULK_TABLE: LenPrice = LenPrice {
        pad: 0,
        shr: 0,
        shl: 0,
        base: 0,
    };
    /// `cmkt.sha256`: [`crate::SHA256_FUEL_PER_CALL`], and [`crate::SHA256_FUEL_PER_BLOCK`]
    /// per 64-byte block, the padding's (9 bytes at least) included.
    const SHA256: LenPrice = LenPrice {
        pad: 9 + 63,
        shr: 6,
        shl: crate::SHA256_FUEL_PER_BLOCK.trailing_zeros(),
        base: crate::SHA256_FUEL_PER_CALL as u32,
    };
}

// the prices are powers of two, as the shifts take them
const _: () = assert!(
    BYTES_PER_FUEL.is_power_of_two()
        && FUEL_PER_PAGE.is_power_of_two()
        && crate::SHA256_FUEL_PER_BLOCK.is_power_of_two()
        && crate::SHA256_FUEL_PER_CALL <= u32::MAX as u64
);
