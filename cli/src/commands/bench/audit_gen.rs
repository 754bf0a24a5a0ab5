//! Settlements for the audit timing, and the timing itself.
//!
//! The program makes the settlements: in LiteSVM (the Solana VM in-process, with the real SPL
//! Token program and the compute-market program as a native builtin, as in the test suite) a
//! market is created, four providers stake, a requester posts `count` jobs and the providers take
//! each one through claim, commit, reveal and finalize in one transaction. Every account is then
//! handed to a fresh local chain as its genesis state, as a restart of `cmkt localnet` does, and
//! the audit is timed there over JSON-RPC: in-process (reads, then checks) and as the `cmkt audit`
//! command a person runs.
//!
//! (The bench used to send these transactions to the local chain itself: 10 000 jobs took over
//! twenty minutes there, and twice the debug-built validator panicked in its broadcast stage
//! under that load, "All banks frozen ... must have a block id", before they were done.)

use super::report::AuditRow;
use anyhow::{anyhow, bail, ensure, Context, Result};
use compute_market_client::{
    ata, audit, commitment_hash, decode, ix, pda, rpc, token, Job, JobPostArgs, Market, MarketRef,
    Pubkey, PROGRAM_ID,
};
use compute_market_localnet::{bootstrap, state::State, STATE_FILE};
use litesvm::LiteSVM;
use solana_sdk::{
    instruction::Instruction, signature::Keypair, signer::Signer, transaction::Transaction,
};
use std::{path::Path, time::Instant};

/// Reward per generated job: 0.01 token.
const REWARD: u64 = 10_000;
/// Providers the jobs are spread over.
const PROVIDERS: usize = 4;
const SOL: u64 = 1_000_000_000;

/// Generates `count` settlements, starts a local chain on them in `dir` and times the audit.
/// Call outside any tokio runtime (the validator starts its own).
pub fn run(dir: &Path, count: u64) -> Result<AuditRow> {
    let t0 = Instant::now();
    let (market, state) = generate(count)?;
    let generate_secs = t0.elapsed().as_secs_f64();
    println!(
        "{count} jobs settled in LiteSVM in {generate_secs:.1} s; {} accounts to the local chain",
        state.len()
    );

    let ledger = dir.join("ledger");
    std::fs::create_dir_all(&ledger)?;
    state.save(&ledger.join(STATE_FILE))?;
    let t = Instant::now();
    let net = super::fleet::local_chain(dir)?;
    let start_secs = t.elapsed().as_secs_f64();
    let rpc_url = net.rpc_url();
    let rt = tokio::runtime::Runtime::new()?;
    let row = rt.block_on(time_audit(&rpc_url, &market, count))?;
    drop(rt);
    drop(net);
    Ok(AuditRow {
        generate_secs,
        start_secs,
        ..row
    })
}

/// Times the audit of `market` at `rpc_url`, in-process and as the `cmkt audit` process.
async fn time_audit(rpc_url: &str, market: &Pubkey, count: u64) -> Result<AuditRow> {
    let chain = rpc::Chain::new(rpc_url);
    let t = Instant::now();
    let snap = audit::fetch(&chain, market).await?;
    let fetch_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let report = audit::audit(&snap);
    let check_secs = t.elapsed().as_secs_f64();
    ensure!(
        report.settlements == count,
        "the audit saw {} settlements, {count} were generated",
        report.settlements
    );
    for v in report.violations.iter().take(5) {
        eprintln!("audit violation: {v}");
    }

    let exe = std::env::current_exe()?;
    let t = Instant::now();
    let out = tokio::process::Command::new(exe)
        .args(["--url", rpc_url, "--market", &market.to_string()])
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
        fetch_secs,
        check_secs,
        audit_secs: fetch_secs + check_secs,
        cli_secs,
        violations: report.violations.len() as u64,
        ..AuditRow::default()
    })
}

/// LiteSVM with the program, and the one transaction helper the generator needs.
struct Svm(LiteSVM);

impl Svm {
    /// Sends `ixs` in one transaction paid by the first signer.
    fn send(&mut self, what: &str, ixs: &[Instruction], signers: &[&Keypair]) -> Result<()> {
        let tx = Transaction::new_signed_with_payer(
            ixs,
            Some(&signers[0].pubkey()),
            signers,
            self.0.latest_blockhash(),
        );
        self.0
            .send_transaction(tx)
            .map(|_| ())
            .map_err(|f| anyhow!("{what}: {:?}; logs: {:?}", f.err, f.meta.logs))
    }

    fn airdrop(&mut self, to: &Pubkey, lamports: u64) -> Result<()> {
        self.0
            .airdrop(to, lamports)
            .map(|_| ())
            .map_err(|f| anyhow!("airdrop to {to}: {:?}", f.err))
    }
}

