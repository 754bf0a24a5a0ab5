//! Counted loops: a loop whose trip count is known when it starts takes the fuel of the whole
//! trip then, instead of per iteration, when the fuel left covers it.
//!
//! A loop is counted when its body is one straight-line run (no blocks, branches, calls or
//! bulk instructions) that ends by stepping a counter by a power of two and branching back
//! while the counter is not at (or is below) a bound the body never writes:
//!
//! ```text
//! loop                                  ;; or, with a bound:
//!   ...                                 ;;   local.get $x  i32.const d  i32.add  local.tee $x
//!   local.get $x  i32.const d  i32.add  ;;   i32.const b | local.get $n   i32.ne | i32.lt_u
//!   local.tee $x                        ;;   br_if 0
//!   br_if 0                             ;; (the bound may come first for i32.ne)
//! end
//! ```
//!
//! With `d = ±2^s`, the loop runs `k` times for the smallest `k ≥ 1` with
//! `x + d·k ≡ b (mod 2^32)`: with `r = b - x` (or `x - b` for a negative step), `k` exists when
//! `r` is a multiple of `2^s`, and then `k = ((r - 1) mod 2^32 >> s) + 1` (`2^(32-s)` when
//! `r = 0`). A loop that goes on while the counter is below the bound (`i32.lt_u` in place of
//! `i32.ne`, after the step, with `d = 2^s`) runs `k = ((r - 1) >> s) + 1` times too when the
//! counter starts below the bound (`0 < r`) and its last step does not wrap around
//! (`b + (-r mod 2^s) < 2^32`); otherwise it is metered per iteration.
//! The instrumented module computes `k` when the loop starts; when `k` exists, the
//! trip's fuel `k · cost` (`cost`: the body's length, what each iteration's header takes) is at
//! most [`COUNTED_LOOP_CAP`] and at most the fuel left, it takes that fuel at once and runs a
//! copy of the loop without charges or checks. Otherwise it runs the loop metered per
//! iteration as any other.
//!
//! The counts are the same. A per-iteration check traps only when the fuel falls below zero,
//! and the fuel falls with every iteration, so when what is left covers the whole trip no
//! check of the trip would have trapped, and the fuel after the loop is the same. Inside the
//! loop the fuel is not seen: the body calls nothing, and a trap of the body (an
//! out-of-bounds load) reports the fuel of the last call or return, as before. What changes is
//! only how soon a timeout is seen: after at most [`COUNTED_LOOP_CAP`] units of work of a
//! counted trip instead of at the next iteration. Before the condition the module reads the
//! interrupt page as a check does, so an interrupted run faults before the trip: counted loops
//! one after another (with no loop header between them) are interrupted within one trip.

use super::{calls, run_length, Meter, Pass};
use wasm_encoder::reencode::{Error, Reencode};
use wasm_encoder::{BlockType, Function, Instruction};
use wasmparser::Operator;

/// The most fuel a counted loop takes when it starts; a longer trip is metered per iteration,
/// so that a timeout interrupts a run within this much work of its deadline.
pub const COUNTED_LOOP_CAP: u32 = 1 << 20;

/// A counted loop (see the module's documentation).
pub(super) struct Counted {
    /// The index of the loop's `end` in the function's operators.
    end: usize,
    /// The counter.
    counter: u32,
    /// The step is `±2^shift`.
    shift: u32,
    negative: bool,
    bound: Bound,
    /// Whether the loop goes on while the counter is below the bound (`i32.lt_u`, a positive
    /// step), instead of while it is not at it (`i32.ne`).
    below: bool,
}

enum Bound {
    Const(i32),
    Local(u32),
}

/// The loop that starts at `ops[at]`, if it is counted.
pub(super) fn counted(ops: &[Operator], at: usize) -> Option<Counted> {
    use Operator::*;
    if !matches!(
        ops.get(at)?,
        Loop {
            blockty: wasmparser::BlockType::Empty
        }
    ) {
        return None;
    }
    // the body's one run ends at its first block boundary or branch: it must be `br_if 0`, the
    // loop's last instruction
    let br = at + run_length(&ops[at + 1..]) as usize;
    if !matches!(ops.get(br)?, BrIf { relative_depth: 0 }) || !matches!(ops.get(br + 1)?, End) {
        return None;
    }
    let body = &ops[at + 1..br];
    // the tail: the step, then (unless the bound is 0) the bound and `i32.ne`
    let step = |i: usize| match body.get(i..i + 4)? {
        [LocalGet { local_index: x }, I32Const { value: d }, I32Add, LocalTee { local_index: t }]
            if x == t && *d != 0 && d.unsigned_abs().is_power_of_two() =>
        {
            Some((*x, *d))
        }
        _ => None,
    };
    let bound = |op: &Operator| match op {
        I32Const { value } => Some(Bound::Const(*value)),
        LocalGet { local_index } => Some(Bound::Local(*local_index)),
        _ => None,
    };
    let n = body.len();
    let below = matches!(body.last()?, I32LtU);
    let (start, (counter, d), bound) = if let Some(s) = n.checked_sub(4).and_then(step) {
        (n - 4, s, Bound::Const(0))
    } else if !matches!(body.last()?, I32Ne | I32LtU) || n < 6 {
        return None;
    } else if let (Some(s), Some(b)) = (step(n - 6), bound(&body[n - 2])) {
        // step, bound, ne or lt_u
        (n - 6, s, b)
    } else if let (false, Some(b), Some(s)) = (below, bound(&body[n - 6]), step(n - 5)) {
        // bound, step, ne
        (n - 6, s, b)
    } else {
        return None;
    };
    if below && d < 0 {
        return None;
    }
    if matches!(bound, Bound::Local(b) if b == counter) {
        return None;
    }
    let writes = |local: u32| {
        body[..start].iter().any(|op| {
            matches!(op, LocalSet { local_index } | LocalTee { local_index } if *local_index == local)
        })
    };
    if writes(counter) || matches!(bound, Bound::Local(b) if writes(b)) {
        return None;
    }
    if body.iter().any(metered_apart) {
        return None;
    }
    Some(Counted {
        end: br + 1,
        counter,
        shift: d.unsigned_abs().trailing_zeros(),
        negative: d < 0,
        bound,
        below,
    })
}

