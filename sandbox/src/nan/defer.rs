//! Canonicalisation moved to the end of a loop (the vector rewrite, runtime `wasi-p1v3`).
//!
//! An accumulator kept in a local across a loop (`acc = acc + w * x`, then `acc` stored after
//! the loop) is read by a store, so [`super`]'s rule canonicalises every sum as it is set: a
//! canonicalisation on the loop's dependency chain in every iteration. This pass leaves the
//! loop's results of one shape set to such a local as they are, and canonicalises the local
//! once, right after the loop's `end`, when, within the innermost loop around the writes:
//!
//! - the local's last write (by position) is directly in the loop's body (not in a block, `if`
//!   or loop within it) and sets a result of that shape;
//! - every read of the local (each `local.get`, and the result of each `local.tee`) is blind to
//!   that shape ([`super::unseen`]): the same answer for every NaN;
//! - no branch leaves the loop (only branches back to it or to labels within it), and the
//!   function has no exception handling.
//!
//! Then the loop's `end` is reached only by falling off the end of its body, through the last
//! write in the same iteration, and no write follows it there; so the local holds that result
//! at the end, and canonicalising it gives what canonicalising the result would have given.
//! Within the loop, the results left as they are are read only by instructions blind to their
//! NaN's bits, and every other value the local holds (from before the loop, or a write of
//! something else) is what it would have been. Paths that skip the loop never see its results
//! and keep the local untouched, as before. So the module computes the same bits as the fully
//! canonicalised one.

use super::{arithmetic, blind_use, consumer, Float};
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
    start: usize,
    end: usize,
    /// Its position on the stack of open frames (0: directly in the function's body).
    depth: i64,
    /// The outermost position on that stack a branch within it targets (-1: the function's own
    /// label), if it has branches.
    outermost_target: Option<i64>,
    /// The innermost loop it is in, itself included.
    innermost_loop: Option<usize>,
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
    // the arithmetic results set to locals not blind: (the result's index, the local, its
    // shape), by the write's index
    let mut sets = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        let (Some(float), Some(k)) = (arithmetic(op), consumer(&ops[i + 1..])) else {
            continue;
        };
        if let Operator::LocalSet { local_index } | Operator::LocalTee { local_index } =
            ops[i + 1 + k]
        {
            if !blind.contains(&local_index) {
                sets.insert(i + 1 + k, (i, local_index, float));
            }
        }
    }
    if sets.is_empty() {
        return done;
    }
    let (frames, inner) = frames(ops);
    let locals: HashSet<u32> = sets.values().map(|&(_, local, _)| local).collect();
    let accesses = Accesses::of(ops, &locals, blind);
    // for each loop and local: the shape whose results it leaves, if it may
    let mut verdicts: HashMap<(usize, u32), Option<Float>> = HashMap::new();
    let mut writes: Vec<_> = sets.iter().map(|(&at, &set)| (at, set)).collect();
    writes.sort_unstable_by_key(|&(at, _)| at);
    for (at, (result, local, float)) in writes {
        let Some(l) = inner[at].and_then(|id| frames[id].innermost_loop) else {
            continue;
        };
        let frame = &frames[l];
        let verdict = *verdicts.entry((l, local)).or_insert_with(|| {
            let last = accesses.last_write(local, frame.start, frame.end)?;
            let (_, _, shape) = sets.get(&last)?;
            let fits = inner[last] == Some(l)
                && !frame.left()
                && accesses.seen_reads(local, frame.start, frame.end, *shape) == 0;
            fits.then_some(*shape)
        });
        if verdict != Some(float) {
            continue;
        }
        done.skipped.insert(result);
        let after = done.after.entry(frame.end).or_default();
        if !after.iter().any(|&(set, _)| set == local) {
            after.push((local, float));
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
        // the outermost label a branch names, relative to the innermost open frame
        let deepest = match op {
            Br { relative_depth }
            | BrIf { relative_depth }
            | BrOnNull { relative_depth }
            | BrOnNonNull { relative_depth }
            | BrOnCast { relative_depth, .. }
            | BrOnCastFail { relative_depth, .. } => Some(*relative_depth),
            BrTable { targets } => targets
                .targets()
                .chain([Ok(targets.default())])
                .map(|t| t.unwrap_or(u32::MAX))
                .max(),
            _ => None,
        };
        if let (Some(&id), Some(deepest)) = (open.last(), deepest) {
            frames[id].branches_to(open.len() as i64 - 1 - i64::from(deepest));
        }
        match op {
            Block { .. } | If { .. } | Loop { .. } => {
                let is_loop = matches!(op, Loop { .. });
                let around = open.last().and_then(|&id| frames[id].innermost_loop);
                frames.push(Frame {
                    start: i,
                    end: usize::MAX,
                    depth: open.len() as i64,
                    outermost_target: None,
                    innermost_loop: if is_loop { Some(frames.len()) } else { around },
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

/// Where a function reads and writes some of its locals, with running counts of the reads that
/// are not blind to each shape.
#[derive(Default)]
struct Accesses {
    by_local: HashMap<u32, Local>,
}

#[derive(Default)]
struct Local {
    /// Each `local.set` and `local.tee`, by index.
    writes: Vec<usize>,
    /// Each `local.get` and `local.tee`, by index, and the reads up to and including it that
    /// see a result of each [`SHAPES`] shape.
    reads: Vec<(usize, [usize; 4])>,
}

const SHAPES: [Float; 4] = [Float::F32, Float::F64, Float::F32x4, Float::F64x2];

impl Accesses {
    /// The accesses of `locals` in `ops`.
    fn of(ops: &[Operator], locals: &HashSet<u32>, blind: &HashSet<u32>) -> Accesses {
        let mut all = Accesses::default();
        for (i, op) in ops.iter().enumerate() {
            let (local, write, read) = match *op {
                Operator::LocalGet { local_index } => (local_index, false, true),
                Operator::LocalSet { local_index } => (local_index, true, false),
                Operator::LocalTee { local_index } => (local_index, true, true),
                _ => continue,
            };
            if !locals.contains(&local) {
                continue;
            }
            let at = all.by_local.entry(local).or_default();
            if write {
                at.writes.push(i);
            }
            if read {
                let mut seen = at.reads.last().map_or([0; 4], |&(_, seen)| seen);
                // what `unseen` finds for each shape, from one look for the consumer
                let by = consumer(&ops[i + 1..]).map(|k| &ops[i + 1 + k]);
                for (count, shape) in seen.iter_mut().zip(SHAPES) {
                    *count += usize::from(!by.is_some_and(|op| blind_use(op, blind, Some(shape))));
                }
                at.reads.push((i, seen));
            }
        }
        all
    }

    /// The last write of `local` between `start` and `end` (inclusive).
    fn last_write(&self, local: u32, start: usize, end: usize) -> Option<usize> {
        let writes = &self.by_local.get(&local)?.writes;
        let last = *writes.get(writes.partition_point(|&at| at <= end).checked_sub(1)?)?;
        (last >= start).then_some(last)
    }

    /// The reads of `local` between `start` and `end` (inclusive) that see a result of shape
    /// `float`.
    fn seen_reads(&self, local: u32, start: usize, end: usize, float: Float) -> usize {
        let Some(reads) = self.by_local.get(&local).map(|l| &l.reads) else {
            return 0;
        };
        let shape = SHAPES.iter().position(|&s| s == float).expect("a shape");
        let upto = |n: usize| n.checked_sub(1).map_or(0, |k| reads[k].1[shape]);
        upto(reads.partition_point(|&(at, _)| at <= end))
            - upto(reads.partition_point(|&(at, _)| at < start))
    }
}
