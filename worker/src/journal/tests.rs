//! The journal's own tests: reopening, concurrent and torn writes, the log of finished jobs,
//! compaction.

use super::*;
use compute_market_client::merkle::{ExitStatus, ResultSummary};
use compute_market_client::Pubkey;

/// A directory of the test's own, removed when the test ends (passed or not).
fn dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("cmkt-journal-{name}-"))
        .tempdir()
        .unwrap()
}

fn entry(job: &str, stage: Stage) -> Entry {
    let s = ResultSummary::new("wasi-p1", ExitStatus::Exited(0), 5, b"out");
    Entry {
        job: job.into(),
        market: "m".into(),
        stage,
        salt: Some("11".repeat(32)),
        result_root: Some(hex::encode(s.root(&Pubkey::new_from_array([9; 32])))),
        summary: Some((&s).into()),
        note: None,
    }
}

#[test]
fn entries_survive_reopening_and_done_ones_are_not_pending() {
    let d = dir("reopen");
    let j = Journal::open(d.path()).unwrap();
    j.record(&entry("a", Stage::Computed)).unwrap();
    j.record(&entry("b", Stage::Done)).unwrap();
    j.record(&entry("c", Stage::Claimed)).unwrap();
    j.put_output(&"ab".repeat(32), b"bytes").unwrap();
    drop(j);
    let j = Journal::open(d.path()).unwrap();
    let pending: Vec<_> = j.pending().into_iter().map(|e| (e.job, e.stage)).collect();
    assert_eq!(
        pending,
        vec![("a".into(), Stage::Computed), ("c".into(), Stage::Claimed)]
    );
    assert_eq!(j.get("a").unwrap(), entry("a", Stage::Computed));
    assert_eq!(j.output(&"ab".repeat(32)).unwrap(), b"bytes");
    assert!(j.output("../../etc/passwd").is_none());
    // a later stage replaces the earlier one
    j.record(&entry("a", Stage::Committed)).unwrap();
    assert_eq!(j.get("a").unwrap().stage, Stage::Committed);
}

