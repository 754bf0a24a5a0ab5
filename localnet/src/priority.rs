//! Giving the CPU back to the work beside the chain.
//!
//! An idle validator is not idle. While it is leader (a lone validator always is) Agave's
//! banking-stage scheduler (`solBnkTxSched`, `SchedulerController::run`) polls its channel
//! without blocking, and the repair and broadcast threads wake often: about 1.6 cores of a
//! 2-core machine for a chain that processes nothing, as for `solana-test-validator`. Under
//! Linux's autogroup scheduling a thread's nice value only counts against the threads of its
//! own session, so `nice cmkt localnet` changes nothing for a build in another terminal: the
//! chain's autogroup has to be lowered too.
//!
//! So every chain puts its polling threads at the lowest priority ([`calm_polling_threads`]:
//! they then only take CPU that nothing else of its session wants), and `--nice N`
//! ([`lower`]) lowers the whole chain, and its autogroup when it leads its own session.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rustix::io::Errno;
use rustix::process::{getpriority_process, setpriority_process, Pid};

/// The highest (least favoured) nice value.
pub const MAX_NICE: i32 = 19;

/// Threads that poll without blocking while the node is leader: Agave's banking-stage
/// scheduler.
pub const POLLING_THREADS: [&str; 1] = ["solBnkTxSched"];

/// What [`lower`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lowered {
    /// The threads and the process's own autogroup: work in other sessions gets the CPU first.
    ThreadsAndAutogroup,
    /// The threads only, which is enough: the kernel does not schedule by autogroup.
    Threads,
    /// The threads only: the process shares its session (and so its autogroup) with the shell
    /// that started it, which a chain must not slow down behind the user's back. Work in other
    /// sessions still competes with the whole chain; start it with `setsid` to lower its
    /// autogroup too.
    ThreadsInSharedSession,
}

impl std::fmt::Display for Lowered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lowered::ThreadsAndAutogroup => "its threads and its autogroup",
            Lowered::Threads => "its threads",
            Lowered::ThreadsInSharedSession => {
                "its threads only, as it shares the shell's session: start it with setsid to yield to other terminals too"
            }
        })
    }
}

/// Lowers this process's CPU priority to `nice` (0–19): every thread it runs now (threads
/// started later inherit the value from the thread that starts them) and, when the process
/// leads its own session, its autogroup. A thread or autogroup already at `nice` or lower is
/// left as it is: raising a priority needs privileges, and a chain started under `nice -n 15`
/// should stay there.
pub fn lower(nice: i32) -> Result<Lowered> {
    if !(0..=MAX_NICE).contains(&nice) {
        bail!("nice value {nice} is outside 0-{MAX_NICE}");
    }
    set_threads(nice, |_| true)?;
    let autogroup = Path::new("/proc/self/autogroup");
    let Some(current) = autogroup_nice(autogroup) else {
        return Ok(Lowered::Threads);
    };
    if !leads_own_session()? {
        return Ok(Lowered::ThreadsInSharedSession);
    }
    if current < nice {
        set_autogroup(autogroup, nice)?;
    }
    Ok(Lowered::ThreadsAndAutogroup)
}

/// Gives the [`POLLING_THREADS`] the lowest priority, so that their busy-polling only takes
/// CPU that nothing else of the same session wants (every chain does this, `--nice` or not).
pub fn calm_polling_threads() -> Result<()> {
    set_threads(MAX_NICE, |name| POLLING_THREADS.contains(&name))
}

/// The nice value of this process's autogroup, if the kernel schedules by autogroup: the
/// file exists whenever the kernel was built with autogroups, `sched_autogroup_enabled`
/// says whether they are used.
fn autogroup_nice(autogroup: &Path) -> Option<i32> {
    let enabled = std::fs::read_to_string("/proc/sys/kernel/sched_autogroup_enabled").ok()?;
    if enabled.trim() == "0" {
        return None;
    }
    let line = std::fs::read_to_string(autogroup).ok()?;
    line.rsplit_once("nice ")?.1.trim().parse().ok()
}

/// Whether this process leads its session, from `/proc/self/stat`. (`getsid` answers 0 in a
/// container whose session leader lives outside its PID namespace.)
fn leads_own_session() -> Result<bool> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // `pid (comm) state ppid pgrp session …`, and comm may hold spaces and parentheses
    let session = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().nth(3))
        .and_then(|s| s.parse::<u32>().ok())
        .context("parsing /proc/self/stat")?;
    Ok(session == std::process::id())
}

/// Writes the autogroup's nice value. The kernel accepts one such change per 100 ms on the
/// whole machine and answers `EAGAIN` to the others, so a few chains starting at once retry.
fn set_autogroup(autogroup: &Path, nice: i32) -> Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::write(autogroup, nice.to_string()) {
            Ok(()) => return Ok(()),
            Err(e) if Errno::from_io_error(&e) == Some(Errno::AGAIN) && tries < 20 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(110));
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("setting {} to nice {nice}", autogroup.display()))
            }
        }
    }
}

/// Sets every thread of this process whose name passes `pick` to `nice`, unless it is at
/// `nice` or lower already.
fn set_threads(nice: i32, pick: impl Fn(&str) -> bool) -> Result<()> {
    for task in std::fs::read_dir("/proc/self/task").context("listing /proc/self/task")? {
        let dir = task.context("listing /proc/self/task")?.path();
        let Some(tid) = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|s| s.parse().ok())
            .and_then(Pid::from_raw)
        else {
            continue;
        };
        // a thread that has ended since the listing is no error
        let Ok(name) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if !pick(name.trim()) {
            continue;
        }
        // `getpriority`/`setpriority(PRIO_PROCESS, tid)` read and set one thread on Linux
        let result = match getpriority_process(Some(tid)) {
            Ok(current) if current >= nice => Ok(()),
            Ok(_) => setpriority_process(Some(tid), nice),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) | Err(Errno::SRCH) => {}
            Err(e) => {
                return Err(e).with_context(|| format!("setting {} to nice {nice}", dir.display()))
            }
        }
    }
    Ok(())
}
