//! `cmkt provider register|stake|unstake|withdraw|show|list`.

use super::mint_decimals;
use crate::{out, settings::*, Ctx};
use anyhow::{anyhow, Result};
use compute_market_client::{ata, ix, rpc::Chain, MarketRef, Provider, ProviderUpdateArgs, Pubkey};
use serde_json::json;
use solana_sdk::signer::Signer;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Register --keypair as a provider serving results at ENDPOINT.
    Register {
        endpoint: String,
        /// Capability bits (1 = runtime wasi-p1, 2 = wasi-p1v2, 4 = wasi-p1v3).
        #[arg(long, default_value_t = 0b111)]
        capabilities: u64,
    },
    /// Change the endpoint or capabilities.
    Update {
        #[arg(long)]
        endpoint: Option<String>,
        #[arg(long)]
        capabilities: Option<u64>,
    },
    /// Stake AMOUNT tokens (whole tokens, e.g. 1500 or 0.5).
    Stake { amount: String },
    /// Request to unstake AMOUNT of free stake (withdrawable after the cooldown).
    Unstake { amount: String },
    /// Withdraw the pending unstake after the cooldown.
    Withdraw,
    /// Close the provider account (no stake, no claims left).
    Close,
    /// Show a provider (default: --keypair's).
    Show { owner: Option<String> },
    /// List the market's providers.
    List,
}

/// `d`: stake-mint decimals, `pd`: payment-mint decimals.
fn row(p: &Provider, d: u8, pd: u8) -> Vec<String> {
    vec![
        p.owner.to_string(),
        format_amount(p.stake, d),
        format_amount(p.locked, d),
        format_amount(p.pending_unstake, d),
        p.active_claims.to_string(),
        p.jobs_completed.to_string(),
        p.jobs_failed.to_string(),
        format_amount(p.total_earned, pd),
        format_amount(p.total_slashed, d),
        p.endpoint.clone(),
    ]
}

const HEADER: &[&str] = &[
    "owner", "stake", "locked", "pending", "claims", "done", "failed", "earned", "slashed",
    "endpoint",
];

fn to_json(p: &Provider) -> serde_json::Value {
    json!({
        "owner": p.owner.to_string(), "stake": p.stake, "locked": p.locked,
        "pending_unstake": p.pending_unstake, "unstake_available_at": p.unstake_available_at,
        "active_claims": p.active_claims, "capabilities": p.capabilities,
        "jobs_completed": p.jobs_completed, "jobs_failed": p.jobs_failed,
        "total_earned": p.total_earned, "total_slashed": p.total_slashed, "endpoint": p.endpoint,
    })
}

async fn signed(
    ctx: &Ctx,
    chain: &Chain,
    market: &MarketRef,
    ixs: Vec<solana_sdk::instruction::Instruction>,
    what: &str,
) -> Result<()> {
    let owner = ctx.settings.keypair()?;
    let sig = chain.send(&ixs, &owner, &[]).await?;
    let p = chain.provider(&market.address, &owner.pubkey()).await?;
    out::emit(
        ctx.format,
        &json!({"signature": sig.to_string(), "provider": p.as_ref().map(to_json)}),
        || format!("{what} ({sig})\n"),
    )
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    let chain = ctx.chain().await?;
    let market = ctx.market(&chain).await?;
    let m = &market.state;
    let d = mint_decimals(&chain, &m.stake_mint).await?;
    let pd = mint_decimals(&chain, &m.payment_mint).await?;
    let me = || ctx.settings.keypair().map(|k| k.pubkey());
    match cmd {
        Cmd::Register {
            endpoint,
            capabilities,
        } => {
            let owner = me()?;
            signed(
                ctx,
                &chain,
                &market,
                vec![ix::register_provider(
                    &owner,
                    &market,
                    &endpoint,
                    capabilities,
                )],
                "registered",
            )
            .await
        }
        Cmd::Update {
            endpoint,
            capabilities,
        } => {
            let owner = me()?;
            let args = ProviderUpdateArgs {
                endpoint,
                capabilities,
            };
            signed(
                ctx,
                &chain,
                &market,
                vec![ix::update_provider(&owner, &market, args)],
                "updated",
            )
            .await
        }
        Cmd::Stake { amount } => {
            let owner = me()?;
            let amount = parse_amount(&amount, d)?;
            let from = ata(&owner, &m.stake_mint, &m.stake_token_program);
            let have = chain.token_balance(&from).await?;
            if have < amount {
                return Err(anyhow!(
                    "not enough tokens: {owner} holds {} of the stake mint, staking needs {}",
                    format_amount(have, d),
                    format_amount(amount, d)
                ));
            }
            signed(
                ctx,
                &chain,
                &market,
                vec![ix::stake(&owner, &market, &from, amount)],
                &format!("staked {}", format_amount(amount, d)),
            )
            .await
        }
        Cmd::Unstake { amount } => {
            let owner = me()?;
            let amount = parse_amount(&amount, d)?;
            signed(
                ctx,
                &chain,
                &market,
                vec![ix::request_unstake(&owner, &market, amount)],
                "unstake requested",
            )
            .await
        }
        Cmd::Withdraw => {
            let owner = me()?;
            let to = ata(&owner, &m.stake_mint, &m.stake_token_program);
            let ixs = vec![
                ix::create_ata(&owner, &owner, &m.stake_mint, &m.stake_token_program),
                ix::withdraw_stake(&owner, &market, &to),
            ];
            signed(ctx, &chain, &market, ixs, "withdrawn").await
        }
        Cmd::Close => {
            let owner = me()?;
            signed(
                ctx,
                &chain,
                &market,
                vec![ix::close_provider(&owner, &market)],
                "closed",
            )
            .await
        }
        Cmd::Show { owner } => {
            let owner: Pubkey = match owner {
                Some(o) => parse_pubkey("owner", &o)?,
                None => me()?,
            };
            let p = chain
                .provider(&market.address, &owner)
                .await?
                .ok_or_else(|| anyhow!("{owner} is not a provider of market {}", market.address))?;
            out::emit(ctx.format, &to_json(&p), || {
                let mut t = out::Table::new(HEADER);
                t.row(row(&p, d, pd));
                t.render()
            })
        }
        Cmd::List => {
            let all = chain.providers(&market.address).await?;
            let v: Vec<_> = all.iter().map(|(_, p)| to_json(p)).collect();
            out::emit(ctx.format, &v, || {
                let mut t = out::Table::new(HEADER);
                for (_, p) in &all {
                    t.row(row(p, d, pd));
                }
                t.render()
            })
        }
    }
}
