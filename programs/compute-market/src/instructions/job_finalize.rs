use crate::constants::*;
use crate::error::MarketError;
use crate::events::JobFinalized;
use crate::math;
use crate::state::{
    Job, Ledger, Market, Outcome, Provider, Settlement, SlotState, SlotVerdict, Verdict,
};
use crate::token::{pay, require_not_vault, transfer_out};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

/// Settles a job: anyone may call once `Job::can_finalize` holds.
///
/// Remaining accounts, in slot order, for every slot that is not free: the provider account
/// (writable) followed by a payment-mint token account of the provider's owner (writable; only
/// checked and used when that provider is paid). Clients pass associated token accounts.
///
/// The deserialized accounts are boxed: unboxed, this struct needs about 4.9 KB of the handler's
/// stack frame, and sBPF frames are 4 KB.
#[derive(Accounts)]
pub struct JobFinalize<'info> {
    /// Pays the settlement's rent up front and is reimbursed from the job's settlement deposit;
    /// earns the slash bounty except on its own slashes.
    #[account(mut)]
    pub caller: Signer<'info>,

    pub market: Box<Account<'info, Market>>,

    #[account(
        mut,
        close = requester,
        seeds = [SEED_JOB, market.key().as_ref(), job.requester.as_ref(), &job.nonce.to_le_bytes()],
        bump = job.bump,
        has_one = market,
        has_one = requester,
    )]
    pub job: Box<Account<'info, Job>>,

    #[account(
        init,
        payer = caller,
        space = Settlement::space_for(job.replicas, job.expired.len(), job.consumer.as_ref()),
        seeds = [SEED_SETTLEMENT, job.key().as_ref()],
        bump,
    )]
    pub settlement: Box<Account<'info, Settlement>>,

    /// CHECK: the job's requester (`has_one` on `job`); receives the job account's lamports.
    #[account(mut)]
    pub requester: UncheckedAccount<'info>,

    /// CHECK: a payment-mint token account of the requester (checked by `token::pay` when a refund
    /// is due).
    #[account(mut)]
    pub refund_to: UncheckedAccount<'info>,

    #[account(mut, address = market.escrow_vault)]
    pub escrow_vault: Box<InterfaceAccount<'info, TokenAccount>>,

    #[account(mut, address = market.stake_vault)]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,

    /// The books of the escrow vault.
    #[account(
        mut,
        has_one = market,
        constraint = escrow_ledger.vault == market.escrow_vault @ MarketError::WrongLedger,
    )]
    pub escrow_ledger: Box<Account<'info, Ledger>>,

    /// The books of the stake vault.
    #[account(
        mut,
        has_one = market,
        constraint = stake_ledger.vault == market.stake_vault @ MarketError::WrongLedger,
    )]
    pub stake_ledger: Box<Account<'info, Ledger>>,

    #[account(address = market.payment_mint)]
    pub payment_mint: Box<InterfaceAccount<'info, Mint>>,

    #[account(address = market.stake_mint)]
    pub stake_mint: Box<InterfaceAccount<'info, Mint>>,

    /// CHECK: a payment-mint token account of the treasury (checked by `token::pay` when a fee is
    /// due).
    #[account(mut)]
    pub fee_treasury: UncheckedAccount<'info>,

    /// CHECK: a stake-mint token account of the treasury (checked by `token::pay` when a slash is
    /// due).
    #[account(mut)]
    pub slash_treasury: UncheckedAccount<'info>,

    /// CHECK: any stake-mint token account but a market vault (checked in `validate`); the token
    /// program checks its mint during the transfer.
    #[account(mut)]
    pub bounty_to: UncheckedAccount<'info>,

    #[account(address = market.payment_token_program)]
    pub payment_token_program: Interface<'info, TokenInterface>,

    #[account(address = market.stake_token_program)]
    pub stake_token_program: Interface<'info, TokenInterface>,

    pub system_program: Program<'info, System>,
}

/// Money moved by one settlement, summed over the slots.
#[derive(Default)]
struct Totals {
    paid: u64,
    fee: u64,
    slashed: u64,
    /// Slashes of providers other than the caller: the base of the caller's bounty.
    bounty_base: u64,
}

