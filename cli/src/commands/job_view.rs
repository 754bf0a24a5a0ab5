//! How `cmkt job` shows a live job and a settlement: JSON for scripts, text for people.

use crate::{out, settings::format_amount};
use compute_market_client::{
    Consumer, Delivery, Job, Outcome, Pubkey, Settlement, SlotState, SlotVerdict, Verdict,
};
use serde_json::json;

/// A job's consumer as JSON (null when it named none).
fn consumer_json(c: Option<&Consumer>, d: Option<&Delivery>) -> serde_json::Value {
    let Some(c) = c else {
        return serde_json::Value::Null;
    };
    json!({
        "program": c.program.to_string(), "data_prefix": hex::encode(&c.data_prefix),
        "accounts": c.accounts.iter().map(|a| json!({
            "pubkey": a.pubkey.to_string(), "writable": a.writable,
        })).collect::<Vec<_>>(),
        "delivered_slot": d.map(|d| d.delivered_slot),
        "delivered_at": d.map(|d| d.delivered_at),
        "delivered_by": d.filter(|d| d.delivered_slot != 0).map(|d| d.delivered_by.to_string()),
    })
}

/// One line about a job's consumer and its delivery (empty when it named none).
fn consumer_text(c: Option<&Consumer>, d: Option<&Delivery>) -> String {
    let Some(c) = c else {
        return String::new();
    };
    let state = match d {
        None => "once the job settles".to_string(),
        Some(d) if d.delivered_slot == 0 => {
            "not delivered yet (`cmkt job deliver` sends it)".to_string()
        }
        Some(d) => format!(
            "delivered at slot {} by {}",
            d.delivered_slot, d.delivered_by
        ),
    };
    format!(
        "  consumer: program {} with {} account(s): {state}\n",
        c.program,
        c.accounts.len()
    )
}