#[test]
fn concurrent_stores_of_one_result_all_succeed() {
    let d = dir("concurrent");
    let j = std::sync::Arc::new(Journal::open(d.path()).unwrap());
    let s = ResultSummary::new("wasi-p1", ExitStatus::Exited(0), 5, b"same output");
    let json = ResultSummaryJson::from(&s);
    let root = hex::encode(s.root(&Pubkey::new_from_array([9; 32])));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (j, json, root) = (j.clone(), json.clone(), root.clone());
            std::thread::spawn(move || {
                (0..20)
                    .map(|_| j.put_result(&json, &root, b"same output"))
                    .collect::<std::io::Result<Vec<()>>>()
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    assert_eq!(j.result(&root).unwrap().1, b"same output");
}

#[test]
fn a_torn_temporary_file_is_ignored() {
    let d = dir("torn");
    let j = Journal::open(d.path()).unwrap();
    j.record(&entry("a", Stage::Computed)).unwrap();
    // a crash in the middle of a write leaves only a temporary file behind
    fs::write(d.path().join("jobs/.a.json.tmp"), br#"{"job": "a", "sta"#).unwrap();
    fs::write(d.path().join("jobs/garbage.json"), b"not json").unwrap();
    let pending = j.pending();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].stage, Stage::Computed);
}

#[test]
fn finished_jobs_leave_the_entry_files_and_stay_known_across_reopening() {
    let d = dir("finished");
    let j = Journal::open(d.path()).unwrap();
    j.record(&entry("a", Stage::Committed)).unwrap();
    let mut done = entry("a", Stage::Done);
    done.note = Some("claim failed: x".into());
    j.record(&done).unwrap();
    assert!(
        !d.path().join("jobs/a.json").exists(),
        "a finished job leaves jobs/"
    );
    assert!(j.pending().is_empty());
    drop(j);
    let j = Journal::open(d.path()).unwrap();
    let got = j.get("a").expect("a finished job is still known");
    assert_eq!(got.stage, Stage::Done);
    assert_eq!(got.note.as_deref(), Some("claim failed: x"));
    assert_eq!(got.result_root, done.result_root);
    assert_eq!(j.finished(), 1);
}

#[test]
fn finished_entries_of_an_older_version_move_to_the_log() {
    let d = dir("migrate");
    fs::create_dir_all(d.path().join("jobs")).unwrap();
    for job in ["a", "b"] {
        let bytes = serde_json::to_vec(&entry(job, Stage::Done)).unwrap();
        fs::write(d.path().join(format!("jobs/{job}.json")), bytes).unwrap();
    }
    let bytes = serde_json::to_vec(&entry("c", Stage::Revealed)).unwrap();
    fs::write(d.path().join("jobs/c.json"), bytes).unwrap();
    let j = Journal::open(d.path()).unwrap();
    assert_eq!(j.finished(), 2);
    assert!(!d.path().join("jobs/a.json").exists() && !d.path().join("jobs/b.json").exists());
    assert_eq!(j.pending().len(), 1);
    assert_eq!(j.get("b").unwrap().stage, Stage::Done);
}

#[test]
fn a_torn_line_of_the_log_is_skipped_and_rewritten() {
    let d = dir("torn-log");
    let j = Journal::open(d.path()).unwrap();
    j.record(&entry("a", Stage::Done)).unwrap();
    drop(j);
    let mut f = OpenOptions::new()
        .append(true)
        .open(d.path().join(DONE_LOG))
        .unwrap();
    f.write_all(br#"{"job":"b","mar"#).unwrap();
    drop(f);
    let j = Journal::open(d.path()).unwrap();
    assert_eq!(j.finished(), 1);
    j.record(&entry("c", Stage::Done)).unwrap();
    drop(j);
    let j = Journal::open(d.path()).unwrap();
    assert!(j.get("a").is_some() && j.get("c").is_some() && j.get("b").is_none());
}

#[test]
fn compaction_drops_old_records_and_only_their_outputs() {
    let d = dir("compact");
    let j = Journal::open_with_retention(d.path(), Duration::from_secs(100)).unwrap();
    let s = ResultSummary::new("wasi-p1", ExitStatus::Exited(0), 5, b"out");
    let json = ResultSummaryJson::from(&s);
    let root = |n: u8| hex::encode(s.root(&Pubkey::new_from_array([n; 32])));
    let with_root = |job: &str, n: u8, stage| Entry {
        result_root: Some(root(n)),
        ..entry(job, stage)
    };
    for n in 1..=3 {
        j.put_result(&json, &root(n), b"out").unwrap();
    }
    j.record(&with_root("old", 1, Stage::Done)).unwrap();
    j.record(&with_root("pending", 3, Stage::Committed))
        .unwrap();
    let now = unix_now();
    // "old" finished now; 150 s later it is past the retention of 100 s
    let later = now + 150;
    j.record(&with_root("new", 2, Stage::Done)).unwrap();
    {
        // make "new" younger than the cutoff at `later`
        let mut done = j.done.lock().unwrap();
        done.by_job.get_mut("new").unwrap().at = later - 10;
    }
    let c = j.compact_at(later).unwrap();
    assert_eq!((c.records, c.outputs, c.kept), (1, 2, 1));
    assert!(j.get("old").is_none() && j.get("new").is_some());
    assert!(
        j.result(&root(1)).is_none(),
        "the dropped job's output is gone"
    );
    assert!(j.result(&root(2)).is_some(), "a kept job's output stays");
    assert!(j.result(&root(3)).is_some(), "a pending job's output stays");
    drop(j);
    let j = Journal::open_with_retention(d.path(), Duration::from_secs(1_000_000)).unwrap();
    assert!(
        j.get("old").is_none(),
        "the rewritten log no longer holds it"
    );
    assert!(j.get("new").is_some());
}
