use crate::events::MarketUpdated;
use crate::state::{Market, MarketConfig};
use anchor_lang::prelude::*;

/// Fields left `None` stay as they are.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, Default)]
pub struct MarketUpdateArgs {
    /// New rules (validated as a whole). Jobs already posted keep their fee and collateral.
    pub config: Option<MarketConfig>,
    /// Pause or resume new jobs, claims and registrations.
    pub paused: Option<bool>,
    /// New treasury wallet.
    pub treasury: Option<Pubkey>,
}

#[derive(Accounts)]
pub struct MarketUpdate<'info> {
    pub authority: Signer<'info>,

    #[account(mut, has_one = authority)]
    pub market: Account<'info, Market>,
}

impl MarketUpdate<'_> {
    pub fn validate(&self, args: &MarketUpdateArgs) -> Result<()> {
        if let Some(config) = &args.config {
            config.validate()?;
        }
        Ok(())
    }

    pub fn handler(ctx: Context<Self>, args: MarketUpdateArgs) -> Result<()> {
        let market = &mut ctx.accounts.market;
        let (old_config, old_paused, old_treasury) =
            (market.config, market.paused, market.treasury);
        market.config = args.config.unwrap_or(old_config);
        market.paused = args.paused.unwrap_or(old_paused);
        market.treasury = args.treasury.unwrap_or(old_treasury);
        emit!(MarketUpdated {
            market: market.key(),
            old_config,
            new_config: market.config,
            old_paused,
            new_paused: market.paused,
            old_treasury,
            new_treasury: market.treasury,
        });
        Ok(())
    }
}
