use crate::constants::*;
use crate::error::MarketError;
use crate::events::JobExtended;
use crate::math;
use crate::state::{Job, Ledger, Market, SlotState};
use crate::token::transfer_in;
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct JobExtendArgs {
    /// Seconds added to both the commit and the reveal deadline (0: unchanged). The commit
    /// deadline may end up at most `Job::latest_commit_deadline` (the market's
    /// `max_commit_window` after the post).
    pub extend_seconds: i64,
    /// A new price curve from now on (`None`: the curve stays). Only while no slot is held:
    /// a held slot locked its price on the curve the settlement records.
    pub reprice: Option<JobReprice>,
}

/// A job's new price curve: from the price now (rounded up), rising to `reward_per_replica` over
/// `ramp_seconds` from now. It is never below the old curve: a still-rising old ramp must not
/// end earlier than the new one.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobReprice {
    /// The new most paid per agreeing replica: at least the current one. The escrow is topped
    /// up by `(new − old) × replicas`.
    pub reward_per_replica: u64,
    /// Seconds the price takes to rise from where it stands to `reward_per_replica` (0: the
    /// maximum at once). The ramp must end more than a claim timeout before the commit deadline,
    /// and no later than the old ramp when that one is still rising.
    pub ramp_seconds: i64,
}

/// The deserialized accounts are boxed to keep `try_accounts` within an sBPF stack frame.
#[derive(Accounts)]
pub struct JobExtend<'info> {
    /// The job's requester: pays the top-up.
    pub requester: Signer<'info>,

    #[account(constraint = !market.paused @ MarketError::MarketPaused)]
    pub market: Box<Account<'info, Market>>,

    #[account(
        mut,
        seeds = [SEED_JOB, market.key().as_ref(), requester.key().as_ref(), &job.nonce.to_le_bytes()],
        bump = job.bump,
        has_one = market,
        has_one = requester,
    )]
    pub job: Box<Account<'info, Job>>,

    /// Source of the top-up; the token program checks that the requester may spend it.
    #[account(mut, token::mint = payment_mint, token::token_program = token_program)]
    pub requester_token: Box<InterfaceAccount<'info, TokenAccount>>,

    #[account(mut, address = market.escrow_vault)]
    pub escrow_vault: Box<InterfaceAccount<'info, TokenAccount>>,

    /// The books of the escrow vault.
    #[account(
        mut,
        has_one = market,
        constraint = escrow_ledger.vault == market.escrow_vault @ MarketError::WrongLedger,
    )]
    pub escrow_ledger: Box<Account<'info, Ledger>>,

    #[account(address = market.payment_mint)]
    pub payment_mint: Box<InterfaceAccount<'info, Mint>>,

    #[account(address = market.payment_token_program)]
    pub token_program: Interface<'info, TokenInterface>,
}

impl JobExtend<'_> {
    pub fn validate(&self, args: &JobExtendArgs) -> Result<()> {
        let job = &self.job;
        let now = Clock::get()?.unix_timestamp;
        // Once reveals may open, moving the deadlines would change a phase already under way.
        require!(job.commit_phase_open(now), MarketError::CommitPhaseOver);
        require!(
            args.extend_seconds > 0 || args.reprice.is_some(),
            MarketError::NothingToExtend
        );
        require!(args.extend_seconds >= 0, MarketError::InvalidCommitWindow);
        // Committed providers wait for the deadline with their collateral locked: the market's
        // longest commit window at the post bounds that however often a job grows.
        let deadline = math::add_i64(job.commit_deadline, args.extend_seconds)?;
        require!(
            deadline <= job.latest_commit_deadline,
            MarketError::InvalidCommitWindow
        );
        if let Some(r) = args.reprice {
            require!(
                r.reward_per_replica >= job.reward_per_replica,
                MarketError::RewardLowered
            );
            require!(
                job.slots.iter().all(|s| s.state == SlotState::Free),
                MarketError::PriceLocked
            );
            // the same rule as at the post: a claim must still be able to lock the maximum
            require!(
                r.ramp_seconds >= 0
                    && (r.ramp_seconds == 0
                        || math::add_i64(math::add_i64(now, r.ramp_seconds)?, job.claim_timeout)?
                            < deadline),
                MarketError::InvalidRamp
            );
            // The new curve may not fall below the old one at any later moment: a worker waiting
            // for the time the old curve reaches its floor must find at least that price then.
            // Both start where the price stands (the new one rounded up), so the new ramp must
            // reach its maximum no later than a still-rising old one reaches its own.
            let old_end = job.ramp_start.saturating_add(job.ramp_seconds);
            let rising = job.ramp_seconds > 0
                && job.min_reward_per_replica < job.reward_per_replica
                && now < old_end;
            require!(
                !rising || math::add_i64(now, r.ramp_seconds)? <= old_end,
                MarketError::InvalidRamp
            );
            math::mul(r.reward_per_replica, job.replicas as u64)?;
        }
        Ok(())
    }

    /// Moves the deadlines; with a new curve, restarts the ramp from the current price and
    /// escrows what the higher maximum adds.
    pub fn handler(ctx: Context<Self>, args: JobExtendArgs) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = ctx.accounts;
        let job = &mut a.job;
        let old_commit_deadline = job.commit_deadline;
        let old_reward = job.reward_per_replica;
        job.commit_deadline = math::add_i64(job.commit_deadline, args.extend_seconds)?;
        job.reveal_deadline = math::add_i64(job.reveal_deadline, args.extend_seconds)?;
        let mut top_up = 0;
        if let Some(r) = args.reprice {
            // No slot is held (validate), so no locked price was taken from the old curve. The
            // new one starts at the price now rounded up and, by validate, rises at least as
            // fast as the old one would have: it is nowhere below it.
            let from = math::ramp_price_ceil(
                job.min_reward_per_replica,
                job.reward_per_replica,
                job.ramp_start,
                job.ramp_seconds,
                now,
            );
            job.min_reward_per_replica = if r.ramp_seconds == 0 {
                r.reward_per_replica
            } else {
                from
            };
            job.ramp_start = now;
            job.ramp_seconds = r.ramp_seconds;
            job.reward_per_replica = r.reward_per_replica;
            let escrow = math::mul(r.reward_per_replica, job.replicas as u64)?;
            top_up = math::sub(escrow, job.escrow)?;
            job.escrow = escrow;
        }
        job.invariant()?;
        if top_up > 0 {
            a.escrow_ledger.credit(top_up)?;
            transfer_in(
                &a.token_program,
                &a.requester_token,
                &a.escrow_vault,
                &a.payment_mint,
                &a.requester,
                top_up,
            )?;
        }
        let job = &a.job;
        emit!(JobExtended {
            job: job.key(),
            old_commit_deadline,
            commit_deadline: job.commit_deadline,
            reveal_deadline: job.reveal_deadline,
            old_reward_per_replica: old_reward,
            reward_per_replica: job.reward_per_replica,
            min_reward_per_replica: job.min_reward_per_replica,
            ramp_start: job.ramp_start,
            ramp_seconds: job.ramp_seconds,
            top_up,
            escrow_after: job.escrow,
        });
        Ok(())
    }
}
