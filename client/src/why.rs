//! "Why is nobody taking my job?": for an open job, what stands between each staked provider of
//! the market and a claim, from what the program keeps (stake, the job's expiries, eligibility)
//! and what each provider's worker publishes (`publish_offer`: runtimes, limits, price floors, and
//! `last_seen`), checked in the order a worker checks them. `cmkt job why` prints it.

use crate::{
    constants::MAX_EXPIRED_CLAIMS,
    manifest::{capability_bit, Manifest},
    price, sortition, Job, JobStatus, MarketConfig, Provider, Pubkey, SlotState,
};
use serde::Serialize;

/// A provider whose worker has not published within this many seconds is taken to be offline
/// (workers republish every `chain.publish_secs`, 600 by default).
pub const OFFLINE_AFTER_SECS: i64 = 1_800;

/// What stands between one provider and a claim. `label()` groups them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// The market is paused: it takes no claims.
    Paused,
    /// The job recorded as many expired claims as it can: it takes no more claims.
    ExpiryLimit,
    /// It holds a slot of the job already.
    Holds,
    /// Its claim on this job expired: the program refuses another.
    ExpiredBefore,
    /// Stake less pending withdrawals below the market minimum.
    Stake { bonded: u64, min_stake: u64 },
    /// Not enough free stake for the job's collateral.
    FreeStake { free: u64, collateral: u64 },
    /// Its worker never published an offer: limits and price unknown.
    Unpublished,
    /// Its worker last published at `last_seen` (unix time), too long ago.
    Offline { last_seen: i64 },
    /// It does not run the manifest's runtime.
    Runtime { runtime: String },
    /// The manifest asks for more than it accepts.
    Limits { what: String, asked: u64, max: u64 },
    /// Its floor for this manifest is above the most the job pays: never, as posted.
    Price { floor: u64, max: u64 },
    /// The price reaches its floor only when a claim window no longer fits.
    TooLate { floor: u64, at: i64 },
    /// It waits for the price to reach its floor at `at` (unix time).
    WaitsForPrice { floor: u64, at: i64 },
    /// Its eligibility window opens at chain slot `from`.
    Turn { from: u64 },
    /// The seed slot is still ahead: eligibility is not known yet.
    SeedAhead,
    /// Nothing: it would claim now at `price`.
    Ready { price: u64 },
}

impl Reason {
    pub fn label(&self) -> &'static str {
        match self {
            Reason::Paused => "market paused",
            Reason::ExpiryLimit => "too many expired claims",
            Reason::Holds => "holds a slot",
            Reason::ExpiredBefore => "claim expired before",
            Reason::Stake { .. } | Reason::FreeStake { .. } => "stake",
            Reason::Unpublished => "no offer published",
            Reason::Offline { .. } => "offline",
            Reason::Runtime { .. } => "runtime",
            Reason::Limits { .. } => "limits",
            Reason::Price { .. } | Reason::TooLate { .. } => "price",
            Reason::WaitsForPrice { .. } => "waits for its price",
            Reason::Turn { .. } | Reason::SeedAhead => "eligibility window",
            Reason::Ready { .. } => "would take it now",
        }
    }
}

/// Where the chain stands: unix time, slot, the job's eligibility seed if known, and whether
/// the market is paused.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub time: i64,
    pub slot: u64,
    pub seed: Option<[u8; 32]>,
    pub paused: bool,
}

/// Why each provider of `providers` (the market's) would or would not claim `job` now.
/// `manifest`: the job's manifest when it could be read (otherwise limits and runtime are not
/// checked and the floor is the provider's `min_price`).
pub fn explain(
    job: &Job,
    manifest: Option<&Manifest>,
    config: &MarketConfig,
    providers: &[Provider],
    now: Now,
) -> Vec<(Pubkey, Reason)> {
    providers
        .iter()
        .map(|p| (p.owner, reason(job, manifest, config, p, now)))
        .collect()
}

