//! `CMKT_BUILD_PROGRAM_ID=<address>` builds the program declaring that program id instead of the
//! one in `declare_id!` (for deployments at another address; `scripts/build-sbf --program-id`).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(cmkt_build_program_id)");
    println!("cargo::rerun-if-env-changed=CMKT_BUILD_PROGRAM_ID");
    if let Ok(id) = std::env::var("CMKT_BUILD_PROGRAM_ID") {
        let base58 = |c: char| c.is_ascii_alphanumeric() && !"0OIl".contains(c);
        if !(32..=44).contains(&id.len()) || !id.chars().all(base58) {
            panic!("CMKT_BUILD_PROGRAM_ID={id:?} is not a base58 address");
        }
        println!("cargo::rustc-cfg=cmkt_build_program_id");
    }
}
