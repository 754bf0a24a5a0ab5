//! The disk cache of compiled modules: a second executor on the same directory (a restarted
//! worker) loads a module instead of compiling it and runs it to the same result; an engine of
//! another configuration never picks up the artifact; a damaged cache file is compiled over.

use compute_sandbox::{CacheStats, Executor, Limits, Options, Status};
use std::{path::Path, time::Duration};

/// Writes "hi" to stdout.
const MODULE: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\08\00\00\00\02\00\00\00")
  (data (i32.const 8) "hi")
  (func (export "_start")
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))))
"#;

const LIMITS: Limits = Limits {
    max_fuel: 1_000_000,
    max_memory: 1 << 20,
    max_output: 1024,
    timeout: Duration::from_secs(10),
};

fn stats(hits: usize, misses: usize) -> Option<CacheStats> {
    Some(CacheStats { hits, misses })
}

fn run(executor: &Executor, wasm: &[u8]) -> compute_sandbox::Execution {
    let module = executor.compile(wasm).unwrap();
    executor.run(&module, b"", &[], &[7; 32], LIMITS).unwrap()
}

fn cache_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = vec![];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files
}

#[test]
fn a_restarted_executor_loads_what_an_earlier_one_compiled() {
    let dir = std::env::temp_dir().join(format!("cmkt-sandbox-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let wasm = wat::parse_str(MODULE).unwrap();

    let first = Executor::cached(&dir).unwrap();
    let a = run(&first, &wasm);
    assert_eq!(
        (a.status, a.output.as_slice()),
        (Status::Exited(0), &b"hi"[..])
    );
    assert_eq!(first.cache_stats(), stats(0, 1), "compiled, then stored");
    drop(first);

    let second = Executor::cached(&dir).unwrap();
    let b = run(&second, &wasm);
    assert_eq!(second.cache_stats(), stats(1, 0), "loaded, not compiled");
    assert_eq!(
        a, b,
        "the cached module runs to the same result, fuel included"
    );

    // another configuration has its own key: no fuel metering must never load fuel-metered code
    let other = Options {
        fuel: false,
        ..Options::default()
    };
    let unmetered = Executor::with(other, Some(&dir)).unwrap();
    let c = run(&unmetered, &wasm);
    assert_eq!(unmetered.cache_stats(), stats(0, 1));
    assert_eq!(c.fuel_used, 0);

    // damaged artifacts (a crash mid-write, a full disk) are compiled over, never run
    for f in cache_files(&dir) {
        std::fs::write(f, b"not a compiled module").unwrap();
    }
    let third = Executor::cached(&dir).unwrap();
    let d = run(&third, &wasm);
    assert_eq!(third.cache_stats(), stats(0, 1));
    assert_eq!(a, d);

    // no cache: nothing counted
    assert_eq!(Executor::new().unwrap().cache_stats(), None);
    let _ = std::fs::remove_dir_all(&dir);
}
