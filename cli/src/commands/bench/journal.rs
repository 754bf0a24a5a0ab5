//! The worker's journal with few and with many finished jobs: what the tracker reads at every
//! tick (the unfinished entries) and the scheduler's "seen this job before?" for each job
//! discovery reports, with 10 and with 100 000 finished jobs beside the same 5 unfinished ones.

use super::report::JournalRow;
use anyhow::{ensure, Result};
use compute_worker::journal::{Entry, Journal, Stage};
use std::{path::Path, time::Instant};

/// Unfinished entries in both journals.
const PENDING: usize = 5;
/// Ticks timed per journal; the median is reported.
const TICKS: usize = 200;
/// Lookups per tick, as if discovery reported that many jobs.
const LOOKUPS: usize = 20;

fn job(i: usize) -> String {
    // the shape of a base58 address, unique per i
    format!("{:0>44}", i)
}

/// A journal in `dir` with `finished` finished jobs and [`PENDING`] unfinished ones; the
/// seconds it took to fill and to open again.
fn fill(dir: &Path, finished: usize) -> Result<(Journal, f64)> {
    let _ = std::fs::remove_dir_all(dir);
    let j = Journal::open(dir)?;
    let done: Vec<Entry> = (0..finished)
        .map(|i| Entry {
            stage: Stage::Done,
            note: Some("settled: agreed, paid 1000000, slashed 0".into()),
            result_root: Some(format!("{:064x}", i)),
            ..Entry::claimed(&job(i), "market")
        })
        .collect();
    j.finish_all(&done)?;
    for i in 0..PENDING {
        j.record(&Entry {
            stage: Stage::Committed,
            ..Entry::claimed(&job(finished + i), "market")
        })?;
    }
    drop(j);
    let t = Instant::now();
    let j = Journal::open(dir)?;
    let open_secs = t.elapsed().as_secs_f64();
    ensure!(j.finished() == finished && j.pending().len() == PENDING);
    Ok((j, open_secs))
}

/// Median microseconds of one tick's journal work.
fn tick_us(j: &Journal, finished: usize) -> f64 {
    let mut times: Vec<f64> = (0..TICKS)
        .map(|t| {
            let start = Instant::now();
            let pending = j.pending();
            assert_eq!(pending.len(), PENDING);
            for k in 0..LOOKUPS {
                let i = (t * LOOKUPS + k) * 7919 % finished.max(1);
                assert!(j.get(&job(i)).is_some());
            }
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

pub fn run(dir: &Path) -> Result<JournalRow> {
    let (small, small_open) = fill(&dir.join("journal-10"), 10)?;
    let (large, large_open) = fill(&dir.join("journal-100000"), 100_000)?;
    // interleaved, so both see the same machine
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        a.push(tick_us(&small, 10));
        b.push(tick_us(&large, 100_000));
    }
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let log_bytes = std::fs::metadata(dir.join("journal-100000/done.jsonl"))?.len();
    Ok(JournalRow {
        pending: PENDING,
        lookups: LOOKUPS,
        tick_10_us: a[1],
        tick_100k_us: b[1],
        ratio: b[1] / a[1],
        open_10_ms: small_open * 1e3,
        open_100k_ms: large_open * 1e3,
        log_100k_bytes: log_bytes,
    })
}
