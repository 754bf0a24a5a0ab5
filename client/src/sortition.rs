//! When a provider may claim a job (stake-weighted eligibility, `programs/.../state/sortition.rs`),
//! computed off-chain exactly as the program checks it, and a claim that waits for its turn.

use crate::rpc::{Chain, ChainError};
use crate::{ix, Job, JobStatus, MarketRef, Provider, Pubkey};
use compute_market::constants::SLOT_HASHES_SYSVAR;
pub use compute_market::state::sortition::{
    eligibility_delay, job_seed, neg_log2_q32, seed_entry, ticket,
};
use solana_sdk::{signature::Keypair, signer::Signer};
use std::time::Duration;

/// The seed of the job at `address`: the one its first claim fixed, or the one the next claim
/// will fix given the SlotHashes sysvar's raw data. `None` while the seed slot is ahead.
pub fn seed_of(address: &Pubkey, job: &Job, slot_hashes: &[u8]) -> Option<[u8; 32]> {
    if job.seed != [0; 32] {
        return Some(job.seed);
    }
    let (slot, hash) = seed_entry(slot_hashes, job.seed_slot)?;
    Some(job_seed(address, slot, &hash))
}

/// Stake that counts for a provider's turn and for the market minimum: its stake less what is
/// pending withdrawal (`Provider::bonded` on the chain).
pub fn bonded(p: &Provider) -> u64 {
    p.stake.saturating_sub(p.pending_unstake)
}

/// Where a provider stands in a job (`Chain::turn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// The job account is gone (settled or cancelled).
    Gone,
    /// The job takes no more claims (every slot held, or reveals open).
    Closed,
    /// The owner has no provider account in the market.
    Unregistered,
    /// The job's seed slot is still ahead.
    SeedAhead,
    /// The provider may claim from slot `from`; the cluster is at `now`.
    At { from: u64, now: u64, seed_slot: u64 },
}

/// The first slot in which `owner`, with `bonded` stake (stake less pending withdrawals), may
/// claim a job with `seed`.
pub fn eligible_from(job: &Job, seed: &[u8; 32], owner: &Pubkey, bonded: u64) -> u64 {
    turn_slot(seed, job.seed_slot, job.stake_scale, owner, bonded)
}

/// The first slot in which `owner` with `bonded` stake may claim a job with `seed`, `seed_slot`
/// and `stake_scale` (what a settlement records, so an auditor can recheck every claim).
pub fn turn_slot(
    seed: &[u8; 32],
    seed_slot: u64,
    stake_scale: u64,
    owner: &Pubkey,
    bonded: u64,
) -> u64 {
    seed_slot.saturating_add(eligibility_delay(ticket(seed, owner), bonded, stake_scale))
}

impl Chain {
    /// The cluster's current (confirmed) slot.
    pub async fn slot(&self) -> Result<u64, ChainError> {
        self.rpc
            .get_slot()
            .await
            .map_err(|e| self.rpc_error(e, &[]))
    }

    /// The SlotHashes sysvar's raw data.
    pub async fn slot_hashes(&self) -> Result<Vec<u8>, ChainError> {
        Ok(self
            .account(&SLOT_HASHES_SYSVAR)
            .await?
            .ok_or(ChainError::Missing(SLOT_HASHES_SYSVAR))?
            .data)
    }

    /// The job's seed as the next claim sees it (`None` while its seed slot is ahead).
    pub async fn job_seed(
        &self,
        address: &Pubkey,
        job: &Job,
    ) -> Result<Option<[u8; 32]>, ChainError> {
        if job.seed != [0; 32] {
            return Ok(Some(job.seed));
        }
        Ok(seed_of(address, job, &self.slot_hashes().await?))
    }

    /// Where `owner` stands in the job at `address` now: the job, the owner's provider account
    /// in `market` (its bonded stake sets the turn) and the slot, read from the chain.
    pub async fn turn(
        &self,
        market: &Pubkey,
        address: &Pubkey,
        owner: &Pubkey,
    ) -> Result<Turn, ChainError> {
        let Some(job) = self.job(address).await? else {
            return Ok(Turn::Gone);
        };
        if job.status != JobStatus::Open {
            return Ok(Turn::Closed);
        }
        let Some(provider) = self.provider(market, owner).await? else {
            return Ok(Turn::Unregistered);
        };
        let Some(seed) = self.job_seed(address, &job).await? else {
            return Ok(Turn::SeedAhead);
        };
        Ok(Turn::At {
            from: eligible_from(&job, &seed, owner, bonded(&provider)),
            now: self.slot().await?,
            seed_slot: job.seed_slot,
        })
    }

    /// Waits for `owner`'s turn in the job at `address` and claims a slot (reading the job and
    /// the provider's stake again on every look). Gives up after `timeout`, or at once with the
    /// program's error when the claim is refused for another reason than the turn (a full job, a
    /// closed window, ...).
    pub async fn claim_when_eligible(
        &self,
        market: &MarketRef,
        address: &Pubkey,
        owner: &Keypair,
        timeout: Duration,
    ) -> Result<u64, ChainError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let me = owner.pubkey();
        loop {
            match self.turn(&market.address, address, &me).await? {
                Turn::Gone => return Err(ChainError::Missing(*address)),
                Turn::Unregistered => return Err(ChainError::Missing(market.provider(&me))),
                Turn::At { from, now, .. } if now >= from => {
                    match self
                        .send(&[ix::claim_job(&me, market, address)], owner, &[])
                        .await
                    {
                        Ok(_) => return Ok(from),
                        // the node's slot was behind the one read: look again
                        Err(e) if e.program_error() == Some("NotEligibleYet") => {}
                        Err(e) => return Err(e),
                    }
                }
                // a closed job: the claim's own error says why
                Turn::Closed => {
                    self.send(&[ix::claim_job(&me, market, address)], owner, &[])
                        .await?;
                    return Ok(0);
                }
                Turn::SeedAhead | Turn::At { .. } => {}
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ChainError::Rpc {
                    url: self.url(),
                    message: format!("{me} was not eligible for job {address} within {timeout:?}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_seed_wins_over_the_sysvar() {
        let mut job = crate::lookup::sample_job(&Pubkey::new_unique(), 1);
        let address = Pubkey::new_unique();
        job.seed_slot = 10;
        let mut hashes = 1u64.to_le_bytes().to_vec();
        hashes.extend_from_slice(&10u64.to_le_bytes());
        hashes.extend_from_slice(&[7; 32]);
        let from_sysvar = seed_of(&address, &job, &hashes).unwrap();
        assert_eq!(from_sysvar, job_seed(&address, 10, &[7; 32]));
        job.seed = [1; 32];
        assert_eq!(seed_of(&address, &job, &hashes), Some([1; 32]));
        job.seed = [0; 32];
        job.seed_slot = 11;
        assert_eq!(
            seed_of(&address, &job, &hashes),
            None,
            "slot 11 not reached"
        );
    }
}
