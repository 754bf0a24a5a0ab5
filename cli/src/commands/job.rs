//! `cmkt job post|status|list|result|cancel|extend|finalize|why|history`.

use super::job_view::{job_json, job_text, settlement_json, settlement_table, slots_summary};
use super::{blob, mint_decimals};
use crate::{out, settings::*, Ctx};
use anyhow::{anyhow, bail, Context, Result};
use compute_market_client::manifest::DEFAULT_RUNTIME;
use compute_market_client::{
    ata, ix,
    results::{output_url, summary_url, verify_output, verify_summary, ResultSummaryJson},
    rpc::Chain,
    Consumer, ConsumerAccount, JobPostArgs, MarketRef, Outcome, Pubkey, Settlement, Verdict,
};
use serde_json::json;
use solana_sdk::signer::Signer;
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

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

#[derive(clap::Args)]
pub struct PostArgs {
    /// The wasm32-wasip1 module.
    #[arg(long)]
    module: PathBuf,
    /// File given to the module on stdin (default: empty).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Argument for the module (repeatable).
    #[arg(long = "arg")]
    args: Vec<String>,
    /// Replicas n.
    #[arg(long, short = 'n', default_value_t = 1)]
    replicas: u8,
    /// Agreeing results needed, k: a strict majority of n (default: the smallest, n / 2 + 1).
    #[arg(long, short = 'q')]
    quorum: Option<u8>,
    /// Reward per replica in whole tokens: with --min-reward, the most a rising offer pays.
    #[arg(long, visible_alias = "max-reward")]
    reward: String,
    /// A rising offer's starting price per replica, in whole tokens: the price rises linearly
    /// from it to --reward over --ramp seconds, and a claim locks the price of its moment.
    #[arg(long, requires = "ramp")]
    min_reward: Option<String>,
    /// Seconds the price of a rising offer takes to reach --reward.
    #[arg(long, requires = "min_reward")]
    ramp: Option<i64>,
    /// Seconds after the post at which the ramp starts.
    #[arg(long, default_value_t = 0, requires = "ramp")]
    ramp_delay: i64,
    #[arg(long, default_value_t = 10_000_000_000)]
    max_fuel: u64,
    /// Memory limit in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    max_memory: u64,
    /// Output limit in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    max_output: u64,
    /// Runtime the providers run the module in (wasi-p1: NaNs canonicalised after every float
    /// instruction; wasi-p1v2: only where seen, the same outputs, other fuel counts).
    #[arg(long, default_value = DEFAULT_RUNTIME)]
    runtime: String,
    /// Seconds to the commit deadline (0: the market default).
    #[arg(long, default_value_t = 0)]
    commit_window: i64,
    /// Job nonce (default: random).
    #[arg(long)]
    nonce: Option<u64>,
    /// Have the verified result written into this feed of the sample consumer program
    /// (`cmkt feed create`) once the job settles.
    #[arg(long, conflicts_with = "consumer")]
    feed: Option<String>,
    /// A program to call with the job's outcome once it settles (`deliver_result`).
    #[arg(long)]
    consumer: Option<String>,
    /// Hex instruction data the consumer's call starts with (for example its instruction's
    /// discriminator).
    #[arg(long, default_value = "", requires = "consumer")]
    consumer_data: String,
    /// An account the consumer needs, `PUBKEY` or `PUBKEY:w` for a writable one (repeatable,
    /// in order).
    #[arg(long = "consumer-account", requires = "consumer")]
    consumer_accounts: Vec<String>,
    /// Follow the job until it settles.
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
}

fn parse_job(s: &str) -> Result<Pubkey> {
    parse_pubkey("job", s)
}

