//! The program's security.txt: where explorers and auditors find who to tell about a
//! vulnerability, the disclosure policy and the source the binary is built from
//! (`solana-security-txt`; it lands in the ELF, `tests/tests/binary.rs` reads it back).
//!
//! An operator who deploys their own instance replaces these with their own contacts.

#[cfg(not(feature = "no-entrypoint"))]
solana_security_txt::security_txt! {
    name: "compute-market",
    project_url: "https://github.com/compute-market/compute-market",
    contacts: "link:https://github.com/compute-market/compute-market/security/advisories/new",
    policy: "https://github.com/compute-market/compute-market/blob/main/SECURITY.md",
    preferred_languages: "en",
    source_code: "https://github.com/compute-market/compute-market",
    source_release: concat!("v", env!("CARGO_PKG_VERSION")),
    auditors: "None"
}
