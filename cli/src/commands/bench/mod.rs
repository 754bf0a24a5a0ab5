//! `cmkt bench`: the market's figures, measured side by side in one run on the embedded chain
//! with real worker processes, and written to BENCHMARKS.md with the command that reproduces
//! them.
//!
//! - pickup post → claim with websocket push against polling every 60 s and every 1 s;
//! - post → settled latency and transaction count for n = 1 and n = 3 / k = 2;
//! - throughput with 1, 2 and 4 workers;
//! - bytes and rent a job locks while open and after settlement;
//! - the sandbox against the same kernels compiled natively;
//! - worker memory idle and busy;
//! - the worker journal's tick with 10 and 100 000 finished jobs;
//! - price discovery: rising offers against fixed offers at the same maximum, three floors;
//! - `cmkt audit` over generated settlements.

mod audit_gen;
mod compute_units;
mod journal;
mod price;
mod report;
mod sandbox;
mod timing;

use super::fleet::{self, WorkerSpec, Workers, TOKEN};
use anyhow::{anyhow, bail, Context, Result};
use compute_market_client::manifest::DEFAULT_RUNTIME;
use compute_market_client::{rpc::Chain, JobPostArgs, MarketRef, Outcome, Pubkey, SlotState};
use compute_market_localnet::{bootstrap, load_or_create_keypair, Localnet};
use report::*;
use solana_sdk::{signature::Keypair, signer::Signer};
use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    sync::Arc,
    time::{Duration, Instant},
};

#[derive(clap::Args)]
pub struct Args {
    /// Working directory for the chain, workers and logs (emptied first if it holds an earlier
    /// bench).
    #[arg(long, default_value = "cmkt-bench")]
    dir: PathBuf,
    /// A smoke run in a few minutes: small samples, no 60-second polling, 300 settlements.
    #[arg(long)]
    quick: bool,
    /// Write the figures as Markdown to this file (BENCHMARKS.md in the repository).
    #[arg(long)]
    write: Option<PathBuf>,
    /// Write the raw figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Settlements to generate for the audit timing (default 10 000; 300 with --quick).
    #[arg(long)]
    settlements: Option<u64>,
    /// Run this `compute-worker` executable instead of `cmkt worker` (`scripts/bench` passes
    /// the freshly built one, so memory is measured on the provider's own binary).
    #[arg(long)]
    worker_bin: Option<PathBuf>,
    /// Markdown table of `scripts/bench-sandbox` (release builds) to include in --write.
    #[arg(long)]
    sandbox_table: Option<PathBuf>,
}

const MARKER: &str = ".cmkt-bench";
/// Iterations of the hash-chain job every chain benchmark posts: a few milliseconds of compute,
/// so the figures are about the market, not the job.
const JOB_ITERATIONS: &str = "1000";
const REWARD: u64 = TOKEN;

/// Everything the chain benchmarks share.
struct Bench {
    chain: Chain,
    market: MarketRef,
    requester: Keypair,
    rpc_url: String,
    ws_url: String,
    dir: PathBuf,
    /// Keypair files of the bench providers, registered and staked.
    providers: Vec<PathBuf>,
    manifest_hash: [u8; 32],
    manifest_uri: String,
    nonce: AtomicU64,
    worker_bin: Option<PathBuf>,
    rng: std::sync::Mutex<u64>,
}

