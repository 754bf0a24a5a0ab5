//! Rust SDK of the compute market: the one place that knows PDAs, account layouts and how to
//! build every instruction. The worker, the CLI, the tests and the benchmarks all use it.
#![allow(deprecated)]

pub mod audit;
pub mod batch;
pub mod budget;
pub mod config;
pub mod deliver;
pub mod deployment;
pub mod ix;
pub mod logs;
pub mod lookup;
pub mod manifest;
pub mod merkle;
pub mod pda;
pub mod price;
pub mod results;
pub mod rpc;
pub mod sortition;
pub mod token;
pub mod why;

pub use anchor_lang::solana_program::{instruction::Instruction, pubkey::Pubkey};
pub use compute_market::{
    self as program, constants,
    state::{
        commitment_hash, is_strict_majority, Consumer, ConsumerAccount, DeliveredResult, Delivery,
        DeliveryMessage, Job, JobStatus, Ledger, Market, MarketConfig, Outcome, Provider,
        ProviderOffer, Settlement, Slot, SlotState, SlotVerdict, Verdict,
    },
    JobExtendArgs, JobPostArgs, JobReprice, MarketInitArgs, MarketUpdateArgs, ProviderUpdateArgs,
    ID as PROGRAM_ID,
};

/// Test support: files other implementations read (the web app's vectors and tables), generated
/// by this crate's tests.
#[cfg(test)]
pub(crate) mod generated {
    /// Fails unless the file at `path` holds `want`; with `CMKT_WRITE_VECTORS` set, writes it
    /// first. `regenerate` says how to refresh it.
    pub fn check(path: &str, want: &str, regenerate: &str) {
        if std::env::var_os("CMKT_WRITE_VECTORS").is_some() {
            std::fs::write(path, want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "{path} is stale: regenerate with {regenerate}"
        );
    }
}

/// Errors of the SDK.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("account {0} is not a {1} of the compute market: {2}")]
    Decode(Pubkey, &'static str, String),
}

/// A market account together with its address and the program that owns it: what the
/// instruction builders need.
#[derive(Clone, Debug)]
pub struct MarketRef {
    /// The deployment of the program this market belongs to ([`PROGRAM_ID`] unless it was
    /// deployed elsewhere).
    pub program: Pubkey,
    pub address: Pubkey,
    pub state: Market,
}

impl MarketRef {
    /// The provider account of `owner` in this market.
    pub fn provider(&self, owner: &Pubkey) -> Pubkey {
        pda::provider(&self.program, &self.address, owner)
    }

    /// The job `nonce` of `requester` in this market.
    pub fn job(&self, requester: &Pubkey, nonce: u64) -> Pubkey {
        pda::job(&self.program, &self.address, requester, nonce)
    }

    /// The books of the escrow vault.
    pub fn escrow_ledger(&self) -> Pubkey {
        pda::ledger(&self.program, &self.state.escrow_vault)
    }

    /// The books of the stake vault.
    pub fn stake_ledger(&self) -> Pubkey {
        pda::ledger(&self.program, &self.state.stake_vault)
    }

    /// The settlement record of `job`.
    pub fn settlement(&self, job: &Pubkey) -> Pubkey {
        pda::settlement(&self.program, job)
    }

    /// The hash of the terms read with this market (`JobPostArgs::terms_hash`): a post built
    /// with it fails if the market's rules changed since they were read.
    pub fn terms_hash(&self) -> [u8; 32] {
        self.state.config.terms_hash()
    }
}

/// Decodes an account of the program (checks the discriminator).
pub fn decode<T: anchor_lang::AccountDeserialize>(
    address: &Pubkey,
    kind: &'static str,
    mut data: &[u8],
) -> Result<T, ClientError> {
    T::try_deserialize(&mut data).map_err(|e| ClientError::Decode(*address, kind, e.to_string()))
}

/// Associated token account of `owner` for `mint` under `token_program`.
pub fn ata(owner: &Pubkey, mint: &Pubkey, token_program: &Pubkey) -> Pubkey {
    anchor_spl::associated_token::get_associated_token_address_with_program_id(
        owner,
        mint,
        token_program,
    )
}
