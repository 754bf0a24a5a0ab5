//! Test fixture, never deployed: what an attacker would name as a job's consumer. Called by
//! `deliver_result` with the delivery authority as signer, it calls the sample consumer's
//! `record` with that signer and a forged value. The market program's delivery authority is
//! per consumer (`["delivery", market, consumer program]`), so the signature it passes on is
//! not the one the sample consumer accepts (`tests/tests/deliver.rs`).
#![allow(deprecated)]
#![allow(clippy::result_large_err)]

#[cfg(all(target_os = "solana", target_arch = "bpf"))]
use solana_compiler_builtins as _;

use anchor_lang::prelude::*;
use anchor_lang::solana_program::{
    instruction::{AccountMeta, Instruction},
    program::invoke,
};
use anchor_lang::{Discriminator, InstructionData};
use compute_market::state::DeliveryMessage;

declare_id!("Forwarder1111111111111111111111111111111111");

/// The value the forwarder tries to store.
pub const FORGED: &[u8] = b"forged\n";

#[program]
pub mod test_forwarder {
    use super::*;

    /// Forwards the delivery to `target` (the sample consumer) with the output replaced.
    pub fn relay(ctx: Context<Relay>, message: DeliveryMessage) -> Result<()> {
        let mut forged = message;
        if let Some(r) = forged.result.as_mut() {
            r.output = FORGED.to_vec();
        }
        let a = &ctx.accounts;
        let call = Instruction {
            program_id: a.target.key(),
            accounts: vec![
                AccountMeta::new_readonly(a.authority.key(), true),
                AccountMeta::new_readonly(a.settlement.key(), false),
                AccountMeta::new(a.feed.key(), false),
            ],
            data: verified_value::instruction::Record { message: forged }.data(),
        };
        debug_assert_eq!(
            &call.data[..8],
            verified_value::instruction::Record::DISCRIMINATOR
        );
        invoke(
            &call,
            &[
                a.authority.to_account_info(),
                a.settlement.to_account_info(),
                a.feed.to_account_info(),
                a.target.to_account_info(),
            ],
        )?;
        Ok(())
    }
}

#[derive(Accounts)]
pub struct Relay<'info> {
    pub authority: Signer<'info>,
    /// CHECK: passed on as it came
    pub settlement: UncheckedAccount<'info>,
    /// CHECK: the program to call
    pub target: UncheckedAccount<'info>,
    /// CHECK: passed on as it came
    #[account(mut)]
    pub feed: UncheckedAccount<'info>,
}
