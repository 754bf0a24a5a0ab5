//! Settlements for the audit timing, made by real transactions: a requester posts the jobs
//! (several posts per transaction), and the four bench providers take each one through claim,
//! commit, reveal and finalize in one transaction. Then the audit is timed in-process and as the
//! `cmkt audit` command.

use super::{report::AuditRow, Bench};
use anyhow::{anyhow, bail, ensure, Context, Result};
use compute_market_client::{ata, audit, commitment_hash, ix, pda, JobPostArgs, SlotState};
use compute_market_localnet::{bootstrap, load_or_create_keypair};
use solana_sdk::{signature::Keypair, signer::Signer};
use std::{
    sync::atomic::{AtomicUsize, Ordering},
    sync::Arc,
    time::Instant,
};

/// Reward per generated job: 0.01 token.
const REWARD: u64 = 10_000;
/// Transactions in flight at once. (At 48 the debug-built in-process validator once panicked
/// in its broadcast stage, "All banks frozen ... must have a block id", after a few thousand.)
const IN_FLIGHT: usize = 16;

fn post_args(nonce: u64, uri: &str) -> JobPostArgs {
    JobPostArgs {
        nonce,
        manifest_hash: [7; 32],
        manifest_uri: uri.to_string(),
        reward_per_replica: REWARD,
        replicas: 1,
        quorum: 1,
        commit_window: 0,
    }
}

/// Runs `f(i)` for every `i < n` on `IN_FLIGHT` tasks.
async fn for_each<F, Fut>(n: usize, f: F) -> Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let f = Arc::new(f);
    let mut tasks = vec![];
    for _ in 0..IN_FLIGHT {
        let (next, f) = (next.clone(), f.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                f(i).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

pub async fn run(b: &Arc<Bench>, admin: &Keypair, count: u64) -> Result<AuditRow> {
    let t0 = Instant::now();
    let chain = &b.chain;
    let market = &b.market;
    let requester = Arc::new(load_or_create_keypair(
        &b.keys.join("audit-requester.json"),
    )?);
    let uri = "bench://audit".to_string();
    let job_rent = chain
        .rpc
        .get_minimum_balance_for_rent_exemption(compute_market_client::Job::space(1, uri.len()))
        .await?;
    let deposit = chain
        .rpc
        .get_minimum_balance_for_rent_exemption(compute_market_client::Settlement::space(1))
        .await?;
    bootstrap::fund(
        chain,
        admin,
        &requester.pubkey(),
        &market.state.payment_mint,
        &market.state.payment_token_program,
    )
    .await?;
    chain
        .send(
            &[anchor_lang::solana_program::system_instruction::transfer(
                &admin.pubkey(),
                &requester.pubkey(),
                count * (job_rent + deposit + 20_000),
            )],
            admin,
            &[],
        )
        .await
        .context("funding the audit requester")?;

    // posts, as many per transaction as fit
    let from = ata(
        &requester.pubkey(),
        &market.state.payment_mint,
        &market.state.payment_token_program,
    );
    let post_ix =
        |nonce: u64| ix::post_job(&requester.pubkey(), market, &from, post_args(nonce, &uri));
    let mut per_tx = 1;
    while per_tx < 8
        && chain.fits(
            &(0..per_tx as u64 + 1).map(post_ix).collect::<Vec<_>>(),
            &requester.pubkey(),
        )
    {
        per_tx += 1;
    }
    let count = count as usize;
    let batches = count.div_ceil(per_tx);
    {
        let (b2, requester, from, uri) = (b.clone(), requester.clone(), from, uri.clone());
        for_each(batches, move |batch| {
            let (b2, requester, uri) = (b2.clone(), requester.clone(), uri.clone());
            async move {
                let ixs: Vec<_> = (batch * per_tx..((batch + 1) * per_tx).min(count))
                    .map(|i| {
                        ix::post_job(
                            &requester.pubkey(),
                            &b2.market,
                            &from,
                            post_args(i as u64, &uri),
                        )
                    })
                    .collect();
                b2.chain.send(&ixs, &requester, &[]).await?;
                Ok(())
            }
        })
        .await
        .context("posting the audit jobs")?;
    }

    // each job's whole life in one transaction of one of the four providers
    let providers: Arc<Vec<Keypair>> = Arc::new(
        b.providers
            .iter()
            .map(|(path, _)| load_or_create_keypair(path))
            .collect::<Result<_>>()?,
    );
    let template = chain
        .job(&pda::job(&market.address, &requester.pubkey(), 0))
        .await?
        .ok_or_else(|| anyhow!("the first audit job is missing"))?;
    {
        let (b2, requester, providers) = (b.clone(), requester.clone(), providers.clone());
        for_each(count, move |i| {
            let (b2, providers) = (b2.clone(), providers.clone());
            let mut job = template.clone();
            let requester = requester.pubkey();
            async move {
                let p = &providers[i % providers.len()];
                let owner = p.pubkey();
                let address = pda::job(&b2.market.address, &requester, i as u64);
                let root = solana_sdk::hash::hashv(&[address.as_ref()]).to_bytes();
                let salt = solana_sdk::hash::hashv(&[b"salt", address.as_ref()]).to_bytes();
                job.slots[0].provider = owner;
                job.slots[0].state = SlotState::Revealed;
                let bounty_to = ata(
                    &owner,
                    &b2.market.state.stake_mint,
                    &b2.market.state.stake_token_program,
                );
                let ixs = [
                    ix::claim_job(&owner, &b2.market.address, &address),
                    ix::commit_result(
                        &owner,
                        &address,
                        commitment_hash(&address, &owner, &root, &salt),
                    ),
                    ix::reveal_result(&owner, &address, root, salt),
                    ix::finalize_job(&owner, &b2.market, &address, &job, &bounty_to),
                ];
                ensure!(
                    b2.chain.fits(&ixs, &owner),
                    "a job's life does not fit in one transaction"
                );
                b2.chain.send(&ixs, p, &[]).await?;
                Ok(())
            }
        })
        .await
        .context("settling the audit jobs")?;
    }
    let generate_secs = t0.elapsed().as_secs_f64();

    // the audit, in-process: the reads, then the checks
    let t = Instant::now();
    let snap = audit::fetch(chain, &market.address).await?;
    let fetch_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let report = audit::audit(&snap);
    let check_secs = t.elapsed().as_secs_f64();
    ensure!(
        report.settlements as usize >= count,
        "the audit saw {} settlements, {count} were generated",
        report.settlements
    );
    for v in report.violations.iter().take(5) {
        eprintln!("audit violation: {v}");
    }

    // and the command a person runs
    let exe = std::env::current_exe()?;
    let t = Instant::now();
    let out = tokio::process::Command::new(exe)
        .args(["--url", &b.rpc_url, "--market", &market.address.to_string()])
        .args(["audit", "--format", "json"])
        .env("CMKT_SOLANA_CONFIG", "/nonexistent")
        .output()
        .await
        .context("running cmkt audit")?;
    let cli_secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "cmkt audit failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    ensure!(
        json["settlements"].as_u64() == Some(report.settlements),
        "cmkt audit counted {} settlements, the in-process audit {}",
        json["settlements"],
        report.settlements
    );
    Ok(AuditRow {
        settlements: report.settlements,
        per_tx_posts: per_tx as u64,
        generate_secs,
        fetch_secs,
        check_secs,
        audit_secs: fetch_secs + check_secs,
        cli_secs,
        violations: report.violations.len() as u64,
    })
}