fn reason(
    job: &Job,
    manifest: Option<&Manifest>,
    config: &MarketConfig,
    p: &Provider,
    now: Now,
) -> Reason {
    if now.paused {
        return Reason::Paused;
    }
    if job.slot_of(&p.owner).is_some() {
        return Reason::Holds;
    }
    if job.expired.len() + job.count(SlotState::Claimed) >= MAX_EXPIRED_CLAIMS as usize {
        return Reason::ExpiryLimit;
    }
    if job.expired.contains(&p.owner) {
        return Reason::ExpiredBefore;
    }
    let bonded = sortition::bonded(p);
    if bonded < config.min_stake {
        return Reason::Stake {
            bonded,
            min_stake: config.min_stake,
        };
    }
    let free = bonded.saturating_sub(p.locked);
    if free < job.collateral {
        return Reason::FreeStake {
            free,
            collateral: job.collateral,
        };
    }
    if p.last_seen == 0 {
        return Reason::Unpublished;
    }
    if now.time.saturating_sub(p.last_seen) > OFFLINE_AFTER_SECS {
        return Reason::Offline {
            last_seen: p.last_seen,
        };
    }
    let o = &p.offer;
    let floor = match manifest {
        Some(m) => {
            if capability_bit(&m.runtime).is_none_or(|bit| p.capabilities & bit == 0) {
                return Reason::Runtime {
                    runtime: m.runtime.clone(),
                };
            }
            for (what, asked, max) in [
                ("fuel", m.max_fuel, o.max_fuel),
                ("memory", m.max_memory, o.max_memory),
                ("output", m.max_output, o.max_output),
            ] {
                if asked > max {
                    return Reason::Limits {
                        what: what.into(),
                        asked,
                        max,
                    };
                }
            }
            o.floor(m.max_fuel, m.max_memory)
        }
        None => o.min_price,
    };
    let Some(at) = price::reaches_at(job, floor) else {
        return Reason::Price {
            floor,
            max: job.reward_per_replica,
        };
    };
    // the program wants the whole claim window before the commit deadline
    let at = at.max(now.time);
    if at.saturating_add(job.claim_timeout) >= job.commit_deadline {
        return Reason::TooLate { floor, at };
    }
    if at > now.time {
        return Reason::WaitsForPrice { floor, at };
    }
    let Some(seed) = now.seed else {
        return Reason::SeedAhead;
    };
    let from = sortition::eligible_from(job, &seed, &p.owner, bonded);
    if from > now.slot {
        return Reason::Turn { from };
    }
    Reason::Ready {
        price: job.price_at(now.time),
    }
}

/// What a requester could change. `text` words it, with amounts formatted by the caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "suggestion", rename_all = "snake_case")]
pub enum Suggestion {
    /// `providers` providers would take the job at a price of `price` or more. While no slot is
    /// held the requester can raise the maximum in place (`extend_job`); otherwise only a new
    /// post can.
    RaisePrice {
        providers: usize,
        price: u64,
        ramp_over: bool,
        extendable: bool,
    },
    /// `providers` providers accept at most `max` of `what` (fuel, memory or output).
    Limits {
        what: String,
        max: u64,
        providers: usize,
    },
    /// No provider's worker published lately.
    NoneOnline,
    /// The claim window no longer fits before the commit deadline; `extend_by` more seconds
    /// of the commit window would reopen claims (0: the market's longest window allows none).
    TooLate { extend_by: i64 },
}

