use crate::constants::*;
use crate::error::MarketError;
use crate::events::JobCancelled;
use crate::state::{Job, Ledger, Market, Outcome, Settlement, SlotState};
use crate::token::{require_not_vault, transfer_out};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct JobCancel<'info> {
    /// Pays the settlement record's rent and receives the job account's lamports (its rent and
    /// the settlement deposit, which covers that rent).
    #[account(mut)]
    pub requester: Signer<'info>,

    pub market: Box<Account<'info, Market>>,

    #[account(
        mut,
        close = requester,
        seeds = [SEED_JOB, market.key().as_ref(), requester.key().as_ref(), &job.nonce.to_le_bytes()],
        bump = job.bump,
        has_one = market,
        has_one = requester,
    )]
    pub job: Box<Account<'info, Job>>,

    /// A cancelled job leaves a record too: it names the providers whose claims expired and
    /// what they lost, so every slash stays attributed.
    #[account(
        init,
        payer = requester,
        space = Settlement::space_for(job.replicas, job.expired.len(), job.consumer.as_ref()),
        seeds = [SEED_SETTLEMENT, job.key().as_ref()],
        bump,
    )]
    pub settlement: Box<Account<'info, Settlement>>,

    /// Any payment-mint account the requester chooses (the requester signs) but a vault.
    #[account(mut, token::mint = payment_mint, token::token_program = token_program)]
    pub refund_to: Box<InterfaceAccount<'info, TokenAccount>>,

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

    pub system_program: Program<'info, System>,
}

impl JobCancel<'_> {
    pub fn validate(&self) -> Result<()> {
        require_not_vault(&self.refund_to.to_account_info(), &self.market)?;
        require!(
            self.job.slots.iter().all(|s| s.state == SlotState::Free),
            MarketError::JobAlreadyClaimed
        );
        Ok(())
    }

    /// Refunds the whole escrow, records the cancellation and closes the job. Allowed while no
    /// slot is held (including after every claim expired).
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let clock = Clock::get()?;
        let a = ctx.accounts;
        let refund = a.job.escrow;
        a.escrow_ledger.debit(refund)?;
        transfer_out(
            &a.market,
            &a.token_program.to_account_info(),
            &a.escrow_vault.to_account_info(),
            &a.refund_to.to_account_info(),
            &a.payment_mint,
            refund,
        )?;
        let mut record = Settlement::of_job(
            &a.job,
            a.job.key(),
            ctx.bumps.settlement,
            a.requester.key(),
            &clock,
        );
        record.outcome = Outcome::Cancelled;
        record.refund = refund;
        require!(record.balances(), MarketError::InvariantViolated);
        a.settlement.set_inner(record);
        emit!(JobCancelled {
            job: a.job.key(),
            settlement: a.settlement.key(),
            refund,
            expired_slashed: a.job.expired_slashed,
        });
        Ok(())
    }
}
