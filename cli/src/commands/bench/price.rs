//! Price discovery: what rising offers pay against fixed offers at the same maximum, with three
//! workers whose price floors differ, measured in one run. For every settled claim the bench
//! records the price the claim locked and the claimer's floor.

use super::{fleet, Bench, Discovery, TOKEN};
use anyhow::{anyhow, Result};
use compute_market_client::{JobPostArgs, Pubkey};
use serde::Serialize;
use solana_sdk::signer::Signer;
use std::{sync::Arc, time::Instant};

/// The three workers' price floors (`policy.min_reward`).
pub const FLOORS: [u64; 3] = [TOKEN, 3 * TOKEN / 2, 2 * TOKEN];
/// Both offers' maximum, and where the rising one starts.
pub const MAX: u64 = 3 * TOKEN;
pub const START: u64 = TOKEN / 2;

/// One kind of offer, over its settled jobs.
#[derive(Serialize, Clone, Debug, Default)]
pub struct PriceRow {
    pub offer: String,
    pub jobs: usize,
    /// Mean price the claims locked, in tokens.
    pub mean_price: f64,
    /// Mean floor of the providers that claimed, in tokens.
    pub mean_floor: f64,
    /// Mean of price / the claimer's floor.
    pub price_over_floor: f64,
    /// Claims taken by the provider with the lowest floor.
    pub lowest_floor_claims: usize,
    /// Mean seconds from the post to the claim.
    pub claim_secs: f64,
}

impl Bench {
    /// `per_kind` rising offers (from `START` to `MAX` over `ramp` seconds) and as many fixed
    /// offers at `MAX`, n = 1, posted at once to three workers with the floors [`FLOORS`].
    pub(super) async fn prices(
        self: &Arc<Self>,
        per_kind: usize,
        ramp: i64,
    ) -> Result<Vec<PriceRow>> {
        let mut workers = self.workers();
        self.start_workers(&mut workers, "price", 3, Discovery::Push, &FLOORS)
            .await?;
        let owners: Vec<Pubkey> = self
            .providers
            .iter()
            .take(FLOORS.len())
            .map(|p| Ok(compute_market_localnet::load_or_create_keypair(p)?.pubkey()))
            .collect::<Result<_>>()?;
        let mut rows = vec![];
        for (offer, min, ramp) in [
            (
                format!("rising {} → {} over {ramp} s", tokens(START), tokens(MAX)),
                START,
                ramp,
            ),
            (format!("fixed at {}", tokens(MAX)), MAX, 0),
        ] {
            let mut observed = vec![];
            for _ in 0..per_kind {
                let args = JobPostArgs {
                    nonce: self.next_nonce(),
                    manifest_hash: self.manifest_hash,
                    manifest_uri: self.manifest_uri.clone(),
                    reward_per_replica: MAX,
                    min_reward_per_replica: min,
                    ramp_delay: 0,
                    ramp_seconds: ramp,
                    replicas: 1,
                    quorum: 1,
                    commit_window: 0,
                    terms_hash: self.market.terms_hash(),
                    consumer: None,
                };
                let job = fleet::post(&self.chain, &self.market, &self.requester, args).await?;
                observed.push(tokio::spawn(self.clone().observe(job, Instant::now())));
            }
            let (mut price, mut floor, mut ratio, mut lowest, mut secs) = (0.0, 0.0, 0.0, 0, 0.0);
            for o in observed {
                let o = o.await??;
                let s = self
                    .chain
                    .settlement(&o.address)
                    .await?
                    .ok_or_else(|| anyhow!("job {} has no settlement", o.address))?;
                let v = &s.verdicts[0];
                let who = owners
                    .iter()
                    .position(|p| *p == v.provider)
                    .ok_or_else(|| anyhow!("job {} was claimed by a stranger", o.address))?;
                price += tokens(v.price);
                floor += tokens(FLOORS[who]);
                ratio += v.price as f64 / FLOORS[who] as f64;
                lowest += usize::from(who == 0);
                secs += o.claimed_ms / 1e3;
            }
            let n = per_kind as f64;
            rows.push(PriceRow {
                offer,
                jobs: per_kind,
                mean_price: price / n,
                mean_floor: floor / n,
                price_over_floor: ratio / n,
                lowest_floor_claims: lowest,
                claim_secs: secs / n,
            });
        }
        workers.stop();
        Ok(rows)
    }
}

fn tokens(base: u64) -> f64 {
    base as f64 / TOKEN as f64
}
