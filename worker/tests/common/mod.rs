//! Hand-written wasm modules for the worker's tests: the WASI imports they use, a `$write`
//! helper and the module wrapper.

/// The WASI preview 1 functions the test modules call.
pub const WASI: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
"#;

/// Writes memory[ptr..ptr+len] to stdout.
pub const WRITE: &str = r#"
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
"#;

/// A module with the WASI imports, one exported page of memory and `body`.
pub fn module(body: &str) -> Vec<u8> {
    wat::parse_str(format!(
        "(module {WASI} (memory (export \"memory\") 1) {body})"
    ))
    .unwrap()
}
