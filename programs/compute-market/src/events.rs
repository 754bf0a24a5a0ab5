//! One event per state change, carrying amounts and the balances after the change.

use crate::state::{MarketConfig, Outcome};
use anchor_lang::prelude::*;

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct MarketInitialized {
    pub market: Pubkey,
    pub authority: Pubkey,
    pub payment_mint: Pubkey,
    pub stake_mint: Pubkey,
    pub treasury: Pubkey,
    pub config: MarketConfig,
}

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct MarketUpdated {
    pub market: Pubkey,
    pub old_config: MarketConfig,
    pub new_config: MarketConfig,
    pub old_paused: bool,
    pub new_paused: bool,
    pub old_treasury: Pubkey,
    pub new_treasury: Pubkey,
}

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRegistered {
    pub market: Pubkey,
    pub provider: Pubkey,
    pub owner: Pubkey,
    pub endpoint: String,
    pub capabilities: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderUpdated {
    pub provider: Pubkey,
    pub old_endpoint: String,
    pub new_endpoint: String,
    pub old_capabilities: u64,
    pub new_capabilities: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct OfferPublished {
    pub provider: Pubkey,
    pub offer: crate::state::ProviderOffer,
    pub capabilities: u64,
    pub at: i64,
}

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderStaked {
    pub provider: Pubkey,
    pub amount: u64,
    pub stake_after: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct UnstakeRequested {
    pub provider: Pubkey,
    pub amount: u64,
    pub pending_after: u64,
    pub available_at: i64,
}

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct StakeWithdrawn {
    pub provider: Pubkey,
    pub amount: u64,
    pub stake_after: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderClosed {
    pub provider: Pubkey,
    pub owner: Pubkey,
}

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct JobPosted {
    pub market: Pubkey,
    pub job: Pubkey,
    pub requester: Pubkey,
    pub nonce: u64,
    pub manifest_hash: [u8; 32],
    pub reward_per_replica: u64,
    pub min_reward_per_replica: u64,
    pub ramp_start: i64,
    pub ramp_seconds: i64,
    pub replicas: u8,
    pub quorum: u8,
    pub escrow: u64,
    pub commit_deadline: i64,
    pub reveal_deadline: i64,
    /// The program `deliver_result` will call with the result, if any.
    pub consumer: Option<Pubkey>,
}

/// A requester extended an open job: later deadlines, a higher maximum (the ramp restarts at the
/// current price), or both.
#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct JobExtended {
    pub job: Pubkey,
    pub old_commit_deadline: i64,
    pub commit_deadline: i64,
    pub reveal_deadline: i64,
    pub old_reward_per_replica: u64,
    pub reward_per_replica: u64,
    pub min_reward_per_replica: u64,
    pub ramp_start: i64,
    pub ramp_seconds: i64,
    /// Payment-mint tokens added to the escrow: `(new − old maximum) × replicas`.
    pub top_up: u64,
    pub escrow_after: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct JobCancelled {
    pub job: Pubkey,
    pub settlement: Pubkey,
    pub refund: u64,
    /// Collateral slashed from the job's expired claims (listed in the settlement record).
    pub expired_slashed: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct JobClaimed {
    pub job: Pubkey,
    pub slot: u8,
    pub provider: Pubkey,
    /// The price the claim locked for its slot.
    pub price: u64,
    pub collateral: u64,
    pub provider_locked_after: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimExpired {
    pub job: Pubkey,
    pub slot: u8,
    pub provider: Pubkey,
    pub slashed: u64,
    pub bounty: u64,
    pub caller: Pubkey,
    pub provider_stake_after: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct ResultCommitted {
    pub job: Pubkey,
    pub slot: u8,
    pub provider: Pubkey,
    pub commitment: [u8; 32],
}

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRevealed {
    pub job: Pubkey,
    pub slot: u8,
    pub provider: Pubkey,
    pub result_root: [u8; 32],
}

/// Tokens a vault held over the program's books went to the treasury.
#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct SurplusSwept {
    pub market: Pubkey,
    pub vault: Pubkey,
    pub amount: u64,
    pub books: u64,
    pub swept_total: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct JobFinalized {
    pub job: Pubkey,
    pub settlement: Pubkey,
    pub outcome: Outcome,
    pub result_root: [u8; 32],
    pub total_paid: u64,
    pub fee: u64,
    pub refund: u64,
    pub total_slashed: u64,
    pub bounty: u64,
}

/// A settled job's consumer accepted its result (`deliver_result`).
#[event]
#[derive(Debug, Clone, PartialEq)]
pub struct ResultDelivered {
    pub job: Pubkey,
    pub settlement: Pubkey,
    pub consumer: Pubkey,
    pub outcome: Outcome,
    pub result_root: [u8; 32],
    pub deliverer: Pubkey,
}
