//! `cmkt job post|status|list|result|cancel|extend|finalize|why|history`.

use super::job_post::PostArgs;
use super::job_view::{job_json, job_text, settlement_json, settlement_table, slots_summary};
use super::mint_decimals;
use crate::{out, settings::*, Ctx};
use anyhow::{anyhow, bail, Context, Result};
use compute_market_client::{
    ata, ix,
    results::{output_url, summary_url, verify_output, verify_summary, ResultSummaryJson},
    rpc::Chain,
    Outcome, Pubkey, Verdict,
};
use serde_json::json;
use solana_sdk::signer::Signer;
use std::{path::PathBuf, time::Duration};

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Upload a module and input, write the manifest, post the job and escrow the reward.
    Post(Box<PostArgs>),
    /// Show a job's slots, or its settlement once settled.
    Status { job: String },
    /// List the market's live jobs.
    List {
        /// Only jobs with a free slot.
        #[arg(long)]
        open: bool,
    },
    /// Download the verified output of a settled job from a winning provider.
    Result {
        job: String,
        /// Where to write the output.
        #[arg(long)]
        out: PathBuf,
    },
    /// Cancel a job nobody holds a slot of; the escrow comes back.
    Cancel { job: String },
    /// Give an open job more time (--by) or a higher maximum (--max-reward, topping up the
    /// escrow; only while no slot is held).
    Extend(super::job_extend::ExtendArgs),
    /// Hand a settled job's outcome to the program it named (retry after a refusal; anyone
    /// may).
    Deliver { job: String },
    /// Settle a job that can be settled (anyone may; earns the bounty on others' slashes).
    Finalize { job: String },
    /// Why an open job is not taken: each staked provider's reason (stake, offline, runtime,
    /// limits, price, eligibility window) from what the program and the providers' workers
    /// publish, and what would help.
    Why { job: String },
    /// The job's history: the program's events in every transaction naming it (also once it
    /// settled).
    History { job: String },
}

