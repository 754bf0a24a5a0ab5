//! The auditor's view of a market: every settlement and live account checked against the money
//! rules, with totals per provider and per requester. Pure over the fetched accounts, so the
//! CLI, the tests and the benchmarks run the same checks.

use crate::{
    rpc::{Chain, ChainError},
    Job, Ledger, MarketRef, Outcome, Provider, Pubkey, Settlement, Verdict,
};
use compute_market::{constants::BPS_DENOMINATOR, math::ramp_price};
use serde::Serialize;
use std::collections::BTreeMap;

/// Everything an audit reads.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub market: MarketRef,
    pub escrow_vault_balance: u64,
    pub stake_vault_balance: u64,
    /// The program's books of the escrow vault (`None`: the market has no ledger).
    pub escrow_ledger: Option<Ledger>,
    /// The program's books of the stake vault.
    pub stake_ledger: Option<Ledger>,
    pub jobs: Vec<(Pubkey, Job)>,
    pub providers: Vec<(Pubkey, Provider)>,
    pub settlements: Vec<(Pubkey, Settlement)>,
}

/// Totals of one provider (by owner wallet).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ProviderTotals {
    pub stake: u64,
    pub locked: u64,
    pub settled_slots: u64,
    pub agreed: u64,
    pub paid: u64,
    /// Slashed at settlement and from expired claims, by the records (settlements and open jobs).
    pub slashed: u64,
    /// `Provider.total_slashed` of the live account (0 when the provider closed its account).
    pub account_slashed: u64,
}

/// Totals of one requester.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct RequesterTotals {
    pub jobs: u64,
    pub escrowed: u64,
    pub paid_to_providers: u64,
    pub fees: u64,
    pub refunded: u64,
}

/// The audit result.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub market: String,
    pub settlements: u64,
    pub verified: u64,
    pub no_quorum: u64,
    pub cancelled: u64,
    pub open_jobs: u64,
    pub open_escrow: u64,
    pub escrow_vault_balance: u64,
    pub total_stake: u64,
    pub stake_vault_balance: u64,
    pub total_paid: u64,
    pub total_fees: u64,
    pub total_refunded: u64,
    pub total_slashed: u64,
    pub total_bounties: u64,
    /// Tokens in the escrow vault beyond the open jobs' escrow (sent to it from outside the
    /// program): not owed to anyone, and not a violation.
    pub escrow_surplus: u64,
    /// Tokens in the stake vault beyond the providers' stakes.
    pub stake_surplus: u64,
    /// The escrow vault's books as its on-chain ledger keeps them (equal to `open_escrow`).
    pub escrow_books: u64,
    /// The stake vault's books as its on-chain ledger keeps them (equal to `total_stake`).
    pub stake_books: u64,
    /// Surplus the authority swept from the escrow vault to the treasury so far.
    pub escrow_swept: u64,
    /// Surplus the authority swept from the stake vault to the treasury so far.
    pub stake_swept: u64,
    pub providers: BTreeMap<String, ProviderTotals>,
    pub requesters: BTreeMap<String, RequesterTotals>,
    /// Every rule that does not hold, one line each. Empty when the market is sound.
    pub violations: Vec<String>,
}

