use crate::error::MarketError;
use crate::events::SurplusSwept;
use crate::math;
use crate::state::{Ledger, Market};
use crate::token::pay;
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

/// Sends what one of the market's vaults holds over the program's books (tokens donated to the
/// vault, or passed to it as someone's payout account) to a token account of the treasury. The
/// books are what the program owes to requesters and providers: they never move here.
#[derive(Accounts)]
pub struct MarketSweepSurplus<'info> {
    pub authority: Signer<'info>,

    #[account(has_one = authority)]
    pub market: Box<Account<'info, Market>>,

    /// The books of `vault`.
    #[account(
        mut,
        has_one = market,
        has_one = vault,
    )]
    pub ledger: Box<Account<'info, Ledger>>,

    /// One of the market's two vaults (checked in `validate`).
    #[account(mut)]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,

    #[account(address = vault.mint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,

    /// CHECK: a token account of the treasury for the vault's mint (checked by `token::pay`).
    #[account(mut)]
    pub treasury_token: UncheckedAccount<'info>,

    /// The token program of the vault's mint (checked in `validate`).
    pub token_program: Interface<'info, TokenInterface>,
}

impl MarketSweepSurplus<'_> {
    pub fn validate(&self) -> Result<()> {
        let m = &self.market;
        let vault = self.vault.key();
        let program = self.token_program.key();
        require!(
            (vault == m.escrow_vault && program == m.payment_token_program)
                || (vault == m.stake_vault && program == m.stake_token_program),
            MarketError::NotAMarketVault
        );
        require!(
            self.ledger.surplus(self.vault.amount)? > 0,
            MarketError::NoSurplus
        );
        Ok(())
    }

    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let a = ctx.accounts;
        let amount = a.ledger.surplus(a.vault.amount)?;
        a.ledger.swept = math::add(a.ledger.swept, amount)?;
        pay(
            &a.market,
            &a.token_program.to_account_info(),
            &a.vault.to_account_info(),
            &a.treasury_token,
            &a.mint,
            &a.market.treasury,
            amount,
        )?;
        emit!(SurplusSwept {
            market: a.market.key(),
            vault: a.vault.key(),
            amount,
            books: a.ledger.books,
            swept_total: a.ledger.swept,
        });
        Ok(())
    }
}
