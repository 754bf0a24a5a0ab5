//! SPL token instructions clients need around the market (mints for local chains and tests,
//! minting, associated accounts). Works for Token and Token-2022 alike.

use crate::{Instruction, Pubkey};
use anchor_lang::solana_program::{program_pack::Pack, system_instruction};
use anchor_spl::token_interface::spl_token_2022::{instruction as token_ix, state::Mint};

/// Bytes of a mint account without extensions.
pub const MINT_LEN: usize = Mint::LEN;

/// The classic SPL Token program.
pub const TOKEN_PROGRAM: Pubkey = anchor_spl::token::ID;
/// The Token-2022 program.
pub const TOKEN_2022_PROGRAM: Pubkey = anchor_spl::token_2022::ID;

/// Creates and initialises a mint at `mint` (which must sign) with `authority` as mint authority.
pub fn create_mint(
    payer: &Pubkey,
    mint: &Pubkey,
    authority: &Pubkey,
    decimals: u8,
    token_program: &Pubkey,
    rent_lamports: u64,
) -> Vec<Instruction> {
    vec![
        system_instruction::create_account(
            payer,
            mint,
            rent_lamports,
            MINT_LEN as u64,
            token_program,
        ),
        token_ix::initialize_mint2(token_program, mint, authority, None, decimals)
            .expect("valid initialize_mint2"),
    ]
}

/// Mints `amount` to `to`, signed by the mint authority.
pub fn mint_to(
    token_program: &Pubkey,
    mint: &Pubkey,
    to: &Pubkey,
    authority: &Pubkey,
    amount: u64,
) -> Instruction {
    token_ix::mint_to(token_program, mint, to, authority, &[], amount).expect("valid mint_to")
}
