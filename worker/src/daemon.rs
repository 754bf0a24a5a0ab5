//! The provider daemon: discovery → policy → fetch → claim → execute → journal → commit, then
//! reveal, finalize and crank, with a result server, metrics and graceful shutdown.
//!
//! Tasks share one shutdown signal:
//! - discovery: a websocket program subscription to the market's open jobs, with
//!   `getProgramAccounts` polling while the socket is down and a slow safety rescan while it is up;
//! - scheduler: takes candidates, at most `max_concurrent` at a time (one task per job);
//! - tracker: every `tick_ms`, moves the journal's unfinished jobs on (commit, reveal, finalize,
//!   record the verdict), and every `rescan_secs` reconciles the journal with the chain;
//! - crank: expires stale claims and finalizes other providers' jobs when the bounty pays;
//! - HTTP: results by root, `/metrics`, `/healthz`.
//!
//! Crash safety rests on the journal: a job is recorded before its claim is sent, its salt and
//! result before its commitment is sent, and every later step re-reads the chain first, so a
//! restart resumes any job at any point without claiming twice or committing to something the
//! worker cannot reveal.

use crate::{
    config::Resolved,
    executor::{Executor, Limits, Refusal},
    fetch::{FetchPolicy, Fetcher},
    journal::{Entry, Journal, Stage},
    metrics::Metrics,
    policy::{self, Skip},
};
use anyhow::{anyhow, Context, Result};
use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Router};
use compute_market_client::{
    ata, commitment_hash, ix,
    manifest::Manifest,
    merkle::ResultSummary,
    results::ResultSummaryJson,
    rpc::{Chain, ChainError},
    Job, JobStatus, MarketRef, Pubkey, SlotState, Verdict,
};
use futures_util::StreamExt;
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_pubsub_client::nonblocking::pubsub_client::PubsubClient;
use solana_rpc_client_api::{
    config::{RpcAccountInfoConfig, RpcProgramAccountsConfig},
    filter::{Memcmp, RpcFilterType},
};
use solana_sdk::{signature::Keypair, signer::Signer};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

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
    skipped: Mutex<HashMap<Pubkey, Instant>>,
    /// Problems already reported once (commitments without a journal entry).
    reported: Mutex<HashSet<Pubkey>>,
    /// When a claim whose outcome is unknown was sent (or first seen unlanded after a restart).
    claim_sent: Mutex<HashMap<Pubkey, Instant>>,
    /// Compiled modules by sha256, oldest first: a module posted again starts without compiling.
    modules: Mutex<Vec<(String, wasmtime::Module)>>,
    /// Holds the exclusive lock on the data directory while the worker runs.
    _lock: std::fs::File,
    permits: Arc<Semaphore>,
    fault: Option<Fault>,
    shutdown: watch::Receiver<bool>,
    /// Unix seconds of the last successful RPC call.
    rpc_ok_at: Mutex<Option<Instant>>,
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
    module: wasmtime::Module,
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
            Journal::open(&settings.data_dir.join("journal")).with_context(|| {
                format!("opening the journal in {}", settings.data_dir.display())
            })?,
        );
        let fetcher = Fetcher::new(
            &settings.data_dir.join("cache"),
            FetchPolicy {
                max_blob_bytes: c.fetch.max_blob_bytes,
                timeout: Duration::from_secs(c.fetch.timeout_secs),
                file_roots: c.fetch.file_roots.iter().map(Into::into).collect(),
            },
        )?;
        let executor = Arc::new(Executor::new().map_err(|e| anyhow!("{e}"))?);
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
        if r.is_ok() {
            self.metrics.observe(what, t.elapsed());
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

    fn skip(&self, job: &Pubkey, why: &Skip) {
        self.metrics
            .inc("cmkt_worker_skipped_total", &[("reason", why.reason())]);
        let wait = if why.may_change() {
            SKIP_RETRY
        } else {
            SKIP_FOREVER
        };
        let now = Instant::now();
        let mut skipped = self.skipped.lock().unwrap();
        skipped.retain(|_, until| *until > now);
        skipped.insert(*job, now + wait);
        tracing::info!(job = %job, reason = why.reason(), detail = %why, "job skipped, not claimed");
    }

    // ---------------------------------------------------------------- discovery

    /// Filters of the market's open jobs: the Job discriminator, the market, status `Open`.
    fn open_job_filters(&self) -> Vec<RpcFilterType> {
        use anchor_lang::Discriminator;
        vec![
            RpcFilterType::Memcmp(Memcmp::new_raw_bytes(0, Job::DISCRIMINATOR.to_vec())),
            RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                compute_market_client::program::state::JOB_MARKET_OFFSET,
                self.market.address.to_bytes().to_vec(),
            )),
            RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                compute_market_client::program::state::JOB_STATUS_OFFSET,
                vec![0],
            )),
        ]
    }

    async fn scan(&self, tx: &mpsc::UnboundedSender<(Pubkey, Option<Job>)>) {
        match self.rpc(self.chain.open_jobs(&self.market.address).await) {
            Ok(jobs) => {
                for (address, job) in jobs {
                    let _ = tx.send((address, Some(job)));
                }
            }
            Err(e) => tracing::warn!(error = %e, "getProgramAccounts scan failed"),
        }
    }

    /// Websocket subscription with polling fallback; never returns before shutdown.
    async fn discover(self: Arc<Self>, tx: mpsc::UnboundedSender<(Pubkey, Option<Job>)>) {
        let c = &self.settings.config.chain;
        let mut shutdown = self.shutdown.clone();
        let mut backoff = Duration::from_secs(1);
        if self.settings.ws_url == WEBSOCKET_OFF {
            tracing::info!(
                every_secs = c.fallback_poll_secs,
                "websocket off: polling for open jobs"
            );
            return self.poll(&tx, None).await;
        }
        while !self.stopping() {
            let connected = async {
                let client = PubsubClient::new(self.settings.ws_url.as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                let config = RpcProgramAccountsConfig {
                    filters: Some(self.open_job_filters()),
                    account_config: RpcAccountInfoConfig {
                        encoding: Some(UiAccountEncoding::Base64),
                        commitment: Some(solana_commitment_config::CommitmentConfig::confirmed()),
                        ..RpcAccountInfoConfig::default()
                    },
                    ..RpcProgramAccountsConfig::default()
                };
                let (mut stream, _unsubscribe) = client
                    .program_subscribe(&self.market.program, Some(config))
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(url = %self.settings.ws_url, "subscribed to the market's open jobs");
                self.metrics.set("cmkt_worker_websocket_connected", 1.0);
                // catch up on what was posted while not subscribed
                self.scan(&tx).await;
                let mut rescan = tokio::time::interval(Duration::from_secs(c.rescan_secs.max(1)));
                rescan.tick().await;
                loop {
                    tokio::select! {
                        msg = stream.next() => match msg {
                            Some(update) => {
                                let Ok(address) = update.value.pubkey.parse::<Pubkey>() else { continue };
                                let job = update.value.account.to_account().and_then(|acc| {
                                    compute_market_client::decode::<Job>(&address, "Job", &acc.data).ok()
                                });
                                let _ = tx.send((address, job));
                            }
                            None => break,
                        },
                        _ = rescan.tick() => self.scan(&tx).await,
                        _ = shutdown.changed() => break,
                    }
                }
                drop(stream);
                Ok::<_, String>(())
            }
            .await;
            self.metrics.set("cmkt_worker_websocket_connected", 0.0);
            if self.stopping() {
                break;
            }
            match connected {
                Ok(()) => {
                    tracing::warn!("websocket closed; polling until it is back");
                    backoff = Duration::from_secs(1);
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "websocket unavailable; polling")
                }
            }
            // fall back to polling until the next reconnection attempt
            self.poll(&tx, Some(Instant::now() + backoff)).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    /// Scans for open jobs every `fallback_poll_secs` until `until` (without one, until
    /// shutdown).
    async fn poll(
        &self,
        tx: &mpsc::UnboundedSender<(Pubkey, Option<Job>)>,
        until: Option<Instant>,
    ) {
        let every = Duration::from_secs(self.settings.config.chain.fallback_poll_secs.max(1));
        let mut shutdown = self.shutdown.clone();
        while until.is_none_or(|u| Instant::now() < u) && !self.stopping() {
            self.scan(tx).await;
            let pause = match until {
                Some(u) => every
                    .min(u.saturating_duration_since(Instant::now()))
                    .max(Duration::from_millis(100)),
                None => every,
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    // ---------------------------------------------------------------- scheduling

    async fn schedule(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<(Pubkey, Option<Job>)>) {
        let mut shutdown = self.shutdown.clone();
        loop {
            let (address, job) = tokio::select! {
                m = rx.recv() => match m { Some(m) => m, None => break },
                _ = shutdown.changed() => break,
            };
            if self.stopping() {
                break;
            }
            if self.journal.get(&address.to_string()).is_some() {
                continue;
            }
            {
                let mut skipped = self.skipped.lock().unwrap();
                match skipped.get(&address) {
                    Some(until) if *until > Instant::now() => continue,
                    Some(_) => {
                        skipped.remove(&address);
                    }
                    None => {}
                }
            }
            if !self.active.lock().unwrap().insert(address) {
                continue;
            }
            let this = self.clone();
            tokio::spawn(async move {
                let _active = ActiveGuard(&this, address);
                let (permit, job) = match this.permits.clone().try_acquire_owned() {
                    Ok(p) => (p, job),
                    // waited: the notification may be stale
                    Err(_) => (
                        this.permits.clone().acquire_owned().await.expect("open"),
                        None,
                    ),
                };
                this.take(address, job, permit).await;
            });
        }
    }

    /// Fetches and checks what a job needs; `Err` means skip it.
    async fn prepare(&self, address: &Pubkey, job: &Job) -> Result<Prepared, Skip> {
        let t = Instant::now();
        let manifest = self
            .fetcher
            .manifest(&job.manifest_uri, &job.manifest_hash)
            .await
            .map_err(|e| Skip::Blobs(e.to_string()))?;
        policy::check_manifest(&self.settings, &manifest)?;
        let module = self
            .fetcher
            .blob(&manifest.module)
            .await
            .map_err(|e| Skip::Blobs(e.to_string()))?;
        let input = self
            .fetcher
            .blob(&manifest.input)
            .await
            .map_err(|e| Skip::Blobs(e.to_string()))?;
        self.metrics.observe("fetch", t.elapsed());
        let cached = self
            .modules
            .lock()
            .unwrap()
            .iter()
            .find(|(h, _)| *h == manifest.module.sha256)
            .map(|(_, m)| m.clone());
        let module = match cached {
            Some(m) => m,
            None => {
                let t = Instant::now();
                let executor = self.executor.clone();
                let module = tokio::task::spawn_blocking(move || executor.compile(&module))
                    .await
                    .map_err(|e| Skip::InvalidModule(e.to_string()))?
                    .map_err(|e| match e {
                        Refusal::InvalidModule(m) => Skip::InvalidModule(m),
                        other => Skip::InvalidModule(other.to_string()),
                    })?;
                self.metrics.observe("compile", t.elapsed());
                let mut cache = self.modules.lock().unwrap();
                if cache.len() >= MODULE_CACHE {
                    cache.remove(0);
                }
                cache.push((manifest.module.sha256.clone(), module.clone()));
                module
            }
        };
        tracing::debug!(job = %address, "prepared");
        Ok(Prepared {
            manifest,
            module,
            input,
        })
    }

    /// Evaluates, claims, runs and commits one open job.
    async fn take(&self, address: Pubkey, job: Option<Job>, _permit: OwnedSemaphorePermit) {
        if self.stopping() {
            return;
        }
        let job = match job {
            Some(j) => j,
            None => match self.job(&address).await {
                Ok(Some(j)) => j,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(job = %address, error = %e, "reading job failed");
                    return;
                }
            },
        };
        let provider = match self.rpc(self.chain.provider(&self.market.address, &self.me()).await) {
            Ok(Some(p)) => p,
            Ok(None) => {
                tracing::error!("this wallet is not a registered provider of the market: run `compute-worker register` and `stake`");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the provider account failed");
                return;
            }
        };
        let now = match self.now().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "reading the clock failed");
                return;
            }
        };
        let clock_read = Instant::now();
        let min_stake = self.market.state.config.min_stake;
        if let Err(why) =
            policy::check_job(&self.settings, &self.me(), &job, &provider, min_stake, now)
        {
            if why != Skip::NotOpen {
                self.skip(&address, &why);
            }
            return;
        }
        let prepared = match self.prepare(&address, &job).await {
            Ok(p) => p,
            Err(why) => return self.skip(&address, &why),
        };
        // stake-weighted eligibility: claim from this provider's own slot on, not in a race
        let waiting = Instant::now();
        let mut shutdown = self.shutdown.clone();
        let me = self.me();
        let mut early = 0;
        let mut entry: Option<Entry> = None;
        let sent = loop {
            match crate::turn::wait_for_turn(
                &self.chain,
                &self.market.address,
                &address,
                &me,
                &mut shutdown,
            )
            .await
            {
                Ok(slots) => {
                    self.metrics.observe("eligibility_wait", waiting.elapsed());
                    tracing::debug!(job = %address, slots, "our turn");
                }
                Err(crate::turn::NoTurn::Skip(why)) => return self.skip(&address, &why),
                Err(crate::turn::NoTurn::Stopping) => return,
                Err(crate::turn::NoTurn::Chain(e)) => {
                    let _ = self.rpc::<()>(Err(e));
                    tracing::warn!(job = %address, "reading the job or the slot failed while waiting for our turn");
                    return;
                }
            }
            if self.stopping() {
                return;
            }
            if entry.is_none() {
                // recorded before the claim is sent: after a crash, the tracker checks the chain
                let e = Entry::claimed(&address.to_string(), &self.market.address.to_string());
                self.record(&e);
                tracing::info!(job = %address, "claiming");
                entry = Some(e);
            }
            let claim = ix::claim_job(&me, &self.market, &address);
            match self.send("claim", &[claim]).await {
                // the node's view of the slot or of our stake was behind ours: wait again
                Err(e) if e.program_error() == Some("NotEligibleYet") && early < 3 => {
                    early += 1;
                    tracing::debug!(job = %address, "claimed before our turn by the node's clock; waiting again");
                }
                sent => break sent,
            }
        };
        let entry = entry.expect("recorded before the first claim");
        if let Err(e) = sent {
            // the claim may have landed even though the confirmation failed
            match self.job(&address).await {
                Ok(Some(j)) if j.slot_of(&self.me()).is_some() => {}
                Ok(_) if matches!(e, ChainError::Program { .. }) => {
                    // refused by the program (another provider took the last slot, ...): final
                    tracing::info!(job = %address, error = %e, "claim refused");
                    self.metrics
                        .inc("cmkt_worker_jobs_total", &[("outcome", "claim_failed")]);
                    return self.finish(entry, format!("claim failed: {e}"));
                }
                _ => {
                    // unknown: the entry stays `Claimed` and the tracker resumes or drops it
                    // once the claim's blockhash has surely expired
                    tracing::warn!(job = %address, error = %e, "claim outcome unknown; tracking it");
                    self.claim_sent
                        .lock()
                        .unwrap()
                        .insert(address, Instant::now());
                    return;
                }
            }
        }
        self.metrics
            .inc("cmkt_worker_jobs_total", &[("outcome", "claimed")]);
        // post to claim: the chain's age of the job when it was read, plus the time since
        // (no second clock read between the claim and the run)
        self.metrics.observe(
            "pickup",
            Duration::from_secs(now.saturating_sub(job.created_at).max(0) as u64)
                + clock_read.elapsed(),
        );
        tracing::info!(job = %address, reward = job.reward_per_replica, "claimed");
        self.compute_and_commit(&address, entry, prepared, job.claim_timeout)
            .await;
    }

    /// Runs a claimed job, journals the result and salt, then commits.
    /// `claim_window_left`: seconds until the claim may be expired by others; the run's
    /// wall-clock limit keeps room for the commit within it.
    async fn compute_and_commit(
        &self,
        address: &Pubkey,
        entry: Entry,
        p: Prepared,
        claim_window_left: i64,
    ) {
        let m = &p.manifest;
        let window = claim_window_left.saturating_sub(COMMIT_MARGIN_SECS).max(1) as u64;
        let limits = Limits {
            max_fuel: m.max_fuel,
            max_memory: m.max_memory,
            max_output: m.max_output,
            timeout: Duration::from_secs(self.settings.config.run.timeout_secs.min(window)),
        };
        let (executor, seed, args) = (self.executor.clone(), address.to_bytes(), m.args.clone());
        let t = Instant::now();
        let run = tokio::task::spawn_blocking(move || {
            executor.run(&p.module, &p.input, &args, &seed, limits)
        })
        .await
        .unwrap_or_else(|e| Err(Refusal::Internal(e.to_string())));
        let mut execution = match run {
            Ok(x) => x,
            Err(refusal) => {
                // no result to commit to: the claim will expire and its collateral is lost
                tracing::warn!(job = %address, error = %refusal, "run refused; the claim will expire");
                self.metrics
                    .inc("cmkt_worker_jobs_total", &[("outcome", "refused")]);
                return self.finish(entry, format!("refused: {refusal}"));
            }
        };
        self.metrics.observe("execute", t.elapsed());
        self.metrics.add(
            "cmkt_worker_fuel_used_total",
            &[],
            execution.fuel_used as f64,
        );
        if self.fault == Some(Fault::Lie) {
            execution
                .output
                .extend_from_slice(b"\n(this provider lies)\n");
        }
        let summary: ResultSummary = execution.summary();
        // bound to the job: the root of this output for another job is another root
        let root = summary.root(address);
        let root_hex = hex::encode(root);
        let summary_json = ResultSummaryJson::from(&summary);
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt).expect("the OS has a random source");
        if let Err(e) = self
            .journal
            .put_result(&summary_json, &root_hex, &execution.output)
        {
            tracing::error!(job = %address, error = %e, "storing the result failed");
            return self.finish(entry, format!("storing the result failed: {e}"));
        }
        let entry = Entry {
            stage: Stage::Computed,
            salt: Some(hex::encode(salt)),
            result_root: Some(root_hex.clone()),
            summary: Some(summary_json),
            ..entry
        };
        // durable before the commitment exists anywhere
        self.record(&entry);
        tracing::info!(job = %address, root = %root_hex, fuel = execution.fuel_used,
            status = ?execution.status, bytes = execution.output.len(), "computed");
        if let Err(e) = self.commit(address, entry).await {
            tracing::warn!(job = %address, error = %e, "commit failed; retrying from the journal");
        }
    }

    /// Sends the commitment of a `Computed` entry (idempotent: reads the slot first).
    async fn commit(&self, address: &Pubkey, entry: Entry) -> Result<(), ChainError> {
        let (root, salt) = entry_secret(&entry);
        let commitment = commitment_hash(address, &self.me(), &root, &salt);
        for attempt in 0..2 {
            let Some(job) = self.job(address).await? else {
                return self.settled(entry).await;
            };
            let Some(i) = job.slot_of(&self.me()) else {
                self.metrics
                    .inc("cmkt_worker_jobs_total", &[("outcome", "claim_lost")]);
                self.finish(entry, "the claim expired before the commit");
                return Ok(());
            };
            let slot = job.slots[i];
            if slot.state != SlotState::Claimed {
                if slot.commitment == commitment {
                    self.metrics
                        .inc("cmkt_worker_jobs_total", &[("outcome", "committed")]);
                    self.record(&Entry {
                        stage: Stage::Committed,
                        ..entry
                    });
                    tracing::info!(job = %address, "committed");
                } else {
                    tracing::error!(job = %address, "the slot holds a commitment this journal did not make");
                    self.finish(entry, "foreign commitment on our slot");
                }
                return Ok(());
            }
            if attempt == 1 {
                break;
            }
            let now = self.now().await?;
            if !job.commit_phase_open(now) {
                self.finish(entry, "the commit phase closed before the commit");
                return Ok(());
            }
            let commit = ix::commit_result(&self.market, &self.me(), address, commitment);
            let sent = match self
                .commit_and_reveal(address, &job, i, &entry, commit.clone(), now)
                .await
            {
                Some(ixs) => match self.send("commit_reveal", &ixs).await {
                    Ok(()) => {
                        self.metrics
                            .inc("cmkt_worker_jobs_total", &[("outcome", "revealed")]);
                        tracing::info!(job = %address, finalized = ixs.len() == 3, "committed and revealed in one transaction");
                        Ok(())
                    }
                    // committing is what matters: any failure of the combined transaction falls
                    // back to the plain commit at once
                    Err(e) => {
                        tracing::debug!(job = %address, error = %e, "commit with reveal failed; committing alone");
                        self.send("commit", &[commit]).await
                    }
                },
                None => self.send("commit", &[commit]).await,
            };
            if let Err(e) = sent {
                tracing::debug!(job = %address, error = %e, "commit not confirmed; re-reading");
            }
        }
        Err(ChainError::NotConfirmed(1))
    }

    /// When this commitment is the last one the job waits for, the reveal phase opens with it,
    /// so the reveal (and the finalize, when nothing else is outstanding) can go in the same
    /// transaction: the instructions for that, or `None` (the caller commits alone). Reveals
    /// only open once no more commitments can arrive, so revealing at once exposes nothing.
    async fn commit_and_reveal(
        &self,
        address: &Pubkey,
        job: &Job,
        i: usize,
        entry: &Entry,
        commit: solana_sdk::instruction::Instruction,
        now: i64,
    ) -> Option<Vec<solana_sdk::instruction::Instruction>> {
        let mut after = job.clone();
        after.slots[i].state = SlotState::Committed;
        after.refresh_status();
        if !after.reveal_phase_open(now) {
            return None;
        }
        let (root, salt) = entry_secret(entry);
        let mut ixs = vec![
            commit,
            ix::reveal_result(&self.market, &self.me(), address, root, salt),
        ];
        if let Some(finalize) = self
            .finalize_with_reveal(address, &after, i, root, now, &ixs)
            .await
        {
            ixs.push(finalize);
            return Some(ixs);
        }
        self.chain.fits(&ixs, &self.me()).then_some(ixs)
    }

    /// The finalize that can go in the same transaction as the reveal of slot `i` (with `root`)
    /// of `job`: when that reveal is the last one the job waits for, the finalize fits after
    /// `before` (the instructions the transaction already carries) and the token accounts it
    /// pays into exist. `None` otherwise: the caller sends without it.
    async fn finalize_with_reveal(
        &self,
        address: &Pubkey,
        job: &Job,
        i: usize,
        root: [u8; 32],
        now: i64,
        before: &[solana_sdk::instruction::Instruction],
    ) -> Option<solana_sdk::instruction::Instruction> {
        let mut after = job.clone();
        after.slots[i].state = SlotState::Revealed;
        after.slots[i].result_root = root;
        if !after.can_finalize(now) {
            return None;
        }
        let finalize = ix::finalize_job(
            &self.me(),
            &self.market,
            address,
            &after,
            &self.bounty_account(),
        );
        let all: Vec<_> = before.iter().cloned().chain([finalize.clone()]).collect();
        (self.chain.fits(&all, &self.me()) && matches!(self.prerequisites(&after).await, Ok(true)))
            .then_some(finalize)
    }

    // ---------------------------------------------------------------- tracking

    /// Moves every unfinished journal entry on; skips jobs a task is working on.
    async fn track(self: &Arc<Self>) {
        let pending = self.journal.pending();
        self.metrics
            .set("cmkt_worker_pending", pending.len() as f64);
        self.metrics.set(
            "cmkt_worker_in_flight",
            self.active.lock().unwrap().len() as f64,
        );
        for entry in pending {
            let Ok(address) = entry.job.parse::<Pubkey>() else {
                continue;
            };
            // Own the job while acting on it, and act on its entry as it is now: the list was
            // read before a task may have moved the job on (a stale entry written back would
            // lose the salt).
            if entry.stage == Stage::Claimed {
                self.resume(address);
                continue;
            }
            if !self.active.lock().unwrap().insert(address) {
                continue;
            }
            let _active = ActiveGuard(self, address);
            let Some(entry) = self.journal.get(&entry.job) else {
                continue;
            };
            let r = match entry.stage {
                Stage::Claimed => Ok(()), // resumed at the next tick
                Stage::Computed => self.commit(&address, entry).await,
                Stage::Committed => self.reveal(&address, entry).await,
                Stage::Revealed => self.finalize_own(&address, entry).await,
                Stage::Done => Ok(()),
            };
            if let Err(e) = r {
                tracing::warn!(job = %address, error = %e, "will retry");
            }
        }
    }

    /// Re-runs a job claimed before a restart (the run is deterministic) and commits.
    fn resume(self: &Arc<Self>, address: Pubkey) {
        if self.stopping() || !self.active.lock().unwrap().insert(address) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let _active = ActiveGuard(&this, address);
            // read after owning the job: only an entry still at `Claimed` is resumed here
            let entry = match this.journal.get(&address.to_string()) {
                Some(e) if e.stage == Stage::Claimed => e,
                _ => return,
            };
            let _permit = this.permits.clone().acquire_owned().await.expect("open");
            let r = async {
                let Some(job) = this.job(&address).await? else {
                    return this.settled(entry).await;
                };
                                match job.slot_of(&this.me()).map(|i| job.slots[i].state) {
                    None => {
                        // a claim in flight may still land until its blockhash expires
                        let first = *this
                            .claim_sent
                            .lock()
                            .unwrap()
                            .entry(address)
                            .or_insert_with(Instant::now);
                        if first.elapsed() > CLAIM_LANDING {
                            this.claim_sent.lock().unwrap().remove(&address);
                            this.finish(entry, "the claim did not land");
                        }
                        Ok(())
                    }
                    Some(SlotState::Claimed) => {
                                                tracing::info!(job = %address, "resuming a claimed job after a restart");
                        let i = job.slot_of(&this.me()).expect("held");
                        let left = job.slots[i].claimed_at + job.claim_timeout - this.now().await?;
                        match this.prepare(&address, &job).await {
                            // past the window the claim may still commit until someone expires it
                            Ok(p) => {
                                let left = left.max(job.claim_timeout / 2);
                                this.compute_and_commit(&address, entry, p, left).await
                            }
                            Err(why) => {
                                tracing::warn!(job = %address, error = %why, "cannot resume; the claim will expire");
                                this.finish(entry, format!("cannot resume: {why}"));
                            }
                        }
                        Ok(())
                    }
                    Some(_) => {
                        tracing::error!(job = %address, "committed on-chain but the journal has no salt");
                        this.finish(entry, "committed without a journaled salt");
                        Ok(())
                    }
                }
            }
            .await;
            if let Err(e) = r {
                tracing::warn!(job = %address, error = %e, "resume failed; will retry");
            }
        });
    }

    async fn reveal(&self, address: &Pubkey, entry: Entry) -> Result<(), ChainError> {
        let Some(job) = self.job(address).await? else {
            return self.settled(entry).await;
        };
        let Some(i) = job.slot_of(&self.me()) else {
            return self.settled(entry).await;
        };
        if job.slots[i].state == SlotState::Revealed {
            self.record(&Entry {
                stage: Stage::Revealed,
                ..entry
            });
            return Ok(());
        }
        let now = self.now().await?;
        if !job.reveal_phase_open(now) {
            if job.can_finalize(now) {
                // the reveal window closed: settle (as withheld) rather than poll forever
                return self.finalize_own(address, entry).await;
            }
            return Ok(()); // not yet
        }
        let (root, salt) = entry_secret(&entry);
        let reveal = ix::reveal_result(&self.market, &self.me(), address, root, salt);
        // when this reveal is the last one outstanding, finalize in the same transaction
        if let Some(finalize) = self
            .finalize_with_reveal(address, &job, i, root, now, std::slice::from_ref(&reveal))
            .await
        {
            let both = [reveal.clone(), finalize];
            // Finalizing is optional, revealing is not: any failure of the combined transaction
            // (accounts, rent, limits) falls back to the plain reveal at once.
            match self.send("reveal_finalize", &both).await {
                Ok(()) => {
                    self.metrics
                        .inc("cmkt_worker_jobs_total", &[("outcome", "revealed")]);
                    tracing::info!(job = %address, "revealed and finalized");
                    return self.settled(entry).await;
                }
                Err(e) => {
                    tracing::warn!(job = %address, error = %e, "reveal with finalize failed; revealing alone")
                }
            }
            match self.job(address).await? {
                None => return self.settled(entry).await,
                Some(j)
                    if j.slot_of(&self.me())
                        .is_some_and(|i| j.slots[i].state == SlotState::Revealed) =>
                {
                    self.record(&Entry {
                        stage: Stage::Revealed,
                        ..entry
                    });
                    return Ok(());
                }
                Some(_) => {}
            }
        }
        if self.send("reveal", &[reveal]).await.is_ok() {
            self.metrics
                .inc("cmkt_worker_jobs_total", &[("outcome", "revealed")]);
            tracing::info!(job = %address, "revealed");
            self.record(&Entry {
                stage: Stage::Revealed,
                ..entry
            });
        }
        Ok(())
    }

    /// The worker's stake-mint account, where slash bounties go.
    fn bounty_account(&self) -> Pubkey {
        let m = &self.market.state;
        ata(&self.me(), &m.stake_mint, &m.stake_token_program)
    }

    /// Creates the token accounts a finalize of `job` pays into, when any is missing. `Ok(true)`
    /// when they all exist afterwards.
    async fn prerequisites(&self, job: &Job) -> Result<bool, ChainError> {
        let m = &self.market.state;
        let mut ixs = ix::finalize_job_prerequisites(&self.me(), &self.market, job);
        ixs.push(ix::create_ata(
            &self.me(),
            &self.me(),
            &m.stake_mint,
            &m.stake_token_program,
        ));
        let mut missing = Vec::new();
        for ix in ixs {
            // account 1 of an ATA creation is the ATA itself
            if self
                .rpc(self.chain.account(&ix.accounts[1].pubkey).await)?
                .is_none()
            {
                missing.push(ix);
            }
        }
        for chunk in missing.chunks(4) {
            self.send("create_accounts", chunk).await?;
        }
        Ok(true)
    }

    async fn finalize_own(&self, address: &Pubkey, entry: Entry) -> Result<(), ChainError> {
        let Some(job) = self.job(address).await? else {
            return self.settled(entry).await;
        };
        let now = self.now().await?;
        if !job.can_finalize(now) {
            return Ok(());
        }
        self.prerequisites(&job).await?;
        let finalize = ix::finalize_job(
            &self.me(),
            &self.market,
            address,
            &job,
            &self.bounty_account(),
        );
        if let Err(e) = self.send("finalize", &[finalize]).await {
            tracing::debug!(job = %address, error = %e, "finalize failed; re-reading");
        }
        match self.job(address).await? {
            None => self.settled(entry).await,
            Some(_) => Ok(()),
        }
    }

    /// Records the verdict of a job whose account is gone.
    async fn settled(&self, entry: Entry) -> Result<(), ChainError> {
        let address: Pubkey = entry.job.parse().expect("journal keys are addresses");
        let Some(s) = self.rpc(self.chain.settlement(&address).await)? else {
            self.finish(entry, "the job closed without a settlement");
            return Ok(());
        };
        let mine = s.verdicts.iter().find(|v| v.provider == self.me());
        let (verdict, paid, slashed) = match mine {
            Some(v) => (v.verdict, v.paid, v.slashed),
            None => (Verdict::Absent, 0, 0),
        };
        let label = format!("{verdict:?}").to_lowercase();
        self.metrics
            .inc("cmkt_worker_jobs_total", &[("outcome", &label)]);
        self.metrics
            .add("cmkt_worker_earned_total", &[], paid as f64);
        self.metrics
            .add("cmkt_worker_slashed_total", &[], slashed as f64);
        if s.finalizer == self.me() {
            self.metrics
                .add("cmkt_worker_bounty_total", &[], s.bounty as f64);
        }
        tracing::info!(job = %address, verdict = %label, paid, slashed, outcome = ?s.outcome, "settled");
        self.finish(
            entry,
            format!("settled: {label}, paid {paid}, slashed {slashed}"),
        );
        Ok(())
    }

    /// Adopts jobs where this wallet holds a claim the journal does not know (a claim that
    /// landed after its task gave up, or after a crash), and reports commitments without salt.
    async fn reconcile(self: &Arc<Self>) {
        let claims = match self.rpc(self.chain.claims_of(&self.market.address, &self.me()).await) {
            Ok(c) => c,
            Err(e) => return tracing::warn!(error = %e, "reconciliation scan failed"),
        };
        let now = self.now().await.ok();
        for (address, job) in claims {
            if self.active.lock().unwrap().contains(&address) {
                continue;
            }
            let known = self.journal.get(&address.to_string());
            if known.as_ref().is_some_and(|e| e.stage != Stage::Done) {
                continue;
            }
            let state = job.slot_of(&self.me()).map(|i| job.slots[i].state);
            match (state, known) {
                (Some(SlotState::Claimed), known) => {
                    // only claims the journal never saw land; a job it gave up on stays given up
                    let dropped = known.as_ref().is_none_or(|e| {
                        e.note.as_deref().is_some_and(|n| {
                            n.starts_with("claim failed") || n == "the claim did not land"
                        })
                    });
                    let open = now.is_some_and(|now| job.commit_phase_open(now));
                    if !dropped || !open {
                        continue;
                    }
                    tracing::info!(job = %address, "adopting a claim the journal did not know");
                    self.record(&Entry::claimed(
                        &address.to_string(),
                        &self.market.address.to_string(),
                    ));
                }
                (Some(_), _) => {
                    if self.reported.lock().unwrap().insert(address) {
                        tracing::error!(job = %address, "a commitment of this wallet has no journal entry; it cannot be revealed");
                    }
                }
                (None, _) => {}
            }
        }
    }

    // ---------------------------------------------------------------- crank

    /// Expires stale claims and finalizes finished jobs of other providers when the bounty pays.
    async fn crank(&self) {
        let c = &self.settings.config.crank;
        let jobs = match self.rpc(self.chain.jobs(&self.market.address).await) {
            Ok(j) => j,
            Err(e) => return tracing::warn!(error = %e, "crank scan failed"),
        };
        let Ok(now) = self.now().await else { return };
        let me = self.me();
        for (address, job) in jobs {
            let ours = job.slot_of(&me).is_some();
            // the program's own rule; an amount it could not compute pays nothing
            let bounty = |collateral: u64| {
                compute_market_client::program::math::bps_of(collateral, job.slash_bounty_bps)
                    .unwrap_or(0)
            };
            if job.can_finalize(now) {
                if ours || self.active.lock().unwrap().contains(&address) {
                    continue; // finalizing our own jobs is the tracker's
                }
                let winner = job.winning_root();
                let slashed = job
                    .slots
                    .iter()
                    .filter(|s| match s.state {
                        SlotState::Claimed | SlotState::Committed => true,
                        SlotState::Revealed => winner.is_some_and(|w| w != s.result_root),
                        SlotState::Free => false,
                    })
                    .count() as u64;
                let expected = bounty(job.collateral.saturating_mul(slashed));
                if expected >= c.min_bounty && expected > 0 {
                    let ok = async {
                        self.prerequisites(&job).await?;
                        let fin = ix::finalize_job(
                            &me,
                            &self.market,
                            &address,
                            &job,
                            &self.bounty_account(),
                        );
                        self.send("crank_finalize", &[fin]).await
                    }
                    .await;
                    if ok.is_ok() {
                        self.metrics
                            .inc("cmkt_worker_crank_total", &[("action", "finalize")]);
                        self.metrics
                            .add("cmkt_worker_bounty_total", &[], expected as f64);
                        tracing::info!(job = %address, bounty = expected, "cranked: finalized");
                    }
                }
                continue;
            }
            if !job.commit_phase_open(now) || job.status == JobStatus::Revealing {
                continue;
            }
            for (i, s) in job.slots.iter().enumerate() {
                let stale = s.state == SlotState::Claimed
                    && s.provider != me
                    && now > s.claimed_at.saturating_add(job.claim_timeout);
                let expected = bounty(job.collateral);
                if !stale || expected < c.min_bounty || expected == 0 {
                    continue;
                }
                let m = &self.market.state;
                let ixs = [
                    ix::create_ata(&me, &me, &m.stake_mint, &m.stake_token_program),
                    ix::expire_claim(
                        &me,
                        &self.market,
                        &address,
                        i as u8,
                        &s.provider,
                        &self.bounty_account(),
                    ),
                ];
                if self.send("crank_expire", &ixs).await.is_ok() {
                    self.metrics
                        .inc("cmkt_worker_crank_total", &[("action", "expire")]);
                    self.metrics
                        .add("cmkt_worker_bounty_total", &[], expected as f64);
                    tracing::info!(job = %address, slot = i, provider = %short(&s.provider), bounty = expected, "cranked: expired a stale claim");
                }
            }
        }
    }

    // ---------------------------------------------------------------- HTTP

    fn health(&self) -> (StatusCode, String) {
        let rpc_age = self
            .rpc_ok_at
            .lock()
            .unwrap()
            .map(|t| t.elapsed().as_secs());
        let body = serde_json::json!({
            "status": if self.stopping() { "stopping" } else { "ok" },
            "provider": self.me().to_string(),
            "market": self.market.address.to_string(),
            "websocket_connected": self.metrics.value("cmkt_worker_websocket_connected", &[]) == 1.0,
            "seconds_since_rpc_ok": rpc_age,
            "in_flight": self.active.lock().unwrap().len(),
            "pending": self.journal.pending().len(),
        });
        let healthy = !self.stopping() && rpc_age.is_some_and(|a| a < 120);
        let code = if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (code, format!("{body}\n"))
    }

    /// Result routes plus `/metrics` and `/healthz`.
    pub fn router(self: &Arc<Self>) -> Router {
        let extra = Router::new()
            .route(
                "/metrics",
                get(|State(w): State<Arc<Worker>>| async move {
                    (
                        [("content-type", "text/plain; version=0.0.4")],
                        w.metrics.render(),
                    )
                }),
            )
            .route(
                "/healthz",
                get(|State(w): State<Arc<Worker>>| async move { w.health().into_response() }),
            )
            .with_state(self.clone());
        crate::server::router(self.journal.clone()).merge(extra)
    }
}

