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

/// The sample consumer of verified results (`programs/verified-value`), as built by
/// `scripts/build-sbf` (or `$CMKT_CONSUMER_SO` at build time).
pub const CONSUMER_SO: &[u8] = include_bytes!(env!("CMKT_CONSUMER_SO_PATH"));

/// The sample consumer's program id.
pub use verified_value::ID as CONSUMER_ID;

/// A test fixture that plays an attacker's consumer (`tests/forwarder`): it passes the delivery
/// authority's signature on to another consumer. Only [`add_forwarder`] deploys it.
pub const FORWARDER_SO: &[u8] = include_bytes!(env!("CMKT_FORWARDER_SO_PATH"));

/// Deploys the test forwarder at its id in `svm`.
pub fn add_forwarder(svm: &mut litesvm::LiteSVM) -> solana_sdk::pubkey::Pubkey {
    svm.add_program(test_forwarder::ID, FORWARDER_SO)
        .expect("the embedded test_forwarder.so loads");
    test_forwarder::ID
}

/// Hex sha256 of [`PROGRAM_SO`]: what `scripts/build-sbf` prints and `cmkt program show` compares
/// with a deployed program.
pub fn program_sha256() -> String {
    hex::encode(Sha256::digest(PROGRAM_SO))
}

/// A fresh LiteSVM with mainnet's feature set, the SPL programs, the program deployed at
/// [`PROGRAM_ID`] under the upgradeable loader (program and program-data accounts, ELF
/// verified), and the sample consumer at [`CONSUMER_ID`].
pub fn litesvm() -> litesvm::LiteSVM {
    let mut svm = litesvm::LiteSVM::new();
    svm.add_program(PROGRAM_ID, PROGRAM_SO)
        .expect("the embedded compute_market.so loads");
    svm.add_program(CONSUMER_ID, CONSUMER_SO)
        .expect("the embedded verified_value.so loads");
    svm
}

/// Moves `svm`'s clock forward `n` slots (its Unix time unchanged) and lists a hash for each new
/// slot in the SlotHashes sysvar, newest first and at most 512, as a validator does: what a
/// job's eligibility seed is read from.
pub fn advance_slots(svm: &mut litesvm::LiteSVM, n: u64) {
    use solana_sdk::{account::Account, clock::Clock};
    const MAX_ENTRIES: usize = 512;
    let id = compute_market::constants::SLOT_HASHES_SYSVAR;
    let mut clock: Clock = svm.get_sysvar();
    let old = svm.get_account(&id).expect("LiteSVM sets SlotHashes");
    let listed = u64::from_le_bytes(old.data[..8].try_into().expect("8 bytes")) as usize;
    let kept: Vec<[u8; 40]> = old.data[8..8 + 40 * listed]
        .chunks(40)
        .map(|c| c.try_into().expect("40 bytes"))
        .collect();
    // (LiteSVM lists the current slot too, as its initial SlotHashes does); only the newest
    // MAX_ENTRIES can be listed
    let first = clock.slot + 1 + n.saturating_sub(MAX_ENTRIES as u64);
    let last = clock.slot + n;
    let mut entries: Vec<[u8; 40]> = (first..=last)
        .rev()
        .map(|slot| {
            let mut e = [0u8; 40];
            e[..8].copy_from_slice(&slot.to_le_bytes());
            e[8..].copy_from_slice(&Sha256::digest(slot.to_le_bytes()));
            e
        })
        .collect();
    entries.extend(kept);
    clock.slot = last;
    entries.truncate(MAX_ENTRIES);
    let mut data = (entries.len() as u64).to_le_bytes().to_vec();
    data.extend(entries.iter().flatten());
    data.resize(old.data.len().max(data.len()), 0);
    svm.set_account(id, Account { data, ..old })
        .expect("SlotHashes is writable by the test");
    svm.set_sysvar(&clock);
}
