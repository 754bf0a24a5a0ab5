use super::*;
use crate::{manifest::BlobRef, ProviderOffer, Slot};

pub(super) const NOW: i64 = 1_000;
/// Past every eligibility window of the job (seed slot 10 + the cap): all may claim.
pub(super) const LATE: u64 = 10 + crate::constants::ELIGIBILITY_CAP_SLOTS;

pub(super) fn config() -> MarketConfig {
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
pub(super) fn job() -> Job {
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

pub(super) fn manifest() -> Manifest {
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
pub(super) fn provider(floor: u64) -> Provider {
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

/// `job` with its first slot claimed by `p` at the price 100.
pub(super) fn held_by(job: &Job, p: &Provider) -> Job {
    let mut held = job.clone();
    held.slots[0] = Slot {
        provider: p.owner,
        state: SlotState::Claimed,
        price: 100,
        ..Slot::FREE
    };
    held
}

pub(super) fn at(time: i64, slot: u64) -> Now {
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

    let held = held_by(&j, &p);
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
