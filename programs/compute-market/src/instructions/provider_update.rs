use crate::constants::*;
use crate::events::ProviderUpdated;
use crate::state::{validate_endpoint, Provider};
use anchor_lang::prelude::*;

/// Fields left `None` stay as they are.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, Default)]
pub struct ProviderUpdateArgs {
    pub endpoint: Option<String>,
    pub capabilities: Option<u64>,
}

#[derive(Accounts)]
pub struct ProviderUpdate<'info> {
    pub owner: Signer<'info>,

    #[account(
        mut,
        seeds = [SEED_PROVIDER, provider.market.as_ref(), owner.key().as_ref()],
        bump = provider.bump,
        has_one = owner,
    )]
    pub provider: Account<'info, Provider>,
}

impl ProviderUpdate<'_> {
    pub fn validate(&self, args: &ProviderUpdateArgs) -> Result<()> {
        if let Some(endpoint) = &args.endpoint {
            validate_endpoint(endpoint)?;
        }
        Ok(())
    }

    pub fn handler(ctx: Context<Self>, args: ProviderUpdateArgs) -> Result<()> {
        let p = &mut ctx.accounts.provider;
        let old_endpoint = p.endpoint.clone();
        let old_capabilities = p.capabilities;
        if let Some(endpoint) = args.endpoint {
            p.endpoint = endpoint;
        }
        p.capabilities = args.capabilities.unwrap_or(old_capabilities);
        emit!(ProviderUpdated {
            provider: p.key(),
            old_endpoint,
            new_endpoint: p.endpoint.clone(),
            old_capabilities,
            new_capabilities: p.capabilities,
        });
        Ok(())
    }
}
