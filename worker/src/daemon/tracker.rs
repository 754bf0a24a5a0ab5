//! The tracker: every `tick_ms`, moves the journal's unfinished jobs on (commit, reveal,
//! finalize, record the verdict), and every `rescan_secs` reconciles the journal with the chain.
//! Both share one loop, so they never act on a job twice at once.
//!
//! An entry that waits on the chain (a reveal before the reveal phase opens, a finalize before
//! the job can be) is looked at again on a schedule instead of at every tick: every tick for the
//! first three looks, then twice as far apart every three looks up to [`MAX_WAIT`], and never
//! past the deadline by which the step surely can go on. So a provider with many jobs waiting
//! out long windows does not spend two RPC calls per job per tick, while a phase that opens
//! early (every slot committed) is still seen within a few ticks.

use super::{ActiveGuard, Worker, CLAIM_LANDING};
use crate::journal::{Entry, Stage};
use compute_market_client::{rpc::ChainError, Pubkey, SlotState};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::watch;

/// The longest pause between two looks at an entry that waits on the chain.
pub(super) const MAX_WAIT: Duration = Duration::from_secs(15);
/// How often finished records past their retention are compacted away.
const COMPACT_EVERY: Duration = Duration::from_secs(3_600);

/// When the tracker looks at a waiting entry again.
#[derive(Clone, Copy, Debug)]
pub(super) struct Backoff {
    stage: Stage,
    misses: u32,
    next: Instant,
}

/// The pause after the `misses`-th look in a row (from 1) that found an entry still waiting,
/// with `left` until the step surely can go on.
pub(super) fn pause(tick: Duration, misses: u32, left: Duration) -> Duration {
    let grown = tick.saturating_mul(1 << (misses.saturating_sub(1) / 3).min(16));
    grown.min(MAX_WAIT).min(left.max(tick))
}

impl Worker {
    /// The tracker's loop, until `stop` turns true (after the shutdown's grace period).
    pub(super) async fn track_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let c = self.settings.config.clone();
        let mut tick = tokio::time::interval(Duration::from_millis(c.chain.tick_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_reconcile: Option<Instant> = None;
        let mut last_compaction = Instant::now();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            if last_reconcile
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(c.chain.rescan_secs))
            {
                self.reconcile().await;
                last_reconcile = Some(Instant::now());
            }
            self.track().await;
            if last_compaction.elapsed() >= COMPACT_EVERY {
                if let Err(e) = self.journal.compact() {
                    tracing::warn!(error = %e, "journal compaction failed; will retry");
                }
                last_compaction = Instant::now();
            }
        }
    }

    /// Moves every unfinished journal entry on; skips jobs a task is working on.
    pub(super) async fn track(self: &Arc<Self>) {
        let pending = self.journal.pending();
        self.metrics
            .set("cmkt_worker_pending", pending.len() as f64);
        self.metrics.set(
            "cmkt_worker_in_flight",
            self.active.lock().unwrap().len() as f64,
        );
        let tick = Duration::from_millis(self.settings.config.chain.tick_ms);
        {
            let live: std::collections::HashSet<Pubkey> =
                pending.iter().filter_map(|e| e.job.parse().ok()).collect();
            let mut waits = self.waits.lock().unwrap();
            waits.retain(|a, _| live.contains(a));
            self.metrics.set("cmkt_worker_waiting", waits.len() as f64);
        }
        for entry in pending {
            let Ok(address) = entry.job.parse::<Pubkey>() else {
                continue;
            };
            let waiting = self.waits.lock().unwrap().get(&address).copied();
            if waiting.is_some_and(|w| w.stage == entry.stage && w.next > Instant::now()) {
                continue;
            }
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
            let stage = entry.stage;
            let r = match stage {
                Stage::Claimed | Stage::Done => Ok(None), // resumed at the next tick
                Stage::Computed => self.commit(&address, entry).await.map(|()| None),
                Stage::Committed => self.reveal(&address, entry).await,
                Stage::Revealed => self.finalize_own(&address, entry).await,
            };
            let mut waits = self.waits.lock().unwrap();
            match r {
                Ok(Some(left)) => {
                    let misses = waiting
                        .filter(|w| w.stage == stage)
                        .map_or(1, |w| w.misses + 1);
                    let left = Duration::from_secs(left.max(0) as u64);
                    let next = Instant::now() + pause(tick, misses, left);
                    waits.insert(
                        address,
                        Backoff {
                            stage,
                            misses,
                            next,
                        },
                    );
                }
                Ok(None) => {
                    waits.remove(&address);
                }
                Err(e) => {
                    waits.remove(&address);
                    tracing::warn!(job = %address, error = %e, "will retry");
                }
            }
        }
    }

    /// Re-runs a job claimed before a restart (the run is deterministic) and commits.
    pub(super) fn resume(self: &Arc<Self>, address: Pubkey) {
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
            if let Err(e) = this.resume_claimed(address, entry).await {
                tracing::warn!(job = %address, error = %e, "resume failed; will retry");
            }
        });
    }

    /// [`Self::resume`] once the job is owned: the chain says whether the claim landed.
    async fn resume_claimed(&self, address: Pubkey, entry: Entry) -> Result<(), ChainError> {
        let Some(job) = self.job(&address).await? else {
            return self.settled(entry).await;
        };
        let Some(i) = job.slot_of(&self.me()) else {
            // a claim in flight may still land until its blockhash expires
            let first = *self
                .claim_sent
                .lock()
                .unwrap()
                .entry(address)
                .or_insert_with(Instant::now);
            if first.elapsed() > CLAIM_LANDING {
                self.claim_sent.lock().unwrap().remove(&address);
                self.finish(entry, "the claim did not land");
            }
            return Ok(());
        };
        if job.slots[i].state != SlotState::Claimed {
            tracing::error!(job = %address, "committed on-chain but the journal has no salt");
            self.finish(entry, "committed without a journaled salt");
            return Ok(());
        }
        tracing::info!(job = %address, "resuming a claimed job after a restart");
        let left = job.slots[i].claimed_at + job.claim_timeout - self.now().await?;
        match self.prepare(&address, &job).await {
            // past the window the claim may still commit until someone expires it
            Ok(p) => {
                let left = left.max(job.claim_timeout / 2);
                self.compute_and_commit(&address, entry, p, left).await
            }
            Err(why) => {
                tracing::warn!(job = %address, error = %why, "cannot resume; the claim will expire");
                self.finish(entry, format!("cannot resume: {why}"));
            }
        }
        Ok(())
    }

    /// Adopts jobs where this wallet holds a claim the journal does not know (a claim that
    /// landed after its task gave up, or after a crash), and reports commitments without salt.
    pub(super) async fn reconcile(self: &Arc<Self>) {
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
}

#[cfg(test)]
mod tests {
    use super::{pause, MAX_WAIT};
    use std::time::Duration;

    #[test]
    fn waiting_entries_back_off_up_to_the_cap_and_never_past_their_deadline() {
        let tick = Duration::from_secs(1);
        let far = Duration::from_secs(600);
        let pauses: Vec<u64> = (1..=15).map(|m| pause(tick, m, far).as_secs()).collect();
        assert_eq!(pauses, [1, 1, 1, 2, 2, 2, 4, 4, 4, 8, 8, 8, 15, 15, 15]);
        assert_eq!(pause(tick, 1_000, far), MAX_WAIT);
        // the deadline is near: look again then, never later
        assert_eq!(
            pause(tick, 12, Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        // past the deadline: the next tick
        assert_eq!(pause(tick, 12, Duration::ZERO), tick);
    }
}
