//! Finds the program's sBPF binary to embed: `$CMKT_PROGRAM_SO`, else
//! `<workspace>/target/deploy/compute_market.so` as `scripts/build-sbf` writes it.
use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=CMKT_PROGRAM_SO");
    let path = match std::env::var_os("CMKT_PROGRAM_SO") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
            .join("../target/deploy/compute_market.so"),
    };
    println!("cargo::rerun-if-changed={}", path.display());
    let path = match path.canonicalize() {
        Ok(p) => p,
        Err(e) => panic!(
            "\n\nthe program's sBPF binary {} is missing ({e}).\n\
             Build it first with `scripts/build-sbf` (or point CMKT_PROGRAM_SO at a .so).\n\n",
            path.display()
        ),
    };
    println!("cargo::rustc-env=CMKT_PROGRAM_SO_PATH={}", path.display());
}
