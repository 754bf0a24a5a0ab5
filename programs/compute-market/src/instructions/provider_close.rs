use crate::constants::*;
use crate::error::MarketError;
use crate::events::ProviderClosed;
use crate::state::Provider;
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct ProviderClose<'info> {
    /// Receives the account's rent.
    #[account(mut)]
    pub owner: Signer<'info>,

    #[account(
        mut,
        close = owner,
        seeds = [SEED_PROVIDER, provider.market.as_ref(), owner.key().as_ref()],
        bump = provider.bump,
        has_one = owner,
    )]
    pub provider: Account<'info, Provider>,
}

impl ProviderClose<'_> {
    pub fn validate(&self) -> Result<()> {
        let p = &self.provider;
        require!(
            p.stake == 0 && p.locked == 0 && p.pending_unstake == 0 && p.active_claims == 0,
            MarketError::ProviderBusy
        );
        Ok(())
    }

    pub fn handler(ctx: Context<Self>) -> Result<()> {
        emit!(ProviderClosed {
            provider: ctx.accounts.provider.key(),
            owner: ctx.accounts.owner.key(),
        });
        Ok(())
    }
}
