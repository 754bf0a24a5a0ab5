//! The shipped binary itself: what explorers and auditors read from it, and what would make a
//! build from source differ from it.

use compute_market_client::deployment;
use compute_market_harness::{PROGRAM_ID, PROGRAM_SO};

#[test]
fn the_binary_carries_its_security_txt() {
    let txt = solana_security_txt::find_and_parse(PROGRAM_SO).expect("security.txt in the ELF");
    assert_eq!(txt.name, "compute-market");
    assert!(!txt.contacts.is_empty());
    assert!(txt.policy.starts_with("https://"), "{}", txt.policy);
    assert!(txt.source_code.is_some());
    assert_eq!(
        txt.source_release.as_deref(),
        Some(concat!("v", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn the_binary_is_a_whole_sbpf_elf_declaring_its_program_id() {
    // e_machine 247 (BPF), and the ELF's own header accounts for every byte
    assert_eq!(&PROGRAM_SO[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([PROGRAM_SO[18], PROGRAM_SO[19]]), 247);
    assert_eq!(deployment::elf_len(PROGRAM_SO), Some(PROGRAM_SO.len()));
    assert!(deployment::declares(PROGRAM_SO, &PROGRAM_ID));
}

#[test]
fn no_path_of_the_build_machine_is_in_the_binary() {
    // panic locations name source files: they must not depend on where the build ran
    let home = std::env::var("HOME").unwrap_or_default();
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    for needle in [
        home.as_str(),
        workspace.as_str(),
        "/.cargo/",
        "/.rustup/",
        "/.cache/",
    ] {
        if needle.len() < 2 {
            continue;
        }
        assert!(
            !PROGRAM_SO
                .windows(needle.len())
                .any(|w| w == needle.as_bytes()),
            "the binary contains {needle:?}"
        );
    }
}
