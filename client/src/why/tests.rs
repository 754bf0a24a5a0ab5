use super::*;
use crate::{manifest::BlobRef, ProviderOffer, Slot};

const NOW: i64 = 1_000;
/// Past every eligibility window of the job (seed slot 10 + the cap): all may claim.
const LATE: u64 = 10 + crate::constants::ELIGIBILITY_CAP_SLOTS;

fn config() -> MarketConfig {
    MarketConfig {
        min_stake: 1_000,
        collateral_per_claim: 100,
        fee_bps: 0,
        slash_bounty_bps: 0,
        max_replicas: 8,
        claim_timeout: 60,
        default_commit_window: 600,
        max_commit_window: 3_600,
        reveal_window: 300,
        unstake_cooldown: 0,
    }
}

/// From 100 to 200 over 100 s from NOW, commit deadline NOW + 600.
fn job() -> Job {
    Job {
        market: Pubkey::new_unique(),
        status: JobStatus::Open,
        version: 3,
        bump: 255,
        replicas: 1,
        quorum: 1,
        requester: Pubkey::new_unique(),
        nonce: 0,
        manifest_hash: [1; 32],
        reward_per_replica: 200,
        escrow: 200,
        fee_bps: 0,
        collateral: 100,
        claim_timeout: 60,
        created_at: NOW,
        commit_deadline: NOW + 600,
        reveal_deadline: NOW + 900,
        expired_slashed: 0,
        slash_bounty_bps: 0,
        settlement_deposit: 0,
        seed_slot: 10,
        seed: [0; 32],
        stake_scale: 10_000,
        min_reward_per_replica: 100,
        ramp_start: NOW,
        ramp_seconds: 100,
        latest_commit_deadline: NOW + 3_600,
        reserved: [0; 8],
        manifest_uri: String::new(),
        slots: vec![Slot::FREE],
        expired: vec![],
        consumer: None,
    }
}

fn manifest() -> Manifest {
    let b = BlobRef::new(b"x", "data:,x");
    Manifest {
        args: vec![],
        input: b.clone(),
        max_fuel: 1_000_000_000,
        max_memory: 16 << 20,
        max_output: 1 << 20,
        module: b,
        runtime: "wasi-p1v2".into(),
        version: 1,
    }
}

/// A provider with all the stake, online, running both runtimes, with a floor of `floor`.
fn provider(floor: u64) -> Provider {
    Provider {
        market: Pubkey::new_unique(),
        owner: Pubkey::new_unique(),
        version: 3,
        bump: 255,
        stake: 10_000,
        locked: 0,
        pending_unstake: 0,
        unstake_available_at: 0,
        active_claims: 0,
        capabilities: 0b11,
        jobs_completed: 0,
        jobs_failed: 0,
        total_slashed: 0,
        total_earned: 0,
        registered_at: 0,
        offer: ProviderOffer {
            max_fuel: 10_000_000_000,
            max_memory: 1 << 30,
            max_output: 64 << 20,
            min_price: floor,
            price_per_gfuel: 0,
            price_per_mib: 0,
        },
        last_seen: NOW - 10,
        reserved: [0; 8],
        endpoint: String::new(),
    }
}

fn why(job: &Job, p: &Provider, now: Now) -> Reason {
    explain(
        job,
        Some(&manifest()),
        &config(),
        std::slice::from_ref(p),
        now,
    )
    .remove(0)
    .1
}

fn at(time: i64, slot: u64) -> Now {
    Now {
        time,
        slot,
        seed: Some([7; 32]),
        paused: false,
    }
}

