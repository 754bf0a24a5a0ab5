//! The worker's crash journal: before a commitment is sent, the job, the salt and the result are
//! on disk (written to a temporary file, fsynced, renamed, directory fsynced). After a crash the
//! worker reads the journal back and finishes what it started: it reveals with the same salt and
//! root, so it is never slashed for a result it computed, and it never claims a job twice.
//!
//! Layout: `<dir>/jobs/<job address>.json` (one entry per unfinished job), `<dir>/done.jsonl`
//! (one compact line per finished job, appended) and `<dir>/outputs/<root hex>` (the output bytes
//! the result server serves, with `<root hex>.summary.json`).
//!
//! A provider runs for months: finished jobs leave `jobs/` at once, so the tracker's tick reads
//! only what is unfinished, and "have I seen this job?" is a lookup in memory. Compaction drops
//! finished records older than the retention together with their outputs, and rewrites
//! `done.jsonl` without them; a job is long settled by then, and its account closed.

use compute_market_client::results::ResultSummaryJson;
use serde::{Deserialize, Serialize};
use std::{
    collections::{HashMap, HashSet},
    fs::{self, File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// How long finished jobs and their outputs are kept by default.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3_600);
/// The finished-jobs log in the journal directory.
const DONE_LOG: &str = "done.jsonl";

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

/// What is kept of a finished job: enough to never claim it again, to tell why it ended, and to
/// find its output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finished {
    pub job: String,
    pub market: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_root: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Unix seconds when it finished.
    pub at: u64,
}

impl Finished {
    fn entry(&self) -> Entry {
        Entry {
            job: self.job.clone(),
            market: self.market.clone(),
            stage: Stage::Done,
            salt: None,
            result_root: self.result_root.clone(),
            summary: None,
            note: self.note.clone(),
        }
    }
}

/// Finished jobs in memory, as `done.jsonl` holds them.
#[derive(Default)]
struct Done {
    by_job: HashMap<String, Finished>,
    /// Lines in the log (superseded and expired ones included), to know when to compact.
    lines: usize,
}

/// What a compaction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Finished records dropped (older than the retention).
    pub records: usize,
    /// Output files removed with them.
    pub outputs: usize,
    /// Finished records kept.
    pub kept: usize,
}

/// The journal directory.
pub struct Journal {
    dir: PathBuf,
    retention: Duration,
    done: Mutex<Done>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
    /// Opens (creating) a journal in `dir` that keeps finished jobs for [`DEFAULT_RETENTION`].
    pub fn open(dir: &Path) -> std::io::Result<Journal> {
        Self::open_with_retention(dir, DEFAULT_RETENTION)
    }

    /// Opens (creating) a journal in `dir`: loads the finished jobs, moves finished entries an
    /// older version left in `jobs/` into the log, and compacts.
    pub fn open_with_retention(dir: &Path, retention: Duration) -> std::io::Result<Journal> {
        fs::create_dir_all(dir.join("jobs"))?;
        fs::create_dir_all(dir.join("outputs"))?;
        let journal = Journal {
            dir: dir.to_path_buf(),
            retention,
            done: Mutex::new(load_done(&dir.join(DONE_LOG))?),
        };
        // entries that are finished but still in jobs/: from an older version, or a crash
        // between the log's append and the file's removal
        let mut finished = Vec::new();
        for (path, entry) in journal.entry_files() {
            let known = journal.done.lock().unwrap().by_job.contains_key(&entry.job);
            if known {
                fs::remove_file(&path)?;
            } else if entry.stage == Stage::Done {
                let at = fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or_else(unix_now, |d| d.as_secs());
                finished.push((path, finished_record(&entry, at)));
            }
        }
        if !finished.is_empty() {
            let records: Vec<Finished> = finished.iter().map(|(_, f)| f.clone()).collect();
            journal.append_finished(&records)?;
            for (path, _) in finished {
                fs::remove_file(path)?;
            }
        }
        journal.compact()?;
        Ok(journal)
    }