impl JobFinalize<'_> {
    pub fn validate(&self) -> Result<()> {
        require!(
            self.job.can_finalize(Clock::get()?.unix_timestamp),
            MarketError::FinalizeTooEarly
        );
        require_not_vault(&self.bounty_to, &self.market)
    }

    pub fn handler<'info>(ctx: Context<'info, JobFinalize<'info>>) -> Result<()> {
        let clock = Clock::get()?;
        let a = &*ctx.accounts;
        let job = &a.job;
        let winner = job.winning_root();
        let majority = job.majority_root();
        let payment_program = a.payment_token_program.to_account_info();
        let escrow_vault = a.escrow_vault.to_account_info();

        let mut totals = Totals::default();
        let mut verdicts = Vec::with_capacity(job.slots.len());
        let mut rest = ctx.remaining_accounts.iter();
        for slot in &job.slots {
            if slot.state == SlotState::Free {
                verdicts.push(SlotVerdict::UNCLAIMED);
                continue;
            }
            let (Some(provider_info), Some(payout_to)) = (rest.next(), rest.next()) else {
                return err!(MarketError::ProviderAccountMismatch);
            };
            let mut provider = Account::<Provider>::try_from(provider_info)?;
            require!(
                provider_info.is_writable
                    && provider.owner == slot.provider
                    && provider.market == a.market.key(),
                MarketError::ProviderAccountMismatch
            );
            let root = slot.result_root;
            let verdict = match slot.state {
                SlotState::Revealed if winner == Some(root) => Verdict::Agreed,
                // also without a quorum: a minority that contradicts a majority of the slots pays
                SlotState::Revealed if majority.is_some_and(|m| m != root) => Verdict::Dissented,
                SlotState::Revealed => Verdict::Unverified,
                SlotState::Committed => Verdict::Withheld,
                _ => Verdict::Absent,
            };
            let (mut paid, mut slashed) = (0, 0);
            match verdict {
                Verdict::Agreed => {
                    // the price this slot locked at its claim; the rest of the maximum is refunded
                    let fee_each = math::bps_of(slot.price, job.fee_bps)?;
                    paid = math::sub(slot.price, fee_each)?;
                    provider.unlock(job.collateral)?;
                    // statistics saturate: a lifetime counter must never block a settlement
                    provider.jobs_completed = provider.jobs_completed.saturating_add(1);
                    provider.total_earned = provider.total_earned.saturating_add(paid);
                    totals.paid = math::add(totals.paid, paid)?;
                    totals.fee = math::add(totals.fee, fee_each)?;
                    pay(
                        &a.market,
                        &payment_program,
                        &escrow_vault,
                        payout_to,
                        &a.payment_mint,
                        &provider.owner,
                        paid,
                    )?;
                }
                Verdict::Unverified => provider.unlock(job.collateral)?,
                _ => {
                    slashed = job.collateral;
                    provider.slash(slashed)?;
                    totals.slashed = math::add(totals.slashed, slashed)?;
                    if provider.owner != a.caller.key() {
                        totals.bounty_base = math::add(totals.bounty_base, slashed)?;
                    }
                }
            }
            provider.invariant()?;
            provider.exit(ctx.program_id)?;
            verdicts.push(SlotVerdict {
                provider: slot.provider,
                verdict,
                result_root: slot.result_root,
                paid,
                slashed,
                claimed_slot: slot.claimed_slot,
                bonded: slot.bonded,
                claimed_at: slot.claimed_at,
                price: slot.price,
            });
        }
        require!(rest.next().is_none(), MarketError::ProviderAccountMismatch);

        let refund = math::sub(math::sub(job.escrow, totals.paid)?, totals.fee)?;

        let bounty = math::bps_of(totals.bounty_base, job.slash_bounty_bps)?;
        pay(
            &a.market,
            &payment_program,
            &escrow_vault,
            &a.fee_treasury,
            &a.payment_mint,
            &a.market.treasury,
            totals.fee,
        )?;
        pay(
            &a.market,
            &payment_program,
            &escrow_vault,
            &a.refund_to,
            &a.payment_mint,
            &job.requester,
            refund,
        )?;
        let stake_program = a.stake_token_program.to_account_info();
        let stake_vault = a.stake_vault.to_account_info();
        transfer_out(
            &a.market,
            &stake_program,
            &stake_vault,
            &a.bounty_to,
            &a.stake_mint,
            bounty,
        )?;
        pay(
            &a.market,
            &stake_program,
            &stake_vault,
            &a.slash_treasury,
            &a.stake_mint,
            &a.market.treasury,
            math::sub(totals.slashed, bounty)?,
        )?;

        let outcome = if winner.is_some() {
            Outcome::Verified
        } else {
            Outcome::NoQuorum
        };
        let mut record =
            Settlement::of_job(job, job.key(), ctx.bumps.settlement, a.caller.key(), &clock);
        record.outcome = outcome;
        record.result_root = winner.unwrap_or_default();
        record.total_paid = totals.paid;
        record.fee = totals.fee;
        record.refund = refund;
        record.total_slashed = totals.slashed;
        record.bounty = bounty;
        record.verdicts = verdicts;
        require!(record.balances(), MarketError::InvariantViolated);

        // Reimburse the settlement's rent to the caller out of the requester's deposit; the
        // rest of the job's lamports go to the requester when `close` runs.
        let job_info = job.to_account_info();
        let rent = a.settlement.to_account_info().lamports();
        let reimburse = rent.min(job.settlement_deposit);
        job_info.sub_lamports(reimburse)?;
        a.caller.add_lamports(reimburse)?;

        emit!(JobFinalized {
            job: job.key(),
            settlement: a.settlement.key(),
            outcome,
            result_root: record.result_root,
            total_paid: record.total_paid,
            fee: record.fee,
            refund,
            total_slashed: record.total_slashed,
            bounty,
        });
        // the whole escrow left the vault (paid, fee, refund) and every slash left the stake
        // vault (bounty and treasury)
        let escrow = job.escrow;
        ctx.accounts.escrow_ledger.debit(escrow)?;
        ctx.accounts.stake_ledger.debit(totals.slashed)?;
        ctx.accounts.settlement.set_inner(record);
        Ok(())
    }
}