pub fn run(args: Args) -> Result<()> {
    let dir = std::path::absolute(&args.dir)?;
    fleet::prepare_dir(&dir, MARKER, &["workers"])?;
    let settlements = args
        .settlements
        .unwrap_or(if args.quick { 300 } else { 10_000 });
    let command = format!(
        "{}{}{}",
        if args.worker_bin.is_some() {
            "scripts/bench"
        } else {
            "cargo run -p cmkt -- bench"
        },
        if args.quick { " --quick" } else { "" },
        args.settlements
            .map(|n| format!(" --settlements {n}"))
            .unwrap_or_default()
    );
    println!("cmkt bench: working in {}", dir.display());
    let mut report = Report::new(command);
    report.worker = match &args.worker_bin {
        Some(p) => {
            anyhow::ensure!(p.is_file(), "--worker-bin {} is not a file", p.display());
            "compute-worker".into()
        }
        None => "cmkt worker".into(),
    };

    println!("\n== compute units of every instruction (LiteSVM, mainnet features)");
    report.program = report::ProgramInfo {
        bytes: compute_market_harness::PROGRAM_SO.len(),
        sha256: compute_market_harness::program_sha256(),
    };
    report.compute_units = compute_units::run()?;
    for r in &report.compute_units {
        println!(
            "{:<36} n {:>1}  SPL Token {:>6}  Token-2022 {:>6}  limit {:>6}",
            r.instruction, r.replicas, r.spl_token, r.token_2022, r.limit
        );
    }

    // the sandbox first, on a quiet machine
    println!("\n== sandbox against native");
    report.sandbox = sandbox::run(args.quick)?;
    if let Some(path) = &args.sandbox_table {
        let table = std::fs::read_to_string(path)
            .with_context(|| format!("reading the sandbox table {}", path.display()))?;
        println!("{}", table.trim_end());
        report.sandbox_release = Some(table);
    }
    for r in &report.sandbox {
        println!(
            "{:<12} native {:>8.1} ms  sandbox {:>8.1} ms  ratio {:.2}",
            r.sample, r.native_ms, r.sandbox_ms, r.ratio
        );
    }

    println!("\n== worker journal with 10 and 100 000 finished jobs");
    report.journal = journal::run(&dir)?;
    let j = &report.journal;
    println!(
        "tick {:.0} µs with 10, {:.0} µs with 100 000 ({:.2}×); open {:.1} ms and {:.0} ms",
        j.tick_10_us, j.tick_100k_us, j.ratio, j.open_10_ms, j.open_100k_ms
    );

    let net = fleet::local_chain(&dir)?;
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(chain_benches(
        &net,
        &dir,
        args.quick,
        args.worker_bin.as_deref(),
        &mut report,
    ));
    drop(rt);
    drop(net);
    // the audit on a chain of its own, once the one above has stopped
    let result = result.and_then(|()| {
        println!("\n== audit over {settlements} generated settlements");
        report.audit = audit_gen::run(&dir.join("audit"), settlements)?;
        let a = &report.audit;
        println!(
            "chain started on them in {:.0} s; audit {:.2} s (reads {:.2} s, checks {:.3} s); cmkt audit {:.2} s; {} violations",
            a.start_secs, a.audit_secs, a.fetch_secs, a.check_secs, a.cli_secs, a.violations
        );
        Ok(())
    });
    if let Err(e) = &result {
        // keep what was measured: the figures so far, marked as an incomplete run
        report.failure = Some(format!("{e:#}"));
    }

    let markdown = report.markdown();
    println!("\n{markdown}");
    if let Some(path) = &args.write {
        std::fs::write(path, markdown).with_context(|| format!("writing {}", path.display()))?;
        println!("written to {}", path.display());
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    result.with_context(|| format!("bench failed (logs in {})", dir.display()))
}

async fn chain_benches(
    net: &Localnet,
    dir: &Path,
    quick: bool,
    worker_bin: Option<&Path>,
    report: &mut Report,
) -> Result<()> {
    let admin = net.mint_keypair.insecure_clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let blob_url = format!("http://{}", listener.local_addr()?);
    let blob_dir = dir.join("blobs");
    tokio::spawn(async move { compute_market_localnet::blobs::serve(listener, blob_dir).await });
    let mut chain = Chain::new(&net.rpc_url());
    // confirmations are noticed within 20 ms rather than the default 200 ms
    chain.poll_interval = Duration::from_millis(20);
    let keys = dir.join("keys");
    let (market, _mint) = bootstrap::bootstrap(&chain, &admin, &keys).await?;
    let requester = load_or_create_keypair(&keys.join("requester.json"))?;
    let mut providers = vec![];
    for i in 1..=4 {
        let name = format!("provider-{i}");
        // the bootstrap funded the local chain's own wallets (provider-1..3); the fourth is ours
        if !bootstrap::DEMO_WALLETS.contains(&name.as_str()) {
            let wallet = load_or_create_keypair(&keys.join(format!("{name}.json")))?;
            bootstrap::fund(
                &chain,
                &admin,
                &wallet.pubkey(),
                &market.state.stake_mint,
                &market.state.stake_token_program,
            )
            .await?;
        }
        // the endpoint is set again by each worker's listen address below
        let (path, _) = fleet::provider(
            &chain,
            &market,
            &keys,
            &name,
            "http://127.0.0.1:1",
            5_000 * TOKEN,
        )
        .await?;
        providers.push(path);
    }
    let wasm = include_bytes!("../../../../examples/jobs/wasm/hash-chain.wasm");
    let (manifest, manifest_uri) = super::blob::put_job(
        &blob_url,
        wasm,
        b"bench",
        vec![JOB_ITERATIONS.to_string()],
        (1_000_000_000, 64 << 20, 1 << 20),
        DEFAULT_RUNTIME,
    )
    .await?;
    let b = Arc::new(Bench {
        chain,
        market,
        requester,
        rpc_url: net.rpc_url(),
        ws_url: net.ws_url(),
        dir: dir.join("workers"),
        providers,
        manifest_hash: manifest.hash(),
        manifest_uri,
        nonce: AtomicU64::new(1),
        worker_bin: worker_bin.map(Path::to_path_buf),
        rng: std::sync::Mutex::new(0x5eed_cafe),
    });

    report.slot_ms = b.slot_ms().await?;
    println!("slot time of the local chain: {:.0} ms", report.slot_ms);

    println!("\n== pickup: post → claim");
    let modes: Vec<(Discovery, usize, f64)> = if quick {
        vec![(Discovery::Push, 8, 1.0), (Discovery::Poll(1), 8, 1.0)]
    } else {
        vec![
            (Discovery::Push, 40, 1.0),
            (Discovery::Poll(1), 40, 1.0),
            (Discovery::Poll(60), 15, 8.0),
        ]
    };
    for (mode, jobs, gap) in modes {
        let row = b.pickup(mode, jobs, gap, report.slot_ms).await?;
        println!(
            "{:<16} {} jobs  p50 {:>7.0} ms ({:.1} slots)  p99 {:>7.0} ms ({:.1} slots)",
            row.discovery, row.jobs, row.p50_ms, row.p50_slots, row.p99_ms, row.p99_slots
        );
        report.pickup.push(row);
    }

    println!("\n== post → settled, three workers");
    let (latency, rent, rss_idle) = b.latency(if quick { 2 } else { 8 }).await?;
    for r in &latency {
        println!(
            "n={} k={}  {} jobs  p50 {:.0} ms  max {:.0} ms  {}–{} transactions after the post",
            r.replicas, r.quorum, r.jobs, r.p50_ms, r.max_ms, r.txs_min, r.txs_max
        );
    }
    report.latency = latency;
    report.rent = rent;
    report.rss.idle_kib = rss_idle;

    println!("\n== throughput");
    let batch = if quick { 8 } else { 40 };
    for workers in [1, 2, 4] {
        let (row, hwm) = b.throughput(workers, batch).await?;
        println!(
            "{} worker(s): {} jobs in {:.1} s = {:.1} jobs/min",
            row.workers, row.jobs, row.secs, row.per_minute
        );
        report.rss.busy_peak_kib = report.rss.busy_peak_kib.max(hwm);
        report.throughput.push(row);
    }

    println!("\n== price discovery: rising against fixed offers, three floors");
    let (per_kind, ramp) = if quick { (1, 12) } else { (4, 30) };
    report.prices = b.prices(per_kind, ramp).await?;
    for r in &report.prices {
        println!(
            "{:<28} {} jobs  mean price {:.2}  claimer's floor {:.2}  price/floor {:.2}  claimed after {:.1} s",
            r.offer, r.jobs, r.mean_price, r.mean_floor, r.price_over_floor, r.claim_secs
        );
    }

    Ok(())
}

/// How a worker finds open jobs.
#[derive(Clone, Copy, Debug)]
enum Discovery {
    Push,
    Poll(u64),
}

impl Discovery {
    fn label(self) -> String {
        match self {
            Discovery::Push => "websocket push".into(),
            Discovery::Poll(s) => format!("polling every {s} s"),
        }
    }
}

/// What the bench saw of one job.
struct Observed {
    address: Pubkey,
    claimed_ms: f64,
    settled_ms: f64,
}

impl Bench {
    fn next_nonce(&self) -> u64 {
        self.nonce.fetch_add(1, Ordering::Relaxed)
    }

    /// Uniform in [0, 1), SplitMix64: the same schedule in every run.
    fn random(&self) -> f64 {
        let mut s = self.rng.lock().unwrap();
        *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Milliseconds per slot, over five seconds.
    async fn slot_ms(&self) -> Result<f64> {
        let s0 = self.chain.rpc.get_slot().await?;
        let t = Instant::now();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let s1 = self.chain.rpc.get_slot().await?;
        Ok(t.elapsed().as_secs_f64() * 1e3 / (s1.saturating_sub(s0)).max(1) as f64)
    }

    fn workers(&self) -> Workers {
        let mut w = Workers::default();
        w.program = self.worker_bin.clone();
        w
    }

    /// Starts `count` workers of the bench providers and waits until they are up.
    async fn start_workers(
        &self,
        workers: &mut Workers,
        tag: &str,
        count: usize,
        discovery: Discovery,
        floors: &[u64],
    ) -> Result<()> {
        for (i, keypair) in self.providers.iter().take(count).enumerate() {
            let floor = floors.get(i).copied().unwrap_or(0);
            let name = format!("{tag}-{}", i + 1);
            let listen = format!("127.0.0.1:{}", fleet::free_port()?);
            let (ws, poll) = match discovery {
                Discovery::Push => (self.ws_url.clone(), 5),
                Discovery::Poll(s) => (compute_worker::daemon::WEBSOCKET_OFF.to_string(), s),
            };
            workers.spawn(&WorkerSpec {
                name: &name,
                keypair,
                listen: &listen,
                rpc_url: &self.rpc_url,
                ws_url: &ws,
                market: &self.market.address,
                dir: &self.dir,
                extra: &format!(
                    "[policy]\nmax_concurrent = 2\nmin_time_left = 5\nmin_reward = {floor}\n\
                     [chain]\ntick_ms = 200\nfallback_poll_secs = {poll}\nrescan_secs = 3600\n"
                ),
                args: &[],
            })?;
        }
        workers
            .wait_all_up(matches!(discovery, Discovery::Push))
            .await
    }

    /// Posts one job of the benchmark module; returns its address once the post is confirmed.
    async fn post(&self, replicas: u8, quorum: u8) -> Result<(Pubkey, Instant)> {
        let args = JobPostArgs {
            nonce: self.next_nonce(),
            manifest_hash: self.manifest_hash,
            manifest_uri: self.manifest_uri.clone(),
            reward_per_replica: REWARD,
            min_reward_per_replica: REWARD,
            ramp_delay: 0,
            ramp_seconds: 0,
            replicas,
            quorum,
            commit_window: 0,
            terms_hash: self.market.terms_hash(),
            consumer: None,
        };
        let job = fleet::post(&self.chain, &self.market, &self.requester, args).await?;
        Ok((job, Instant::now()))
    }

    /// Polls the job every 25 ms until it settled; times are from `posted`.
    async fn observe(self: Arc<Self>, job: Pubkey, posted: Instant) -> Result<Observed> {
        let deadline = posted + Duration::from_secs(600);
        let mut claimed = None;
        loop {
            if Instant::now() > deadline {
                bail!("job {job} did not settle within 10 minutes");
            }
            match self.chain.job(&job).await? {
                Some(j) => {
                    if claimed.is_none() && j.slots.iter().any(|s| s.state != SlotState::Free) {
                        claimed = Some(posted.elapsed());
                    }
                }
                None => {
                    let s = self
                        .chain
                        .settlement(&job)
                        .await?
                        .ok_or_else(|| anyhow!("job {job} closed without a settlement"))?;
                    if s.outcome != Outcome::Verified {
                        bail!("job {job} settled {:?}", s.outcome);
                    }
                    let settled = posted.elapsed();
                    return Ok(Observed {
                        address: job,
                        claimed_ms: claimed.unwrap_or(settled).as_secs_f64() * 1e3,
                        settled_ms: settled.as_secs_f64() * 1e3,
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until everything confirmed so far is rooted: this validator answers
    /// `getSignaturesForAddress` from rooted blocks only.
    async fn wait_rooted(&self) -> Result<()> {
        let target = self.chain.rpc.get_slot().await?;
        let deadline = Instant::now() + Duration::from_secs(180);
        while self.chain.rooted_slot().await? < target {
            if Instant::now() > deadline {
                bail!("slot {target} was not rooted within 3 minutes");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }

    /// The job's successful transactions, oldest first, as slots (call [`Self::wait_rooted`]
    /// first).
    async fn tx_slots(&self, job: &Pubkey) -> Result<Vec<u64>> {
        let sigs = self
            .chain
            .rpc
            .get_signatures_for_address(job)
            .await
            .context("RPC getSignaturesForAddress")?;
        let mut slots: Vec<u64> = sigs
            .iter()
            .filter(|s| s.err.is_none())
            .map(|s| s.slot)
            .collect();
        slots.sort_unstable();
        Ok(slots)
    }
}
