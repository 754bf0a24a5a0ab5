//! The on-chain steps of one of this provider's jobs after its run, shared by the scheduler
//! (commit right after the run) and the tracker (everything after a restart or a wait): commit,
//! reveal, finalize, and the verdict once the job is settled. Each step reads the job first, so
//! sending it twice is harmless.

use super::Worker;
use crate::journal::{Entry, Stage};
use compute_market_client::{
    ata, commitment_hash, ix, rpc::ChainError, Job, Pubkey, SlotState, Verdict,
};

impl Worker {
    /// Sends the commitment of a `Computed` entry (idempotent: reads the slot first).
    pub(super) async fn commit(&self, address: &Pubkey, entry: Entry) -> Result<(), ChainError> {
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
    pub(super) async fn commit_and_reveal(
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
    pub(super) async fn finalize_with_reveal(
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

    /// Reveals a `Committed` entry once the reveal phase is open. `Ok(Some(s))`: it waits on the
    /// chain, at most `s` more seconds (the commit deadline; reveals may open before it).
    pub(super) async fn reveal(
        &self,
        address: &Pubkey,
        entry: Entry,
    ) -> Result<Option<i64>, ChainError> {
        let Some(job) = self.job(address).await? else {
            return self.settled(entry).await.map(|()| None);
        };
        let Some(i) = job.slot_of(&self.me()) else {
            return self.settled(entry).await.map(|()| None);
        };
        if job.slots[i].state == SlotState::Revealed {
            self.record(&Entry {
                stage: Stage::Revealed,
                ..entry
            });
            return Ok(None);
        }
        let now = self.now().await?;
        if !job.reveal_phase_open(now) {
            if job.can_finalize(now) {
                // the reveal window closed: settle (as withheld) rather than poll forever
                return self.finalize_own(address, entry).await;
            }
            // not yet: reveals open at the commit deadline at the latest
            return Ok(Some(job.commit_deadline - now));
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
                    return self.settled(entry).await.map(|()| None);
                }
                Err(e) => {
                    tracing::debug!(job = %address, error = %e, "reveal with finalize failed; revealing alone")
                }
            }
            match self.job(address).await? {
                None => return self.settled(entry).await.map(|()| None),
                Some(j)
                    if j.slot_of(&self.me())
                        .is_some_and(|i| j.slots[i].state == SlotState::Revealed) =>
                {
                    self.record(&Entry {
                        stage: Stage::Revealed,
                        ..entry
                    });
                    return Ok(None);
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
        Ok(None)
    }

    /// The worker's stake-mint account, where slash bounties go.
    pub(super) fn bounty_account(&self) -> Pubkey {
        let m = &self.market.state;
        ata(&self.me(), &m.stake_mint, &m.stake_token_program)
    }

    /// Creates the token accounts a finalize of `job` pays into, when any is missing. `Ok(true)`
    /// when they all exist afterwards.
    pub(super) async fn prerequisites(&self, job: &Job) -> Result<bool, ChainError> {
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

    /// Finalizes a job of ours once it can be. `Ok(Some(s))`: it waits on the chain, at most `s`
    /// more seconds (the reveal deadline; it may be finalized before, once all have revealed).
    pub(super) async fn finalize_own(
        &self,
        address: &Pubkey,
        entry: Entry,
    ) -> Result<Option<i64>, ChainError> {
        let Some(job) = self.job(address).await? else {
            return self.settled(entry).await.map(|()| None);
        };
        let now = self.now().await?;
        if !job.can_finalize(now) {
            return Ok(Some(job.reveal_deadline - now));
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
            None => self.settled(entry).await.map(|()| None),
            Some(_) => Ok(None),
        }
    }

    /// Records the verdict of a job whose account is gone.
    pub(super) async fn settled(&self, entry: Entry) -> Result<(), ChainError> {
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
        if verdict == Verdict::Agreed {
            self.deliver(&address, &s).await;
        }
        self.finish(
            entry,
            format!("settled: {label}, paid {paid}, slashed {slashed}"),
        );
        Ok(())
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