#[test]
fn each_reason_in_the_order_a_worker_checks() {
    let j = job();
    // a ready provider: the whole stake, so eligible from the seed slot
    let p = provider(100);
    assert_eq!(why(&j, &p, at(NOW, LATE)), Reason::Ready { price: 100 });

    let mut held = j.clone();
    held.slots[0] = Slot {
        provider: p.owner,
        state: SlotState::Claimed,
        price: 100,
        ..Slot::FREE
    };
    assert_eq!(why(&held, &p, at(NOW, LATE)), Reason::Holds);
    let mut expired = j.clone();
    expired.expired = vec![p.owner];
    assert_eq!(why(&expired, &p, at(NOW, LATE)), Reason::ExpiredBefore);
    let mut full_record = j.clone();
    full_record.expired = vec![Pubkey::new_unique(); crate::constants::MAX_EXPIRED_CLAIMS as usize];
    assert_eq!(why(&full_record, &p, at(NOW, LATE)), Reason::ExpiryLimit);
    let paused = Now {
        paused: true,
        ..at(NOW, LATE)
    };
    assert_eq!(why(&j, &p, paused), Reason::Paused);
    // a floor at the starting price is met before the ramp starts
    let mut delayed = j.clone();
    delayed.ramp_start = NOW + 300;
    assert_eq!(
        why(&delayed, &provider(100), at(NOW, LATE)),
        Reason::Ready { price: 100 }
    );

    let poor = Provider {
        stake: 999,
        ..p.clone()
    };
    assert_eq!(
        why(&j, &poor, at(NOW, LATE)),
        Reason::Stake {
            bonded: 999,
            min_stake: 1_000
        }
    );
    let locked = Provider {
        locked: 9_950,
        ..p.clone()
    };
    assert_eq!(
        why(&j, &locked, at(NOW, LATE)),
        Reason::FreeStake {
            free: 50,
            collateral: 100
        }
    );
    let silent = Provider {
        last_seen: 0,
        ..p.clone()
    };
    assert_eq!(why(&j, &silent, at(NOW, LATE)), Reason::Unpublished);
    let gone = Provider {
        last_seen: NOW - OFFLINE_AFTER_SECS - 1,
        ..p.clone()
    };
    assert_eq!(
        why(&j, &gone, at(NOW, LATE)),
        Reason::Offline {
            last_seen: NOW - OFFLINE_AFTER_SECS - 1
        }
    );
    let v1_only = Provider {
        capabilities: 0b01,
        ..p.clone()
    };
    assert_eq!(
        why(&j, &v1_only, at(NOW, LATE)),
        Reason::Runtime {
            runtime: "wasi-p1v2".into()
        }
    );
    let small = Provider {
        offer: ProviderOffer {
            max_memory: 8 << 20,
            ..p.offer
        },
        ..p.clone()
    };
    assert_eq!(
        why(&j, &small, at(NOW, LATE)),
        Reason::Limits {
            what: "memory".into(),
            asked: 16 << 20,
            max: 8 << 20
        }
    );
    assert_eq!(
        why(&j, &provider(201), at(NOW, LATE)),
        Reason::Price {
            floor: 201,
            max: 200
        }
    );
    // floor 150: reached half way up the ramp
    assert_eq!(
        why(&j, &provider(150), at(NOW, LATE)),
        Reason::WaitsForPrice {
            floor: 150,
            at: NOW + 50
        }
    );
    assert_eq!(
        why(&j, &provider(150), at(NOW + 50, LATE)),
        Reason::Ready { price: 150 }
    );
    // too late: 60 s of claim window must fit before the deadline
    assert_eq!(
        why(&j, &p, at(NOW + 540, LATE)),
        Reason::TooLate {
            floor: 100,
            at: NOW + 540
        }
    );
    // a tenth of the scale: a turn after the seed slot
    let small_stake = Provider {
        stake: 1_000,
        ..p.clone()
    };
    let from = sortition::eligible_from(&j, &[7; 32], &small_stake.owner, 1_000);
    assert!(from > 10);
    assert_eq!(why(&j, &small_stake, at(NOW, 10)), Reason::Turn { from });
    assert_eq!(
        why(&j, &small_stake, at(NOW, from)),
        Reason::Ready { price: 100 }
    );
    assert_eq!(
        why(
            &j,
            &p,
            Now {
                time: NOW,
                slot: 5,
                seed: None,
                paused: false,
            }
        ),
        Reason::SeedAhead
    );
}

