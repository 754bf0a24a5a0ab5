//! Keeping the local chain's accounts across restarts.
//!
//! The local chain keeps *state* rather than history: it saves the accounts people use (wallets,
//! token mints and accounts, every compute-market account) from the highest frozen bank, every few
//! seconds and on shutdown, and a restart builds a fresh genesis that contains them, with the
//! program deployed anew from the binary this build embeds. So a rebuilt program runs on the old
//! markets, providers, jobs and settlements, and a restart does not replay blocks. Transaction
//! history does not survive, and neither do programs deployed by hand (`cmkt program deploy`).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use solana_runtime::bank::Bank;
use solana_sdk::{
    account::{Account, AccountSharedData, ReadableAccount},
    pubkey::Pubkey,
};
use std::{collections::BTreeMap, path::Path};

/// Identifies the program's account layout: the sha256 of the committed IDL.
fn layout_id() -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(include_bytes!(
        "../../idl/compute_market.json"
    )))
}

/// Owners whose accounts are saved: wallets (system program), SPL Token and Token-2022 accounts,
/// and the compute-market program.
pub fn saved_owners() -> [Pubkey; 4] {
    [
        anchor_lang::system_program::ID,
        compute_market_client::token::TOKEN_PROGRAM,
        compute_market_client::token::TOKEN_2022_PROGRAM,
        crate::PROGRAM_ID,
    ]
}

#[derive(Serialize, Deserialize)]
struct SavedAccount {
    lamports: u64,
    owner: String,
    /// base64
    data: String,
}

/// Format version of the state file.
pub const STATE_VERSION: u32 = 1;

/// The saved state: address → account.
#[derive(Serialize, Deserialize, Default)]
pub struct State {
    /// `STATE_VERSION` when written.
    pub version: u32,
    /// sha256 of the committed IDL when written: program accounts of another layout are not
    /// carried over.
    pub layout: String,
    /// Slot of the bank the state was read from.
    pub slot: u64,
    accounts: BTreeMap<String, SavedAccount>,
}

impl State {
    /// Reads the accounts to keep from `bank`, leaving out `skip` (the validator's own accounts).
    pub fn capture(bank: &Bank, skip: &[Pubkey]) -> Result<State> {
        let mut all = Vec::new();
        for owner in saved_owners() {
            let list = bank
                .get_program_accounts(&owner)
                .map_err(|e| anyhow::anyhow!("scanning accounts of {owner}: {e:?}"))?;
            all.extend(list.into_iter().filter(|(a, _)| !skip.contains(a)));
        }
        Ok(State::from_accounts(bank.slot(), all))
    }

    /// The state of `accounts` as read at `slot`, keeping what [`State::capture`] keeps of a
    /// bank: accounts of the saved owners that hold lamports, and no system-owned account with
    /// data (sysvar-like and nonce accounts). For accounts made elsewhere (`cmkt bench` makes
    /// its audit settlements in LiteSVM and starts a chain on them).
    pub fn from_accounts<A: ReadableAccount>(
        slot: u64,
        accounts: impl IntoIterator<Item = (Pubkey, A)>,
    ) -> State {
        use base64::Engine;
        let owners = saved_owners();
        let accounts = accounts
            .into_iter()
            .filter(|(_, acc)| {
                owners.contains(acc.owner())
                    && acc.lamports() > 0
                    && (*acc.owner() != anchor_lang::system_program::ID || acc.data().is_empty())
            })
            .map(|(address, acc)| {
                (
                    address.to_string(),
                    SavedAccount {
                        lamports: acc.lamports(),
                        owner: acc.owner().to_string(),
                        data: base64::engine::general_purpose::STANDARD.encode(acc.data()),
                    },
                )
            })
            .collect();
        State {
            version: STATE_VERSION,
            layout: layout_id(),
            slot,
            accounts,
        }
    }

    /// Number of saved accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether nothing is saved.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// The saved accounts, ready for genesis. Accounts of the compute-market program are left
    /// out when the state was written by a build with another account layout.
    pub fn accounts(&self) -> Result<Vec<(Pubkey, AccountSharedData)>> {
        use base64::Engine;
        let program = crate::PROGRAM_ID.to_string();
        let same_layout = self.layout == layout_id();
        if !same_layout {
            tracing::warn!("the saved state comes from another program layout: its market accounts are dropped");
        }
        self.accounts
            .iter()
            .filter(|(_, s)| same_layout || s.owner != program)
            .map(|(a, s)| {
                Ok((
                    a.parse()
                        .with_context(|| format!("bad address {a} in the state file"))?,
                    AccountSharedData::from(Account {
                        lamports: s.lamports,
                        data: base64::engine::general_purpose::STANDARD
                            .decode(&s.data)
                            .context("bad account data in the state file")?,
                        owner: s.owner.parse().context("bad owner in the state file")?,
                        executable: false,
                        rent_epoch: u64::MAX,
                    }),
                ))
            })
            .collect()
    }

    /// Writes atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
    }

    /// Reads a state file; `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<State>> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let state: State = serde_json::from_slice(&bytes).with_context(|| {
                    format!("{} is not a local-chain state file", path.display())
                })?;
                anyhow::ensure!(
                    state.version == STATE_VERSION,
                    "{} has state format {}, this build reads {STATE_VERSION}: pass --reset",
                    path.display(),
                    state.version
                );
                Ok(Some(state))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
}
