//! Verified compute marketplace: requesters escrow payment for a job, staked providers claim
//! replica slots, run the job off-chain and commit–reveal a result root; agreeing providers are
//! paid, cheats and no-shows are slashed, and every settlement leaves an auditable record.
#![allow(deprecated)]
#![allow(clippy::result_large_err)]

pub mod constants;
pub mod error;
pub mod events;
pub mod instructions;
pub mod math;
pub mod security;
pub mod state;
pub mod token;

// memcpy/memset/memcmp through the VM's syscalls above small sizes, and SVM-tuned 128-bit and
// float helpers, in place of compiler-builtins' generic loops
#[cfg(all(target_os = "solana", target_arch = "bpf"))]
use solana_compiler_builtins as _;

use anchor_lang::prelude::*;
pub use instructions::*;
pub use state::*;

#[cfg(not(cmkt_build_program_id))]
declare_id!("CMktmwEXZcTnCWNEdsbnZga5M6fAPPSB51D1zx64Bepp");
// `scripts/build-sbf --program-id <ID>`: the same program, declaring the id given at build time
// (build.rs sets the cfg when `CMKT_BUILD_PROGRAM_ID` is set).
#[cfg(cmkt_build_program_id)]
declare_id!(Pubkey::from_str_const(env!("CMKT_BUILD_PROGRAM_ID")));

#[program]
pub mod compute_market {
    use super::*;

    /// Creates a market with its escrow and stake vaults.
    #[access_control(ctx.accounts.validate(&args))]
    pub fn init_market(ctx: Context<MarketInit>, args: MarketInitArgs) -> Result<()> {
        MarketInit::handler(ctx, args)
    }

    /// Changes a market's rules, pause flag or treasury (authority only).
    #[access_control(ctx.accounts.validate(&args))]
    pub fn update_market(ctx: Context<MarketUpdate>, args: MarketUpdateArgs) -> Result<()> {
        MarketUpdate::handler(ctx, args)
    }

    /// Sends what a market vault holds over the program's books to the treasury (authority
    /// only); the books never move.
    #[access_control(ctx.accounts.validate())]
    pub fn sweep_surplus(ctx: Context<MarketSweepSurplus>) -> Result<()> {
        MarketSweepSurplus::handler(ctx)
    }

    /// Registers the signer as a provider of a market.
    #[access_control(ctx.accounts.validate(&args))]
    pub fn register_provider(
        ctx: Context<ProviderRegister>,
        args: ProviderRegisterArgs,
    ) -> Result<()> {
        ProviderRegister::handler(ctx, args)
    }

    /// Adds stake to a provider.
    #[access_control(ctx.accounts.validate(amount))]
    pub fn stake(ctx: Context<ProviderStake>, amount: u64) -> Result<()> {
        ProviderStake::handler(ctx, amount)
    }

    /// Starts the cooldown for withdrawing part of the free stake.
    #[access_control(ctx.accounts.validate(amount))]
    pub fn request_unstake(ctx: Context<ProviderRequestUnstake>, amount: u64) -> Result<()> {
        ProviderRequestUnstake::handler(ctx, amount)
    }

    /// Pays out the pending unstake after the cooldown.
    #[access_control(ctx.accounts.validate())]
    pub fn withdraw_stake(ctx: Context<ProviderWithdrawStake>) -> Result<()> {
        ProviderWithdrawStake::handler(ctx)
    }

    /// Changes a provider's endpoint or capabilities.
    #[access_control(ctx.accounts.validate(&args))]
    pub fn update_provider(ctx: Context<ProviderUpdate>, args: ProviderUpdateArgs) -> Result<()> {
        ProviderUpdate::handler(ctx, args)
    }

    /// Publishes what the provider's worker accepts and that it runs (`last_seen`).
    pub fn publish_offer(
        ctx: Context<ProviderPublishOffer>,
        offer: ProviderOffer,
        capabilities: u64,
    ) -> Result<()> {
        ProviderPublishOffer::handler(ctx, offer, capabilities)
    }

    /// Closes an idle provider with no stake and returns its rent.
    #[access_control(ctx.accounts.validate())]
    pub fn close_provider(ctx: Context<ProviderClose>) -> Result<()> {
        ProviderClose::handler(ctx)
    }

    /// Posts a job and escrows `reward_per_replica × replicas`.
    #[access_control(ctx.accounts.validate(&args))]
    pub fn post_job(ctx: Context<JobPost>, args: JobPostArgs) -> Result<()> {
        JobPost::handler(ctx, args)
    }

    /// Moves an open job's deadlines later and gives it a new, higher price curve (requester
    /// only).
    #[access_control(ctx.accounts.validate(&args))]
    pub fn extend_job(ctx: Context<JobExtend>, args: JobExtendArgs) -> Result<()> {
        JobExtend::handler(ctx, args)
    }

    /// Refunds and closes a job while none of its slots is held.
    #[access_control(ctx.accounts.validate())]
    pub fn cancel_job(ctx: Context<JobCancel>) -> Result<()> {
        JobCancel::handler(ctx)
    }

    /// Takes a free slot of a job, locking collateral.
    #[access_control(ctx.accounts.validate())]
    pub fn claim_job(ctx: Context<JobClaim>) -> Result<()> {
        JobClaim::handler(ctx)
    }

    /// Slashes a claim that missed its commit timeout and reopens the slot (anyone but the holder).
    #[access_control(ctx.accounts.validate(slot))]
    pub fn expire_claim(ctx: Context<JobExpireClaim>, slot: u8) -> Result<()> {
        JobExpireClaim::handler(ctx, slot)
    }

    /// Commits to a result: `sha256(COMMIT_DOMAIN || job || provider || result_root || salt)`.
    #[access_control(ctx.accounts.validate(&commitment))]
    pub fn commit_result(ctx: Context<JobCommit>, commitment: [u8; 32]) -> Result<()> {
        JobCommit::handler(ctx, commitment)
    }

    /// Opens a commitment once the reveal phase is open.
    #[access_control(ctx.accounts.validate(&args))]
    pub fn reveal_result(ctx: Context<JobReveal>, args: JobRevealArgs) -> Result<()> {
        JobReveal::handler(ctx, args)
    }

    /// Settles a job: pays, slashes, refunds, writes the `Settlement` and closes the job.
    #[access_control(ctx.accounts.validate())]
    pub fn finalize_job<'info>(ctx: Context<'info, JobFinalize<'info>>) -> Result<()> {
        JobFinalize::handler(ctx)
    }

    /// Calls a settled job's consumer with its outcome and result, signed by the market's
    /// delivery authority (anyone; retried until it succeeds once).
    #[access_control(ctx.accounts.validate(&args))]
    pub fn deliver_result<'info>(
        ctx: Context<'info, JobDeliver<'info>>,
        args: JobDeliverArgs,
    ) -> Result<()> {
        JobDeliver::handler(ctx, args)
    }
}