fn parse_job(s: &str) -> Result<Pubkey> {
    parse_pubkey("job", s)
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    // a post's own inputs first, before any connection
    let module = match &cmd {
        Cmd::Post(a) => Some(super::job_post::read_module(a).await?),
        _ => None,
    };
    let chain = ctx.chain().await?;
    let market = ctx.market(&chain).await?;
    let m = market.state.clone();
    let d = mint_decimals(&chain, &m.payment_mint).await?;
    let sd = mint_decimals(&chain, &m.stake_mint).await?;
    match cmd {
        Cmd::Post(a) => {
            let module = module.expect("read above");
            super::job_post::run(ctx, &chain, &market, (*a, module), (d, sd)).await
        }
        Cmd::Status { job } => {
            let job = parse_job(&job)?;
            if let Some(s) = chain.settlement(&job).await? {
                return out::emit(ctx.format, &settlement_json(&job, &s), || {
                    settlement_table(&job, &s, d, sd)
                });
            }
            let j = chain
                .job(&job)
                .await?
                .ok_or_else(|| anyhow!("job {job} does not exist (never posted)"))?;
            let turns = super::turns::turns(&chain, &market, &job, &j).await?;
            let now = chain.unix_time().await?;
            let mut value = job_json(&job, &j, now);
            value["eligibility"] = turns.json(&j);
            out::emit(ctx.format, &value, || {
                job_text(&job, &j, now, d, sd) + &turns.text(&j)
            })
        }
        Cmd::List { open } => {
            let jobs = if open {
                chain.open_jobs(&market.address).await?
            } else {
                chain.jobs(&market.address).await?
            };
            let now = chain.unix_time().await?;
            let v: Vec<_> = jobs.iter().map(|(a, j)| job_json(a, j, now)).collect();
            out::emit(ctx.format, &v, || {
                let mut t = out::Table::new(&[
                    "job",
                    "status",
                    "n",
                    "k",
                    "price now",
                    "requester",
                    "slots",
                ]);
                for (a, j) in &jobs {
                    t.row(vec![
                        a.to_string(),
                        format!("{:?}", j.status),
                        j.replicas.to_string(),
                        j.quorum.to_string(),
                        format_amount(j.price_at(now), d),
                        j.requester.to_string(),
                        slots_summary(j),
                    ]);
                }
                t.render()
            })
        }
        Cmd::Result { job, out: path } => {
            let job = parse_job(&job)?;
            let s = chain
                .settlement(&job)
                .await?
                .ok_or_else(|| anyhow!("job {job} has not settled"))?;
            if s.outcome != Outcome::Verified {
                bail!(
                    "job {job} settled without a verified result ({:?})",
                    s.outcome
                );
            }
            let root = s.result_root;
            let mut failures = Vec::new();
            for v in s.verdicts.iter().filter(|v| v.verdict == Verdict::Agreed) {
                match fetch_verified(&chain, &market.address, &job, &v.provider, &root).await {
                    Ok((summary, bytes)) => {
                        for f in &failures {
                            eprintln!("warning: {f}");
                        }
                        std::fs::write(&path, &bytes)
                            .with_context(|| format!("writing {}", path.display()))?;
                        let value = json!({"job": job.to_string(), "provider": v.provider.to_string(),
                            "result_root": hex::encode(root), "bytes": bytes.len(), "status": summary.status,
                            "fuel_used": summary.fuel_used, "file": path});
                        return out::emit(ctx.format, &value, || {
                            format!(
                                "{} bytes from provider {} verified against root {} ({:?}, fuel {}); written to {}\n",
                                bytes.len(), v.provider, hex::encode(root), summary.status, summary.fuel_used, path.display()
                            )
                        });
                    }
                    Err(e) => failures.push(format!("provider {}: {e:#}", v.provider)),
                }
            }
            bail!(
                "no winning provider served a verifiable result: {}",
                failures.join("; ")
            )
        }
        Cmd::Finalize { job } => {
            let job = parse_job(&job)?;
            let caller = ctx.settings.keypair()?;
            let state = chain.job(&job).await?.ok_or_else(|| {
                anyhow!("job {job} does not exist (settled, cancelled or never posted)")
            })?;
            let bounty_to = ata(&caller.pubkey(), &m.stake_mint, &m.stake_token_program);
            // the payout accounts first, in their own transaction: with n = 8 the finalize alone
            // is close to the packet size
            let mut prereq = ix::finalize_job_prerequisites(&caller.pubkey(), &market, &state);
            prereq.push(ix::create_ata(
                &caller.pubkey(),
                &caller.pubkey(),
                &m.stake_mint,
                &m.stake_token_program,
            ));
            chain
                .send(&prereq, &caller, &[])
                .await
                .context("creating the payout accounts")?;
            let finalize = ix::finalize_job(&caller.pubkey(), &market, &job, &state, &bounty_to);
            let mut chain = chain.clone();
            if !chain.fits(std::slice::from_ref(&finalize), &caller.pubkey()) {
                // too large for a legacy transaction: a v0 one with the market's lookup table
                let dir = ctx
                    .localnet_dir
                    .with_file_name("lookup-tables")
                    .join(market.address.to_string());
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                chain.lookup_tables =
                    compute_worker::tables::market_table(&chain, &caller, &market, &dir)
                        .await?
                        .into_iter()
                        .collect();
            }
            let sig = chain.send(&[finalize], &caller, &[]).await?;
            let s = chain
                .settlement(&job)
                .await?
                .ok_or_else(|| anyhow!("job {job} finalized but no settlement is visible yet"))?;
            eprintln!("finalized ({sig})");
            out::emit(ctx.format, &settlement_json(&job, &s), || {
                settlement_table(&job, &s, d, sd)
            })
        }
        Cmd::Why { job } => {
            let address = parse_job(&job)?;
            let Some(j) = chain.job(&address).await? else {
                bail!(
                    "job {address} is not open: {}",
                    match chain.settlement(&address).await? {
                        Some(s) => format!("it settled ({:?}); see cmkt job status", s.outcome),
                        None => "it was never posted".into(),
                    }
                );
            };
            super::why::run(ctx.format, &chain, &market, &address, &j, (d, sd)).await
        }
        Cmd::History { job } => {
            let job = parse_job(&job)?;
            let entries = chain.history(&job, 1_000).await?;
            if entries.is_empty() {
                bail!("no transaction of the program names {job} on this cluster");
            }
            let rows: Vec<_> = entries
                .iter()
                .map(|e| {
                    json!({
                        "signature": e.signature.to_string(), "slot": e.slot, "time": e.block_time,
                        "event": e.event.name(), "summary": e.event.summary(),
                        "compute_units": e.compute_units,
                    })
                })
                .collect();
            out::emit(ctx.format, &rows, || {
                let mut t =
                    out::Table::new(&["slot", "event", "what", "compute units", "signature"]);
                for e in &entries {
                    t.row(vec![
                        e.slot.to_string(),
                        e.event.name().to_string(),
                        e.event.summary(),
                        e.compute_units.to_string(),
                        e.signature.to_string()[..16].to_string() + "…",
                    ]);
                }
                t.render()
            })
        }
        Cmd::Extend(a) => super::job_extend::run(ctx, &chain, &market, a, d).await,
        Cmd::Deliver { job } => super::job_deliver::run(ctx, &chain, &job).await,
        Cmd::Cancel { job } => {
            let job = parse_job(&job)?;
            let requester = ctx.settings.keypair()?;
            let to = ata(
                &requester.pubkey(),
                &m.payment_mint,
                &m.payment_token_program,
            );
            let sig = chain
                .send(
                    &[ix::cancel_job(&requester.pubkey(), &market, &job, &to)],
                    &requester,
                    &[],
                )
                .await?;
            out::emit(
                ctx.format,
                &json!({"job": job.to_string(), "signature": sig.to_string()}),
                || format!("job {job} cancelled, escrow refunded ({sig})\n"),
            )
        }
    }
}

