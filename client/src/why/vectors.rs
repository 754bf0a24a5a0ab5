//! The web app's `lib/why` is checked against these cases (`app/test/vectors/why.json`): every
//! reason, each from the smallest change to a ready provider.

use super::tests::{at, config, held_by, job, manifest, provider, LATE, NOW};
use super::*;

/// Numbers as decimal strings, so that u64 values survive JSON in the web app.
fn strings(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(a) => Value::Array(a.into_iter().map(strings).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, strings(v))).collect()),
        other => other,
    }
}

fn job_json(j: &Job) -> serde_json::Value {
    strings(serde_json::json!({
        "market": j.market.to_string(),
        "status": format!("{:?}", j.status).to_lowercase(),
        "slots": j.slots.iter().map(|s| serde_json::json!({
            "provider": s.provider.to_string(),
            "state": format!("{:?}", s.state).to_lowercase(),
        })).collect::<Vec<_>>(),
        "expired": j.expired.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        "collateral": j.collateral,
        "reward_per_replica": j.reward_per_replica,
        "min_reward_per_replica": j.min_reward_per_replica,
        "ramp_start": j.ramp_start,
        "ramp_seconds": j.ramp_seconds,
        "claim_timeout": j.claim_timeout,
        "commit_deadline": j.commit_deadline,
        "seed_slot": j.seed_slot,
        "stake_scale": j.stake_scale,
    }))
}

fn provider_json(p: &Provider) -> serde_json::Value {
    strings(serde_json::json!({
        "market": p.market.to_string(),
        "owner": p.owner.to_string(),
        "stake": p.stake,
        "locked": p.locked,
        "pending_unstake": p.pending_unstake,
        "capabilities": p.capabilities,
        "last_seen": p.last_seen,
        "offer": {
            "max_fuel": p.offer.max_fuel,
            "max_memory": p.offer.max_memory,
            "max_output": p.offer.max_output,
            "min_price": p.offer.min_price,
            "price_per_gfuel": p.offer.price_per_gfuel,
            "price_per_mib": p.offer.price_per_mib,
        },
    }))
}

