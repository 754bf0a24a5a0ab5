//! `cmkt job status` of an open job: its eligibility seed and when each staked provider of the
//! market may claim (stake-weighted, `client::sortition`).

use anyhow::Result;
use compute_market_client::{rpc::Chain, sortition, Job, MarketRef, Pubkey};
use serde_json::{json, Value};

/// The seed (`None` while the seed slot is ahead), the current slot, and each provider's first
/// eligible slot, earliest first.
pub struct Turns {
    pub seed: Option<[u8; 32]>,
    pub fixed: bool,
    pub slot: u64,
    pub providers: Vec<(Pubkey, u64)>,
}

pub async fn turns(
    chain: &Chain,
    market: &MarketRef,
    address: &Pubkey,
    job: &Job,
) -> Result<Turns> {
    let seed = chain.job_seed(address, job).await?;
    let slot = chain.slot().await?;
    let mut providers = vec![];
    if let Some(seed) = &seed {
        for (_, p) in chain.providers(&market.address).await? {
            let bonded = sortition::bonded(&p);
            if bonded >= market.state.config.min_stake {
                providers.push((
                    p.owner,
                    sortition::eligible_from(job, seed, &p.owner, bonded),
                ));
            }
        }
    }
    providers.sort_by_key(|(_, from)| *from);
    Ok(Turns {
        seed,
        fixed: job.seed != [0; 32],
        slot,
        providers,
    })
}

impl Turns {
    pub fn json(&self, job: &Job) -> Value {
        json!({
            "seed": self.seed.map(hex::encode),
            "seed_fixed": self.fixed,
            "seed_slot": job.seed_slot,
            "stake_scale": job.stake_scale,
            "slot": self.slot,
            "eligible_from": self.providers.iter().map(|(p, from)| json!({
                "provider": p.to_string(), "slot": from,
            })).collect::<Vec<_>>(),
        })
    }

    pub fn text(&self, job: &Job) -> String {
        let Some(seed) = self.seed else {
            return format!(
                "  eligibility: the seed comes from slot {} (now {})\n",
                job.seed_slot, self.slot
            );
        };
        let mut out = format!(
            "  eligibility seed {} ({}), now slot {}\n",
            hex::encode(seed),
            if self.fixed {
                "fixed by the first claim"
            } else {
                "the next claim fixes it"
            },
            self.slot
        );
        for (p, from) in &self.providers {
            let when = if *from <= self.slot {
                "eligible now".to_string()
            } else {
                format!("eligible in {} slots", from - self.slot)
            };
            out += &format!("    {p}  from slot {from}  ({when})\n");
        }
        out
    }
}
