//! The compute-market program as shipped: the sBPF v0 binary that `scripts/build-sbf` writes to
//! `target/deploy/compute_market.so`, embedded at build time, and the runtimes that host it.
//!
//! Everything that runs the program (the LiteSVM test suite, the embedded local validator of
//! `cmkt localnet`, the bench) runs these bytes in the Solana VM: compute units are metered, sBPF
//! stack frames and heap limits apply, and `msg!`/`emit!` output lands in the transaction's logs.
//!
//! The binary is linked for the stack layout of runtimes where the
//! `virtual_address_space_adjustments` feature is *inactive* (stack frames with gaps), which is
//! mainnet's: [`litesvm`] uses LiteSVM's mainnet feature set, and the local validator turns off
//! every feature mainnet has not activated ([`MAINNET_ACTIVE_FEATURES`]).

pub mod cu;

pub use compute_market::ID as PROGRAM_ID;
pub use litesvm::features::MAINNET_ACTIVE_FEATURES;
use sha2::{Digest, Sha256};

/// The program's ELF as built by `scripts/build-sbf` (or `$CMKT_PROGRAM_SO` at build time).
pub const PROGRAM_SO: &[u8] = include_bytes!(env!("CMKT_PROGRAM_SO_PATH"));

/// Where [`PROGRAM_SO`] was read from when this crate was built.
pub const PROGRAM_SO_PATH: &str = env!("CMKT_PROGRAM_SO_PATH");

/// Hex sha256 of [`PROGRAM_SO`]: what `scripts/build-sbf` prints and `cmkt program show` compares
/// with a deployed program.
pub fn program_sha256() -> String {
    hex::encode(Sha256::digest(PROGRAM_SO))
}

/// A fresh LiteSVM with mainnet's feature set, the SPL programs, and the program deployed at
/// [`PROGRAM_ID`] under the upgradeable loader (program and program-data accounts, ELF verified).
pub fn litesvm() -> litesvm::LiteSVM {
    let mut svm = litesvm::LiteSVM::new();
    svm.add_program(PROGRAM_ID, PROGRAM_SO)
        .expect("the embedded compute_market.so loads");
    svm
}