/// Every reason, each from the smallest change to a ready provider, as
/// `app/test/vectors/why.json` holds them for the web app's `lib/why`.
fn vector_cases() -> Vec<(&'static str, Job, Option<Manifest>, Provider, Now)> {
    // fixed keys: the file must come out the same in every run
    let market = Pubkey::new_from_array([2; 32]);
    let fixed = |p: Provider| Provider {
        market,
        owner: Pubkey::new_from_array([1; 32]),
        ..p
    };
    let j = Job { market, ..job() };
    let p = fixed(provider(100));
    let m = Some(manifest());
    let held = held_by(&j, &p);
    let mut expired = j.clone();
    expired.expired = vec![p.owner];
    let mut full = j.clone();
    full.expired =
        vec![Pubkey::new_from_array([3; 32]); crate::constants::MAX_EXPIRED_CLAIMS as usize];
    let mut delayed = j.clone();
    delayed.ramp_start = NOW + 300;
    let with = |f: &dyn Fn(&mut Provider)| {
        let mut q = p.clone();
        f(&mut q);
        q
    };
    let priced = with(&|q| {
        q.offer.price_per_gfuel = 120;
        q.offer.price_per_mib = 5;
        q.offer.min_price = 0;
    });
    vec![
        ("ready", j.clone(), m.clone(), p.clone(), at(NOW, LATE)),
        (
            "paused",
            j.clone(),
            m.clone(),
            p.clone(),
            Now {
                paused: true,
                ..at(NOW, LATE)
            },
        ),
        ("holds", held, m.clone(), p.clone(), at(NOW, LATE)),
        (
            "expired before",
            expired,
            m.clone(),
            p.clone(),
            at(NOW, LATE),
        ),
        ("expiry limit", full, m.clone(), p.clone(), at(NOW, LATE)),
        (
            "floor at the start price before the ramp",
            delayed,
            m.clone(),
            p.clone(),
            at(NOW, LATE),
        ),
        (
            "stake",
            j.clone(),
            m.clone(),
            with(&|q| q.stake = 999),
            at(NOW, LATE),
        ),
        (
            "pending unstake",
            j.clone(),
            m.clone(),
            with(&|q| q.pending_unstake = 9_500),
            at(NOW, LATE),
        ),
        (
            "free stake",
            j.clone(),
            m.clone(),
            with(&|q| q.locked = 9_950),
            at(NOW, LATE),
        ),
        (
            "unpublished",
            j.clone(),
            m.clone(),
            with(&|q| q.last_seen = 0),
            at(NOW, LATE),
        ),
        (
            "offline",
            j.clone(),
            m.clone(),
            with(&|q| q.last_seen = NOW - OFFLINE_AFTER_SECS - 1),
            at(NOW, LATE),
        ),
        (
            "online at the limit",
            j.clone(),
            m.clone(),
            with(&|q| q.last_seen = NOW - OFFLINE_AFTER_SECS),
            at(NOW, LATE),
        ),
        (
            "runtime",
            j.clone(),
            m.clone(),
            with(&|q| q.capabilities = 0b01),
            at(NOW, LATE),
        ),
        (
            "fuel",
            j.clone(),
            m.clone(),
            with(&|q| q.offer.max_fuel = 1_000),
            at(NOW, LATE),
        ),
        (
            "memory",
            j.clone(),
            m.clone(),
            with(&|q| q.offer.max_memory = 8 << 20),
            at(NOW, LATE),
        ),
        (
            "output",
            j.clone(),
            m.clone(),
            with(&|q| q.offer.max_output = 1),
            at(NOW, LATE),
        ),
        (
            "price",
            j.clone(),
            m.clone(),
            fixed(provider(201)),
            at(NOW, LATE),
        ),
        (
            "waits for its price",
            j.clone(),
            m.clone(),
            fixed(provider(150)),
            at(NOW, LATE),
        ),
        (
            "its price reached",
            j.clone(),
            m.clone(),
            fixed(provider(150)),
            at(NOW + 50, LATE),
        ),
        (
            "fuel and memory set the floor",
            j.clone(),
            m.clone(),
            priced.clone(),
            at(NOW, LATE),
        ),
        (
            "no manifest: the minimum",
            j.clone(),
            None,
            priced,
            at(NOW, LATE),
        ),
        (
            "too late",
            j.clone(),
            m.clone(),
            p.clone(),
            at(NOW + 540, LATE),
        ),
        (
            "just in time",
            j.clone(),
            m.clone(),
            p.clone(),
            at(NOW + 539, LATE),
        ),
        (
            "turn",
            j.clone(),
            m.clone(),
            with(&|q| q.stake = 1_000),
            at(NOW, 10),
        ),
        (
            "seed ahead",
            j.clone(),
            m.clone(),
            p.clone(),
            Now {
                seed: None,
                ..at(NOW, 5)
            },
        ),
    ]
}

fn vectors() -> serde_json::Value {
    let cases: Vec<_> = vector_cases()
        .into_iter()
        .map(|(name, job, manifest, p, now)| {
            let r = explain(
                &job,
                manifest.as_ref(),
                &config(),
                std::slice::from_ref(&p),
                now,
            )
            .remove(0)
            .1;
            serde_json::json!({
                "name": name,
                "job": job_json(&job),
                "manifest": manifest.map(|m| strings(serde_json::json!({
                    "runtime": m.runtime, "max_fuel": m.max_fuel, "max_memory": m.max_memory,
                    "max_output": m.max_output,
                }))),
                "min_stake": config().min_stake.to_string(),
                "now": {
                    "time": now.time.to_string(),
                    "slot": now.slot.to_string(),
                    "seed": now.seed.map(hex::encode),
                    "paused": now.paused,
                },
                "provider": provider_json(&p),
                "reason": strings(serde_json::to_value(&r).unwrap()),
                "label": r.label(),
            })
        })
        .collect();
    serde_json::json!({
        "about": "Generated by compute-market-client (why::vectors): why a provider would or would not claim a job. Regenerate with CMKT_WRITE_VECTORS=1 cargo test -p compute-market-client why",
        "cases": cases,
    })
}

#[test]
fn web_app_vectors_are_current() {
    // every reason appears at least once
    let all: std::collections::BTreeSet<String> = vector_cases()
        .into_iter()
        .map(|(_, job, manifest, p, now)| {
            let r = explain(
                &job,
                manifest.as_ref(),
                &config(),
                std::slice::from_ref(&p),
                now,
            );
            serde_json::to_value(&r[0].1).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(all.len(), 16, "{all:?}");
    let want = serde_json::to_string_pretty(&vectors()).unwrap() + "\n";
    crate::generated::check(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../app/test/vectors/why.json"),
        &want,
        "CMKT_WRITE_VECTORS=1 cargo test -p compute-market-client why",
    );
}
