//! `cmkt demo`: the whole market on one machine. A local chain and blob store, three worker
//! processes (the third one cheats), the sample jobs, live progress, the settlements, the audit
//! and the verified outputs.

use super::fleet::{self, WorkerSpec, Workers, TOKEN};
use crate::settings::format_amount;
use anyhow::{anyhow, bail, Context, Result};
use compute_market_client::manifest::DEFAULT_RUNTIME;
use compute_market_client::{
    audit, rpc::Chain, JobPostArgs, MarketRef, Outcome, Pubkey, Settlement, SlotState, Verdict,
};
use compute_market_localnet::{bootstrap, load_or_create_keypair, Localnet};
use compute_worker::executor::{Executor, Limits};
use solana_sdk::{signature::Keypair, signer::Signer};
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

#[derive(clap::Args)]
pub struct Args {
    /// Directory for the demo's chain, workers and outputs (emptied first if it holds an
    /// earlier demo).
    #[arg(long, default_value = "cmkt-demo")]
    dir: PathBuf,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

const MARKER: &str = ".cmkt-demo";
const PROVIDERS: usize = 3;
/// The cheating provider (index into the providers).
const CHEATER: usize = 2;

struct Sample {
    name: &'static str,
    wasm: &'static [u8],
    input: Vec<u8>,
    args: Vec<String>,
    replicas: u8,
    quorum: u8,
    /// The most paid per agreeing replica.
    reward: u64,
    /// A rising offer's starting price and ramp (seconds from the post); `reward` and 0 for a
    /// fixed one.
    min_reward: u64,
    ramp: i64,
    ext: &'static str,
    /// Names a feed of the sample consumer program, which `deliver_result` writes the verified
    /// output into.
    feed: bool,
}

/// The honest providers' price floors (`policy.min_reward`); the cheater's is above the rising
/// offer's maximum, so it only goes after the well-paid replicated jobs and the demo's outcome
/// does not depend on who is fastest to the single-replica one.
const FLOORS: [u64; PROVIDERS] = [2 * TOKEN, 3 * TOKEN / 2, 4 * TOKEN];

fn samples() -> Vec<Sample> {
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    vec![
        Sample {
            name: "digits",
            wasm: include_bytes!("../../../examples/jobs/wasm/digits.wasm"),
            input: include_bytes!("../../../examples/jobs/digits/test-images.bin").to_vec(),
            args: vec![],
            replicas: 1,
            quorum: 1,
            // a rising offer: from 1 to 3 tokens over 20 s; the provider whose floor it reaches
            // first (while it is that provider's turn) takes it at about its floor
            reward: 3 * TOKEN,
            min_reward: TOKEN,
            ramp: 20,
            ext: "txt",
            feed: false,
        },
        Sample {
            name: "monte-carlo",
            wasm: include_bytes!("../../../examples/jobs/wasm/monte-carlo.wasm"),
            input: b"demo seed".to_vec(),
            args: s(&["2000000"]),
            replicas: 3,
            quorum: 2,
            reward: 5 * TOKEN,
            min_reward: 5 * TOKEN,
            ramp: 0,
            ext: "txt",
            // its estimate of pi lands in an on-chain feed that programs can read
            feed: true,
        },
        Sample {
            name: "word-freq",
            wasm: include_bytes!("../../../examples/jobs/wasm/word-freq.wasm"),
            input: include_bytes!("../../../README.md").to_vec(),
            args: s(&["15"]),
            replicas: 3,
            quorum: 2,
            reward: 5 * TOKEN,
            min_reward: 5 * TOKEN,
            ramp: 0,
            ext: "txt",
            feed: false,
        },
        Sample {
            name: "mandelbrot",
            wasm: include_bytes!("../../../examples/jobs/wasm/mandelbrot.wasm"),
            input: vec![],
            args: s(&["480", "360", "300"]),
            replicas: 3,
            quorum: 2,
            reward: 5 * TOKEN,
            min_reward: 5 * TOKEN,
            ramp: 0,
            ext: "png",
            feed: false,
        },
    ]
}

/// Module, input, arguments and job address of one local re-run.
type Run = (Vec<u8>, Vec<u8>, Vec<String>, Pubkey);

const MAX_FUEL: u64 = 20_000_000_000;
const MAX_MEMORY: u64 = 256 << 20;
const MAX_OUTPUT: u64 = 16 << 20;

fn elapsed(t0: Instant) -> String {
    format!("[{:>6.1}s]", t0.elapsed().as_secs_f64())
}

pub fn run(args: Args) -> Result<()> {
    let t0 = Instant::now();
    let dir = std::path::absolute(&args.dir)?;
    fleet::prepare_dir(&dir, MARKER, &["workers", "outputs"])?;
    println!(
        "{} starting the local chain in {}",
        elapsed(t0),
        dir.display()
    );
    let net = fleet::local_chain(&dir)?;
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(demo(&net, &dir, t0, Duration::from_secs(args.timeout)));
    drop(rt);
    drop(net);
    match result {
        Ok(()) => {
            println!("{} demo passed", elapsed(t0));
            Ok(())
        }
        Err(e) => Err(e.context(format!("demo failed (logs in {})", dir.display()))),
    }
}

async fn demo(net: &Localnet, dir: &Path, t0: Instant, timeout: Duration) -> Result<()> {
    let admin = net.mint_keypair.insecure_clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let blob_url = format!("http://{}", listener.local_addr()?);
    let blob_dir = dir.join("blobs");
    tokio::spawn(async move { compute_market_localnet::blobs::serve(listener, blob_dir).await });
    let chain = Chain::new(&net.rpc_url());
    let keys = dir.join("keys");
    let (market, mint) = bootstrap::bootstrap(&chain, &admin, &keys).await?;
    println!(
        "{} chain ready: market {}, mint {mint}",
        elapsed(t0),
        market.address
    );

    // three providers register, stake and start their workers; the last one cheats
    let mut workers = Workers::default();
    let mut providers = vec![];
    let (rpc_url, ws_url) = (net.rpc_url(), net.ws_url());
    for (i, &min_reward) in FLOORS.iter().enumerate() {
        let name = format!("provider-{}", i + 1);
        let listen = format!("127.0.0.1:{}", fleet::free_port()?);
        let endpoint = format!("http://{listen}");
        let (keypair, wallet) =
            fleet::provider(&chain, &market, &keys, &name, &endpoint, 2_000 * TOKEN).await?;
        let cheater = i == CHEATER;
        workers.spawn(&WorkerSpec {
            name: &name,
            keypair: &keypair,
            listen: &listen,
            rpc_url: &rpc_url,
            ws_url: &ws_url,
            market: &market.address,
            dir: &dir.join("workers"),
            extra: &format!(
                "[policy]\nmin_reward = {min_reward}\nmax_concurrent = 2\nmin_time_left = 5\n\
                 [chain]\ntick_ms = 300\nfallback_poll_secs = 2\n\
                 [crank]\ninterval_secs = 2\n"
            ),
            args: if cheater { &["--fault", "lie"] } else { &[] },
        })?;
        println!(
            "{} {name} {} staked 2000, price floor {}, worker at {endpoint}{}",
            elapsed(t0),
            wallet.pubkey(),
            format_amount(min_reward, 6),
            if cheater {
                "  (configured to cheat)"
            } else {
                ""
            }
        );
        providers.push(wallet.pubkey());
    }
    workers.wait_all_up(true).await?;
    println!("{} workers subscribed to the market", elapsed(t0));

    // the requester posts the sample jobs
    let requester = load_or_create_keypair(&keys.join("requester.json"))?;
    let samples = samples();
    let mut jobs = vec![];
    let mut feeds = vec![];
    for (nonce, s) in samples.iter().enumerate() {
        let (job, feed) = post(&chain, &market, &requester, &blob_url, nonce as u64, s).await?;
        let offer = if s.ramp > 0 {
            format!(
                "price rising {} → {} over {} s",
                format_amount(s.min_reward, 6),
                format_amount(s.reward, 6),
                s.ramp
            )
        } else {
            format!("reward {} per replica", format_amount(s.reward, 6))
        };
        println!(
            "{} posted {:<12} n={} k={} {offer}  {job}",
            elapsed(t0),
            s.name,
            s.replicas,
            s.quorum,
        );
        if let Some(f) = feed {
            println!(
                "{}   its verified result goes to the program {} (feed {f})",
                elapsed(t0),
                verified_value::ID
            );
        }
        jobs.push(job);
        feeds.push(feed);
    }

    // what an honest provider computes, for the final check (the requester's own re-run)
    let expected = tokio::task::spawn_blocking({
        let runs: Vec<Run> = samples
            .iter()
            .zip(&jobs)
            .map(|(s, j)| (s.wasm.to_vec(), s.input.clone(), s.args.clone(), *j))
            .collect();
        move || -> Result<Vec<[u8; 32]>> {
            let ex = Executor::new().map_err(|e| anyhow!("{e}"))?;
            runs.iter()
                .map(|(wasm, input, args, job)| {
                    let m = ex
                        .compile(DEFAULT_RUNTIME, wasm)
                        .map_err(|e| anyhow!("{e}"))?;
                    let limits = Limits {
                        max_fuel: MAX_FUEL,
                        max_memory: MAX_MEMORY,
                        max_output: MAX_OUTPUT,
                        timeout: Duration::from_secs(300),
                    };
                    let x = ex
                        .run(&m, input, args, &job.to_bytes(), limits)
                        .map_err(|e| anyhow!("{e}"))?;
                    Ok(x.summary().root(job))
                })
                .collect()
        }
    });

    // live progress until every job settled
    let deadline = Instant::now() + timeout;
    let mut last: Vec<String> = vec![String::new(); jobs.len()];
    let mut settled: Vec<Option<Settlement>> = vec![None; jobs.len()];
    while settled.iter().any(Option::is_none) {
        if Instant::now() > deadline {
            bail!("not every job settled within {timeout:?}");
        }
        workers.check()?;
        for (i, job) in jobs.iter().enumerate() {
            if settled[i].is_some() {
                continue;
            }
            let state = match chain.job(job).await? {
                Some(j) => {
                    let count = |f: &dyn Fn(SlotState) -> bool| {
                        j.slots.iter().filter(|s| f(s.state)).count()
                    };
                    format!(
                        "claimed {}/{n} · committed {}/{n} · revealed {}/{n}",
                        count(&|s| s != SlotState::Free),
                        count(&|s| matches!(s, SlotState::Committed | SlotState::Revealed)),
                        count(&|s| s == SlotState::Revealed),
                        n = j.slots.len()
                    )
                }
                None => match chain.settlement(job).await? {
                    Some(s) => {
                        let line = format!("settled: {:?}", s.outcome);
                        settled[i] = Some(s);
                        line
                    }
                    None => continue,
                },
            };
            if state != last[i] {
                println!("{} {:<12} {state}", elapsed(t0), samples[i].name);
                last[i] = state;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let settled: Vec<Settlement> = settled.into_iter().map(Option::unwrap).collect();
    let expected = expected.await??;

    // the books
    println!();
    println!(
        "{:<12} {:>5} {:<9} {:>8} {:>8} {:>8} {:>8}  verdicts",
        "job", "n/k", "outcome", "paid", "fee", "refund", "slashed"
    );
    let name_of = |p: &Pubkey| {
        providers
            .iter()
            .position(|q| q == p)
            .map_or_else(|| p.to_string(), |i| format!("provider-{}", i + 1))
    };
    for (s, sample) in settled.iter().zip(&samples) {
        let verdicts: Vec<String> = s
            .verdicts
            .iter()
            .map(|v| format!("{}:{:?}", name_of(&v.provider), v.verdict))
            .collect();
        println!(
            "{:<12} {:>5} {:<9} {:>8} {:>8} {:>8} {:>8}  {}",
            sample.name,
            format!("{}/{}", s.replicas, s.quorum),
            format!("{:?}", s.outcome),
            format_amount(s.total_paid, 6),
            format_amount(s.fee, 6),
            format_amount(s.refund, 6),
            format_amount(s.total_slashed, 6),
            verdicts.join(" ")
        );
    }

    let mut failures = vec![];
    for ((s, sample), root) in settled.iter().zip(&samples).zip(&expected) {
        if s.outcome != Outcome::Verified {
            failures.push(format!(
                "{} settled {:?}, not Verified",
                sample.name, s.outcome
            ));
        } else if s.result_root != *root {
            failures.push(format!(
                "{}: the settled root differs from the requester's own run",
                sample.name
            ));
        }
        // a rising offer is claimed once its price reaches the claimer's floor, at most the maximum
        if sample.ramp > 0 {
            for v in s
                .verdicts
                .iter()
                .filter(|v| v.verdict != Verdict::Unclaimed)
            {
                let who = providers.iter().position(|p| *p == v.provider);
                let floor = who.map_or(0, |i| FLOORS[i]);
                println!(
                    "{:<12} {} claimed at price {} (its floor {}), paid {}",
                    sample.name,
                    name_of(&v.provider),
                    format_amount(v.price, 6),
                    format_amount(floor, 6),
                    format_amount(v.paid, 6),
                );
                if v.price < floor || v.price > sample.reward {
                    failures.push(format!(
                        "{}: claimed at {} outside its floor {floor} .. max {}",
                        sample.name, v.price, sample.reward
                    ));
                }
            }
        }
        if sample.replicas > 1 {
            let cheat = s.verdicts.iter().find(|v| v.provider == providers[CHEATER]);
            match cheat {
                Some(v) if v.verdict == Verdict::Dissented && v.slashed > 0 => {}
                Some(v) => failures.push(format!(
                    "{}: the cheater got {:?} and lost {}",
                    sample.name, v.verdict, v.slashed
                )),
                None => failures.push(format!("{}: the cheater held no slot", sample.name)),
            }
        }
    }
    let cheater = chain
        .provider(&market.address, &providers[CHEATER])
        .await?
        .ok_or_else(|| anyhow!("the cheater's account is gone"))?;
    println!(
        "\nprovider-{} (the cheater) lost {} tokens of stake; the honest providers earned {} and {}",
        CHEATER + 1,
        format_amount(cheater.total_slashed, 6),
        format_amount(earned(&chain, &market, &providers[0]).await?, 6),
        format_amount(earned(&chain, &market, &providers[1]).await?, 6),
    );

    // the audit
    let (snap, report) = audit::audit_chain(&chain, &market.address).await?;
    println!(
        "audit: {} settlements, {} live jobs, {} providers: {}",
        snap.settlements.len(),
        snap.jobs.len(),
        snap.providers.len(),
        if report.ok() {
            "every check holds".to_string()
        } else {
            format!("{} violations", report.violations.len())
        }
    );
    for v in &report.violations {
        failures.push(format!("audit: {v}"));
    }

    // the outputs, downloaded from a winner and verified against the settled roots, and the
    // value a consumer program received
    for ((s, sample), feed) in settled.iter().zip(&samples).zip(&feeds) {
        if s.outcome != Outcome::Verified {
            continue;
        }
        let Some(winner) = s.verdicts.iter().find(|v| v.verdict == Verdict::Agreed) else {
            continue;
        };
        let (_, bytes) = super::job::fetch_verified(
            &chain,
            &market.address,
            &s.job,
            &winner.provider,
            &s.result_root,
        )
        .await
        .with_context(|| format!("downloading the {} result", sample.name))?;
        let path = dir
            .join("outputs")
            .join(format!("{}.{}", sample.name, sample.ext));
        std::fs::write(&path, &bytes)?;
        println!(
            "{:<12} {} bytes verified against the root, written to {}",
            sample.name,
            bytes.len(),
            path.display()
        );
        if let Some(feed) = feed {
            match delivered(&chain, &s.job, feed, &name_of).await {
                Ok(f) if f.value == bytes => println!(
                    "{:<12} on-chain in feed {feed}: \"{}\"",
                    sample.name,
                    super::feed::value_text(&f)
                ),
                Ok(_) => failures.push(format!(
                    "{}: the feed's value differs from the verified output",
                    sample.name
                )),
                Err(e) => failures.push(format!("{}: {e:#}", sample.name)),
            }
        }
    }
    drop(workers);

    if failures.is_empty() {
        Ok(())
    } else {
        for f in &failures {
            eprintln!("FAILED: {f}");
        }
        bail!("{} expectation(s) failed", failures.len())
    }
}

async fn earned(chain: &Chain, market: &MarketRef, owner: &Pubkey) -> Result<u64> {
    Ok(chain
        .provider(&market.address, owner)
        .await?
        .map_or(0, |p| p.total_earned))
}

/// Waits (up to 30 s) for a worker that agreed on `job` to deliver it into `feed`, and prints
/// who did; the feed afterwards.
async fn delivered(
    chain: &Chain,
    job: &Pubkey,
    feed: &Pubkey,
    name_of: &dyn Fn(&Pubkey) -> String,
) -> Result<verified_value::Feed> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = chain
            .settlement(job)
            .await?
            .context("the settlement vanished")?;
        let d = s.delivery.context("the settlement names no consumer")?;
        if d.delivered_slot != 0 {
            println!(
                "{:<12} result delivered to the consumer program by {} at slot {}",
                "",
                name_of(&d.delivered_by),
                d.delivered_slot
            );
            return super::feed::read(chain, feed)
                .await?
                .context("the feed does not exist");
        }
        if Instant::now() > deadline {
            bail!("no worker delivered the result to its consumer within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Uploads and posts one sample (first creating the feed it names, if any); the job and the
/// feed.
async fn post(
    chain: &Chain,
    market: &MarketRef,
    requester: &Keypair,
    blob_url: &str,
    nonce: u64,
    s: &Sample,
) -> Result<(Pubkey, Option<Pubkey>)> {
    let (manifest, uri) = super::blob::put_job(
        blob_url,
        s.wasm,
        &s.input,
        s.args.clone(),
        (MAX_FUEL, MAX_MEMORY, MAX_OUTPUT),
        DEFAULT_RUNTIME,
    )
    .await?;
    let feed = match s.feed {
        true => Some(
            // this computation, this requester's jobs, two providers in agreement
            super::feed::create(
                chain,
                requester,
                nonce,
                &market.address,
                super::feed::Rules {
                    manifest_hash: manifest.hash(),
                    requester: requester.pubkey(),
                    min_agreeing: 2,
                },
            )
            .await?,
        ),
        false => None,
    };
    let args = JobPostArgs {
        nonce,
        manifest_hash: manifest.hash(),
        manifest_uri: uri,
        reward_per_replica: s.reward,
        min_reward_per_replica: s.min_reward,
        ramp_delay: 0,
        ramp_seconds: s.ramp,
        replicas: s.replicas,
        quorum: s.quorum,
        commit_window: 0,
        terms_hash: market.terms_hash(),
        consumer: feed.as_ref().map(super::feed::consumer),
    };
    let job = fleet::post(chain, market, requester, args)
        .await
        .with_context(|| format!("posting {}", s.name))?;
    Ok((job, feed))
}
