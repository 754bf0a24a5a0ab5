//! A sample consumer of the compute market: a feed of values that a market verified.
//!
//! Its owner creates a feed naming the market it trusts (and the deployment of the market
//! program), the requester whose jobs it takes (who chooses a job's price, replicas and quorum,
//! and so who can take it), optionally the one computation it takes (a manifest hash), and how
//! many providers must have agreed. Jobs that name this program as their consumer, with
//! `record`'s discriminator as the data prefix and the feed as their account, then update the
//! feed when `deliver_result` calls it.
//!
//! `record` refuses (an error) any call that is not a genuine delivery: one the market program
//! did not sign as the delivery authority of the feed's market, this program and `record`'s
//! discriminator (PDA `["delivery", market, this program, discriminator]`), or whose settlement
//! account is not the job's. A genuine delivery the feed does not take (another requester or
//! computation, too few agreeing, an older job than the value, no short output) is counted as
//! rejected and accepted as delivered: it could never succeed, and a consumer that failed it
//! would leave it to be retried forever.
#![allow(deprecated)]
#![allow(clippy::result_large_err)]

#[cfg(all(target_os = "solana", target_arch = "bpf"))]
use solana_compiler_builtins as _;

use anchor_lang::prelude::*;
use anchor_lang::Discriminator;
use compute_market::constants::SEED_SETTLEMENT;
use compute_market::state::{delivery_authority, DeliveryMessage, Outcome, MAX_DELIVERED_OUTPUT};

declare_id!("VerifiedVa1ue111111111111111111111111111111");

/// `Feed` PDA: `["feed", owner, feed_id (u64 LE)]`.
pub const SEED_FEED: &[u8] = b"feed";

#[program]
pub mod verified_value {
    use super::*;

    /// Creates a feed that takes values verified in `market` (of the market program
    /// `market_program`) for jobs of `requester`, computed by the manifest `manifest_hash` (all
    /// zero: any of that requester's), that at least `min_agreeing` providers agreed on.
    pub fn create_feed(ctx: Context<CreateFeed>, args: CreateFeedArgs) -> Result<()> {
        require!(args.requester != Pubkey::default(), FeedError::Unpinned);
        require!(args.min_agreeing >= 1, FeedError::NoAgreement);
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
            rejected: 0,
            last_job: Pubkey::default(),
            last_root: [0; 32],
            last_settled_slot: 0,
            value: Vec::new(),
        });
        Ok(())
    }

    /// Takes a delivery from the compute market: a verified value the feed takes replaces its
    /// value; anything else is counted. Called by `deliver_result` only.
    pub fn record(ctx: Context<Record>, message: DeliveryMessage) -> Result<()> {
        let feed = &mut ctx.accounts.feed;
        // the authority's seeds bind the market and the prefix, so a genuine message is of the
        // feed's market; checked again so that nothing here rests on one check alone
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
        // counters saturate: a statistic must never refuse a delivery
        feed.deliveries = feed.deliveries.saturating_add(1);
        if message.outcome != Outcome::Verified {
            feed.unverified = feed.unverified.saturating_add(1);
            return Ok(());
        }
        if let Some(why) = rejection(feed, &message) {
            feed.rejected = feed.rejected.saturating_add(1);
            msg!("job {} not taken: {}", message.job, why);
            return Ok(());
        }
        let Some(result) = message.result else {
            return Ok(());
        };
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

/// Why the feed does not take a genuine verified delivery, if it does not.
fn rejection(feed: &Feed, m: &DeliveryMessage) -> Option<&'static str> {
    if m.requester != feed.requester {
        return Some("another requester's job");
    }
    if feed.manifest_hash != [0; 32] && m.manifest_hash != feed.manifest_hash {
        return Some("another computation");
    }
    if m.agreeing < feed.min_agreeing {
        return Some("too few providers agreed");
    }
    // a job settled earlier than the value must not overwrite it (ties: the larger job address,
    // so that the order of deliveries does not matter)
    if (m.settled_slot, m.job.to_bytes()) <= (feed.last_settled_slot, feed.last_job.to_bytes()) {
        return Some("settled before the feed's value");
    }
    match &m.result {
        Some(r) if r.output_len <= MAX_DELIVERED_OUTPUT && r.status == 0 && r.code == 0 => None,
        _ => Some("no short output from a clean exit"),
    }
}