/// Creates a market like the local chain's default one and settles `count` jobs on it; returns
/// the market's address and every account as a local-chain state.
fn generate(count: u64) -> Result<(Pubkey, State)> {
    let mut svm = Svm(compute_market_harness::litesvm());
    // the records carry today's time, as on a live chain
    let mut clock: solana_sdk::clock::Clock = svm.0.get_sysvar();
    clock.unix_timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    svm.0.set_sysvar(&clock);

    let admin = Keypair::new();
    svm.airdrop(&admin.pubkey(), 100 * SOL)?;
    let program = token::TOKEN_PROGRAM;
    let mint = Keypair::new();
    let rent = svm.0.minimum_balance_for_rent_exemption(token::MINT_LEN);
    svm.send(
        "creating the mint",
        &token::create_mint(
            &admin.pubkey(),
            &mint.pubkey(),
            &admin.pubkey(),
            bootstrap::DECIMALS,
            &program,
            rent,
        ),
        &[&admin, &mint],
    )?;
    let mint = mint.pubkey();
    svm.send(
        "creating the market",
        &bootstrap::init_market(&PROGRAM_ID, &admin.pubkey(), &mint),
        &[&admin],
    )?;
    let address = pda::market(&PROGRAM_ID, &admin.pubkey(), bootstrap::MARKET_ID);
    let state: Market = decode(
        &address,
        "Market",
        &svm.0
            .get_account(&address)
            .ok_or_else(|| anyhow!("the market was not created"))?
            .data,
    )?;
    let market = MarketRef {
        program: PROGRAM_ID,
        address,
        state,
    };

    // a wallet with `tokens` in its token account
    let wallet = |svm: &mut Svm, lamports: u64, tokens: u64| -> Result<(Keypair, Pubkey)> {
        let k = Keypair::new();
        svm.airdrop(&k.pubkey(), lamports)?;
        let account = ata(&k.pubkey(), &mint, &program);
        svm.send(
            "funding a wallet",
            &[
                ix::create_ata(&admin.pubkey(), &k.pubkey(), &mint, &program),
                token::mint_to(&program, &mint, &account, &admin.pubkey(), tokens),
            ],
            &[&admin],
        )?;
        Ok((k, account))
    };

    let stake = 10 * market.state.config.min_stake;
    let mut providers = vec![];
    for _ in 0..PROVIDERS {
        let (p, from) = wallet(&mut svm, 10 * SOL, stake)?;
        svm.send(
            "registering a provider",
            &[
                ix::register_provider(&p.pubkey(), &market, "http://127.0.0.1:1", 1),
                ix::stake(&p.pubkey(), &market, &from, stake),
            ],
            &[&p],
        )?;
        providers.push(p);
    }

    let uri = "bench://audit";
    let per_job_lamports = svm
        .0
        .minimum_balance_for_rent_exemption(Job::space(1, uri.len()))
        + svm
            .0
            .minimum_balance_for_rent_exemption(compute_market_client::Settlement::space(
                1,
                compute_market_client::constants::MAX_EXPIRED_CLAIMS as usize,
            ))
        + 20_000;
    let (requester, from) = wallet(&mut svm, SOL + count * per_job_lamports, count * REWARD)?;
    for i in 0..count as usize {
        let job = market.job(&requester.pubkey(), i as u64);
        let args = JobPostArgs {
            nonce: i as u64,
            manifest_hash: [7; 32],
            manifest_uri: uri.to_string(),
            reward_per_replica: REWARD,
            min_reward_per_replica: REWARD,
            ramp_delay: 0,
            ramp_seconds: 0,
            replicas: 1,
            quorum: 1,
            commit_window: 0,
            terms_hash: market.terms_hash(),
            consumer: None,
        };
        svm.send(
            "posting a job",
            &[ix::post_job(&requester.pubkey(), &market, &from, args)],
            &[&requester],
        )?;
        // past the eligibility windows: the provider claims at once
        compute_market_harness::advance_slots(
            &mut svm.0,
            compute_market_client::constants::SEED_DELAY_SLOTS
                + compute_market_client::constants::ELIGIBILITY_CAP_SLOTS,
        );
        let p = &providers[i % PROVIDERS];
        let owner = p.pubkey();
        let root = solana_sdk::hash::hashv(&[job.as_ref()]).to_bytes();
        let salt = solana_sdk::hash::hashv(&[b"salt", job.as_ref()]).to_bytes();
        // the job as finalize will see it: this provider revealed in its only slot
        let mut after: Job = decode(
            &job,
            "Job",
            &svm.0
                .get_account(&job)
                .ok_or_else(|| anyhow!("job {i} was not posted"))?
                .data,
        )?;
        after.slots[0].provider = owner;
        after.slots[0].state = compute_market_client::SlotState::Revealed;
        let bounty_to = ata(&owner, &mint, &program);
        let ixs = [
            ix::claim_job(&owner, &market, &job),
            ix::commit_result(
                &market,
                &owner,
                &job,
                commitment_hash(&job, &owner, &root, &salt),
            ),
            ix::reveal_result(&market, &owner, &job, root, salt),
            ix::finalize_job(&owner, &market, &job, &after, &bounty_to),
        ];
        ensure!(
            rpc::transaction_size(&ixs, &owner) <= rpc::PACKET_DATA_SIZE,
            "a job's life does not fit in one transaction"
        );
        svm.send("settling a job", &ixs, &[p])?;
    }

    // everything but LiteSVM's own airdrop wallet
    let faucet = svm.0.airdrop_pubkey();
    let mut accounts = vec![];
    for owner in compute_market_localnet::state::saved_owners() {
        accounts.extend(
            svm.0
                .get_program_accounts(&owner)
                .into_iter()
                .filter(|(a, _)| *a != faucet),
        );
    }
    Ok((address, State::from_accounts(clock.slot, accounts)))
}