/// The consumer `--feed` or `--consumer …` name for `job`, if any.
fn consumer_of(a: &PostArgs, market: &MarketRef, job: &Pubkey) -> Result<Option<Consumer>> {
    if let Some(feed) = &a.feed {
        return Ok(Some(super::feed::consumer(&parse_pubkey("feed", feed)?)));
    }
    let Some(program) = &a.consumer else {
        return Ok(None);
    };
    let data_prefix =
        hex::decode(a.consumer_data.trim()).map_err(|_| anyhow!("--consumer-data must be hex"))?;
    let accounts = a
        .consumer_accounts
        .iter()
        .map(|s| {
            let (key, writable) = match s.strip_suffix(":w") {
                Some(k) => (k, true),
                None => (s.as_str(), false),
            };
            Ok(ConsumerAccount {
                pubkey: parse_pubkey("consumer account", key)?,
                writable,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let c = Consumer {
        program: parse_pubkey("consumer", program)?,
        data_prefix,
        accounts,
    };
    c.validate(&market.program, &market.address, &market.settlement(job))
        .map_err(|_| {
            anyhow!(
                "--consumer: at most {} bytes of data and {} accounts, not the market, system or \
                 token programs, and not its own delivery authority or the job's settlement",
                compute_market_client::program::state::MAX_CONSUMER_PREFIX,
                compute_market_client::program::state::MAX_CONSUMER_ACCOUNTS
            )
        })?;
    Ok(Some(c))
}

/// Follows a job until it settles, printing each change on stderr.
async fn wait(chain: &Chain, job: &Pubkey, timeout: Duration) -> Result<Settlement> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        if let Some(s) = chain.settlement(job).await? {
            eprintln!(
                "[{:>5.1}s] settled: {:?}",
                start.elapsed().as_secs_f64(),
                s.outcome
            );
            return Ok(s);
        }
        match chain.job(job).await? {
            Some(j) => {
                let now = slots_summary(&j);
                if now != last {
                    eprintln!("[{:>5.1}s] slots: {now}", start.elapsed().as_secs_f64());
                    last = now;
                }
            }
            // the finalize that closed the job wrote its settlement in the same transaction:
            // read it again, as it may have landed between the two reads
            None => match chain.settlement(job).await? {
                Some(_) => continue,
                None => bail!("job {job} does not exist and has no settlement record"),
            },
        }
        if start.elapsed() > timeout {
            bail!("job {job} did not settle within {} s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    let chain = ctx.chain().await?;
    let market = ctx.market(&chain).await?;
    let m = market.state.clone();
    let d = mint_decimals(&chain, &m.payment_mint).await?;
    let sd = mint_decimals(&chain, &m.stake_mint).await?;
    match cmd {
        Cmd::Post(a) => {
            let requester = ctx.settings.keypair()?;
            let module = std::fs::read(&a.module)
                .with_context(|| format!("reading module {}", a.module.display()))?;
            if !module.starts_with(b"\0asm") {
                bail!("{} is not a WebAssembly module", a.module.display());
            }
            let input = match &a.input {
                Some(p) => {
                    std::fs::read(p).with_context(|| format!("reading input {}", p.display()))?
                }
                None => Vec::new(),
            };
            let quorum = a.quorum.unwrap_or(a.replicas / 2 + 1);
            if !compute_market_client::is_strict_majority(quorum, a.replicas) {
                bail!(
                    "--quorum {quorum} is not a strict majority of --replicas {}: k must satisfy \
                     n / 2 < k <= n, so that a minority can never void the job for free",
                    a.replicas
                );
            }
            let reward = parse_amount(&a.reward, d)?;
            let min_reward = match &a.min_reward {
                Some(m) => parse_amount(m, d)?,
                None => reward,
            };
            let ramp = a.ramp.unwrap_or(0);
            let window = if a.commit_window == 0 {
                m.config.default_commit_window
            } else {
                a.commit_window
            };
            if min_reward > reward {
                bail!("--min-reward is above --reward: a rising offer rises to its maximum");
            }
            if a.min_reward.is_some() && (ramp <= 0 || a.ramp_delay < 0) {
                bail!("--ramp must be a positive number of seconds and --ramp-delay 0 or more");
            }
            // a claim at the ramp's end must still fit its claim window before the deadline
            let latest = window - m.config.claim_timeout - 1;
            if ramp > 0 && a.ramp_delay.saturating_add(ramp) > latest {
                bail!(
                    "the ramp ends {} s after the post, too late for a claim at the maximum (the \
                     commit deadline is at {window} s and a claim needs {} s before it): the ramp \
                     must end by {latest} s; shorten --ramp/--ramp-delay or lengthen --commit-window",
                    a.ramp_delay + ramp,
                    m.config.claim_timeout
                );
            }
            let escrow = reward
                .checked_mul(a.replicas as u64)
                .ok_or_else(|| anyhow!("reward × replicas overflows"))?;
            let from = ata(
                &requester.pubkey(),
                &m.payment_mint,
                &m.payment_token_program,
            );
            let have = chain.token_balance(&from).await?;
            if have < escrow {
                bail!(
                    "not enough tokens: {} holds {} of the payment mint, the escrow is {}",
                    requester.pubkey(),
                    format_amount(have, d),
                    format_amount(escrow, d)
                );
            }
            let base = ctx.blob_base()?;
            let (manifest, manifest_uri) = blob::put_job(
                &base,
                &module,
                &input,
                a.args.clone(),
                (a.max_fuel, a.max_memory, a.max_output),
                &a.runtime,
            )
            .await?;
            let nonce = a.nonce.unwrap_or_else(random_nonce);
            let job = market.job(&requester.pubkey(), nonce);
            let consumer = consumer_of(&a, &market, &job)?;
            let args = JobPostArgs {
                nonce,
                manifest_hash: manifest.hash(),
                manifest_uri,
                reward_per_replica: reward,
                min_reward_per_replica: min_reward,
                ramp_delay: if ramp > 0 { a.ramp_delay } else { 0 },
                ramp_seconds: ramp,
                replicas: a.replicas,
                quorum,
                commit_window: a.commit_window,
                // the terms read above and printed below: the post fails if they change first
                terms_hash: market.terms_hash(),
                consumer: consumer.clone(),
            };
            let sig = chain
                .send(
                    &[ix::post_job(&requester.pubkey(), &market, &from, args)],
                    &requester,
                    &[],
                )
                .await?;
            if ramp > 0 {
                eprintln!(
                    "rising offer: {} per replica from {} s after the post, rising to {} over {ramp} s; \
                     the worst case is the escrow of {} × {}",
                    format_amount(min_reward, d),
                    a.ramp_delay,
                    format_amount(reward, d),
                    a.replicas,
                    format_amount(reward, d),
                );
            }
            if let Some(c) = &consumer {
                eprintln!(
                    "once settled, its outcome goes to program {} ({} account(s)); deliveries \
                     are permissionless (`cmkt job deliver {job}` retries one)",
                    c.program,
                    c.accounts.len()
                );
            }
            eprintln!(
                "posted job {job}: {} × {} escrowed, n = {}, k = {quorum}, fee {} bps, \
                 collateral {} per claim, claim timeout {} s, reveal window {} s ({sig})",
                a.replicas,
                format_amount(reward, d),
                a.replicas,
                m.config.fee_bps,
                format_amount(m.config.collateral_per_claim, sd),
                m.config.claim_timeout,
                m.config.reveal_window,
            );
            if !a.wait {
                return out::emit(
                    ctx.format,
                    &json!({"job": job.to_string(), "signature": sig.to_string()}),
                    || format!("{job}\n"),
                );
            }
            let s = wait(&chain, &job, Duration::from_secs(a.timeout)).await?;
            out::emit(ctx.format, &settlement_json(&job, &s), || {
                settlement_table(&job, &s, d, sd)
            })
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

fn random_nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
