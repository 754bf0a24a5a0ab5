//! A sample consumer of the compute market: a feed of values that a market verified.
//!
//! Its owner creates a feed naming the market it trusts (and the deployment of the market
//! program), the computation it accepts (a manifest hash), the requester whose jobs count, and how
//! many providers must have agreed; either the computation or the requester must be pinned, or
//! anybody could post any module and have its output stored. Jobs that name this program as
//! their consumer, with `record`'s discriminator as the data prefix and the feed as their
//! account, then update the feed when `deliver_result` calls it. `record` refuses any call that
//! the market program did not sign as this consumer's delivery authority in the feed's market
//! (PDA `["delivery", market, this program]`), and a settlement account that is not the job's, so
//! a value gets in only when that market verified it for a job the feed accepts.
#![allow(deprecated)]
#![allow(clippy::result_large_err)]

#[cfg(all(target_os = "solana", target_arch = "bpf"))]
use solana_compiler_builtins as _;

use anchor_lang::prelude::*;
use compute_market::constants::SEED_SETTLEMENT;
use compute_market::state::{delivery_authority, DeliveryMessage, Outcome, MAX_DELIVERED_OUTPUT};

declare_id!("VerifiedVa1ue111111111111111111111111111111");

/// `Feed` PDA: `["feed", owner, feed_id (u64 LE)]`.
pub const SEED_FEED: &[u8] = b"feed";

#[program]
pub mod verified_value {
    use super::*;

    /// Creates a feed that takes values verified in `market` (of the market program
    /// `market_program`) by at least `min_agreeing` providers, computed by the manifest
    /// `manifest_hash` (all zero: any) for jobs of `requester` (default key: anyone's); the
    /// computation or the requester must be pinned.
    pub fn create_feed(ctx: Context<CreateFeed>, args: CreateFeedArgs) -> Result<()> {
        require!(
            args.manifest_hash != [0; 32] || args.requester != Pubkey::default(),
            FeedError::Unpinned
        );
        require!(args.min_agreeing >= 1, FeedError::NotEnoughAgreement);
        ctx.accounts.feed.set_inner(Feed {
            owner: ctx.accounts.owner.key(),
            feed_id: args.feed_id,
            bump: ctx.bumps.feed,
            market_program: args.market_program,
            market: args.market,
            manifest_hash: args.manifest_hash,
            requester: args.requester,
            min_agreeing: args.min_agreeing,
            deliveries: 0,
            unverified: 0,
            last_job: Pubkey::default(),
            last_root: [0; 32],
            last_settled_slot: 0,
            value: Vec::new(),
        });
        Ok(())
    }

    /// Takes a delivery from the compute market: a verified value replaces the feed's value;
    /// another outcome is counted. Called by `deliver_result` only.
    pub fn record(ctx: Context<Record>, message: DeliveryMessage) -> Result<()> {
        let feed = &mut ctx.accounts.feed;
        // the authority's seeds bind the market, so this is also the market the message names;
        // checked again in case a market program ever signed for another market
        require_keys_eq!(message.market, feed.market, FeedError::WrongMarket);
        // the job's own settlement record, which a reader can check the value against
        let (settlement, _) = Pubkey::find_program_address(
            &[SEED_SETTLEMENT, message.job.as_ref()],
            &feed.market_program,
        );
        require_keys_eq!(
            ctx.accounts.settlement.key(),
            settlement,
            FeedError::ForgedDelivery
        );
        require!(
            feed.manifest_hash == [0; 32] || feed.manifest_hash == message.manifest_hash,
            FeedError::WrongComputation
        );
        require!(
            feed.requester == Pubkey::default() || feed.requester == message.requester,
            FeedError::WrongRequester
        );
        // counters saturate: a statistic must never refuse a delivery
        feed.deliveries = feed.deliveries.saturating_add(1);
        if message.outcome != Outcome::Verified {
            feed.unverified = feed.unverified.saturating_add(1);
            return Ok(());
        }
        require!(
            message.agreeing >= feed.min_agreeing,
            FeedError::NotEnoughAgreement
        );
        // a job settled earlier than the value must not overwrite it (ties: the larger job
        // address, so that the order of deliveries does not matter)
        require!(
            (message.settled_slot, message.job.to_bytes())
                > (feed.last_settled_slot, feed.last_job.to_bytes()),
            FeedError::Stale
        );
        let result = message.result.ok_or(FeedError::NoValue)?;
        require!(
            result.output_len <= MAX_DELIVERED_OUTPUT && result.status == 0 && result.code == 0,
            FeedError::NoValue
        );
        feed.value = result.output;
        feed.last_job = message.job;
        feed.last_root = message.result_root;
        feed.last_settled_slot = message.settled_slot;
        msg!(
            "verified value of job {} ({} bytes)",
            message.job,
            feed.value.len()
        );
        Ok(())
    }
}

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct CreateFeedArgs {
    pub feed_id: u64,
    pub market_program: Pubkey,
    pub market: Pubkey,
    /// The computation accepted (all zero: any, only with a pinned requester).
    pub manifest_hash: [u8; 32],
    /// Whose jobs count (default key: anyone's, only with a pinned computation).
    pub requester: Pubkey,
    /// Providers that must have agreed on a value (at least 1).
    pub min_agreeing: u8,
}