#[test]
fn fuel_and_memory_set_the_floor_and_an_unread_manifest_leaves_the_minimum() {
    let j = job();
    let p = Provider {
        offer: ProviderOffer {
            price_per_gfuel: 120,
            price_per_mib: 5,
            ..provider(0).offer
        },
        ..provider(0)
    };
    // 10^9 fuel at 120 plus 16 MiB at 5: 200, the maximum, reached at the ramp's end
    assert_eq!(
        why(&j, &p, at(NOW, LATE)),
        Reason::WaitsForPrice {
            floor: 200,
            at: NOW + 100
        }
    );
    let r = explain(&j, None, &config(), std::slice::from_ref(&p), at(NOW, LATE));
    assert_eq!(r[0].1, Reason::Ready { price: 100 });
}

#[test]
fn suggestions_name_the_price_and_the_limits_that_would_help() {
    let j = job();
    let small = Provider {
        offer: ProviderOffer {
            max_fuel: 1_000,
            ..provider(0).offer
        },
        ..provider(0)
    };
    let providers = [provider(300), provider(250), small];
    let r = explain(
        &j,
        Some(&manifest()),
        &config(),
        &providers,
        at(NOW + 200, LATE),
    );
    let s = suggestions(&j, &r, at(NOW + 200, LATE));
    assert_eq!(
        s,
        vec![
            Suggestion::RaisePrice {
                providers: 1,
                price: 250,
                ramp_over: true,
                extendable: true,
            },
            Suggestion::Limits {
                what: "fuel".into(),
                max: 1_000,
                providers: 1,
            },
        ]
    );
    let text = s[0].text(&Pubkey::default(), &|a| format!("{a}u"));
    assert!(
        text.starts_with("1 provider(s) would take it at a price of 250u or more (the ramp ended")
            && text
                .ends_with("`cmkt job extend 11111111111111111111111111111111 --max-reward 250u`"),
        "{text}"
    );
    assert!(s[1]
        .text(&Pubkey::default(), &|a| a.to_string())
        .contains("--max-fuel 1000"));
    // with a slot held the curve cannot change in place: a new post
    let mut held = j.clone();
    held.replicas = 2;
    held.quorum = 2;
    held.slots = vec![Slot::FREE, Slot::FREE];
    held.slots[0].state = SlotState::Claimed;
    held.slots[0].provider = Pubkey::new_unique();
    let r = explain(
        &held,
        Some(&manifest()),
        &config(),
        &providers,
        at(NOW + 200, LATE),
    );
    let s = suggestions(&held, &r, at(NOW + 200, LATE));
    assert!(
        matches!(
            s[0],
            Suggestion::RaisePrice {
                extendable: false,
                ..
            }
        ),
        "{s:?}"
    );
    assert!(s[0]
        .text(&Pubkey::default(), &|a| a.to_string())
        .contains("post again with --reward 250"));
    // someone is coming: no advice
    let providers = [provider(100), provider(300)];
    let r = explain(&j, Some(&manifest()), &config(), &providers, at(NOW, LATE));
    assert!(suggestions(&j, &r, at(NOW, LATE)).is_empty());
}

#[test]
fn a_job_too_late_for_a_claim_is_told_how_far_to_extend() {
    let j = job();
    let providers = [provider(300)];
    let now = at(NOW + 545, LATE);
    let r = explain(&j, Some(&manifest()), &config(), &providers, now);
    let s = suggestions(&j, &r, now);
    // five claim timeouts, within the 3 000 s the market's longest window leaves
    assert_eq!(s.last(), Some(&Suggestion::TooLate { extend_by: 300 }));
    assert!(s[s.len() - 1]
        .text(&Pubkey::default(), &|a| a.to_string())
        .contains("--by 300"));
    // the longest window the job was posted with is used up: nothing left but cancelling or
    // waiting
    let tight = Job {
        latest_commit_deadline: j.commit_deadline,
        ..j.clone()
    };
    let s = suggestions(&tight, &r, now);
    assert_eq!(s.last(), Some(&Suggestion::TooLate { extend_by: 0 }));
    assert!(s[s.len() - 1]
        .text(&Pubkey::default(), &|a| a.to_string())
        .contains("allows no extension"));
}

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
    let mut held = j.clone();
    held.slots[0] = Slot {
        provider: p.owner,
        state: SlotState::Claimed,
        price: 100,
        ..Slot::FREE
    };
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
        "about": "Generated by compute-market-client (why::tests): why a provider would or would not claim a job. Regenerate with CMKT_WRITE_VECTORS=1 cargo test -p compute-market-client why",
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
