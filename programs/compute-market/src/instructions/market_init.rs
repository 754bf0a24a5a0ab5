use crate::constants::*;
use crate::events::MarketInitialized;
use crate::state::{Ledger, Market, MarketConfig};
use crate::token::check_mint_extensions;
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct MarketInitArgs {
    /// Distinguishes several markets of one authority (PDA seed).
    pub market_id: u64,
    /// Wallet whose associated token accounts receive fees and slashes.
    pub treasury: Pubkey,
    /// The market's rules.
    pub config: MarketConfig,
}

#[derive(Accounts)]
#[instruction(args: MarketInitArgs)]
pub struct MarketInit<'info> {
    /// Pays for the accounts and becomes the market authority.
    #[account(mut)]
    pub authority: Signer<'info>,

    #[account(
        init,
        payer = authority,
        space = Market::SIZE,
        seeds = [SEED_MARKET, authority.key().as_ref(), &args.market_id.to_le_bytes()],
        bump,
    )]
    pub market: Box<Account<'info, Market>>,

    #[account(mint::token_program = payment_token_program)]
    pub payment_mint: Box<InterfaceAccount<'info, Mint>>,

    #[account(mint::token_program = stake_token_program)]
    pub stake_mint: Box<InterfaceAccount<'info, Mint>>,

    #[account(
        init,
        payer = authority,
        seeds = [SEED_ESCROW_VAULT, market.key().as_ref()],
        bump,
        token::mint = payment_mint,
        token::authority = market,
        token::token_program = payment_token_program,
    )]
    pub escrow_vault: Box<InterfaceAccount<'info, TokenAccount>>,

    #[account(
        init,
        payer = authority,
        seeds = [SEED_STAKE_VAULT, market.key().as_ref()],
        bump,
        token::mint = stake_mint,
        token::authority = market,
        token::token_program = stake_token_program,
    )]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,

    /// The books of the escrow vault.
    #[account(
        init,
        payer = authority,
        space = Ledger::SIZE,
        seeds = [SEED_LEDGER, escrow_vault.key().as_ref()],
        bump,
    )]
    pub escrow_ledger: Box<Account<'info, Ledger>>,

    /// The books of the stake vault.
    #[account(
        init,
        payer = authority,
        space = Ledger::SIZE,
        seeds = [SEED_LEDGER, stake_vault.key().as_ref()],
        bump,
    )]
    pub stake_ledger: Box<Account<'info, Ledger>>,

    pub payment_token_program: Interface<'info, TokenInterface>,
    pub stake_token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

impl MarketInit<'_> {
    pub fn validate(&self, args: &MarketInitArgs) -> Result<()> {
        args.config.validate()?;
        check_mint_extensions(&self.payment_mint)?;
        check_mint_extensions(&self.stake_mint)
    }

    pub fn handler(ctx: Context<Self>, args: MarketInitArgs) -> Result<()> {
        let a = ctx.accounts;
        let market = a.market.key();
        a.escrow_ledger.set_inner(Ledger::new(
            market,
            a.escrow_vault.key(),
            ctx.bumps.escrow_ledger,
        ));
        a.stake_ledger.set_inner(Ledger::new(
            market,
            a.stake_vault.key(),
            ctx.bumps.stake_ledger,
        ));
        a.market.set_inner(Market {
            version: ACCOUNT_VERSION,
            bump: ctx.bumps.market,
            escrow_vault_bump: ctx.bumps.escrow_vault,
            stake_vault_bump: ctx.bumps.stake_vault,
            paused: false,
            authority: a.authority.key(),
            market_id: args.market_id,
            payment_mint: a.payment_mint.key(),
            payment_token_program: a.payment_token_program.key(),
            stake_mint: a.stake_mint.key(),
            stake_token_program: a.stake_token_program.key(),
            escrow_vault: a.escrow_vault.key(),
            stake_vault: a.stake_vault.key(),
            treasury: args.treasury,
            config: args.config,
            reserved: [0; 64],
        });
        emit!(MarketInitialized {
            market: a.market.key(),
            authority: a.authority.key(),
            payment_mint: a.payment_mint.key(),
            stake_mint: a.stake_mint.key(),
            treasury: args.treasury,
            config: args.config,
        });
        Ok(())
    }
}
