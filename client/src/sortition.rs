//! When a provider may claim a job (stake-weighted eligibility, `programs/.../state/sortition.rs`),
//! computed off-chain exactly as the program checks it, and a claim that waits for its turn.

use crate::rpc::{Chain, ChainError};
use crate::{ix, Job, MarketRef, Pubkey};
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

/// The first slot in which `owner`, with `bonded` stake (stake less pending withdrawals), may
/// claim a job with `seed`.
pub fn eligible_from(job: &Job, seed: &[u8; 32], owner: &Pubkey, bonded: u64) -> u64 {
    job.seed_slot.saturating_add(eligibility_delay(
        ticket(seed, owner),
        bonded,
        job.stake_scale,
    ))
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
            let job = self
                .job(address)
                .await?
                .ok_or(ChainError::Missing(*address))?;
            let provider = self
                .provider(&market.address, &me)
                .await?
                .ok_or(ChainError::Missing(market.provider(&me)))?;
            let bonded = provider.stake.saturating_sub(provider.pending_unstake);
            if let Some(seed) = self.job_seed(address, &job).await? {
                let from = eligible_from(&job, &seed, &me, bonded);
                if self.slot().await? >= from {
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
