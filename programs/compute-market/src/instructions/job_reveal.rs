use crate::constants::*;
use crate::error::MarketError;
use crate::events::ResultRevealed;
use crate::state::{commitment_hash, Job, SlotState};
use anchor_lang::prelude::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct JobRevealArgs {
    /// The result root committed to.
    pub result_root: [u8; 32],
    /// The salt committed with it.
    pub salt: [u8; 32],
}

#[derive(Accounts)]
pub struct JobReveal<'info> {
    /// The provider's wallet holding a committed slot of the job.
    pub owner: Signer<'info>,

    #[account(
        mut,
        seeds = [SEED_JOB, job.market.as_ref(), job.requester.as_ref(), &job.nonce.to_le_bytes()],
        bump = job.bump,
    )]
    pub job: Account<'info, Job>,
}

impl JobReveal<'_> {
    pub fn validate(&self, args: &JobRevealArgs) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let job = &self.job;
        let owner = self.owner.key();
        let i = job
            .slot_of(&owner)
            .ok_or_else(|| error!(MarketError::NotAssigned))?;
        require!(now < job.reveal_deadline, MarketError::RevealDeadlinePassed);
        require!(job.reveal_phase_open(now), MarketError::RevealNotOpen);
        require!(
            job.slots[i].state == SlotState::Committed,
            MarketError::NotCommitted
        );
        require!(
            commitment_hash(&job.key(), &owner, &args.result_root, &args.salt)
                == job.slots[i].commitment,
            MarketError::CommitmentMismatch
        );
        Ok(())
    }

    /// Opens the commitment. Finalization is a separate instruction that a client may append
    /// to the same transaction after the last reveal.
    pub fn handler(ctx: Context<Self>, args: JobRevealArgs) -> Result<()> {
        let owner = ctx.accounts.owner.key();
        let job = &mut ctx.accounts.job;
        let i = job
            .slot_of(&owner)
            .ok_or_else(|| error!(MarketError::NotAssigned))?;
        job.slots[i].result_root = args.result_root;
        job.slots[i].state = SlotState::Revealed;
        job.invariant()?;
        emit!(ResultRevealed {
            job: job.key(),
            slot: i as u8,
            provider: owner,
            result_root: args.result_root,
        });
        Ok(())
    }
}
