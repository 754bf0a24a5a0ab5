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
/// non-transferable, pausable, default-frozen accounts, ...) could make the vault hold less
/// than the program's books say, so such mints are refused.
const ALLOWED_MINT_EXTENSIONS: &[ExtensionType] = &[
    ExtensionType::MetadataPointer,
    ExtensionType::TokenMetadata,
    ExtensionType::MintCloseAuthority,
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

/// Requires `account` to be `owner`'s associated token account for `mint`: the one payout
/// destination that anyone can create for anyone, so a permissionless crank can always pay.
pub fn require_ata(
    account: &AccountInfo,
    owner: &Pubkey,
    mint: &Pubkey,
    token_program: &Pubkey,
) -> Result<()> {
    let expected = anchor_spl::associated_token::get_associated_token_address_with_program_id(
        owner,
        mint,
        token_program,
    );
    require_keys_eq!(account.key(), expected, MarketError::PayoutAccountMismatch);
    Ok(())
}

/// Requires a bounty destination not to be one of the market's vaults, whose balances must
/// equal the program's books.
pub fn require_not_vault(account: &AccountInfo, market: &Market) -> Result<()> {
    require!(
        account.key() != market.escrow_vault && account.key() != market.stake_vault,
        MarketError::PayoutAccountMismatch
    );
    Ok(())
}