    /// Every readable entry file in `jobs/`, with its path. Unreadable files are reported and
    /// skipped (a write is atomic, so they can only come from outside tampering).
    fn entry_files(&self) -> Vec<(PathBuf, Entry)> {
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
                Some(entry) => out.push((path, entry)),
                None => tracing::warn!(path = %path.display(), "unreadable journal entry skipped"),
            }
        }
        out
    }

    /// Appends finished records to the log durably (one sync for all of them) and indexes
    /// them.
    fn append_finished(&self, records: &[Finished]) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        for r in records {
            serde_json::to_writer(&mut bytes, r).map_err(std::io::Error::other)?;
            bytes.push(b'\n');
        }
        let path = self.dir.join(DONE_LOG);
        let created = !path.exists();
        let mut done = self.done.lock().unwrap();
        let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
        f.write_all(&bytes)?;
        f.sync_data()?;
        if created {
            File::open(&self.dir)?.sync_all()?;
        }
        for r in records {
            done.by_job.insert(r.job.clone(), r.clone());
        }
        done.lines += records.len();
        let (lines, live) = (done.lines, done.by_job.len());
        drop(done);
        // superseded lines pile up only through re-finishing; expired ones through time
        if lines > 2 * live.max(1_024) {
            self.compact()?;
        }
        Ok(())
    }

    /// Records that many jobs finished at once, with one sync: what a migration does, and what
    /// the bench uses to fill a journal.
    pub fn finish_all(&self, entries: &[Entry]) -> std::io::Result<()> {
        let now = unix_now();
        let records: Vec<Finished> = entries.iter().map(|e| finished_record(e, now)).collect();
        self.append_finished(&records)?;
        for e in entries {
            match fs::remove_file(self.entry_path(&e.job)) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
        Ok(())
    }

    /// Drops finished records older than the retention, and the outputs only they name, then
    /// rewrites the log with the rest (atomically: a crash leaves the old log or the new one).
    pub fn compact(&self) -> std::io::Result<Compacted> {
        self.compact_at(unix_now())
    }

    /// [`Self::compact`] as if the time were `now` (unix seconds).
    pub fn compact_at(&self, now: u64) -> std::io::Result<Compacted> {
        let cutoff = now.saturating_sub(self.retention.as_secs());
        let pending_roots: HashSet<String> = self
            .pending()
            .into_iter()
            .filter_map(|e| e.result_root)
            .collect();
        let mut done = self.done.lock().unwrap();
        let expired: Vec<Finished> = done
            .by_job
            .values()
            .filter(|f| f.at < cutoff)
            .cloned()
            .collect();
        if expired.is_empty() && done.lines == done.by_job.len() {
            return Ok(Compacted {
                kept: done.by_job.len(),
                ..Compacted::default()
            });
        }
        for f in &expired {
            done.by_job.remove(&f.job);
        }
        let mut bytes = Vec::new();
        let mut kept: Vec<&Finished> = done.by_job.values().collect();
        kept.sort_by_key(|f| f.at);
        for f in &kept {
            serde_json::to_writer(&mut bytes, f).map_err(std::io::Error::other)?;
            bytes.push(b'\n');
        }
        write_durably(&self.dir.join(DONE_LOG), &bytes)?;
        done.lines = done.by_job.len();
        let live_roots: HashSet<&str> = done
            .by_job
            .values()
            .filter_map(|f| f.result_root.as_deref())
            .collect();
        let mut outputs = 0;
        for root in expired.iter().filter_map(|f| f.result_root.as_deref()) {
            if live_roots.contains(root)
                || pending_roots.contains(root)
                || !compute_market_client::manifest::is_sha256_hex(root)
            {
                continue;
            }
            for path in [
                self.output_path(root),
                self.dir
                    .join("outputs")
                    .join(format!("{root}.summary.json")),
            ] {
                if fs::remove_file(path).is_ok() {
                    outputs += 1;
                }
            }
        }
        let out = Compacted {
            records: expired.len(),
            outputs,
            kept: done.by_job.len(),
        };
        if out.records > 0 {
            tracing::info!(
                dropped = out.records,
                outputs,
                kept = out.kept,
                "journal compacted"
            );
        }
        Ok(out)
    }

    /// How many finished jobs the journal holds.
    pub fn finished(&self) -> usize {
        self.done.lock().unwrap().by_job.len()
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

    /// Writes an entry durably; returns once it is on disk. A `Done` entry leaves `jobs/` for
    /// the finished log.
    pub fn record(&self, entry: &Entry) -> std::io::Result<()> {
        if entry.stage == Stage::Done {
            return self.finish_all(std::slice::from_ref(entry));
        }
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

    /// The entry of a job, if any (a finished one as its compact record: no salt, no summary).
    pub fn get(&self, job: &str) -> Option<Entry> {
        if let Some(f) = self.done.lock().unwrap().by_job.get(job) {
            return Some(f.entry());
        }
        let bytes = fs::read(self.entry_path(job)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Every entry not yet `Done`, to resume after a restart: only the unfinished files are
    /// read, however many jobs finished before.
    pub fn pending(&self) -> Vec<Entry> {
        let mut out: Vec<Entry> = self
            .entry_files()
            .into_iter()
            .map(|(_, e)| e)
            .filter(|e| e.stage != Stage::Done)
            .collect();
        out.sort_by(|a, b| a.job.cmp(&b.job));
        out
    }
}

fn finished_record(entry: &Entry, at: u64) -> Finished {
    Finished {
        job: entry.job.clone(),
        market: entry.market.clone(),
        result_root: entry.result_root.clone(),
        note: entry.note.clone(),
        at,
    }
}

/// Reads the finished log; the last line of a job wins. A torn last line (a crash during an
/// append) is skipped; so is any other unreadable line, with a warning.
fn load_done(path: &Path) -> std::io::Result<Done> {
    let text = match fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Done::default()),
        Err(e) => return Err(e),
    };
    let mut done = Done::default();
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        done.lines += 1;
        match serde_json::from_slice::<Finished>(line) {
            Ok(f) => {
                done.by_job.insert(f.job.clone(), f);
            }
            Err(_) => {
                tracing::warn!(path = %path.display(), "unreadable finished-job line skipped")
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests;
