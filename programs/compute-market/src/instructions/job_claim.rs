use crate::constants::*;
use crate::error::MarketError;
use crate::events::JobClaimed;
use crate::math;
use crate::state::{Job, Market, Provider, SlotState};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct JobClaim<'info> {
    /// The provider's wallet.
    pub owner: Signer<'info>,

    #[account(constraint = !market.paused @ MarketError::MarketPaused)]
    pub market: Account<'info, Market>,

    #[account(
        mut,
        seeds = [SEED_JOB, market.key().as_ref(), job.requester.as_ref(), &job.nonce.to_le_bytes()],
        bump = job.bump,
        has_one = market,
    )]
    pub job: Account<'info, Job>,

    #[account(
        mut,
        seeds = [SEED_PROVIDER, market.key().as_ref(), owner.key().as_ref()],
        bump = provider.bump,
        has_one = market,
        has_one = owner,
    )]
    pub provider: Account<'info, Provider>,
}

impl JobClaim<'_> {
    pub fn validate(&self) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let (job, provider) = (&self.job, &self.provider);
        require!(job.commit_phase_open(now), MarketError::CommitPhaseOver);
        // A claim must be able to commit before the deadline, or the provider would be slashed
        // for a window it never had.
        require!(
            math::add_i64(now, job.claim_timeout)? <= job.commit_deadline,
            MarketError::ClaimWindowClosed
        );
        require!(
            job.slot_of(&self.owner.key()).is_none(),
            MarketError::DuplicateProvider
        );
        require!(
            job.slots.iter().any(|s| s.state == SlotState::Free),
            MarketError::JobFull
        );
        require!(
            provider.stake >= self.market.config.min_stake,
            MarketError::InsufficientStake
        );
        require!(
            provider.free_stake()? >= job.collateral,
            MarketError::InsufficientFreeStake
        );
        Ok(())
    }

    /// Takes the first free slot and locks the job's collateral from the provider's stake.
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = ctx.accounts;
        let owner = a.owner.key();
        let job = &mut a.job;
        let index = job
            .slots
            .iter()
            .position(|s| s.state == SlotState::Free)
            .ok_or_else(|| error!(MarketError::JobFull))?;
        let slot = &mut job.slots[index];
        slot.provider = owner;
        slot.state = SlotState::Claimed;
        slot.claimed_at = now;
        job.refresh_status();
        job.invariant()?;

        let p = &mut a.provider;
        p.locked = math::add(p.locked, job.collateral)?;
        p.active_claims = p
            .active_claims
            .checked_add(1)
            .ok_or_else(|| error!(MarketError::MathOverflow))?;
        p.invariant()?;

        emit!(JobClaimed {
            job: job.key(),
            slot: index as u8,
            provider: owner,
            collateral: job.collateral,
            provider_locked_after: p.locked,
        });
        Ok(())
    }
}
