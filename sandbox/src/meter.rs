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
//!   fuel left in the global, when the fuel is below zero (a function without loops or calls
//!   ends within its length, so it needs no check); so does every bulk memory instruction
//!   that overdraws;
//! - every such check then reads a byte of a one-page memory of the module's own (exported as
//!   [`INTERRUPT_EXPORT`]), a byte of its own in its function (see `meter/charges.rs`). When a
//!   run's time is up, the executor's ticker makes that page inaccessible, so the next check's
//!   read faults, which wasmtime turns into a trap, whatever the fuel. A comparison with zero
//!   and a load that nothing waits on: the floor this runtime first loaded from the page and
//!   compared the fuel with at every check (with the same counts) cost word-freq 4% of its
//!   time and monte-carlo 6%.
//!
//! A loop whose trip count is known when it starts (one straight-line body stepping a counter
//! by a power of two towards a bound it does not write, see [`counted`]) takes the whole trip's
//! fuel then, when the fuel left covers it and it is at most [`COUNTED_LOOP_CAP`], and runs a
//! copy without per-iteration charges and checks; otherwise it is metered per iteration. The
//! counts and outcomes are the same either way.
//!
//! A direct call of a small leaf function with a loop is replaced by the leaf's body, metered
//! as the leaf is, without the fuel's round trips through the global (`meter/inline.rs`): the
//! same counts and outcomes.
//!
//! How deep a module may call is the module's own (the call-depth rule, `meter/frames.rs`): every
//! function that calls, or is heavy, takes its weight in stack units from a budget global on
//! entry and gives it back on every way out, and the entry traps when the budget would run
//! low, so a recursion stops at the same depth whatever the native frames of the machine and
//! wasmtime version.
//!
//! A direct call of the runtime's `cmkt.sha256` ([`crate::SHA256_FUEL_PER_CALL`]) takes its
//! fuel in the module, before the call, from the length on the stack, and traps the same way
//! when that overdraws (cheaper than the host reading and writing the fuel global); so a module
//! that names that import anywhere but in a `call` (a table, an export, a `ref.func`) is
//! refused.
//!
//! The module's own globals and memories keep their indices (the new ones come after them: the
//! fuel, then the stack budget), and the module's code never names the new ones. Fuel is
//! counted in wasm instructions of the module as given to this pass (after
//! [`crate::nan::canonicalize`] for scalar modules), so the counts are defined by this pass,
//! not by a wasmtime version: any change to what it charges is a new runtime id. A run whose
//! count went below zero ran out of fuel, however it ended, and used `max_fuel`; a run that
//! trapped otherwise used what the global held at the trap (the count up to its last call or
//! return).
//!
//! Modules with a start function are refused (a `wasi-p1` job starts at `_start`, and a start
//! function would run before the executor sets the fuel), as are modules with 64-bit memories
//! or tables, exceptions, threads or stack switching.

mod charges;
mod counted;
mod frames;
mod inline;
mod shape;

use crate::rewrite::declared_locals;
pub use charges::UNIQUE_TOUCHES;
use charges::{LenPrice, Meter};
pub use counted::COUNTED_LOOP_CAP;
pub use frames::{
    BYTES_PER_UNIT, FRAME_UNITS, LEAF_RESERVE, MAX_FRAME_WEIGHT, MAX_WASM_STACK, STACK_BUDGET,
};
pub use inline::MAX_LEAF_OPS;
use shape::{shape, Shape};
use wasm_encoder::reencode::{Error, Reencode};
use wasm_encoder::{
    CodeSection, ConstExpr, ExportKind, ExportSection, Function, GlobalSection, GlobalType,
    Instruction, MemorySection, MemoryType, SectionId, ValType,
};
use wasmparser::{FunctionBody, Operator, Parser, WasmFeatures};

/// The export holding the fuel left (`i64`; negative after the module ran out).
pub const FUEL_EXPORT: &str = "cmkt:fuel";
/// The export of the one-page memory the checks read, which the executor makes inaccessible to
/// interrupt the run.
pub const INTERRUPT_EXPORT: &str = "cmkt:interrupt";
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
    instrument_with(wasm, Shortcuts::ALL)
}

/// What the pass may do to make the module faster without changing a count or an outcome;
/// switched off only to measure what each buys, or (inlining) when the frames it makes do not
/// fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shortcuts {
    /// Counted loops take their trip's fuel when they start ([`COUNTED_LOOP_CAP`]), instead
    /// of every loop being metered per iteration.
    pub counted_loops: bool,
    /// Small leaf functions are inlined at their direct calls ([`MAX_LEAF_OPS`]).
    pub inline_leaves: bool,
    /// The checks of a function that read a byte of the interrupt page of their own, at most
    /// [`UNIQUE_TOUCHES`] (fewer only to test the byte the others share).
    pub unique_touches: u32,
}

