//! Address lookup tables for the transactions that outgrow a packet. A finalize names 18 accounts
//! plus two per held slot; with n = 8, different payment and stake token programs (Token-2022 and
//! SPL Token, say) and the compute-budget instructions, the legacy transaction is larger than the
//! 1 232 bytes a packet carries. A v0 transaction that loads the market's own accounts (vaults,
//! ledgers, mints, treasury accounts, token programs) from a lookup table names each in one byte instead
//! of 32, and fits.
//!
//! A table holds the accounts every finalize and claim expiry of one market names. It belongs to
//! whoever created it (a worker, `cmkt`), who keeps its address; [`Chain::market_lookup_table`]
//! checks a known table and makes a new one when it is missing or stale. [`Chain::send`] uses
//! the tables in [`Chain::lookup_tables`] only for transactions that do not fit as legacy ones.

use crate::rpc::{Chain, ChainError};
use crate::{ata, ix, Job, MarketRef, Pubkey, Slot, SlotState};
pub use solana_address_lookup_table_interface::instruction as alt_ix;
use solana_address_lookup_table_interface::state::AddressLookupTable;
pub use solana_message::AddressLookupTableAccount;
use solana_sdk::{signature::Keypair, signer::Signer};

/// The accounts of `market` that every finalize or claim expiry names, but the programs it
/// invokes at the top level (those must be named in the transaction itself).
pub fn market_addresses(market: &MarketRef) -> Vec<Pubkey> {
    let m = &market.state;
    let mut out = vec![
        market.address,
        m.escrow_vault,
        m.stake_vault,
        market.escrow_ledger(),
        market.stake_ledger(),
        m.payment_mint,
        m.stake_mint,
        ata(&m.treasury, &m.payment_mint, &m.payment_token_program),
        ata(&m.treasury, &m.stake_mint, &m.stake_token_program),
        m.payment_token_program,
        m.stake_token_program,
        anchor_lang::system_program::ID,
    ];
    out.sort();
    out.dedup();
    out
}

/// Whether a finalize of a job of `market` with every one of `market`'s replica slots held (the
/// largest it can be) fits a legacy transaction of `chain` (with its compute-budget
/// instructions), paid by `payer`.
pub fn largest_finalize_fits(chain: &Chain, market: &MarketRef, payer: &Pubkey) -> bool {
    let n = market.state.config.max_replicas;
    let job = sample_job(&market.address, n);
    let bounty_to = ata(
        payer,
        &market.state.stake_mint,
        &market.state.stake_token_program,
    );
    let finalize = ix::finalize_job(payer, market, &Pubkey::new_unique(), &job, &bounty_to);
    crate::rpc::transaction_size(&chain.with_budget(&[finalize]), payer)
        <= crate::rpc::PACKET_DATA_SIZE
}

impl Chain {
    /// A lookup table holding [`market_addresses`]: the one at `known` when it holds them all,
    /// else a new one created (and paid) by `payer`, returned once the cluster can use it.
    pub async fn market_lookup_table(
        &self,
        payer: &Keypair,
        market: &MarketRef,
        known: Option<&Pubkey>,
    ) -> Result<AddressLookupTableAccount, ChainError> {
        let wanted = market_addresses(market);
        if let Some(address) = known {
            if let Some(acc) = self.account(address).await? {
                // still usable: not deactivated, and ours to keep; its addresses in its order
                // (a v0 transaction names them by index)
                let usable = AddressLookupTable::deserialize(&acc.data).ok().filter(|t| {
                    t.meta.deactivation_slot == u64::MAX
                        && t.meta.authority == Some(payer.pubkey())
                        && wanted.iter().all(|a| t.addresses.contains(a))
                });
                if let Some(t) = usable {
                    return Ok(AddressLookupTableAccount {
                        key: *address,
                        addresses: t.addresses.to_vec(),
                    });
                }
            }
        }
        let recent = self
            .rpc
            .get_slot()
            .await
            .map_err(|e| self.rpc_error(e, &[]))?;
        let (create, address) = alt_ix::create_lookup_table(payer.pubkey(), payer.pubkey(), recent);
        let extend = alt_ix::extend_lookup_table(
            address,
            payer.pubkey(),
            Some(payer.pubkey()),
            wanted.clone(),
        );
        self.send(&[create, extend], payer, &[]).await?;
        // addresses added in a slot can be looked up from the next one
        let landed = self
            .rpc
            .get_slot()
            .await
            .map_err(|e| self.rpc_error(e, &[]))?;
        self.wait_past_slot(landed, self.send_timeout).await?;
        Ok(AddressLookupTableAccount {
            key: address,
            addresses: wanted,
        })
    }
}

/// A job of `market` with all `n` slots revealed by distinct providers: the largest finalize.
pub(crate) fn sample_job(market: &Pubkey, n: u8) -> Job {
    let slot = |_| Slot {
        provider: Pubkey::new_unique(),
        state: SlotState::Revealed,
        ..Slot::FREE
    };
    Job {
        market: *market,
        status: crate::JobStatus::Revealing,
        version: 0,
        bump: 0,
        replicas: n,
        quorum: n,
        requester: Pubkey::new_unique(),
        nonce: 0,
        manifest_hash: [0; 32],
        reward_per_replica: 0,
        escrow: 0,
        fee_bps: 0,
        collateral: 0,
        claim_timeout: 0,
        created_at: 0,
        commit_deadline: 0,
        reveal_deadline: 0,
        expired_slashed: 0,
        slash_bounty_bps: 0,
        settlement_deposit: 0,
        seed_slot: 0,
        seed: [0; 32],
        stake_scale: 0,
        min_reward_per_replica: 0,
        ramp_start: 0,
        ramp_seconds: 0,
        latest_commit_deadline: i64::MAX,
        reserved: [0; 8],
        manifest_uri: String::new(),
        slots: (0..n).map(slot).collect(),
        expired: Vec::new(),
        consumer: None,
    }
}
