//! Reading the program's accounts: one by address, decoded and checked to be the program's, and
//! the `getProgramAccounts` queries the worker, the CLI and the auditor need; token balances and
//! mints.

use super::{Chain, ChainError};
use crate::{
    decode, pda, ClientError, Job, Ledger, Market, MarketRef, Provider, Pubkey, Settlement,
};
use anchor_lang::Discriminator;
use compute_market::state::{JOB_MARKET_OFFSET, JOB_STATUS_OFFSET, SETTLEMENT_MARKET_OFFSET};
use solana_rpc_client_api::{
    config::{RpcAccountInfoConfig, RpcProgramAccountsConfig},
    filter::{Memcmp, RpcFilterType},
};
use solana_sdk::account::Account;

impl Chain {
    /// An account, or `None` when it does not exist.
    pub async fn account(&self, address: &Pubkey) -> Result<Option<Account>, ChainError> {
        Ok(self
            .rpc
            .get_account_with_commitment(address, self.rpc.commitment())
            .await
            .map_err(|e| self.rpc_error(e, &[]))?
            .value)
    }

    async fn decoded<T: anchor_lang::AccountDeserialize>(
        &self,
        address: &Pubkey,
        kind: &'static str,
    ) -> Result<Option<T>, ChainError> {
        match self.account(address).await? {
            Some(acc) if acc.owner == self.program => Ok(Some(decode(address, kind, &acc.data)?)),
            Some(_) => {
                Err(ClientError::Decode(*address, kind, "not owned by the program".into()).into())
            }
            None => Ok(None),
        }
    }

    /// The market at `address`.
    pub async fn market(&self, address: &Pubkey) -> Result<MarketRef, ChainError> {
        let state: Market = self
            .decoded(address, "Market")
            .await?
            .ok_or(ChainError::Missing(*address))?;
        Ok(MarketRef {
            program: self.program,
            address: *address,
            state,
        })
    }

    /// A vault's ledger (`MarketRef::escrow_ledger`, `MarketRef::stake_ledger`).
    pub async fn ledger(&self, address: &Pubkey) -> Result<Option<Ledger>, ChainError> {
        self.decoded(address, "Ledger").await
    }

    /// A job, or `None` once it is settled or cancelled.
    pub async fn job(&self, address: &Pubkey) -> Result<Option<Job>, ChainError> {
        self.decoded(address, "Job").await
    }

    /// A provider of `market`, by owner wallet.
    pub async fn provider(
        &self,
        market: &Pubkey,
        owner: &Pubkey,
    ) -> Result<Option<Provider>, ChainError> {
        self.decoded(&pda::provider(&self.program, market, owner), "Provider")
            .await
    }

    /// The settlement of a job, if it settled.
    pub async fn settlement(&self, job: &Pubkey) -> Result<Option<Settlement>, ChainError> {
        self.decoded(&pda::settlement(&self.program, job), "Settlement")
            .await
    }

    async fn program_accounts<T: anchor_lang::AccountDeserialize + Discriminator>(
        &self,
        kind: &'static str,
        mut filters: Vec<RpcFilterType>,
    ) -> Result<Vec<(Pubkey, T)>, ChainError> {
        filters.insert(
            0,
            RpcFilterType::Memcmp(Memcmp::new_raw_bytes(0, T::DISCRIMINATOR.to_vec())),
        );
        let config = RpcProgramAccountsConfig {
            filters: Some(filters),
            account_config: RpcAccountInfoConfig {
                encoding: Some(solana_account_decoder_client_types::UiAccountEncoding::Base64),
                commitment: Some(self.rpc.commitment()),
                ..RpcAccountInfoConfig::default()
            },
            ..RpcProgramAccountsConfig::default()
        };
        let raw = self
            .rpc
            .get_program_ui_accounts_with_config(&self.program, config)
            .await
            .map_err(|e| self.rpc_error(e, &[]))?;
        let mut out = Vec::with_capacity(raw.len());
        for (address, ui) in raw {
            let acc = ui.to_account().ok_or_else(|| {
                ClientError::Decode(address, kind, "undecodable account data".into())
            })?;
            out.push((address, decode(&address, kind, &acc.data)?));
        }
        out.sort_by_key(|(a, _)| *a);
        Ok(out)
    }

    /// Every open job of `market` (status `Open`: at least one free slot).
    pub async fn open_jobs(&self, market: &Pubkey) -> Result<Vec<(Pubkey, Job)>, ChainError> {
        self.program_accounts(
            "Job",
            vec![
                RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                    JOB_MARKET_OFFSET,
                    market.to_bytes().to_vec(),
                )),
                RpcFilterType::Memcmp(Memcmp::new_raw_bytes(JOB_STATUS_OFFSET, vec![0])),
            ],
        )
        .await
    }

    /// Every live job of `market`.
    pub async fn jobs(&self, market: &Pubkey) -> Result<Vec<(Pubkey, Job)>, ChainError> {
        self.program_accounts(
            "Job",
            vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                JOB_MARKET_OFFSET,
                market.to_bytes().to_vec(),
            ))],
        )
        .await
    }

    /// Jobs of `market` in which `owner` holds a slot.
    pub async fn claims_of(
        &self,
        market: &Pubkey,
        owner: &Pubkey,
    ) -> Result<Vec<(Pubkey, Job)>, ChainError> {
        Ok(self
            .jobs(market)
            .await?
            .into_iter()
            .filter(|(_, j)| j.slot_of(owner).is_some())
            .collect())
    }

    /// Every provider of `market`.
    pub async fn providers(&self, market: &Pubkey) -> Result<Vec<(Pubkey, Provider)>, ChainError> {
        self.program_accounts(
            "Provider",
            vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                8,
                market.to_bytes().to_vec(),
            ))],
        )
        .await
    }

    /// Every settlement of `market`.
    pub async fn settlements(
        &self,
        market: &Pubkey,
    ) -> Result<Vec<(Pubkey, Settlement)>, ChainError> {
        self.program_accounts(
            "Settlement",
            vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                SETTLEMENT_MARKET_OFFSET,
                market.to_bytes().to_vec(),
            ))],
        )
        .await
    }

    /// The token program owning `mint` and its decimals; an error when it is not a mint of
    /// Token or Token-2022, or has more than 18 decimals.
    pub async fn mint_info(&self, mint: &Pubkey) -> Result<(Pubkey, u8), ChainError> {
        use crate::token::{MINT_LEN, TOKEN_2022_PROGRAM, TOKEN_PROGRAM};
        let acc = self
            .account(mint)
            .await?
            .ok_or(ChainError::Missing(*mint))?;
        let bad = |why: String| ChainError::Decode(ClientError::Decode(*mint, "Mint", why));
        if (acc.owner != TOKEN_PROGRAM && acc.owner != TOKEN_2022_PROGRAM)
            || acc.data.len() < MINT_LEN
        {
            return Err(bad(format!("is not a token mint (owned by {})", acc.owner)));
        }
        // decimals sit at byte 44 of a mint, for Token and Token-2022 alike
        let decimals = acc.data[44];
        if decimals > 18 {
            return Err(bad(format!(
                "has {decimals} decimals; at most 18 are supported"
            )));
        }
        Ok((acc.owner, decimals))
    }

    /// Balance of an SPL token account (Token or Token-2022); 0 when it does not exist.
    pub async fn token_balance(&self, account: &Pubkey) -> Result<u64, ChainError> {
        Ok(match self.account(account).await? {
            Some(acc) if acc.data.len() >= 72 => {
                u64::from_le_bytes(acc.data[64..72].try_into().unwrap())
            }
            _ => 0,
        })
    }
}
