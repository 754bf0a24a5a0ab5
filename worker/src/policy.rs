//! Which open jobs this worker takes: checked on the job account before anything is downloaded,
//! then on the manifest before anything is claimed.

use crate::config::Resolved;
use compute_market_client::{
    constants::MAX_EXPIRED_CLAIMS, manifest::Manifest, Job, JobStatus, Provider, ProviderOffer,
    Pubkey, SlotState,
};

/// Why a job is not taken. `reason()` is a stable label for metrics.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Skip {
    #[error("no free slot")]
    NotOpen,
    #[error("the job filled before this provider's eligibility window opened")]
    FilledBeforeTurn,
    #[error("already holds a slot")]
    AlreadyClaimed,
    #[error("an earlier claim of ours on this job expired: the program refuses another")]
    ExpiredBefore,
    #[error("the job recorded the most expired claims it can: it takes no more claims")]
    ExpiryLimit,
    #[error("the most the job pays, {0}, is below the minimum {1}")]
    RewardTooLow(u64, u64),
    #[error(
        "the most the job pays, {max}, is below this worker's price floor {floor} for its manifest"
    )]
    BelowFloor { max: u64, floor: u64 },
    #[error("the price reaches this worker's floor {floor} only at {at}, too late for a claim window before the commit deadline")]
    FloorTooLate { floor: u64, at: i64 },
    #[error("requester {0} is not allowed")]
    RequesterDenied(Pubkey),
    #[error("{0}s left before the commit deadline, less than {1}s")]
    TooLate(i64, i64),
    #[error("{0}s left before the commit deadline: a claim window of {1}s no longer fits")]
    ClaimWindowClosed(i64, i64),
    #[error("collateral {0} is more than the free stake {1}")]
    NotEnoughStake(u64, u64),
    #[error("stake {0} (less pending withdrawals) is below the market's minimum {1}")]
    BelowMinStake(u64, u64),
    #[error("runtime {0:?} is not supported")]
    Runtime(String),
    #[error("manifest asks for {what} {asked}, more than the {max} allowed")]
    Limit {
        what: &'static str,
        asked: u64,
        max: u64,
    },
    #[error("blobs unavailable: {0}")]
    Blobs(String),
    #[error("invalid module: {0}")]
    InvalidModule(String),
}

impl Skip {
    pub fn reason(&self) -> &'static str {
        match self {
            Skip::NotOpen => "not_open",
            Skip::FilledBeforeTurn => "eligibility",
            Skip::AlreadyClaimed => "already_claimed",
            Skip::ExpiredBefore => "expired_before",
            Skip::ExpiryLimit => "expiry_limit",
            Skip::RewardTooLow(..) | Skip::BelowFloor { .. } | Skip::FloorTooLate { .. } => "price",
            Skip::RequesterDenied(_) => "requester",
            Skip::TooLate(..) | Skip::ClaimWindowClosed(..) => "too_late",
            Skip::NotEnoughStake(..) | Skip::BelowMinStake(..) => "stake",
            Skip::Runtime(_) => "runtime",
            Skip::Limit { .. } => "limits",
            Skip::Blobs(_) => "blobs",
            Skip::InvalidModule(_) => "invalid_module",
        }
    }

    /// Whether the same job may pass later (a deadline or a download can change; a manifest
    /// cannot).
    pub fn may_change(&self) -> bool {
        matches!(
            self,
            Skip::Blobs(_) | Skip::NotEnoughStake(..) | Skip::BelowMinStake(..)
        )
    }
}

