use crate::constants::*;
use crate::error::MarketError;
use crate::events::ProviderStaked;
use crate::math;
use crate::state::{Ledger, Market, Provider};
use crate::token::transfer_in;
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct ProviderStake<'info> {
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

    /// Source of the stake; the token program checks that `owner` may spend it.
    #[account(mut, token::mint = stake_mint, token::token_program = token_program)]
    pub owner_token: InterfaceAccount<'info, TokenAccount>,

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

impl ProviderStake<'_> {
    pub fn validate(&self, amount: u64) -> Result<()> {
        require!(amount > 0, MarketError::ZeroAmount);
        Ok(())
    }

    pub fn handler(ctx: Context<Self>, amount: u64) -> Result<()> {
        let a = ctx.accounts;
        a.provider.stake = math::add(a.provider.stake, amount)?;
        a.provider.invariant()?;
        a.stake_ledger.credit(amount)?;
        transfer_in(
            &a.token_program,
            &a.owner_token,
            &a.stake_vault,
            &a.stake_mint,
            &a.owner,
            amount,
        )?;
        emit!(ProviderStaked {
            provider: a.provider.key(),
            amount,
            stake_after: a.provider.stake,
        });
        Ok(())
    }
}
