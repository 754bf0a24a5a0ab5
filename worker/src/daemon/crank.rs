//! The crank: expires other providers' stale claims and finalizes their finished jobs when the
//! bounty pays, in a loop of its own, so its transactions never delay a reveal of ours.

use super::{short, Worker};
use compute_market_client::{ix, JobStatus, SlotState};
use std::{sync::Arc, time::Duration};
use tokio::sync::watch;

impl Worker {
    /// The crank's loop (when `crank.enabled`), every `crank.interval_secs` until shutdown.
    pub(super) async fn crank_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let c = self.settings.config.crank.clone();
        if !c.enabled {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(c.interval_secs));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => self.crank().await,
                _ = stop.changed() => break,
            }
        }
    }

    /// Expires stale claims and finalizes finished jobs of other providers when the bounty pays.
    pub(super) async fn crank(&self) {
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
}
