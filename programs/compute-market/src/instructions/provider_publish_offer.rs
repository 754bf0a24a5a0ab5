use crate::constants::*;
use crate::events::OfferPublished;
use crate::state::{Provider, ProviderOffer};
use anchor_lang::prelude::*;

/// A provider publishes what its worker accepts (limits, price floors, runtimes as capability
/// bits) and that it is running: `last_seen` becomes the current time. Workers call it at
/// start-up and periodically; `cmkt job why` reads it.
#[derive(Accounts)]
pub struct ProviderPublishOffer<'info> {
    pub owner: Signer<'info>,

    #[account(
        mut,
        seeds = [SEED_PROVIDER, provider.market.as_ref(), owner.key().as_ref()],
        bump = provider.bump,
        has_one = owner,
    )]
    pub provider: Account<'info, Provider>,
}

impl ProviderPublishOffer<'_> {
    pub fn handler(ctx: Context<Self>, offer: ProviderOffer, capabilities: u64) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let p = &mut ctx.accounts.provider;
        p.offer = offer;
        p.capabilities = capabilities;
        p.last_seen = now;
        emit!(OfferPublished {
            provider: p.key(),
            offer,
            capabilities,
            at: now,
        });
        Ok(())
    }
}
