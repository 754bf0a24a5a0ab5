//! A job's linear memory is advised onto huge pages (`src/pages.rs`): while a run is going, the
//! mapping under its memory, as grown by the run, and the reservation it may still grow into
//! carry the kernel's `hg` flag (`MADV_HUGEPAGE`), under every runtime, wherever the kernel has
//! transparent huge pages. (That the advice changes no outcome, the other tests say: they all
//! run with it, the pinned fuel counts of `meter.rs` among them.)

use compute_sandbox::{Executor, Limits, Options, Refusal, RUNTIME, RUNTIME_V2, RUNTIME_V3};
use std::time::{Duration, Instant};

/// The memory the module declares and what it grows it by, in 64 KiB pages: a size no other
/// mapping of the test process has.
const PAGES: u64 = 77;
const GROWN: u64 = 40;

/// Grows its memory, writes to it and loops until the timeout stops it.
fn module() -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
            (memory (export "memory") {PAGES})
            (func (export "_start")
              (drop (memory.grow (i32.const {GROWN})))
              (i32.store (i32.const {top}) (i32.const 1))
              (loop (br 0))))"#,
        top = (PAGES + GROWN) * 65536 - 4
    ))
    .unwrap()
}

/// A mapping of the process, from `/proc/self/smaps`.
#[derive(Debug)]
struct Mapping {
    start: u64,
    end: u64,
    perms: String,
    flags: Vec<String>,
}

fn mappings() -> Vec<Mapping> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut out: Vec<Mapping> = Vec::new();
    for line in smaps.lines() {
        if let Some(flags) = line.strip_prefix("VmFlags:") {
            if let Some(m) = out.last_mut() {
                m.flags = flags.split_whitespace().map(String::from).collect();
            }
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(range), Some(perms)) = (words.next(), words.next()) else {
            continue;
        };
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        else {
            continue;
        };
        out.push(Mapping {
            start,
            end,
            perms: perms.into(),
            flags: Vec::new(),
        });
    }
    out
}

/// The run's memory, grown (readable and writable, `PAGES + GROWN` pages long), and the
/// mapping after it, once the run has grown it.
fn find_memory() -> Option<(Mapping, Mapping)> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        let mut maps = mappings().into_iter().peekable();
        while let Some(m) = maps.next() {
            if m.perms.starts_with("rw") && m.end - m.start == (PAGES + GROWN) * 65536 {
                let next = maps.next()?;
                return Some((m, next));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn a_runs_memory_and_what_it_may_grow_into_are_advised_onto_huge_pages() {
    let thp = std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists();
    let wasm = module();
    let limits = Limits {
        max_fuel: u64::MAX,
        max_memory: 16 << 20,
        max_output: 1 << 10,
        timeout: Duration::from_secs(3),
    };
    for runtime in [RUNTIME, RUNTIME_V2, RUNTIME_V3] {
        let ex = Executor::with(Options::for_runtime(runtime).unwrap(), None).unwrap();
        let m = ex.compile(&wasm).unwrap();
        let (memory, after) = std::thread::scope(|s| {
            let run = s.spawn(|| ex.run(&m, b"", &[], &[0; 32], limits));
            let found = find_memory();
            assert_eq!(
                run.join().unwrap(),
                Err(Refusal::Timeout(limits.timeout)),
                "{runtime}"
            );
            found.unwrap_or_else(|| panic!("{runtime}: no mapping of the run's memory found"))
        });
        let hg = |m: &Mapping| m.flags.iter().any(|f| f == "hg");
        assert_eq!(hg(&memory), thp, "{runtime}: the memory, {memory:?}");
        // the rest of the reservation, inaccessible until the memory grows into it
        assert_eq!(after.start, memory.end, "{runtime}: {after:?}");
        assert!(after.perms.starts_with("---"), "{runtime}: {after:?}");
        assert_eq!(hg(&after), thp, "{runtime}: the reservation, {after:?}");
        assert!(
            after.end - memory.start >= 1 << 32,
            "{runtime}: the advice covers the 4 GiB the memory may grow into, {after:?}"
        );
    }
}
