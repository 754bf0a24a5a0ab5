use crate::constants::*;
use crate::error::MarketError;
use crate::events::ClaimExpired;
use crate::math;
use crate::state::{Job, Ledger, Market, Provider, Slot, SlotState};
use crate::token::{pay, require_not_vault, transfer_out};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
#[instruction(slot: u8)]
pub struct JobExpireClaim<'info> {
    /// Anyone but the slot's holder; earns the slash bounty.
    pub caller: Signer<'info>,

    pub market: Account<'info, Market>,

    #[account(
        mut,
        seeds = [SEED_JOB, market.key().as_ref(), job.requester.as_ref(), &job.nonce.to_le_bytes()],
        bump = job.bump,
        has_one = market,
    )]
    pub job: Account<'info, Job>,

    /// The provider holding `slot` (checked in `validate`).
    #[account(mut, has_one = market)]
    pub provider: Account<'info, Provider>,

    #[account(mut, address = market.stake_vault)]
    pub stake_vault: InterfaceAccount<'info, TokenAccount>,

    /// The books of the stake vault.
    #[account(
        mut,
        has_one = market,
        constraint = stake_ledger.vault == market.stake_vault @ MarketError::WrongLedger,
    )]
    pub stake_ledger: Box<Account<'info, Ledger>>,

    #[account(address = market.stake_mint)]
    pub stake_mint: InterfaceAccount<'info, Mint>,

    /// CHECK: a stake-mint token account of the treasury (checked by `token::pay`).
    #[account(mut)]
    pub slash_treasury: UncheckedAccount<'info>,

    /// CHECK: any stake-mint token account but a market vault (checked in `validate`); the token
    /// program checks its mint during the transfer.
    #[account(mut)]
    pub bounty_to: UncheckedAccount<'info>,

    #[account(address = market.stake_token_program)]
    pub token_program: Interface<'info, TokenInterface>,
}

impl JobExpireClaim<'_> {
    pub fn validate(&self, slot: u8) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let job = &self.job;
        let s = job
            .slots
            .get(slot as usize)
            .ok_or_else(|| error!(MarketError::InvalidSlot))?;
        require!(s.state == SlotState::Claimed, MarketError::SlotNotClaimed);
        require!(
            s.provider == self.provider.owner,
            MarketError::ProviderAccountMismatch
        );
        require!(job.commit_phase_open(now), MarketError::CommitPhaseOver);
        require!(
            now > math::add_i64(s.claimed_at, job.claim_timeout)?,
            MarketError::ClaimNotExpired
        );
        require!(s.provider != self.caller.key(), MarketError::SelfExpiry);
        require_not_vault(&self.bounty_to, &self.market)
    }

    /// Slashes the collateral of a claim that was not committed in time and reopens the slot.
    pub fn handler(ctx: Context<Self>, slot: u8) -> Result<()> {
        let a = ctx.accounts;
        let collateral = a.job.collateral;
        let slashed_owner = a.job.slots[slot as usize].provider;

        a.provider.slash(collateral)?;
        a.stake_ledger.debit(collateral)?;
        a.provider.invariant()?;
        a.job.slots[slot as usize] = Slot::FREE;
        // `job_claim` keeps room for every claim that can expire (`MAX_EXPIRED_CLAIMS`), and the
        // job account was sized for that many at posting
        a.job.expired.push(slashed_owner);
        a.job.expired_slashed = math::add(a.job.expired_slashed, collateral)?;
        a.job.refresh_status();
        a.job.invariant()?;

        let bounty = math::bps_of(collateral, a.job.slash_bounty_bps)?;
        let program = a.token_program.to_account_info();
        let vault = a.stake_vault.to_account_info();
        transfer_out(
            &a.market,
            &program,
            &vault,
            &a.bounty_to,
            &a.stake_mint,
            bounty,
        )?;
        pay(
            &a.market,
            &program,
            &vault,
            &a.slash_treasury,
            &a.stake_mint,
            &a.market.treasury,
            math::sub(collateral, bounty)?,
        )?;

        emit!(ClaimExpired {
            job: a.job.key(),
            slot,
            provider: slashed_owner,
            slashed: collateral,
            bounty,
            caller: a.caller.key(),
            provider_stake_after: a.provider.stake,
        });
        Ok(())
    }
}
