use crate::constants::*;
use crate::error::MarketError;
use crate::events::UnstakeRequested;
use crate::math;
use crate::state::{Market, Provider};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct ProviderRequestUnstake<'info> {
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
}

impl ProviderRequestUnstake<'_> {
    pub fn validate(&self, amount: u64) -> Result<()> {
        require!(amount > 0, MarketError::ZeroAmount);
        let p = &self.provider;
        require!(
            amount <= p.free_stake()?,
            MarketError::InsufficientFreeStake
        );
        // While claims are open the provider must stay bonded at the market minimum, the level
        // it claimed at.
        require!(
            p.active_claims == 0 || math::sub(p.bonded()?, amount)? >= self.market.config.min_stake,
            MarketError::StakeBelowMinimum
        );
        Ok(())
    }

    /// Moves `amount` of free stake into `pending_unstake` and (re)starts the cooldown.
    pub fn handler(ctx: Context<Self>, amount: u64) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = ctx.accounts;
        let p = &mut a.provider;
        p.pending_unstake = math::add(p.pending_unstake, amount)?;
        p.unstake_available_at = math::add_i64(now, a.market.config.unstake_cooldown)?;
        p.invariant()?;
        emit!(UnstakeRequested {
            provider: p.key(),
            amount,
            pending_after: p.pending_unstake,
            available_at: p.unstake_available_at,
        });
        Ok(())
    }
}
