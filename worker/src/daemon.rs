//! The provider daemon: discovery → policy → fetch → claim → execute → journal → commit, then
//! reveal, finalize and crank, with a result server, metrics and graceful shutdown.
//!
//! Tasks share one shutdown signal; [`run`] starts them, each has its loop in its own file:
//! - [`discovery`]: a websocket program subscription to the market's open jobs, with
//!   `getProgramAccounts` polling while the socket is down and a slow safety rescan while it is up;
//! - [`scheduler`]: takes candidates, at most `max_concurrent` at a time (one task per job), and
//!   claims, runs and commits each;
//! - [`tracker`]: every `tick_ms`, moves the journal's unfinished jobs on (commit, reveal,
//!   finalize, record the verdict), and every `rescan_secs` reconciles the journal with the chain;
//! - [`crank`]: expires stale claims and finalizes other providers' jobs when the bounty pays;
//! - [`http`]: results by root, `/metrics`, `/healthz`.
//!
//! [`steps`] holds the on-chain steps of one job (commit, reveal, finalize, verdict) that the
//! scheduler and the tracker share; [`deliver`] hands a verified result to the program its job
//! named, once the job settled with this worker among the agreeing providers.
//!
//! Crash safety rests on the journal: a job is recorded before its claim is sent, its salt and
//! result before its commitment is sent, and every later step re-reads the chain first, so a
//! restart resumes any job at any point without claiming twice or committing to something the
//! worker cannot reveal.

mod crank;
mod deliver;
mod discovery;
mod http;
mod publish;
mod scheduler;
mod steps;
mod tracker;

use crate::{
    config::Resolved,
    executor::{Compiled, Executor},
    fetch::{FetchPolicy, Fetcher},
    journal::{Entry, Journal, Stage},
    metrics::Metrics,
    policy::Skip,
};
use anyhow::{anyhow, bail, Context, Result};
use compute_market_client::{
    manifest::Manifest,
    rpc::{Chain, ChainError},
    Job, MarketRef, Pubkey,
};
use solana_sdk::{signature::Keypair, signer::Signer};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::{mpsc, watch, Semaphore};

/// Test-only misbehaviour, to prove the protocol catches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Commit to, reveal and serve a wrong output.
    Lie,
}

impl std::str::FromStr for Fault {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "lie" => Ok(Fault::Lie),
            other => Err(anyhow!("unknown fault {other:?} (known: lie)")),
        }
    }
}

/// How long a job that failed a check which cannot change is ignored, and one whose blobs or
/// stake may change.
const SKIP_FOREVER: Duration = Duration::from_secs(3_600);
const SKIP_RETRY: Duration = Duration::from_secs(30);
/// Compiled modules kept in memory.
const MODULE_CACHE: usize = 16;
/// After this long a sent claim that is not on-chain never will be (its blockhash expired).
const CLAIM_LANDING: Duration = Duration::from_secs(90);
/// Seconds kept between the end of a run and the end of its claim window, for the commit.
const COMMIT_MARGIN_SECS: i64 = 3;
/// `ws_url` value that turns the subscription off: discovery polls only.
pub const WEBSOCKET_OFF: &str = "off";

/// Shared state of the daemon.
pub struct Worker {
    pub settings: Resolved,
    chain: Chain,
    me: Keypair,
    market: MarketRef,
    journal: Arc<Journal>,
    fetcher: Fetcher,
    executor: Arc<Executor>,
    pub metrics: Arc<Metrics>,
    /// Jobs a task is working on (claim to commit); the tracker leaves them alone.
    active: Mutex<HashSet<Pubkey>>,
    /// Jobs not to look at again before the given time.
    skipped: Mutex<HashMap<Pubkey, (Instant, Terms)>>,
    /// Problems already reported once (commitments without a journal entry).
    reported: Mutex<HashSet<Pubkey>>,
    /// When a claim whose outcome is unknown was sent (or first seen unlanded after a restart).
    claim_sent: Mutex<HashMap<Pubkey, Instant>>,
    /// Unfinished entries that wait on the chain, and when the tracker looks at them again.
    waits: Mutex<HashMap<Pubkey, tracker::Backoff>>,
    /// Compiled modules by sha256, oldest first: a module posted again starts without compiling.
    modules: Mutex<Vec<(String, Compiled)>>,
    /// Holds the exclusive lock on the data directory while the worker runs.
    _lock: std::fs::File,
    permits: Arc<Semaphore>,
    fault: Option<Fault>,
    shutdown: watch::Receiver<bool>,
    /// Unix seconds of the last successful RPC call.
    rpc_ok_at: Mutex<Option<Instant>>,
}

