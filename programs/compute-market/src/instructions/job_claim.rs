use crate::constants::*;
use crate::error::MarketError;
use crate::events::JobClaimed;
use crate::math;
use crate::state::{sortition, Job, Market, Provider, SlotState};
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

    /// CHECK: the SlotHashes sysvar (address checked), read raw by the job's first claim to fix
    /// its eligibility seed.
    #[account(address = SLOT_HASHES_SYSVAR)]
    pub slot_hashes: UncheckedAccount<'info>,
}

impl JobClaim<'_> {
    /// The job's eligibility seed: the one fixed by an earlier claim, or the one this claim
    /// fixes from the SlotHashes sysvar.
    fn seed(&self) -> Result<[u8; 32]> {
        let job = &self.job;
        if job.seed != [0; 32] {
            return Ok(job.seed);
        }
        let data = self.slot_hashes.try_borrow_data()?;
        let (slot, hash) =
            sortition::seed_entry(&data, job.seed_slot).ok_or(MarketError::SeedNotReady)?;
        Ok(sortition::job_seed(&job.key(), slot, &hash))
    }

    pub fn validate(&self) -> Result<()> {
        let clock = Clock::get()?;
        let now = clock.unix_timestamp;
        let (job, provider) = (&self.job, &self.provider);
        require!(job.commit_phase_open(now), MarketError::CommitPhaseOver);
        // The whole claim window must lie inside the commit phase: a commit is accepted up to
        // `claimed_at + claim_timeout` inclusive and only while `now < commit_deadline`, so the
        // window's last second must come before the deadline, or the provider would be slashed
        // for a window it never had.
        require!(
            math::add_i64(now, job.claim_timeout)? < job.commit_deadline,
            MarketError::ClaimWindowClosed
        );
        let owner = self.owner.key();
        require!(
            job.slot_of(&owner).is_none(),
            MarketError::DuplicateProvider
        );
        // Otherwise a second wallet could expire the claim and the same provider re-claim the
        // slot in one transaction, every timeout, and keep honest providers out for good.
        require!(
            !job.expired.contains(&owner),
            MarketError::ClaimExpiredBefore
        );
        require!(
            job.slots.iter().any(|s| s.state == SlotState::Free),
            MarketError::JobFull
        );
        // Every claim that could still expire needs room in the job's record of expiries.
        require!(
            job.expired.len() + job.count(SlotState::Claimed) < MAX_EXPIRED_CLAIMS as usize,
            MarketError::TooManyExpiredClaims
        );
        // Stake pending withdrawal does not count: otherwise `request_unstake` of all but the
        // collateral, then `[claim_job, withdraw_stake]` after the cooldown, would hold a slot
        // with only the collateral at stake.
        require!(
            provider.bonded()? >= self.market.config.min_stake,
            MarketError::InsufficientStake
        );
        require!(
            provider.free_stake()? >= job.collateral,
            MarketError::InsufficientFreeStake
        );
        // Sortition: whose turn it is depends on the stake, not on how many wallets hold it or
        // on who is fastest.
        let ticket = sortition::ticket(&self.seed()?, &owner);
        let delay = sortition::eligibility_delay(ticket, provider.bonded()?, job.stake_scale);
        require!(
            clock.slot >= math::add(job.seed_slot, delay)?,
            MarketError::NotEligibleYet
        );
        Ok(())
    }

    /// Takes the first free slot at the job's current price and locks the job's collateral from
    /// the provider's stake.
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let clock = Clock::get()?;
        let now = clock.unix_timestamp;
        let seed = ctx.accounts.seed()?;
        let a = ctx.accounts;
        let owner = a.owner.key();
        let bonded = a.provider.bonded()?;
        a.job.seed = seed;
        let job = &mut a.job;
        let index = job
            .slots
            .iter()
            .position(|s| s.state == SlotState::Free)
            .ok_or_else(|| error!(MarketError::JobFull))?;
        let price = job.price_at(now);
        let slot = &mut job.slots[index];
        slot.provider = owner;
        slot.state = SlotState::Claimed;
        slot.claimed_at = now;
        slot.claimed_slot = clock.slot;
        slot.bonded = bonded;
        slot.price = price;
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
            price,
            collateral: job.collateral,
            provider_locked_after: p.locked,
        });
        Ok(())
    }
}
