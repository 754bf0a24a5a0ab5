//! Program-derived addresses. Seeds come from `compute_market::constants`.

use crate::{Pubkey, PROGRAM_ID};
use compute_market::constants::*;

fn find(seeds: &[&[u8]]) -> Pubkey {
    Pubkey::find_program_address(seeds, &PROGRAM_ID).0
}

/// `["market", authority, market_id]`.
pub fn market(authority: &Pubkey, market_id: u64) -> Pubkey {
    find(&[SEED_MARKET, authority.as_ref(), &market_id.to_le_bytes()])
}

/// `["provider", market, owner]`.
pub fn provider(market: &Pubkey, owner: &Pubkey) -> Pubkey {
    find(&[SEED_PROVIDER, market.as_ref(), owner.as_ref()])
}

/// `["job", market, requester, nonce]`.
pub fn job(market: &Pubkey, requester: &Pubkey, nonce: u64) -> Pubkey {
    find(&[
        SEED_JOB,
        market.as_ref(),
        requester.as_ref(),
        &nonce.to_le_bytes(),
    ])
}

/// `["settlement", job]`.
pub fn settlement(job: &Pubkey) -> Pubkey {
    find(&[SEED_SETTLEMENT, job.as_ref()])
}

/// `["escrow_vault", market]`.
pub fn escrow_vault(market: &Pubkey) -> Pubkey {
    find(&[SEED_ESCROW_VAULT, market.as_ref()])
}

/// `["stake_vault", market]`.
pub fn stake_vault(market: &Pubkey) -> Pubkey {
    find(&[SEED_STAKE_VAULT, market.as_ref()])
}
