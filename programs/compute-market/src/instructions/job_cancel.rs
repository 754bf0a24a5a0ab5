use crate::constants::*;
use crate::error::MarketError;
use crate::events::JobCancelled;
use crate::state::{Job, Market, SlotState};
use crate::token::{require_not_vault, transfer_out};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct JobCancel<'info> {
    /// Receives the job account's lamports (rent and settlement deposit).
    #[account(mut)]
    pub requester: Signer<'info>,

    pub market: Account<'info, Market>,

    #[account(
        mut,
        close = requester,
        seeds = [SEED_JOB, market.key().as_ref(), requester.key().as_ref(), &job.nonce.to_le_bytes()],
        bump = job.bump,
        has_one = market,
        has_one = requester,
    )]
    pub job: Account<'info, Job>,

    /// Any payment-mint account the requester chooses (the requester signs) but a vault.
    #[account(mut, token::mint = payment_mint, token::token_program = token_program)]
    pub refund_to: InterfaceAccount<'info, TokenAccount>,

    #[account(mut, address = market.escrow_vault)]
    pub escrow_vault: InterfaceAccount<'info, TokenAccount>,

    #[account(address = market.payment_mint)]
    pub payment_mint: InterfaceAccount<'info, Mint>,

    #[account(address = market.payment_token_program)]
    pub token_program: Interface<'info, TokenInterface>,
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

    /// Refunds the whole escrow and closes the job. Allowed while no slot is held (including after
    /// every claim expired).
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let a = ctx.accounts;
        let refund = a.job.escrow;
        transfer_out(
            &a.market,
            &a.token_program.to_account_info(),
            &a.escrow_vault.to_account_info(),
            &a.refund_to.to_account_info(),
            &a.payment_mint,
            refund,
        )?;
        emit!(JobCancelled {
            job: a.job.key(),
            refund,
        });
        Ok(())
    }
}