/// The delivery authority this program accepts in `market` of `market_program`.
pub fn authority(market_program: &Pubkey, market: &Pubkey) -> Pubkey {
    delivery_authority(
        market_program,
        market,
        &crate::ID,
        instruction::Record::DISCRIMINATOR,
    )
    .0
}

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct CreateFeedArgs {
    pub feed_id: u64,
    pub market_program: Pubkey,
    pub market: Pubkey,
    /// The computation accepted (all zero: any of the requester's).
    pub manifest_hash: [u8; 32],
    /// Whose jobs count (required).
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
    /// The delivery authority of the feed's market, this program and `record`: only the market
    /// program can sign for it, and only when it calls `record` here with a message of its own.
    #[account(
        constraint = authority.key() == crate::authority(&feed.market_program, &feed.market)
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

/// The latest verified value of one requester's jobs (of one computation, or any).
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
    /// The computation accepted (all zero: any of the requester's).
    pub manifest_hash: [u8; 32],
    /// Whose jobs count.
    pub requester: Pubkey,
    /// Providers that must have agreed on a value.
    pub min_agreeing: u8,
    /// Deliveries taken; of them, outcomes other than verified, and verified results the feed
    /// did not take (see `rejection`).
    pub deliveries: u64,
    pub unverified: u64,
    pub rejected: u64,
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
        + 8 // rejected
        + 32 // last_job
        + 32 // last_root
        + 8 // last_settled_slot
        + 4 + MAX_DELIVERED_OUTPUT as usize; // value
}

#[error_code]
pub enum FeedError {
    #[msg("Not signed by this program's delivery authority in the feed's market, or not the job's settlement")]
    ForgedDelivery,
    #[msg("The delivery comes from another market than the feed's")]
    WrongMarket,
    #[msg("A feed must name the requester whose jobs it takes")]
    Unpinned,
    #[msg("A feed must want at least one provider in agreement")]
    NoAgreement,
}

/// Off-chain helpers for clients (`cmkt feed`, the tests): the feed's address, its creation and
/// the consumer a job names to have its result written into a feed.
#[cfg(not(target_os = "solana"))]
pub mod client {
    use super::*;
    use anchor_lang::solana_program::instruction::Instruction;
    use anchor_lang::{InstructionData, ToAccountMetas};
    use compute_market::state::{Consumer, ConsumerAccount};

    /// The feed `id` of `owner`.
    pub fn feed_address(owner: &Pubkey, id: u64) -> Pubkey {
        Pubkey::find_program_address(&[SEED_FEED, owner.as_ref(), &id.to_le_bytes()], &crate::ID).0
    }

    /// `create_feed` of `owner` (who pays) with `args`.
    pub fn create_feed(owner: &Pubkey, args: CreateFeedArgs) -> Instruction {
        Instruction {
            program_id: crate::ID,
            accounts: crate::accounts::CreateFeed {
                owner: *owner,
                feed: feed_address(owner, args.feed_id),
                system_program: anchor_lang::system_program::ID,
            }
            .to_account_metas(None),
            data: crate::instruction::CreateFeed { args }.data(),
        }
    }

    /// What a job names to have its result written into `feed`: `record` on it.
    pub fn consumer(feed: &Pubkey) -> Consumer {
        Consumer {
            program: crate::ID,
            data_prefix: crate::instruction::Record::DISCRIMINATOR.to_vec(),
            accounts: vec![ConsumerAccount {
                pubkey: *feed,
                writable: true,
            }],
        }
    }
}