/// Checks the job account: price, requester lists, time left, and the stake rules the program
/// applies to a claim (minimum stake, free stake net of locks and pending unstakes).
pub fn check_job(
    s: &Resolved,
    me: &Pubkey,
    job: &Job,
    provider: &Provider,
    min_stake: u64,
    now: i64,
) -> Result<(), Skip> {
    let p = &s.config.policy;
    if job.status != JobStatus::Open {
        return Err(Skip::NotOpen);
    }
    if job.slot_of(me).is_some() {
        return Err(Skip::AlreadyClaimed);
    }
    if job.expired.contains(me) {
        return Err(Skip::ExpiredBefore);
    }
    if job.expired.len() + job.count(SlotState::Claimed) >= MAX_EXPIRED_CLAIMS as usize {
        return Err(Skip::ExpiryLimit);
    }
    if job.reward_per_replica < p.min_reward {
        return Err(Skip::RewardTooLow(job.reward_per_replica, p.min_reward));
    }
    if s.deny.contains(&job.requester) || !(s.allow.is_empty() || s.allow.contains(&job.requester))
    {
        return Err(Skip::RequesterDenied(job.requester));
    }
    let left = job.commit_deadline.saturating_sub(now);
    if left < p.min_time_left {
        return Err(Skip::TooLate(left, p.min_time_left));
    }
    // the program wants the whole claim window before the commit deadline
    if left <= job.claim_timeout {
        return Err(Skip::ClaimWindowClosed(left, job.claim_timeout));
    }
    let bonded = compute_market_client::sortition::bonded(provider);
    if bonded < min_stake {
        return Err(Skip::BelowMinStake(bonded, min_stake));
    }
    let free = provider
        .stake
        .saturating_sub(provider.locked)
        .saturating_sub(provider.pending_unstake);
    if job.collateral > free {
        return Err(Skip::NotEnoughStake(job.collateral, free));
    }
    Ok(())
}

/// This worker's price floor for a manifest: `min_reward`, or the per-unit floors applied to
/// what the manifest may use (rounded up), whichever is higher.
pub fn price_floor(s: &Resolved, m: &Manifest) -> u64 {
    offer(s).floor(m.max_fuel, m.max_memory)
}

/// The capability bits of the runtimes this worker runs (`policy.runtimes`).
pub fn capabilities(s: &Resolved) -> u64 {
    s.config
        .policy
        .runtimes
        .iter()
        .filter_map(|r| compute_market_client::manifest::capability_bit(r))
        .fold(0, |a, b| a | b)
}

/// What this worker publishes on-chain (`publish_offer`): its limits and price floors.
pub fn offer(s: &Resolved) -> ProviderOffer {
    let p = &s.config.policy;
    ProviderOffer {
        max_fuel: p.max_fuel,
        max_memory: p.max_memory,
        max_output: p.max_output,
        min_price: p.min_reward,
        price_per_gfuel: p.min_price_per_gfuel,
        price_per_mib: p.min_price_per_mib,
    }
}

/// When this worker claims `job`: the first unix time at which its price reaches `floor`
/// (`price::ALWAYS` when it has from the post on). Fails when it never does, or only when a
/// claim window, or `min_time_left`, would no longer fit before the commit deadline.
pub fn claim_from(job: &Job, floor: u64, min_time_left: i64) -> Result<i64, Skip> {
    let at = compute_market_client::price::reaches_at(job, floor).ok_or(Skip::BelowFloor {
        max: job.reward_per_replica,
        floor,
    })?;
    let left = job.commit_deadline.saturating_sub(at);
    if left <= job.claim_timeout || left < min_time_left {
        return Err(Skip::FloorTooLate { floor, at });
    }
    Ok(at)
}

