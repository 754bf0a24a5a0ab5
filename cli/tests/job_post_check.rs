//! `cmkt job post` compiles the module for its runtime, the way every provider's worker does
//! before it claims, before anything touches the chain: a module the workers would skip is
//! refused with their reason instead of escrowing a reward nobody takes, and `--no-check`
//! posts it anyway (here it then meets a dead RPC endpoint).

use assert_cmd::cargo::CommandCargoExt;
use compute_sandbox::samples::products_across_a_call;
use std::path::Path;
use std::process::Command;

mod common;
use common::*;

/// `cmkt job post --module <module> --reward 1 <extra>` against `url`, which nothing serves:
/// whether it succeeded, and its stderr.
fn post(url: &str, module: &Path, extra: &[&str]) -> (bool, String) {
    let out = Command::cargo_bin("cmkt")
        .unwrap()
        .args(["-u", url, "job", "post", "--reward", "1", "--module"])
        .arg(module)
        .args(extra)
        .env_remove("CMKT_MARKET")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn a_module_the_workers_would_skip_is_not_posted() {
    let dir = std::env::temp_dir().join(format!("cmkt-post-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, wat: &str| {
        let path = dir.join(name);
        std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
        path
    };
    // a thousand products kept across a recursive call: a native frame far past its
    // call-depth weight under wasi-p1v3 (the default runtime)
    let deep = write("deep.wasm", &products_across_a_call(1000));
    let foreign = write(
        "foreign.wasm",
        r#"(module (import "env" "socket" (func)) (func (export "_start")))"#,
    );
    let fine = write(
        "fine.wasm",
        r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    );
    let url = format!("http://127.0.0.1:{}", free_port_pair());
    let skipped = "providers would skip this job";

    let (ok, err) = post(&url, &foreign, &[]);
    assert!(
        !ok && err.contains(skipped) && err.contains("unknown import"),
        "{err}"
    );
    if cfg!(target_arch = "x86_64") {
        let (ok, err) = post(&url, &deep, &[]);
        println!("{err}");
        assert!(!ok && err.contains(skipped), "{err}");
        assert!(err.contains("native frame takes"), "{err}");
        // under wasi-p1v2, whose stack is wasmtime's own, the same module compiles
        let (ok, err) = post(&url, &deep, &["--runtime", "wasi-p1v2"]);
        assert!(!ok && !err.contains(skipped) && err.contains(&url), "{err}");
    }
    // a module that compiles, and the refused one with --no-check, go on to the chain
    for (module, extra) in [(&fine, &[][..]), (&deep, &["--no-check"][..])] {
        let (ok, err) = post(&url, module, extra);
        println!("{err}");
        assert!(!ok && !err.contains(skipped) && err.contains(&url), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
