//! `cmkt feed create|show`: the sample consumer of verified results (`programs/verified-value`),
//! a feed that keeps the latest value a market verified for one computation. A job posted with
//! `cmkt job post --feed <FEED>` names it as its consumer, and `deliver_result` (a worker that
//! agreed on the result, or `cmkt job deliver`) writes the verified output into it.

use crate::{out, settings::parse_pubkey, Ctx};
use anyhow::{anyhow, bail, Context, Result};
use compute_market_client::{rpc::Chain, Pubkey};
use serde_json::json;
use solana_sdk::{signature::Keypair, signer::Signer};
use verified_value::{Feed, ID as FEED_PROGRAM};

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Create a feed of this wallet that takes values verified by the market for one requester's
    /// jobs (--requester, by default this wallet), of one computation (--manifest) or any of
    /// theirs, agreed on by at least --min-agreeing providers.
    Create {
        /// A number that makes the feed's address unique among this wallet's feeds.
        #[arg(long, default_value_t = 0)]
        id: u64,
        /// Hex sha256 of the only manifest whose results the feed takes (default: any).
        #[arg(long)]
        manifest: Option<String>,
        /// Whose jobs count (the requester sets a job's price and replicas, and so who takes
        /// it). Default: this wallet.
        #[arg(long)]
        requester: Option<String>,
        /// Providers that must have agreed on a value.
        #[arg(long, default_value_t = 1)]
        min_agreeing: u8,
    },
    /// Show a feed: its market, computation, latest value and the job that verified it.
    Show { feed: String },
}

pub use verified_value::client::{consumer, feed_address as address};

/// What a feed takes: one requester's jobs, of one computation (all zero: any of theirs),
/// agreed on by at least `min_agreeing` providers.
pub struct Rules {
    pub manifest_hash: [u8; 32],
    pub requester: Pubkey,
    pub min_agreeing: u8,
}

/// Creates the feed `id` of `owner` for `market` of the market program `chain.program`.
pub async fn create(
    chain: &Chain,
    owner: &Keypair,
    id: u64,
    market: &Pubkey,
    rules: Rules,
) -> Result<Pubkey> {
    if rules.min_agreeing == 0 {
        bail!("--min-agreeing must be at least 1");
    }
    let args = verified_value::CreateFeedArgs {
        feed_id: id,
        market_program: chain.program,
        market: *market,
        manifest_hash: rules.manifest_hash,
        requester: rules.requester,
        min_agreeing: rules.min_agreeing,
    };
    let ix = verified_value::client::create_feed(&owner.pubkey(), args);
    let mut chain = chain.clone();
    // not one of the market program's instructions: the budget table has no figure for it
    chain.compute_limit = Some(30_000);
    chain
        .send(&[ix], owner, &[])
        .await
        .context("creating the feed")?;
    Ok(address(&owner.pubkey(), id))
}

/// The feed at `address`, if it exists.
pub async fn read(chain: &Chain, address: &Pubkey) -> Result<Option<Feed>> {
    let Some(acc) = chain.account(address).await? else {
        return Ok(None);
    };
    if acc.owner != FEED_PROGRAM {
        bail!("{address} is not a feed of the verified-value program {FEED_PROGRAM}");
    }
    Ok(Some(
        anchor_lang::AccountDeserialize::try_deserialize(&mut acc.data.as_slice())
            .map_err(|e| anyhow!("{address} does not decode as a feed: {e}"))?,
    ))
}

/// The feed's value as text when it is UTF-8, else hex.
pub fn value_text(f: &Feed) -> String {
    match std::str::from_utf8(&f.value) {
        Ok(s) => s.trim_end().to_string(),
        Err(_) => format!("0x{}", hex::encode(&f.value)),
    }
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    let chain = ctx.chain().await?;
    match cmd {
        Cmd::Create {
            id,
            manifest,
            requester,
            min_agreeing,
        } => {
            let owner = ctx.settings.keypair()?;
            let requester = match requester.as_deref() {
                None => owner.pubkey(),
                Some(k) => parse_pubkey("requester", k)?,
            };
            let market = ctx.market_address()?;
            let manifest_hash = match manifest {
                Some(h) => {
                    let mut out = [0u8; 32];
                    hex::decode_to_slice(h.trim(), &mut out)
                        .map_err(|_| anyhow!("--manifest must be 64 hex digits"))?;
                    out
                }
                None => [0; 32],
            };
            let rules = Rules {
                manifest_hash,
                requester,
                min_agreeing,
            };
            let feed = create(&chain, &owner, id, &market, rules).await?;
            out::emit(ctx.format, &json!({"feed": feed.to_string()}), || {
                format!(
                    "feed {feed} takes values verified by market {market}; post jobs with \
                     `cmkt job post ... --feed {feed}`\n"
                )
            })
        }
        Cmd::Show { feed } => {
            let address = parse_pubkey("feed", &feed)?;
            let f = read(&chain, &address)
                .await?
                .ok_or_else(|| anyhow!("feed {address} does not exist"))?;
            let value = json!({
                "feed": address.to_string(), "owner": f.owner.to_string(),
                "market": f.market.to_string(), "market_program": f.market_program.to_string(),
                "manifest_hash": hex::encode(f.manifest_hash), "deliveries": f.deliveries,
                "requester": f.requester.to_string(), "min_agreeing": f.min_agreeing,
                "rejected": f.rejected,
                "unverified": f.unverified, "last_job": f.last_job.to_string(),
                "last_root": hex::encode(f.last_root), "last_settled_slot": f.last_settled_slot,
                "value_hex": hex::encode(&f.value),
            });
            out::emit(ctx.format, &value, || {
                format!(
                    "feed {address} (market {}, manifest {}, requester {}, at least {} agreeing)\n  \
                     value: {}\n  verified by job {} (root {}, settled at slot {}); {} deliveries, \
                     {} unverified, {} not taken\n",
                    f.market,
                    if f.manifest_hash == [0; 32] {
                        "any".to_string()
                    } else {
                        hex::encode(f.manifest_hash)
                    },
                    f.requester,
                    f.min_agreeing,
                    value_text(&f),
                    f.last_job,
                    hex::encode(f.last_root),
                    f.last_settled_slot,
                    f.deliveries,
                    f.unverified,
                    f.rejected
                )
            })
        }
    }
}