/// Whether the pass meters `op` on its own (calls, bulk instructions, `memory.grow`): the body
/// of a counted loop has none.
fn metered_apart(op: &Operator) -> bool {
    use Operator::*;
    calls(op)
        || matches!(
            op,
            MemoryFill { .. }
                | MemoryCopy { .. }
                | MemoryInit { .. }
                | MemoryGrow { .. }
                | TableFill { .. }
                | TableCopy { .. }
                | TableInit { .. }
                | TableGrow { .. }
        )
}

/// Locals the counted loops of a function use.
pub(super) struct Scratch {
    /// `r`, the distance to the bound (`i32`).
    pub distance: u32,
    /// The trip's fuel (`i64`).
    pub trip: u32,
}

impl Pass<'_> {
    /// Emits the counted loop `c` that starts at `ops[at]`: the trip's fuel taken at once and
    /// an unmetered copy when the fuel covers it, else the loop metered per iteration; then the
    /// charge of the run after it. Returns the index of the loop's `end`.
    pub(super) fn counted_loop(
        &mut self,
        f: &mut Function,
        m: &Meter,
        s: &Scratch,
        ops: &[Operator],
        at: usize,
        c: &Counted,
    ) -> Result<usize, Error<String>> {
        use Instruction::*;
        let bound = match c.bound {
            Bound::Const(b) => I32Const(b),
            Bound::Local(n) => LocalGet(n),
        };
        // an interrupted run faults here, before a trip without checks
        m.fence(f);
        m.touch(f);
        let counter = LocalGet(c.counter);
        let (first, second) = if c.negative {
            (counter, bound.clone())
        } else {
            (bound.clone(), counter)
        };
        f.instruction(&first)
            .instruction(&second)
            .instruction(&I32Sub)
            .instruction(&LocalTee(s.distance))
            .instruction(&I32Const(1))
            .instruction(&I32Sub)
            .instruction(&I32Const(c.shift as i32))
            .instruction(&I32ShrU)
            .instruction(&I64ExtendI32U)
            .instruction(&I64Const(1))
            .instruction(&I64Add)
            .instruction(&I64Const(run_length(&ops[at + 1..]).into()))
            .instruction(&I64Mul)
            .instruction(&LocalTee(s.trip))
            .instruction(&I64Const(COUNTED_LOOP_CAP.into()))
            .instruction(&I64LeU)
            .instruction(&LocalGet(m.local))
            .instruction(&LocalGet(s.trip))
            .instruction(&I64Sub);
        // the fuel left after the trip is not below zero
        f.instruction(&I64Const(0))
            .instruction(&I64GeS)
            .instruction(&I32And);
        let step_mask = ((1u64 << c.shift) - 1) as u32 as i32;
        if c.below {
            // the counter starts below the bound, and its last step does not wrap around:
            // `bound + (-r mod 2^shift)`, where it ends, fits in 32 bits
            f.instruction(&LocalGet(c.counter))
                .instruction(&bound)
                .instruction(&I32LtU)
                .instruction(&I32And);
            if c.shift > 0 {
                f.instruction(&bound)
                    .instruction(&I64ExtendI32U)
                    .instruction(&I32Const(0))
                    .instruction(&LocalGet(s.distance))
                    .instruction(&I32Sub)
                    .instruction(&I32Const(step_mask))
                    .instruction(&I32And)
                    .instruction(&I64ExtendI32U)
                    .instruction(&I64Add)
                    .instruction(&I64Const(u32::MAX.into()))
                    .instruction(&I64LeU)
                    .instruction(&I32And);
            }
        } else if c.shift > 0 {
            // the counter reaches the bound
            f.instruction(&LocalGet(s.distance))
                .instruction(&I32Const(step_mask))
                .instruction(&I32And)
                .instruction(&I32Eqz)
                .instruction(&I32And);
        }
        f.instruction(&If(BlockType::Empty));
        f.instruction(&LocalGet(m.local))
            .instruction(&LocalGet(s.trip))
            .instruction(&I64Sub)
            .instruction(&LocalSet(m.local));
        self.loop_copy(f, m, ops, (at, c.end), false)?;
        f.instruction(&Else);
        self.loop_copy(f, m, ops, (at, c.end), true)?;
        f.instruction(&End);
        m.charge(f, run_length(&ops[c.end + 1..]));
        Ok(c.end)
    }

    /// The loop `ops[at..=end]` as the pass emits any loop, without the per-iteration charge
    /// and check unless `per_iteration`.
    fn loop_copy(
        &mut self,
        f: &mut Function,
        m: &Meter,
        ops: &[Operator],
        (at, end): (usize, usize),
        per_iteration: bool,
    ) -> Result<(), Error<String>> {
        if per_iteration {
            m.fence(f);
        }
        f.instruction(&self.instruction(ops[at].clone())?);
        if per_iteration {
            m.charge(f, run_length(&ops[at + 1..]));
            m.checks(f);
        }
        for op in &ops[at + 1..end] {
            f.instruction(&self.instruction(op.clone())?);
        }
        // after `br_if 0`: the charge of the run that leaves the loop (its `end`)
        m.charge(f, run_length(&ops[end..]));
        f.instruction(&self.instruction(ops[end].clone())?);
        Ok(())
    }
}
