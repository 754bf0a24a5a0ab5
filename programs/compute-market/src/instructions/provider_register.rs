use crate::constants::*;
use crate::error::MarketError;
use crate::events::ProviderRegistered;
use crate::state::{validate_endpoint, Market, Provider, ProviderOffer};
use anchor_lang::prelude::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct ProviderRegisterArgs {
    /// http(s) URL where the provider serves result bytes.
    pub endpoint: String,
    /// Capability bits (bit 0: runtime `wasi-p1`).
    pub capabilities: u64,
}

#[derive(Accounts)]
pub struct ProviderRegister<'info> {
    /// The provider's wallet; pays the account's rent.
    #[account(mut)]
    pub owner: Signer<'info>,

    #[account(constraint = !market.paused @ MarketError::MarketPaused)]
    pub market: Account<'info, Market>,

    #[account(
        init,
        payer = owner,
        space = Provider::SIZE,
        seeds = [SEED_PROVIDER, market.key().as_ref(), owner.key().as_ref()],
        bump,
    )]
    pub provider: Account<'info, Provider>,

    pub system_program: Program<'info, System>,
}

impl ProviderRegister<'_> {
    pub fn validate(&self, args: &ProviderRegisterArgs) -> Result<()> {
        validate_endpoint(&args.endpoint)
    }

    pub fn handler(ctx: Context<Self>, args: ProviderRegisterArgs) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let a = ctx.accounts;
        a.provider.set_inner(Provider {
            market: a.market.key(),
            owner: a.owner.key(),
            version: ACCOUNT_VERSION,
            bump: ctx.bumps.provider,
            stake: 0,
            locked: 0,
            pending_unstake: 0,
            unstake_available_at: 0,
            active_claims: 0,
            capabilities: args.capabilities,
            jobs_completed: 0,
            jobs_failed: 0,
            total_slashed: 0,
            total_earned: 0,
            registered_at: now,
            offer: ProviderOffer::default(),
            last_seen: 0,
            reserved: [0; 8],
            endpoint: args.endpoint.clone(),
        });
        emit!(ProviderRegistered {
            market: a.market.key(),
            provider: a.provider.key(),
            owner: a.owner.key(),
            endpoint: args.endpoint,
            capabilities: args.capabilities,
        });
        Ok(())
    }
}