/// Downloads a result from `provider`'s endpoint and checks it against `root`, the root settled
/// for `job`: the summary first (small, checked against the root), which then bounds the size of
/// the output download.
pub(crate) async fn fetch_verified(
    chain: &Chain,
    market: &Pubkey,
    job: &Pubkey,
    provider: &Pubkey,
    root: &[u8; 32],
) -> Result<(ResultSummaryJson, Vec<u8>)> {
    let p = chain
        .provider(market, provider)
        .await?
        .ok_or_else(|| anyhow!("the provider account is gone"))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let summary_bytes = read_capped(&http, &summary_url(&p.endpoint, root), 64 * 1024)
        .await
        .with_context(|| format!("fetching the summary from {}", p.endpoint))?;
    let summary: ResultSummaryJson =
        serde_json::from_slice(&summary_bytes).context("the summary is not valid JSON")?;
    let checked = verify_summary(job, root, &summary)
        .map_err(|e| anyhow!("the summary fails verification: {e}"))?;
    let bytes = read_capped(&http, &output_url(&p.endpoint, root), checked.output_len)
        .await
        .with_context(|| format!("fetching the output from {}", p.endpoint))?;
    verify_output(job, root, &summary, &bytes)
        .map_err(|e| anyhow!("served bytes fail verification: {e}"))?;
    Ok((summary, bytes))
}

/// GETs `url`, refusing a body longer than `max` bytes without reading past it.
pub(super) async fn read_capped(http: &reqwest::Client, url: &str, max: u64) -> Result<Vec<u8>> {
    let mut resp = http.get(url).send().await?.error_for_status()?;
    if resp.content_length().is_some_and(|n| n > max) {
        bail!("the response is larger than the {max} bytes expected");
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if out.len() as u64 + chunk.len() as u64 > max {
            bail!("the response is larger than the {max} bytes expected");
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