impl Shortcuts {
    /// Every shortcut: what runtime `wasi-p1v3` does.
    pub const ALL: Shortcuts = Shortcuts {
        counted_loops: true,
        inline_leaves: true,
        unique_touches: UNIQUE_TOUCHES,
    };
}

/// [`instrument`] with only the `shortcuts` given.
pub fn instrument_with(wasm: &[u8], shortcuts: Shortcuts) -> Result<Vec<u8>, Refused> {
    instrument_rooms(wasm, shortcuts).map(|(wasm, _)| wasm)
}

/// [`instrument_with`], and the stack units each function the module defines may take natively
/// (its weight, or [`LEAF_RESERVE`] for a function that takes none), in order.
pub fn instrument_rooms(wasm: &[u8], shortcuts: Shortcuts) -> Result<(Vec<u8>, Vec<u32>), Refused> {
    let features = WasmFeatures::default()
        - WasmFeatures::THREADS
        - WasmFeatures::SHARED_EVERYTHING_THREADS
        - WasmFeatures::EXCEPTIONS
        - WasmFeatures::LEGACY_EXCEPTIONS
        - WasmFeatures::STACK_SWITCHING
        - WasmFeatures::MEMORY64;
    let frames = frames::frames(wasm, features)?;
    let rooms = frames.iter().map(frames::Frame::room).collect();
    let shape = shape(wasm)?;
    let leaves = match shortcuts.inline_leaves {
        true => inline::leaves(wasm, &frames)?,
        false => Default::default(),
    };
    let mut pass = Pass {
        fuel: shape.globals,
        interrupt: shape.memories,
        frames: frames.into_iter(),
        shape,
        added: [false; 3],
        counted_loops: shortcuts.counted_loops,
        unique_touches: shortcuts.unique_touches.min(UNIQUE_TOUCHES),
        leaves,
    };
    let mut module = wasm_encoder::Module::new();
    pass.parse_core_module(&mut module, Parser::new(0), wasm)
        .map_err(|e| Refused::Rewrite(format!("{e:?}")))?;
    Ok((module.finish(), rooms))
}

struct Pass<'a> {
    /// The index of the fuel global (the stack budget's is the next) and of the interrupt
    /// memory.
    fuel: u32,
    interrupt: u32,
    /// What the call-depth rule needs of every function, in order.
    frames: std::vec::IntoIter<frames::Frame>,
    shape: Shape,
    /// Whether the memory, global and export sections got their new entry.
    added: [bool; 3],
    /// Whether counted loops take their trip's fuel when they start.
    counted_loops: bool,
    /// The checks of a function that read a byte of the interrupt page of their own.
    unique_touches: u32,
    /// The small leaves inlined at their direct calls, by function index (`inline.rs`).
    leaves: std::collections::BTreeMap<u32, inline::Leaf<'a>>,
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

impl Pass<'_> {
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
        let budget = GlobalType {
            val_type: ValType::I32,
            ..ty
        };
        globals.global(budget, &ConstExpr::i32_const(STACK_BUDGET as i32));
        self.added[1] = true;
    }

    fn export_section(&mut self, exports: &mut ExportSection) {
        exports.export(FUEL_EXPORT, ExportKind::Global, self.fuel);
        exports.export(INTERRUPT_EXPORT, ExportKind::Memory, self.interrupt);
        self.added[2] = true;
    }
}

impl Reencode for Pass<'_> {
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
        let frame = self
            .frames
            .next()
            .ok_or_else(|| Error::UserError("more function bodies than functions".into()))?;
        let (mut locals, first_free) = declared_locals(self, Some(frame.params), &func)?;
        // the fuel left, a bulk instruction's (or a hash's) length, a hash's output, a
        // counted loop's trip
        let fuel_local = first_free;
        let temps = Temps {
            len: fuel_local + 1,
            out: fuel_local + 2,
            counted: counted::Scratch {
                distance: fuel_local + 1,
                trip: fuel_local + 3,
            },
        };
        locals.push((1, ValType::I64));
        locals.push((2, ValType::I32));
        locals.push((1, ValType::I64));

        let mut reader = func.get_operators_reader()?;
        let mut ops = Vec::new();
        while !reader.eof() {
            ops.push(reader.read()?);
        }
        let mut next = first_free + frames::ADDED_LOCALS;
        let inlined = inline::inlined(&ops, &self.leaves, &mut next, &mut locals);
        let m = Meter {
            global: self.fuel,
            local: fuel_local,
            interrupt: self.interrupt,
            touches: Default::default(),
            unique: self.unique_touches,
        };
        let mut f = Function::new(locals);
        let stack = frames::Depth::of(frame, self.fuel + 1);
        if let Some(d) = &stack {
            d.enter(&mut f);
        }
        f.instruction(&Instruction::GlobalGet(m.global))
            .instruction(&Instruction::LocalSet(m.local));
        m.charge(&mut f, run_length(&ops));
        // a function that calls nothing and has no loop ends within its length
        if frame.calls {
            m.checks(&mut f);
        }
        let own = Own { stack, inlined };
        self.body(&mut f, &m, &temps, &ops, Some(&own))?;
        code.function(&f);
        Ok(())
    }
}