/// Root and salt of an entry from `Computed` on.
fn entry_secret(entry: &Entry) -> ([u8; 32], [u8; 32]) {
    let decode = |h: &Option<String>| -> [u8; 32] {
        h.as_deref()
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| b.try_into().ok())
            .expect("entries from Computed on hold a root and a salt")
    };
    (decode(&entry.result_root), decode(&entry.salt))
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

    // The tracker (own jobs: commit, reveal, finalize) and reconciliation share one loop, so
    // they never act on a job twice at once; the crank runs in its own loop, so its
    // transactions for other providers' jobs never delay a reveal.
    let (tracker_stop_tx, mut tracker_stop) = watch::channel(false);
    let tracker = {
        let w = worker.clone();
        tokio::spawn(async move {
            let c = w.settings.config.clone();
            let mut tick = tokio::time::interval(Duration::from_millis(c.chain.tick_ms));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_reconcile: Option<Instant> = None;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = tracker_stop.changed() => break,
                }
                if last_reconcile
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(c.chain.rescan_secs))
                {
                    w.reconcile().await;
                    last_reconcile = Some(Instant::now());
                }
                w.track().await;
            }
        })
    };
    let crank = {
        let w = worker.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let c = w.settings.config.crank.clone();
            if !c.enabled {
                return;
            }
            let mut tick = tokio::time::interval(Duration::from_secs(c.interval_secs));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => w.crank().await,
                    _ = stop.changed() => break,
                }
            }
        })
    };

    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    // the grace period starts now; discovery and scheduling stop at once
    let grace = Duration::from_secs(s.config.run.shutdown_grace_secs);
    let deadline = Instant::now() + grace;
    worker.metrics.set("cmkt_worker_up", 0.0);
    tracing::info!(in_flight = worker.active.lock().unwrap().len(), grace = ?grace, "stopping: no new claims");
    discovery.abort();
    scheduler.abort();
    crank.abort();
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
