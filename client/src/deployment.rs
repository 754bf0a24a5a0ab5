//! Deployments of the program under the upgradeable BPF loader (loader-v3): what a cluster holds
//! at a program id (the program account, its ProgramData with the upgrade authority and the ELF),
//! how to tell whether those bytes are a given build, and the loader instructions a deploy sends.
//!
//! A loader-v3 deployment is two accounts: the program account (36 bytes, executable, pointing at
//! its ProgramData) and the ProgramData at the PDA `[program_id]` of the loader, which holds a
//! 45-byte header (slot of the last deploy, upgrade authority) followed by the ELF, zero-padded up
//! to the length reserved at the first deploy.

use crate::rpc::{Chain, ChainError};
use crate::{ClientError, Pubkey};
use sha2::{Digest, Sha256};
pub use solana_loader_v3_interface::{
    get_program_data_address, instruction as loader_ix, state::UpgradeableLoaderState,
};
pub use solana_sdk_ids::bpf_loader_upgradeable::ID as LOADER_V3;

/// Bytes of the ProgramData header before the ELF.
pub const PROGRAMDATA_HEADER: usize = UpgradeableLoaderState::size_of_programdata_metadata();
/// Bytes of a buffer account's header before the ELF.
pub const BUFFER_HEADER: usize = UpgradeableLoaderState::size_of_buffer_metadata();

/// What a cluster holds at a program id.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub program: Pubkey,
    pub programdata: Pubkey,
    /// `None`: the program is immutable (its authority was removed).
    pub upgrade_authority: Option<Pubkey>,
    /// Slot of the last deploy or upgrade.
    pub slot: u64,
    /// The ProgramData's bytes after its header: the ELF, then zeros up to the reserved length.
    pub data: Vec<u8>,
}

impl Deployment {
    /// Reads a deployment from the program account and its ProgramData account, as returned by
    /// `getAccountInfo` (owner and data). Errors say what is not as a loader-v3 program has it.
    pub fn from_accounts(
        program: &Pubkey,
        program_owner: &Pubkey,
        program_data: &[u8],
        programdata_owner: &Pubkey,
        programdata_data: &[u8],
    ) -> Result<Deployment, String> {
        if program_owner != &LOADER_V3 {
            return Err(format!(
                "{program} is not a program of the upgradeable loader (owner {program_owner})"
            ));
        }
        let programdata = match bincode::deserialize(program_data) {
            Ok(UpgradeableLoaderState::Program {
                programdata_address,
            }) => programdata_address,
            _ => return Err(format!("{program} is not a loader-v3 program account")),
        };
        if programdata_owner != &LOADER_V3 || programdata_data.len() < PROGRAMDATA_HEADER {
            return Err(format!("{programdata} is not a ProgramData account"));
        }
        match bincode::deserialize(&programdata_data[..PROGRAMDATA_HEADER]) {
            Ok(UpgradeableLoaderState::ProgramData {
                slot,
                upgrade_authority_address,
            }) => Ok(Deployment {
                program: *program,
                programdata,
                upgrade_authority: upgrade_authority_address,
                slot,
                data: programdata_data[PROGRAMDATA_HEADER..].to_vec(),
            }),
            _ => Err(format!("{programdata} is not a ProgramData account")),
        }
    }

    /// The deployed ELF without the padding: as long as its own header says it is.
    pub fn elf(&self) -> &[u8] {
        let n = elf_len(&self.data).unwrap_or(self.data.len());
        &self.data[..n.min(self.data.len())]
    }

    /// Hex sha256 of [`Deployment::elf`]: equal to `sha256sum target/deploy/compute_market.so`
    /// of the build that was deployed.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.elf()))
    }

    /// Whether the deployed bytes are exactly `so` (and nothing but zeros after it).
    pub fn is(&self, so: &[u8]) -> bool {
        self.data.len() >= so.len()
            && self.data[..so.len()] == *so
            && self.data[so.len()..].iter().all(|b| *b == 0)
    }
}

impl Chain {
    /// The deployment at `program` (default: this chain's program), or `None` when no account
    /// exists there.
    pub async fn deployment(
        &self,
        program: Option<&Pubkey>,
    ) -> Result<Option<Deployment>, ChainError> {
        let program = program.unwrap_or(&self.program);
        let Some(acc) = self.account(program).await? else {
            return Ok(None);
        };
        let programdata = get_program_data_address(program);
        let pd = self
            .account(&programdata)
            .await?
            .ok_or(ChainError::Missing(programdata))?;
        Deployment::from_accounts(program, &acc.owner, &acc.data, &pd.owner, &pd.data)
            .map(Some)
            .map_err(|why| ClientError::Decode(*program, "program", why).into())
    }
}

