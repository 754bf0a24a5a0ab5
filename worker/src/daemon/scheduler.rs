//! Scheduling: takes the jobs discovery found, at most `max_concurrent` at a time (one task per
//! job), and for each: policy, fetch and compile, wait for this provider's turn, claim, run,
//! journal, commit.

use super::{ActiveGuard, Fault, Prepared, Worker, COMMIT_MARGIN_SECS, MODULE_CACHE};
use crate::{
    executor::{Executor, Limits, Refusal},
    journal::{Entry, Stage},
    policy::{self, Skip},
};
use compute_market_client::{
    ix, merkle::ResultSummary, results::ResultSummaryJson, rpc::ChainError, Job, Pubkey,
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

impl Worker {
    pub(super) async fn schedule(
        self: Arc<Self>,
        mut rx: mpsc::UnboundedReceiver<(Pubkey, Option<Job>)>,
    ) {
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
                    // an extension (new price or deadlines) ends a skip at once
                    Some((until, terms))
                        if *until > Instant::now()
                            && job.as_ref().is_none_or(|j| super::Terms::of(j) == *terms) =>
                    {
                        continue
                    }
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
    pub(super) async fn prepare(&self, address: &Pubkey, job: &Job) -> Result<Prepared, Skip> {
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
            .find(|(h, m)| *h == manifest.module.sha256 && m.runtime == manifest.runtime)
            .map(|(_, m)| m.clone());
        let module = match cached {
            Some(m) => m,
            None => {
                let t = Instant::now();
                let executor = self.executor.clone();
                let hits = |e: &Executor| e.cache_stats().map_or(0, |s| s.hits);
                let before = hits(&executor);
                let runtime = manifest.runtime.clone();
                let (module, loaded) = tokio::task::spawn_blocking(move || {
                    let m = executor.compile(&runtime, &module);
                    (m, hits(&executor) > before)
                })
                .await
                .map_err(|e| Skip::InvalidModule(e.to_string()))?;
                let module = module.map_err(|e| match e {
                    Refusal::InvalidModule(m) => Skip::InvalidModule(m),
                    other => Skip::InvalidModule(other.to_string()),
                })?;
                // a module from the disk cache (seen before a restart) is a load, not a compile
                let stage = if loaded { "module_load" } else { "compile" };
                self.metrics.observe(stage, t.elapsed());
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
    pub(super) async fn take(
        &self,
        address: Pubkey,
        job: Option<Job>,
        _permit: OwnedSemaphorePermit,
    ) {
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
                self.skip(&address, &job, &why);
            }
            return;
        }
        let prepared = match self.prepare(&address, &job).await {
            Ok(p) => p,
            Err(why) => return self.skip(&address, &job, &why),
        };
        let mut shutdown = self.shutdown.clone();
        // a rising offer: claim once its price reaches this worker's floor for the manifest
        let floor = policy::price_floor(&self.settings, &prepared.manifest);
        match policy::claim_from(&job, floor, self.settings.config.policy.min_time_left) {
            Err(why) => return self.skip(&address, &job, &why),
            Ok(at) if at > now => {
                tracing::info!(job = %address, floor, at, "waiting for the price to reach our floor");
                let waiting = Instant::now();
                match crate::turn::wait_for_price(&self.chain, at, &mut shutdown).await {
                    Ok(()) => self.metrics.observe("price_wait", waiting.elapsed()),
                    Err(crate::turn::NoTurn::Chain(e)) => {
                        let _ = self.rpc::<()>(Err(e));
                        tracing::warn!(job = %address, "reading the clock failed while waiting for the price");
                        return;
                    }
                    Err(_) => return,
                }
            }
            Ok(_) => {}
        }
        // stake-weighted eligibility: claim from this provider's own slot on, not in a race
        let waiting = Instant::now();
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
                Err(crate::turn::NoTurn::Skip(why)) => return self.skip(&address, &job, &why),
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
                    // one quiet line: losing the race for the last slot is everyday business
                    let reason = e.program_error().unwrap_or("refused");
                    tracing::info!(job = %address, reason, "claim refused");
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
        tracing::info!(job = %address, max = job.reward_per_replica, floor, "claimed");
        self.record_claim_price(address, floor);
        self.compute_and_commit(&address, entry, prepared, job.claim_timeout)
            .await;
    }

    /// Counts the price our claim locked (read back from the job, off the job's path: the run
    /// does not wait for it) against our floor.
    fn record_claim_price(&self, address: Pubkey, floor: u64) {
        let (chain, metrics, me) = (self.chain.clone(), self.metrics.clone(), self.me());
        tokio::spawn(async move {
            let Ok(Some(job)) = chain.job(&address).await else {
                return;
            };
            let Some(i) = job.slot_of(&me) else { return };
            let price = job.slots[i].price;
            metrics.add("cmkt_worker_claim_price_total", &[], price as f64);
            metrics.add("cmkt_worker_claim_floor_total", &[], floor as f64);
            metrics.set("cmkt_worker_last_claim_price", price as f64);
            tracing::info!(job = %address, price, floor, "claim locked its price");
        });
    }

    /// Runs a claimed job, journals the result and salt, then commits.
    /// `claim_window_left`: seconds until the claim may be expired by others; the run's
    /// wall-clock limit keeps room for the commit within it.
    pub(super) async fn compute_and_commit(
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
}
