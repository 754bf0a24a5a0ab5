use crate::constants::*;
use crate::error::MarketError;
use crate::events::ResultCommitted;
use crate::math;
use crate::state::{Job, SlotState};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct JobCommit<'info> {
    /// The provider's wallet holding a slot of the job.
    pub owner: Signer<'info>,

    #[account(
        mut,
        seeds = [SEED_JOB, job.market.as_ref(), job.requester.as_ref(), &job.nonce.to_le_bytes()],
        bump = job.bump,
    )]
    pub job: Account<'info, Job>,
}

impl JobCommit<'_> {
    pub fn validate(&self, commitment: &[u8; 32]) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let job = &self.job;
        let i = job
            .slot_of(&self.owner.key())
            .ok_or_else(|| error!(MarketError::NotAssigned))?;
        let slot = &job.slots[i];
        require!(
            slot.state == SlotState::Claimed,
            MarketError::SlotNotClaimed
        );
        require!(job.commit_phase_open(now), MarketError::CommitPhaseOver);
        require!(
            now <= math::add_i64(slot.claimed_at, job.claim_timeout)?,
            MarketError::ClaimExpired
        );
        // Another slot's commitment bytes are accepted: a commitment binds the provider that
        // opens it (`commitment_hash`), so a copy can never be revealed by its copier, whose slot
        // is then slashed as withheld. Refusing copies would let a copier who lands first block
        // the honest commit until its claim expired.
        require!(*commitment != [0; 32], MarketError::ZeroCommitment);
        Ok(())
    }

    /// Records the commitment; when it is the last one, reveals open.
    pub fn handler(ctx: Context<Self>, commitment: [u8; 32]) -> Result<()> {
        let owner = ctx.accounts.owner.key();
        let job = &mut ctx.accounts.job;
        let i = job
            .slot_of(&owner)
            .ok_or_else(|| error!(MarketError::NotAssigned))?;
        job.slots[i].commitment = commitment;
        job.slots[i].state = SlotState::Committed;
        job.refresh_status();
        job.invariant()?;
        emit!(ResultCommitted {
            job: job.key(),
            slot: i as u8,
            provider: owner,
            commitment,
        });
        Ok(())
    }
}
