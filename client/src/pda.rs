//! Program-derived addresses of a deployment of the program at `program`. Seeds come from
//! `compute_market::constants`. [`crate::MarketRef`] has shorthands for the ones under a market.

use crate::Pubkey;
use compute_market::constants::*;

fn find(program: &Pubkey, seeds: &[&[u8]]) -> Pubkey {
    Pubkey::find_program_address(seeds, program).0
}

/// `["market", authority, market_id]`.
pub fn market(program: &Pubkey, authority: &Pubkey, market_id: u64) -> Pubkey {
    find(
        program,
        &[SEED_MARKET, authority.as_ref(), &market_id.to_le_bytes()],
    )
}

/// `["provider", market, owner]`.
pub fn provider(program: &Pubkey, market: &Pubkey, owner: &Pubkey) -> Pubkey {
    find(program, &[SEED_PROVIDER, market.as_ref(), owner.as_ref()])
}

/// `["job", market, requester, nonce]`.
pub fn job(program: &Pubkey, market: &Pubkey, requester: &Pubkey, nonce: u64) -> Pubkey {
    find(
        program,
        &[
            SEED_JOB,
            market.as_ref(),
            requester.as_ref(),
            &nonce.to_le_bytes(),
        ],
    )
}

/// `["settlement", job]`.
pub fn settlement(program: &Pubkey, job: &Pubkey) -> Pubkey {
    find(program, &[SEED_SETTLEMENT, job.as_ref()])
}

/// `["escrow_vault", market]`.
pub fn escrow_vault(program: &Pubkey, market: &Pubkey) -> Pubkey {
    find(program, &[SEED_ESCROW_VAULT, market.as_ref()])
}

/// `["ledger", vault]`: the program's books of a market vault.
pub fn ledger(program: &Pubkey, vault: &Pubkey) -> Pubkey {
    find(program, &[SEED_LEDGER, vault.as_ref()])
}

/// `["stake_vault", market]`.
pub fn stake_vault(program: &Pubkey, market: &Pubkey) -> Pubkey {
    find(program, &[SEED_STAKE_VAULT, market.as_ref()])
}

/// `["delivery", market, consumer, prefix]`: the signer of every call `deliver_result` makes to
/// the consumer program `consumer` with the data prefix `prefix` in `market`.
pub fn delivery_authority(
    program: &Pubkey,
    market: &Pubkey,
    consumer: &Pubkey,
    prefix: &[u8],
) -> Pubkey {
    compute_market::state::delivery_authority(program, market, consumer, prefix).0
}