/// Checks the manifest against the runtimes and limits this worker accepts.
pub fn check_manifest(s: &Resolved, m: &Manifest) -> Result<(), Skip> {
    let p = &s.config.policy;
    if !p.runtimes.contains(&m.runtime) {
        return Err(Skip::Runtime(m.runtime.clone()));
    }
    for (what, asked, max) in [
        ("fuel", m.max_fuel, p.max_fuel),
        ("memory", m.max_memory, p.max_memory),
        ("output", m.max_output, p.max_output),
    ] {
        if asked > max {
            return Err(Skip::Limit { what, asked, max });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Resolved};
    use compute_market_client::{manifest::BlobRef, Slot, SlotState};

    fn settings(edit: impl FnOnce(&mut Config)) -> Resolved {
        let mut c = Config {
            market: Pubkey::new_unique().to_string(),
            ..Config::default()
        };
        edit(&mut c);
        Resolved::new(
            c,
            std::path::Path::new("/nonexistent"),
            std::path::Path::new("/nonexistent"),
        )
        .unwrap()
    }

    fn job(requester: Pubkey) -> Job {
        Job {
            market: Pubkey::new_unique(),
            status: JobStatus::Open,
            version: 1,
            bump: 255,
            replicas: 2,
            quorum: 2,
            requester,
            nonce: 0,
            manifest_hash: [0; 32],
            reward_per_replica: 100,
            escrow: 200,
            fee_bps: 0,
            collateral: 50,
            claim_timeout: 60,
            created_at: 0,
            commit_deadline: 1_000,
            reveal_deadline: 2_000,
            expired_slashed: 0,
            slash_bounty_bps: 0,
            settlement_deposit: 0,
            seed_slot: 0,
            seed: [0; 32],
            stake_scale: 0,
            min_reward_per_replica: 100,
            ramp_start: 0,
            ramp_seconds: 0,
            latest_commit_deadline: i64::MAX,
            reserved: [0; 8],
            manifest_uri: String::new(),
            slots: vec![Slot::FREE; 2],
            expired: Vec::new(),
            consumer: None,
        }
    }

    fn provider(stake: u64, locked: u64) -> Provider {
        Provider {
            market: Pubkey::new_unique(),
            owner: Pubkey::new_unique(),
            version: 1,
            bump: 255,
            stake,
            locked,
            pending_unstake: 0,
            unstake_available_at: 0,
            active_claims: 0,
            capabilities: 1,
            jobs_completed: 0,
            jobs_failed: 0,
            total_slashed: 0,
            total_earned: 0,
            registered_at: 0,
            offer: ProviderOffer::default(),
            last_seen: 0,
            reserved: [0; 8],
            endpoint: String::new(),
        }
    }

    #[test]
    fn job_rules() {
        let me = Pubkey::new_unique();
        let r = Pubkey::new_unique();
        let s = settings(|_| {});
        let p = provider(100, 0);
        assert_eq!(check_job(&s, &me, &job(r), &p, 0, 0), Ok(()));

        let s2 = settings(|c| c.policy.min_reward = 101);
        assert_eq!(
            check_job(&s2, &me, &job(r), &p, 0, 0),
            Err(Skip::RewardTooLow(100, 101))
        );
        let s3 = settings(|c| c.policy.deny_requesters = vec![r.to_string()]);
        assert_eq!(
            check_job(&s3, &me, &job(r), &p, 0, 0),
            Err(Skip::RequesterDenied(r))
        );
        let s4 = settings(|c| c.policy.allow_requesters = vec![Pubkey::new_unique().to_string()]);
        assert_eq!(
            check_job(&s4, &me, &job(r), &p, 0, 0),
            Err(Skip::RequesterDenied(r))
        );
        let s5 = settings(|c| c.policy.allow_requesters = vec![r.to_string()]);
        assert_eq!(check_job(&s5, &me, &job(r), &p, 0, 0), Ok(()));

        assert_eq!(
            check_job(&s, &me, &job(r), &p, 0, 990),
            Err(Skip::TooLate(10, 15))
        );
        assert_eq!(
            check_job(&s, &me, &job(r), &provider(100, 60), 0, 0),
            Err(Skip::NotEnoughStake(50, 40))
        );
        let mut mine = job(r);
        mine.slots[0] = Slot {
            provider: me,
            state: SlotState::Claimed,
            ..Slot::FREE
        };
        assert_eq!(
            check_job(&s, &me, &mine, &p, 0, 0),
            Err(Skip::AlreadyClaimed)
        );
        let mut unstaking = provider(100, 0);
        unstaking.pending_unstake = 60;
        assert_eq!(
            check_job(&s, &me, &job(r), &unstaking, 0, 0),
            Err(Skip::NotEnoughStake(50, 40))
        );
        assert_eq!(
            check_job(&s, &me, &job(r), &p, 101, 0),
            Err(Skip::BelowMinStake(100, 101))
        );
        assert_eq!(
            check_job(&s, &me, &job(r), &unstaking, 41, 0),
            Err(Skip::BelowMinStake(40, 41)),
            "pending withdrawals do not count towards the minimum"
        );
        let mut full = job(r);
        full.status = JobStatus::Full;
        assert_eq!(check_job(&s, &me, &full, &p, 0, 0), Err(Skip::NotOpen));
        // claim_timeout 60, commit deadline 1000: a claim at 940 could not commit in time
        let relaxed = settings(|c| c.policy.min_time_left = 0);
        assert_eq!(check_job(&relaxed, &me, &job(r), &p, 0, 939), Ok(()));
        assert_eq!(
            check_job(&relaxed, &me, &job(r), &p, 0, 940),
            Err(Skip::ClaimWindowClosed(60, 60))
        );
        let mut expired = job(r);
        expired.expired = vec![me];
        expired.expired_slashed = expired.collateral;
        assert_eq!(
            check_job(&s, &me, &expired, &p, 0, 0),
            Err(Skip::ExpiredBefore)
        );
        expired.expired = vec![Pubkey::new_unique(); MAX_EXPIRED_CLAIMS as usize];
        assert_eq!(
            check_job(&s, &me, &expired, &p, 0, 0),
            Err(Skip::ExpiryLimit)
        );
    }

    #[test]
    fn price_floor_counts_fuel_and_memory_and_waits_for_the_ramp() {
        let blob = BlobRef::new(b"x", "data:,x");
        let m = Manifest {
            args: vec![],
            input: blob.clone(),
            max_fuel: 2_500_000_000,
            max_memory: (64 << 20) + 1,
            max_output: 1 << 10,
            module: blob,
            runtime: "wasi-p1".into(),
            version: 1,
        };
        // 2.5 × 10^9 fuel at 10 per 10^9 is 25; 64 MiB and a byte round up to 65 MiB at 2 each
        let s = settings(|c| {
            c.policy.min_price_per_gfuel = 10;
            c.policy.min_price_per_mib = 2;
        });
        assert_eq!(price_floor(&s, &m), 25 + 130);
        let s = settings(|c| {
            c.policy.min_price_per_gfuel = 10;
            c.policy.min_reward = 1_000;
        });
        assert_eq!(price_floor(&s, &m), 1_000, "min_reward is a floor too");
        assert_eq!(price_floor(&settings(|_| {}), &m), 0);

        // from 40 at t = 100 to 100 at t = 400; commit deadline 1000, claim timeout 60
        let mut j = job(Pubkey::new_unique());
        j.min_reward_per_replica = 40;
        j.ramp_start = 100;
        j.ramp_seconds = 300;
        assert_eq!(
            claim_from(&j, 30, 0),
            Ok(compute_market_client::price::ALWAYS),
            "at or below the start price: at once, also before the ramp starts"
        );
        assert_eq!(
            claim_from(&j, 40, 0),
            Ok(compute_market_client::price::ALWAYS)
        );
        assert_eq!(claim_from(&j, 70, 0), Ok(250));
        assert_eq!(j.price_at(249), 69);
        assert_eq!(claim_from(&j, 100, 0), Ok(400));
        assert_eq!(
            claim_from(&j, 101, 0),
            Err(Skip::BelowFloor {
                max: 100,
                floor: 101
            })
        );
        // the ramp reaches the floor only when a claim window no longer fits
        j.ramp_seconds = 900;
        assert_eq!(
            claim_from(&j, 100, 0),
            Err(Skip::FloorTooLate {
                floor: 100,
                at: 1_000
            })
        );
        // a claim at 925 has its 60 s before the deadline; one at 940 would end on it
        assert_eq!(claim_from(&j, 95, 0), Ok(925));
        assert_eq!(
            claim_from(&j, 96, 0),
            Err(Skip::FloorTooLate { floor: 96, at: 940 })
        );
        // nor when less than min_time_left would be left: 75 s at 925
        assert_eq!(
            claim_from(&j, 95, 76),
            Err(Skip::FloorTooLate { floor: 95, at: 925 })
        );
        assert_eq!(claim_from(&j, 95, 75), Ok(925));
    }

    #[test]
    fn manifest_rules() {
        let s = settings(|c| c.policy.max_fuel = 1_000);
        let blob = BlobRef::new(b"x", "data:,x");
        let mut m = Manifest {
            args: vec![],
            input: blob.clone(),
            max_fuel: 1_000,
            max_memory: 1 << 20,
            max_output: 1 << 10,
            module: blob,
            runtime: "wasi-p1".into(),
            version: 1,
        };
        assert_eq!(check_manifest(&s, &m), Ok(()));
        m.max_fuel = 1_001;
        assert_eq!(
            check_manifest(&s, &m),
            Err(Skip::Limit {
                what: "fuel",
                asked: 1_001,
                max: 1_000
            })
        );
        m.max_fuel = 1;
        m.runtime = "wasi-p2".into();
        assert_eq!(check_manifest(&s, &m), Err(Skip::Runtime("wasi-p2".into())));
    }
}
