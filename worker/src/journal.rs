//! The worker's crash journal: before a commitment is sent, the job, the salt and the result are
//! on disk (written to a temporary file, fsynced, renamed, directory fsynced). After a crash the
//! worker reads the journal back and finishes what it started: it reveals with the same salt and
//! root, so it is never slashed for a result it computed, and it never claims a job twice.
//!
//! Layout: `<dir>/jobs/<job address>.json` (one entry per job) and `<dir>/outputs/<root hex>`
//! (the output bytes the result server serves).

use compute_market_client::results::ResultSummaryJson;
use serde::{Deserialize, Serialize};
use std::{
    fs::{self, File},
    io::Write,
    path::{Path, PathBuf},
};

/// How far the worker got with a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Claimed on-chain (or the claim was sent); no result yet.
    Claimed,
    /// Result computed and salt drawn; the commitment may or may not have landed.
    Computed,
    /// The commitment landed.
    Committed,
    /// The reveal landed.
    Revealed,
    /// Settled, expired or abandoned: nothing left to do.
    Done,
}

/// One job's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub job: String,
    pub market: String,
    pub stage: Stage,
    /// Hex; set from `Computed` on.
    pub salt: Option<String>,
    /// Hex result root; set from `Computed` on.
    pub result_root: Option<String>,
    pub summary: Option<ResultSummaryJson>,
    /// Why the job ended, for `Done`.
    pub note: Option<String>,
}

impl Entry {
    /// A job about to be claimed: nothing computed yet.
    pub fn claimed(job: &str, market: &str) -> Entry {
        Entry {
            job: job.to_string(),
            market: market.to_string(),
            stage: Stage::Claimed,
            salt: None,
            result_root: None,
            summary: None,
            note: None,
        }
    }
}

/// The journal directory.
pub struct Journal {
    dir: PathBuf,
}

/// A temporary name beside `path` that no other writer in this process or another one uses:
/// two jobs with the same output store the same file at the same time.
pub(crate) fn temporary_path(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    path.with_file_name(format!(
        ".{}.{}.{n}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id()
    ))
}

fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("journal paths have a parent");
    let tmp = temporary_path(path);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

impl Journal {
    /// Opens (creating) a journal in `dir`.
    pub fn open(dir: &Path) -> std::io::Result<Journal> {
        fs::create_dir_all(dir.join("jobs"))?;
        fs::create_dir_all(dir.join("outputs"))?;
        Ok(Journal {
            dir: dir.to_path_buf(),
        })
    }

    fn entry_path(&self, job: &str) -> PathBuf {
        self.dir.join("jobs").join(format!("{job}.json"))
    }

    /// Where the output of `root` (hex) is kept.
    pub fn output_path(&self, root_hex: &str) -> PathBuf {
        self.dir.join("outputs").join(root_hex)
    }

    /// Stores an output durably (before the commitment that names its root is sent).
    pub fn put_output(&self, root_hex: &str, bytes: &[u8]) -> std::io::Result<()> {
        write_durably(&self.output_path(root_hex), bytes)
    }

    /// The stored output of `root` (hex), if any.
    pub fn output(&self, root_hex: &str) -> Option<Vec<u8>> {
        // only hex names reach the file system
        if !compute_market_client::manifest::is_sha256_hex(root_hex) {
            return None;
        }
        fs::read(self.output_path(root_hex)).ok()
    }

    /// Writes an entry durably; returns once it is on disk.
    pub fn record(&self, entry: &Entry) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(entry).map_err(std::io::Error::other)?;
        write_durably(&self.entry_path(&entry.job), &bytes)
    }

    /// Stores a result (summary and output) by its root, durably; what the result server serves.
    pub fn put_result(
        &self,
        summary: &ResultSummaryJson,
        root_hex: &str,
        output: &[u8],
    ) -> std::io::Result<()> {
        self.put_output(root_hex, output)?;
        let json = serde_json::to_vec(summary).map_err(std::io::Error::other)?;
        write_durably(
            &self
                .dir
                .join("outputs")
                .join(format!("{root_hex}.summary.json")),
            &json,
        )
    }

    /// A stored result: its summary and output bytes.
    pub fn result(&self, root_hex: &str) -> Option<(ResultSummaryJson, Vec<u8>)> {
        let output = self.output(root_hex)?;
        let json = fs::read(
            self.dir
                .join("outputs")
                .join(format!("{root_hex}.summary.json")),
        )
        .ok()?;
        Some((serde_json::from_slice(&json).ok()?, output))
    }

    /// The entry of a job, if any.
    pub fn get(&self, job: &str) -> Option<Entry> {
        let bytes = fs::read(self.entry_path(job)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Every entry not yet `Done`, to resume after a restart. Unreadable files are reported and
    /// skipped (a write is atomic, so they can only come from outside tampering).
    pub fn pending(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        let Ok(dir) = fs::read_dir(self.dir.join("jobs")) else {
            return out;
        };
        for e in dir.flatten() {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            match fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
            {
                Some(entry) if entry.stage != Stage::Done => out.push(entry),
                Some(_) => {}
                None => tracing::warn!(path = %path.display(), "unreadable journal entry skipped"),
            }
        }
        out.sort_by(|a, b| a.job.cmp(&b.job));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compute_market_client::merkle::{ExitStatus, ResultSummary};
    use compute_market_client::Pubkey;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cmkt-journal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
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
        let j = Journal::open(&d).unwrap();
        j.record(&entry("a", Stage::Computed)).unwrap();
        j.record(&entry("b", Stage::Done)).unwrap();
        j.record(&entry("c", Stage::Claimed)).unwrap();
        j.put_output(&"ab".repeat(32), b"bytes").unwrap();
        drop(j);
        let j = Journal::open(&d).unwrap();
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
        let j = std::sync::Arc::new(Journal::open(&d).unwrap());
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
        let j = Journal::open(&d).unwrap();
        j.record(&entry("a", Stage::Computed)).unwrap();
        // a crash in the middle of a write leaves only a temporary file behind
        fs::write(d.join("jobs/.a.json.tmp"), br#"{"job": "a", "sta"#).unwrap();
        fs::write(d.join("jobs/garbage.json"), b"not json").unwrap();
        let pending = j.pending();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].stage, Stage::Computed);
    }
}