#[derive(Accounts)]
#[instruction(args: CreateFeedArgs)]
pub struct CreateFeed<'info> {
    #[account(mut)]
    pub owner: Signer<'info>,
    #[account(
        init,
        payer = owner,
        space = Feed::SPACE,
        seeds = [SEED_FEED, owner.key().as_ref(), &args.feed_id.to_le_bytes()],
        bump,
    )]
    pub feed: Account<'info, Feed>,
    pub system_program: Program<'info, System>,
}

#[derive(Accounts)]
pub struct Record<'info> {
    /// The delivery authority of this program in the feed's market: only the market program
    /// can sign for it, and only when it calls this program.
    #[account(
        constraint = authority.key()
            == delivery_authority(&feed.market_program, &feed.market, &crate::ID).0
            @ FeedError::ForgedDelivery
    )]
    pub authority: Signer<'info>,
    /// CHECK: the job's settlement record (its address checked in `record`), owned by the
    /// market program; this feed reads nothing from it.
    #[account(owner = feed.market_program @ FeedError::ForgedDelivery)]
    pub settlement: UncheckedAccount<'info>,
    #[account(
        mut,
        seeds = [SEED_FEED, feed.owner.as_ref(), &feed.feed_id.to_le_bytes()],
        bump = feed.bump,
    )]
    pub feed: Account<'info, Feed>,
}

/// The latest verified value of one computation.
#[account]
#[derive(Debug)]
pub struct Feed {
    pub owner: Pubkey,
    pub feed_id: u64,
    pub bump: u8,
    /// The deployment of the market program whose deliveries count.
    pub market_program: Pubkey,
    /// The market whose providers the owner trusts.
    pub market: Pubkey,
    /// The computation accepted (all zero: any).
    pub manifest_hash: [u8; 32],
    /// Whose jobs count (default key: anyone's).
    pub requester: Pubkey,
    /// Providers that must have agreed on a value.
    pub min_agreeing: u8,
    /// Deliveries taken, and how many of them were not verified.
    pub deliveries: u64,
    pub unverified: u64,
    /// The job, root and settlement slot of the value.
    pub last_job: Pubkey,
    pub last_root: [u8; 32],
    pub last_settled_slot: u64,
    /// The verified output (at most `MAX_DELIVERED_OUTPUT` bytes).
    pub value: Vec<u8>,
}

impl Feed {
    pub const SPACE: usize = 8 // discriminator
        + 32 // owner
        + 8 // feed_id
        + 1 // bump
        + 32 // market_program
        + 32 // market
        + 32 // manifest_hash
        + 32 // requester
        + 1 // min_agreeing
        + 8 // deliveries
        + 8 // unverified
        + 32 // last_job
        + 32 // last_root
        + 8 // last_settled_slot
        + 4 + MAX_DELIVERED_OUTPUT as usize; // value
}

#[error_code]
pub enum FeedError {
    #[msg("Not signed by the delivery authority of the feed's market")]
    ForgedDelivery,
    #[msg("The delivery comes from another market than the feed's")]
    WrongMarket,
    #[msg("The delivery is of another computation than the feed's")]
    WrongComputation,
    #[msg("The job settled before the feed's value")]
    Stale,
    #[msg("A verified delivery without a short output from a clean exit")]
    NoValue,
    #[msg("A feed must pin the computation, the requester, or both")]
    Unpinned,
    #[msg("The delivery is of another requester's job than the feed takes")]
    WrongRequester,
    #[msg("Fewer providers agreed on the value than the feed requires")]
    NotEnoughAgreement,
}