/// What a requester can change of an open job (`extend_job`): its price curve and deadlines. A
/// job skipped for its price or its time left is looked at again once they change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Terms {
    reward: u64,
    min_reward: u64,
    ramp_start: i64,
    ramp_seconds: i64,
    commit_deadline: i64,
}

impl Terms {
    fn of(job: &Job) -> Terms {
        Terms {
            reward: job.reward_per_replica,
            min_reward: job.min_reward_per_replica,
            ramp_start: job.ramp_start,
            ramp_seconds: job.ramp_seconds,
            commit_deadline: job.commit_deadline,
        }
    }
}

/// Removes a job from the active set when the task working on it ends, however it ends.
struct ActiveGuard<'a>(&'a Worker, Pubkey);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0
            .active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.1);
    }
}

/// A job ready to claim: its manifest and blobs passed every check.
struct Prepared {
    manifest: Manifest,
    module: Compiled,
    input: Vec<u8>,
}

fn short(p: &Pubkey) -> String {
    p.to_string()[..8].to_string()
}

impl Worker {
    /// Connects, loads the market and the journal. `shutdown` turning `true` stops the daemon.
    pub async fn new(
        settings: Resolved,
        me: Keypair,
        fault: Option<Fault>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Worker>> {
        let c = &settings.config;
        let mut chain = Chain::new(&settings.rpc_url).with_program(settings.program);
        chain.priority_fee = c.chain.priority_fee;
        chain.compute_limit = (c.chain.compute_limit > 0).then_some(c.chain.compute_limit);
        chain.send_timeout = Duration::from_secs(60);
        let market = chain
            .market(&settings.market)
            .await
            .with_context(|| format!("loading market {}", settings.market))?;
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating {}", settings.data_dir.display()))?;
        // two daemons on one journal could commit with a salt the journal does not hold
        let lock_path = settings.data_dir.join("worker.lock");
        let lock = std::fs::File::create(&lock_path)
            .with_context(|| format!("creating {}", lock_path.display()))?;
        lock.try_lock().map_err(|_| {
            anyhow!(
                "another compute-worker is using {}; one data directory per worker",
                settings.data_dir.display()
            )
        })?;
        chain.lookup_tables = crate::tables::market_table(&chain, &me, &market, &settings.data_dir)
            .await?
            .into_iter()
            .collect();
        let journal = Arc::new(
            Journal::open_with_retention(
                &settings.data_dir.join("journal"),
                Duration::from_secs(c.run.retention_days.saturating_mul(86_400)),
            )
            .with_context(|| format!("opening the journal in {}", settings.data_dir.display()))?,
        );
        let fetcher = Fetcher::new(
            &settings.data_dir.join("cache"),
            FetchPolicy {
                max_blob_bytes: c.fetch.max_blob_bytes,
                timeout: Duration::from_secs(c.fetch.timeout_secs),
                file_roots: c.fetch.file_roots.iter().map(Into::into).collect(),
            },
        )?;
        // compiled modules survive restarts: a job whose module this provider has run before
        // starts without a compile
        let executor = Arc::new(
            Executor::cached(&settings.data_dir.join("modules")).map_err(|e| anyhow!("{e}"))?,
        );
        Ok(Arc::new(Worker {
            permits: Arc::new(Semaphore::new(settings.max_concurrent)),
            settings,
            chain,
            me,
            market,
            journal,
            fetcher,
            executor,
            metrics: Arc::default(),
            active: Mutex::default(),
            skipped: Mutex::default(),
            reported: Mutex::default(),
            claim_sent: Mutex::default(),
            waits: Mutex::default(),
            modules: Mutex::default(),
            _lock: lock,
            fault,
            shutdown,
            rpc_ok_at: Mutex::default(),
        }))
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    fn me(&self) -> Pubkey {
        self.me.pubkey()
    }

    /// Notes the outcome of an RPC call for `/healthz` and the error counter.
    fn rpc<T>(&self, r: Result<T, ChainError>) -> Result<T, ChainError> {
        match &r {
            Ok(_) => *self.rpc_ok_at.lock().unwrap() = Some(Instant::now()),
            Err(ChainError::Rpc { .. }) => self.metrics.inc("cmkt_worker_rpc_errors_total", &[]),
            Err(_) => *self.rpc_ok_at.lock().unwrap() = Some(Instant::now()),
        }
        r
    }

    async fn job(&self, address: &Pubkey) -> Result<Option<Job>, ChainError> {
        self.rpc(self.chain.job(address).await)
    }

    async fn now(&self) -> Result<i64, ChainError> {
        self.rpc(self.chain.unix_time().await)
    }

    /// Sends `ixs`, counting the transaction under `what`.
    async fn send(
        &self,
        what: &str,
        ixs: &[solana_sdk::instruction::Instruction],
    ) -> Result<(), ChainError> {
        let t = Instant::now();
        let r = self.rpc(self.chain.send(ixs, &self.me, &[]).await);
        let result = if r.is_ok() { "ok" } else { "error" };
        self.metrics.inc(
            "cmkt_worker_transactions_total",
            &[("instruction", what), ("result", result)],
        );
        match &r {
            Ok(_) => self.metrics.observe(what, t.elapsed()),
            // the program's refusals: counted by name, logged (once, quietly) by the caller
            Err(ChainError::Program { name, .. }) => self.metrics.inc(
                "cmkt_worker_refused_total",
                &[("instruction", what), ("error", name)],
            ),
            Err(_) => {}
        }
        r.map(|_| ())
    }

    fn record(&self, entry: &Entry) {
        if let Err(e) = self.journal.record(entry) {
            // Without a journal the worker must not go on: stop the whole process (a panic would
            // only end one task). A restart resumes from what is on disk and on-chain.
            tracing::error!(job = %entry.job, error = %e, "journal write failed; stopping");
            std::process::abort();
        }
    }

    fn finish(&self, mut entry: Entry, note: impl Into<String>) {
        entry.stage = Stage::Done;
        entry.note = Some(note.into());
        self.record(&entry);
    }

    /// Leaves `job` (whose account read `state`) alone for a while: until its terms change
    /// (`extend_job`) or the skip runs out.
    fn skip(&self, job: &Pubkey, state: &Job, why: &Skip) {
        self.metrics
            .inc("cmkt_worker_skipped_total", &[("reason", why.reason())]);
        let wait = if why.may_change() {
            SKIP_RETRY
        } else {
            SKIP_FOREVER
        };
        let now = Instant::now();
        let mut skipped = self.skipped.lock().unwrap();
        skipped.retain(|_, (until, _)| *until > now);
        skipped.insert(*job, (now + wait, Terms::of(state)));
        tracing::info!(job = %job, reason = why.reason(), detail = %why, "job skipped, not claimed");
    }
}

/// Runs the daemon until `shutdown` turns true, then stops claiming, gives in-flight jobs
/// `shutdown_grace_secs` to commit, and returns.
pub async fn run(worker: Arc<Worker>, mut shutdown: watch::Receiver<bool>) -> Result<()> {
    let s = &worker.settings;
    let listener = tokio::net::TcpListener::bind(&s.config.server.listen)
        .await
        .with_context(|| format!("binding the result server to {}", s.config.server.listen))?;
    let local = listener.local_addr()?;
    match worker.rpc(
        worker
            .chain
            .provider(&worker.market.address, &worker.me())
            .await,
    ) {
        Ok(Some(p)) if p.endpoint != s.endpoint => tracing::warn!(
            registered = %p.endpoint, configured = %s.endpoint,
            "the registered endpoint differs from the configured one: run `compute-worker register` to update it"
        ),
        Ok(Some(_)) => {}
        Ok(None) => tracing::warn!(
            "not registered yet: run `compute-worker register` and `stake`; watching meanwhile"
        ),
        Err(e) => tracing::warn!(error = %e, "could not read the provider account"),
    }
    tracing::info!(
        provider = %worker.me(), market = %worker.market.address, rpc = %s.rpc_url,
        listen = %local, endpoint = %s.endpoint, max_concurrent = s.max_concurrent,
        pending = worker.journal.pending().len(), fault = ?worker.fault,
        "compute-worker running"
    );
    worker.metrics.set("cmkt_worker_up", 1.0);

    let server = {
        let app = worker.router();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // serve results until the very end
                    while stop.changed().await.is_ok() {}
                })
                .await;
        })
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let discovery = tokio::spawn(worker.clone().discover(tx));
    let scheduler = tokio::spawn(worker.clone().schedule(rx));

    // the tracker and the crank: see their files for why each has a loop of its own
    let (tracker_stop_tx, tracker_stop) = watch::channel(false);
    let mut tracker = tokio::spawn(worker.clone().track_loop(tracker_stop));
    let mut crank = tokio::spawn(worker.clone().crank_loop(shutdown.clone()));
    let publisher = tokio::spawn(worker.clone().publish_loop(shutdown.clone()));

    // until shutdown; a task that dies before it (a panic) stops the worker: a worker without
    // its tracker would claim and commit but never reveal, and lose its collateral
    let mut crank_ended = false;
    let died = loop {
        if *shutdown.borrow() {
            break None;
        }
        tokio::select! {
            r = shutdown.changed() => if r.is_err() { break None },
            r = &mut tracker => break Some(("tracker", r.err())),
            r = &mut crank, if !crank_ended => {
                crank_ended = true; // returns at once when the crank is off
                if let Err(e) = r {
                    break Some(("crank", Some(e)));
                }
            }
        }
    };
    if let Some((task, e)) = died {
        worker.metrics.set("cmkt_worker_up", 0.0);
        tracing::error!(task, error = ?e, "a task of the worker stopped; exiting (a restart resumes from the journal)");
        discovery.abort();
        scheduler.abort();
        crank.abort();
        tracker.abort();
        publisher.abort();
        server.abort();
        bail!("the worker's {task} stopped unexpectedly: {e:?}");
    }
    // the grace period starts now; discovery and scheduling stop at once
    let grace = Duration::from_secs(s.config.run.shutdown_grace_secs);
    let deadline = Instant::now() + grace;
    worker.metrics.set("cmkt_worker_up", 0.0);
    tracing::info!(in_flight = worker.active.lock().unwrap().len(), grace = ?grace, "stopping: no new claims");
    discovery.abort();
    scheduler.abort();
    crank.abort();
    publisher.abort();
    while !worker.active.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = tracker_stop_tx.send(true);
    let _ = tracker.await;
    let left = worker.active.lock().unwrap().len();
    let pending = worker.journal.pending();
    if left > 0 {
        tracing::warn!(
            jobs = left,
            "grace period over with jobs still running; they resume at the next start"
        );
    }
    for e in &pending {
        tracing::info!(job = %e.job, stage = ?e.stage, "unfinished; resumes at the next start");
    }
    server.abort();
    tracing::info!(pending = pending.len(), "stopped");
    Ok(())
}
