//! Token movements and mint checks shared by the instructions.

use crate::error::MarketError;
use crate::state::Market;
use anchor_lang::prelude::*;
use anchor_spl::token_interface::spl_token_2022::extension::{
    BaseStateWithExtensions, ExtensionType, StateWithExtensions,
};
use anchor_spl::token_interface::{
    self, spl_token_2022, Mint, TokenAccount, TokenInterface, TransferChecked,
};

/// Token-2022 mint extensions that leave amounts and custody exactly as with a plain mint.
/// Anything else (transfer fees, hooks, permanent delegates, confidential transfers,
/// non-transferable, pausable, default-frozen accounts, a mint close authority that could close
/// the mint and re-create it with other extensions, ...) could make the vault hold less than the
/// program's books say, so such mints are refused. A freeze authority is accepted (most stable
/// coins have one); the market's users trust its holder not to freeze their accounts.
const ALLOWED_MINT_EXTENSIONS: &[ExtensionType] = &[
    ExtensionType::MetadataPointer,
    ExtensionType::TokenMetadata,
    ExtensionType::GroupPointer,
    ExtensionType::GroupMemberPointer,
    ExtensionType::TokenGroup,
    ExtensionType::TokenGroupMember,
];

/// Refuses mints whose extensions would break escrow accounting.
pub fn check_mint_extensions(mint: &InterfaceAccount<Mint>) -> Result<()> {
    let info = mint.to_account_info();
    if *info.owner != spl_token_2022::ID {
        return Ok(());
    }
    let data = info.try_borrow_data()?;
    let state = StateWithExtensions::<spl_token_2022::state::Mint>::unpack(&data)?;
    for ext in state.get_extension_types()? {
        require!(
            ALLOWED_MINT_EXTENSIONS.contains(&ext),
            MarketError::UnsupportedMintExtension
        );
    }
    Ok(())
}

/// Moves `amount` from a user's token account, signed by the user.
pub fn transfer_in<'info>(
    token_program: &Interface<'info, TokenInterface>,
    from: &InterfaceAccount<'info, TokenAccount>,
    to: &InterfaceAccount<'info, TokenAccount>,
    mint: &InterfaceAccount<'info, Mint>,
    authority: &Signer<'info>,
    amount: u64,
) -> Result<()> {
    token_interface::transfer_checked(
        CpiContext::new(
            token_program.key(),
            TransferChecked {
                from: from.to_account_info(),
                mint: mint.to_account_info(),
                to: to.to_account_info(),
                authority: authority.to_account_info(),
            },
        ),
        amount,
        mint.decimals,
    )
}

/// Moves `amount` out of one of the market's vaults, signed by the market PDA.
/// A zero amount is a no-op so callers need not special-case it.
pub fn transfer_out<'info>(
    market: &Account<'info, Market>,
    token_program: &AccountInfo<'info>,
    vault: &AccountInfo<'info>,
    to: &AccountInfo<'info>,
    mint: &InterfaceAccount<'info, Mint>,
    amount: u64,
) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    let id = market.market_id.to_le_bytes();
    let bump = [market.bump];
    let seeds = market.signer_seeds(&id, &bump);
    token_interface::transfer_checked(
        CpiContext::new_with_signer(
            token_program.key(),
            TransferChecked {
                from: vault.clone(),
                mint: mint.to_account_info(),
                to: to.clone(),
                authority: market.to_account_info(),
            },
            &[&seeds],
        ),
        amount,
        mint.decimals,
    )
}

/// Requires `account` to be a token account of `mint`, under `token_program`, owned by `owner`,
/// and not one of the market's vaults.
///
/// Payouts of permissionless instructions accept any such account rather than only the owner's
/// associated one: an owner can make its own account refuse transfers (Token-2022's
/// memo-required flag), but anyone can create a fresh account for any owner, so a crank can
/// always find a destination and nobody can block a settlement.
pub fn require_token_account_of(
    account: &AccountInfo,
    owner: &Pubkey,
    mint: &Pubkey,
    token_program: &Pubkey,
    market: &Market,
) -> Result<()> {
    require_not_vault(account, market)?;
    require_keys_eq!(
        *account.owner,
        *token_program,
        MarketError::PayoutAccountMismatch
    );
    let data = account.try_borrow_data()?;
    let state = StateWithExtensions::<spl_token_2022::state::Account>::unpack(&data)
        .map_err(|_| error!(MarketError::PayoutAccountMismatch))?;
    require!(
        state.base.mint == *mint && state.base.owner == *owner,
        MarketError::PayoutAccountMismatch
    );
    Ok(())
}

/// Requires an account not to be one of the market's vaults, whose balances must cover the
/// program's books (with one mint for payment and stake, a transfer could otherwise cross from
/// one vault into the other).
pub fn require_not_vault(account: &AccountInfo, market: &Market) -> Result<()> {
    require!(
        account.key() != market.escrow_vault && account.key() != market.stake_vault,
        MarketError::PayoutAccountMismatch
    );
    Ok(())
}

/// Pays `amount` out of a vault to a token account of `recipient` (checked as in
/// [`require_token_account_of`]). Nothing is checked or moved for a zero amount, so an unused
/// destination may be any account.
pub fn pay<'info>(
    market: &Account<'info, Market>,
    token_program: &AccountInfo<'info>,
    vault: &AccountInfo<'info>,
    to: &AccountInfo<'info>,
    mint: &InterfaceAccount<'info, Mint>,
    recipient: &Pubkey,
    amount: u64,
) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    require_token_account_of(to, recipient, &mint.key(), &token_program.key(), market)?;
    transfer_out(market, token_program, vault, to, mint, amount)
}