/// What a function's own body needs besides its operators (an inlined leaf's needs none).
struct Own<'a> {
    /// The call-depth rule's emission, `None` for a light leaf.
    stack: Option<frames::Depth>,
    /// The leaves inlined at its calls, by function index.
    inlined: std::collections::BTreeMap<u32, inline::Inlined<'a>>,
}

/// The locals the pass adds to a function besides the fuel's.
struct Temps {
    /// A bulk instruction's (or a hash's) length, and a hash's output.
    len: u32,
    out: u32,
    counted: counted::Scratch,
}

impl Pass<'_> {
    /// Emits `ops` metered: a function's own body (`own`), or an inlined leaf's (`None`), whose
    /// ways out are branches to the block it runs in and leave the fuel in the local.
    fn body(
        &mut self,
        f: &mut Function,
        m: &Meter,
        t: &Temps,
        ops: &[Operator],
        own: Option<&Own>,
    ) -> Result<(), Error<String>> {
        let last = ops.len().saturating_sub(1);
        // blocks open around the instruction: a branch of this depth leaves the body
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
                .then(|| counted::counted(ops, i))
                .flatten()
            {
                skip_to = Some(self.counted_loop(f, m, &t.counted, ops, i, &c)?);
                continue;
            }
            if own.is_some() && leaves_function(op, depth) {
                m.flush(f);
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
                    m.charge_sha256(f, t.len, t.out);
                }
                _ => {}
            }
            let leaf = match (op, own) {
                (Call { function_index }, Some(own)) => own.inlined.get(function_index),
                _ => None,
            };
            if let Some(leaf) = leaf {
                // the fuel where the call would have written it, for a trap in the leaf
                m.flush(f);
                leaf.enter(f);
                m.charge(f, run_length(&leaf.ops));
                self.body(f, m, t, &leaf.ops, None)?;
                continue;
            }
            match op {
                Call { .. } | CallIndirect { .. } | CallRef { .. } => {
                    m.flush(f);
                    f.instruction(&self.instruction(op.clone())?);
                    f.instruction(&Instruction::GlobalGet(m.global))
                        .instruction(&Instruction::LocalSet(m.local));
                }
                ReturnCall { .. } | ReturnCallIndirect { .. } | ReturnCallRef { .. } | Return => {
                    m.flush(f);
                    if let Some(d) = own.and_then(|o| o.stack.as_ref()) {
                        d.leave(f);
                    }
                    f.instruction(&self.instruction(op.clone())?);
                }
                Loop { .. } => {
                    m.fence(f);
                    f.instruction(&self.instruction(op.clone())?);
                }
                End if i == last => {
                    if let Some(own) = own {
                        m.flush(f);
                        if let Some(d) = &own.stack {
                            d.close(f);
                        }
                    }
                    f.instruction(&self.instruction(op.clone())?);
                }
                MemoryFill { .. } | MemoryCopy { .. } | MemoryInit { .. } => {
                    m.charge_len(f, t.len, LenPrice::BULK_MEMORY);
                    f.instruction(&self.instruction(op.clone())?);
                }
                MemoryGrow { .. } => {
                    m.charge_len(f, t.len, LenPrice::MEMORY_GROW);
                    f.instruction(&self.instruction(op.clone())?);
                }
                TableFill { .. } | TableCopy { .. } | TableInit { .. } | TableGrow { .. } => {
                    m.charge_len(f, t.len, LenPrice::BULK_TABLE);
                    f.instruction(&self.instruction(op.clone())?);
                }
                _ => {
                    f.instruction(&self.instruction(op.clone())?);
                }
            }
            if i < last && ends_run(op) {
                m.charge(f, run_length(&ops[i + 1..]));
                if matches!(op, Loop { .. }) {
                    m.checks(f);
                }
            }
        }
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
