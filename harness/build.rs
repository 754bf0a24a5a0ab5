//! Finds the sBPF binaries to embed: the market program (`$CMKT_PROGRAM_SO`, else
//! `<workspace>/target/deploy/compute_market.so`), the sample consumer (`$CMKT_CONSUMER_SO`,
//! else `<workspace>/target/deploy/verified_value.so`) and the test fixture that plays an
//! attacker's consumer (`$CMKT_FORWARDER_SO`, else `target/deploy/test_forwarder.so`), as
//! `scripts/build-sbf` writes them.
use std::path::PathBuf;

fn find(var: &str, file: &str, out: &str) {
    println!("cargo::rerun-if-env-changed={var}");
    let path = match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
            .join("../target/deploy")
            .join(file),
    };
    println!("cargo::rerun-if-changed={}", path.display());
    let path = match path.canonicalize() {
        Ok(p) => p,
        Err(e) => panic!(
            "\n\nthe sBPF binary {} is missing ({e}).\n\
             Build it first with `scripts/build-sbf` (or point {var} at a .so).\n\n",
            path.display()
        ),
    };
    println!("cargo::rustc-env={out}={}", path.display());
}

fn main() {
    find(
        "CMKT_PROGRAM_SO",
        "compute_market.so",
        "CMKT_PROGRAM_SO_PATH",
    );
    find(
        "CMKT_CONSUMER_SO",
        "verified_value.so",
        "CMKT_CONSUMER_SO_PATH",
    );
    find(
        "CMKT_FORWARDER_SO",
        "test_forwarder.so",
        "CMKT_FORWARDER_SO_PATH",
    );
}
