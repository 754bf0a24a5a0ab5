//! Seeds, limits and domain separators. Every PDA seed lives here and nowhere else.

use anchor_lang::prelude::*;

/// `Market` PDA: `["market", authority, market_id (u64 LE)]`.
#[constant]
pub const SEED_MARKET: &[u8] = b"market";
/// `Provider` PDA: `["provider", market, owner]`.
#[constant]
pub const SEED_PROVIDER: &[u8] = b"provider";
/// `Job` PDA: `["job", market, requester, nonce (u64 LE)]`.
#[constant]
pub const SEED_JOB: &[u8] = b"job";
/// `Settlement` PDA: `["settlement", job]`.
#[constant]
pub const SEED_SETTLEMENT: &[u8] = b"settlement";
/// Escrow vault token account (payment mint) PDA: `["escrow_vault", market]`.
#[constant]
pub const SEED_ESCROW_VAULT: &[u8] = b"escrow_vault";
/// Stake vault token account (stake mint) PDA: `["stake_vault", market]`.
#[constant]
pub const SEED_STAKE_VAULT: &[u8] = b"stake_vault";
/// `Ledger` PDA (the program's books of one vault): `["ledger", vault]`.
#[constant]
pub const SEED_LEDGER: &[u8] = b"ledger";

/// Delivery authority PDA of one consumer program and data prefix in one market (signs every
/// call of that consumer with that prefix, owns nothing):
/// `["delivery", market, consumer program, data prefix]`.
#[constant]
pub const SEED_DELIVERY: &[u8] = b"delivery";

/// Domain separator of result roots (`state::delivery::result_root`, the client's `merkle`).
#[constant]
pub const RESULT_DOMAIN: &[u8] = b"cmkt/result/v2";

/// Domain separator of result commitments:
/// `sha256(COMMIT_DOMAIN || job || provider owner || result_root || salt)`.
#[constant]
pub const COMMIT_DOMAIN: &[u8] = b"compute-market/commit/v1";

/// Domain separator of the market terms a requester accepts when posting:
/// `sha256(TERMS_DOMAIN || borsh(MarketConfig))` (`MarketConfig::terms_hash`).
#[constant]
pub const TERMS_DOMAIN: &[u8] = b"compute-market/terms/v1";

/// Domain separator of a job's eligibility seed (`state::sortition`).
#[constant]
pub const SEED_DOMAIN: &[u8] = b"compute-market/seed/v1";
/// Domain separator of a provider's eligibility ticket in a job (`state::sortition`).
#[constant]
pub const TICKET_DOMAIN: &[u8] = b"compute-market/ticket/v1";
/// A job's seed comes from the hash of a slot this many slots after the post's, which nobody
/// knows when the post is signed.
#[constant]
pub const SEED_DELAY_SLOTS: u64 = 2;
/// Time scale of eligibility: a provider holding all the stake, with the median ticket, may
/// claim this many slots after the seed slot (about 0.8 s); one with a share `s` after `1 / s`
/// times as long. The first of all providers is eligible after about 1.44 units on average.
#[constant]
pub const ELIGIBILITY_UNIT_SLOTS: u64 = 2;
/// After this many slots past the seed slot (about a minute) every staked provider is
/// eligible, so a job still fills when the providers whose turn it was are offline.
#[constant]
pub const ELIGIBILITY_CAP_SLOTS: u64 = 150;

/// The SlotHashes sysvar, which seeds eligibility.
pub const SLOT_HASHES_SYSVAR: Pubkey = pubkey!("SysvarS1otHashes111111111111111111111111111");

/// Layout version written into every account this program creates.
pub const ACCOUNT_VERSION: u8 = 3;

/// Hard upper bound on replicas per job; a market may choose a lower one.
#[constant]
pub const MAX_REPLICAS: u8 = 8;
/// Most expired claims one job records. A provider whose claim on a job expired may not claim it
/// again, and a claim is accepted only while every claim that could still expire has room in the
/// record, so at most this many expiries can ever happen in one job: after that the job takes no
/// more claims and ends at its deadline (or by cancellation) with a full refund.
#[constant]
pub const MAX_EXPIRED_CLAIMS: u8 = 16;
/// Longest manifest URI a job may carry, in bytes.
pub const MAX_MANIFEST_URI_LEN: usize = 200;
/// Longest result endpoint URL a provider may register, in bytes.
pub const MAX_ENDPOINT_LEN: usize = 128;

/// Basis-point denominator (100% = 10_000).
pub const BPS_DENOMINATOR: u64 = 10_000;
/// Highest protocol fee a market may charge: 20%.
#[constant]
pub const MAX_FEE_BPS: u16 = 2_000;

/// Highest share of a slash a market may pay as bounty: 50%. Above that, an operator of
/// several wallets could expire or out-vote its own providers at little cost.
#[constant]
pub const MAX_SLASH_BOUNTY_BPS: u16 = 5_000;

/// Shortest timeout or window a market may configure, in seconds.
pub const MIN_WINDOW_SECS: i64 = 1;
/// Longest timeout or window a market may configure: 30 days.
pub const MAX_WINDOW_SECS: i64 = 30 * 24 * 60 * 60;