/// Length of an ELF64 file from its header: the end of its section header table, or of the
/// furthest program header or section contents. `None` when `bytes` is not an ELF64 file.
pub fn elf_len(bytes: &[u8]) -> Option<usize> {
    if bytes.get(..5)? != b"\x7fELF\x02" {
        return None;
    }
    // headers from any account's data: every sum is checked, and garbage gives None
    let at = |o: u64, n: usize| {
        let o = usize::try_from(o).ok()?;
        bytes.get(o..o.checked_add(n)?)
    };
    let u16_at = |o: u64| Some(u64::from(u16::from_le_bytes(at(o, 2)?.try_into().ok()?)));
    let u32_at = |o: u64| Some(u64::from(u32::from_le_bytes(at(o, 4)?.try_into().ok()?)));
    let u64_at = |o: u64| Some(u64::from_le_bytes(at(o, 8)?.try_into().ok()?));
    let end_of = |off: u64, size: u64, n: u64| off.checked_add(size.checked_mul(n)?);
    let (phoff, shoff) = (u64_at(0x20)?, u64_at(0x28)?);
    let (phentsize, phnum) = (u16_at(0x36)?, u16_at(0x38)?);
    let (shentsize, shnum) = (u16_at(0x3a)?, u16_at(0x3c)?);
    let mut end = end_of(phoff, phentsize, phnum)?.max(end_of(shoff, shentsize, shnum)?);
    for i in 0..shnum {
        let h = end_of(shoff, shentsize, i)?;
        // SHT_NOBITS (8) occupies no bytes in the file
        if u32_at(h.checked_add(4)?)? != 8 {
            let (offset, size) = (u64_at(h.checked_add(0x18)?)?, u64_at(h.checked_add(0x20)?)?);
            end = end.max(offset.checked_add(size)?);
        }
    }
    usize::try_from(end).ok()
}

/// Whether `so` declares `program` as its id: Anchor programs compare their `declare_id!` with
/// the address they run at and refuse every instruction elsewhere, so the 32 bytes of the id are
/// in the ELF. A build for another id would be deployed uselessly.
pub fn declares(so: &[u8], program: &Pubkey) -> bool {
    let id = program.to_bytes();
    so.windows(32).any(|w| w == id)
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_accounts_decode_and_compare() {
        let program = Pubkey::new_unique();
        let programdata = get_program_data_address(&program);
        let authority = Pubkey::new_unique();
        let account = bincode::serialize(&UpgradeableLoaderState::Program {
            programdata_address: programdata,
        })
        .unwrap();
        let mut data = bincode::serialize(&UpgradeableLoaderState::ProgramData {
            slot: 7,
            upgrade_authority_address: Some(authority),
        })
        .unwrap();
        assert_eq!(data.len(), PROGRAMDATA_HEADER);
        let elf = b"not an elf, just bytes".to_vec();
        data.extend_from_slice(&elf);
        data.extend_from_slice(&[0; 100]);
        let d =
            Deployment::from_accounts(&program, &LOADER_V3, &account, &LOADER_V3, &data).unwrap();
        assert_eq!(d.programdata, programdata);
        assert_eq!(d.upgrade_authority, Some(authority));
        assert_eq!(d.slot, 7);
        assert!(d.is(&elf));
        let mut other = elf.clone();
        other[0] ^= 1;
        assert!(!d.is(&other));
        assert!(!d.is(&data));
        // a program of another loader is refused with a reason
        let e =
            Deployment::from_accounts(&program, &Pubkey::new_unique(), &account, &LOADER_V3, &data)
                .unwrap_err();
        assert!(e.contains("not a program of the upgradeable loader"), "{e}");
        assert!(declares(
            &[&[1u8; 3][..], &program.to_bytes()[..]].concat(),
            &program
        ));
        assert!(!declares(&elf, &program));
    }

    #[test]
    fn elf_length_comes_from_the_header() {
        assert_eq!(elf_len(b"no"), None);
        // a minimal ELF64 header: no program headers, 2 section headers of 64 bytes at 0x100
        let mut h = vec![0u8; 0x100 + 128];
        h[..5].copy_from_slice(b"\x7fELF\x02");
        h[0x28..0x30].copy_from_slice(&0x100u64.to_le_bytes());
        h[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        h[0x3c..0x3e].copy_from_slice(&2u16.to_le_bytes());
        assert_eq!(elf_len(&h), Some(0x100 + 128));
        let padded = [h.clone(), vec![0; 50]].concat();
        assert_eq!(elf_len(&padded), Some(h.len()));
        // headers that overflow or point outside are refused, not a panic
        let mut bad = h.clone();
        bad[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(elf_len(&bad), None);
    }
}
