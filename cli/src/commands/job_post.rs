//! `cmkt job post`: a job's module and input uploaded, its manifest written and the job posted
//! with the reward escrowed (a fixed or a rising offer, optionally naming a consumer program).

use super::blob;
use super::job_view::{settlement_json, settlement_table, slots_summary};
use crate::{out, settings::*, Ctx};
use anyhow::{anyhow, bail, Context, Result};
use compute_market_client::manifest::DEFAULT_RUNTIME;
use compute_market_client::{
    ata, ix, rpc::Chain, Consumer, ConsumerAccount, JobPostArgs, MarketRef, Pubkey, Settlement,
};
use compute_worker::executor::{Executor, Refusal};
use serde_json::json;
use solana_sdk::signer::Signer;
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

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
    /// instruction; wasi-p1v2: only where seen; wasi-p1v3: also fuel, the timeout and the call
    /// depth compiled into the module, loops faster, recursion as deep on every machine; the
    /// same outputs, other fuel counts).
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
    /// Post without first compiling the module for --runtime here as a provider's worker does
    /// before it claims (a module that fails there is skipped by every provider).
    #[arg(long)]
    no_check: bool,
    /// Follow the job until it settles.
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
}

/// The module `a` names, checked before anything touches the chain: a WebAssembly module and,
/// unless `--no-check`, one that compiles for its runtime here the way every provider's worker
/// compiles it before it claims (unknown imports, no `_start`, under `wasi-p1v3` a native
/// frame larger than its call-depth weight: the worker skips such a job, which then waits
/// unclaimed until its requester cancels it).
pub async fn read_module(a: &PostArgs) -> Result<Vec<u8>> {
    let module = std::fs::read(&a.module)
        .with_context(|| format!("reading module {}", a.module.display()))?;
    if !module.starts_with(b"\0asm") {
        bail!("{} is not a WebAssembly module", a.module.display());
    }
    if a.no_check {
        return Ok(module);
    }
    let runtime = a.runtime.clone();
    let (module, compiled) = tokio::task::spawn_blocking(move || {
        let compiled = Executor::new().and_then(|ex| ex.compile(&runtime, &module).map(|_| ()));
        (module, compiled)
    })
    .await?;
    match compiled {
        Ok(()) => Ok(module),
        Err(Refusal::InvalidModule(why)) => bail!(
            "providers would skip this job: {} does not compile for runtime {} ({why}); \
             --no-check posts it anyway",
            a.module.display(),
            a.runtime
        ),
        Err(e) => bail!(
            "checking {}: {e}; --no-check posts without it",
            a.module.display()
        ),
    }
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

/// Posts the job `a` describes (its `module` from [`read_module`]): checks it, uploads module
/// and input, escrows the maximum and, with `--wait`, follows it until it settles.
pub async fn run(
    ctx: &Ctx,
    chain: &Chain,
    market: &MarketRef,
    (a, module): (PostArgs, Vec<u8>),
    (d, sd): (u8, u8),
) -> Result<()> {
    let m = &market.state;
    let requester = ctx.settings.keypair()?;
    let input = match &a.input {
        Some(p) => std::fs::read(p).with_context(|| format!("reading input {}", p.display()))?,
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
    let consumer = consumer_of(&a, market, &job)?;
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
            &[ix::post_job(&requester.pubkey(), market, &from, args)],
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
    let s = wait(chain, &job, Duration::from_secs(a.timeout)).await?;
    out::emit(ctx.format, &settlement_json(&job, &s), || {
        settlement_table(&job, &s, d, sd)
    })
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