impl Report {
    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Reads everything the audit needs. The reads happen one after another, so a job posted or
/// settled in between can make the vault checks disagree for a moment: [`audit_chain`] retries.
pub async fn fetch(chain: &Chain, market: &Pubkey) -> Result<Snapshot, ChainError> {
    let market = chain.market(market).await?;
    Ok(Snapshot {
        escrow_ledger: chain.ledger(&market.escrow_ledger()).await?,
        stake_ledger: chain.ledger(&market.stake_ledger()).await?,
        escrow_vault_balance: chain.token_balance(&market.state.escrow_vault).await?,
        stake_vault_balance: chain.token_balance(&market.state.stake_vault).await?,
        jobs: chain.jobs(&market.address).await?,
        providers: chain.providers(&market.address).await?,
        settlements: chain.settlements(&market.address).await?,
        market,
    })
}

/// Checks one settlement's arithmetic and verdicts; returns the broken rules.
pub fn check_settlement(address: &Pubkey, s: &Settlement, market: &Pubkey) -> Vec<String> {
    let mut v = Vec::new();
    let mut fail = |msg: String| v.push(format!("settlement {address}: {msg}"));
    if s.market != *market {
        fail(format!("belongs to market {}", s.market));
    }
    if !s.balances() {
        fail(format!(
            "amounts do not add up: escrow {} != paid {} + fee {} + refund {} (or slashes/verdicts disagree)",
            s.escrow, s.total_paid, s.fee, s.refund
        ));
    }
    let fee_of = |price: u64| (price as u128 * s.fee_bps as u128 / BPS_DENOMINATOR as u128) as u64;
    let agreed = s
        .verdicts
        .iter()
        .filter(|x| x.verdict == Verdict::Agreed)
        .count() as u64;
    if s.escrow != s.reward_per_replica.saturating_mul(s.replicas as u64) {
        fail(format!(
            "escrow {} is not the maximum reward × replicas",
            s.escrow
        ));
    }
    if s.min_reward_per_replica > s.reward_per_replica {
        fail(format!(
            "starting price {} above the maximum {}",
            s.min_reward_per_replica, s.reward_per_replica
        ));
    }
    let mut fee = 0u64;
    for (i, x) in s.verdicts.iter().enumerate() {
        // each claim locked the price of the job's ramp at its claim time
        let expect_price = if x.verdict == Verdict::Unclaimed {
            0
        } else {
            ramp_price(
                s.min_reward_per_replica,
                s.reward_per_replica,
                s.ramp_start,
                s.ramp_seconds,
                x.claimed_at,
            )
        };
        if x.price != expect_price {
            fail(format!(
                "slot {i} locked price {} but the ramp gave {expect_price} at its claim time {}",
                x.price, x.claimed_at
            ));
        }
        let expect_paid = if x.verdict == Verdict::Agreed {
            fee = fee.saturating_add(fee_of(x.price));
            x.price.saturating_sub(fee_of(x.price))
        } else {
            0
        };
        if x.paid != expect_paid {
            fail(format!(
                "slot {i} ({:?}) paid {} instead of {expect_paid}",
                x.verdict, x.paid
            ));
        }
        let slashable = matches!(
            x.verdict,
            Verdict::Dissented | Verdict::Withheld | Verdict::Absent
        );
        if slashable != (x.slashed > 0) {
            fail(format!("slot {i} ({:?}) slashed {}", x.verdict, x.slashed));
        }
        if x.verdict == Verdict::Agreed && x.result_root != s.result_root {
            fail(format!("slot {i} agreed on a different root"));
        }
        // every claim came in the provider's turn, as the program checked at the time
        if x.verdict != Verdict::Unclaimed {
            let turn = crate::sortition::turn_slot(
                &s.seed,
                s.seed_slot,
                s.stake_scale,
                &x.provider,
                x.bonded,
            );
            if x.claimed_slot < turn {
                fail(format!(
                    "slot {i} was claimed at chain slot {} before its provider's turn at {turn}",
                    x.claimed_slot
                ));
            }
        }
    }
    if s.fee != fee {
        fail(format!(
            "fee {} instead of {fee}, the fee on the agreeing slots' prices",
            s.fee
        ));
    }
    match s.outcome {
        Outcome::Verified if agreed < s.quorum as u64 => {
            fail(format!("verified with {agreed} < quorum {}", s.quorum))
        }
        Outcome::NoQuorum if s.total_paid != 0 || s.refund != s.escrow => {
            fail("no quorum but not a full refund".into())
        }
        Outcome::Cancelled
            if s.refund != s.escrow
                || s.total_slashed != 0
                || s.verdicts.iter().any(|x| x.verdict != Verdict::Unclaimed) =>
        {
            fail("cancelled but not a full refund with every slot unclaimed".into())
        }
        _ => {}
    }
    v
}

/// Adds `collateral` for each expired claim to its provider's slashes.
fn attribute_expiries(
    providers: &mut BTreeMap<String, ProviderTotals>,
    expired: &[Pubkey],
    collateral: u64,
) {
    for owner in expired {
        let t = providers.entry(owner.to_string()).or_default();
        t.slashed = t.slashed.saturating_add(collateral);
    }
}

/// Runs every check and sums up.
pub fn audit(snap: &Snapshot) -> Report {
    let market = snap.market.address;
    let mut r = Report {
        market: market.to_string(),
        escrow_vault_balance: snap.escrow_vault_balance,
        stake_vault_balance: snap.stake_vault_balance,
        ..Report::default()
    };
    for (_, j) in &snap.jobs {
        r.open_jobs += 1;
        r.open_escrow = r.open_escrow.saturating_add(j.escrow);
        let req = r.requesters.entry(j.requester.to_string()).or_default();
        req.jobs += 1;
        req.escrowed = req.escrowed.saturating_add(j.escrow);
        attribute_expiries(&mut r.providers, &j.expired, j.collateral);
    }
    for (address, p) in &snap.providers {
        r.total_stake = r.total_stake.saturating_add(p.stake);
        if p.locked.saturating_add(p.pending_unstake) > p.stake {
            r.violations.push(format!(
                "provider {address}: locked {} + pending {} > stake {}",
                p.locked, p.pending_unstake, p.stake
            ));
        }
        let t = r.providers.entry(p.owner.to_string()).or_default();
        t.stake = p.stake;
        t.locked = p.locked;
        t.account_slashed = p.total_slashed;
    }
    for (address, s) in &snap.settlements {
        r.settlements += 1;
        match s.outcome {
            Outcome::Verified => r.verified += 1,
            Outcome::NoQuorum => r.no_quorum += 1,
            Outcome::Cancelled => r.cancelled += 1,
        }
        // sums saturate: corrupted records must be reported, not crash the auditor
        r.total_paid = r.total_paid.saturating_add(s.total_paid);
        r.total_fees = r.total_fees.saturating_add(s.fee);
        r.total_refunded = r.total_refunded.saturating_add(s.refund);
        r.total_slashed = r
            .total_slashed
            .saturating_add(s.total_slashed.saturating_add(s.expired_slashed));
        r.total_bounties = r.total_bounties.saturating_add(s.bounty);
        r.violations.extend(check_settlement(address, s, &market));
        let req = r.requesters.entry(s.requester.to_string()).or_default();
        req.jobs += 1;
        req.escrowed = req.escrowed.saturating_add(s.escrow);
        req.paid_to_providers = req.paid_to_providers.saturating_add(s.total_paid);
        req.fees = req.fees.saturating_add(s.fee);
        req.refunded = req.refunded.saturating_add(s.refund);
        for x in s
            .verdicts
            .iter()
            .filter(|x| x.verdict != Verdict::Unclaimed)
        {
            let t = r.providers.entry(x.provider.to_string()).or_default();
            t.settled_slots += 1;
            t.agreed += (x.verdict == Verdict::Agreed) as u64;
            t.paid = t.paid.saturating_add(x.paid);
            t.slashed = t.slashed.saturating_add(x.slashed);
        }
        attribute_expiries(&mut r.providers, &s.expired, s.collateral);
    }
    // every slash a live provider account counts is explained by a record, and the other way
    // round (the records of a provider that closed and registered again include its earlier
    // account's slashes: compared only when no record predates the registration)
    for (address, p) in &snap.providers {
        let earlier = snap.settlements.iter().any(|(_, s)| {
            s.settled_at < p.registered_at
                && (s.expired.contains(&p.owner)
                    || s.verdicts.iter().any(|x| x.provider == p.owner))
        });
        let t = &r.providers[&p.owner.to_string()];
        if !earlier && t.slashed != p.total_slashed {
            r.violations.push(format!(
                "provider {address}: records attribute {} slashed, the account counts {}",
                t.slashed, p.total_slashed
            ));
        }
    }
    // The program's own books of each vault must equal what the accounts add up to.
    for (name, ledger, books, sum, swept, what) in [
        (
            "escrow",
            &snap.escrow_ledger,
            &mut r.escrow_books,
            r.open_escrow,
            &mut r.escrow_swept,
            "open jobs escrow",
        ),
        (
            "stake",
            &snap.stake_ledger,
            &mut r.stake_books,
            r.total_stake,
            &mut r.stake_swept,
            "providers' stakes sum to",
        ),
    ] {
        match ledger {
            None => r
                .violations
                .push(format!("the {name} vault has no ledger account")),
            Some(l) => {
                *books = l.books;
                *swept = l.swept;
                if l.books != sum {
                    r.violations.push(format!(
                        "the {name} ledger books {} but {what} {sum}",
                        l.books
                    ));
                }
            }
        }
    }
    // Anyone can send tokens to a vault: a surplus is reported, only a shortfall is a violation.
    match r.escrow_vault_balance.checked_sub(r.open_escrow) {
        Some(surplus) => r.escrow_surplus = surplus,
        None => r.violations.push(format!(
            "escrow vault holds {} but open jobs escrow {}",
            r.escrow_vault_balance, r.open_escrow
        )),
    }
    match r.stake_vault_balance.checked_sub(r.total_stake) {
        Some(surplus) => r.stake_surplus = surplus,
        None => r.violations.push(format!(
            "stake vault holds {} but providers' stakes sum to {}",
            r.stake_vault_balance, r.total_stake
        )),
    }
    r
}

/// Fetches and audits, reading again (up to three times, a second apart) while the vault checks
/// fail, so that activity between the reads is not reported as a violation.
pub async fn audit_chain(chain: &Chain, market: &Pubkey) -> Result<(Snapshot, Report), ChainError> {
    let mut attempt = 0;
    loop {
        let snap = fetch(chain, market).await?;
        let report = audit(&snap);
        attempt += 1;
        if report.ok() || attempt >= 3 {
            return Ok((snap, report));
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
