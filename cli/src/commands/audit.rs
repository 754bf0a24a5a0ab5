//! `cmkt audit`: every settlement and the vault invariants of a market.

use super::mint_decimals;
use crate::{out, settings::format_amount, Ctx};
use anyhow::{bail, Result};
use compute_market_client::audit;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    Table,
    Json,
    Csv,
}

#[derive(clap::Args)]
pub struct Args {
    /// Report format (default: table; `--output json` also selects json).
    #[arg(long, value_enum)]
    format: Option<AuditFormat>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let chain = ctx.chain().await?;
    let address = ctx.market_address()?;
    let (snap, r) = audit::audit_chain(&chain, &address).await?;
    let d = mint_decimals(&chain, &snap.market.state.payment_mint).await?;
    let sd = mint_decimals(&chain, &snap.market.state.stake_mint).await?;
    let format = args.format.unwrap_or(match ctx.format {
        out::Format::Json => AuditFormat::Json,
        out::Format::Table => AuditFormat::Table,
    });
    let mut providers = out::Table::new(&[
        "provider", "stake", "locked", "slots", "agreed", "paid", "slashed",
    ]);
    for (owner, t) in &r.providers {
        providers.row(vec![
            owner.clone(),
            format_amount(t.stake, sd),
            format_amount(t.locked, sd),
            t.settled_slots.to_string(),
            t.agreed.to_string(),
            format_amount(t.paid, d),
            format_amount(t.slashed, sd),
        ]);
    }
    match format {
        AuditFormat::Json => println!("{}", serde_json::to_string_pretty(&r)?),
        AuditFormat::Csv => {
            let mut t = out::Table::new(&[
                "settlement",
                "job",
                "requester",
                "outcome",
                "escrow",
                "paid",
                "fee",
                "refund",
                "slashed",
                "bounty",
                "settled_at",
            ]);
            for (a, s) in &snap.settlements {
                t.row(vec![
                    a.to_string(),
                    s.job.to_string(),
                    s.requester.to_string(),
                    format!("{:?}", s.outcome),
                    s.escrow.to_string(),
                    s.total_paid.to_string(),
                    s.fee.to_string(),
                    s.refund.to_string(),
                    s.total_slashed.to_string(),
                    s.bounty.to_string(),
                    s.settled_at.to_string(),
                ]);
            }
            print!("{}", t.csv());
        }
        AuditFormat::Table => {
            let mut t = out::Table::new(&["check", "value"]);
            for (k, v) in [
                ("market", r.market.clone()),
                (
                    "settlements",
                    format!(
                        "{} ({} verified, {} without quorum, {} cancelled)",
                        r.settlements, r.verified, r.no_quorum, r.cancelled
                    ),
                ),
                ("open jobs", r.open_jobs.to_string()),
                (
                    "escrow vault / open escrows",
                    format!(
                        "{} / {}{}",
                        format_amount(r.escrow_vault_balance, d),
                        format_amount(r.open_escrow, d),
                        surplus(r.escrow_surplus, d)
                    ),
                ),
                (
                    "stake vault / stakes",
                    format!(
                        "{} / {}{}",
                        format_amount(r.stake_vault_balance, sd),
                        format_amount(r.total_stake, sd),
                        surplus(r.stake_surplus, sd)
                    ),
                ),
                (
                    "surplus swept to the treasury",
                    format!(
                        "{} / {}",
                        format_amount(r.escrow_swept, d),
                        format_amount(r.stake_swept, sd)
                    ),
                ),
                ("paid to providers", format_amount(r.total_paid, d)),
                ("fees", format_amount(r.total_fees, d)),
                ("refunded", format_amount(r.total_refunded, d)),
                (
                    "slashed (bounties)",
                    format!(
                        "{} ({})",
                        format_amount(r.total_slashed, sd),
                        format_amount(r.total_bounties, sd)
                    ),
                ),
            ] {
                t.row(vec![k.into(), v]);
            }
            print!("{}\n{}", t.render(), providers.render());
            println!(
                "{}",
                if r.ok() {
                    "audit: OK".to_string()
                } else {
                    format!("audit: {} violation(s)", r.violations.len())
                }
            );
        }
    }
    if !r.ok() {
        for v in &r.violations {
            eprintln!("violation: {v}");
        }
        bail!("the audit found {} violation(s)", r.violations.len());
    }
    Ok(())
}

/// A vault's balance beyond its books: tokens sent to it from outside the program, owed to
/// nobody.
fn surplus(amount: u64, decimals: u8) -> String {
    if amount == 0 {
        String::new()
    } else {
        format!(
            " (surplus {}, sent from outside: `cmkt market sweep` sends it to the treasury)",
            format_amount(amount, decimals)
        )
    }
}