impl Suggestion {
    /// In words, for a job at `job` (the command line to run), with `amount` formatting token
    /// amounts.
    pub fn text(&self, job: &Pubkey, amount: &dyn Fn(u64) -> String) -> String {
        match self {
            Suggestion::RaisePrice {
                providers,
                price,
                ramp_over,
                extendable,
            } => format!(
                "{providers} provider(s) would take it at a price of {} or more{}: {}",
                amount(*price),
                if *ramp_over {
                    " (the ramp ended without reaching their floors)"
                } else {
                    ""
                },
                if *extendable {
                    format!(
                        "raise the maximum with `cmkt job extend {job} --max-reward {}`",
                        amount(*price)
                    )
                } else {
                    format!(
                        "a slot is held, so the maximum cannot rise in place: post again with \
                         --reward {} or a ramp that reaches it sooner",
                        amount(*price)
                    )
                }
            ),
            Suggestion::Limits {
                what,
                max,
                providers,
            } => {
                let flag = match what.as_str() {
                    "fuel" => "--max-fuel",
                    "memory" => "--max-memory",
                    _ => "--max-output",
                };
                format!(
                    "{providers} provider(s) accept at most {max} {what}: a manifest within \
                     {flag} {max} reaches them"
                )
            }
            Suggestion::NoneOnline => {
                "no provider's worker has published lately: none may be online".into()
            }
            Suggestion::TooLate { extend_by } if *extend_by > 0 => format!(
                "the claim window no longer fits before the commit deadline: nobody can claim; \
                 `cmkt job extend {job} --by {extend_by}` reopens claims, or cancel the job once \
                 no slot is held"
            ),
            Suggestion::TooLate { .. } => "the claim window no longer fits before the commit \
                 deadline and the market's longest window allows no extension: cancel the job \
                 once no slot is held, or let it end for a full refund"
                .into(),
        }
    }
}

/// What a requester could change, from the reasons (empty when the job is being taken).
pub fn suggestions(job: &Job, reasons: &[(Pubkey, Reason)], now: Now) -> Vec<Suggestion> {
    let mut out = vec![];
    let free = job.count(SlotState::Free);
    if job.status != JobStatus::Open || free == 0 {
        return out;
    }
    let count = |f: &dyn Fn(&Reason) -> bool| reasons.iter().filter(|(_, r)| f(r)).count();
    let coming = count(&|r| {
        matches!(
            r,
            Reason::Ready { .. }
                | Reason::Turn { .. }
                | Reason::SeedAhead
                | Reason::WaitsForPrice { .. }
        )
    });
    if coming >= free {
        return out;
    }
    // a rising offer whose ramp has ended (a fixed offer has none)
    let ramp_over = job.ramp_seconds > 0
        && job.min_reward_per_replica < job.reward_per_replica
        && now.time >= job.ramp_start.saturating_add(job.ramp_seconds);
    let mut floors: Vec<u64> = reasons
        .iter()
        .filter_map(|(_, r)| match r {
            Reason::Price { floor, .. } | Reason::TooLate { floor, .. } => Some(*floor),
            _ => None,
        })
        .collect();
    floors.sort_unstable();
    if let Some(&f) = floors.get((free - coming).saturating_sub(1)) {
        out.push(Suggestion::RaisePrice {
            providers: floors.iter().filter(|&&x| x <= f).count(),
            price: f.max(job.reward_per_replica),
            ramp_over,
            extendable: job.count(SlotState::Free) == job.slots.len(),
        });
    }
    for what in ["fuel", "memory", "output"] {
        let mut maxes: Vec<u64> = reasons
            .iter()
            .filter_map(|(_, r)| match r {
                Reason::Limits { what: w, max, .. } if w == what => Some(*max),
                _ => None,
            })
            .collect();
        maxes.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(&max) = maxes.first() {
            out.push(Suggestion::Limits {
                what: what.into(),
                max,
                providers: maxes.len(),
            });
        }
    }
    let offline = count(&|r| matches!(r, Reason::Offline { .. } | Reason::Unpublished));
    if offline > 0 && offline == reasons.len() {
        out.push(Suggestion::NoneOnline);
    }
    if job.commit_deadline.saturating_sub(now.time) <= job.claim_timeout {
        // enough for one claim window from now, within the latest deadline the job allows
        let want = now
            .time
            .saturating_add(job.claim_timeout)
            .saturating_add(1)
            .saturating_sub(job.commit_deadline);
        let room = job
            .latest_commit_deadline
            .saturating_sub(job.commit_deadline);
        let can = now.time < job.commit_deadline && want <= room;
        out.push(Suggestion::TooLate {
            extend_by: if can {
                room.min(want.max(job.claim_timeout * 5))
            } else {
                0
            },
        });
    }
    out
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;
