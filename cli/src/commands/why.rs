//! `cmkt job why <JOB>`: for an open job, what stands between each staked provider and a claim
//! (`client::why`), grouped by reason, with what the requester could change.

use super::job::read_capped;
use crate::{out, settings::format_amount};
use anyhow::Result;
use compute_market_client::{
    manifest::Manifest,
    rpc::Chain,
    why::{self, Now, Reason},
    Job, MarketRef, Pubkey, SlotState,
};
use serde_json::json;
use std::{collections::BTreeMap, time::Duration};

/// Reads the job's manifest over http(s) and checks its hash; `Err` says why it could not.
async fn manifest(job: &Job) -> Result<Manifest, String> {
    let uri = &job.manifest_uri;
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        return Err(format!("the manifest URI {uri} is not http(s)"));
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let bytes = read_capped(&http, uri, 64 * 1024)
        .await
        .map_err(|e| format!("fetching the manifest: {e}"))?;
    Manifest::from_bytes(&bytes, &job.manifest_hash).map_err(|e| e.to_string())
}

fn reason_text(r: &Reason, now: &Now, d: u8, sd: u8) -> String {
    let secs = |at: i64| (at - now.time).max(0);
    match r {
        Reason::Paused => "the market is paused: no claims".into(),
        Reason::ExpiryLimit => {
            "the job recorded the most expired claims it can: no more claims".into()
        }
        Reason::Holds => "holds a slot".into(),
        Reason::ExpiredBefore => "its claim on this job expired: may not claim again".into(),
        Reason::Stake { bonded, min_stake } => format!(
            "stake {} is below the market minimum {}",
            format_amount(*bonded, sd),
            format_amount(*min_stake, sd)
        ),
        Reason::FreeStake { free, collateral } => format!(
            "free stake {} is less than the collateral {}",
            format_amount(*free, sd),
            format_amount(*collateral, sd)
        ),
        Reason::Unpublished => "its worker never published what it accepts".into(),
        Reason::Offline { last_seen } => format!(
            "offline: its worker last published {} s ago",
            now.time - last_seen
        ),
        Reason::Runtime { runtime } => format!("does not run {runtime}"),
        Reason::Limits { what, asked, max } => {
            format!("accepts at most {max} {what}; the manifest asks for {asked}")
        }
        Reason::Price { floor, max } => format!(
            "its floor {} is above the most the job pays, {}",
            format_amount(*floor, d),
            format_amount(*max, d)
        ),
        Reason::TooLate { floor, at } => format!(
            "the price reaches its floor {} in {} s, too late for a claim window",
            format_amount(*floor, d),
            secs(*at)
        ),
        Reason::WaitsForPrice { floor, at } => format!(
            "claims when the price reaches its floor {}, in {} s",
            format_amount(*floor, d),
            secs(*at)
        ),
        Reason::Turn { from } => format!(
            "its eligibility window opens at slot {from}, in {} slots",
            from - now.slot
        ),
        Reason::SeedAhead => "eligibility is fixed a few slots after the post".into(),
        Reason::Ready { price } => format!("would claim now at {}", format_amount(*price, d)),
    }
}

pub async fn run(
    format: out::Format,
    chain: &Chain,
    market: &MarketRef,
    address: &Pubkey,
    job: &Job,
    (d, sd): (u8, u8),
) -> Result<()> {
    let manifest = manifest(job).await;
    let now = Now {
        time: chain.unix_time().await?,
        slot: chain.slot().await?,
        seed: chain.job_seed(address, job).await?,
        paused: market.state.paused,
    };
    let providers: Vec<_> = chain
        .providers(&market.address)
        .await?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let config = market.state.config;
    let reasons = why::explain(job, manifest.as_ref().ok(), &config, &providers, now);
    let suggestions = why::suggestions(job, &reasons, now);
    let mut groups: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, r) in &reasons {
        *groups.entry(r.label()).or_default() += 1;
    }
    let free = job.count(SlotState::Free);
    let value = json!({
        "job": address.to_string(), "status": format!("{:?}", job.status), "free_slots": free,
        "price_now": job.price_at(now.time), "reward_per_replica": job.reward_per_replica,
        "time": now.time, "slot": now.slot,
        "manifest_error": manifest.as_ref().err(),
        "groups": groups,
        "providers": reasons.iter().map(|(p, r)| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["provider"] = json!(p.to_string());
            v["label"] = json!(r.label());
            v
        }).collect::<Vec<_>>(),
        "suggestions": suggestions.iter().map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            v["text"] = json!(s.text(address, &|a| format_amount(a, d)));
            v
        }).collect::<Vec<_>>(),
    });
    out::emit(format, &value, || {
        let mut text = format!(
            "job {address}: {:?}, {free} of {} slots free, price now {} (at most {})\n",
            job.status,
            job.replicas,
            format_amount(job.price_at(now.time), d),
            format_amount(job.reward_per_replica, d),
        );
        if let Err(e) = &manifest {
            text += &format!("  limits and runtime not checked: {e}\n");
        }
        let summary: Vec<String> = groups.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        text += &format!(
            "  {} staked provider(s): {}\n",
            reasons.len(),
            summary.join(" · ")
        );
        for (p, r) in &reasons {
            text += &format!("    {p}  {}\n", reason_text(r, &now, d, sd));
        }
        for s in &suggestions {
            text += &format!(
                "  suggestion: {}\n",
                s.text(address, &|a| format_amount(a, d))
            );
        }
        text
    })
}
