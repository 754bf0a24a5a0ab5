//! Builds the program's IDL the way `anchor idl build` does: compile the program's tests with the
//! `idl-build` feature, run the generated `__anchor_private_print_idl_*` tests and assemble their
//! output (anchor-lang-idl's `IdlBuilder`).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Workspace root (two levels above this crate).
///
/// Read at run time (`cargo run` and `cargo test` set `CARGO_MANIFEST_DIR` for the process), not
/// baked in at compile time: clones of the workspace that share a build cache also share this
/// crate's compiled artifact, and a baked-in path would point into whichever clone built it.
pub fn workspace_root() -> PathBuf {
    let here = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf());
    here.join("../..")
}

/// Where the committed IDL lives.
pub fn idl_path() -> PathBuf {
    workspace_root().join("idl/compute_market.json")
}

/// Builds the IDL and renders it as the committed file is written: pretty JSON plus a newline.
///
/// The nested cargo build uses its own target directory (`<target>/idl-build`) so that it never
/// waits on the lock of the cargo command that may be running us.
pub fn generate() -> Result<String> {
    let program = workspace_root().join("programs/compute-market");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("idl-build");
    // anchor-lang-idl prefixes cargo with `+$RUSTUP_TOOLCHAIN` when that is set (as it is under a
    // rustup proxy) and the prefix is malformed in 0.1.4; rust-toolchain.toml pins the toolchain
    // for the nested cargo anyway.
    // SAFETY of remove_var: called before any other thread of this process reads the environment.
    std::env::remove_var("RUSTUP_TOOLCHAIN");
    let idl = anchor_lang_idl::build::IdlBuilder::new()
        .program_path(program)
        .cargo_args(vec![
            "--target-dir".into(),
            target.to_string_lossy().into_owned(),
        ])
        .build()
        .context("building the IDL (cargo test __anchor_private_print_idl --features idl-build)")?;
    Ok(serde_json::to_string_pretty(&idl)? + "\n")
}
