//! Giving the CPU back to the work beside the chain.
//!
//! An idle validator is not idle. While it is leader (a lone validator always is) Agave's
//! banking-stage scheduler (`solBnkTxSched`, `SchedulerController::run`) polls its channel
//! without blocking, and the repair and broadcast threads wake often: about 1.6 cores of a
//! 2-core machine for a chain that processes nothing, as for `solana-test-validator`. Under
//! Linux's autogroup scheduling a thread's nice value only counts against the threads of its
//! own session, so `nice cmkt localnet` changes nothing for a build in another terminal: the
//! chain's autogroup has to be lowered too.

use anyhow::{bail, Context, Result};
use rustix::process::{getpid, getsid, setpriority_process, Pid};

/// The highest (least favoured) nice value.
pub const MAX_NICE: i32 = 19;

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
/// leads its own session, its autogroup.
pub fn lower(nice: i32) -> Result<Lowered> {
    if !(0..=MAX_NICE).contains(&nice) {
        bail!("nice value {nice} is outside 0-{MAX_NICE}");
    }
    for task in std::fs::read_dir("/proc/self/task").context("listing /proc/self/task")? {
        let name = task.context("listing /proc/self/task")?.file_name();
        let Some(tid) = name.to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // `setpriority(PRIO_PROCESS, tid)` sets one thread on Linux. A thread that has ended
        // since the listing is no error.
        match setpriority_process(Pid::from_raw(tid), nice) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(e) => {
                return Err(e).with_context(|| format!("setting thread {tid} to nice {nice}"))
            }
        }
    }
    let autogroup = std::path::Path::new("/proc/self/autogroup");
    if !autogroup.exists() {
        return Ok(Lowered::Threads);
    }
    if !getsid(None).is_ok_and(|sid| sid == getpid()) {
        return Ok(Lowered::ThreadsInSharedSession);
    }
    std::fs::write(autogroup, nice.to_string())
        .with_context(|| format!("setting {} to nice {nice}", autogroup.display()))?;
    Ok(Lowered::ThreadsAndAutogroup)
}

/// The nice value of thread `tid` of this process and of this process's autogroup
/// (`None` when the kernel does not schedule by autogroup).
pub fn current(tid: i32) -> Result<(i32, Option<i32>)> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
        .with_context(|| format!("reading thread {tid}'s stat"))?;
    // fields after the `(comm)`: state is field 3, nice is field 19
    let after = &stat[stat.rfind(')').context("malformed stat")? + 2..];
    let thread: i32 = after
        .split_whitespace()
        .nth(19 - 3)
        .and_then(|f| f.parse().ok())
        .context("malformed stat")?;
    let group = std::fs::read_to_string("/proc/self/autogroup")
        .ok()
        .and_then(|s| s.rsplit_once("nice ")?.1.trim().parse().ok());
    Ok((thread, group))
}
