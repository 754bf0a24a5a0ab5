//! Canonicalisation moved to the end of a loop (the vector rewrite, runtime `wasi-p1v3`).
//!
//! An accumulator kept in a local across a loop (`acc = acc + w * x`, then `acc` stored after
//! the loop) is read by a store, so [`super`]'s rule canonicalises every sum as it is set: a
//! canonicalisation on the loop's dependency chain in every iteration. This pass leaves such a
//! result as it is and canonicalises the local once, right after the loop's `end`, when:
//!
//! - the result's consumer is a `local.set` or `local.tee` of the local directly in the loop's
//!   body (not in a block, `if` or loop within it), and it is the only write of that local
//!   anywhere in the loop;
//! - every read of the local in the loop (each `local.get`, and the result of each `local.tee`)
//!   is blind to the result's shape ([`super::unseen`]): the same answer for every NaN;
//! - no branch in the loop leaves it (only branches back to it or to labels within it), and the
//!   function has no exception handling.
//!
//! Then the loop's `end` is reached only by falling off the end of its body, through the write
//! in the same iteration, so the local holds that result there, and canonicalising it gives what
//! canonicalising the result would have given. Within the loop, the result is read only by
//! instructions blind to its NaN's bits; before the loop's first write, those reads see the
//! local's earlier value, which neither way changes. Paths that skip the loop never see the
//! result, and keep the local's earlier value untouched, as before. So the module computes the
//! same bits as the fully canonicalised one.

use super::{arithmetic, consumer, unseen, Float};
use std::collections::{HashMap, HashSet};
use wasmparser::Operator;

/// Where the rewrite canonicalises loop results late.
#[derive(Default)]
pub(super) struct Deferred {
    /// Arithmetic results (by instruction index) left as they are.
    skipped: HashSet<usize>,
    /// The locals, and the shape of the result each holds, canonicalised right after the
    /// instruction at an index (a loop's `end`).
    after: HashMap<usize, Vec<(u32, Float)>>,
}

impl Deferred {
    /// Whether the result of the instruction at `i` is canonicalised at its loop's end instead.
    pub(super) fn skips(&self, i: usize) -> bool {
        self.skipped.contains(&i)
    }

    /// The locals to canonicalise after the instruction at `i`.
    pub(super) fn after(&self, i: usize) -> &[(u32, Float)] {
        self.after.get(&i).map_or(&[], Vec::as_slice)
    }
}

/// A block, `if` or loop of the function.
struct Frame {
    is_loop: bool,
    start: usize,
    end: usize,
    /// Its position on the stack of open frames (0: directly in the function's body).
    depth: i64,
    /// The outermost position on that stack a branch within it targets (-1: the function's own
    /// label), if it has branches.
    outermost_target: Option<i64>,
}

impl Frame {
    /// Whether a branch within the loop leaves it (instead of going back to its start or to a
    /// label within it).
    fn left(&self) -> bool {
        self.outermost_target.is_some_and(|t| t < self.depth)
    }

    fn branches_to(&mut self, target: i64) {
        self.outermost_target = Some(self.outermost_target.map_or(target, |t| t.min(target)));
    }
}

/// The loop results of `ops` (a function body) whose canonicalisation can wait for their loop's
/// end; `blind` are the function's blind locals ([`super::blind_locals`]).
pub(super) fn deferred(ops: &[Operator], blind: &HashSet<u32>) -> Deferred {
    let mut done = Deferred::default();
    if ops.iter().any(handles_exceptions) {
        return done;
    }
    let (frames, inner) = frames(ops);
    let accesses = Accesses::of(ops, blind);
    for (i, op) in ops.iter().enumerate() {
        let Some(float) = arithmetic(op) else {
            continue;
        };
        let Some(j) = consumer(&ops[i + 1..]).map(|k| i + 1 + k) else {
            continue;
        };
        let (Operator::LocalSet { local_index } | Operator::LocalTee { local_index }) = ops[j]
        else {
            continue;
        };
        if blind.contains(&local_index) {
            continue; // never canonicalised
        }
        let Some(frame) = inner[j].map(|id| &frames[id]) else {
            continue;
        };
        if !frame.is_loop || frame.left() {
            continue;
        }
        let (writes, seen_reads) = accesses.within(local_index, frame.start, frame.end, float);
        if writes == 1 && seen_reads == 0 {
            done.skipped.insert(i);
            done.after
                .entry(frame.end)
                .or_default()
                .push((local_index, float));
        }
    }
    done
}