pub(super) fn slots_summary(job: &Job) -> String {
    job.slots
        .iter()
        .map(|s| match s.state {
            SlotState::Free => "free",
            SlotState::Claimed => "claimed",
            SlotState::Committed => "committed",
            SlotState::Revealed => "revealed",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the job's price rises (otherwise it is a fixed reward).
fn rising(min: u64, max: u64, ramp_seconds: i64) -> bool {
    ramp_seconds > 0 && min < max
}

/// The offer in words: fixed, or from min to max over the ramp.
fn offer_text(min: u64, max: u64, start: i64, len: i64, d: u8) -> String {
    if rising(min, max, len) {
        format!(
            "price rising from {} at {} to {} at {}",
            format_amount(min, d),
            out::utc(start),
            format_amount(max, d),
            out::utc(start.saturating_add(len)),
        )
    } else {
        format!("reward {} each", format_amount(max, d))
    }
}

/// `now`: the chain's unix time, for the current price.
pub(super) fn job_json(address: &Pubkey, j: &Job, now: i64) -> serde_json::Value {
    json!({
        "job": address.to_string(), "state": "live", "status": format!("{:?}", j.status),
        "requester": j.requester.to_string(), "nonce": j.nonce,
        "manifest_hash": hex::encode(j.manifest_hash), "manifest_uri": j.manifest_uri,
        "reward_per_replica": j.reward_per_replica,
        "min_reward_per_replica": j.min_reward_per_replica,
        "ramp_start": j.ramp_start, "ramp_seconds": j.ramp_seconds,
        "price_now": j.price_at(now),
        "replicas": j.replicas, "quorum": j.quorum,
        "escrow": j.escrow, "commit_deadline": j.commit_deadline, "reveal_deadline": j.reveal_deadline,
        "collateral": j.collateral,
        "expired": j.expired.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "consumer": consumer_json(j.consumer.as_ref(), None),
        "slots": j.slots.iter().map(|s| {
            let held = s.state != SlotState::Free;
            json!({
                "provider": held.then(|| s.provider.to_string()),
                "state": format!("{:?}", s.state),
                "claimed_at": held.then_some(s.claimed_at),
                "price": held.then_some(s.price),
                "result_root": (s.state == SlotState::Revealed).then(|| hex::encode(s.result_root)),
            })
        }).collect::<Vec<_>>(),
    })
}

/// `d`: payment-mint decimals, `sd`: stake-mint decimals; `now`: the chain's unix time.
pub(super) fn job_text(address: &Pubkey, j: &Job, now: i64, d: u8, sd: u8) -> String {
    let mut t = out::Table::new(&["slot", "provider", "state", "price", "result root"]);
    for (i, s) in j.slots.iter().enumerate() {
        let held = s.state != SlotState::Free;
        t.row(vec![
            i.to_string(),
            if held {
                s.provider.to_string()
            } else {
                "-".into()
            },
            format!("{:?}", s.state),
            if held {
                format_amount(s.price, d)
            } else {
                "-".into()
            },
            if s.state == SlotState::Revealed {
                hex::encode(s.result_root)
            } else {
                "-".into()
            },
        ]);
    }
    let expired: String = j
        .expired
        .iter()
        .map(|p| {
            format!(
                "  expired claim: {p} lost {} and may not claim again\n",
                format_amount(j.collateral, sd)
            )
        })
        .collect();
    let price_now = if rising(
        j.min_reward_per_replica,
        j.reward_per_replica,
        j.ramp_seconds,
    ) {
        format!(
            "  price now {} (a claim locks the price of its moment)\n",
            format_amount(j.price_at(now), d)
        )
    } else {
        String::new()
    };
    format!(
        "job {address}: {:?}, n = {}, k = {}, {}, escrow {}\n{price_now}{}{expired}{}",
        j.status,
        j.replicas,
        j.quorum,
        offer_text(
            j.min_reward_per_replica,
            j.reward_per_replica,
            j.ramp_start,
            j.ramp_seconds,
            d
        ),
        format_amount(j.escrow, d),
        t.render(),
        consumer_text(j.consumer.as_ref(), None),
    )
}

pub(super) fn settlement_json(job: &Pubkey, s: &Settlement) -> serde_json::Value {
    json!({
        "job": job.to_string(), "state": "settled", "outcome": format!("{:?}", s.outcome),
        "result_root": hex::encode(s.result_root), "requester": s.requester.to_string(),
        "reward_per_replica": s.reward_per_replica,
        "min_reward_per_replica": s.min_reward_per_replica,
        "ramp_start": s.ramp_start, "ramp_seconds": s.ramp_seconds,
        "escrow": s.escrow, "total_paid": s.total_paid, "fee": s.fee, "refund": s.refund,
        "total_slashed": s.total_slashed, "bounty": s.bounty, "expired_slashed": s.expired_slashed,
        "collateral": s.collateral,
        "expired": s.expired.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "consumer": consumer_json(s.delivery.as_ref().map(|d| &d.consumer), s.delivery.as_ref()),
        "settled_slot": s.settled_slot, "settled_at": s.settled_at, "finalizer": s.finalizer.to_string(),
        "seed": hex::encode(s.seed), "seed_slot": s.seed_slot, "stake_scale": s.stake_scale,
        "verdicts": s.verdicts.iter().map(|v| {
            let claimed = v.verdict != Verdict::Unclaimed;
            json!({
                "provider": claimed.then(|| v.provider.to_string()),
                "verdict": format!("{:?}", v.verdict), "result_root": hex::encode(v.result_root),
                "price": claimed.then_some(v.price), "claimed_at": claimed.then_some(v.claimed_at),
                "paid": v.paid, "slashed": v.slashed,
                "claimed_slot": claimed.then_some(v.claimed_slot),
                "bonded": claimed.then_some(v.bonded),
                "turn_slot": claimed.then(|| turn_of(s, v)),
            })
        }).collect::<Vec<_>>(),
    })
}

/// The first slot from which the provider of `v` could claim the settled job.
fn turn_of(s: &Settlement, v: &SlotVerdict) -> u64 {
    compute_market_client::sortition::turn_slot(
        &s.seed,
        s.seed_slot,
        s.stake_scale,
        &v.provider,
        v.bonded,
    )
}

/// `d`: payment-mint decimals, `sd`: stake-mint decimals.
pub(super) fn settlement_table(job: &Pubkey, s: &Settlement, d: u8, sd: u8) -> String {
    let mut out = format!(
        "job {job}: {:?}{}\n  {}\n  paid {}  fee {}  refund {}  slashed {} (bounty {})\n",
        s.outcome,
        if s.outcome == Outcome::Verified {
            format!(", root {}", hex::encode(s.result_root))
        } else {
            String::new()
        },
        offer_text(
            s.min_reward_per_replica,
            s.reward_per_replica,
            s.ramp_start,
            s.ramp_seconds,
            d
        ),
        format_amount(s.total_paid, d),
        format_amount(s.fee, d),
        format_amount(s.refund, d),
        format_amount(s.total_slashed, sd),
        format_amount(s.bounty, sd),
    );
    let mut t = out::Table::new(&[
        "slot",
        "provider",
        "verdict",
        "price",
        "paid",
        "slashed",
        "claimed at slot (turn from)",
    ]);
    for (i, v) in s.verdicts.iter().enumerate() {
        let claimed = v.verdict != Verdict::Unclaimed;
        let dash = || "-".to_string();
        t.row(vec![
            i.to_string(),
            if claimed {
                v.provider.to_string()
            } else {
                dash()
            },
            format!("{:?}", v.verdict),
            if claimed {
                format_amount(v.price, d)
            } else {
                dash()
            },
            format_amount(v.paid, d),
            format_amount(v.slashed, sd),
            if claimed {
                format!("{} ({})", v.claimed_slot, turn_of(s, v))
            } else {
                dash()
            },
        ]);
    }
    out += &t.render();
    for p in &s.expired {
        out += &format!(
            "  expired claim: {p} lost {}\n",
            format_amount(s.collateral, sd)
        );
    }
    out += &consumer_text(
        s.delivery.as_ref().map(|d| &d.consumer),
        s.delivery.as_ref(),
    );
    out
}
