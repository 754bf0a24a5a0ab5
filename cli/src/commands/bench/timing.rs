//! The market's timings on the local chain with real workers: pickup (post → claim) by
//! discovery mode, post → settled with its transactions and the rent a job locks, and
//! throughput by number of workers, with the workers' memory.

use super::*;

impl Bench {
    pub(super) async fn pickup(
        self: &Arc<Self>,
        d: Discovery,
        jobs: usize,
        gap_secs: f64,
        slot_ms: f64,
    ) -> Result<PickupRow> {
        let mut workers = self.workers();
        let tag = match d {
            Discovery::Push => "pickup-push".to_string(),
            Discovery::Poll(s) => format!("pickup-poll{s}"),
        };
        self.start_workers(&mut workers, &tag, 1, d, &[]).await?;
        // a first job compiles the module into the worker's cache; not counted
        let (job, t) = self.post(1, 1).await?;
        self.clone().observe(job, t).await?;
        let mut watchers = vec![];
        for _ in 0..jobs {
            let pause = gap_secs * (0.5 + self.random());
            tokio::time::sleep(Duration::from_secs_f64(pause)).await;
            workers.check()?;
            let (job, t) = self.post(1, 1).await?;
            watchers.push(tokio::spawn(self.clone().observe(job, t)));
        }
        let mut observed = vec![];
        for w in watchers {
            observed.push(w.await??);
        }
        workers.stop();
        self.wait_rooted().await?;
        let mut ms = vec![];
        let mut slots = vec![];
        for o in observed {
            ms.push(o.claimed_ms);
            let s = self.tx_slots(&o.address).await?;
            if s.len() < 2 {
                bail!("job {} has {} transactions", o.address, s.len());
            }
            slots.push((s[1] - s[0]) as f64);
        }
        Ok(PickupRow {
            discovery: d.label(),
            jobs,
            p50_ms: percentile(&ms, 50.0),
            p99_ms: percentile(&ms, 99.0),
            p50_slots: percentile(&slots, 50.0),
            p99_slots: percentile(&slots, 99.0),
            slot_ms,
        })
    }

    /// Sequential jobs with three workers; also the rent figures and idle memory.
    pub(super) async fn latency(
        self: &Arc<Self>,
        per_kind: usize,
    ) -> Result<(Vec<LatencyRow>, Vec<RentRow>, u64)> {
        let mut workers = self.workers();
        self.start_workers(&mut workers, "latency", 3, Discovery::Push, &[])
            .await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = workers
            .pids()
            .into_iter()
            .map(|pid| proc_status_kib(pid, "VmRSS"))
            .max()
            .unwrap_or(0);
        // every worker compiles the module once; not counted
        let (job, t) = self.post(3, 2).await?;
        self.clone().observe(job, t).await?;

        let mut rent = vec![];
        let mut kinds = vec![];
        for (n, k) in [(1u8, 1u8), (3, 2)] {
            let mut ms = vec![];
            let mut jobs = vec![];
            for i in 0..per_kind {
                let (job, t) = self.post(n, k).await?;
                // the first job of each kind also gives the rent figures: open, then settled
                let open = match i {
                    0 => Some(
                        self.chain
                            .account(&job)
                            .await?
                            .ok_or_else(|| anyhow!("job {job} missing right after its post"))?,
                    ),
                    _ => None,
                };
                let o = self.clone().observe(job, t).await?;
                ms.push(o.settled_ms);
                jobs.push(job);
                if let Some(open) = open {
                    let settlement = self.market.settlement(&job);
                    let settled = self
                        .chain
                        .account(&settlement)
                        .await?
                        .ok_or_else(|| anyhow!("settlement of {job} missing"))?;
                    if self.chain.account(&job).await?.is_some() {
                        bail!("job {job} still open after settlement");
                    }
                    rent.push(RentRow {
                        replicas: n,
                        open_bytes: open.data.len() as u64,
                        open_lamports: open.lamports,
                        settled_bytes: settled.data.len() as u64,
                        settled_lamports: settled.lamports,
                    });
                }
            }
            kinds.push((n, k, ms, jobs));
        }
        workers.stop();
        // transaction counts come from the history, which answers for rooted blocks only
        self.wait_rooted().await?;
        let mut rows = vec![];
        for (n, k, ms, jobs) in kinds {
            let mut txs = vec![];
            for job in &jobs {
                txs.push((self.tx_slots(job).await?.len() as u64).saturating_sub(1));
            }
            rows.push(LatencyRow {
                replicas: n,
                quorum: k,
                jobs: per_kind,
                p50_ms: percentile(&ms, 50.0),
                max_ms: ms.iter().cloned().fold(0.0, f64::max),
                txs_min: txs.iter().copied().min().unwrap_or(0),
                txs_max: txs.iter().copied().max().unwrap_or(0),
            });
        }
        Ok((rows, rent, idle))
    }

    /// `batch` jobs posted at once, `count` workers; returns the row and the workers' peak RSS.
    pub(super) async fn throughput(
        self: &Arc<Self>,
        count: usize,
        batch: usize,
    ) -> Result<(ThroughputRow, u64)> {
        let mut workers = self.workers();
        self.start_workers(
            &mut workers,
            &format!("throughput{count}"),
            count,
            Discovery::Push,
            &[],
        )
        .await?;
        // warm-up: enough single jobs that every worker has compiled the module
        let mut warm = vec![];
        for _ in 0..2 * count {
            let (job, t) = self.post(1, 1).await?;
            warm.push(tokio::spawn(self.clone().observe(job, t)));
        }
        for w in warm {
            w.await??;
        }
        let t0 = Instant::now();
        let mut posts = vec![];
        for _ in 0..batch {
            let b = self.clone();
            posts.push(tokio::spawn(async move { b.post(1, 1).await }));
        }
        let mut watchers = vec![];
        for p in posts {
            let (job, _) = p.await??;
            watchers.push(tokio::spawn(self.clone().observe(job, t0)));
        }
        let mut last = 0.0f64;
        for w in watchers {
            last = last.max(w.await??.settled_ms);
        }
        workers.check()?;
        let hwm = workers
            .pids()
            .into_iter()
            .map(|pid| proc_status_kib(pid, "VmHWM"))
            .max()
            .unwrap_or(0);
        workers.stop();
        let secs = last / 1e3;
        Ok((
            ThroughputRow {
                workers: count,
                jobs: batch,
                secs,
                per_minute: batch as f64 / secs * 60.0,
            },
            hwm,
        ))
    }
}

/// A field of `/proc/PID/status` in KiB (0 when unreadable).
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(&format!("{field}:")))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Nearest-rank percentile.
fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), 2.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 99.0), 3.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