/// Whether `op` belongs to exception handling, whose throws leave loops from any call.
fn handles_exceptions(op: &Operator) -> bool {
    use Operator::*;
    matches!(
        op,
        TryTable { .. }
            | Try { .. }
            | Catch { .. }
            | CatchAll
            | Delegate { .. }
            | Throw { .. }
            | ThrowRef
            | Rethrow { .. }
    )
}

/// The frames of `ops`, and the innermost frame each instruction is in (a frame's own opening
/// instruction is in the frame around it; its `end`, in itself).
fn frames(ops: &[Operator]) -> (Vec<Frame>, Vec<Option<usize>>) {
    use Operator::*;
    let mut frames: Vec<Frame> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut inner = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        inner.push(open.last().copied());
        // labels a branch names, relative to the innermost open frame
        let labels: &[u32] = match op {
            Br { relative_depth }
            | BrIf { relative_depth }
            | BrOnNull { relative_depth }
            | BrOnNonNull { relative_depth }
            | BrOnCast { relative_depth, .. }
            | BrOnCastFail { relative_depth, .. } => std::slice::from_ref(relative_depth),
            _ => &[],
        };
        let table: Vec<u32>;
        let labels = match op {
            BrTable { targets } => {
                table = targets
                    .targets()
                    .chain([Ok(targets.default())])
                    .map(|t| t.unwrap_or(u32::MAX))
                    .collect();
                &table
            }
            _ => labels,
        };
        if let (Some(&id), Some(&deepest)) = (open.last(), labels.iter().max()) {
            frames[id].branches_to(open.len() as i64 - 1 - i64::from(deepest));
        }
        match op {
            Block { .. } | If { .. } | Loop { .. } => {
                frames.push(Frame {
                    is_loop: matches!(op, Loop { .. }),
                    start: i,
                    end: usize::MAX,
                    depth: open.len() as i64,
                    outermost_target: None,
                });
                open.push(frames.len() - 1);
            }
            End => {
                if let Some(id) = open.pop() {
                    frames[id].end = i;
                    // a branch within it is within the frame around it too
                    if let (Some(&parent), Some(target)) =
                        (open.last(), frames[id].outermost_target)
                    {
                        frames[parent].branches_to(target);
                    }
                }
            }
            _ => {}
        }
    }
    (frames, inner)
}

/// Every `local.get`, `local.set` and `local.tee` of a function, by local, with running counts
/// of the writes and of the reads that are not blind to each shape.
struct Accesses {
    by_local: HashMap<u32, Vec<Access>>,
}

struct Access {
    at: usize,
    /// Writes up to and including this one.
    writes: usize,
    /// Reads up to and including this one that see a result of each [`SHAPES`] shape.
    seen: [usize; 4],
}

const SHAPES: [Float; 4] = [Float::F32, Float::F64, Float::F32x4, Float::F64x2];

impl Accesses {
    fn of(ops: &[Operator], blind: &HashSet<u32>) -> Accesses {
        let mut by_local: HashMap<u32, Vec<Access>> = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            let (local, write, read) = match *op {
                Operator::LocalGet { local_index } => (local_index, false, true),
                Operator::LocalSet { local_index } => (local_index, true, false),
                Operator::LocalTee { local_index } => (local_index, true, true),
                _ => continue,
            };
            let list = by_local.entry(local).or_default();
            let (mut writes, mut seen) = list.last().map_or((0, [0; 4]), |a| (a.writes, a.seen));
            writes += usize::from(write);
            if read {
                for (count, shape) in seen.iter_mut().zip(SHAPES) {
                    *count += usize::from(!unseen(&ops[i + 1..], blind, Some(shape)));
                }
            }
            list.push(Access {
                at: i,
                writes,
                seen,
            });
        }
        Accesses { by_local }
    }

    /// The writes of `local` between `start` and `end` (inclusive), and its reads there that
    /// see a result of shape `float`.
    fn within(&self, local: u32, start: usize, end: usize, float: Float) -> (usize, usize) {
        let Some(list) = self.by_local.get(&local) else {
            return (0, 0);
        };
        let shape = SHAPES.iter().position(|&s| s == float).expect("a shape");
        let totals = |n: usize| {
            n.checked_sub(1)
                .map_or((0, 0), |k| (list[k].writes, list[k].seen[shape]))
        };
        let (w0, s0) = totals(list.partition_point(|a| a.at < start));
        let (w1, s1) = totals(list.partition_point(|a| a.at <= end));
        (w1 - w0, s1 - s0)
    }
}
