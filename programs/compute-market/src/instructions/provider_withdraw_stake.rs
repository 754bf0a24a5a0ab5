use crate::constants::*;
use crate::error::MarketError;
use crate::events::StakeWithdrawn;
use crate::math;
use crate::state::{Ledger, Market, Provider};
use crate::token::{require_not_vault, transfer_out};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct ProviderWithdrawStake<'info> {
    pub owner: Signer<'info>,

    pub market: Account<'info, Market>,

    #[account(
        mut,
        seeds = [SEED_PROVIDER, market.key().as_ref(), owner.key().as_ref()],
        bump = provider.bump,
        has_one = market,
        has_one = owner,
    )]
    pub provider: Account<'info, Provider>,

    /// Any stake-mint account the owner chooses (the owner signs) but a vault.
    #[account(mut, token::mint = stake_mint, token::token_program = token_program)]
    pub destination: InterfaceAccount<'info, TokenAccount>,

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

    #[account(address = market.stake_token_program)]
    pub token_program: Interface<'info, TokenInterface>,
}

impl ProviderWithdrawStake<'_> {
    pub fn validate(&self) -> Result<()> {
        require_not_vault(&self.destination.to_account_info(), &self.market)?;
        let p = &self.provider;
        require!(p.pending_unstake > 0, MarketError::NothingToWithdraw);
        require!(
            Clock::get()?.unix_timestamp >= p.unstake_available_at,
            MarketError::CooldownActive
        );
        require!(p.bonded()? >= p.locked, MarketError::StakeLocked);
        // Defensive: `request_unstake` already keeps a provider with open claims bonded at the
        // minimum; this holds it even if that was not so (a slash, a raised minimum).
        require!(
            p.active_claims == 0 || p.bonded()? >= self.market.config.min_stake,
            MarketError::StakeBelowMinimum
        );
        Ok(())
    }

    /// Pays out everything pending after the cooldown.
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let a = ctx.accounts;
        let amount = a.provider.pending_unstake;
        a.provider.stake = math::sub(a.provider.stake, amount)?;
        a.provider.pending_unstake = 0;
        a.provider.invariant()?;
        a.stake_ledger.debit(amount)?;
        transfer_out(
            &a.market,
            &a.token_program.to_account_info(),
            &a.stake_vault.to_account_info(),
            &a.destination.to_account_info(),
            &a.stake_mint,
            amount,
        )?;
        emit!(StakeWithdrawn {
            provider: a.provider.key(),
            amount,
            stake_after: a.provider.stake,
        });
        Ok(())
    }
}
